"""The event outbox: events are written with the change, published to a Redis stream.

A domain writes its event with :func:`write_event` inside the transaction that makes
the change, so an event exists exactly when its change committed. :class:`OutboxRelay`
(one task per worker; a PostgreSQL advisory lock keeps one of them active in the
whole deployment) moves committed rows to the Redis stream in id order and marks them
published. :class:`StreamConsumer` (one per worker) reads the stream and hands every
entry to a handler, e.g. one that applies it to the worker's engine.

A domain that must not lose an event even when Redis does (the integrations' deliveries)
adds a *sink* to the relay (:meth:`OutboxRelay.add_sink` before the relay starts): it is
called with each batch inside the transaction that marks the batch published, so an
event is routed exactly when it is published, once.

Delivery is at least once: an entry may arrive twice (Redis failed after some XADDs,
or a relay lost its lock mid-batch), so applying must be idempotent. Entries are in
publication order, which is id order except that a transaction that took a lower id
but committed later is published after higher ids; a consumer that drops duplicates
must therefore remember the ids it saw, not only the highest one.

With Redis down, writes still commit (only PostgreSQL decides); the relay reports the
outage once, backs off and publishes the backlog when Redis is back, and a consumer
resumes after the last entry it handled, so it misses nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import redis.asyncio as aioredis
from litestar.datastructures import State

from imias.platform.db import Connection
from imias.platform.leader import LeaderTask
from imias.platform.stream import (
    DEFAULT_STREAM,
    REDIS_ERRORS,
    Handler,
    StreamConsumer,
    current_stream_id,
    stream_id_at,
)

__all__ = [
    "DEFAULT_STREAM",
    "Sink",
    "NOTIFY_CHANNEL",
    "RELAY_LOCK_KEY",
    "Handler",
    "OutboxRelay",
    "StreamConsumer",
    "check_outbox",
    "current_stream_id",
    "event_cte",
    "stream_id_at",
    "unpublished_ids",
    "write_event",
]

log = logging.getLogger("imias.outbox")

#: A consumer of published batches that must not lose one: called with the relay's
#: connection and the batch's rows (clinic_id, id, topic, payload) in its transaction.
Sink = Callable[[Connection, Sequence[Any]], Awaitable[None]]

NOTIFY_CHANNEL = "imias_outbox"
# pg_try_advisory_lock key of the relay: one active relay per database.
RELAY_LOCK_KEY = 0x1A1A5_0E7B0

_INSERT = "INSERT INTO event_outbox (clinic_id, topic, payload) VALUES ($1, $2, $3) RETURNING id"
# One round trip; notifications of one transaction with the same payload are merged
# into one and delivered at commit (none on rollback).
_INSERT_NOTIFY = f"""
WITH row AS ({_INSERT})
SELECT id, pg_notify('{NOTIFY_CHANNEL}', '') FROM row
"""
_FETCH = """
SELECT clinic_id, id, topic, payload FROM event_outbox
WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED
"""
_MARK = """
UPDATE event_outbox SET published_at = now()
WHERE (clinic_id, id) IN (SELECT * FROM unnest($1::bigint[], $2::bigint[]))
"""
_BACKLOG = """
SELECT count(*) FROM (SELECT 1 FROM event_outbox WHERE published_at IS NULL LIMIT $1) s
"""
_CLEANUP = """
DELETE FROM event_outbox WHERE (clinic_id, id) IN (
    SELECT clinic_id, id FROM event_outbox
    WHERE published_at < now() - make_interval(secs => $1) LIMIT $2)
