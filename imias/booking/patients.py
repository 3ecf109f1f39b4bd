"""The patient register as a registrar's desk searches it: by policy number, or by family
name and birth date. Every patient shown is an audited read (the registrar, her clinic,
the patients she saw)."""

from __future__ import annotations

from datetime import date

import asyncpg
import msgspec

from imias.platform.audit.writer import record_many

FOUND_LIMIT = 20

PATIENT_COLUMNS = """
SELECT id, policy_number, family_name, given_name, patronymic, birth_date, phone,
       attached_clinic_id
  FROM patients
"""
BY_POLICY = PATIENT_COLUMNS + " WHERE policy_number = $1"
BY_NAME = (
    PATIENT_COLUMNS
    + " WHERE lower(family_name) = lower($1) AND birth_date = $2 ORDER BY given_name, id LIMIT $3"
)
BY_ID = PATIENT_COLUMNS + " WHERE id = $1"

QUERIES = {"patient_by_policy": BY_POLICY, "patients_by_name": BY_NAME, "patient_by_id": BY_ID}


class PatientCard(msgspec.Struct, frozen=True):
    id: int
    policy_number: str
    name: str
    birth_date: date
    phone: str | None
    attached_clinic_id: int | None


def _card(row: asyncpg.Record) -> PatientCard:
    names = (row["family_name"], row["given_name"], row["patronymic"])
    return PatientCard(
        id=row["id"],
        policy_number=row["policy_number"],
        name=" ".join(n for n in names if n),
        birth_date=row["birth_date"],
        phone=row["phone"],
        attached_clinic_id=row["attached_clinic_id"],
    )


async def find(
    pool: asyncpg.Pool,
    *,
    policy_number: str | None = None,
    family_name: str | None = None,
    birth_date: date | None = None,
) -> list[PatientCard]:
    """Patients by policy number, or by family name (any case) and birth date."""
    if policy_number:
        rows = await pool.fetch(BY_POLICY, policy_number)
    elif family_name and birth_date:
        rows = await pool.fetch(BY_NAME, family_name.strip(), birth_date, FOUND_LIMIT)
    else:
        return []
    found = [_card(r) for r in rows]
    await record_many(pool, "read", "patient_search", None, [p.id for p in found])
    return found


async def card(pool: asyncpg.Pool, patient_id: int) -> PatientCard | None:
    row = await pool.fetchrow(BY_ID, patient_id)
    if row is None:
        return None
    found = _card(row)
    await record_many(pool, "read", "patient", patient_id, [patient_id])
    return found
