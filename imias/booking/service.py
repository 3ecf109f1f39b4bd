"""Booking use cases: hold, confirm, book, cancel, reschedule, check in, complete.

Each use case runs one PostgreSQL transaction: it locks the patient's row (so one
patient's concurrent requests are serialised and the hold limit cannot be raced),
reads the facts, asks :mod:`imias.booking.rules`, writes, and puts the engine event in
the outbox in the same transaction. The worker's engine answers first, from memory,
to refuse taken time fast; the database's constraint over each doctor's time units
is the arbiter, so a stale engine costs at most a refused attempt, never a double
booking. After commit the event is applied to this worker's engine at once; the
other workers get it through the outbox relay and the Redis stream. The steps every
use case is made of are in :mod:`imias.booking.mechanics`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from imias.booking import repository as repo
from imias.booking import rules
from imias.booking.mechanics import BookingMechanics, Changes, refuse
from imias.booking.model import Channel, HoldFacts, RefusalCode
from imias.booking.views import Appointment, Hold
from imias.booking.waitlist import Waitlist
from imias.platform import audit
from imias.platform.problems import ProblemError
from scheduler_core import events as ev


class BookingService(BookingMechanics):
    """The booking use cases over one pool and this worker's engine."""

    @cached_property
    def waitlist(self) -> Waitlist:
        return Waitlist(self)

    # -- use cases -----------------------------------------------------------------------
    async def hold(
        self, patient_id: int, doctor_id: int, starts_at: datetime, channel: Channel
    ) -> Hold:
        p = self.place(doctor_id, starts_at)
        now = self.clock()
        # Time this worker's engine already knows taken is refused before the database
        # is asked (no transaction, no lock): in a race for a popular doctor most holds
        # end so. A hold has no idempotency key to replay, so nothing else comes first.
        self._engine_free(p, None, now)
        token = uuid.uuid4()
        expires = now + timedelta(seconds=self.hold_seconds)
        changes = Changes(self)
        event = ev.SlotHeld(str(token), doctor_id, p.day, p.unit, p.length, expires.timestamp())
        async with self.pool.acquire() as conn, conn.transaction():
            locked = await self._locked(conn, patient_id, now, slot=p, changes=changes)
            allowed = self._decide(locked.patient, p, locked.context, channel, new_hold=True)
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
