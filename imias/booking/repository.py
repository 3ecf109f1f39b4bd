"""SQL of the booking domain (asyncpg, ``$n`` parameters, no string-built values)."""

from __future__ import annotations

from datetime import date, datetime

import asyncpg

DOCTORS_FOR_CALENDAR = """
SELECT d.clinic_id, d.id, d.specialty_id, d.slot_minutes, s.self_referral, c.time_zone
  FROM doctors d
  JOIN specialties s ON s.id = d.specialty_id
  JOIN clinics c ON c.id = d.clinic_id
 WHERE d.active
 ORDER BY d.id
"""

TEMPLATES_IN_WINDOW = """
SELECT doctor_id, weekday, starts, ends, channels, urgent, valid_from, valid_to
  FROM schedule_templates
 WHERE valid_from <= $2 AND (valid_to IS NULL OR valid_to >= $1)
"""

EXCEPTIONS_IN_WINDOW = """
SELECT doctor_id, day, kind, starts, ends, channels
  FROM schedule_exceptions
 WHERE day BETWEEN $1 AND $2
"""

ACTIVE_APPOINTMENTS_BETWEEN = """
SELECT clinic_id, id, doctor_id, starts_at, ends_at
  FROM appointments
 WHERE status IN ('booked', 'arrived') AND starts_at >= $1 AND starts_at < $2
"""


async def doctors_for_calendar(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(DOCTORS_FOR_CALENDAR)


async def templates_in_window(
    conn: asyncpg.Connection, first_day: date, last_day: date
) -> list[asyncpg.Record]:
    return await conn.fetch(TEMPLATES_IN_WINDOW, first_day, last_day)


async def exceptions_in_window(
    conn: asyncpg.Connection, first_day: date, last_day: date
) -> list[asyncpg.Record]:
    return await conn.fetch(EXCEPTIONS_IN_WINDOW, first_day, last_day)


async def active_appointments_between(
    conn: asyncpg.Connection, since: datetime, until: datetime
) -> list[asyncpg.Record]:
    return await conn.fetch(ACTIVE_APPOINTMENTS_BETWEEN, since, until)


# Every named query of this module, so a test can prepare them all against the
# migrated database and a broken column fails CI rather than production.
QUERIES = {
    "doctors_for_calendar": DOCTORS_FOR_CALENDAR,
    "templates_in_window": TEMPLATES_IN_WINDOW,
    "exceptions_in_window": EXCEPTIONS_IN_WINDOW,
    "active_appointments_between": ACTIVE_APPOINTMENTS_BETWEEN,
}


SPECIALTIES = """
SELECT id, code, name_ru, name_en, self_referral, attached_only, min_age, max_age, sex,
       slot_minutes
  FROM specialties ORDER BY id
"""

CLINICS = """
SELECT id, name, address, district, lat, lon, time_zone, kind FROM clinics ORDER BY id
"""

DOCTOR_NAMES = """
SELECT clinic_id, id, specialty_id, family_name, given_name, patronymic, room, slot_minutes
  FROM doctors WHERE active ORDER BY clinic_id, id
"""


async def specialties(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(SPECIALTIES)


async def clinics(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(CLINICS)


async def doctor_names(conn: asyncpg.Connection) -> list[asyncpg.Record]:
    return await conn.fetch(DOCTOR_NAMES)


QUERIES |= {"specialties": SPECIALTIES, "clinics": CLINICS, "doctor_names": DOCTOR_NAMES}
