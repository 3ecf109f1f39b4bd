"""Appointments displaced by the clinic: a doctor's time taken away with appointments in
it (a sick day, leave, a template shortened, a public holiday).

This is the minimal form: each displaced appointment is cancelled (its time units
freed), the engine is told (``SlotReleased``) and the patient is sent a
``cancelled_by_clinic`` notice. Offering the patient another time is the relocation
service's part (it replaces this module with the same :meth:`Relocations.displace`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import asyncpg

from imias.booking import events as changes
from imias.booking import repository as repo
from imias.booking.writes import Writes
from imias.platform import audit
from imias.platform.db import Connection
from imias.platform.notices import Notice, write_notice
from scheduler_core import events as ev

if TYPE_CHECKING:
    from imias.booking.service import BookingService


class Relocations:
    def __init__(self, service: BookingService) -> None:
        self.service = service

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
        """Cancel each appointment (rows locked FOR UPDATE by the caller, in its
        transaction), free its units and emit its ``SlotReleased``; tell its patient.
        ``reason`` says why (``sick``, ``holiday``, ``template``, ...); ``by`` is the staff
        account that made the change. How many were displaced."""
        for row in appointments:
            cancelled = changes.AppointmentCancelled(
                appointment_id=row["id"], patient_id=row["patient_id"], clinic_id=row["clinic_id"]
            )
            await repo.set_status_with_event(
                conn, row["clinic_id"], row["id"], "cancelled", now, changes.values(cancelled)
            )
            await audit.record(
                conn, "cancel", "appointment", row["id"], row["patient_id"], reason=reason
            )
            if row["referral_id"]:
                await repo.give_back_referral(conn, row["referral_clinic_id"], row["referral_id"])
            placed = self.service.placement.existing(row)
            if placed is not None:
                await writes.emit(
                    conn,
                    ev.SlotReleased(row["doctor_id"], placed.day, placed.unit),
                    row["clinic_id"],
                )
            notice = Notice(
                kind="cancelled_by_clinic",
                patient_id=row["patient_id"],
                params={
                    "appointment_id": row["id"],
                    "clinic_id": row["clinic_id"],
                    "doctor_id": row["doctor_id"],
                    "starts_at": row["starts_at"].astimezone(UTC).isoformat(),
                },
            )
            await write_notice(conn, notice, clinic_id=row["clinic_id"])
        return len(appointments)
