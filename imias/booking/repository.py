"""The booking domain's access to PostgreSQL: the only code that runs its SQL
(:mod:`.queries`). Functions take the connection of the caller's transaction (or the
pool, for one statement) and answer with rows or the domain's facts.

A change on the hot path writes its engine event and its audit record in the same
statement (one round trip): those functions take the event's and the record's values
after their own.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import asyncpg

from imias.booking import queries as q
from imias.booking.model import (
    AppointmentFacts,
    BookingContext,
    HoldFacts,
    PatientFacts,
    ReferralFacts,
    ReferralRef,
)
from imias.platform.db import Connection, Executor

Row = asyncpg.Record


class SlotTaken(Exception):
    """The time units of a new appointment (or hold) are owned by another: the database's
    guard against double booking refused it."""


# -- the engine's start ---------------------------------------------------------------


async def templates_in_window(conn: Executor, first_day: date, last_day: date) -> list[Row]:
    return await conn.fetch(q.TEMPLATES_IN_WINDOW, first_day, last_day)


async def exceptions_in_window(conn: Executor, first_day: date, last_day: date) -> list[Row]:
    return await conn.fetch(q.EXCEPTIONS_IN_WINDOW, first_day, last_day)


async def holidays_between(conn: Executor, first_day: date, last_day: date) -> set[date]:
    return {r["day"] for r in await conn.fetch(q.HOLIDAYS_BETWEEN, first_day, last_day)}


async def active_appointments_between(
    conn: Executor, since: datetime, until: datetime
) -> list[Row]:
    return await conn.fetch(q.ACTIVE_APPOINTMENTS_BETWEEN, since, until)


# -- the patient, locked, and what the rules need to know -----------------------------


def patient_facts(row: Row) -> PatientFacts:
    """From a row with id, birth_date, sex, attached_clinic_id."""
    return PatientFacts(
        id=row["id"],
        birth_date=row["birth_date"],
        sex=row["sex"],
        attached_clinic_id=row["attached_clinic_id"],
    )


async def lock_patient(conn: Connection, patient_id: int) -> PatientFacts | None:
    """Serialise this patient's requests (the transaction holds the row's lock)."""
    row = await conn.fetchrow(q.LOCK_PATIENT, patient_id)
    return None if row is None else patient_facts(row)


async def lock_waiting_patient(conn: Connection, patient_id: int) -> PatientFacts | None:
    """Lock a waiting patient unless another request holds them (None: busy, or gone)."""
    row = await conn.fetchrow(q.LOCK_WAITING_PATIENT, patient_id)
    return None if row is None else patient_facts(row)


async def booking_context(conn: Executor, patient_id: int, now: datetime) -> BookingContext:
    """The patient's live holds, active appointments and active referrals at ``now``."""
    return context_of(await conn.fetch(q.PATIENT_FACTS, patient_id), patient_id, now)


def context_of(rows: Iterable[Row], patient_id: int, now: datetime) -> BookingContext:
    """A BookingContext from rows of kind 'a' (appointment or hold) and 'r' (referral)
    (PATIENT_FACTS or BOOKING_CONTEXT; rows of other kinds are skipped)."""
    appointments, holds, referrals = [], [], []
    for a in rows:
        kind = a["kind"]
        if kind == "r":
            referrals.append(
                ReferralFacts(
                    clinic_id=a["clinic_id"],
                    id=a["id"],
                    specialty_id=a["specialty_id"],
                    valid_until=a["valid_until"],
                    status=a["status"],
                )
            )
        elif kind != "a":
            continue
        elif a["status"] == "held":
            if a["relocation_id"] is not None:
                continue  # the clinic's offer to a moved patient: not her hold (see rules)
            holds.append(
                HoldFacts(
                    token=str(a["hold_token"]),
                    patient_id=patient_id,
                    expires_at=a["hold_expires_at"],
                )
            )
        else:
            referral = (
                ReferralRef(a["referral_clinic_id"], a["referral_id"]) if a["referral_id"] else None
            )
            appointments.append(
                AppointmentFacts(
                    id=a["id"],
                    specialty_id=a["specialty_id"],
                    starts_at=a["starts_at"],
                    status=a["status"],
                    referral=referral,
                )
            )
    return BookingContext(
        now=now, appointments=tuple(appointments), referrals=tuple(referrals), holds=tuple(holds)
    )


