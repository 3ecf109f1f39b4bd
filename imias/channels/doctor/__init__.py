"""The doctor's day ``/doctor``: today's list with arrivals, mark a visit done or a
no-show, refer a patient to a specialist."""

from imias.channels.doctor.pages import DoctorController

__all__ = ["DoctorController"]
