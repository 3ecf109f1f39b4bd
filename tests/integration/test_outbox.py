"""The event outbox against real PostgreSQL and Redis: events written with a change
reach every worker's consumer in order, once a change committed and only then; one
relay is active at a time; a Redis outage delays events but loses none."""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator

import asyncpg
import pytest
from litestar.testing import AsyncTestClient

from imias.app import create_app
from imias.platform.cache import create_redis
from imias.platform.embedded import EmbeddedRedis
from imias.platform.outbox import (
    RELAY_LOCK_KEY,
    OutboxRelay,
    StreamConsumer,
    current_stream_id,
    write_event,
)
from imias.platform.settings import load_settings

FAST = {"poll_interval": 0.05, "lock_retry": 0.1, "max_backoff": 0.2}


async def eventually(predicate, timeout: float = 5.0, what: str = "the condition"):  # noqa: ASYNC109
    """Poll ``predicate`` (sync or async) until it is truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


class Recorder:
    """A consumer handler that remembers what it was given."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, bytes, int]] = []

    async def __call__(self, topic: str, payload: bytes, outbox_id: int) -> None:
        self.seen.append((topic, payload, outbox_id))

    @property
    def ids(self) -> list[int]:
        return [outbox_id for _, _, outbox_id in self.seen]


@pytest.fixture
async def writer(database_url) -> AsyncIterator[asyncpg.Connection]:
    """A connection for committed writes, on an empty outbox."""
    conn = await asyncpg.connect(database_url)
    await conn.execute("TRUNCATE event_outbox")
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def stream() -> str:
    return f"test:outbox:{uuid.uuid4().hex}"


@pytest.fixture
async def redis(redis_url):
    client = create_redis(redis_url)  # the app's client settings (socket timeouts)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def workers() -> AsyncIterator[list]:
    """Relays and consumers a test starts; stopped at the end even if it fails."""
    started: list = []
    yield started
    for worker in started:
        await worker.stop()


async def commit(conn: asyncpg.Connection, *topics: str, clinic_id: int = 7) -> list[int]:
    """Write one event per topic, each in its own committed transaction."""
    ids = []
    for topic in topics:
        async with conn.transaction():
            ids.append(await write_event(conn, topic=topic, payload=topic.encode(), clinic_id=7))
    return ids


async def stream_ids(redis, stream: str) -> list[int]:
    return [int(fields[b"outbox_id"]) for _, fields in await redis.xrange(stream)]


async def unpublished(conn: asyncpg.Connection) -> int:
    return await conn.fetchval("SELECT count(*) FROM event_outbox WHERE published_at IS NULL")


async def all_published(conn: asyncpg.Connection) -> bool:
    return await unpublished(conn) == 0


async def test_committed_events_are_published_and_consumed_in_order(
    writer, redis, stream, workers, database_url
):
    recorder = Recorder()
    consumer = StreamConsumer(redis, recorder, stream=stream, start_id="0-0", block_ms=100)
    relay = OutboxRelay(database_url, redis, stream=stream, batch_size=7, **FAST)
    workers += [relay, consumer]
    consumer.start()
    relay.start()
    topics = [f"slot_booked.{i}" for i in range(40)]
    ids = await commit(writer, *topics)
    async with writer.transaction():  # several events of one transaction
        ids += [
            await write_event(writer, topic=f"multi.{i}", payload=b"\x00\xff") for i in range(3)
        ]

    await eventually(lambda: len(recorder.seen) >= len(ids), what="all events consumed")
    assert recorder.ids == ids
    assert [t for t, _, _ in recorder.seen] == [*topics, "multi.0", "multi.1", "multi.2"]
    assert recorder.seen[0][1] == b"slot_booked.0" and recorder.seen[-1][1] == b"\x00\xff"
    assert await stream_ids(redis, stream) == ids
    _, fields = (await redis.xrange(stream, count=1))[0]
    assert fields[b"clinic_id"] == b"7" and fields[b"topic"] == b"slot_booked.0"
    await eventually(lambda: all_published(writer), what="rows marked published")
    status = relay.status()
    assert status["role"] == "active" and status["published"] == len(ids)
    assert status["backlog"] == 0 and status["outage"] is None
    assert consumer.status()["received"] == len(ids)
    assert consumer.status()["last_id"] == (await redis.xrevrange(stream, count=1))[0][0].decode()


async def test_a_rolled_back_transaction_publishes_nothing(
    writer, redis, stream, workers, database_url
):
    relay = OutboxRelay(database_url, redis, stream=stream, **FAST)
    workers.append(relay)
    relay.start()
    [first] = await commit(writer, "appointment_booked")
    tx = writer.transaction()
    await tx.start()
    lost = await write_event(writer, topic="appointment_cancelled", payload=b"x")
    await tx.rollback()
    [last] = await commit(writer, "appointment_checked_in")

    await eventually(lambda: relay.published >= 2, what="the committed events published")
    await asyncio.sleep(0.1)  # a few more relay rounds, in which the lost one must not appear
    assert await stream_ids(redis, stream) == [first, last]
    assert lost not in await stream_ids(redis, stream)
    assert await writer.fetchval("SELECT count(*) FROM event_outbox") == 2


