"""The registrar's desk ``/registrar``: find a patient, book, reschedule or cancel for
them (at the desk or on the phone) at her clinic, the clinic's day, and the active
visits the ambulance's calls left her clinic, and today's walk-in queue."""

from imias.channels.registrar.active_visits import ActiveVisitsController
from imias.channels.registrar.pages import RegistrarController
from imias.channels.registrar.walk_ins import RegistrarWalkInController

__all__ = ["ActiveVisitsController", "RegistrarController", "RegistrarWalkInController"]
