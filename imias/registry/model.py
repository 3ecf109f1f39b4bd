"""Master data as the other domains read it: specialties, clinics, doctors, patients.

Plain msgspec Structs, no I/O. The directory (:mod:`.directory`) keeps the first three
in every worker's memory; patients are read on demand (:mod:`.patients`).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

import msgspec


class Specialty(msgspec.Struct, frozen=True):
    id: int
    code: str
    name_ru: str
    name_en: str
    self_referral: bool
    attached_only: bool
    min_age: int
    max_age: int
    sex: Literal["F", "M"] | None  # the table's check; None: any
    slot_minutes: int


class Clinic(msgspec.Struct, frozen=True):
    id: int
    name: str
    address: str
    district: str
    lat: float
    lon: float
    time_zone: str
    kind: str


class Doctor(msgspec.Struct, frozen=True):
    id: int
    clinic_id: int
    specialty_id: int
    family_name: str
    given_name: str
    patronymic: str | None
    room: str | None
    slot_minutes: int

    @property
    def full_name(self) -> str:
        return full_name(self.family_name, self.given_name, self.patronymic)


class DoctorCard(msgspec.Struct, frozen=True):
    """A doctor as a search answer names them, with the clinic's time zone."""

    doctor_id: int
    doctor_name: str
    clinic_id: int
    clinic_name: str
    specialty: str
    room: str | None
    time_zone: str


class PatientCard(msgspec.Struct, frozen=True):
    """A patient as the registrar's desk shows them."""

    id: int
    policy_number: str
    name: str
    birth_date: date
    phone: str | None
    attached_clinic_id: int | None


def full_name(family: str, given: str, patronymic: str | None) -> str:
    return " ".join(p for p in (family, given, patronymic) if p)