async def test_two_relays_only_one_active_every_event_published_once(
    writer, redis, stream, workers, database_url
):
    one = OutboxRelay(database_url, redis, stream=stream, batch_size=20, **FAST)
    two = OutboxRelay(database_url, redis, stream=stream, batch_size=20, **FAST)
    workers += [one, two]
    one.start()
    two.start()
    await eventually(
        lambda: {one.role, two.role} == {"active", "standby"}, what="one active, one standby"
    )

    async def burst(n: int, tag: str) -> list[int]:
        conn = await asyncpg.connect(database_url)
        try:
            return await commit(conn, *(f"{tag}.{i}" for i in range(n)))
        finally:
            await conn.close()

    batches = await asyncio.gather(*(burst(50, f"w{k}") for k in range(4)))
    ids = sorted(i for batch in batches for i in batch)
    await eventually(lambda: all_published(writer), what="every event published")
    # no NOTIFY for the next check: the relay's poll must find it too
    async with writer.transaction():
        ids.append(await write_event(writer, topic="quiet", payload=b"", notify=False))
    await eventually(lambda: one.published + two.published == len(ids), what="the quiet event")
    assert {one.role, two.role} == {"active", "standby"}
    counts = Counter(await stream_ids(redis, stream))
    assert sorted(counts) == ids and set(counts.values()) == {1}

    # The active relay's worker goes away: the other takes over.
    active, standby = (one, two) if one.role == "active" else (two, one)
    await active.stop()
    await eventually(lambda: standby.role == "active", what="the standby taking over")
    more = await commit(writer, "after.takeover")
    await eventually(lambda: all_published(writer), what="the event after the takeover")
    counts = Counter(await stream_ids(redis, stream))
    assert sorted(counts) == ids + more and set(counts.values()) == {1}
    assert standby.status()["role"] == "active" and active.status()["role"] == "stopped"


def kill(server: EmbeddedRedis) -> None:
    """SIGKILL, as a crash; the stale socket is removed so that ``start()`` does not
    spend seconds probing it (the sync client retries a refused connection)."""
    if server._process is not None and server._process.poll() is None:
        os.kill(server._process.pid, signal.SIGKILL)
        server._process.wait(10)
    server.socket.unlink(missing_ok=True)


@pytest.fixture
def own_redis(tmp_path_factory):
    server = EmbeddedRedis(tmp_path_factory.mktemp("outbox-outage"))
    server.start()
    yield server
    kill(server)  # its data is thrown away: no need to wait for a clean shutdown


async def test_redis_outage_delays_events_and_loses_none(
    writer, stream, workers, database_url, own_redis, caplog
):
    caplog.set_level(logging.INFO, logger="imias.outbox")
    redis = create_redis(own_redis.url)
    try:
        recorder = Recorder()
        consumer = StreamConsumer(redis, recorder, stream=stream, block_ms=100, max_backoff=0.2)
        relay = OutboxRelay(database_url, redis, stream=stream, **FAST)
        workers += [relay, consumer]
        await consumer.resolve_start()
        consumer.start()
        relay.start()
        before = await commit(writer, *(f"before.{i}" for i in range(10)))
        await eventually(lambda: recorder.ids == before, what="events before the outage")

        kill(own_redis)
        during = await commit(writer, *(f"during.{i}" for i in range(10)))  # still commits

        await eventually(lambda: relay.status()["outage"] == "redis", what="relay outage")
        await eventually(lambda: relay._outage.failures >= 3, what="the relay retrying")
        await eventually(lambda: relay.status()["backlog"] == 10, what="the backlog reported")
        await eventually(lambda: consumer.status()["outage"] == "redis", what="consumer outage")
        status = relay.status()
        assert status["role"] == "active" and status["last_error"].startswith("redis: ")
        assert relay.running and consumer.running
        assert await unpublished(writer) == 10
        assert recorder.ids == before

        await asyncio.to_thread(own_redis.start)
        after = await commit(writer, "after.0")
        expected = before + during + after
        await eventually(lambda: len(recorder.ids) >= len(expected), what="the catch-up")
        assert recorder.ids == expected  # in order, no gap, no duplicate
        await eventually(lambda: all_published(writer), what="rows marked published")
        assert relay.status()["outage"] is None and consumer.status()["outage"] is None
        assert relay.status()["backlog"] == 0
        warnings = [
            r.getMessage() for r in caplog.records if r.levelno == logging.WARNING
        ]  # one line per outage and part, not one per retry
        assert len([w for w in warnings if w.startswith("outbox relay: redis")]) == 1
        assert len([w for w in warnings if w.startswith("stream consumer: redis")]) == 1
        assert any(r.getMessage() == "outbox relay: redis is back" for r in caplog.records)
    finally:
        await redis.aclose()


