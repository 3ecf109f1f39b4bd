"""What one booking transaction writes beside its own statements: new appointments and
holds (with their engine event and audit record, one round trip), the release of expired
holds met on the way, and every engine event into the outbox, in the transaction.

After commit the events are applied to this worker's engine only in a process without
a stream (tools, tests); a worker applies the stream, in its order (see
:meth:`imias.booking.engine.Engine.apply_local`).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import asyncpg

from imias.booking import repository as repo
from imias.booking.engine import ENGINE_TOPIC, Engine
from imias.booking.model import Allowed, Channel, RefusalCode, refuse
from imias.booking.placement import Placed
from imias.booking.relocation import end_offer
from imias.platform import audit
from imias.platform.db import Connection
from imias.platform.outbox import write_event
from scheduler_core import encode_event
from scheduler_core import events as ev


class Writes:
    def __init__(self, engine: Engine, apply_locally: bool) -> None:
        self.engine = engine
        self.apply_locally = apply_locally
        self.events: list[tuple[ev.Event, int]] = []

    @staticmethod
    def event_values(event: ev.Event, clinic_id: int) -> tuple[int, str, bytes]:
        """An engine event as a statement that writes it takes it: clinic, topic, payload."""
        return clinic_id, ENGINE_TOPIC, encode_event(event)

    def written(self, event: ev.Event, outbox_id: int) -> None:
        """An event that a change's own statement wrote to the outbox."""
        self.events.append((event, outbox_id))

    async def emit(self, conn: Connection, event: ev.Event, clinic_id: int) -> None:
        """The engine event of a change, into the outbox in the change's transaction.
        No NOTIFY: it serialises commits (measured: half the commit rate); the relay
        polls every 0.2 s instead."""
        outbox_id = await write_event(
            conn, topic=ENGINE_TOPIC, payload=encode_event(event), clinic_id=clinic_id, notify=False
        )
        self.events.append((event, outbox_id))

    async def insert(
        self,
        conn: Connection,
        p: Placed,
        patient_id: int,
        status: str,
        channel: Channel,
        allowed: Allowed,
        now: datetime,
        *,
        token: uuid.UUID | None = None,
        expires: datetime | None = None,
        event: Any = None,
        audit_action: str = "",
        durable: bool = True,
        sweep: bool = False,
        savepoint: bool = False,
    ) -> int:
        """Insert the appointment (or hold); with ``event``, its engine event and its audit
        record (``audit_action``) in the same round trip. Refused with ``slot_taken`` when
        its time units are owned.

        Expired holds on the time must have been ended first: by the use case's locked
        read given the slot, or here with ``sweep``. A patient's hold is not ``durable``:
        its commit does not wait for the disk."""
        if sweep:
            gone = await repo.expire_overlapping_holds(
                conn, p.clinic.id, p.doctor.id, p.starts_at, p.ends_at, now
            )
            await self.holds_ended(conn, gone, now)
        new = repo.NewAppointment(
            clinic_id=p.clinic.id,
            doctor_id=p.doctor.id,
            patient_id=patient_id,
            specialty_id=p.specialty.id,
            starts_at=p.starts_at,
            ends_at=p.ends_at,
            status=status,
            channel=channel,
            referral=allowed.referral,
            hold_token=token,
            hold_expires_at=expires,
            created_at=now,
        )
        try:
            if event is None:
                return await repo.insert_appointment(conn, new, savepoint=savepoint)
            audited = audit.change_args(audit_action, "appointment", patient_id)
            appointment_id, outbox_id = await repo.insert_appointment_with_event(
                conn, new, self.event_values(event, p.clinic.id), audited, durable=durable
            )
        except repo.SlotTaken:
            raise refuse(RefusalCode.SLOT_TAKEN) from None
        self.written(event, outbox_id)
        return appointment_id

    async def holds_ended(
        self, conn: Connection, gone: list[asyncpg.Record], now: datetime
    ) -> None:
        """Publish the release of holds just ended as expired; a waitlist offer or a moved
        patient's offer among them ends as expired (the slot is being taken, so it is not
        offered on)."""
        for row in gone:
            await self.emit(conn, ev.HoldReleased(str(row["hold_token"])), row["clinic_id"])
            if row["waitlist_entry_id"] is not None:
                await repo.set_waitlist_status(
                    conn, row["patient_id"], row["waitlist_entry_id"], "expired", now
                )
            if row["relocation_id"] is not None:
                await end_offer(conn, row, "expired", now)

    def applied(self) -> None:
        """After commit: apply the events here when no stream will (tools and tests)."""
        if self.apply_locally:
            for event, outbox_id in self.events:
                self.engine.apply_local(event, outbox_id)
