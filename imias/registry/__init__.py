"""The registry: master data every domain reads: patients, clinics (with their districts,
coordinates and time zones), doctors, specialties, and the organisations that are not
clinics (pharmacies, schools and clubs, ambulance stations).

Other packages use the names below and nothing else of this package.
"""

from imias.registry import patients
from imias.registry.directory import Directory
from imias.registry.events import (
    PATIENT_TOPIC,
    PatientChanged,
    PatientRegistered,
    PatientUpdated,
)
from imias.registry.events import decode as decode_patient_change
from imias.registry.model import Clinic, Doctor, DoctorCard, PatientCard, Specialty, full_name
from imias.registry.nearby import EARTH_RADIUS_KM, ClinicGrid, distance_km
from imias.registry.organisations import AmbulanceStation, School, school, schools, station
from imias.registry.pharmacies import Pharmacy, pharmacy

__all__ = [
    "PATIENT_TOPIC",
    "PatientChanged",
    "PatientRegistered",
    "PatientUpdated",
    "decode_patient_change",
    "EARTH_RADIUS_KM",
    "AmbulanceStation",
    "Clinic",
    "ClinicGrid",
    "Directory",
    "Doctor",
    "DoctorCard",
    "PatientCard",
    "Pharmacy",
    "School",
    "Specialty",
    "distance_km",
    "full_name",
    "patients",
    "pharmacy",
    "school",
    "schools",
    "station",
]
