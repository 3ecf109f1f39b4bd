"""What the booking API answers with: appointments and holds as clients see them."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from imias.registry import Directory


class Appointment(msgspec.Struct, frozen=True):
    id: int
    clinic_id: int
    doctor_id: int
    patient_id: int
    specialty: str
    starts_at: datetime
    ends_at: datetime
    status: str
    channel: str
    local_start: str  # the clinic's wall time
    doctor_name: str | None = None
    clinic_name: str | None = None
    room: str | None = None


class Hold(msgspec.Struct, frozen=True):
    token: str
    appointment_id: int
    expires_at: datetime
    slot: Appointment


def local_start(starts_at: datetime, zone: ZoneInfo) -> str:
    return starts_at.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def appointment_of(
    directory: Directory, row: asyncpg.Record | dict[str, Any], patient_id: int
) -> Appointment:
    """An appointment row (clinic_id, id, doctor_id, specialty_id, starts_at, ends_at,
    status, channel) with the names a person reads."""
    doctor = directory.doctors.get(row["doctor_id"])
    clinic = directory.clinics.get(row["clinic_id"])
    zone = ZoneInfo(clinic.time_zone if clinic else "UTC")
    return Appointment(
        id=row["id"],
        clinic_id=row["clinic_id"],
        doctor_id=row["doctor_id"],
        patient_id=patient_id,
        specialty=directory.specialties[row["specialty_id"]].code,
        starts_at=row["starts_at"],
        ends_at=row["ends_at"],
        status=row["status"],
        channel=row["channel"],
        local_start=local_start(row["starts_at"], zone),
        doctor_name=doctor.full_name if doctor else None,
        clinic_name=clinic.name if clinic else None,
        room=doctor.room if doctor else None,
    )
