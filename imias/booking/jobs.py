"""Periodic booking work in every worker: expired holds, no-shows, reminders, and
engine rebuilds (a new day at local midnight, or after a contradiction).

The deadline of a moved patient's offer is its hold's expiry: the hold sweeper ends the
relocation too (cancelled, the patient told), then offers the slot to the waitlist
(:mod:`imias.booking.relocation`).

Each job is safe to run in several workers at once (row locks with SKIP LOCKED, or
idempotent updates), so no leader is needed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg

from imias.booking.engine import RELOAD_SECONDS
from imias.booking.reminders import LogSender, ReminderSender, send_due_reminders
from imias.booking.service import BookingService

log = logging.getLogger("imias.booking.jobs")


class BookingJobs:
    def __init__(
        self,
        service: BookingService,
        pool: asyncpg.Pool,
        *,
        holds_every: float = 5.0,
        no_shows_every: float = 60.0,
        reminders_every: float = 60.0,
        sender: ReminderSender | None = None,
    ) -> None:
        self.service = service
        self.pool = pool
        self.reminders_every = reminders_every
        self.sender = sender or LogSender()
        self.holds_every = holds_every
        self.no_shows_every = no_shows_every
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._every(self.holds_every, self._holds), name="imias-holds"),
            asyncio.create_task(
                self._every(self.no_shows_every, self.service.mark_no_shows), name="imias-no-shows"
            ),
            asyncio.create_task(
                self._every(self.reminders_every, self._reminders), name="imias-reminders"
            ),
        ]

    async def _reminders(self) -> None:
        await send_due_reminders(self.pool, self.sender, self.service.clock)

    async def _holds(self) -> None:
        engine = self.service.engine
        never_loaded = engine.calendar is None and not engine.loading
        stale_day = engine.first_day is not None and engine.first_day != engine.today()
        contradicted = engine.reload_needed and time.monotonic() - engine.last_load > RELOAD_SECONDS
        if never_loaded or stale_day or contradicted:
            # The first load failed, a new day opens (the window moves at local
            # midnight), or a replica event did not fit: rebuild from the database.
            await engine.load(self.pool)  # clears reload_needed only when it succeeds
        if engine.calendar is not None:
            freed = await self.service.expire_holds()
            if freed:
                log.info("expired %d holds", freed)

    async def _every(self, seconds: float, job: Callable[[], Awaitable[object]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception as exc:  # a job that fails is logged and tried again later
                log.warning("%s failed: %s", getattr(job, "__name__", "job"), exc)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
