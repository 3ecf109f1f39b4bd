"""The walk-in queue: patients who come to a clinic without an appointment.

- A registrar of the clinic adds a patient to today's queue (the clinic's day, in its
  zone) with the complaint in a few words, urgent or not; she sees the queue with each
  one's wait and marks one who went away (left).
- The duty doctor calls the next: urgent first, then the longest waiting. Who is on
  duty is not a roster: every doctor of the clinic whose specialty patients see without
  a referral (a therapist, a GP, a paediatrician, a dentist, ...; ``self_referral`` in
  the directory) may call, and whoever calls first gets the patient. Two calls at once
  never take the same one (the row is locked and skipped, :data:`~.queries.CALL_NEXT_WALK_IN`).
- The doctor then sees the patient in a visit of her own: the record's encounter with
  no appointment (a patient she called counts as booked with her for the record's
  access rule, :class:`~.care.CareLinks`); the entry keeps the encounter's id. The
  entry is seen when that visit is signed (the doctor's page says so) or when she marks
  it; left when the patient went away.
- Each change is audited; a call writes a ``walk_in_called`` notice to the patient.

``added_at`` and ``called_at`` are kept: the wait in the hall is the one from the
other, which the dashboard reads.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

import asyncpg
import msgspec
from msgspec import Meta

from imias.booking import repository as repo
from imias.booking.engine import Engine
from imias.booking.model import Id
from imias.identity import Principal
from imias.platform.audit.writer import record, record_many
from imias.platform.notices import Notice, write_notice
from imias.platform.problems import ProblemError
from imias.registry import patients

Complaint = Annotated[str, Meta(min_length=1, max_length=200)]
WalkInState = str  # waiting, called, seen, left


class WalkInAdd(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    patient_id: Id
    complaint: Complaint
    urgent: bool = False

    def __post_init__(self) -> None:
        if not self.complaint.strip():
            raise ValueError("complaint: say what brings the patient, in a few words")


class WalkIn(msgspec.Struct, frozen=True):
    id: int
    clinic_id: int
    day: date
    patient_id: int
    complaint: str
    urgent: bool
    state: WalkInState
    added_at: datetime
    #: From added to called (to now while waiting); None once left without a call.
    waited_seconds: int | None
    patient_name: str | None = None
    called_at: datetime | None = None
    called_by_doctor: int | None = None
    encounter_id: int | None = None
    ended_at: datetime | None = None


class WalkInQueue(msgspec.Struct, frozen=True):
    clinic_id: int
    day: date
    at: datetime
    waiting: int
    entries: list[WalkIn]


def _entry(row: asyncpg.Record, now: datetime, name: str | None = None) -> WalkIn:
    called = row["called_at"]
    waited = None
    if called is not None:
        waited = int((called - row["added_at"]).total_seconds())
    elif row["state"] == "waiting":
        waited = max(0, int((now - row["added_at"]).total_seconds()))
    return WalkIn(
        id=row["id"],
        clinic_id=row["clinic_id"],
        day=row["day"],
        patient_id=row["patient_id"],
        complaint=row["complaint"],
        urgent=row["urgent"],
        state=row["state"],
        added_at=row["added_at"],
        waited_seconds=waited,
        patient_name=name,
        called_at=called,
        called_by_doctor=row["called_by"],
        encounter_id=row["encounter_id"],
        ended_at=row["ended_at"],
    )


def not_waiting(detail: str = "This entry is no longer waiting.") -> ProblemError:
    return ProblemError(409, "not_waiting", detail)


def no_entry() -> ProblemError:
    return ProblemError(404, "not_found", "There is no such walk-in entry.")


class WalkIns:
    def __init__(
        self,
        pool: asyncpg.Pool,
        engine: Engine,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.pool = pool
        self.engine = engine
        self.clock = clock

    def day_of(self, clinic_id: int, now: datetime | None = None) -> date:
        """The clinic's day (its own zone), now."""
        clinic = self.engine.directory.clinics.get(clinic_id)
        zone = ZoneInfo(clinic.time_zone) if clinic is not None else self.engine.zone
        return (now or self.clock()).astimezone(zone).date()

    def is_duty_doctor(self, clinic_id: int, doctor_id: int) -> bool:
        """A doctor of the clinic whose specialty patients see without a referral."""
        directory = self.engine.directory
        doctor = directory.doctors.get(doctor_id)
        if doctor is None or doctor.clinic_id != clinic_id:
            return False
        specialty = directory.specialties.get(doctor.specialty_id)
        return specialty is not None and specialty.self_referral

    async def queue(self, clinic_id: int) -> WalkInQueue:
        """Today's entries of the clinic, each an audited read of its patient."""
        now = self.clock()
        day = self.day_of(clinic_id, now)
        rows = await repo.walk_ins_of_day(self.pool, clinic_id, day)
        ids = [r["patient_id"] for r in rows]
        names = await patients.names(self.pool, ids)
        await record_many(self.pool, "read", "walk_in_queue", clinic_id, ids)
        entries = [_entry(r, now, names.get(r["patient_id"])) for r in rows]
        waiting = sum(1 for e in entries if e.state == "waiting")
        return WalkInQueue(clinic_id, day, now, waiting, entries)

    async def add(self, principal: Principal, clinic_id: int, data: WalkInAdd) -> WalkIn:
        now = self.clock()
        day = self.day_of(clinic_id, now)
        async with self.pool.acquire() as conn, conn.transaction():
            if not await patients.exists(conn, data.patient_id):
                raise ProblemError(404, "unknown_patient", "There is no such patient.")
            row = await repo.insert_walk_in(
                conn,
                clinic_id,
                day,
                data.patient_id,
                data.complaint.strip(),
                data.urgent,
                principal.subject,
                now,
            )
            if row is None:
                raise ProblemError(
                    409, "already_queued", "This patient is in today's walk-in queue already."
                )
            await record(conn, "create", "walk_in", row["id"], data.patient_id)
        return _entry(row, now, await patients.name_of(self.pool, data.patient_id))

    async def call_next(self, principal: Principal, clinic_id: int) -> WalkIn:
        """The next waiting patient, called by this doctor (409 ``queue_empty``)."""
        doctor_id = principal.doc
        if doctor_id is None or not self.is_duty_doctor(clinic_id, doctor_id):
            raise ProblemError(
                403,
                "not_duty_doctor",
                "Walk-ins are called by the clinic's doctors whom patients see without a "
                "referral (therapist, GP, paediatrician, dentist, ...).",
            )
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.call_next_walk_in(
                conn, clinic_id, self.day_of(clinic_id, now), now, doctor_id, principal.subject
            )
            if row is None:
                raise ProblemError(409, "queue_empty", "Nobody is waiting.")
            await record(conn, "call", "walk_in", row["id"], row["patient_id"])
            room = self.engine.directory.doctors[doctor_id].room
            params: dict[str, object] = {"clinic_id": clinic_id}
            if room:
                params["room"] = room
            notice = Notice(
                kind="walk_in_called", patient_id=row["patient_id"], params=params, urgent=True
            )
            await write_notice(conn, notice, clinic_id=clinic_id)
        return _entry(row, now, await patients.name_of(self.pool, row["patient_id"]))

    async def end(self, principal: Principal, clinic_id: int, entry_id: int, state: str) -> WalkIn:
        """``left`` (a registrar: a waiting or called one; a doctor: one she called) or
        ``seen`` (the doctor who called)."""
        now = self.clock()
        doctor = principal.doc if principal.role == "doctor" else None
        if state == "seen":
            if doctor is None:
                raise ProblemError(403, "forbidden", "The doctor who called marks a visit.")
            states = ["called"]
        else:
            states = ["called"] if doctor is not None else ["waiting", "called"]
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.end_walk_in(conn, clinic_id, entry_id, state, now, states, doctor)
            if row is None:
                found = await repo.walk_in(conn, clinic_id, entry_id)
                if found is None:
                    raise no_entry()
                if doctor is not None and found["called_by"] != doctor:
                    raise ProblemError(
                        403, "forbidden", "Another doctor called this patient (or nobody yet)."
                    )
                raise not_waiting(f"This entry is {found['state']}.")
            await record(conn, state, "walk_in", entry_id, row["patient_id"])
        return _entry(row, now, await patients.name_of(self.pool, row["patient_id"]))

    async def entry(self, clinic_id: int, entry_id: int) -> WalkIn:
        row = await repo.walk_in(self.pool, clinic_id, entry_id)
        if row is None:
            raise no_entry()
        return _entry(row, self.clock())

    async def attach_visit(
        self, clinic_id: int, entry_id: int, doctor_id: int, encounter_id: int
    ) -> int:
        """The visit of a called entry: ``encounter_id`` unless one was opened before
        (then that one); 404 when the entry is not this doctor's called one."""
        found = await repo.attach_walk_in_visit(
            self.pool, clinic_id, entry_id, doctor_id, encounter_id
        )
        if found is None:
            raise no_entry()
        return found

    async def seen_by_visit(self, clinic_id: int, encounter_id: int) -> bool:
        """The entry whose visit this is was seen (its visit signed)."""
        return await repo.seen_by_visit(self.pool, clinic_id, encounter_id, self.clock())