@dataclass(frozen=True)
class Locked:
    """What one BOOKING_CONTEXT round trip read, the patient's row locked."""

    patient: PatientFacts
    context: BookingContext
    replay: Row | None  # the stored answer to the idempotency key
    hold: Row | None  # the appointment row of the hold token, locked
    expired: list[Row]  # holds on the wanted time that this call ended
    # the patient's live holds offered by the clinic after a move (imias.booking.relocation)
    relocation_holds: tuple[Row, ...] = ()


async def lock_context(
    conn: Connection,
    patient_id: int,
    now: datetime,
    key: str | None = None,
    token: uuid.UUID | None = None,
    slot: tuple[int, int, datetime, datetime] | None = None,
) -> Locked | None:
    """Lock the patient and read the facts (and the key's answer, the token's hold) in
    one round trip, ending expired holds on ``slot`` (clinic, doctor, starts, ends);
    None when there is no such patient."""
    clinic, doctor, starts, ends = slot or (None, None, None, None)
    rows = await conn.fetch(
        q.BOOKING_CONTEXT, patient_id, key, token, clinic, doctor, starts, ends, now
    )
    if not rows or rows[0]["kind"] != "p":
        return None
    first = rows[0]
    patient = PatientFacts(
        id=first["id"],
        birth_date=first["birth_date"],
        sex=first["sex"],
        attached_clinic_id=first["clinic_id"],
    )
    replay = hold = None
    expired = []
    offered = []
    for row in rows:
        if row["kind"] == "i":
            replay = row
        elif row["kind"] == "h":
            hold = row
        elif row["kind"] == "x":
            expired.append(row)
        elif row["kind"] == "a" and row["relocation_id"] is not None and row["status"] == "held":
            offered.append(row)
    context = context_of(rows, patient_id, now)
    return Locked(patient, context, replay, hold, expired, tuple(offered))


# -- appointments and holds -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NewAppointment:
    """The values of a new appointments row (a booking, or a hold with its token)."""

    clinic_id: int
    doctor_id: int
    patient_id: int
    specialty_id: int
    starts_at: datetime
    ends_at: datetime
    status: str
    channel: str
    referral: ReferralRef | None
    hold_token: uuid.UUID | None
    hold_expires_at: datetime | None
    created_at: datetime

    def args(self) -> tuple[Any, ...]:
        ref = self.referral
        return (
            self.clinic_id,
            self.doctor_id,
            self.patient_id,
            self.specialty_id,
            self.starts_at,
            self.ends_at,
            self.status,
            self.channel,
            ref.clinic_id if ref else None,
            ref.id if ref else None,
            self.hold_token,
            self.hold_expires_at,
            self.created_at,
        )


def _taken(exc: asyncpg.UniqueViolationError) -> bool:
    return exc.constraint_name == "appointment_units_pkey"


async def insert_appointment(
    conn: Connection, new: NewAppointment, *, savepoint: bool = False
) -> int:
    """Insert an appointment; :class:`SlotTaken` when its time is owned. With
    ``savepoint`` a refusal leaves the rest of the caller's transaction intact."""
    try:
        if not savepoint:
            return int(await conn.fetchval(q.INSERT_APPOINTMENT, *new.args()))
        async with conn.transaction():
            return int(await conn.fetchval(q.INSERT_APPOINTMENT, *new.args()))
    except asyncpg.UniqueViolationError as exc:
        if _taken(exc):
            raise SlotTaken from None
        raise


async def insert_appointment_with_event(
    conn: Connection,
    new: NewAppointment,
    event: tuple[int, str, bytes],
    audited: tuple[Any, ...],
    *,
    durable: bool = True,
) -> tuple[int, int]:
    """Insert an appointment with its engine event (clinic id, topic, payload) and its
    audit record (:func:`imias.platform.audit.change_args`) in one round trip: the new
    id and the event's outbox id. A hold is not ``durable``: its commit does not wait
    for the disk (see ``queries.INSERT_HOLD_WITH_EVENT``)."""
    statement = q.INSERT_APPOINTMENT_WITH_EVENT if durable else q.INSERT_HOLD_WITH_EVENT
    try:
        row = await conn.fetchrow(statement, *new.args(), *event, *audited)
    except asyncpg.UniqueViolationError as exc:
        if _taken(exc):
            raise SlotTaken from None
        raise
    assert row is not None
    return int(row["id"]), int(row["outbox_id"])


