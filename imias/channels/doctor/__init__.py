"""The doctor's day ``/doctor``: today's list with arrivals, mark a visit done or a
no-show, refer a patient to a specialist; the visit itself (the patient's card, the
protocol, diagnoses, vitals, the signature and its amendments, prescriptions, the
driver's-examination conclusion and the medical certificates); today's walk-in
queue, called by the duty doctor."""

from imias.channels.doctor.certifying import DoctorCertificateController
from imias.channels.doctor.illness import DoctorIllnessController
from imias.channels.doctor.pages import DoctorController
from imias.channels.doctor.prescribing import DoctorPrescriptionController
from imias.channels.doctor.visit import DoctorVisitController
from imias.channels.doctor.walk_ins import DoctorWalkInController

__all__ = [
    "DoctorCertificateController",
    "DoctorController",
    "DoctorIllnessController",
    "DoctorPrescriptionController",
    "DoctorVisitController",
    "DoctorWalkInController",
]
