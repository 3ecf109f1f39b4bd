"""The register of patients as the other domains read it: the registrar's desk searches
it by policy number, or by family name and birth date (every patient shown is an audited
read: the registrar, her clinic, the patients she saw); sign-in finds a patient by policy
number; booking asks where a patient is attached; identity which linked patients are
still children.

And the register's two changes, :func:`register` and :func:`update`, each writing its
event (:mod:`imias.registry.events`) in the caller's transaction, in the statement
that makes the change. (The city's patients come from the seed, in bulk and without
events; nothing in IMIAS registers a patient at run time yet: a registrar's page or an
import from the OMS register would call these.)"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import asyncpg

from imias.platform.audit import record, record_many
from imias.platform.db import Connection, Executor
from imias.registry import events
from imias.registry import repository as repo
from imias.registry.model import PatientCard, full_name

FOUND_LIMIT = 20


def _card(row: asyncpg.Record) -> PatientCard:
    return PatientCard(
        id=row["id"],
        policy_number=row["policy_number"],
        name=full_name(row["family_name"], row["given_name"], row["patronymic"]),
        birth_date=row["birth_date"],
        phone=row["phone"],
        attached_clinic_id=row["attached_clinic_id"],
    )


async def find(
    pool: Executor,
    *,
    policy_number: str | None = None,
    family_name: str | None = None,
    birth_date: date | None = None,
) -> list[PatientCard]:
    """Patients by policy number, or by family name (any case) and birth date."""
    if policy_number:
        rows = await pool.fetch(repo.PATIENT_BY_POLICY, policy_number)
    elif family_name and birth_date:
        rows = await pool.fetch(repo.PATIENTS_BY_NAME, family_name.strip(), birth_date, FOUND_LIMIT)
    else:
        return []
    found = [_card(r) for r in rows]
    await record_many(pool, "read", "patient_search", None, [p.id for p in found])
    return found


async def card(pool: Executor, patient_id: int) -> PatientCard | None:
    """One patient's card, an audited read."""
    row = await pool.fetchrow(repo.PATIENT_BY_ID, patient_id)
    if row is None:
        return None
    found = _card(row)
    await record_many(pool, "read", "patient", patient_id, [patient_id])
    return found


async def by_policy(conn: Executor, policy_number: str) -> PatientCard | None:
    """The patient of a policy number, not recorded as a read (sign-in: the patient
    themself, before anyone is signed in)."""
    row = await conn.fetchrow(repo.PATIENT_BY_POLICY, policy_number)
    return None if row is None else _card(row)


async def name_of(conn: Executor, patient_id: int) -> str | None:
    """The patient's name as a greeting says it: given name, patronymic, family name."""
    row = await conn.fetchrow(repo.PATIENT_BY_ID, patient_id)
    if row is None:
        return None
    return full_name(row["given_name"], row["patronymic"] or "", row["family_name"])


async def names(conn: Executor, patient_ids: Sequence[int]) -> dict[int, str]:
    """The full names (family, given, patronymic) of the patients given, by id."""
    if not patient_ids:
        return {}
    rows = await conn.fetch(repo.PATIENT_NAMES, sorted(set(patient_ids)))
    return {r["id"]: full_name(r["family_name"], r["given_name"], r["patronymic"]) for r in rows}


async def exists(conn: Executor, patient_id: int) -> bool:
    return bool(await conn.fetchval(repo.PATIENT_EXISTS, patient_id))


async def attached_clinic(conn: Executor, patient_id: int) -> int | None:
    """The clinic the patient is attached to (None: none, or no such patient)."""
    value = await conn.fetchval(repo.ATTACHED_CLINIC, patient_id)
    return None if value is None else int(value)


async def minors(conn: Executor, patient_ids: Sequence[int], day: date) -> list[asyncpg.Record]:
    """Of ``patient_ids``, those under 18 on ``day`` (id, given_name, birth_date),
    youngest last."""
    if not patient_ids:
        return []
    return await conn.fetch(repo.MINORS, list(patient_ids), day)


async def doctor_name(conn: Executor, clinic_id: int, doctor_id: int) -> str | None:
    """A doctor's full name, if the doctor works at the clinic."""
    row = await conn.fetchrow(repo.DOCTOR_OF_CLINIC, clinic_id, doctor_id)
    if row is None:
        return None
    return full_name(row["family_name"], row["given_name"], row["patronymic"])


#: What :func:`update` may change.
UPDATABLE = ("family_name", "given_name", "patronymic", "phone", "attached_clinic_id")


async def register(
    conn: Connection,
    *,
    policy_number: str,
    family_name: str,
    given_name: str,
    patronymic: str | None,
    birth_date: date,
    sex: str,
    phone: str | None = None,
    attached_clinic_id: int | None = None,
) -> int:
    """Register a patient (in the caller's transaction) with its event; the new id. A
    policy number registered already raises asyncpg's UniqueViolationError."""
    await conn.execute(repo.LOCK_REGISTRATION)
    patient_id = int(
        await conn.fetchval(
            repo.REGISTER_PATIENT,
            policy_number,
            family_name,
            given_name,
            patronymic,
            birth_date,
            sex,
            phone,
            attached_clinic_id,
        )
    )
    await record(conn, "register", "patient", patient_id, patient_id)
    return patient_id


async def update(conn: Connection, patient_id: int, **changes: object) -> bool:
    """Change a patient's data (the fields of :data:`UPDATABLE` given) with its event,
    in the caller's transaction; False when there is no such patient."""
    unknown = set(changes) - set(UPDATABLE)
    if unknown:
        raise ValueError(f"not a field update changes: {sorted(unknown)}")
    fields = tuple(f for f in UPDATABLE if f in changes)
    payload = events.encode(events.PatientUpdated(patient_id=patient_id, fields=fields))
    found = await conn.fetchval(
        repo.UPDATE_PATIENT,
        patient_id,
        list(fields),
        changes.get("family_name"),
        changes.get("given_name"),
        changes.get("patronymic"),
        changes.get("phone"),
        changes.get("attached_clinic_id"),
        payload,
    )
    if found is None:
        return False
    await record(conn, "update", "patient", patient_id, patient_id)
    return True