async def confirm_hold_with_event(
    conn: Connection,
    clinic_id: int,
    appointment_id: int,
    referral: ReferralRef | None,
    now: datetime,
    remembered: tuple[int, str, str, str, bytes],
    event: tuple[int, str, bytes],
    audited: tuple[Any, ...],
    changed: tuple[int, str, bytes],
) -> int | None:
    """Confirm a hold (held -> booked), keep the answer under its idempotency key
    (``remembered``: patient, key, route, request hash, response), and write the engine
    event, the audit record and the appointment's event (``changed``), in one round
    trip; the engine event's outbox id (None: not held)."""
    row = await conn.fetchrow(
        q.CONFIRM_HOLD_WITH_EVENT,
        clinic_id,
        appointment_id,
        referral.clinic_id if referral else None,
        referral.id if referral else None,
        now,
        *remembered,
        *event,
        *audited,
        *changed,
    )
    return None if row is None else int(row["outbox_id"])


async def expire_overlapping_holds(
    conn: Connection,
    clinic_id: int,
    doctor_id: int,
    starts_at: datetime,
    ends_at: datetime,
    now: datetime,
) -> list[Row]:
    """End the expired holds on this time of the doctor's (clinic_id, id, hold_token,
    patient_id, waitlist_entry_id, relocation_id of each)."""
    return await conn.fetch(
        q.EXPIRE_OVERLAPPING_HOLDS, clinic_id, doctor_id, starts_at, ends_at, now
    )


async def end_hold(conn: Connection, clinic_id: int, appointment_id: int, now: datetime) -> bool:
    return await conn.fetchval(q.END_HOLD, clinic_id, appointment_id, now) is not None


async def hold_by_token(conn: Connection, token: uuid.UUID) -> Row | None:
    """The hold's appointment row, locked."""
    return await conn.fetchrow(q.HOLD_BY_TOKEN, token)


async def appointment_for_update(conn: Connection, appointment_id: int) -> Row | None:
    return await conn.fetchrow(q.APPOINTMENT_FOR_UPDATE, appointment_id)


async def set_status(
    conn: Connection, clinic_id: int, appointment_id: int, status: str, now: datetime
) -> None:
    await conn.execute(q.SET_STATUS, clinic_id, appointment_id, status, now)


async def set_rescheduled_to(
    conn: Connection, clinic_id: int, appointment_id: int, new_id: int
) -> None:
    await conn.execute(q.SET_RESCHEDULED_TO, clinic_id, appointment_id, new_id)


async def set_status_with_event(
    conn: Connection,
    clinic_id: int,
    appointment_id: int,
    status: str,
    now: datetime,
    event: tuple[int, str, bytes],
) -> None:
    """:func:`set_status` with the appointment's event (clinic id, topic, payload), one
    round trip."""
    await conn.execute(q.SET_STATUS_WITH_EVENT, clinic_id, appointment_id, status, now, *event)


async def set_rescheduled_to_with_event(
    conn: Connection,
    clinic_id: int,
    appointment_id: int,
    new_id: int,
    event: tuple[int, str, bytes],
) -> None:
    """:func:`set_rescheduled_to` with the move's event, one round trip."""
    await conn.execute(q.SET_RESCHEDULED_TO_WITH_EVENT, clinic_id, appointment_id, new_id, *event)


async def expired_holds(conn: Connection, now: datetime, batch: int) -> list[Row]:
    """End up to ``batch`` holds past their expiry (rows locked by others are skipped)."""
    return await conn.fetch(q.EXPIRED_HOLDS, now, batch)


async def mark_no_shows(conn: Executor, now: datetime) -> int:
    """Booked appointments that ended in the last two days become no-shows; how many."""
    return len(await conn.fetch(q.MARK_NO_SHOWS, now))


async def patient_history(conn: Executor, patient_id: int, limit: int) -> list[Row]:
    return await conn.fetch(q.PATIENT_HISTORY, patient_id, limit)


async def doctor_day(
    conn: Executor, clinic_id: int, doctor_id: int, since: datetime, until: datetime
) -> list[Row]:
    return await conn.fetch(q.DOCTOR_DAY, clinic_id, doctor_id, since, until)


async def due_reminders(conn: Connection, now: datetime, batch: int) -> list[Row]:
    """Claim the booked appointments starting in the next 24 hours not yet reminded."""
    return await conn.fetch(q.DUE_REMINDERS, now, batch)


