"""What the relocation API answers with: a moved patient's old appointment, the slot
offered, the deadline and the state (:mod:`imias.booking.relocation`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from imias.booking.views import Appointment, appointment_of, local_start
from imias.registry import Directory


class Relocation(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    clinic_id: int  # the clinic that took the time away
    patient_id: int
    specialty: str
    reason: str  # sick, leave, holiday, schedule, ...
    state: str  # offered, confirmed, rebooked, cancelled, no_offer
    old: Appointment  # the cancelled appointment
    offer: Appointment | None  # the slot held (then booked), if any
    deadline: datetime | None
    deadline_local: str | None  # the deadline in the offered clinic's wall time
    created_at: datetime
    settled_at: datetime | None = None
    #: cancelled because the deadline passed (not declined)
    deadline_passed: bool = False
    patient_name: str | None = None  # in a clinic's list only


class ClinicRelocations(msgspec.Struct, frozen=True, kw_only=True):
    clinic_id: int
    since: datetime
    counts: dict[str, int]
    relocations: list[Relocation]


def relocation_of(directory: Directory, row: Any, patient_name: str | None = None) -> Relocation:
    """A row of ``queries.RELOCATION`` (the relocation with its old and offered
    appointments) as the API answers it."""
    patient_id = row["patient_id"]
    old = appointment_of(
        directory,
        {
            "id": row["appointment_id"],
            "clinic_id": row["clinic_id"],
            "doctor_id": row["old_doctor_id"],
            "specialty_id": row["specialty_id"],
            "starts_at": row["old_starts_at"],
            "ends_at": row["old_ends_at"],
            "status": row["old_status"],
            "channel": row["old_channel"],
        },
        patient_id,
    )
    offer = None
    if row["offer_appointment_id"] is not None:
        offer = appointment_of(
            directory,
            {
                "id": row["offer_appointment_id"],
                "clinic_id": row["offer_clinic_id"],
                "doctor_id": row["offer_doctor_id"],
                "specialty_id": row["specialty_id"],
                "starts_at": row["offer_starts_at"],
                "ends_at": row["offer_ends_at"],
                "status": row["offer_status"],
                "channel": row["offer_channel"],
            },
            patient_id,
        )
    state = row["state"]
    deadline, settled = row["deadline"], row["settled_at"]
    return Relocation(
        id=row["id"],
        clinic_id=row["clinic_id"],
        patient_id=patient_id,
        specialty=directory.specialties[row["specialty_id"]].code,
        reason=row["reason"],
        state=state,
        old=old,
        offer=offer,
        deadline=deadline,
        deadline_local=local_start(deadline, _zone(directory, row["offer_clinic_id"]))
        if deadline
        else None,
        created_at=row["created_at"],
        settled_at=settled,
        deadline_passed=bool(state == "cancelled" and deadline and settled and settled >= deadline),
        patient_name=patient_name,
    )


def _zone(directory: Directory, clinic_id: int | None) -> ZoneInfo:
    clinic = directory.clinics.get(clinic_id) if clinic_id is not None else None
    return ZoneInfo(clinic.time_zone if clinic else "UTC")
