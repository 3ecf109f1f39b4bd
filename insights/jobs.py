"""The work that keeps the dashboard's aggregates and the metrics' cached values fresh.

- :class:`InsightsJob`, one per deployment (a :class:`~imias.platform.leader.LeaderTask`):
  every ``visits_every`` seconds the load, no-shows and waits of today and yesterday
  made again from the appointments and encounters; every ``ahead_every`` seconds the
  load of the booking window's coming days (booked against offered time ahead: a sick
  day, a full week); every ``earliest_every`` seconds a sample of the earliest free
  slots from its worker's engine.
- :class:`OutcomeFlusher`, one per worker: every ``every`` seconds it adds the worker's
  counted bookings and refusals (:class:`imias.booking.Outcomes`) to the day's rows, one
  statement each, and reads the outbox and delivery backlogs for ``/metrics``.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from imias.booking import BookingService, Engine, Outcomes
from imias.platform.db import Connection
from imias.platform.leader import LeaderTask
from imias.platform.stream import BackgroundTask
from insights import queries as q
from insights import refresh
from insights import repository as repo
from insights.metrics import Metrics

log = logging.getLogger("imias.insights")

#: The coming days whose load the job keeps (the booking window's).
AHEAD_DAYS = 14
#: pg_try_advisory_lock key of the insights job: one active per database.
INSIGHTS_LOCK_KEY = 0x1A1A5_1D5B0


class InsightsJob(LeaderTask):
    name = "insights"

    def __init__(
        self,
        dsn: str,
        engine: Engine,
        zone: ZoneInfo,
        *,
        interval: float = 10.0,
        visits_every: float = 300.0,
        ahead_every: float = 900.0,
        earliest_every: float = 900.0,
    ) -> None:
        super().__init__(dsn, lock_key=INSIGHTS_LOCK_KEY, interval=interval)
        self.engine, self.zone = engine, zone
        self.visits_every, self.earliest_every = visits_every, earliest_every
        self.ahead_every = ahead_every
        self._visits_at = self._earliest_at = self._ahead_at = float("-inf")

    async def _round(self, conn: Connection) -> bool:
        now = time.monotonic()
        if now - self._visits_at >= self.visits_every:
            await refresh_recent(conn, self.zone)
            self._visits_at = now
        if now - self._ahead_at >= self.ahead_every:
            await refresh_ahead(conn, self.zone)
            self._ahead_at = now
        if now - self._earliest_at >= self.earliest_every and self.engine.calendar is not None:
            await sample(conn, self.engine)
            self._earliest_at = now
        return False


async def refresh_recent(conn: Connection, zone: ZoneInfo, days: int = 2) -> None:
    """The load and waits of the last ``days`` local days (today included), made again."""
    at, began = datetime.now(UTC), time.perf_counter()
    today = at.astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    async with conn.transaction():
        rows = await refresh.refresh_visits(conn, first, today, zone)
        rows += await refresh.refresh_waits(conn, first, today, zone)
        took = time.perf_counter() - began
        await repo.ran(conn, "visits", at, f"{first}..{today}: {rows} rows in {took:.2f} s")


async def refresh_ahead(conn: Connection, zone: ZoneInfo, days: int = AHEAD_DAYS) -> None:
    """The load of the coming ``days`` local days (after today), made again."""
    at, began = datetime.now(UTC), time.perf_counter()
    today = at.astimezone(zone).date()
    first, last = today + timedelta(days=1), today + timedelta(days=days)
    async with conn.transaction():
        rows = await refresh.refresh_visits(conn, first, last, zone)
        took = time.perf_counter() - began
        await repo.ran(conn, "ahead", at, f"{first}..{last}: {rows} rows in {took:.2f} s")


async def sample(conn: Connection, engine: Engine) -> None:
    at, began = datetime.now(UTC), time.perf_counter()
    async with conn.transaction():
        n = await refresh.sample_earliest(conn, engine, at)
        took = time.perf_counter() - began
        await repo.ran(conn, "earliest", at, f"{n} clinics x specialties in {took:.2f} s")


async def write_outcomes(conn: Connection, outcomes: Outcomes) -> None:
    """Add the counts since the last drain to the days' rows (put back if that fails)."""
    drained = outcomes.drain()
    if not drained.booked and not drained.refused:
        return
    try:
        async with conn.transaction():
            await repo.add_outcomes(conn, drained)
    except BaseException:
        outcomes.restore(drained)
        raise


class OutcomeFlusher(BackgroundTask):
    """This worker's counts to the database, its metrics' backlogs from it (see the
    module). A failed write puts the counts back for the next round."""

    name = "insights-flusher"

    def __init__(
        self, pool: asyncpg.Pool, booking: BookingService, metrics: Metrics, *, every: float = 5.0
    ) -> None:
        super().__init__()
        self.pool, self.booking, self.metrics, self.every = pool, booking, metrics, every

    async def flush(self) -> None:
        async with self.pool.acquire() as conn:
            await write_outcomes(conn, self.booking.outcomes)

    async def read_backlogs(self) -> None:
        async with self.pool.acquire() as conn:
            row = await conn.fetchrow(q.OUTBOX_BACKLOG, 1_000_000)
            assert row is not None
            self.metrics.outbox_backlog = row["backlog"]
            self.metrics.outbox_oldest_seconds = row["oldest_seconds"]
            self.metrics.deliveries = {
                r["partner_id"]: (r["pending"], r["dead"])
                for r in await conn.fetch(q.DELIVERY_BACKLOG)
            }

    async def _run(self) -> None:
        while not self._stopping.is_set():
            await self._sleep(self.every)
            for work in (self.flush, self.read_backlogs):
                try:
                    await work()
                except Exception as exc:  # the database away: tried again next round
                    log.warning("insights %s failed: %s", work.__name__, exc)

    async def _closed(self) -> None:
        try:  # the last counts, as the worker stops
            await self.flush()
        except Exception as exc:
            log.warning("insights: the last counts were not written: %s", exc)