# -- referrals and idempotency keys ---------------------------------------------------


async def take_referral(conn: Connection, referral: ReferralRef) -> bool:
    """Use up an active referral; False when another booking just did."""
    return await conn.fetchval(q.TAKE_REFERRAL, referral.clinic_id, referral.id) is not None


async def give_back_referral(conn: Connection, clinic_id: int, referral_id: int) -> None:
    """A cancelled appointment's referral is active again."""
    await conn.execute(q.USE_REFERRAL, clinic_id, referral_id, "active")


async def patient_referrals(conn: Executor, patient_id: int) -> list[Row]:
    return await conn.fetch(q.PATIENT_REFERRALS, patient_id)


async def insert_referral(
    conn: Connection,
    clinic_id: int,
    patient_id: int,
    specialty_id: int,
    doctor_id: int,
    valid_until: date,
) -> int | None:
    """A new referral's id; None when there is no such patient."""
    try:
        return int(
            await conn.fetchval(
                q.INSERT_REFERRAL, clinic_id, patient_id, specialty_id, doctor_id, valid_until
            )
        )
    except asyncpg.ForeignKeyViolationError:
        return None


async def remember(conn: Connection, remembered: tuple[int, str, str, str, bytes]) -> None:
    """Keep a booking's answer under its idempotency key (patient, key, route, request
    hash, response)."""
    await conn.execute(q.SAVE_IDEMPOTENT_ROW, *remembered)


# -- the waitlist ---------------------------------------------------------------------


async def insert_waitlist(
    conn: Connection,
    patient_id: int,
    specialty_id: int,
    clinic_id: int | None,
    doctor_id: int | None,
    first: date,
    last: date,
    now: datetime,
) -> int | None:
    """A new waiting entry's id; None when the patient already waits for the specialty."""
    try:
        async with conn.transaction():
            return int(
                await conn.fetchval(
                    q.INSERT_WAITLIST,
                    patient_id,
                    specialty_id,
                    clinic_id,
                    doctor_id,
                    first,
                    last,
                    now,
                )
            )
    except asyncpg.UniqueViolationError:
        return None


async def patient_waitlist(conn: Executor, patient_id: int) -> list[Row]:
    return await conn.fetch(q.PATIENT_WAITLIST, patient_id)


async def waitlist_entry(conn: Connection, patient_id: int, entry_id: int) -> Row | None:
    return await conn.fetchrow(q.WAITLIST_ENTRY, patient_id, entry_id)


async def cancel_waitlist(conn: Connection, patient_id: int, entry_id: int, now: datetime) -> None:
    await conn.execute(q.CANCEL_WAITLIST, patient_id, entry_id, now)


async def waiting_for_slot(
    conn: Connection,
    specialty_id: int,
    clinic_id: int,
    doctor_id: int,
    day: date,
    exclude: Sequence[int],
) -> list[Row]:
    """The earliest waiting entries a slot of this doctor on ``day`` fits (locked)."""
    return await conn.fetch(
        q.WAITING_FOR_SLOT, specialty_id, clinic_id, doctor_id, day, list(exclude)
    )


async def offer(
    conn: Connection,
    patient_id: int,
    entry_id: int,
    clinic_id: int,
    appointment_id: int,
    now: datetime,
) -> None:
    """The hold ``appointment_id`` is offered to the waiting entry: each names the other."""
    await conn.execute(q.LINK_OFFER, clinic_id, appointment_id, entry_id)
    await conn.execute(q.MARK_OFFERED, patient_id, entry_id, clinic_id, appointment_id, now)


async def set_waitlist_status(
    conn: Connection, patient_id: int, entry_id: int, status: str, now: datetime
) -> None:
    await conn.execute(q.SET_WAITLIST_STATUS, patient_id, entry_id, status, now)


# -- whose data a caller reaches (imias.booking.caller decides) -----------------------


async def appointment_owner(conn: Executor, appointment_id: int) -> Row | None:
    """clinic_id, patient_id, doctor_id and status of an appointment."""
    return await conn.fetchrow(q.APPOINTMENT_OWNER, appointment_id)


async def hold_owner(conn: Executor, token: str) -> Row | None:
    """clinic_id, patient_id of a hold token's appointment (None: no such, or no token)."""
    try:
        parsed = uuid.UUID(token)
    except ValueError:
        return None
    return await conn.fetchrow(q.HOLD_OWNER, parsed)


