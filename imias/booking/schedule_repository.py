"""The SQL of a clinic's schedules edited by its administrator
(:mod:`imias.booking.schedule_admin`): the locks that serialise edits, the doctors,
templates, exceptions and public holidays, and the live appointments an edit decides
about. The rest of booking's SQL is in :mod:`.queries` and :mod:`.repository`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import asyncpg

from imias.booking.repository import holidays_between
from imias.platform.db import Connection, Executor

Row = asyncpg.Record

# One edit of schedules at a time per doctor; a public holiday (every doctor) waits for
# them all and they for it (shared and exclusive holds of one key).
LOCK_SCHEDULES_SHARED = "SELECT pg_advisory_xact_lock_shared(hashtextextended('schedules', 0))"
LOCK_SCHEDULES = "SELECT pg_advisory_xact_lock(hashtextextended('schedules', 0))"
LOCK_DOCTOR_SCHEDULE = (
    "SELECT pg_advisory_xact_lock(hashtextextended('schedule:' || $1::bigint::text, 0))"
)

SCHEDULE_DOCTORS = """
SELECT d.clinic_id, d.id, d.slot_minutes, s.self_referral, c.time_zone
  FROM doctors d JOIN specialties s ON s.id = d.specialty_id JOIN clinics c ON c.id = d.clinic_id
 WHERE d.active AND ($1::bigint[] IS NULL OR d.id = ANY($1::bigint[]))
"""

CLINIC_DOCTORS = """
SELECT d.id, d.clinic_id, d.family_name, d.given_name, d.patronymic, d.room, d.slot_minutes,
       s.code AS specialty
  FROM doctors d JOIN specialties s ON s.id = d.specialty_id
 WHERE d.clinic_id = $1 AND d.active AND ($2::bigint IS NULL OR d.id = $2)
 ORDER BY d.family_name, d.given_name, d.id
"""

CLINIC_ZONE = "SELECT time_zone FROM clinics WHERE id = $1"

DOCTOR_TEMPLATES = """
SELECT id, clinic_id, doctor_id, weekday, starts, ends, channels, urgent, valid_from, valid_to,
       slot_minutes, referral
  FROM schedule_templates
 WHERE clinic_id = $1 AND doctor_id = $2
 ORDER BY weekday, starts, valid_from, id
"""

TEMPLATES_OF_DOCTORS = """
SELECT doctor_id, weekday, starts, ends, channels, urgent, valid_from, valid_to,
       slot_minutes, referral
  FROM schedule_templates
 WHERE valid_from <= $2 AND (valid_to IS NULL OR valid_to >= $1)
   AND ($3::bigint[] IS NULL OR doctor_id = ANY($3::bigint[]))
"""

EXCEPTIONS_OF_DOCTORS = """
SELECT doctor_id, day, kind, starts, ends, channels
  FROM schedule_exceptions
 WHERE day BETWEEN $1 AND $2 AND ($3::bigint[] IS NULL OR doctor_id = ANY($3::bigint[]))
"""

TEMPLATE_FOR_UPDATE = """
SELECT id, clinic_id, doctor_id, weekday, starts, ends, channels, urgent, valid_from, valid_to,
       slot_minutes, referral
  FROM schedule_templates WHERE clinic_id = $1 AND id = $2 FOR UPDATE
"""

INSERT_TEMPLATE = """
INSERT INTO schedule_templates (clinic_id, doctor_id, weekday, starts, ends, channels, urgent,
                                valid_from, valid_to, slot_minutes, referral)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)
RETURNING id
"""

UPDATE_TEMPLATE = """
UPDATE schedule_templates
   SET weekday = $3, starts = $4, ends = $5, channels = $6, urgent = $7, valid_from = $8,
       valid_to = $9, slot_minutes = $10, referral = $11
 WHERE clinic_id = $1 AND id = $2
"""

DELETE_TEMPLATE = "DELETE FROM schedule_templates WHERE clinic_id = $1 AND id = $2"

DOCTOR_EXCEPTIONS = """
SELECT id, doctor_id, day, kind, starts, ends, channels
  FROM schedule_exceptions
 WHERE clinic_id = $1 AND doctor_id = $2 AND day >= $3
 ORDER BY day, starts NULLS FIRST, id
