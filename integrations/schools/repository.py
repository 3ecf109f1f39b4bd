"""The only code of the schools' adapter that runs SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from imias.platform.db import Executor
from integrations.schools import queries as q
from integrations.schools.model import SchoolConsent

CONSENTS_SHOWN = 100


def consent_of(row: Any) -> SchoolConsent:
    return SchoolConsent(
        id=row["id"],
        patient_id=row["patient_id"],
        school_id=row["school_id"],
        school=row["school"],
        school_kind=row["school_kind"],
        absences=row["absences"],
        certificates=row["certificates"],
        given_at=row["given_at"],
        withdrawn_at=row["withdrawn_at"],
        status="active" if row["withdrawn_at"] is None else "withdrawn",
    )


async def consents_of(db: Executor, patient_id: int) -> list[SchoolConsent]:
    return [consent_of(r) for r in await db.fetch(q.CONSENTS_OF, patient_id, CONSENTS_SHOWN)]


async def consent(db: Executor, patient_id: int, consent_id: int) -> SchoolConsent | None:
    row = await db.fetchrow(q.CONSENT, patient_id, consent_id)
    return None if row is None else consent_of(row)


async def lock_consent(db: Executor, patient_id: int, consent_id: int) -> Any:
    return await db.fetchrow(q.LOCK_CONSENT, patient_id, consent_id)


async def withdraw_active(
    db: Executor, patient_id: int, school_id: int, at: datetime, by: int
) -> list[int]:
    return [r["id"] for r in await db.fetch(q.WITHDRAW_ACTIVE, patient_id, school_id, at, by)]


async def withdraw(db: Executor, patient_id: int, consent_id: int, at: datetime, by: int) -> None:
    await db.execute(q.WITHDRAW, patient_id, consent_id, at, by)


async def insert_consent(
    db: Executor, patient_id: int, school_id: int, absences: bool, certificates: bool,
    by: int, at: datetime,
) -> int:  # fmt: skip
    return int(
        await db.fetchval(q.INSERT_CONSENT, patient_id, school_id, absences, certificates, by, at)
    )


async def consented_at(db: Executor, patient_id: int, at: datetime, what: str) -> list[Any]:
    """The schools (school_id, name, kind) whose consent for ``what`` was in force at ``at``."""
    return list(await db.fetch(q.CONSENTED_AT, patient_id, at, what))


async def pupils_of(db: Executor, school_id: int) -> list[int]:
    return [r["patient_id"] for r in await db.fetch(q.PUPILS_OF, school_id)]


async def journals_of(db: Executor, school_id: int) -> list[str]:
    return [r["partner_id"] for r in await db.fetch(q.JOURNALS_OF, school_id)]


async def bind_journal(db: Executor, school_id: int, partner_id: str) -> None:
    await db.execute(q.BIND_JOURNAL, school_id, partner_id)


async def unbind_journal(db: Executor, school_id: int, partner_id: str) -> bool:
    return bool((await db.execute(q.UNBIND_JOURNAL, school_id, partner_id)).endswith(" 1"))


async def journals(db: Executor) -> list[tuple[int, str]]:
    return [(r["school_id"], r["partner_id"]) for r in await db.fetch(q.JOURNALS)]
