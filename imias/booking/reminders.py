"""Reminders a day ahead: a job claims the appointments that start within 24 hours and
have not been reminded and writes a ``reminder`` notice for each in the claiming
transaction (:mod:`imias.platform.notices`: the notification service texts or mails
the patient, after her quiet hours), then hands each to the sender, an extra.

The sender is pluggable (:class:`ReminderSender`; a mobile app's push service, say); the
default writes a log line without the patient's phone or name. Claiming is a row update
with SKIP LOCKED, so several workers can run the job together and each appointment is
reminded once, its notice committed with the claim (exactly once); a worker that dies
between commit and the extra sender loses only that sender's reminders.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import asyncpg
import msgspec

from imias.booking import repository as repo
from imias.platform.notices import Notice, write_notice

log = logging.getLogger("imias.booking.reminders")

REMINDER_KIND = "reminder"


class Reminder(msgspec.Struct, frozen=True, tag="appointment_reminder"):
    appointment_id: int
    clinic_id: int
    patient_id: int
    doctor_id: int
    starts_at: datetime


class ReminderSender(Protocol):
    async def send(self, reminder: Reminder) -> None: ...


class LogSender:
    """The demo sender: one log line per reminder, with ids only."""

    async def send(self, reminder: Reminder) -> None:
        log.info(
            "reminder: appointment %s at %s",
            reminder.appointment_id,
            reminder.starts_at.isoformat(),
            extra={"patient_id": reminder.patient_id, "clinic_id": reminder.clinic_id},
        )


def reminder_notice(reminder: Reminder) -> Notice:
    return Notice(
        kind=REMINDER_KIND,
        patient_id=reminder.patient_id,
        params={
            "appointment_id": reminder.appointment_id,
            "clinic_id": reminder.clinic_id,
            "doctor_id": reminder.doctor_id,
            "starts_at": reminder.starts_at.isoformat(),
        },
    )


async def send_due_reminders(
    pool: asyncpg.Pool,
    sender: ReminderSender,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    batch: int = 500,
) -> int:
    """Remind every appointment starting in the next 24 hours, once; how many."""
    now = clock()
    async with pool.acquire() as conn, conn.transaction():
        rows = await repo.due_reminders(conn, now, batch)
        reminders = [
            Reminder(r["id"], r["clinic_id"], r["patient_id"], r["doctor_id"], r["starts_at"])
            for r in rows
        ]
        for reminder in reminders:
            await write_notice(conn, reminder_notice(reminder), clinic_id=reminder.clinic_id)
    for reminder in reminders:
        try:
            await sender.send(reminder)
        except Exception as exc:  # one failed send does not stop the others
            log.warning("reminder for appointment %s not sent: %s", reminder.appointment_id, exc)
    return len(reminders)
