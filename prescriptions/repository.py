"""The only code of prescriptions that runs SQL: rows in, Structs out."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

import asyncpg
import msgspec

from imias.platform.db import Executor
from prescriptions import queries as q
from prescriptions.model import DispensingOut, DispensingRecord, Period

Row = asyncpg.Record
FAR_FUTURE = date(9999, 12, 31)
NO_ID = 2**63 - 1


async def next_id(conn: Executor) -> int:
    value = await conn.fetchval(q.NEXT_ID)
    return int(value)


async def insert(conn: Executor, *args: Any) -> None:
    await conn.execute(q.INSERT_PRESCRIPTION, *args)


async def insert_periods(
    conn: Executor,
    patient_id: int,
    prescription_id: int,
    spans: Sequence[tuple[date, date]],
    quantity: int,
) -> None:
    await conn.execute(
        q.INSERT_PERIODS,
        patient_id,
        prescription_id,
        list(range(1, len(spans) + 1)),
        [s for s, _ in spans],
        [e for _, e in spans],
        quantity,
    )


async def prescription(conn: Executor, prescription_id: int) -> Row | None:
    return await conn.fetchrow(q.PRESCRIPTION, prescription_id)


async def of_patient(
    conn: Executor, patient_id: int, limit: int, before: tuple[date, int] | None = None
) -> list[Row]:
    at, last = before or (FAR_FUTURE, NO_ID)
    return list(await conn.fetch(q.OF_PATIENT, patient_id, at, last, limit))


async def of_encounter(conn: Executor, patient_id: int, encounter_id: int) -> list[Row]:
    return list(await conn.fetch(q.OF_ENCOUNTER, patient_id, encounter_id))


async def subsidised_of_patient(conn: Executor, patient_id: int, today: date) -> list[Row]:
    return list(await conn.fetch(q.SUBSIDISED_OF_PATIENT, patient_id, today))


async def current(conn: Executor, patient_id: int, today: date) -> list[Row]:
    return list(await conn.fetch(q.CURRENT, patient_id, today))


async def active_atc(conn: Executor, patient_id: int, today: date) -> list[str]:
    return [r["atc"] for r in await conn.fetch(q.ACTIVE_ATC, patient_id, today)]


def period_of(row: Row) -> Period:
    return Period(
        period=row["period"],
        starts=row["starts"],
        ends=row["ends"],
        quantity=row["quantity"],
        dispensed=row["dispensed"],
    )


async def periods(
    conn: Executor, patient_id: int, prescription_ids: Sequence[int]
) -> dict[int, list[Period]]:
    out: dict[int, list[Period]] = {i: [] for i in prescription_ids}
    for row in await conn.fetch(q.PERIODS, patient_id, list(prescription_ids)):
        out[row["prescription_id"]].append(period_of(row))
    return out


async def cancel(
    conn: Executor, patient_id: int, prescription_id: int, at: datetime, reason: str
) -> bool:
    return await conn.fetchval(q.CANCEL, patient_id, prescription_id, at, reason) is not None


async def counter_row(conn: Executor, prescription_id: int) -> Row | None:
    return await conn.fetchrow(q.COUNTER, prescription_id)


def counter_periods(row: Row) -> list[Period]:
    return msgspec.json.decode(row["periods_json"], type=list[Period])


def counter_dispensings(row: Row) -> list[DispensingOut]:
    return msgspec.json.decode(row["dispensings_json"], type=list[DispensingOut])


async def dispense(conn: Executor, *args: Any) -> DispensingOut | None:
    """The dispensing written, or None when the period has not that many left (or the
    prescription is not active): (patient, prescription, period, quantity, pharmacy,
    pharmacist, product, request id, when)."""
    row = await conn.fetchrow(q.DISPENSE, *args)
    return None if row is None else dispensing_of(row)


async def left_in_period(conn: Executor, patient_id: int, prescription_id: int, period: int) -> int:
    value = await conn.fetchval(q.LEFT_IN_PERIOD, patient_id, prescription_id, period)
    return 0 if value is None else int(value)


def dispensing_of(row: Row) -> DispensingOut:
    return DispensingOut(**dict(row))


async def dispensing_of_request(
    conn: Executor, patient_id: int, request_id: UUID
) -> DispensingOut | None:
    row = await conn.fetchrow(q.DISPENSING_OF_REQUEST, patient_id, request_id)
    return None if row is None else dispensing_of(row)


async def fhir_requests(
    conn: Executor,
    patient_id: int,
    before: tuple[date, int] | None,
    since: date | None,
    until: date | None,
    status: str | None,
    today: date,
    limit: int,
) -> list[Row]:
    at, last = before or (FAR_FUTURE, NO_ID)
    return list(
        await conn.fetch(q.FHIR_REQUESTS, patient_id, at, last, since, until, status, today, limit)
    )


async def dispensing(conn: Executor, dispensing_id: int) -> DispensingRecord | None:
    row = await conn.fetchrow(q.DISPENSING, dispensing_id)
    return None if row is None else DispensingRecord(**dict(row))


async def fhir_dispensings(
    conn: Executor, patient_id: int, prescription_id: int | None, below: int | None, limit: int
) -> list[DispensingRecord]:
    rows = await conn.fetch(q.FHIR_DISPENSINGS, patient_id, prescription_id, below or NO_ID, limit)
    return [DispensingRecord(**dict(r)) for r in rows]


async def benefits(conn: Executor, patient_id: int, today: date) -> list[str]:
    return [r["category"] for r in await conn.fetch(q.BENEFITS, patient_id, today)]


async def latest_catalogue(conn: Executor) -> tuple[str, bytes] | None:
    row = await conn.fetchrow(q.LATEST_CATALOGUE)
    return None if row is None else (row["version"], bytes(row["body"]))


async def store_catalogue(
    conn: Executor, version: str, published: date, body: bytes, at: datetime
) -> bool:
    """Store a catalogue file; False when this version is there already with this
    content. The same version with other content is refused (ValueError)."""
    digest = hashlib.sha256(body).hexdigest()
    stored = await conn.fetchval(q.INSERT_CATALOGUE, version, published, digest, body, at)
    if stored is not None:
        return True
    if await conn.fetchval(q.CATALOGUE_DIGEST, version) != digest:
        raise ValueError(f"catalogue {version} is stored already with other content")
    return False


def overrides_json(items: Sequence[Any]) -> str:
    return msgspec.json.encode(items).decode()
