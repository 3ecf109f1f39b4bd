"""The cast of a load run, prepared before locust starts: patients, registrars and
doctors drawn from the database, each with a token minted in bulk with the server's
key (the operator path of ``imias token``), written to one JSON file that the
locustfile reads. Locust's users never touch the database."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg

from imias.identity import Role, tokens

# Adults with a phone (the IVR sends its code there), spread over the city.
SQL_PATIENTS = """
SELECT id, policy_number, to_char(birth_date, 'DDMMYYYY') AS birth, attached_clinic_id
  FROM patients
 WHERE birth_date <= current_date - interval '18 years'
   AND phone IS NOT NULL AND attached_clinic_id IS NOT NULL
 ORDER BY id
 LIMIT $1
"""
SQL_STAFF = """
SELECT s.id, s.clinic_id, s.doctor_id
  FROM staff_accounts s
 WHERE s.role = $1 AND NOT s.disabled
 ORDER BY s.id
 LIMIT $2
"""
# The city's time zone (its clinics'): the users' "today" is the city's, as the server's.
SQL_TIME_ZONE = """
SELECT time_zone FROM clinics GROUP BY time_zone ORDER BY count(*) DESC, time_zone LIMIT 1
"""

SQL_SPECIALTIES = """
SELECT code, self_referral,
       self_referral AND NOT attached_only AND sex IS NULL
       AND min_age <= 18 AND max_age >= 120 AS open_to_adults
  FROM specialties
 ORDER BY code
"""


CITY_TIME_ZONE = "Europe/Moscow"  # a city without clinics: IMIAS's default


async def gather(
    database_url: str,
    key: bytes,
    *,
    patients: int = 5000,
    staff: int = 200,
    popular_doctors: Sequence[int] = (),
    opening_day: date | None = None,
    ttl: int = 86_400,
) -> dict[str, Any]:
    """The cast as a JSON-ready dict (tokens valid ``ttl`` seconds)."""
    conn = await asyncpg.connect(database_url)
    try:
        patient_rows = await conn.fetch(SQL_PATIENTS, patients)
        registrars = await conn.fetch(SQL_STAFF, "registrar", staff)
        doctors = await conn.fetch(SQL_STAFF, "doctor", staff)
        specialties = await conn.fetch(SQL_SPECIALTIES)
        time_zone = await conn.fetchval(SQL_TIME_ZONE)
    finally:
        await conn.close()

    def mint(role: Role, subject: int, **extra: Any) -> str:
        return tokens.mint(key, tokens.claims(role, subject, ttl=ttl, **extra))

    return {
        "patients": [
            {
                "id": r["id"],
                "policy": r["policy_number"],
                "birth": r["birth"],
                "clinic": r["attached_clinic_id"],
                "token": mint("patient", r["id"]),
            }
            for r in patient_rows
        ],
        "registrars": [
            {"clinic": r["clinic_id"], "token": mint("registrar", r["id"], org=r["clinic_id"])}
            for r in registrars
        ],
        "doctors": [
            {
                "id": r["doctor_id"],
                "clinic": r["clinic_id"],
                "token": mint("doctor", r["id"], org=r["clinic_id"], doctor=r["doctor_id"]),
            }
            for r in doctors
        ],
        # the Monday opening (loadtest.opening): the day that opened and its doctors
        "popular_doctors": list(popular_doctors),
        "opening_day": opening_day.isoformat() if opening_day else None,
        "specialties": [r["code"] for r in specialties if r["self_referral"]],
        # bookable by any adult at any clinic: what registrars book for callers
        "open_specialties": [r["code"] for r in specialties if r["open_to_adults"]],
        "referral_specialties": [r["code"] for r in specialties if not r["self_referral"]],
        "time_zone": time_zone or CITY_TIME_ZONE,
    }


def write(cast: dict[str, Any], path: Path) -> Path:
    path.write_text(json.dumps(cast))
    return path