async def waitlist_entry_clinic(conn: Executor, patient_id: int, entry_id: int) -> Row | None:
    return await conn.fetchrow(q.WAITLIST_ENTRY_CLINIC, patient_id, entry_id)


async def booked_with_clinic(conn: Executor, patient_id: int, clinic_id: int) -> bool:
    return bool(await conn.fetchval(q.BOOKED_WITH_CLINIC, patient_id, clinic_id))


async def booked_with_doctor(
    conn: Executor, patient_id: int, clinic_id: int, doctor_id: int
) -> bool:
    return bool(await conn.fetchval(q.BOOKED_WITH_DOCTOR, patient_id, clinic_id, doctor_id))


# -- the walk-in queue (imias.booking.walk_ins) ----------------------------------------


async def insert_walk_in(conn: Executor, *values: object) -> Row | None:
    """(clinic_id, day, patient_id, complaint, urgent, added_by, added_at); None when the
    patient already has an open entry there that day."""
    return await conn.fetchrow(q.INSERT_WALK_IN, *values)


async def walk_ins_of_day(conn: Executor, clinic_id: int, day: date) -> list[Row]:
    return await conn.fetch(q.WALK_INS_OF_DAY, clinic_id, day)


async def walk_in(conn: Executor, clinic_id: int, entry_id: int) -> Row | None:
    return await conn.fetchrow(q.WALK_IN, clinic_id, entry_id)


async def call_next_walk_in(conn: Executor, *values: object) -> Row | None:
    """(clinic_id, day, now, doctor_id, staff_id): the entry called, or None."""
    return await conn.fetchrow(q.CALL_NEXT_WALK_IN, *values)


async def end_walk_in(conn: Executor, *values: object) -> Row | None:
    """(clinic_id, entry_id, state, now, from_states, doctor_id | None)."""
    return await conn.fetchrow(q.END_WALK_IN, *values)


async def attach_walk_in_visit(conn: Executor, *values: object) -> int | None:
    """(clinic_id, entry_id, doctor_id, encounter_id): the entry's visit."""
    found: int | None = await conn.fetchval(q.ATTACH_WALK_IN_VISIT, *values)
    return found


async def seen_by_visit(conn: Executor, clinic_id: int, encounter_id: int, now: datetime) -> bool:
    return await conn.fetchval(q.SEEN_BY_VISIT, clinic_id, encounter_id, now) is not None


# -- patients moved (imias.booking.relocation) -----------------------------------------


async def read_patient(conn: Executor, patient_id: int) -> PatientFacts | None:
    """The patient's facts, not locked (the clinic's move must not wait on her requests)."""
    row = await conn.fetchrow(q.READ_PATIENT, patient_id)
    return None if row is None else patient_facts(row)


async def insert_relocation(conn: Connection, *values: Any) -> int:
    """A relocation (see ``queries.INSERT_RELOCATION`` for the values); its id."""
    return int(await conn.fetchval(q.INSERT_RELOCATION, *values))


async def reoffer_relocation(conn: Connection, *values: Any) -> bool:
    return await conn.fetchval(q.REOFFER_RELOCATION, *values) is not None


async def end_relocation(
    conn: Connection, relocation_id: int, hold_id: int, state: str, now: datetime
) -> Row | None:
    return await conn.fetchrow(q.END_RELOCATION, relocation_id, hold_id, state, now)


async def relocation(conn: Executor, relocation_id: int) -> Row | None:
    return await conn.fetchrow(q.RELOCATION, relocation_id)


async def patient_relocations(conn: Executor, patient_id: int, limit: int) -> list[Row]:
    return await conn.fetch(q.PATIENT_RELOCATIONS, patient_id, limit)


async def clinic_relocations(
    conn: Executor, clinic_id: int, since: datetime, state: str | None, limit: int
) -> tuple[list[Row], dict[str, int]]:
    """A clinic's relocations since a time (of one state, or all) and the count of each
    state."""
    rows = await conn.fetch(q.CLINIC_RELOCATIONS, clinic_id, since, state, limit)
    counts = await conn.fetch(q.CLINIC_RELOCATION_COUNTS, clinic_id, since)
    return rows, {r["state"]: int(r["n"]) for r in counts}
