"""Patients moved when the clinic takes a doctor's time away (a sick day, leave, a
holiday, a changed template): nothing is dropped silently.

:meth:`Relocations.displace` runs in the transaction of the schedule change, with the
affected appointments locked by the caller. Each appointment is cancelled (its time
released in the engine; the caller then closes the time, so it is offered to nobody),
and its patient is offered, as a hold kept until a deadline:

1. the same local day, another doctor of the specialty at the same clinic; else
2. the earliest slot of the specialty at the clinics the patient may book nearby (her
   attached clinic first on a tie), as the search answers her;

never a slot that begins within :data:`OFFER_LEAD` or one of a doctor whose time the
same change takes away (the engine learns of it only after commit). The candidates
come from the engine; the database takes them (a taken one is skipped). The rules
decide as for a booking, with the referral the old appointment used given back to her.

The deadline (:func:`deadline_for`) is the earlier of 24 hours from now and two hours
before the offered visit, but never less than 30 minutes (nor past the visit's start).
A relocation is then ``offered``; it ends, in the transaction of whatever ends its
hold, in one place (:func:`end_offer`):

- confirmed: the hold became the booking (``BookingService.confirm``): ``move_confirmed``
- rebooked: she booked another time of the specialty herself (the hold is let go)
- cancelled: she declined (the hold let go), or the deadline passed: the hold expired
  (by the sweeper, or by a booking of its time), ``move_cancelled``; the freed slot then
  goes to the waitlist as any other
- no_offer: nothing could be offered at all: ``move_cancelled`` at once.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast
from zoneinfo import ZoneInfo

import asyncpg

from imias.booking import events as changes
from imias.booking import repository as repo
from imias.booking import search
from imias.booking.model import ALL_CHANNELS, CHANNEL_BITS, Channel, Refusal
from imias.booking.placement import Placed
from imias.booking.relocation_views import ClinicRelocations, Relocation, relocation_of
from imias.booking.schedules import to_local
from imias.platform import audit
from imias.platform.db import Connection
from imias.platform.notices import Notice, write_notice
from imias.platform.problems import ProblemError
from imias.registry import patients
from scheduler_core import events as ev
from scheduler_core.flags import REFERRAL_BIT

if TYPE_CHECKING:
    from imias.booking.service import BookingService
    from imias.booking.writes import Writes

OFFER_LEAD = timedelta(minutes=30)  # an offered visit begins no sooner than this
DEADLINE_MOST = timedelta(hours=24)  # a patient has at most this long to answer
DEADLINE_BEFORE = timedelta(hours=2)  # ... and answers this long before the visit
DEADLINE_LEAST = timedelta(minutes=30)  # ... but is never given less than this
CANDIDATES = 12  # candidates to try of each kind (same day, elsewhere)
MAX_ASKED = 4096  # the most slots asked of the engine to find them
STATES = ("offered", "confirmed", "rebooked", "cancelled", "no_offer")

#: How a hold's end ends its relocation: the hold's outcome -> the relocation's state.
OUTCOMES = {
    "booked": "confirmed",
    "rebooked": "rebooked",
    "cancelled": "cancelled",
    "expired": "cancelled",
}


def deadline_for(now: datetime, starts_at: datetime) -> datetime:
    """Until when the offer of a visit at ``starts_at`` is held (see the module)."""
    latest = min(now + DEADLINE_MOST, starts_at - DEADLINE_BEFORE)
    return max(latest, min(now + DEADLINE_LEAST, starts_at))


def iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


async def end_offer(conn: Connection, hold: Any, outcome: str, now: datetime) -> None:
    """The one place where a relocation's offer ends: ``hold`` (an appointment row with
    id and relocation_id) ended with ``outcome`` ('booked', 'rebooked', 'cancelled' by the
    patient, 'expired'). Marks the relocation and tells the patient what she did not do
    herself. Nothing when the relocation was settled already, or holds another slot now."""
    relocation_id = hold["relocation_id"]
    if relocation_id is None:
        return
    state = OUTCOMES[outcome]
    ended = await repo.end_relocation(conn, relocation_id, hold["id"], state, now)
    if ended is None:
        return
    notice = None
    if outcome == "booked":
        notice = Notice(
            kind="move_confirmed",
            patient_id=ended["patient_id"],
            params={
                "relocation_id": relocation_id,
                "appointment_id": hold["id"],
                "clinic_id": hold["clinic_id"],
                "doctor_id": hold["doctor_id"],
                "starts_at": iso(hold["starts_at"]),
            },
        )
    elif outcome == "expired":
        notice = cancelled_notice(ended)
    if notice is not None:
        await write_notice(conn, notice, clinic_id=ended["clinic_id"])


def cancelled_notice(old: Any) -> Notice:
    """``move_cancelled`` of a relocation row with its old appointment's doctor and time."""
    return Notice(
        kind="move_cancelled",
        patient_id=old["patient_id"],
        params={
            "relocation_id": old["id"],
            "appointment_id": old["appointment_id"],
            "clinic_id": old["clinic_id"],
            "doctor_id": old["doctor_id"],
            "starts_at": iso(old["starts_at"]),
        },
    )


