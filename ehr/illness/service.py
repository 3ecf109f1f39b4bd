"""Illness episodes' use cases: a doctor opens one in her own visit, a doctor who may read
the record closes it, the patient (a guardian) and the doctors read them. Each change
writes its event (:data:`ehr.illness.model.TOPIC`) to the outbox in its own transaction,
and an audit record; each read is audited."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import msgspec

from ehr import repository as ehr_repo
from ehr.access import not_found
from ehr.illness import queries as q
from ehr.illness.model import (
    TOPIC,
    EpisodeClose,
    EpisodeOpen,
    IllnessClosed,
    IllnessEpisode,
    IllnessOpened,
)
from ehr.illness.rules import check_close, check_open, refused
from ehr.service import Records
from imias.identity import Principal
from imias.platform.audit import record
from imias.platform.outbox import write_event
from imias.platform.problems import ProblemError
from imias.registry import patients


def episode_of(row: Any) -> IllnessEpisode:
    return IllnessEpisode(
        id=row["id"],
        patient_id=row["patient_id"],
        encounter_id=row["encounter_id"],
        clinic_id=row["clinic_id"],
        starts_on=row["starts_on"],
        ends_on=row["ends_on"],
        opened_at=row["opened_at"],
        closed_at=row["closed_at"],
        status="open" if row["ends_on"] is None else "closed",
    )


class IllnessEpisodes:
    """The use cases over the pool (``today``: the city's day; ``clock``: UTC now)."""

    def __init__(
        self,
        pool: Any,
        records: Records,
        *,
        today: Callable[[], date],
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.pool = pool
        self.records = records
        self.today = today
        self.clock = clock or (lambda: datetime.now(UTC))

    @staticmethod
    def _doctor(principal: Principal) -> tuple[int, int]:
        if principal.role != "doctor" or principal.doc is None or principal.org is None:
            raise ProblemError(403, "forbidden", "Only a doctor opens and closes illness episodes.")
        return principal.doc, principal.org

    async def open(
        self, principal: Principal, encounter_id: int, data: EpisodeOpen
    ) -> IllnessEpisode:
        """An episode of the visit's patient (a child), opened in the doctor's own visit."""
        doctor, clinic = self._doctor(principal)
        row = await ehr_repo.encounter_row(self.pool, encounter_id)
        if row is None or row["clinic_id"] != clinic:
            raise not_found("encounter")
        await self.records.reader_of(principal, row["patient_id"])
        check_open(data.starts_on, self.today())
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            enc = await ehr_repo.lock_encounter(conn, encounter_id)
            assert enc is not None
            if enc["doctor_id"] != doctor:
                raise ProblemError(403, "forbidden", "This is another doctor's visit.")
            if enc["status"] == "entered-in-error":
                raise ProblemError(409, "visit_in_error", "This visit was entered in error.")
            patient = enc["patient_id"]
            if not await patients.minors(conn, [patient], data.starts_on):
                raise refused("not_a_child", "Illness episodes are kept for children under 18.")
            inserted = await conn.fetchrow(
                q.INSERT_EPISODE, patient, encounter_id, clinic, doctor, principal.subject, now,
                data.starts_on,
            )  # fmt: skip
            if inserted is None:
                raise refused(
                    "episode_open", "This child has an open illness episode: close it first.", 409
                )
            episode = episode_of(inserted)
            await record(conn, "create", "illness_episode", episode.id, patient)
            event = IllnessOpened(
                episode_id=episode.id, patient_id=patient, starts_on=data.starts_on, at=now
            )
            await write_event(
                conn, topic=TOPIC, payload=msgspec.json.encode(event), clinic_id=clinic
            )
        return episode

    async def close(
        self, principal: Principal, patient_id: int, episode_id: int, data: EpisodeClose
    ) -> IllnessEpisode:
        """The open episode closed on ``ends_on`` by a doctor who may read the record."""
        _, clinic = self._doctor(principal)
        await self.records.reader_of(principal, patient_id)
        today = self.today()
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(q.LOCK_EPISODE, patient_id, episode_id)
            if row is None:
                raise not_found("illness episode")
            check_close(row["starts_on"], row["ends_on"], data.ends_on, today)
            closed = await conn.fetchrow(
                q.CLOSE_EPISODE, patient_id, episode_id, data.ends_on, principal.subject, now
            )
            await record(conn, "close", "illness_episode", episode_id, patient_id)
            event = IllnessClosed(
                episode_id=episode_id, patient_id=patient_id, starts_on=row["starts_on"],
                ends_on=data.ends_on, at=now,
            )  # fmt: skip
            await write_event(
                conn, topic=TOPIC, payload=msgspec.json.encode(event), clinic_id=clinic
            )
        return episode_of(closed)

    async def of_patient(self, principal: Principal, patient_id: int) -> list[IllnessEpisode]:
        """A patient's episodes, newest first (an audited read)."""
        await self.records.reader_of(principal, patient_id)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(q.EPISODES_OF, patient_id)
            await record(conn, "read", "illness_episodes", None, patient_id)
        return [episode_of(r) for r in rows]
