"""Deliveries to a partner over real sockets: events routed from the outbox into the
delivery queue in the relay's transaction, sent by the partner's worker to a simulator,
signed, in order per patient, retried through an outage with nothing lost or doubled,
dead-lettered when refused, retried and replayed; and messages in answered once."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
import redis.asyncio as aioredis
from test_outbox import eventually

from imias.platform.db import Connection, app_url
from imias.platform.outbox import OutboxRelay, write_event
from integrations import repository as repo
from integrations.delivery import DeliveryWorker, backoff
from integrations.inbound import Answer, Inbound
from integrations.model import Message, Partner
from integrations.routing import Event, Router
from integrations.signing import partner_secret, signed_headers
from integrations.simulators import HttpReceiver, MllpReceiver

SECRET = "test-deployment-secret"
TOPIC = "test.delivery"


def secret_of(partner: Partner) -> str:
    return partner_secret(SECRET, partner.id, partner.secret_version)


async def to_messages(conn: Connection, event: Event) -> list[Message]:
    data = json.loads(event.payload)
    if data.get("explode"):
        raise RuntimeError("a handler's bug")
    return [
        Message(
            audience=data["audience"],
            kind="test.note",
            content_type="application/json",
            body=event.payload,
            patient_id=data["patient"],
        )
    ]


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await asyncpg.create_pool(database_url, min_size=1, max_size=4)
    try:
        yield p
    finally:
        await p.close()


class Rig:
    """A partner with its simulator, the relay with the router, the partner's worker."""

    def __init__(self, pool: asyncpg.Pool, dsn: str, redis: aioredis.Redis) -> None:
        self.pool, self.dsn, self.redis = pool, dsn, redis
        self.partner_id = f"sim-{uuid.uuid4().hex[:10]}"
        self.audience = f"audience.{self.partner_id}"
        self.router = Router()
        self.router.route(TOPIC, to_messages)
        self.relay = OutboxRelay(
            dsn, redis, stream=f"test:{self.partner_id}", poll_interval=0.05, lock_retry=0.1,
            max_backoff=0.2, lock_key=hash(self.partner_id) & 0x7FFFFFFF,
        )  # fmt: skip
        self.relay.add_sink(self.router)
        self.worker: DeliveryWorker | None = None

    async def add_partner(self, url: str, transport: str = "http", **options: object) -> None:
        values: dict[str, object] = {
            "backoff_ms": 20, "backoff_cap_ms": 200, "timeout_ms": 2000, "max_attempts": 50,
        }  # fmt: skip
        values.update(options)
        partner = Partner(
            id=self.partner_id, kind="hl7_feed", name="simulator", transport=transport,  # type: ignore[arg-type]
            url=url, topics=[self.audience], **values,  # type: ignore[arg-type]
        )  # fmt: skip
        await repo.save_partner(self.pool, partner)

    def start(self) -> None:
        self.relay.start()
        self.worker = DeliveryWorker(self.dsn, self.partner_id, secret_of, interval=0.05)
        self.worker.lock_retry = 0.1
        self.worker.start()

    async def stop(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
        await self.relay.stop()

    async def emit(self, patient: int, n: int, **extra: object) -> None:
        body = {"audience": self.audience, "patient": patient, "n": n, **extra}
        async with self.pool.acquire() as conn, conn.transaction():
            await write_event(conn, topic=TOPIC, payload=json.dumps(body).encode())

    async def states(self) -> dict[str, int]:
        rows = await self.pool.fetch(
            "SELECT status, count(*) FROM deliveries WHERE partner_id = $1 GROUP BY status",
            self.partner_id,
        )
        return {r["status"]: r["count"] for r in rows}


@pytest.fixture
async def rig(pool: asyncpg.Pool, database_url: str, redis_client: aioredis.Redis):
    r = Rig(pool, app_url(database_url), redis_client)
    try:
        yield r
    finally:
        await r.stop()


def in_order(received: list) -> dict[str, list[int]]:
    by_patient: dict[str, list[int]] = defaultdict(list)
    for m in received:
        by_patient[m.order_key].append(json.loads(m.body)["n"])
    return by_patient


async def test_an_outage_loses_nothing_and_doubles_nothing(rig: Rig) -> None:
    receiver = HttpReceiver(secret=None)
    await receiver.start()
    receiver.secret = secret_of(
        Partner(id=rig.partner_id, kind="hl7_feed", name="", transport="http", url="", topics=[])
    )
    await rig.add_partner(receiver.url)
    rig.start()
    patients = range(1, 6)
    for n in range(5):
        for p in patients:
            await rig.emit(p, n)
    await eventually(lambda: len(receiver.store.snapshot()) == 25, 15, "the first 25")
    # the receiver goes away (the port refuses connections) while the flow goes on
    port = receiver.port
    await receiver.stop()
    for n in range(5, 15):
        for p in patients:
            await rig.emit(p, n)
    await eventually(
        lambda: rig.pool.fetchval(
            "SELECT failing_since IS NOT NULL FROM partners WHERE id = $1", rig.partner_id
        ),
        10,
        "the partner to be seen failing",
    )
    await asyncio.sleep(0.5)
    # some messages were sent and failed (the probes), none are dead
    assert (await rig.states()).get("dead", 0) == 0
    receiver.port = port
    await receiver.start()
    await eventually(lambda: len(receiver.store.snapshot()) == 75, 20, "all 75 messages")
    await eventually(lambda: _all_delivered(rig, 75), 10, "every message delivered")
    assert receiver.store.stats["duplicates"] == 0
    assert receiver.store.stats["refused"] == 0  # every message's signature verified
    for key, numbers in in_order(receiver.store.snapshot()).items():
        assert numbers == list(range(15)), f"patient {key} got {numbers}"
    assert (
        await rig.pool.fetchval("SELECT failing_since FROM partners WHERE id = $1", rig.partner_id)
        is None
    )
    await receiver.stop()


async def _all_delivered(rig: Rig, total: int) -> bool:
    return (await rig.states()) == {"delivered": total}


async def test_a_refused_message_is_dead_at_once_and_retried_on_request(rig: Rig) -> None:
    receiver = HttpReceiver(secret="whsec_" + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVo0NTY3ODk=")
    await receiver.start()  # it knows another secret: every message is refused, 401
    await rig.add_partner(receiver.url)
    rig.start()
    await rig.emit(7, 0)
    await rig.emit(7, 1)
    await eventually(lambda: _states_are(rig, {"dead": 2}), 10, "both dead")
    dead = await repo.listed(rig.pool, rig.partner_id, "dead")
    assert all("HTTP 401" in (d.last_error or "") for d in dead)
    assert receiver.store.stats["refused"] == 2
    # the partner is given the right secret; the operator retries
    receiver.secret = secret_of(
        Partner(id=rig.partner_id, kind="hl7_feed", name="", transport="http", url="", topics=[])
    )
    again = await repo.retry(rig.pool, rig.partner_id, datetime.now(UTC))
    assert len(again) == 2
    await eventually(lambda: _states_are(rig, {"delivered": 2}), 10, "both delivered")
    assert [json.loads(m.body)["n"] for m in receiver.store.snapshot()] == [0, 1]
    # a replay sends what was delivered again, with the same ids: the receiver dedups
    replayed = await repo.retry(
        rig.pool, rig.partner_id, datetime.now(UTC),
        delivered_since=datetime.now(UTC) - timedelta(hours=1),
    )  # fmt: skip
    assert len(replayed) == 2
    await eventually(lambda: receiver.store.stats["duplicates"] == 2, 10, "the replay")
    assert len(receiver.store.snapshot()) == 2
    await receiver.stop()


async def _states_are(rig: Rig, expected: dict[str, int]) -> bool:
    return (await rig.states()) == expected


async def test_a_message_is_dead_after_its_attempts(rig: Rig) -> None:
    receiver = HttpReceiver()
    await receiver.start()
    receiver.control.set(mode="fail", status=503)
    await rig.add_partner(receiver.url, max_attempts=3, backoff_ms=5, backoff_cap_ms=20)
    rig.start()
    await rig.emit(9, 0)
    await eventually(lambda: _states_are(rig, {"dead": 1}), 10, "dead after 3 tries")
    [d] = await repo.listed(rig.pool, rig.partner_id)
    assert d.attempts == 3 and "HTTP 503" in (d.last_error or "")
    assert receiver.store.stats["failed"] == 3
    await receiver.stop()


async def test_mllp_partner_gets_hl7_and_its_errors_are_retried(rig: Rig) -> None:
    from integrations import hl7

    receiver = MllpReceiver()
    await receiver.start()
    receiver.control.set(fail_next=2, ack="AE")
    await rig.add_partner(receiver.url, transport="mllp")

    async def hl7_message(conn: Connection, event: Event) -> list[Message]:
        data = json.loads(event.payload)
        message = hl7.new_message("ADT", "A31", f"T{event.outbox_id}", structure="ADT_A05")
        message.add_segment("PID")
        message.pid.pid_3 = f"{data['patient']}^^^IMIAS^PI"
        message.pid.pid_5 = "Иванова^Анна"
        return [
            Message(
                audience=rig.audience, kind="adt.a31", content_type="x-application/hl7-v2+er7",
                body=hl7.encode(message), patient_id=data["patient"],
                message_id=hl7.control_id(message),
            )
        ]  # fmt: skip

    rig.router = Router()
    rig.router.route(TOPIC, hl7_message)
    rig.relay.sinks[:] = [rig.router]
    rig.start()
    for n in range(3):
        await rig.emit(42, n)
    await eventually(lambda: _states_are(rig, {"delivered": 3}), 15, "3 delivered")
    got = receiver.store.snapshot()
    assert [m.order_key for m in got] == ["42"] * 3
    assert receiver.store.stats["failed"] == 2
    assert "Иванова" in got[0].body
    await receiver.stop()


async def test_a_routing_bug_is_kept_and_the_relay_goes_on(rig: Rig) -> None:
    receiver = HttpReceiver()
    await receiver.start()
    await rig.add_partner(receiver.url)
    rig.start()
    await rig.emit(1, 0, explode=True)
    await rig.emit(1, 1)
    await eventually(lambda: _states_are(rig, {"delivered": 1}), 10, "the good one")
    failures = await rig.pool.fetch(
        "SELECT topic, error FROM routing_failures WHERE resolved_at IS NULL"
        " AND convert_from(payload, 'UTF8') LIKE '%' || $1 || '%'",
        rig.partner_id,
    )
    assert [f["topic"] for f in failures] == [TOPIC]
    assert "a handler's bug" in failures[0]["error"]
    await receiver.stop()


async def test_a_batch_with_a_bad_event_routes_the_others_and_keeps_the_bad_one(rig: Rig) -> None:
    """The router takes a batch under one savepoint; when a handler raises, the batch
    is routed again one event at a time, so the others still go and nothing doubles."""
    await rig.add_partner("http://127.0.0.1:9/")
    base = uuid.uuid4().int % 10**12 + 10**13  # outbox ids no other test uses

    def row(n: int, **extra: object) -> dict[str, object]:
        body = {"audience": rig.audience, "patient": 7, "n": n, **extra}
        payload = json.dumps(body).encode()
        return {"id": base + n, "clinic_id": 0, "topic": TOPIC, "payload": payload}

    batch = [row(0), row(1, explode=True), row(2), {**row(3), "topic": "not.routed"}]
    async with rig.pool.acquire() as conn, conn.transaction():
        await rig.router(conn, batch)
    queued = await rig.pool.fetch(
        "SELECT body FROM deliveries WHERE partner_id = $1 ORDER BY id", rig.partner_id
    )
    assert [json.loads(r["body"])["n"] for r in queued] == [0, 2]
    failed = await rig.pool.fetch(
        "SELECT outbox_id FROM routing_failures WHERE outbox_id BETWEEN $1 AND $1 + 3", base
    )
    assert [r["outbox_id"] for r in failed] == [base + 1]
    assert (rig.router.routed, rig.router.failed) == (2, 1)


def test_backoff_grows_to_its_cap_with_jitter() -> None:
    import random

    rng = random.Random(1)
    delays = [backoff(n, 100, 1600, rng) for n in range(1, 9)]
    for n, d in enumerate(delays, start=1):
        full = min(1600, 100 * 2 ** (n - 1)) / 1000
        assert full / 2 <= d <= full
    assert len({round(backoff(3, 100, 1600, rng), 6) for _ in range(20)}) > 1  # jittered


async def test_an_inbound_message_is_answered_once(pool: asyncpg.Pool) -> None:
    inbound = Inbound(pool, SECRET)
    partner_id = f"in-{uuid.uuid4().hex[:8]}"
    await repo.save_partner(
        pool,
        Partner(id=partner_id, kind="ambulance_dispatch", name="d", transport="http", url=None,
                topics=[]),
    )  # fmt: skip
    body = b'{"call": "1"}'
    headers = signed_headers(partner_secret(SECRET, partner_id), "msg-1", body)
    partner, message_id = await inbound.authenticate(partner_id, body, headers)
    assert message_id == "msg-1"
    calls = 0

    async def handle(conn: Connection) -> Answer:
        nonlocal calls
        calls += 1
        return Answer(201, b'{"ok": 1}', "application/json")

    async with pool.acquire() as conn:
        first = await inbound.once(conn, partner.id, message_id, "call", handle)
        second = await inbound.once(conn, partner.id, message_id, "call", handle)
    assert (first.status, first.replayed) == (201, False)
    assert (second.status, second.body, second.replayed) == (201, b'{"ok": 1}', True)
    assert calls == 1
    from imias.platform.problems import ProblemError

    with pytest.raises(ProblemError) as bad:
        await inbound.authenticate(partner_id, body + b" ", headers)
    assert bad.value.code == "bad_signature"
    with pytest.raises(ProblemError) as unknown:
        await inbound.authenticate("nobody-here", body, headers)
    assert unknown.value.code == "unknown_partner"