@dataclass(frozen=True)
class Offer:
    placed: Placed
    appointment_id: int
    deadline: datetime


@dataclass
class Closing:
    """What one schedule change takes away, which the engine learns only after commit:
    its doctors (never offered in this change) and, for a city holiday, its days (offered
    at no clinic); and the slots this change has offered already."""

    doctors: set[int]
    days: set[date]
    taken: set[tuple[int, datetime]]


class Relocations:
    def __init__(self, service: BookingService) -> None:
        self.service = service

    # -- the clinic takes time away ------------------------------------------------------

    async def displace(
        self,
        conn: Connection,
        appointments: Sequence[asyncpg.Record],
        *,
        now: datetime,
        writes: Writes,
        reason: str,
        by: int | None,
    ) -> int:
        """Cancel each appointment (or let a hold go) in the time being taken away and
        offer its patient another slot, in the caller's transaction; how many patients
        were moved. The caller has locked the rows and emits ``SlotsClosed`` after."""
        directory = self.service.engine.directory
        search.ready(self.service.engine)  # 503 engine_loading: the change rolls back
        closing = Closing({r["doctor_id"] for r in appointments}, set(), set())
        if reason == "holiday":
            for r in appointments:
                clinic = directory.clinics.get(r["clinic_id"])
                zone = ZoneInfo(clinic.time_zone if clinic else "UTC")
                closing.days.add(r["starts_at"].astimezone(zone).date())
        moved = 0
        for row in sorted(appointments, key=lambda r: (r["starts_at"], r["id"])):
            if row["status"] in ("booked", "arrived"):
                await self._cancel(conn, row, now, writes)
                offer = await self._offer(conn, row, now, writes, closing)
                await self._record(conn, row, offer, now, reason, by)
                moved += 1
            elif row["status"] == "held":
                await repo.end_hold(conn, row["clinic_id"], row["id"], now)
                relocation_id = row.get("relocation_id")
                if relocation_id is None:  # a patient's own hold, or a waitlist offer
                    await writes.holds_ended(conn, [row], now)
                    continue
                # A moved patient's offered slot is taken away in turn: offer anew.
                await writes.emit(conn, ev.HoldReleased(str(row["hold_token"])), row["clinic_id"])
                found = await repo.relocation(conn, relocation_id)
                if found is None or found["state"] != "offered":
                    continue
                offer = await self._offer(conn, row, now, writes, closing)
                await self._reoffer(conn, found, offer, now)
                moved += 1
        return moved

    async def _cancel(self, conn: Connection, row: Any, now: datetime, writes: Writes) -> None:
        """Cancel as ``BookingService.cancel`` does, but offer the time to nobody."""
        cancelled = changes.AppointmentCancelled(
            appointment_id=row["id"], patient_id=row["patient_id"], clinic_id=row["clinic_id"]
        )
        await repo.set_status_with_event(
            conn, row["clinic_id"], row["id"], "cancelled", now, changes.values(cancelled)
        )
        await audit.record(conn, "cancel", "appointment", row["id"], row["patient_id"])
        if row["referral_id"]:
            await repo.give_back_referral(conn, row["referral_clinic_id"], row["referral_id"])
        p = self.service.placement.existing(row)
        if p is not None:
            await writes.emit(
                conn, ev.SlotReleased(row["doctor_id"], p.day, p.unit), row["clinic_id"]
            )

    async def _record(
        self,
        conn: Connection,
        old: Any,
        offer: Offer | None,
        now: datetime,
        reason: str,
        by: int | None,
    ) -> None:
        relocation_id = await repo.insert_relocation(
            conn,
            old["clinic_id"],
            old["id"],
            old["patient_id"],
            old["specialty_id"],
            reason,
            "offered" if offer else "no_offer",
            offer.placed.clinic.id if offer else None,
            offer.appointment_id if offer else None,
            offer.deadline if offer else None,
            by,
            now,
        )
        await audit.record(conn, "relocate", "relocation", relocation_id, old["patient_id"])
        row = {
            "id": relocation_id,
            "clinic_id": old["clinic_id"],
            "appointment_id": old["id"],
            "patient_id": old["patient_id"],
            "doctor_id": old["doctor_id"],
            "starts_at": old["starts_at"],
        }
        await self._tell(conn, row, offer)

    async def _reoffer(
        self, conn: Connection, found: Any, offer: Offer | None, now: datetime
    ) -> None:
        """The relocation ``found`` (``queries.RELOCATION``) offers ``offer`` now, or
        nothing (then it ends as no_offer); the patient is told."""
        relocation_id = found["id"]
        await repo.reoffer_relocation(
            conn,
            relocation_id,
            "offered" if offer else "no_offer",
            offer.placed.clinic.id if offer else None,
            offer.appointment_id if offer else None,
            offer.deadline if offer else None,
            now,
        )
        row = {
            "id": relocation_id,
            "clinic_id": found["clinic_id"],
            "appointment_id": found["appointment_id"],
            "patient_id": found["patient_id"],
            "doctor_id": found["old_doctor_id"],
            "starts_at": found["old_starts_at"],
        }
        await self._tell(conn, row, offer)

    @staticmethod
    async def _tell(conn: Connection, old: dict[str, Any], offer: Offer | None) -> None:
        if offer is None:
            await write_notice(conn, cancelled_notice(old), clinic_id=old["clinic_id"])
            return
        p = offer.placed
        notice = Notice(
            kind="move_offered",
            patient_id=old["patient_id"],
            urgent=True,
            params={
                "relocation_id": old["id"],
                "appointment_id": old["appointment_id"],
                "starts_at": iso(old["starts_at"]),
                "offer_clinic_id": p.clinic.id,
                "offer_doctor_id": p.doctor.id,
                "offer_starts_at": iso(p.starts_at),
                "deadline": iso(offer.deadline),
            },
        )
        await write_notice(conn, notice, clinic_id=old["clinic_id"])

    # -- finding and holding the offer ---------------------------------------------------

    async def _offer(
        self, conn: Connection, old: Any, now: datetime, writes: Writes, closing: Closing
    ) -> Offer | None:
        """Hold the first candidate the patient may take (see the module), or None."""
        service = self.service
        patient = await repo.read_patient(conn, old["patient_id"])
        if patient is None:
            return None
        ctx = await repo.booking_context(conn, patient.id, now)
        for slot in await self._candidates(conn, old, now, closing):
            try:
                p = service.placement.place(slot.doctor_id, slot.starts_at)
            except ProblemError:
                continue
            channel = _channel_for(old["channel"], p.flags)
            decision = service.decide(patient, p, ctx, channel, new_hold=False)
            if isinstance(decision, Refusal):
                continue
            deadline = deadline_for(now, p.starts_at)
            token = uuid.uuid4()
            try:
                hold_id = await writes.insert(
                    conn,
                    p,
                    patient.id,
                    "held",
                    channel,
                    decision,
                    now,
                    token=token,
                    expires=deadline,
                    savepoint=True,
                    sweep=True,
                )
            except ProblemError:
                continue  # the engine was stale: taken meanwhile, try the next
            closing.taken.add((p.doctor.id, p.starts_at))
            await writes.emit(
                conn,
                ev.SlotHeld(str(token), p.doctor.id, p.day, p.unit, p.length, deadline.timestamp()),
                p.clinic.id,
            )
            return Offer(p, hold_id, deadline)
        return None

    async def _candidates(
        self, conn: Connection, old: Any, now: datetime, closing: Closing
    ) -> list[search.FreeSlot]:
        """The slots to try, in order: the same day at the same clinic, then the earliest
        nearby."""
        engine = self.service.engine
        directory = engine.directory
        spec = directory.specialties.get(old["specialty_id"])
        clinic = directory.clinics.get(old["clinic_id"])
        if spec is None or clinic is None or engine.first_day is None:
            return []
        entitled = REFERRAL_BIT if old["referral_id"] else 0
        soonest = now + OFFER_LEAD
        day, _ = to_local(old["starts_at"], ZoneInfo(clinic.time_zone))
        last = engine.first_day + timedelta(days=engine.geometry.days - 1)
        first = max(engine.today(), engine.first_day)

        def usable(slots: Iterable[search.FreeSlot]) -> list[search.FreeSlot]:
            return [
                s
                for s in slots
                if s.doctor_id not in closing.doctors
                and s.starts_at >= soonest
                and (s.doctor_id, s.starts_at) not in closing.taken
                and date.fromisoformat(s.local_start[:10]) not in closing.days
            ]

        def found(clinic_ids: list[int], since: date, until: date) -> list[search.FreeSlot]:
            """The first usable candidates: the engine still shows the time this change
            takes away (and the slots it offered), so it is asked for more until enough
            are left or it has no more."""
            k = CANDIDATES
            while True:
                answer = search.earliest(
                    engine,
                    k,
                    specialty_id=spec.id,
                    clinic_ids=clinic_ids,
                    first=since,
                    last=until,
                    channel=ALL_CHANNELS,  # the clinic acts for the patient: any channel
                    now=soonest,
                    entitled=entitled,
                )
                good = usable(answer)
                if len(good) >= CANDIDATES or len(answer) < k or k >= MAX_ASKED:
                    return good
                k *= 4

        same_day: list[search.FreeSlot] = []
        if first <= day <= last and day not in closing.days:
            same_day = found([clinic.id], day, day)
        clinics = await search.bookable_clinics(conn, engine, old["patient_id"], spec)
        if clinics is None:  # attached nowhere: near the clinic that moved her
            near = directory.nearest_offering(clinic.lat, clinic.lon, spec.id, search.NEAR_CLINICS)
            clinics = [c.id for _, c in near]
        attached = clinics[0] if clinics else None
        elsewhere = found(clinics, first, last) if clinics else []
        elsewhere.sort(key=lambda s: (s.starts_at, s.clinic_id != attached, s.doctor_id))
        return same_day + elsewhere

    # -- the patient answers -------------------------------------------------------------

    async def rebooked(
        self,
        conn: Connection,
        offered: Iterable[Any],
        specialty_id: int,
        now: datetime,
        writes: Writes,
        keep: int | None = None,
    ) -> None:
        """The patient booked a time of ``specialty_id`` herself (in this transaction):
        the clinic's offers of that specialty (her live relocation holds, ``offered``; but
        ``keep``, the one being confirmed) are let go, and their slots go to the waitlist."""
        for hold in offered:
            if hold["specialty_id"] != specialty_id or hold["id"] == keep:
                continue
            if not await repo.end_hold(conn, hold["clinic_id"], hold["id"], now):
                continue
            await writes.emit(conn, ev.HoldReleased(str(hold["hold_token"])), hold["clinic_id"])
            await end_offer(conn, hold, "rebooked", now)
            await self.service.waitlist.offer_freed(
                conn, hold, now, writes, exclude=(hold["patient_id"],)
            )

    async def row(self, relocation_id: int) -> asyncpg.Record:
        """The relocation with its appointments (``queries.RELOCATION``); 404 if none."""
        row = await repo.relocation(self.service.pool, relocation_id)
        if row is None:
            raise ProblemError(404, "not_found", "There is no such relocation.")
        return row

    async def get(self, relocation_id: int) -> Relocation:
        return relocation_of(self.service.engine.directory, await self.row(relocation_id))

    async def confirm(self, relocation_id: int) -> Relocation:
        """The patient takes the offered slot (the hold becomes the booking); repeated,
        the same answer. The caller has checked who may answer for the patient."""
        row = await self.row(relocation_id)
        if row["state"] == "confirmed":
            return relocation_of(self.service.engine.directory, row)
        self._open(row)
        try:
            # The key names the offer: a relocation offered anew is confirmed afresh.
            key = f"relocation-{relocation_id}-{row['offer_appointment_id']}"
            await self.service.confirm(row["patient_id"], str(row["offer_token"]), key)
        except ProblemError as exc:
            if exc.code not in ("hold_expired", "wrong_hold", "not_found"):
                raise
            again = await self.row(relocation_id)
            if again["state"] != "confirmed":
                self._open(again)
                raise self._expired() from None
        return await self.get(relocation_id)

    async def decline(self, relocation_id: int) -> Relocation:
        """The patient does not want the offered slot: it is let go (to the waitlist);
        repeated, the same answer."""
        row = await self.row(relocation_id)
        if row["state"] == "cancelled" and not _deadline_passed(row):
            return relocation_of(self.service.engine.directory, row)
        self._open(row)
        try:
            await self.service.release_hold(row["patient_id"], str(row["offer_token"]))
        except ProblemError as exc:
            if exc.code != "not_found":
                raise
            again = await self.row(relocation_id)
            if not (again["state"] == "cancelled" and not _deadline_passed(again)):
                self._open(again)
                raise self._expired() from None
        return await self.get(relocation_id)

    def _open(self, row: Any) -> None:
        """Refuse an answer to an offer that is no longer open."""
        state = row["state"]
        if state == "offered":
            if row["deadline"] <= self.service.clock() or row["offer_status"] != "held":
                raise self._expired()
            return
        if state == "cancelled" and _deadline_passed(row):
            raise self._expired()
        raise ProblemError(
            409,
            "already_settled",
            f"This move is settled already ({state}).",
            extra={"state": state},
        )

    @staticmethod
    def _expired() -> ProblemError:
        return ProblemError(
            409,
            "offer_expired",
            "The slot was held until the deadline, which has passed; choose another time.",
        )

    async def for_patient(self, patient_id: int, limit: int = 50) -> list[Relocation]:
        rows = await repo.patient_relocations(self.service.pool, patient_id, limit)
        directory = self.service.engine.directory
        return [relocation_of(directory, r) for r in rows]

    async def for_clinic(
        self, clinic_id: int, *, days: int = 30, state: str | None = None, limit: int = 200
    ) -> ClinicRelocations:
        """A clinic's moved patients over the last ``days`` days, with their names (a read
        of each one's personal data, audited by the caller) and the count of each state."""
        since = self.service.clock() - timedelta(days=days)
        pool = self.service.pool
        rows, counts = await repo.clinic_relocations(pool, clinic_id, since, state, limit)
        names = await patients.names(pool, [r["patient_id"] for r in rows])
        directory = self.service.engine.directory
        return ClinicRelocations(
            clinic_id=clinic_id,
            since=since,
            counts={s: counts.get(s, 0) for s in STATES},
            relocations=[relocation_of(directory, r, names.get(r["patient_id"], "")) for r in rows],
        )


def _deadline_passed(row: Any) -> bool:
    """A cancelled relocation ended by its deadline (not declined)."""
    settled, deadline = row["settled_at"], row["deadline"]
    return bool(deadline and settled and settled >= deadline)


def _channel_for(old: str, flags: int) -> Channel:
    """The channel of the offered hold: the old appointment's when the slot is open to
    it, else the registrar's (the clinic books for the patient), else one it is open to."""
    channel = cast(Channel, old)
    if CHANNEL_BITS.get(channel, 0) & flags:
        return channel
    others: tuple[Channel, ...] = ("registrar", "web", "phone", "kiosk", "app")
    for other in others:
        if CHANNEL_BITS[other] & flags:
            return other
    return "registrar"