async def test_consumer_from_a_noted_position_receives_what_came_after(
    writer, redis, stream, workers, database_url
):
    relay = OutboxRelay(database_url, redis, stream=stream, **FAST)
    workers.append(relay)
    relay.start()
    assert await current_stream_id(redis, stream) == "0-0"  # no stream yet
    old = await commit(writer, "old.0", "old.1")
    await eventually(lambda: relay.published == 2, what="the old events")

    position = await current_stream_id(redis, stream)  # noted before "loading the state"
    new = await commit(writer, "new.0", "new.1", "new.2")
    await eventually(lambda: relay.published == 5, what="the new events")

    seen: list[int] = []
    consumer = StreamConsumer(
        redis, lambda topic, payload, outbox_id: seen.append(outbox_id),  # a sync handler
        stream=stream, start_id=position, block_ms=100,
    )  # fmt: skip
    workers.append(consumer)
    consumer.start()
    await eventually(lambda: len(seen) >= 3, what="the events after the position")
    await asyncio.sleep(0.05)
    assert seen == new and not set(seen) & set(old)

    # "$" resolved by resolve_start(): what is published after that point, only.
    late = StreamConsumer(redis, Recorder(), stream=stream, block_ms=100)
    workers.append(late)
    assert await late.resolve_start() == await current_stream_id(redis, stream)
    late.start()
    latest = await commit(writer, "latest")
    await eventually(lambda: late.handler.ids == latest, what="the latest event")


async def test_a_failing_handler_is_counted_and_the_consumer_goes_on(
    writer, redis, stream, workers, database_url
):
    good: list[str] = []

    def handler(topic: str, payload: bytes, outbox_id: int) -> None:
        if topic == "poison":
            raise ValueError("cannot apply")
        good.append(topic)

    consumer = StreamConsumer(redis, handler, stream=stream, start_id="0-0", block_ms=100)
    relay = OutboxRelay(database_url, redis, stream=stream, **FAST)
    workers += [consumer, relay]
    consumer.start()
    relay.start()
    await commit(writer, "a", "poison", "b")
    await eventually(lambda: good == ["a", "b"], what="the events around the bad one")
    status = consumer.status()
    assert status["handler_errors"] == 1 and status["received"] == 3
    assert "ValueError: cannot apply" in status["last_handler_error"]


async def test_stop_is_clean_and_releases_the_relay_lock(writer, redis, stream, database_url):
    relay = OutboxRelay(database_url, redis, stream=stream, **FAST)
    consumer = StreamConsumer(redis, Recorder(), stream=stream, block_ms=1000)
    relay.start()
    consumer.start()
    await eventually(lambda: relay.role == "active", what="the relay active")
    await commit(writer, "x")
    await eventually(lambda: consumer.status()["received"] == 1, what="the event consumed")

    await asyncio.wait_for(asyncio.gather(relay.stop(), consumer.stop()), 3)
    assert not relay.running and not consumer.running
    assert relay.status()["role"] == "stopped"
    assert not [t for t in asyncio.all_tasks() if t.get_name().startswith("imias-")]
    got = await writer.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY)
    assert got, "the stopped relay still holds its lock"
    await writer.execute("SELECT pg_advisory_unlock($1)", RELAY_LOCK_KEY)
    await commit(writer, "after.stop")
    await asyncio.sleep(0.15)  # several poll intervals: nothing publishes any more
    assert await unpublished(writer) == 1
    await relay.stop()  # stopping twice is harmless


async def test_health_reports_the_relay_and_standby_is_not_a_failure(
    database_url, redis_url, tmp_path, writer
):
    settings = load_settings(
        {}, database_url=database_url, redis_url=redis_url, data_dir=str(tmp_path)
    )
    app = create_app(settings)
    async with AsyncTestClient(app) as client:
        await app.state.engine.wait_loaded()
        await eventually(lambda: app.state.outbox_relay.role == "active", what="active relay")
        body = (await client.get("/health")).json()
        assert body["outbox"] == "ok" and body["outbox_details"]["role"] == "active"

    # Another worker holds the lock: this one stands by and is healthy.
    holder = await asyncpg.connect(database_url)
    try:
        assert await holder.fetchval("SELECT pg_try_advisory_lock($1)", RELAY_LOCK_KEY)
        app = create_app(settings)
        async with AsyncTestClient(app) as client:
            await app.state.engine.wait_loaded()
            await eventually(lambda: app.state.outbox_relay.role == "standby", what="standby")
            response = await client.get("/health")
            assert response.status_code == 200, response.text
            body = response.json()
            assert body["outbox"] == "ok" and body["outbox_details"]["role"] == "standby"
    finally:
        await holder.close()
