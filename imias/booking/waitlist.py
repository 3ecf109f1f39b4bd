"""The waitlist: patients wait for a specialty (optionally a clinic or a doctor) over a
window of days; a slot that is freed is offered first to the earliest eligible waiting
patient, as a 15-minute hold, before search shows it to anyone else.

The offer is made in the transaction that frees the slot, so no search can see the slot
free in between. A declined offer (the hold released) or an expired one goes to the
next waiting patient, and when nobody eligible waits, to everyone. A waiting patient
who is busy with another request at that moment (their row is locked) is passed over
for this slot and keeps waiting.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from imias.booking import repository as repo
from imias.booking.model import Refusal
from imias.booking.relocation import end_offer
from imias.booking.writes import Writes
from imias.platform import audit
from imias.platform.db import Connection
from imias.platform.notices import Notice, write_notice
from imias.platform.problems import ProblemError
from imias.registry import patients
from scheduler_core import events as ev

if TYPE_CHECKING:
    from imias.booking.service import BookingService

OFFER_SECONDS = 15 * 60
MAX_WINDOW_DAYS = 62


class WaitlistEntry(msgspec.Struct, frozen=True):
    id: int
    patient_id: int
    specialty: str
    clinic_id: int | None
    doctor_id: int | None
    from_day: date
    to_day: date
    status: str
    created_at: datetime
    offer_token: str | None = None
    offer_expires_at: datetime | None = None
    offer_doctor_id: int | None = None
    offer_starts_at: datetime | None = None


class Waitlist:
    def __init__(self, service: BookingService, offer_seconds: int = OFFER_SECONDS) -> None:
        self.service = service
        self.offer_seconds = offer_seconds

    async def join(
        self,
        patient_id: int,
        specialty_code: str,
        clinic_id: int | None,
        doctor_id: int | None,
        first: date,
        last: date,
    ) -> WaitlistEntry:
        directory = self.service.engine.directory
        spec = directory.by_code.get(specialty_code)
        if spec is None:
            raise ProblemError(
                404, "unknown_specialty", f"There is no specialty {specialty_code!r}."
            )
        if doctor_id is not None:
            doctor = directory.doctors.get(doctor_id)
            if doctor is None or doctor.specialty_id != spec.id:
                raise ProblemError(404, "unknown_doctor", "No such doctor of that specialty.")
            clinic_id = doctor.clinic_id
        if clinic_id is not None and clinic_id not in directory.clinics:
            raise ProblemError(404, "unknown_clinic", f"There is no clinic {clinic_id}.")
        today = self.service.engine.today()
        if last < first or first < today or (last - today).days > MAX_WINDOW_DAYS:
            raise ProblemError(
                400,
                "invalid_range",
                f"Wait from today for at most {MAX_WINDOW_DAYS} days, 'to' after 'from'.",
            )
        now = self.service.clock()
        async with self.service.pool.acquire() as conn, conn.transaction():
            if not await patients.exists(conn, patient_id):
                raise ProblemError(404, "not_found", f"There is no patient {patient_id}.")
            entry_id = await repo.insert_waitlist(
                conn, patient_id, spec.id, clinic_id, doctor_id, first, last, now
            )
            if entry_id is None:
                raise ProblemError(
                    409, "already_waiting", "You are already waiting for this specialty."
                )
            await audit.record(conn, "join", "waitlist_entry", entry_id, patient_id)
        return WaitlistEntry(
            entry_id, patient_id, spec.code, clinic_id, doctor_id, first, last, "waiting", now
        )

    async def entries(self, patient_id: int) -> list[WaitlistEntry]:
        specialties = self.service.engine.directory.specialties
        rows = await repo.patient_waitlist(self.service.pool, patient_id)
        return [
            WaitlistEntry(
                r["id"],
                r["patient_id"],
                specialties[r["specialty_id"]].code,
                r["clinic_id"],
                r["doctor_id"],
                r["from_day"],
                r["to_day"],
                r["status"],
                r["created_at"],
                str(r["hold_token"]) if r["hold_token"] else None,
                r["hold_expires_at"],
                r["offer_doctor_id"],
                r["offer_starts_at"],
            )
            for r in rows
        ]

    async def leave(self, patient_id: int, entry_id: int) -> None:
        """Stop waiting; an open offer is released and goes to the next patient."""
        service = self.service
        now = service.clock()
        writes = service.writes()
        async with service.pool.acquire() as conn, conn.transaction():
            await service.lock_patient(conn, patient_id)
            entry = await repo.waitlist_entry(conn, patient_id, entry_id)
            if entry is None or entry["status"] not in ("waiting", "offered"):
                raise ProblemError(404, "not_found", "There is no such waiting entry.")
            offer = None
            if entry["offer_appointment_id"] is not None:
                # The offer's row first, then the entry: the order the sweeper and
                # confirm take them in, so the two never wait on each other.
                offer = await repo.appointment_for_update(conn, entry["offer_appointment_id"])
            await repo.cancel_waitlist(conn, patient_id, entry_id, now)
            await audit.record(conn, "leave", "waitlist_entry", entry_id, patient_id)
            if offer is not None and offer["status"] == "held":
                await repo.end_hold(conn, offer["clinic_id"], offer["id"], now)
                await writes.emit(
                    conn, ev.HoldReleased(str(offer["hold_token"])), offer["clinic_id"]
                )
                await self.offer_freed(conn, offer, now, writes, exclude=(patient_id,))
        writes.applied()

    async def offer_freed(
        self,
        conn: Connection,
        freed: Any,
        now: datetime,
        writes: Writes,
        exclude: tuple[int, ...] = (),
    ) -> None:
        """Offer the slot of ``freed`` (a just-released appointment row) to the earliest
        eligible waiting patient, as a hold in this transaction."""
        service = self.service
        try:
            p = service.placement.place(freed["doctor_id"], freed["starts_at"])
        except ProblemError:
            return  # the slot is no longer bookable (outside the window or schedule)
        if p.starts_at <= now:
            return
        local_day = date.fromordinal(p.day)
        candidates = await repo.waiting_for_slot(
            conn, p.specialty.id, p.clinic.id, p.doctor.id, local_day, exclude
        )
        for entry in candidates:
            patient = await repo.lock_waiting_patient(conn, entry["patient_id"])
            if patient is None:
                continue  # busy right now: passed over for this slot, still waiting
            ctx = await repo.booking_context(conn, patient.id, now)
            decision = service.decide(patient, p, ctx, "web", new_hold=False)
            if isinstance(decision, Refusal):
                continue
            token = uuid.uuid4()
            expires = now + timedelta(seconds=self.offer_seconds)
            try:
                appointment_id = await writes.insert(
                    conn,
                    p,
                    patient.id,
                    "held",
                    "web",
                    decision,
                    now,
                    token=token,
                    expires=expires,
                    savepoint=True,
                    sweep=True,
                )
            except ProblemError:
                return  # taken meanwhile: nothing to offer
            await repo.offer(conn, patient.id, entry["id"], p.clinic.id, appointment_id, now)
            offered = Notice(
                kind="waitlist_offer",
                patient_id=patient.id,
                params={
                    "appointment_id": appointment_id,
                    "clinic_id": p.clinic.id,
                    "doctor_id": p.doctor.id,
                    "starts_at": p.starts_at.isoformat(),
                    "expires_at": expires.isoformat(),
                },
                urgent=True,
            )
            await write_notice(conn, offered, clinic_id=p.clinic.id)
            event = ev.SlotHeld(
                str(token), p.doctor.id, p.day, p.unit, p.length, expires.timestamp()
            )
            await writes.emit(conn, event, p.clinic.id)
            return

    async def settle(
        self, conn: Connection, hold: Any, outcome: str, now: datetime, writes: Writes
    ) -> None:
        """A hold ended: 'booked' (confirmed), 'cancelled' (let go) or 'expired'. A waitlist
        offer's entry follows it, and so does a moved patient's relocation
        (:func:`~imias.booking.relocation.end_offer`); then a slot let go or expired is
        offered to the next waiting patient (never to the one who let it go)."""
        entry_id = hold["waitlist_entry_id"]
        if entry_id is not None:
            await repo.set_waitlist_status(conn, hold["patient_id"], entry_id, outcome, now)
        if hold["relocation_id"] is not None:
            await end_offer(conn, hold, outcome, now)
        if outcome != "booked":
            await self.offer_freed(conn, hold, now, writes, exclude=(hold["patient_id"],))
