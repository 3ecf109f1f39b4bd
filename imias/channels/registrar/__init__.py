"""The registrar's desk ``/registrar``: find a patient, book, reschedule or cancel for
them (at the desk or on the phone) at her clinic, the clinic's day, and the active
visits the ambulance's calls left her clinic."""

from imias.channels.registrar.active_visits import ActiveVisitsController
from imias.channels.registrar.pages import RegistrarController

__all__ = ["ActiveVisitsController", "RegistrarController"]
