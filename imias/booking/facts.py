"""Reading what the rules need to know about a patient, inside a transaction."""

from __future__ import annotations

from datetime import datetime

import asyncpg

from imias.booking import repository as repo
from imias.booking.model import (
    AppointmentFacts,
    BookingContext,
    HoldFacts,
    PatientFacts,
    ReferralFacts,
    ReferralRef,
)


def patient_facts(row: asyncpg.Record) -> PatientFacts:
    """From a row of LOCK_PATIENT (id, birth_date, sex, attached_clinic_id)."""
    return PatientFacts(
        id=row["id"],
        birth_date=row["birth_date"],
        sex=row["sex"],
        attached_clinic_id=row["attached_clinic_id"],
    )


async def booking_context(
    conn: asyncpg.Connection, patient_id: int, now: datetime
) -> BookingContext:
    """The patient's live holds, active appointments and active referrals at ``now``."""
    appointments, holds, referrals = [], [], []
    for a in await conn.fetch(repo.PATIENT_FACTS, patient_id):
        if a["kind"] == "r":
            referrals.append(
                ReferralFacts(
                    clinic_id=a["clinic_id"],
                    id=a["id"],
                    specialty_id=a["specialty_id"],
                    valid_until=a["valid_until"],
                    status=a["status"],
                )
            )
        elif a["status"] == "held":
            holds.append(
                HoldFacts(
                    token=str(a["hold_token"]),
                    patient_id=patient_id,
                    expires_at=a["hold_expires_at"],
                )
            )
        else:
            referral = (
                ReferralRef(a["referral_clinic_id"], a["referral_id"]) if a["referral_id"] else None
            )
            appointments.append(
                AppointmentFacts(
                    id=a["id"],
                    specialty_id=a["specialty_id"],
                    starts_at=a["starts_at"],
                    status=a["status"],
                    referral=referral,
                )
            )
    return BookingContext(
        now=now, appointments=tuple(appointments), referrals=tuple(referrals), holds=tuple(holds)
    )
