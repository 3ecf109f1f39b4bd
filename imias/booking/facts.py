"""Reading what the rules need to know about a patient, inside a transaction."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
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
    return context_of(await conn.fetch(repo.PATIENT_FACTS, patient_id), patient_id, now)


def context_of(rows: Iterable[asyncpg.Record], patient_id: int, now: datetime) -> BookingContext:
    """A BookingContext from rows of kind 'a' (appointment or hold) and 'r' (referral)
    (PATIENT_FACTS or BOOKING_CONTEXT; rows of other kinds are skipped)."""
    appointments, holds, referrals = [], [], []
    for a in rows:
        kind = a["kind"]
        if kind == "r":
            referrals.append(
                ReferralFacts(
                    clinic_id=a["clinic_id"],
                    id=a["id"],
                    specialty_id=a["specialty_id"],
                    valid_until=a["valid_until"],
                    status=a["status"],
                )
            )
        elif kind != "a":
            continue
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


@dataclass(frozen=True)
class Locked:
    """What one BOOKING_CONTEXT round trip read, the patient's row locked."""

    patient: PatientFacts
    context: BookingContext
    replay: asyncpg.Record | None  # the stored answer to the idempotency key
    hold: asyncpg.Record | None  # the appointment row of the hold token, locked
    expired: list[asyncpg.Record]  # holds on the wanted time that this call ended


async def lock_context(
    conn: asyncpg.Connection,
    patient_id: int,
    now: datetime,
    key: str | None = None,
    token: uuid.UUID | None = None,
    slot: tuple[int, int, datetime, datetime] | None = None,
) -> Locked | None:
    """Lock the patient and read the facts (and the key's answer, the token's hold) in
    one round trip, ending expired holds on ``slot`` (clinic, doctor, starts, ends);
    None when there is no such patient."""
    clinic, doctor, starts, ends = slot or (None, None, None, None)
    rows = await conn.fetch(
        repo.BOOKING_CONTEXT, patient_id, key, token, clinic, doctor, starts, ends, now
    )
    if not rows or rows[0]["kind"] != "p":
        return None
    first = rows[0]
    patient = PatientFacts(
        id=first["id"],
        birth_date=first["birth_date"],
        sex=first["sex"],
        attached_clinic_id=first["clinic_id"],
    )
    replay = hold = None
    expired = []
    for row in rows:
        if row["kind"] == "i":
            replay = row
        elif row["kind"] == "h":
            hold = row
        elif row["kind"] == "x":
            expired.append(row)
    return Locked(patient, context_of(rows, patient_id, now), replay, hold, expired)
