"""Background work of which one runs per deployment: the outbox relay, the audit sealer.

Every worker runs the task on a database connection of its own; ``pg_try_advisory_lock``
on that connection makes one of them ``active`` and the others ``standby``, retrying
every ``lock_retry`` seconds. When the active one's connection ends (its worker died,
the database restarted), the lock goes with it and another worker takes over. An error
is reported (``Outage``), the connection closed and the round tried again after a
backoff of at most ``max_backoff`` seconds.

A subclass does one round of its work in :meth:`LeaderTask._round`, returning whether
it found a full batch (then the next round comes at once; otherwise, after
:meth:`LeaderTask._idle`, it sleeps ``interval`` seconds or until woken).
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from imias.platform import db
from imias.platform.db import Connection
from imias.platform.stream import BackgroundTask, Outage

log = logging.getLogger("imias.leader")


class LeaderTask(BackgroundTask):
    """One active per deployment, by a PostgreSQL advisory lock (see the module)."""

    name = "leader"

    def __init__(
        self,
        dsn: str,
        *,
        lock_key: int,
        interval: float,
        lock_retry: float = 2.0,
        max_backoff: float = 5.0,
    ) -> None:
        super().__init__()
        self.dsn, self.lock_key = dsn, lock_key
        self.interval, self.lock_retry, self.max_backoff = interval, lock_retry, max_backoff
        self.role = "stopped"
        self._outage = Outage(self.name.replace("-", " "))
        self._conn: asyncpg.Connection | None = None  # its own: it holds a session lock

    def start(self) -> None:
        if not self.running:
            self.role = "starting"
        super().start()

    # -- what a subclass does -----------------------------------------------------------
    async def _round(self, conn: Connection) -> bool:
        """One round of the work while active; True when a full batch was done."""
        raise NotImplementedError

    async def _idle(self) -> None:
        """After a round that was not full, before sleeping: chores."""

    async def _became_active(self, conn: Connection) -> None:
        """Just took the lock."""

    def _standing_by(self) -> None:
        """Another worker holds the lock."""

    async def _failed(self, exc: Exception) -> float:
        """A round failed: the database, or a bug. Report, close the connection (a new
        one is made next round); the delay before it."""
        delay = self._outage.failed("database", exc)
        await self._closed()
        self.role = "starting"
        return delay

    # -- the loop ------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self._conn is None or self._conn.is_closed():
                    await self._connect()
                if self.role != "active" and not await self._take_lock():
                    self._outage.ok()  # the database answered; standing by is healthy
                    await self._sleep(self.lock_retry)
                    continue
                assert self._conn is not None
                full = await self._round(self._conn)
                self._outage.ok()
                if not full:
                    await self._idle()
                    await self._sleep(self.interval)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = await self._failed(exc)
                await self._sleep(min(delay, self.max_backoff))
        self.role = "stopped"

    async def _connect(self) -> None:
        await self._closed()
        self._conn = await db.connect(self.dsn, timeout=5, command_timeout=30)
        self.role = "starting"

    async def _take_lock(self) -> bool:
        assert self._conn is not None
        if not await self._conn.fetchval("SELECT pg_try_advisory_lock($1)", self.lock_key):
            if self.role != "standby":
                log.info("%s: standing by (another worker holds the lock)", self.name)
            self.role = "standby"
            self._standing_by()
            return False
        await self._became_active(self._conn)
        log.info("%s: active", self.name)
        self.role = "active"
        return True

    async def _closed(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:  # closing the session releases the advisory lock
                await asyncio.wait_for(conn.close(), 2)
            except Exception:
                conn.terminate()
        if self.role == "active":
            self.role = "starting"