"""


async def write_event(
    conn: Connection,
    *,
    topic: str,
    payload: bytes,
    clinic_id: int = 0,
    notify: bool = True,
) -> int:
    """Add an event to the outbox in the caller's transaction; return its id.

    ``notify`` wakes the relay at commit. PostgreSQL serialises the commits of
    notifying transactions, so a bulk writer that does not need the relay woken at
    once may pass ``notify=False`` (the relay also polls).
    """
    if notify:
        row = await conn.fetchrow(_INSERT_NOTIFY, clinic_id, topic, payload)
        assert row is not None
        return int(row[0])
    return int(await conn.fetchval(_INSERT, clinic_id, topic, payload))


_UNPUBLISHED = "SELECT id FROM event_outbox WHERE published_at IS NULL AND topic = $1"


async def unpublished_ids(conn: Connection, topic: str) -> set[int]:
    """The ids of ``topic``'s events committed and not yet published, as the caller's
    snapshot sees them. A consumer that loads its state in that snapshot has their
    changes already: when they come on the stream (after a relay's lag, a Redis outage),
    it must not apply them again over newer state."""
    return {row[0] for row in await conn.fetch(_UNPUBLISHED, topic)}


def event_cte(source: str, first_param: int) -> str:
    """The body of a CTE that writes one outbox event per row of the CTE ``source``:
    ``$first_param`` is the clinic id, the next the topic, the next the payload.

    A domain puts it beside the data-modifying CTE of its change, so that the change
    and its event take one round trip, e.g.::

        WITH change AS (UPDATE ... RETURNING id),
             event AS ({event_cte("change", 4)})
        SELECT change.id, event.id AS outbox_id FROM change, event

    No change row, no event.
    """
    a, b, c = first_param, first_param + 1, first_param + 2
    return (
        "INSERT INTO event_outbox (clinic_id, topic, payload) "
        f"SELECT ${a}::bigint, ${b}::text, ${c}::bytea FROM {source} RETURNING id"
    )


class _RedisDown(Exception):
    """Raised inside the relay's transaction so that it rolls back."""


class OutboxRelay(LeaderTask):
    """Publishes committed outbox rows to a Redis stream; one active per deployment
    (every worker runs one, see :mod:`imias.platform.leader`). While Redis is down the
    active relay keeps its connection and its lock and retries with a backoff."""

    name = "outbox-relay"

    def __init__(
        self,
        dsn: str,
        redis: aioredis.Redis,
        *,
        stream: str = DEFAULT_STREAM,
        batch_size: int = 500,
        maxlen: int = 1_000_000,
        poll_interval: float = 0.2,
        lock_retry: float = 2.0,
        max_backoff: float = 5.0,
        retention: float = 86_400.0,
        cleanup_interval: float = 300.0,
        lock_key: int = RELAY_LOCK_KEY,
    ) -> None:
        super().__init__(
            dsn,
            lock_key=lock_key,
            interval=poll_interval,
            lock_retry=lock_retry,
            max_backoff=max_backoff,
        )
        self.redis, self.stream = redis, stream
        self.batch_size, self.maxlen = batch_size, maxlen
        self.retention, self.cleanup_interval = retention, cleanup_interval
        self.published = 0
        self.backlog: int | None = None
        self.last_published_at: float | None = None
        self._backlog_at = 0.0
        self._cleanup_at = time.monotonic()
        self.sinks: list[Sink] = []

    def add_sink(self, sink: Sink) -> None:
        """Route every batch through ``sink`` in its transaction (add before :meth:`start`:
        a batch published without it is not offered to it again)."""
        if self.running:
            raise RuntimeError("add sinks before the relay starts")
        self.sinks.append(sink)

    def status(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "stream": self.stream,
            "published": self.published,
            "backlog": self.backlog,
            "last_published_at": _iso(self.last_published_at),
            "outage": self._outage.kind,
            "last_error": self._outage.last_error,
        }

    async def _round(self, conn: Connection) -> bool:
        return await self._publish_batch() >= self.batch_size

    async def _idle(self) -> None:
        await self._chores()

    async def _became_active(self, conn: Connection) -> None:
        await conn.add_listener(NOTIFY_CHANNEL, self._notified)
        log.info("outbox relay: publishing to %s", self.stream)

    def _standing_by(self) -> None:
        self.backlog = None

    async def _failed(self, exc: Exception) -> float:
        if not isinstance(exc, _RedisDown):
            return await super()._failed(exc)
        # Redis is down: the database connection and the lock are kept
        delay = self._outage.failed("redis", exc.__cause__ or exc)
        with contextlib.suppress(Exception):
            await self._count_backlog(force=False)
        return delay

    def _notified(self, *_: Any) -> None:
        self._wake.set()

    async def _publish_batch(self) -> int:
        conn = self._conn
        assert conn is not None
        self._wake.clear()  # a notification from now on triggers another round
        self._interruptible = False
        try:
            async with conn.transaction():
                rows = await conn.fetch(_FETCH, self.batch_size)
                if not rows:
                    self.backlog = 0
                    return 0
                for sink in self.sinks:
                    await sink(conn, rows)
                try:
                    async with self.redis.pipeline(transaction=False) as pipe:
                        for row in rows:
                            fields: dict[Any, Any] = {
                                "topic": row["topic"],
                                "payload": row["payload"],
                                "outbox_id": row["id"],
                                "clinic_id": row["clinic_id"],
                            }
                            pipe.xadd(self.stream, fields, maxlen=self.maxlen, approximate=True)
                        await pipe.execute()
                except REDIS_ERRORS as exc:
                    raise _RedisDown(str(exc)) from exc
                clinics = [row["clinic_id"] for row in rows]
                await conn.execute(_MARK, clinics, [row["id"] for row in rows])
        finally:
            self._interruptible = True
        self.published += len(rows)
        self.last_published_at = time.time()
        if len(rows) < self.batch_size:
            self.backlog = 0
        else:
            await self._count_backlog(force=False)
        return len(rows)

    async def _count_backlog(self, *, force: bool) -> None:
        if self._conn is None or self.role != "active":
            return
        if force or time.monotonic() - self._backlog_at >= 1.0:
            self._backlog_at = time.monotonic()
            self.backlog = int(await self._conn.fetchval(_BACKLOG, 1_000_000))

    async def _chores(self) -> None:
        """While idle: delete rows published longer ago than ``retention``."""
        if time.monotonic() - self._cleanup_at < self.cleanup_interval or self._conn is None:
            return
        self._cleanup_at = time.monotonic()
        deleted = 0
        for _ in range(100):  # at most 100,000 rows a round; the rest next time
            if self._stopping.is_set():
                break
            result = await self._conn.execute(_CLEANUP, self.retention, 1000)
            count = int(result.split()[-1])
            deleted += count
            if count < 1000:
                break
        if deleted:
            log.info("outbox relay: deleted %d published events", deleted)


async def check_outbox(state: State) -> dict[str, Any]:
    """/health: the relay's status. Standby and a backlog are reported, not failures;
    a Redis outage shows in the ``redis`` check. Fails only if the relay task died."""
    relay: OutboxRelay = state.outbox_relay
    if not relay.running:
        raise RuntimeError(f"relay not running ({relay.role})")
    return relay.status()


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ts))
