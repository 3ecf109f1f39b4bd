"""The directory a worker keeps next to its engine: specialties, clinics, doctors.

Small and read-mostly (678 clinics, 21,500 doctors, 31 specialties), loaded with the
engine so that a search answer names its clinic and doctor without a query.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import msgspec

from imias.platform.db import Connection
from imias.registry import repository as repo
from imias.registry.model import Clinic, Doctor, DoctorCard, Specialty
from imias.registry.nearby import ClinicGrid, distance_km


@dataclass
class Directory:
    specialties: dict[int, Specialty] = field(default_factory=dict)
    by_code: dict[str, Specialty] = field(default_factory=dict)
    clinics: dict[int, Clinic] = field(default_factory=dict)
    doctors: dict[int, Doctor] = field(default_factory=dict)
    doctors_of_clinic: dict[int, list[Doctor]] = field(default_factory=dict)
    # Per specialty: the clinics offering it, on a grid, built on first use (the
    # directory is immutable once loaded).
    _offering: dict[int, ClinicGrid] = field(default_factory=dict, repr=False)
    _cards: dict[int, DoctorCard] = field(default_factory=dict, repr=False)

    @classmethod
    async def load(cls, conn: Connection) -> Directory:
        d = cls()
        for row in await conn.fetch(repo.SPECIALTIES):
            s = msgspec.convert(dict(row), Specialty)
            d.specialties[s.id] = s
            d.by_code[s.code] = s
        for row in await conn.fetch(repo.CLINICS):
            c = msgspec.convert(dict(row), Clinic)
            d.clinics[c.id] = c
        for row in await conn.fetch(repo.DOCTOR_NAMES):
            doc = msgspec.convert(dict(row), Doctor)
            d.doctors[doc.id] = doc
            d.doctors_of_clinic.setdefault(doc.clinic_id, []).append(doc)
        return d

    def card(self, doctor_id: int) -> DoctorCard:
        """What a search answer shows of a doctor, made once per doctor."""
        card = self._cards.get(doctor_id)
        if card is None:
            doctor = self.doctors[doctor_id]
            clinic = self.clinics[doctor.clinic_id]
            card = DoctorCard(
                doctor_id=doctor.id,
                doctor_name=doctor.full_name,
                clinic_id=clinic.id,
                clinic_name=clinic.name,
                specialty=self.specialties[doctor.specialty_id].code,
                room=doctor.room,
                time_zone=clinic.time_zone,
            )
            self._cards[doctor_id] = card
        return card

    def nearest(self, lat: float, lon: float) -> list[tuple[float, Clinic]]:
        """Every clinic with its distance from the point, nearest first."""
        ranked = [(distance_km(lat, lon, c.lat, c.lon), c) for c in self.clinics.values()]
        ranked.sort(key=lambda pair: (pair[0], pair[1].id))
        return ranked

    def nearest_offering(
        self, lat: float, lon: float, specialty_id: int, limit: int
    ) -> list[tuple[float, Clinic]]:
        """The ``limit`` nearest clinics with at least one doctor of the specialty,
        nearest first (ties by id), by great-circle distance."""
        grid = self._offering.get(specialty_id)
        if grid is None:
            grid = ClinicGrid(
                c
                for c in self.clinics.values()
                if any(d.specialty_id == specialty_id for d in self.doctors_of_clinic.get(c.id, ()))
            )
            self._offering[specialty_id] = grid
        return grid.nearest(lat, lon, limit)
