"""The directory a worker keeps next to its engine: specialties, clinics, doctors.

Small and read-mostly (678 clinics, 21,500 doctors, 30 specialties), loaded with the
engine so that a search answer names its clinic and doctor without a query.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import asyncpg
import msgspec

from imias.booking import repository


class Specialty(msgspec.Struct, frozen=True):
    id: int
    code: str
    name_ru: str
    name_en: str
    self_referral: bool
    attached_only: bool
    min_age: int
    max_age: int
    sex: str | None
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
        return " ".join(p for p in (self.family_name, self.given_name, self.patronymic) if p)


EARTH_RADIUS_KM = 6371.0088


def distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


@dataclass
class Directory:
    specialties: dict[int, Specialty] = field(default_factory=dict)
    by_code: dict[str, Specialty] = field(default_factory=dict)
    clinics: dict[int, Clinic] = field(default_factory=dict)
    doctors: dict[int, Doctor] = field(default_factory=dict)
    doctors_of_clinic: dict[int, list[Doctor]] = field(default_factory=dict)

    @classmethod
    async def load(cls, conn: asyncpg.Connection) -> Directory:
        d = cls()
        for row in await repository.specialties(conn):
            s = msgspec.convert(dict(row), Specialty)
            d.specialties[s.id] = s
            d.by_code[s.code] = s
        for row in await repository.clinics(conn):
            c = msgspec.convert(dict(row), Clinic)
            d.clinics[c.id] = c
        for row in await repository.doctor_names(conn):
            doc = msgspec.convert(dict(row), Doctor)
            d.doctors[doc.id] = doc
            d.doctors_of_clinic.setdefault(doc.clinic_id, []).append(doc)
        return d

    def nearest(self, lat: float, lon: float) -> list[tuple[float, Clinic]]:
        """Every clinic with its distance from the point, nearest first."""
        ranked = [(distance_km(lat, lon, c.lat, c.lon), c) for c in self.clinics.values()]
        ranked.sort(key=lambda pair: (pair[0], pair[1].id))
        return ranked

    def nearest_offering(
        self, lat: float, lon: float, specialty_id: int, limit: int
    ) -> list[tuple[float, Clinic]]:
        """The ``limit`` nearest clinics with at least one doctor of the specialty."""
        found: list[tuple[float, Clinic]] = []
        for distance, clinic in self.nearest(lat, lon):
            doctors = self.doctors_of_clinic.get(clinic.id, ())
            if any(d.specialty_id == specialty_id for d in doctors):
                found.append((distance, clinic))
                if len(found) == limit:
                    break
        return found
