"""The mechanics under the booking use cases (:mod:`imias.booking.service`): a slot
request placed against the directory and the engine, the patient locked and their
facts read in one round trip, the rules asked, the engine's fast refusal, the
appointment or hold written with its engine event and its audit record, and the
answers kept under idempotency keys.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from imias.booking import repository as repo
from imias.booking import rules
from imias.booking.engine import Engine
from imias.booking.facts import Locked, lock_context
from imias.booking.model import (
    CHANNEL_BITS,
    BookingContext,
    Channel,
    DoctorFacts,
    PatientFacts,
    Refusal,
    RefusalCode,
    SlotFacts,
    SpecialtyFacts,
)
from imias.booking.schedules import to_local
from imias.booking.views import Appointment, appointment_of
from imias.platform import audit
from imias.platform.outbox import write_event
from imias.platform.problems import ProblemError
from scheduler_core import SchedulerError, encode_event
from scheduler_core import events as ev
from scheduler_core.flags import CHANNEL_MASK, REFERRAL_BIT, SLOT_START, URGENT_BIT

log = logging.getLogger("imias.booking")

HOLD_SECONDS = 300
ENGINE_TOPIC = "engine"


def refuse(code: RefusalCode, detail: str | None = None) -> ProblemError:
    return ProblemError(
        code.status,
        code.value,
        detail or code.message("en"),
        extra={"message_ru": code.message("ru")},
    )


class Changes:
    """The engine events of one transaction, written to the outbox inside it."""

    def __init__(self, service: BookingMechanics) -> None:
        self.service = service
        self.written: list[tuple[Any, int]] = []

    async def emit(self, conn: asyncpg.Connection, event: Any, clinic_id: int) -> None:
        outbox_id = await self.service._emit(conn, event, clinic_id)
        self.written.append((event, outbox_id))

    async def change_with(
        self,
        conn: asyncpg.Connection,
        statement: str,
        args: tuple[Any, ...],
        event: Any,
        clinic_id: int,
        audited: tuple[Any, ...],
    ) -> asyncpg.Record | None:
        """Run a change whose statement also writes its event and its audit record
        (repository's ``*_WITH_EVENT``, taking clinic id, topic and payload, then the
        audit values, after ``args``): one round trip."""
        row = await conn.fetchrow(
            statement, *args, clinic_id, ENGINE_TOPIC, encode_event(event), *audited
        )
        if row is not None:
            self.written.append((event, row["outbox_id"]))
        return row

    def applied(self) -> None:
        if self.service.apply_locally:
            for event, outbox_id in self.written:
                self.service.engine.apply_local(event, outbox_id)


@dataclass(frozen=True)
class Placed:
    """A slot request resolved against the directory and the engine."""

    doctor: Any
    clinic: Any
    specialty: SpecialtyFacts
    zone: ZoneInfo
    starts_at: datetime
    ends_at: datetime
    day: int  # engine day (local date ordinal)
    unit: int
    length: int
    flags: int


class BookingMechanics:
    """What every use case of :class:`imias.booking.service.BookingService` is made of."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        engine: Engine,
        clock: Callable[[], datetime] | None = None,
        hold_seconds: int = HOLD_SECONDS,
        apply_locally: bool = False,
    ) -> None:
        self.pool = pool
        self.engine = engine
        self.clock = clock or (lambda: datetime.now(UTC))
        self.hold_seconds = hold_seconds
        # In a worker the stream applies every change (see Engine.apply_event); a
        # process without a stream (tools, tests) applies its own after commit.
        self.apply_locally = apply_locally

    def place(self, doctor_id: int, starts_at: datetime) -> Placed:
        cal = self.engine.calendar
        directory = self.engine.directory
        if cal is None:
            raise ProblemError(
                503, "engine_loading", "The schedule is being loaded.", headers={"Retry-After": "2"}
            )
        doctor = directory.doctors.get(doctor_id)
        if doctor is None or not cal.has_doctor(doctor_id):
            raise refuse(RefusalCode.NOT_FOUND, f"There is no doctor {doctor_id}.")
        clinic = directory.clinics[doctor.clinic_id]
        spec = directory.specialties[doctor.specialty_id]
        specialty = SpecialtyFacts(
            id=spec.id,
            code=spec.code,
            self_referral=spec.self_referral,
            attached_only=spec.attached_only,
            min_age=spec.min_age,
            max_age=spec.max_age,
            sex=spec.sex,
        )
        zone = ZoneInfo(clinic.time_zone)
        if starts_at.second or starts_at.microsecond:
            raise refuse(RefusalCode.OUTSIDE_SCHEDULE, "Slots start on whole minutes.")
        if starts_at.tzinfo is None:
            raise ProblemError(400, "validation_error", "starts_at needs a time zone offset.")
        local_day, minute = to_local(starts_at, zone)
        g = self.engine.geometry
        day = local_day.toordinal()
        unit, rest = divmod(minute - g.day_begins, g.unit_minutes)
        length = doctor.slot_minutes // g.unit_minutes
        if not cal.start_day <= day <= cal.last_day:
            raise refuse(RefusalCode.OUTSIDE_SCHEDULE, "That day is outside the booking window.")
        flags = 0
        if rest == 0 and 0 <= unit and unit + length <= g.units_per_day:
            flags = cal.day_flags(doctor_id, day)[unit]
        if not flags & SLOT_START:
            raise refuse(RefusalCode.OUTSIDE_SCHEDULE)
        starts = starts_at.astimezone(UTC)
        return Placed(
            doctor,
            clinic,
            specialty,
            zone,
            starts,
            starts + timedelta(minutes=doctor.slot_minutes),
            day,
            unit,
            length,
            flags,
        )

    def slot_facts(self, p: Placed) -> SlotFacts:
        return SlotFacts(
            doctor=DoctorFacts(id=p.doctor.id, clinic_id=p.clinic.id, specialty_id=p.specialty.id),
            starts_at=p.starts_at,
            ends_at=p.ends_at,
            time_zone=p.clinic.time_zone,
            channel_flags=(p.flags & CHANNEL_MASK) or 1,
            needs_referral=bool(p.flags & REFERRAL_BIT),
            urgent=bool(p.flags & URGENT_BIT),
        )

    async def _lock_patient(self, conn: asyncpg.Connection, patient_id: int) -> None:
        """Serialise this patient's requests (the whole transaction holds the lock)."""
        if await conn.fetchrow(repo.LOCK_PATIENT, patient_id) is None:
            raise refuse(RefusalCode.NOT_FOUND, f"There is no patient {patient_id}.")

    async def _locked(
        self,
        conn: asyncpg.Connection,
        patient_id: int,
        now: datetime,
        key: str | None = None,
        token: uuid.UUID | None = None,
        slot: Placed | None = None,
        changes: Changes | None = None,
    ) -> Locked:
        """Lock the patient's row and read the facts, the idempotency key's stored answer
        and the hold of the token, in one round trip. Given the ``slot`` to be taken,
        holds on its time that have expired but are not swept yet give way in the same
        round trip (their releases go into ``changes``)."""
        where = None
        if slot is not None:
            where = (slot.clinic.id, slot.doctor.id, slot.starts_at, slot.ends_at)
        locked = await lock_context(conn, patient_id, now, key, token, where)
        if locked is None:
            raise refuse(RefusalCode.NOT_FOUND, f"There is no patient {patient_id}.")
        if locked.expired:
            assert changes is not None
            await self._expired(conn, locked.expired, now, changes)
        return locked

    async def _expired(
        self, conn: asyncpg.Connection, gone: list[asyncpg.Record], now: datetime, changes: Changes
    ) -> None:
        """Publish the release of holds just ended as expired; a waitlist offer among them
        ends as expired (the slot is being taken, so it is not offered on)."""
        for row in gone:
            await changes.emit(conn, ev.HoldReleased(str(row["hold_token"])), row["clinic_id"])
            if row["waitlist_entry_id"] is not None:
                await conn.execute(
                    repo.SET_WAITLIST_STATUS,
                    row["patient_id"],
                    row["waitlist_entry_id"],
                    "expired",
                    now,
                )

    def _decide(
        self,
        patient: PatientFacts,
        p: Placed,
        ctx: BookingContext,
        channel: Channel,
        *,
        new_hold: bool,
        exclude: int | None = None,
    ) -> rules.Allowed:
        decision = rules.decide_booking(
            patient,
            p.specialty,
            self.slot_facts(p),
            ctx,
            channel=channel,
            new_hold=new_hold,
            exclude_appointment_id=exclude,
        )
        if isinstance(decision, Refusal):
            raise refuse(decision.code)
        return decision

    def _engine_free(self, p: Placed, channel: Channel | None, now: datetime) -> None:
        """The fast refusal: this worker's engine already knows the time is taken.

        The engine is only asked, never changed, before the database decides: it holds
        committed state only (this worker's commits, applied right after them, and the
        other workers' through the stream), so a refused attempt leaves nothing behind.
        The slot's channels and entitlements are the rules' to refuse (with their own
        codes): the engine is asked with the slot's own, so only taken time is refused
        here; ``channel`` narrows it to a channel the rules have allowed.
        """
        cal = self.engine.calendar
        entitled = p.flags & (REFERRAL_BIT | URGENT_BIT)
        channels = CHANNEL_BITS[channel] if channel else (p.flags & CHANNEL_MASK) or 1
        try:
            slot = cal.find(
                p.doctor.id,
                p.day,
                p.unit,
                p.length,
                channel=channels,
                entitled=entitled,
                now=now.timestamp(),
            )
        except SchedulerError as exc:
            raise refuse(RefusalCode.OUTSIDE_SCHEDULE, str(exc)) from None
        if slot is None or (slot.day, slot.start) != (p.day, p.unit):
            raise refuse(RefusalCode.SLOT_TAKEN)

    async def _insert(
        self,
        conn: asyncpg.Connection,
        p: Placed,
        patient_id: int,
        status: str,
        channel: Channel,
        allowed: rules.Allowed,
        token: uuid.UUID | None,
        expires: datetime | None,
        now: datetime,
        changes: Changes,
        savepoint: bool = False,
        event: Any = None,
        sweep: bool = False,
        audit_action: str = "",
        durable: bool = True,
    ) -> int:
        """Insert the appointment (or hold); with ``event``, its engine event and its audit
        record (``audit_action``) in the same round trip. Refused with ``slot_taken`` when
        its time units are owned.

        Expired holds on the time must have been ended first: by ``_locked`` given the
        slot (the use cases), or here with ``sweep``. A patient's hold is not ``durable``:
        its commit does not wait for the disk (see ``repo.INSERT_HOLD_WITH_EVENT``)."""
        if sweep:
            gone = await conn.fetch(
                repo.EXPIRE_OVERLAPPING_HOLDS, p.clinic.id, p.doctor.id, p.starts_at, p.ends_at, now
            )
            await self._expired(conn, gone, now, changes)
        ref = allowed.referral
        args = (
            p.clinic.id,
            p.doctor.id,
            patient_id,
            p.specialty.id,
            p.starts_at,
            p.ends_at,
            status,
            channel,
            ref.clinic_id if ref else None,
            ref.id if ref else None,
            token,
            expires,
            now,
        )
        try:
            if event is not None:
                audited = audit.change_args(audit_action, "appointment", patient_id)
                statement = (
                    repo.INSERT_APPOINTMENT_WITH_EVENT if durable else repo.INSERT_HOLD_WITH_EVENT
                )
                row = await changes.change_with(conn, statement, args, event, p.clinic.id, audited)
                assert row is not None
                return int(row["id"])
            if not savepoint:  # a refusal aborts the caller's whole transaction anyway
                return await conn.fetchval(repo.INSERT_APPOINTMENT, *args)
            async with conn.transaction():  # a savepoint: the refusal leaves the rest intact
                return await conn.fetchval(repo.INSERT_APPOINTMENT, *args)
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == "appointment_units_pkey":
                raise refuse(RefusalCode.SLOT_TAKEN) from None
            raise

    async def _own(
        self, conn: asyncpg.Connection, patient_id: int, appointment_id: int
    ) -> asyncpg.Record:
        row = await conn.fetchrow(repo.APPOINTMENT_FOR_UPDATE, appointment_id)
        if row is None or row["patient_id"] != patient_id:
            # Someone else's appointment answers exactly like a missing one.
            raise refuse(RefusalCode.NOT_FOUND, "There is no such appointment.")
        return row

    def place_existing(self, row: asyncpg.Record) -> Placed | None:
        """Where an existing appointment sits in the engine; None when its doctor is no
        longer in the directory (deactivated): then there is no engine slot to free."""
        directory = self.engine.directory
        doctor = directory.doctors.get(row["doctor_id"])
        if doctor is None:
            return None
        clinic = directory.clinics[doctor.clinic_id]
        zone = ZoneInfo(clinic.time_zone)
        local_day, minute = to_local(row["starts_at"], zone)
        g = self.engine.geometry
        spec = directory.specialties[doctor.specialty_id]
        specialty = SpecialtyFacts(id=spec.id, code=spec.code, self_referral=spec.self_referral)
        return Placed(
            doctor,
            clinic,
            specialty,
            zone,
            row["starts_at"],
            row["ends_at"],
            local_day.toordinal(),
            (minute - g.day_begins) // g.unit_minutes,
            doctor.slot_minutes // g.unit_minutes,
            0,
        )

    def _appointment(
        self, appointment_id: int, p: Placed, patient_id: int, status: str, channel: str
    ) -> Appointment:
        row = {
            "id": appointment_id,
            "clinic_id": p.clinic.id,
            "doctor_id": p.doctor.id,
            "specialty_id": p.specialty.id,
            "starts_at": p.starts_at,
            "ends_at": p.ends_at,
            "status": status,
            "channel": channel,
        }
        return appointment_of(self.engine.directory, row, patient_id)

    def _from_row(self, row: asyncpg.Record, patient_id: int) -> Appointment:
        return appointment_of(self.engine.directory, row, patient_id)

    async def _take_referral(self, conn: asyncpg.Connection, allowed: rules.Allowed) -> None:
        """Use up the referral the rules chose; refused if another booking just did."""
        ref = allowed.referral
        if ref is not None and not allowed.carried_over:
            if await conn.fetchval(repo.TAKE_REFERRAL, ref.clinic_id, ref.id) is None:
                raise refuse(RefusalCode.REFERRAL_REQUIRED)

    async def _emit(self, conn: asyncpg.Connection, event: Any, clinic_id: int) -> int:
        """The engine event of a change, into the outbox in the change's transaction.
        No NOTIFY: it serialises commits (measured: half the commit rate); the relay
        polls every 0.2 s instead."""
        return await write_event(
            conn, topic=ENGINE_TOPIC, payload=encode_event(event), clinic_id=clinic_id, notify=False
        )

    def _replayed(self, row: asyncpg.Record | None, route: str) -> Appointment | None:
        """The stored answer to a repeated Idempotency-Key (read by BOOKING_CONTEXT)."""
        if row is None:
            return None
        if row["route"] != route:
            raise ProblemError(
                422, "idempotency_key_reused", "This Idempotency-Key was used for another request."
            )
        return msgspec.json.decode(row["response"], type=Appointment)

    @staticmethod
    def _remembered(
        patient_id: int, key: str, route: str, result: Appointment
    ) -> tuple[int, str, str, str, bytes]:
        """The idempotency row's values: patient, key, route, route hash, response."""
        digest = hashlib.sha256(route.encode()).hexdigest()
        return patient_id, key, route, digest, msgspec.json.encode(result)

    async def _remember(
        self, conn: asyncpg.Connection, patient_id: int, key: str, route: str, result: Appointment
    ) -> None:
        await conn.execute(
            repo.SAVE_IDEMPOTENT_ROW, *self._remembered(patient_id, key, route, result)
        )