"""

EXCEPTION_FOR_UPDATE = """
SELECT id, clinic_id, doctor_id, day, kind, starts, ends, channels
  FROM schedule_exceptions WHERE clinic_id = $1 AND id = $2 FOR UPDATE
"""

INSERT_EXCEPTION = """
INSERT INTO schedule_exceptions (clinic_id, doctor_id, day, kind, starts, ends, channels)
VALUES ($1, $2, $3, $4, $5, $6, $7)
RETURNING id
"""

DELETE_EXCEPTION = "DELETE FROM schedule_exceptions WHERE clinic_id = $1 AND id = $2"

HOLIDAYS_FROM = "SELECT day, name FROM public_holidays WHERE day >= $1 ORDER BY day"

INSERT_HOLIDAY = """
INSERT INTO public_holidays (day, name) VALUES ($1, $2) ON CONFLICT (day) DO NOTHING RETURNING day
"""

DELETE_HOLIDAY = "DELETE FROM public_holidays WHERE day = $1 RETURNING day"

# The live appointments and holds of doctors over a span, locked: an edit of their
# schedules decides about them in its own transaction.
ACTIVE_APPOINTMENTS_OF_DOCTORS = """
SELECT id, clinic_id, doctor_id, patient_id, specialty_id, starts_at, ends_at, status, channel,
       referral_clinic_id, referral_id, hold_token, hold_expires_at, waitlist_entry_id,
       relocation_id
  FROM appointments
 WHERE status IN ('held', 'booked', 'arrived') AND starts_at >= $1 AND starts_at < $2
   AND ($3::bigint[] IS NULL OR doctor_id = ANY($3::bigint[]))
 ORDER BY clinic_id, id
   FOR UPDATE
