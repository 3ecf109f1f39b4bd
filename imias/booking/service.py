"""Booking use cases: hold, confirm, book, cancel, reschedule, check in, complete.

Each use case runs one PostgreSQL transaction: it locks the patient's row (so one
patient's concurrent requests are serialised and the hold limit cannot be raced),
reads the facts, asks :mod:`imias.booking.rules`, writes through
:mod:`imias.booking.repository`, and puts the engine event in the outbox in the same
transaction (:class:`~imias.booking.writes.Writes`). The worker's engine answers
first, from memory, to refuse taken time fast (:class:`~imias.booking.placement.
Placement`); the database's constraint over each doctor's time units is the arbiter,
so a stale engine costs at most a refused attempt, never a double booking. Every
worker's engine applies the event from the Redis stream after commit.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import msgspec

from imias.booking import events as changes
from imias.booking import repository as repo
from imias.booking import rules
from imias.booking.engine import Engine
from imias.booking.model import (
    Allowed,
    BookingContext,
    Channel,
    HoldFacts,
    PatientFacts,
    Refusal,
    RefusalCode,
    refuse,
)
from imias.booking.outcomes import Outcomes
from imias.booking.outcomes import counted as _counted
from imias.booking.placement import Placed, Placement
from imias.booking.relocation import Relocations
from imias.booking.views import Appointment, Hold, appointment_of
from imias.booking.waitlist import Waitlist
from imias.booking.walk_ins import WalkIns
from imias.booking.writes import Writes
from imias.platform import audit
from imias.platform.bounds import day_param
from imias.platform.db import Connection
from imias.platform.notices import Notice, write_notice
from imias.platform.problems import ProblemError
from imias.registry import patients
from scheduler_core import events as ev

HOLD_SECONDS = 300

Remembered = tuple[int, str, str, str, bytes]


def cancelled_notice(row: Any) -> Notice:
    """The patient is told her appointment (a row) was cancelled by the clinic."""
    return Notice(
        kind="cancelled_by_clinic",
        patient_id=row["patient_id"],
        params={
            "appointment_id": row["id"],
            "clinic_id": row["clinic_id"],
            "doctor_id": row["doctor_id"],
            "starts_at": row["starts_at"].isoformat(),
        },
    )


class BookingService:
    """The booking use cases over one pool and this worker's engine."""

    #: Displaces appointments from time a clinic takes away (set by the booking plugin).
    relocations: Relocations

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
        self.placement = Placement(engine)
        self.waitlist = Waitlist(self)
        self.walk_ins = WalkIns(pool, engine, self.clock)
        # Patients moved when the clinic takes time away (the schedule's editing calls it).
        self.relocations = Relocations(self)
        # Bookings made and refused, counted in memory (the dashboard, /metrics).
        self.outcomes = Outcomes(engine.zone)

    def writes(self) -> Writes:
        """The writes of one new transaction."""
        return Writes(self.engine, self.apply_locally)

    # -- the steps of the use cases ------------------------------------------------------

    async def lock_patient(self, conn: Connection, patient_id: int) -> PatientFacts:
        """Serialise this patient's requests (the whole transaction holds the lock)."""
        patient = await repo.lock_patient(conn, patient_id)
        if patient is None:
            raise refuse(RefusalCode.NOT_FOUND, f"There is no patient {patient_id}.")
        return patient

    async def _locked(
        self,
        conn: Connection,
        patient_id: int,
        now: datetime,
        writes: Writes,
        key: str | None = None,
        token: uuid.UUID | None = None,
        slot: Placed | None = None,
    ) -> repo.Locked:
        """Lock the patient's row and read the facts, the idempotency key's stored answer
        and the hold of the token, in one round trip. Given the ``slot`` to be taken,
        holds on its time that have expired but are not swept yet give way in the same
        round trip (their releases go into ``writes``)."""
        where = None
        if slot is not None:
            where = (slot.clinic.id, slot.doctor.id, slot.starts_at, slot.ends_at)
        locked = await repo.lock_context(conn, patient_id, now, key, token, where)
        if locked is None:
            raise refuse(RefusalCode.NOT_FOUND, f"There is no patient {patient_id}.")
        if locked.expired:
            await writes.holds_ended(conn, locked.expired, now)
        return locked

    def decide(
        self,
        patient: PatientFacts,
        p: Placed,
        ctx: BookingContext,
        channel: Channel,
        *,
        new_hold: bool,
        exclude: int | None = None,
    ) -> Allowed | Refusal:
        """The rules' answer on booking the placed slot."""
        return rules.decide_booking(
            patient,
            p.specialty,
            self.placement.slot_facts(p),
            ctx,
            channel=channel,
            new_hold=new_hold,
            exclude_appointment_id=exclude,
        )

    def _allowed(
        self,
        patient: PatientFacts,
        p: Placed,
        ctx: BookingContext,
        channel: Channel,
        *,
        new_hold: bool,
        exclude: int | None = None,
    ) -> Allowed:
        decision = self.decide(patient, p, ctx, channel, new_hold=new_hold, exclude=exclude)
        if isinstance(decision, Refusal):
            raise refuse(decision.code)
        return decision

    async def _own(self, conn: Connection, patient_id: int, appointment_id: int) -> asyncpg.Record:
        row = await repo.appointment_for_update(conn, appointment_id)
        if row is None or row["patient_id"] != patient_id:
            # Someone else's appointment answers exactly like a missing one.
            raise refuse(RefusalCode.NOT_FOUND, "There is no such appointment.")
        return row

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

    def _from_row(self, row: Any, patient_id: int) -> Appointment:
        return appointment_of(self.engine.directory, row, patient_id)

    async def _take_referral(self, conn: Connection, allowed: Allowed) -> None:
        """Use up the referral the rules chose; refused if another booking just did."""
        ref = allowed.referral
        if ref is not None and not allowed.carried_over:
            if not await repo.take_referral(conn, ref):
                raise refuse(RefusalCode.REFERRAL_REQUIRED)

    @staticmethod
    def _replayed(row: asyncpg.Record | None, route: str) -> Appointment | None:
        """The stored answer to a repeated Idempotency-Key (read by the locked read)."""
        if row is None:
            return None
        if row["route"] != route:
            raise ProblemError(
                422, "idempotency_key_reused", "This Idempotency-Key was used for another request."
            )
        return msgspec.json.decode(row["response"], type=Appointment)

    @staticmethod
    def _remembered(patient_id: int, key: str, route: str, result: Appointment) -> Remembered:
        """The idempotency row's values: patient, key, route, route hash, response."""
        digest = hashlib.sha256(route.encode()).hexdigest()
        return patient_id, key, route, digest, msgspec.json.encode(result)

    # -- use cases -----------------------------------------------------------------------

    @_counted(3)
    async def hold(
        self, patient_id: int, doctor_id: int, starts_at: datetime, channel: Channel
    ) -> Hold:
        p = self.placement.place(doctor_id, starts_at)
        now = self.clock()
        # Time this worker's engine already knows taken is refused before the database
        # is asked (no transaction, no lock): in a race for a popular doctor most holds
        # end so. A hold has no idempotency key to replay, so nothing else comes first.
        self.placement.check_free(p, None, now)
        token = uuid.uuid4()
        expires = now + timedelta(seconds=self.hold_seconds)
        writes = self.writes()
        event = ev.SlotHeld(str(token), doctor_id, p.day, p.unit, p.length, expires.timestamp())
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await self._locked(conn, patient_id, now, writes, slot=p)
            allowed = self._allowed(locked.patient, p, locked.context, channel, new_hold=True)
            appointment_id = await writes.insert(
                conn,
                p,
                patient_id,
                "held",
                channel,
                allowed,
                now,
                token=token,
                expires=expires,
                event=event,
                audit_action="hold",
                durable=False,
            )
        writes.applied()
        return Hold(
            token=str(token),
            appointment_id=appointment_id,
            expires_at=expires,
            slot=self._appointment(appointment_id, p, patient_id, "held", channel),
        )

    @_counted(None)
    async def confirm(self, patient_id: int, token: str, idempotency_key: str) -> Appointment:
        route = "confirm:" + token
        now = self.clock()
        writes = self.writes()
        try:
            parsed: uuid.UUID | None = uuid.UUID(token)
        except ValueError:
            parsed = None
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await self._locked(conn, patient_id, now, writes, idempotency_key, parsed)
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
            p = self.placement.place(row["doctor_id"], row["starts_at"])
            # The rules again, as for a booking: since the hold was taken the patient may
            # have booked the specialty elsewhere, or used the referral, or the time passed.
            patient, ctx = locked.patient, locked.context
            allowed = self._allowed(patient, p, ctx, row["channel"], new_hold=False)
            await self._take_referral(conn, allowed)
            await self.waitlist.settle(conn, row, "booked", now, writes)
            await self.relocations.rebooked(
                conn, locked.relocation_holds, p.specialty.id, now, writes, keep=row["id"]
            )
            result = self._appointment(row["id"], p, patient_id, "booked", row["channel"])
            event = ev.HoldConfirmed(token, row["doctor_id"], p.day, p.unit, p.length)
            outbox_id = await repo.confirm_hold_with_event(
                conn,
                row["clinic_id"],
                row["id"],
                allowed.referral,
                now,
                self._remembered(patient_id, idempotency_key, route, result),
                writes.event_values(event, row["clinic_id"]),
                audit.change_args("confirm", "appointment", patient_id),
                changes.values(
                    changes.AppointmentBooked(
                        appointment_id=row["id"],
                        patient_id=patient_id,
                        clinic_id=row["clinic_id"],
                        channel=row["channel"],
                    )
                ),
            )
            if outbox_id is not None:
                writes.written(event, outbox_id)
        writes.applied()
        return result

    async def release_hold(self, patient_id: int, token: str) -> None:
        """Let a hold go; a declined waitlist offer goes on to the next waiting patient."""
        now = self.clock()
        writes = self.writes()
        async with self.pool.acquire() as conn, conn.transaction():
            await self.lock_patient(conn, patient_id)
            try:
                row = await repo.hold_by_token(conn, uuid.UUID(token))
            except ValueError:
                row = None
            if row is None or row["patient_id"] != patient_id or row["status"] != "held":
                raise refuse(RefusalCode.NOT_FOUND, "There is no such hold.")
            await repo.end_hold(conn, row["clinic_id"], row["id"], now)
            await audit.record(conn, "release", "appointment", row["id"], patient_id)
            await writes.emit(conn, ev.HoldReleased(token), row["clinic_id"])
            await self.waitlist.settle(conn, row, "cancelled", now, writes)
        writes.applied()

    @_counted(3)
    async def book(
        self,
        patient_id: int,
        doctor_id: int,
        starts_at: datetime,
        channel: Channel,
        idempotency_key: str,
    ) -> Appointment:
        """Straight to booked (the registrar's path, or a patient's one-step booking)."""
        p = self.placement.place(doctor_id, starts_at)
        route = f"book:{doctor_id}:{p.starts_at.isoformat()}:{channel}"
        now = self.clock()
        writes = self.writes()
        event = ev.SlotBooked(doctor_id, p.day, p.unit, p.length)
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await self._locked(conn, patient_id, now, writes, idempotency_key, slot=p)
            replay = self._replayed(locked.replay, route)
            if replay is not None:
                return replay
            allowed = self._allowed(locked.patient, p, locked.context, channel, new_hold=False)
            self.placement.check_free(p, channel, now)
            appointment_id = await writes.insert(
                conn,
                p,
                patient_id,
                "booked",
                channel,
                allowed,
                now,
                event=event,
                audit_action="book",
            )
            await self._take_referral(conn, allowed)
            await self.relocations.rebooked(
                conn, locked.relocation_holds, p.specialty.id, now, writes
            )
            result = self._appointment(appointment_id, p, patient_id, "booked", channel)
            await repo.remember(conn, self._remembered(patient_id, idempotency_key, route, result))
        writes.applied()
        return result

    async def cancel(
        self, patient_id: int, appointment_id: int, *, by_clinic: bool = False
    ) -> Appointment:
        """Cancel; the freed slot is offered to the waitlist first. Cancelled ``by_clinic``
        (a registrar's, not the patient's own), the patient is told (a notice)."""
        now = self.clock()
        writes = self.writes()
        async with self.pool.acquire() as conn, conn.transaction():
            await self.lock_patient(conn, patient_id)
            row = await self._own(conn, patient_id, appointment_id)
            if row["status"] != "booked":
                raise ProblemError(
                    409,
                    "not_cancellable",
                    f"An appointment that is {row['status']} cannot be cancelled.",
                )
            if row["starts_at"] <= now:
                raise refuse(RefusalCode.SLOT_IN_PAST)
            cancelled = changes.AppointmentCancelled(
                appointment_id=row["id"], patient_id=patient_id, clinic_id=row["clinic_id"]
            )
            await repo.set_status_with_event(
                conn, row["clinic_id"], row["id"], "cancelled", now, changes.values(cancelled)
            )
            await audit.record(conn, "cancel", "appointment", row["id"], patient_id)
            if by_clinic:
                await write_notice(conn, cancelled_notice(row), clinic_id=row["clinic_id"])
            if row["referral_id"]:
                await repo.give_back_referral(conn, row["referral_clinic_id"], row["referral_id"])
            p = self.placement.existing(row)
            if p is not None:
                await writes.emit(
                    conn, ev.SlotReleased(row["doctor_id"], p.day, p.unit), row["clinic_id"]
                )
                await self.waitlist.offer_freed(conn, row, now, writes, exclude=(patient_id,))
        writes.applied()
        return self._from_row({**dict(row), "status": "cancelled"}, patient_id)

    @_counted(4)
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
        p = self.placement.place(doctor_id, starts_at)
        route = f"reschedule:{appointment_id}:{doctor_id}:{p.starts_at.isoformat()}"
        now = self.clock()
        writes = self.writes()
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await self._locked(conn, patient_id, now, writes, idempotency_key, slot=p)
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
            allowed = self._allowed(
                patient, p, ctx, channel, new_hold=False, exclude=appointment_id
            )
            # Release first inside the transaction so that a move by a few minutes with
            # the same doctor does not collide with itself; a refusal rolls both back.
            await repo.set_status(conn, old["clinic_id"], old["id"], "cancelled", now)
            new_id = await writes.insert(conn, p, patient_id, "booked", channel, allowed, now)
            moved = changes.AppointmentRescheduled(
                appointment_id=new_id,
                patient_id=patient_id,
                clinic_id=p.clinic.id,
                previous_id=old["id"],
                previous_clinic_id=old["clinic_id"],
                channel=channel,
            )
            await repo.set_rescheduled_to_with_event(
                conn, old["clinic_id"], old["id"], new_id, changes.values(moved)
            )
            await audit.record(
                conn, "reschedule", "appointment", f"{appointment_id}->{new_id}", patient_id
            )
            await self._take_referral(conn, allowed)
            q = self.placement.existing(old)
            if q is not None:
                await writes.emit(
                    conn, ev.SlotReleased(old["doctor_id"], q.day, q.unit), old["clinic_id"]
                )
            await writes.emit(conn, ev.SlotBooked(doctor_id, p.day, p.unit, p.length), p.clinic.id)
            await self.waitlist.offer_freed(conn, old, now, writes, exclude=(patient_id,))
            result = self._appointment(new_id, p, patient_id, "booked", channel)
            await repo.remember(conn, self._remembered(patient_id, idempotency_key, route, result))
        writes.applied()
        return result

    async def set_visit_status(
        self, appointment_id: int, status: str, allowed_from: tuple[str, ...]
    ) -> None:
        """Check-in (booked -> arrived) and completion (arrived -> completed)."""
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.appointment_for_update(conn, appointment_id)
            if row is None:
                raise refuse(RefusalCode.NOT_FOUND, "There is no such appointment.")
            if row["status"] not in allowed_from:
                raise ProblemError(
                    409,
                    "wrong_status",
                    f"The appointment is {row['status']}, not {' or '.join(allowed_from)}.",
                )
            await repo.set_status(conn, row["clinic_id"], row["id"], status, now)
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
            await repo.set_status(conn, row["clinic_id"], row["id"], "arrived", now)
            await audit.record(conn, "check_in", "appointment", row["id"], patient_id)

    async def mark_no_show(self, appointment_id: int) -> None:
        """The patient did not come (the doctor says so): booked -> no_show, once the
        slot has begun (``mark_no_shows`` does it for every one still booked after its end)."""
        now = self.clock()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await repo.appointment_for_update(conn, appointment_id)
            if row is None:
                raise refuse(RefusalCode.NOT_FOUND, "There is no such appointment.")
            refusal = rules.check_no_show(row["status"], row["starts_at"], now)
            if refusal is not None:
                code, english, russian = refusal
                raise ProblemError(409, code, english, extra={"message_ru": russian})
            missed = changes.AppointmentNoShow(
                appointment_id=row["id"], patient_id=row["patient_id"], clinic_id=row["clinic_id"]
            )
            await repo.set_status_with_event(
                conn, row["clinic_id"], row["id"], "no_show", now, changes.values(missed)
            )
            await audit.record(conn, "no_show", "appointment", row["id"], row["patient_id"])

    async def expire_holds(self, batch: int = 500) -> int:
        """Turn holds past their expiry to 'expired' (they already never block)."""
        now = self.clock()
        writes = self.writes()
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await repo.expired_holds(conn, now, batch)
            for row in rows:
                await writes.emit(conn, ev.HoldReleased(str(row["hold_token"])), row["clinic_id"])
                await self.waitlist.settle(conn, row, "expired", now, writes)
        writes.applied()
        return len(rows)

    async def mark_no_shows(self) -> int:
        return await repo.mark_no_shows(self.pool, self.clock())

    async def patient_appointments(self, patient_id: int) -> list[Appointment]:
        rows = await repo.patient_history(self.pool, patient_id, 200)
        return [self._from_row(r, patient_id) for r in rows]

    async def patient_referrals(self, patient_id: int) -> list[dict[str, Any]]:
        """The patient's active referrals: what they may book, and until when."""
        rows = await repo.patient_referrals(self.pool, patient_id)
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
        day_param(day, "date")
        doctor = self.engine.directory.doctors.get(doctor_id)
        if doctor is None:
            raise refuse(RefusalCode.NOT_FOUND, f"There is no doctor {doctor_id}.")
        zone = ZoneInfo(self.engine.directory.clinics[doctor.clinic_id].time_zone)
        since = datetime.combine(day, datetime.min.time(), tzinfo=zone)
        async with self.pool.acquire() as conn:
            rows = await repo.doctor_day(
                conn, doctor.clinic_id, doctor_id, since, since + timedelta(days=1)
            )
            names = await patients.names(conn, [r["patient_id"] for r in rows])
        return [
            {
                "appointment": self._from_row(r, r["patient_id"]),
                "patient_name": names.get(r["patient_id"], ""),
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
        # Valid until a day of the clinic's calendar, counted from the clinic's today.
        zone = ZoneInfo(self.engine.directory.clinics[doctor.clinic_id].time_zone)
        until = self.clock().astimezone(zone).date() + timedelta(days=valid_days)
        async with self.pool.acquire() as conn, conn.transaction():
            referral_id = await repo.insert_referral(
                conn, doctor.clinic_id, patient_id, spec.id, doctor_id, until
            )
            if referral_id is None:
                raise refuse(RefusalCode.NOT_FOUND, "There is no such patient.")
            await audit.record(conn, "refer", "referral", referral_id, patient_id)
        return referral_id
