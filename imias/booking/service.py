"""Booking use cases: hold, confirm, book, cancel, reschedule, check in, complete.

Each use case runs one PostgreSQL transaction: it locks the patient's row (so one
patient's concurrent requests are serialised and the hold limit cannot be raced),
reads the facts, asks :mod:`imias.booking.rules`, writes, and puts the engine event in
the outbox in the same transaction. The worker's engine answers first, from memory,
to refuse taken time fast; the database's constraint over each doctor's time units
is the arbiter, so a stale engine costs at most a refused attempt, never a double
booking. After commit the event is applied to this worker's engine at once; the
other workers get it through the outbox relay and the Redis stream.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
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
    HoldFacts,
    PatientFacts,
    Refusal,
    RefusalCode,
    SlotFacts,
    SpecialtyFacts,
)
from imias.booking.schedules import to_local
from imias.booking.views import Appointment, Hold, appointment_of
from imias.booking.waitlist import Waitlist
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

    def __init__(self, service: BookingService) -> None:
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


class BookingService:
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
        self.waitlist = Waitlist(self)

    # -- resolving a slot ------------------------------------------------------------
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

    # -- reading the patient's facts -------------------------------------------------
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

    def _engine_free(self, p: Placed, channel: Channel, now: datetime) -> None:
        """The fast refusal: this worker's engine already knows the time is taken.

        The engine is only asked, never changed, before the database decides: it holds
        committed state only (this worker's commits, applied right after them, and the
        other workers' through the stream), so a refused attempt leaves nothing behind.
        """
        cal = self.engine.calendar
        entitled = p.flags & (REFERRAL_BIT | URGENT_BIT)  # the rules decided entitlement
        try:
            slot = cal.find(
                p.doctor.id,
                p.day,
                p.unit,
                p.length,
                channel=CHANNEL_BITS[channel],
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

    # -- use cases -----------------------------------------------------------------------
    async def hold(
        self, patient_id: int, doctor_id: int, starts_at: datetime, channel: Channel
    ) -> Hold:
        p = self.place(doctor_id, starts_at)
        now = self.clock()
        token = uuid.uuid4()
        expires = now + timedelta(seconds=self.hold_seconds)
        changes = Changes(self)
        event = ev.SlotHeld(str(token), doctor_id, p.day, p.unit, p.length, expires.timestamp())
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await self._locked(conn, patient_id, now, slot=p, changes=changes)
            allowed = self._decide(locked.patient, p, locked.context, channel, new_hold=True)
            self._engine_free(p, channel, now)
            appointment_id = await self._insert(
                conn,
                p,
                patient_id,
                "held",
                channel,
                allowed,
                token,
                expires,
                now,
                changes,
                event=event,
                audit_action="hold",
                durable=False,
            )
        changes.applied()
        return Hold(
            token=str(token),
            appointment_id=appointment_id,
            expires_at=expires,
            slot=self._appointment(appointment_id, p, patient_id, "held", channel),
        )

    async def confirm(self, patient_id: int, token: str, idempotency_key: str) -> Appointment:
        route = "confirm:" + token
        now = self.clock()
        changes = Changes(self)
        try:
            parsed: uuid.UUID | None = uuid.UUID(token)
        except ValueError:
            parsed = None
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await self._locked(conn, patient_id, now, idempotency_key, parsed)
            replay = self._replayed(locked.replay, route)
            if replay is not None:
                return replay
            if parsed is None:
                raise refuse(RefusalCode.WRONG_HOLD, "That is not a hold token.")
            row = locked.hold  # locked FOR UPDATE
            held = None
            if row is not None and row["status"] == "held":
                held = HoldFacts(
                    token=token, patient_id=row["patient_id"], expires_at=row["hold_expires_at"]
                )
            refusal = rules.check_confirm(held, patient_id=patient_id, now=now)
            if refusal is not None:
                raise refuse(refusal.code)
            assert row is not None
            p = self.place(row["doctor_id"], row["starts_at"])
            # The rules again, as for a booking: since the hold was taken the patient may
            # have booked the specialty elsewhere, or used the referral, or the time passed.
            patient, ctx = locked.patient, locked.context
            allowed = self._decide(patient, p, ctx, row["channel"], new_hold=False)
            await self._take_referral(conn, allowed)
            await self.waitlist.settle(conn, row, "booked", now, changes)
            result = self._appointment(row["id"], p, patient_id, "booked", row["channel"])
            ref = allowed.referral
            args = (
                row["clinic_id"],
                row["id"],
                ref.clinic_id if ref else None,
                ref.id if ref else None,
                now,
                *self._remembered(patient_id, idempotency_key, route, result),
            )
            event = ev.HoldConfirmed(token, row["doctor_id"], p.day, p.unit, p.length)
            audited = audit.change_args("confirm", "appointment", patient_id)
            await changes.change_with(
                conn, repo.CONFIRM_HOLD_WITH_EVENT, args, event, row["clinic_id"], audited
            )
        changes.applied()
        return result

    async def release_hold(self, patient_id: int, token: str) -> None:
        """Let a hold go; a declined waitlist offer goes on to the next waiting patient."""
        now = self.clock()
        changes = Changes(self)
        async with self.pool.acquire() as conn, conn.transaction():
            await self._lock_patient(conn, patient_id)
            try:
                row = await conn.fetchrow(repo.HOLD_BY_TOKEN, uuid.UUID(token))
            except ValueError:
                row = None
            if row is None or row["patient_id"] != patient_id or row["status"] != "held":
                raise refuse(RefusalCode.NOT_FOUND, "There is no such hold.")
            await conn.execute(repo.END_HOLD, row["clinic_id"], row["id"], now)
            await audit.record(conn, "release", "appointment", row["id"], patient_id)
            await changes.emit(conn, ev.HoldReleased(token), row["clinic_id"])
            await self.waitlist.settle(conn, row, "cancelled", now, changes)
        changes.applied()

    async def book(
        self,
        patient_id: int,
        doctor_id: int,
        starts_at: datetime,
        channel: Channel,
        idempotency_key: str,
    ) -> Appointment:
        """Straight to booked (the registrar's path, or a patient's one-step booking)."""
        p = self.place(doctor_id, starts_at)
        route = f"book:{doctor_id}:{p.starts_at.isoformat()}:{channel}"
        now = self.clock()
        changes = Changes(self)
        event = ev.SlotBooked(doctor_id, p.day, p.unit, p.length)
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await self._locked(
                conn, patient_id, now, idempotency_key, slot=p, changes=changes
            )
            replay = self._replayed(locked.replay, route)
            if replay is not None:
                return replay
            allowed = self._decide(locked.patient, p, locked.context, channel, new_hold=False)
            self._engine_free(p, channel, now)
            appointment_id = await self._insert(
                conn,
                p,
                patient_id,
                "booked",
                channel,
                allowed,
                None,
                None,
                now,
                changes,
                event=event,
                audit_action="book",
            )
            await self._take_referral(conn, allowed)
            result = self._appointment(appointment_id, p, patient_id, "booked", channel)
            await self._remember(conn, patient_id, idempotency_key, route, result)
        changes.applied()
        return result

    async def cancel(self, patient_id: int, appointment_id: int) -> Appointment:
        """Cancel; the freed slot is offered to the waitlist first."""
        now = self.clock()
        changes = Changes(self)
        async with self.pool.acquire() as conn, conn.transaction():
            await self._lock_patient(conn, patient_id)
            row = await self._own(conn, patient_id, appointment_id)
            if row["status"] != "booked":
                raise ProblemError(
                    409,
                    "not_cancellable",
                    f"An appointment that is {row['status']} cannot be cancelled.",
                )
            if row["starts_at"] <= now:
                raise refuse(RefusalCode.SLOT_IN_PAST)
            await conn.execute(repo.SET_STATUS, row["clinic_id"], row["id"], "cancelled", now)
            await audit.record(conn, "cancel", "appointment", row["id"], patient_id)
            if row["referral_id"]:
                await conn.execute(
                    repo.USE_REFERRAL, row["referral_clinic_id"], row["referral_id"], "active"
                )
            p = self.place_existing(row)
            if p is not None:
                await changes.emit(
                    conn, ev.SlotReleased(row["doctor_id"], p.day, p.unit), row["clinic_id"]
                )
                await self.waitlist.offer_freed(conn, row, now, changes, exclude=(patient_id,))
        changes.applied()
        return self._from_row({**dict(row), "status": "cancelled"}, patient_id)

    async def reschedule(
        self,
        patient_id: int,
        appointment_id: int,
        doctor_id: int,
        starts_at: datetime,
        channel: Channel,
        idempotency_key: str,
    ) -> Appointment:
        """Book the new time and release the old one in one transaction, or change nothing."""
        p = self.place(doctor_id, starts_at)
        route = f"reschedule:{appointment_id}:{doctor_id}:{p.starts_at.isoformat()}"
        now = self.clock()
        changes = Changes(self)
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await self._locked(
                conn, patient_id, now, idempotency_key, slot=p, changes=changes
            )
            patient, ctx = locked.patient, locked.context
            replay = self._replayed(locked.replay, route)
            if replay is not None:
                return replay
            old = await self._own(conn, patient_id, appointment_id)
            if old["status"] != "booked" or old["starts_at"] <= now:
                raise ProblemError(
                    409, "not_reschedulable", "Only a future booked appointment can be moved."
                )
            if old["specialty_id"] != p.specialty.id:
                raise ProblemError(
                    409,
                    "other_specialty",
                    "An appointment moves to a doctor of the same specialty.",
                )
            allowed = self._decide(patient, p, ctx, channel, new_hold=False, exclude=appointment_id)
            # Release first inside the transaction so that a move by a few minutes with
            # the same doctor does not collide with itself; a refusal rolls both back.
            await conn.execute(repo.SET_STATUS, old["clinic_id"], old["id"], "cancelled", now)
            new_id = await self._insert(
                conn, p, patient_id, "booked", channel, allowed, None, None, now, changes
            )
            await conn.execute(repo.SET_RESCHEDULED_TO, old["clinic_id"], old["id"], new_id)
            await audit.record(
                conn, "reschedule", "appointment", f"{appointment_id}->{new_id}", patient_id
            )
            await self._take_referral(conn, allowed)
            q = self.place_existing(old)
            if q is not None:
                await changes.emit(
                    conn, ev.SlotReleased(old["doctor_id"], q.day, q.unit), old["clinic_id"]
                )
            await changes.emit(conn, ev.SlotBooked(doctor_id, p.day, p.unit, p.length), p.clinic.id)
            await self.waitlist.offer_freed(conn, old, now, changes, exclude=(patient_id,))
            result = self._appointment(new_id, p, patient_id, "booked", channel)
            await self._remember(conn, patient_id, idempotency_key, route, result)
        changes.applied()
        return result

    async def set_visit_status(
        self, appointment_id: int, status: str, allowed_from: tuple[str, ...]
    ) -> None:
        """Check-in (booked -> arrived) and completion (arrived -> completed)."""
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(repo.APPOINTMENT_FOR_UPDATE, appointment_id)
            if row is None:
                raise refuse(RefusalCode.NOT_FOUND, "There is no such appointment.")
            if row["status"] not in allowed_from:
                raise ProblemError(
                    409,
                    "wrong_status",
                    f"The appointment is {row['status']}, not {' or '.join(allowed_from)}.",
                )
            await conn.execute(repo.SET_STATUS, row["clinic_id"], row["id"], status, now)
            action = {"arrived": "check_in", "completed": "complete"}.get(status, status)
            await audit.record(conn, action, "appointment", row["id"], row["patient_id"])

    async def patient_check_in(self, patient_id: int, appointment_id: int) -> None:
        """The patient has arrived (a kiosk): their own appointment, in its window."""
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await self._own(conn, patient_id, appointment_id)
            refusal = rules.check_arrival(row["status"], row["starts_at"], row["ends_at"], now)
            if refusal is not None:
                code, english, russian = refusal
                raise ProblemError(409, code, english, extra={"message_ru": russian})
            await conn.execute(repo.SET_STATUS, row["clinic_id"], row["id"], "arrived", now)
            await audit.record(conn, "check_in", "appointment", row["id"], patient_id)

    async def mark_no_show(self, appointment_id: int) -> None:
        """The patient did not come (the doctor says so): booked -> no_show, once the
        slot has begun (``mark_no_shows`` does it for every one still booked after its end)."""
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(repo.APPOINTMENT_FOR_UPDATE, appointment_id)
            if row is None:
                raise refuse(RefusalCode.NOT_FOUND, "There is no such appointment.")
            refusal = rules.check_no_show(row["status"], row["starts_at"], now)
            if refusal is not None:
                code, english, russian = refusal
                raise ProblemError(409, code, english, extra={"message_ru": russian})
            await conn.execute(repo.SET_STATUS, row["clinic_id"], row["id"], "no_show", now)
            await audit.record(conn, "no_show", "appointment", row["id"], row["patient_id"])

    async def expire_holds(self, batch: int = 500) -> int:
        """Turn holds past their expiry to 'expired' (they already never block)."""
        now = self.clock()
        changes = Changes(self)
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(repo.EXPIRED_HOLDS, now, batch)
            for row in rows:
                await changes.emit(conn, ev.HoldReleased(str(row["hold_token"])), row["clinic_id"])
                await self.waitlist.settle(conn, row, "expired", now, changes)
        changes.applied()
        return len(rows)

    async def mark_no_shows(self) -> int:
        now = self.clock()
        async with self.pool.acquire() as conn:
            return len(await conn.fetch(repo.MARK_NO_SHOWS, now))

    async def patient_appointments(self, patient_id: int) -> list[Appointment]:
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(repo.PATIENT_HISTORY, patient_id, 200)
        return [self._from_row(r, patient_id) for r in rows]

    async def patient_referrals(self, patient_id: int) -> list[dict[str, Any]]:
        """The patient's active referrals: what they may book, and until when."""
        rows = await self.pool.fetch(repo.PATIENT_REFERRALS, patient_id)
        specialties = self.engine.directory.specialties
        return [
            {
                "id": r["id"],
                "specialty": specialties[r["specialty_id"]],
                "valid_until": r["valid_until"],
                "clinic": self.engine.directory.clinics.get(r["clinic_id"]),
            }
            for r in rows
            if r["specialty_id"] in specialties
        ]

    async def doctor_day(self, doctor_id: int, day: date) -> list[dict[str, Any]]:
        doctor = self.engine.directory.doctors.get(doctor_id)
        if doctor is None:
            raise refuse(RefusalCode.NOT_FOUND, f"There is no doctor {doctor_id}.")
        zone = ZoneInfo(self.engine.directory.clinics[doctor.clinic_id].time_zone)
        since = datetime.combine(day, datetime.min.time(), tzinfo=zone)
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(
                repo.DOCTOR_DAY, doctor.clinic_id, doctor_id, since, since + timedelta(days=1)
            )
        return [
            {
                "appointment": self._from_row(r, r["patient_id"]),
                "patient_name": " ".join(
                    x for x in (r["family_name"], r["given_name"], r["patronymic"]) if x
                ),
            }
            for r in rows
        ]

    async def issue_referral(
        self, patient_id: int, specialty_code: str, doctor_id: int, valid_days: int = 30
    ) -> int:
        spec = self.engine.directory.by_code.get(specialty_code)
        doctor = self.engine.directory.doctors.get(doctor_id)
        if spec is None or doctor is None:
            raise refuse(RefusalCode.NOT_FOUND, "Unknown specialty or doctor.")
        until = self.clock().date() + timedelta(days=valid_days)
        async with self.pool.acquire() as conn, conn.transaction():
            try:
                referral_id = await conn.fetchval(
                    repo.INSERT_REFERRAL, doctor.clinic_id, patient_id, spec.id, doctor_id, until
                )
            except asyncpg.ForeignKeyViolationError:
                raise refuse(RefusalCode.NOT_FOUND, "There is no such patient.") from None
            await audit.record(conn, "refer", "referral", referral_id, patient_id)
        return referral_id

    # -- helpers ---------------------------------------------------------------------------
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
