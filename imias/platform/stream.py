"""Reading the event stream: every worker's :class:`StreamConsumer` hands each entry
the outbox relay published (see :mod:`imias.platform.outbox`) to a handler, in order.

Entries may arrive twice (delivery is at least once), so handlers must be idempotent.
After a Redis error a consumer resumes after the last entry it handled, so an outage
delays entries but skips none. Also here: the small background-task and outage
bookkeeping that the relay shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

log = logging.getLogger("imias.outbox.stream")

DEFAULT_STREAM = "imias:events"
REDIS_ERRORS = (RedisError, OSError, TimeoutError)

Handler = Callable[[str, bytes, int], Awaitable[None] | None]


class Topics:
    """The consumer's handler in a worker: each topic to the handler a domain subscribed
    for it (entries of other topics are passed over)."""

    def __init__(self) -> None:
        self.handlers: dict[str, Handler] = {}

    def subscribe(self, topic: str, handler: Handler) -> None:
        if topic in self.handlers:
            raise ValueError(f"topic {topic!r} has a handler already")
        self.handlers[topic] = handler

    async def __call__(self, topic: str, payload: bytes, outbox_id: int) -> None:
        handler = self.handlers.get(topic)
        if handler is not None:
            result = handler(topic, payload, outbox_id)
            if inspect.isawaitable(result):
                await result


async def current_stream_id(redis: aioredis.Redis, stream: str = DEFAULT_STREAM) -> str:
    """The id of the newest entry of ``stream`` ("0-0" when it is empty or absent).

    Take it before loading state from the database, then consume from it: nothing
    committed after the load started is missed, and what is seen twice is harmless.
    Raises the Redis error when Redis is down (see :func:`stream_id_at`).
    """
    newest = await redis.xrevrange(stream, count=1)
    if not newest:
        return "0-0"
    return _text(newest[0][0])


def stream_id_at(unix_seconds: float) -> str:
    """A stream position at a wall-clock time (stream ids start with milliseconds):
    the fallback start id when Redis is down, with a margin for clock skew."""
    return f"{max(0, int(unix_seconds * 1000))}-0"


class Outage:
    """Remembers the last error and logs an outage once, not once per retry."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.kind: str | None = None
        self.last_error: str | None = None
        self.failures = 0

    def failed(self, kind: str, exc: BaseException) -> float:
        """Record a failure; return the back-off delay (0.1 s doubling, capped by caller)."""
        self.last_error = f"{kind}: {type(exc).__name__}: {exc}"[:300]
        self.failures += 1
        if self.kind != kind:
            self.kind = kind
            unexpected = not isinstance(exc, (*REDIS_ERRORS, asyncpg.PostgresError))
            log.warning(
                "%s: %s unavailable, retrying until it is back: %s",
                self.who,
                kind,
                self.last_error,
                exc_info=exc if unexpected else None,
                extra={"outage": kind},
            )
        return 0.1 * 2.0 ** min(self.failures - 1, 10)

    def ok(self) -> None:
        if self.kind is not None:
            log.info("%s: %s is back", self.who, self.kind, extra={"recovered": self.kind})
        self.kind = None
        self.failures = 0


class BackgroundTask:
    """A background task with a prompt, graceful stop."""

    name = "worker"

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._interruptible = True  # False while a batch is in flight

    def start(self) -> None:
        if self._task is not None and not self._task.done():
            return
        self._stopping.clear()
        self._task = asyncio.create_task(self._run(), name=f"imias-{self.name}")

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self, timeout: float = 5.0) -> None:  # noqa: ASYNC109
        """Let the batch in flight finish (up to ``timeout``), then end the task."""
        self._stopping.set()
        self._wake.set()
        task, self._task = self._task, None
        if task is not None and not task.done():
            if self._interruptible:  # waiting or sleeping: nothing to finish
                task.cancel()
            if not (await asyncio.wait({task}, timeout=timeout))[0]:
                task.cancel()
                await asyncio.wait({task})
            if not task.cancelled() and task.exception() is not None:
                log.error("%s ended with an error", self.name, exc_info=task.exception())
        await self._closed()

    async def _closed(self) -> None:
        pass

    async def _run(self) -> None:
        raise NotImplementedError

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds`` or until woken (new rows, stop)."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), seconds)


