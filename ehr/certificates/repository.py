"""The only code of certificates that runs SQL."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime

import asyncpg

from ehr.certificates import queries as q
from imias.platform.db import Executor

Row = asyncpg.Record


async def current_key(conn: Executor, clinic_id: int) -> Row | None:
    return await conn.fetchrow(q.CURRENT_KEY, clinic_id)


async def insert_key(
    conn: Executor, kid: bytes, clinic_id: int, public: bytes, sealed: bytes, at: datetime
) -> None:
    await conn.execute(q.INSERT_KEY, kid, clinic_id, public, sealed, at)


async def retire_keys(conn: Executor, clinic_id: int, at: datetime) -> None:
    await conn.execute(q.RETIRE_KEYS, clinic_id, at)


async def withdraw_key(conn: Executor, kid: bytes, at: datetime, reason: str) -> bool:
    return bool(await conn.execute(q.WITHDRAW_KEY, kid, at, reason) == "UPDATE 1")


async def all_keys(conn: Executor) -> list[Row]:
    return list(await conn.fetch(q.ALL_KEYS))


async def insert_conclusion(
    conn: Executor,
    patient_id: int,
    encounter_id: int,
    clinic_id: int,
    doctor_id: int,
    author_id: int,
    examiner: str,
    verdict: str,
    restrictions: Sequence[str],
    at: datetime,
) -> int:
    value = await conn.fetchval(
        q.INSERT_CONCLUSION,
        patient_id,
        encounter_id,
        clinic_id,
        doctor_id,
        author_id,
        examiner,
        verdict,
        list(restrictions),
        at,
    )
    return int(value)


async def conclusions(conn: Executor, patient_id: int, since: datetime) -> list[Row]:
    return list(await conn.fetch(q.CONCLUSIONS, patient_id, since))


async def insert_certificate(conn: Executor, *values: object) -> int:
    return int(await conn.fetchval(q.INSERT_CERTIFICATE, *values))


async def certificates_of(conn: Executor, patient_id: int) -> list[Row]:
    return list(await conn.fetch(q.CERTIFICATES_OF_PATIENT, patient_id))


async def by_number(conn: Executor, number: str) -> list[Row]:
    return list(await conn.fetch(q.CERTIFICATE_BY_NUMBER, number))


async def lock_driver_certificates(
    conn: Executor, patient_id: int, categories: Sequence[str]
) -> list[Row]:
    return list(await conn.fetch(q.LOCK_DRIVER_CERTIFICATES, patient_id, list(categories)))


async def lock_certificate(conn: Executor, number: str) -> Row | None:
    return await conn.fetchrow(q.LOCK_CERTIFICATE, number)


async def revoke(
    conn: Executor,
    patient_id: int,
    certificate_id: int,
    at: datetime,
    reason: str,
    by: int | None,
) -> bool:
    done = await conn.execute(q.REVOKE, patient_id, certificate_id, at, reason, by)
    return bool(done == "UPDATE 1")


async def revoked_numbers(conn: Executor, today: date) -> list[str]:
    return [r["number"] for r in await conn.fetch(q.REVOKED_NUMBERS, today)]


async def pe_groups(conn: Executor, patient_ids: Sequence[int], day: date) -> list[Row]:
    return await conn.fetch(q.PE_GROUPS, list(patient_ids), day)
