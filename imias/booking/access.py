"""What the booking routes look up to decide whose data a caller reaches: the clinic and
patient of an appointment, a hold or a waiting entry; whether a patient is booked with
a clinic. Plain SQL (its own ``QUERIES``); the decisions are in :mod:`.caller`."""

from __future__ import annotations

import uuid

import asyncpg

APPOINTMENT_OWNER = """
SELECT clinic_id, patient_id, doctor_id FROM appointments WHERE id = $1
"""

HOLD_OWNER = """
SELECT clinic_id, patient_id FROM appointments WHERE hold_token = $1
 ORDER BY created_at DESC LIMIT 1
"""

WAITLIST_ENTRY_CLINIC = """
SELECT clinic_id FROM waitlist_entries WHERE patient_id = $1 AND id = $2
"""

PATIENT_EXISTS = "SELECT EXISTS (SELECT 1 FROM patients WHERE id = $1)"

# A patient "booked with a clinic": an appointment there that was booked (not a hold,
# not one cancelled or let expire).
BOOKED_WITH_CLINIC = """
SELECT EXISTS (SELECT 1 FROM appointments
                WHERE patient_id = $1 AND clinic_id = $2
                  AND status IN ('booked', 'arrived', 'completed', 'no_show'))
"""

QUERIES = {
    "appointment_owner": APPOINTMENT_OWNER,
    "hold_owner": HOLD_OWNER,
    "waitlist_entry_clinic": WAITLIST_ENTRY_CLINIC,
    "patient_exists": PATIENT_EXISTS,
    "booked_with_clinic": BOOKED_WITH_CLINIC,
}


async def appointment_owner(pool: asyncpg.Pool, appointment_id: int) -> asyncpg.Record | None:
    return await pool.fetchrow(APPOINTMENT_OWNER, appointment_id)


async def hold_owner(pool: asyncpg.Pool, token: str) -> asyncpg.Record | None:
    try:
        parsed = uuid.UUID(token)
    except ValueError:
        return None
    return await pool.fetchrow(HOLD_OWNER, parsed)


async def waitlist_entry_clinic(
    pool: asyncpg.Pool, patient_id: int, entry_id: int
) -> asyncpg.Record | None:
    return await pool.fetchrow(WAITLIST_ENTRY_CLINIC, patient_id, entry_id)


async def patient_exists(pool: asyncpg.Pool, patient_id: int) -> bool:
    return bool(await pool.fetchval(PATIENT_EXISTS, patient_id))


async def booked_with_clinic(pool: asyncpg.Pool, patient_id: int, clinic_id: int) -> bool:
    return bool(await pool.fetchval(BOOKED_WITH_CLINIC, patient_id, clinic_id))
