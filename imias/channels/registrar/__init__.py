"""The registrar's desk ``/registrar``: find a patient, book, reschedule or cancel for
them (at the desk or on the phone) at her clinic, and the clinic's day."""

from imias.channels.registrar.pages import RegistrarController

__all__ = ["RegistrarController"]