class StreamConsumer(BackgroundTask):
    """Reads a Redis stream from ``start_id`` and calls ``handler(topic, payload,
    outbox_id)`` (sync or async) for every entry, in order.

    ``start_id`` "$" means "what is published after :meth:`start`"; if Redis is
    down at start it falls back to the start time less ``clock_margin`` seconds.
    After a Redis error it resumes after the last entry it handled. A handler that
    raises is logged and counted, and the consumer goes on with the next entry.
    ``block_ms`` is kept below the client's socket timeout.
    """

    name = "stream-consumer"

    def __init__(
        self,
        redis: aioredis.Redis,
        handler: Handler,
        *,
        stream: str = DEFAULT_STREAM,
        start_id: str = "$",
        count: int = 500,
        block_ms: int = 1000,
        max_backoff: float = 5.0,
        clock_margin: float = 60.0,
    ) -> None:
        super().__init__()
        self.redis, self.handler, self.stream = redis, handler, stream
        self.last_id = start_id
        self.count, self.max_backoff, self.clock_margin = count, max_backoff, clock_margin
        timeout = redis.connection_pool.connection_kwargs.get("socket_timeout")
        self.block_ms = min(block_ms, int(timeout * 500)) if timeout else block_ms
        self.received = 0
        self.handler_errors = 0
        self.last_handler_error: str | None = None
        self.caught_up = False
        self.lag_ms: int | None = None
        self._outage = Outage("stream consumer")
        self._started_at = time.time()

    def status(self) -> dict[str, Any]:
        return {
            "stream": self.stream,
            "last_id": self.last_id,
            "received": self.received,
            "caught_up": self.caught_up,
            "lag_ms": self.lag_ms,
            "handler_errors": self.handler_errors,
            "last_handler_error": self.last_handler_error,
            "outage": self._outage.kind,
            "last_error": self._outage.last_error,
        }

    def start(self) -> None:
        if not self.running:
            self._started_at = time.time()
        super().start()

    async def resolve_start(self) -> str:
        """Fix a "$" start id to the current stream position now (e.g. before the
        engine loads from the database); returns the id the consumer will read after."""
        if self.last_id == "$":
            try:
                self.last_id = await current_stream_id(self.redis, self.stream)
            except REDIS_ERRORS as exc:
                self._outage.failed("redis", exc)
                self.last_id = stream_id_at(time.time() - self.clock_margin)
        return self.last_id

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                if self.last_id == "$":
                    try:
                        self.last_id = await current_stream_id(self.redis, self.stream)
                    except REDIS_ERRORS:
                        self.last_id = stream_id_at(self._started_at - self.clock_margin)
                        raise
                reply = await self.redis.xread(
                    {self.stream: self.last_id}, count=self.count, block=self.block_ms
                )
                self._outage.ok()
            except asyncio.CancelledError:
                raise
            except REDIS_ERRORS as exc:
                delay = self._outage.failed("redis", exc)
                await self._sleep(min(delay, self.max_backoff))
                continue
            entries = _entries(reply)
            self.caught_up = len(entries) < self.count
            if not entries:
                self.lag_ms = 0
                continue
            self._interruptible = False
            try:
                for entry_id, fields in entries:
                    await self._handle(_text(entry_id), fields)
            finally:
                self._interruptible = True

    async def _handle(self, entry_id: str, fields: dict[Any, Any]) -> None:
        try:
            topic = _text(_field(fields, "topic"))
            outbox_id = int(_field(fields, "outbox_id", b"0"))
            result = self.handler(topic, bytes(_field(fields, "payload")), outbox_id)
            if inspect.isawaitable(result):
                await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.handler_errors += 1
            self.last_handler_error = f"{entry_id}: {type(exc).__name__}: {exc}"[:300]
            log.exception("stream consumer: handling entry %s failed; skipped", entry_id)
        self.last_id = entry_id
        self.received += 1
        self.lag_ms = max(0, int(time.time() * 1000) - int(entry_id.split("-", 1)[0]))


def _entries(reply: Any) -> list[tuple[Any, dict[Any, Any]]]:
    """The entries of a one-stream XREAD reply (RESP2 list or RESP3 map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return [tuple(e) for v in reply.values() for e in v[0]]
    return [tuple(e) for e in reply[0][1]]


def _field(fields: dict[Any, Any], name: str, default: bytes | None = None) -> Any:
    value = fields.get(name.encode(), fields.get(name, default))
    if value is None:
        raise KeyError(f"stream entry has no {name!r}")
    return value.encode() if isinstance(value, str) and name == "payload" else value


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
