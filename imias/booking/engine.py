"""The worker's engine: built from the database at start, reported in /health.

Each worker process holds one :class:`Engine`. It starts empty, is loaded in the
background once the app has its pool (so a worker answers /health while it loads),
and says what it holds. Searches and holds arrive with the booking API.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

import scheduler_core
from imias.booking.calendar_loader import Geometry, LoadReport, load_calendar
from imias.platform import heap
from imias.platform.outbox import unpublished_ids
from imias.registry import Directory

log = logging.getLogger("imias.booking.engine")

#: The outbox topic of the engine's events (scheduler_core's), which every worker applies.
ENGINE_TOPIC = "engine"
RELOAD_SECONDS = 30.0  # the least time between two rebuilds after a contradiction


class EngineNotReady(RuntimeError):
    """The engine has not finished loading, or its last load failed."""


class Engine:
    def __init__(self, time_zone: str = "Europe/Moscow", geometry: Geometry | None = None):
        self.zone = ZoneInfo(time_zone)
        self.geometry = geometry or Geometry()
        self.calendar: scheduler_core.Calendar | None = None
        self.directory = Directory()
        self.report: LoadReport | None = None
        self.loaded_at: datetime | None = None
        self.error: str | None = None
        self.applied_events = 0
        self.reload_needed = False
        self.last_load = 0.0
        self._pending: list[tuple[scheduler_core.Event, int]] | None = None
        # Events the last load's snapshot holds already but the stream had not brought
        # yet (a relay's lag, Redis away): skipped when they come, never applied again
        # over newer state (a cancellation arriving after the slot was booked anew).
        self._held: set[int] = set()
        self.first_day: date | None = None
        self._task: asyncio.Task[None] | None = None
        # The last state digest and the one being made, each with its (calendar, events).
        self._digest: tuple[tuple[int, int], str] | None = None
        self._digesting: tuple[tuple[int, int], asyncio.Task[str]] | None = None

    def today(self) -> date:
        return datetime.now(self.zone).date()

    async def load(self, pool: asyncpg.Pool) -> None:
        """Rebuild the calendar from the database; keep the old one if this fails.

        Stream events that arrive while the new calendar is being built are applied to
        the old one (which keeps serving) and kept; they are applied again to the new
        one before it takes over, so a change made during the rebuild is never lost
        (applying twice is harmless)."""
        first_day = self.today()
        if self._pending is None:
            self._pending = []
        try:
            async with pool.acquire() as conn:
                # One snapshot for every table read, so schedules and appointments agree.
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    directory = await Directory.load(conn)
                    calendar, report = await load_calendar(
                        conn, first_day, self.geometry, directory=directory
                    )
                    # committed before this snapshot, still to come on the stream
                    held = await unpublished_ids(conn, ENGINE_TOPIC)
        except Exception as exc:
            self._pending = None
            self.error = f"{type(exc).__name__}: {exc}"
            log.exception("engine load failed")
            raise
        pending, self._pending = self._pending, None
        self._held = held
        for event, outbox_id in pending:  # no await from here on: the swap is atomic
            if outbox_id in held:
                held.discard(outbox_id)
                continue
            try:
                calendar.apply(event)
            except scheduler_core.SchedulerError as exc:
                log.warning("event %s does not fit the rebuilt engine: %s", outbox_id, exc)
        self.calendar, self.report, self.first_day = calendar, report, first_day
        self.last_load = time.monotonic()
        self.directory = directory
        self.loaded_at = datetime.now(UTC)
        self.error = None
        self.reload_needed = False
        # What the worker holds now lives as long as it: out of the collector's full
        # passes, which walked it for 100-150 ms every 40 s (imias.platform.heap).
        frozen = heap.settle()
        log.info("engine in place; %d objects frozen out of the collector's passes", frozen)

    def start_loading(self, pool: asyncpg.Pool) -> None:
        async def run() -> None:
            try:
                await self.load(pool)
            except Exception:  # recorded in self.error, reported by /health
                pass

        self._pending = []  # from now on, stream events are kept for the new calendar
        self._task = asyncio.create_task(run(), name="imias-engine-load")

    async def apply_event(self, topic: str, payload: bytes, outbox_id: int) -> None:
        """The stream consumer's handler: apply a committed change to this engine.

        Every change reaches every worker's engine this way, this worker's own included,
        in the order the relay published them. Events that arrive while the engine loads
        are kept and applied to it before it serves (the worker noted the stream
        position before loading, so the same change may come twice: applying is
        idempotent). A contradiction the engine
        cannot reconcile means this replica is off: it reloads from the database.
        """
        if topic != ENGINE_TOPIC:
            return
        event = scheduler_core.decode_event(payload)
        if self._pending is not None:  # a rebuild is under way: keep it for the new one
            self._pending.append((event, outbox_id))
        if outbox_id in self._held:  # the loaded calendar has it
            self._held.discard(outbox_id)
            return
        if self.calendar is not None:
            self._apply(event, outbox_id)

    def apply_local(self, event: scheduler_core.Event, outbox_id: int) -> None:
        """Apply a change straight after its commit, for a process without a stream
        (tools and tests). Workers never do this: they apply the stream only, in its
        order, because a local change applied ahead of the stream could meet an older
        event of the same slot coming later (a hold confirmed here before the hold's
        own event arrives from the worker that took it)."""
        if self.calendar is not None:
            self._apply(event, outbox_id)

    def _apply(self, event: scheduler_core.Event, outbox_id: int) -> None:
        assert self.calendar is not None  # the callers apply to a loaded engine only
        try:
            if self.calendar.apply(event):
                self.applied_events += 1
        except scheduler_core.SchedulerError as exc:
            # This replica missed or reordered something; the database is right, so the
            # engine is rebuilt from it (by the jobs, at most every RELOAD_SECONDS).
            log.warning("event %s does not fit this engine (%s); it will reload", outbox_id, exc)
            self.reload_needed = True

    @property
    def loading(self) -> bool:
        return self._pending is not None or (self._task is not None and not self._task.done())

    async def wait_loaded(self, timeout: float = 60.0) -> None:  # noqa: ASYNC109
        """Wait for the load started by :meth:`start_loading` to end, well or not (for
        tests and tools; it polls, so it works from another event loop too)."""
        deadline = time.monotonic() + timeout
        while self._task is not None and not self._task.done():
            if time.monotonic() > deadline:
                raise TimeoutError("the engine did not finish loading")
            await asyncio.sleep(0.01)

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    async def state_digest(self) -> tuple[str, int]:
        """A digest of what this engine holds, equal on workers that agree, and the count
        of events applied when it was taken.

        A city's snapshot is tens of megabytes: it is taken on the event loop (one copy,
        which the calendar must not change during) and hashed in a thread; the answer is
        kept until the engine changes, and callers arriving while it is being made wait
        for the same one, so repeated calls cost the loop nothing more."""
        calendar = self.calendar
        if calendar is None:
            raise EngineNotReady("not loaded")
        key = (id(calendar), self.applied_events)
        if self._digest is not None and self._digest[0] == key:
            return self._digest[1], key[1]
        if self._digesting is None or self._digesting[0] != key:
            snapshot = calendar.snapshot()
            task = asyncio.create_task(asyncio.to_thread(scheduler_core.state_digest, snapshot))
            self._digesting = (key, task)
        digesting_key, task = self._digesting
        try:
            digest = await asyncio.shield(task)
        finally:
            if task.done() and self._digesting is not None and self._digesting[1] is task:
                self._digesting = None  # made (or failed): the next caller starts anew
        self._digest = (digesting_key, digest)
        return digest, digesting_key[1]

    def health(self) -> dict[str, Any]:
        """Details for /health; raises :class:`EngineNotReady` when not serving."""
        if self.calendar is None:
            if self.error:
                raise EngineNotReady(f"load failed: {self.error}")
            if self._task is not None and not self._task.done():
                raise EngineNotReady("loading")
            raise EngineNotReady("not loaded")
        details: dict[str, Any] = {
            "implementation": scheduler_core.IMPLEMENTATION,
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "days": self.geometry.days,
            "loaded_at": self.loaded_at.isoformat() if self.loaded_at else None,
        }
        if self.report is not None:
            details |= {
                "doctors": self.report.doctors,
                "slots": self.report.slots,
                "appointments": self.report.appointments,
                "load_seconds": round(self.report.seconds, 3),
            }
        if self.error:
            details["last_error"] = self.error
        return details