"""

QUERIES: dict[str, str] = {
    "lock_schedules_shared": LOCK_SCHEDULES_SHARED,
    "lock_schedules": LOCK_SCHEDULES,
    "lock_doctor_schedule": LOCK_DOCTOR_SCHEDULE,
    "schedule_doctors": SCHEDULE_DOCTORS,
    "clinic_doctors": CLINIC_DOCTORS,
    "clinic_zone": CLINIC_ZONE,
    "doctor_templates": DOCTOR_TEMPLATES,
    "templates_of_doctors": TEMPLATES_OF_DOCTORS,
    "exceptions_of_doctors": EXCEPTIONS_OF_DOCTORS,
    "template_for_update": TEMPLATE_FOR_UPDATE,
    "insert_template": INSERT_TEMPLATE,
    "update_template": UPDATE_TEMPLATE,
    "delete_template": DELETE_TEMPLATE,
    "doctor_exceptions": DOCTOR_EXCEPTIONS,
    "exception_for_update": EXCEPTION_FOR_UPDATE,
    "insert_exception": INSERT_EXCEPTION,
    "delete_exception": DELETE_EXCEPTION,
    "holidays_from": HOLIDAYS_FROM,
    "insert_holiday": INSERT_HOLIDAY,
    "delete_holiday": DELETE_HOLIDAY,
    "active_appointments_of_doctors": ACTIVE_APPOINTMENTS_OF_DOCTORS,
}


async def lock_schedules(conn: Connection, doctor_ids: Sequence[int] | None) -> None:
    """Serialise edits of these doctors' schedules (None: every doctor's, a holiday)."""
    if doctor_ids is None:
        await conn.execute(LOCK_SCHEDULES)
        return
    await conn.execute(LOCK_SCHEDULES_SHARED)
    for doctor_id in sorted(set(doctor_ids)):
        await conn.execute(LOCK_DOCTOR_SCHEDULE, doctor_id)


async def schedule_doctors(conn: Executor, doctor_ids: Sequence[int] | None) -> list[Row]:
    return await conn.fetch(SCHEDULE_DOCTORS, doctor_ids)


async def clinic_doctors(conn: Executor, clinic_id: int, doctor_id: int | None = None) -> list[Row]:
    return await conn.fetch(CLINIC_DOCTORS, clinic_id, doctor_id)


async def clinic_zone(conn: Executor, clinic_id: int) -> str | None:
    zone: str | None = await conn.fetchval(CLINIC_ZONE, clinic_id)
    return zone


async def doctor_templates(conn: Executor, clinic_id: int, doctor_id: int) -> list[Row]:
    return await conn.fetch(DOCTOR_TEMPLATES, clinic_id, doctor_id)


async def schedule_rows(
    conn: Executor, first_day: date, last_day: date, doctor_ids: Sequence[int] | None
) -> tuple[list[Row], list[Row], set[date]]:
    """Templates, exceptions and holidays over the days, of the doctors (None: all)."""
    templates = await conn.fetch(TEMPLATES_OF_DOCTORS, first_day, last_day, doctor_ids)
    exceptions = await conn.fetch(EXCEPTIONS_OF_DOCTORS, first_day, last_day, doctor_ids)
    return templates, exceptions, await holidays_between(conn, first_day, last_day)


async def template_for_update(conn: Connection, clinic_id: int, template_id: int) -> Row | None:
    return await conn.fetchrow(TEMPLATE_FOR_UPDATE, clinic_id, template_id)


def _template_args(t: Any) -> tuple[Any, ...]:
    return (
        t.weekday,
        t.starts,
        t.ends,
        t.channels,
        t.urgent,
        t.valid_from,
        t.valid_to,
        t.slot_minutes,
        t.referral,
    )


async def insert_template(conn: Connection, clinic_id: int, t: Any) -> int:
    """``t``: an :class:`imias.booking.schedules.Template`."""
    template_id: int = await conn.fetchval(
        INSERT_TEMPLATE, clinic_id, t.doctor_id, *_template_args(t)
    )
    return template_id


async def update_template(conn: Connection, clinic_id: int, template_id: int, t: Any) -> None:
    await conn.execute(UPDATE_TEMPLATE, clinic_id, template_id, *_template_args(t))


async def delete_template(conn: Connection, clinic_id: int, template_id: int) -> None:
    await conn.execute(DELETE_TEMPLATE, clinic_id, template_id)


async def doctor_exceptions(
    conn: Executor, clinic_id: int, doctor_id: int, since: date
) -> list[Row]:
    return await conn.fetch(DOCTOR_EXCEPTIONS, clinic_id, doctor_id, since)


async def exception_for_update(conn: Connection, clinic_id: int, exception_id: int) -> Row | None:
    return await conn.fetchrow(EXCEPTION_FOR_UPDATE, clinic_id, exception_id)


async def insert_exception(conn: Connection, clinic_id: int, e: Any) -> int:
    """``e``: an :class:`imias.booking.schedules.ScheduleException`."""
    exception_id: int = await conn.fetchval(
        INSERT_EXCEPTION, clinic_id, e.doctor_id, e.day, e.kind, e.starts, e.ends, e.channels
    )
    return exception_id


async def delete_exception(conn: Connection, clinic_id: int, exception_id: int) -> None:
    await conn.execute(DELETE_EXCEPTION, clinic_id, exception_id)


async def holidays_from(conn: Executor, since: date) -> list[Row]:
    return await conn.fetch(HOLIDAYS_FROM, since)


async def insert_holiday(conn: Connection, day: date, name: str) -> bool:
    """False when the day is a holiday already."""
    return await conn.fetchval(INSERT_HOLIDAY, day, name) is not None


async def delete_holiday(conn: Connection, day: date) -> bool:
    return await conn.fetchval(DELETE_HOLIDAY, day) is not None


async def active_appointments_of_doctors(
    conn: Connection, since: datetime, until: datetime, doctor_ids: Sequence[int] | None
) -> list[Row]:
    """Live appointments and holds starting in [since, until), locked FOR UPDATE."""
    return await conn.fetch(ACTIVE_APPOINTMENTS_OF_DOCTORS, since, until, doctor_ids)
