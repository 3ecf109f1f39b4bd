"""``imias bench deliveries``: messages through ONE partner's delivery worker to a
receiver, the lag from an event's commit to its arrival, and an outage under a steady
flow.

The receiver is the simulator as a separate process (``imias simulate webhook``,
checking every signature, keeping what it got in a journal); the events are written
through the real outbox (``write_event`` in their own transactions), published by the
outbox relay with the integrations' router on it, and sent by one
:class:`~integrations.delivery.DeliveryWorker`, all in this process as the app runs
them. The bench works in a scratch database of its own (``imias_bench_deliveries``,
made on the given server, migrated, dropped after): its relay publishes every
unpublished event of the database it runs on, which must not be a served one.

One JSON line each (:mod:`loadtest.report`):

- ``baseline``: the same signed POSTs sent straight to the receiver by an HTTP client
  with the worker's concurrency, no database: the most the receiver and the client give
  on this machine;
- ``backlog``: ``--backlog`` messages queued while the partner is away (its worker
  stopped), then drained by its worker: messages a second, and the ratio to
  ``baseline``;
- ``flow``: events written as fast as one writer commits them for ``--flow-seconds``,
  the worker sending as they come: events and messages a second;
- ``lag``: ``--rate`` events a second for ``--lag-seconds`` on a schedule; the lag from
  each event's commit to its arrival at the receiver, p50/p95/p99;
- ``outage`` (with ``--outage SECONDS``): a steady ``--rate`` flow; the receiver is
  killed (SIGKILL) for that long and started again on its port; the time from its
  return until nothing is pending, and the check: every message arrived once (after
  the receiver's deduplication), in order per patient, none pending, none dead
  (``"lost": 0, "doubled": 0, "out_of_order": 0, "passed": true``). The partner backs
  off as configured (``--backoff-ms``, ``--backoff-cap-ms``: the defaults are a
  partner's, 1 s and 5 min), so the time to drain includes the wait for the next probe.

``--quick`` makes every part short. Timings are a benchmark, never a test assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import redis.asyncio as aioredis

from imias.platform.db import Connection, app_url
from imias.platform.outbox import OutboxRelay, write_event
from integrations import (
    DeliveryWorker,
    Event,
    Message,
    Partner,
    Router,
    partner_secret,
    save_partner,
    signed_headers,
)
from loadtest.machine import describe
from loadtest.report import ms, percentile, print_line, progress

TOPIC = "bench.delivery"
#: Every partner of the bench signs with one secret, the receiver's.
SECRET = partner_secret("imias-bench-deliveries-deployment-secret", "bench")
SCRATCH = "imias_bench_deliveries"
WHO = "bench deliveries"


def _with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _to_messages(conn: Connection, event: Event) -> list[Message]:
    data = json.loads(event.payload)
    return [
        Message(
            audience=data["audience"], kind="bench.note", content_type="application/json",
            body=event.payload, patient_id=data["patient"],
        )
    ]  # fmt: skip


class Receiver:
    """``imias simulate webhook`` as a process."""

    def __init__(self, secret: str, folder: Path) -> None:
        self.port, self.secret, self.folder = _free_port(), secret, folder
        self.journal = folder / "journal.jsonl"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return self.base + "/messages"

    def _spawn(self) -> subprocess.Popen[bytes]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
        environ["IMIAS_SIMULATE_SECRET"] = self.secret
        args = [sys.executable, "-m", "imias.cli", "simulate", "webhook", "--port"]
        args += [str(self.port), "--journal", str(self.journal)]
        with open(self.folder / "receiver.log", "ab") as log:
            return subprocess.Popen(args, env=environ, stdout=log, stderr=log)

    async def start(self) -> None:
        self.process = await asyncio.to_thread(self._spawn)
        async with httpx.AsyncClient(timeout=1) as client:
            for _ in range(600):
                if self.process.poll() is not None:
                    raise RuntimeError("the receiver exited: see receiver.log")
                try:
                    if (await client.get(self.base + "/_stats")).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError("the receiver did not answer")

    def kill(self) -> None:
        if self.process is not None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None

    async def get(self, path: str) -> Any:
        async with httpx.AsyncClient(timeout=60) as client:
            answer = await client.get(self.base + path)
            answer.raise_for_status()
            return answer.json()

    async def reset(self) -> None:
        async with httpx.AsyncClient(timeout=10) as client:
            (await client.post(self.base + "/_reset")).raise_for_status()


class Bench:
    def __init__(self, options: argparse.Namespace, url: str, redis: aioredis.Redis) -> None:
        self.options, self.url, self.redis = options, url, redis
        self.pool: asyncpg.Pool | None = None
        self.relay: OutboxRelay | None = None
        self.worker: DeliveryWorker | None = None
        self.partner_id = ""
        self.audience = ""

    @property
    def db(self) -> asyncpg.Pool:
        assert self.pool is not None
        return self.pool

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(self.url, min_size=2, max_size=8)
        router = Router()
        router.route(TOPIC, _to_messages)
        self.relay = OutboxRelay(
            app_url(self.url),
            self.redis,
            stream=f"bench:deliveries:{uuid.uuid4().hex[:8]}",
            lock_key=int.from_bytes(os.urandom(4), "big"),
        )  # fmt: skip
        # otherwise as the app runs it: woken by NOTIFY at each commit
        self.relay.add_sink(router)
        self.relay.start()

    async def close(self) -> None:
        await self.stop_worker()
        if self.relay is not None:
            await self.relay.stop()
        if self.pool is not None:
            await self.pool.close()

    async def new_partner(self, receiver: Receiver, **options: int) -> str:
        """A partner of its own (its own audience) for one part, sending to ``receiver``."""
        self.partner_id = f"bench-{uuid.uuid4().hex[:10]}"
        self.audience = f"bench.{self.partner_id}"
        values = {"concurrency": self.options.concurrency, "timeout_ms": 5000} | options
        await save_partner(
            self.db,
            Partner(
                id=self.partner_id, kind="hl7_feed", name="bench", transport="http",
                url=receiver.url, topics=[self.audience], **values,
            ),
        )  # fmt: skip
        return self.partner_id

    def start_worker(self) -> None:
        def secret_of(p: Partner) -> str:
            return SECRET

        self.worker = DeliveryWorker(app_url(self.url), self.partner_id, secret_of, interval=0.5)
        self.worker.lock_retry = 0.2
        self.worker.start()

    async def stop_worker(self) -> None:
        if self.worker is not None:
            await self.worker.stop()
            self.worker = None

    async def emit(self, patient: int, n: int, seq: int) -> float:
        """One event in its own transaction; the wall-clock time of its commit."""
        body = {"audience": self.audience, "patient": patient, "n": n, "seq": seq}
        async with self.db.acquire() as conn:
            async with conn.transaction():
                await write_event(conn, topic=TOPIC, payload=json.dumps(body).encode())
            return time.time()

    async def counts(self) -> dict[str, int]:
        rows = await self.db.fetch(
            "SELECT status, count(*) FROM deliveries WHERE partner_id = $1 GROUP BY status",
            self.partner_id,
        )
        return {r["status"]: r["count"] for r in rows}

    async def wait_for(self, status: str, total: int, within: float) -> float:
        """Seconds until ``total`` of the partner's messages have ``status``."""
        started = time.monotonic()
        while True:
            counts = await self.counts()
            if counts.get(status, 0) >= total:
                return time.monotonic() - started
            if counts.get("dead"):
                raise RuntimeError(f"messages are dead: {counts}")
            if time.monotonic() - started > within:
                raise RuntimeError(f"{total} {status} not reached in {within:.0f} s: {counts}")
            await asyncio.sleep(0.02)


async def _baseline(receiver: Receiver, count: int, concurrency: int) -> dict[str, Any]:
    """Signed POSTs straight to the receiver, ``concurrency`` at once."""
    secret = receiver.secret
    gate = asyncio.Semaphore(concurrency)
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=10, limits=limits) as client:

        async def one(i: int) -> None:
            body = json.dumps({"patient": i % 200, "n": i}).encode()
            headers = signed_headers(secret, str(uuid.uuid4()), body)
            headers["content-type"] = "application/json"
            async with gate:
                (await client.post(receiver.url, content=body, headers=headers)).raise_for_status()

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(count)))
        took = time.monotonic() - started
    return {"workload": "baseline", "per_second": round(count / took, 1), "count": count}


async def _backlog(bench: Bench, receiver: Receiver, count: int, patients: int) -> dict[str, Any]:
    await bench.new_partner(receiver)
    for i in range(count):
        await bench.emit(1 + i % patients, i // patients, i)
    await bench.wait_for("pending", count, 300)  # routed into the queue, none sent yet
    bench.start_worker()
    took = await bench.wait_for("delivered", count, 600)
    await bench.stop_worker()
    return {
        "workload": "backlog", "per_second": round(count / took, 1), "count": count,
        "patients": patients, "seconds": round(took, 2),
    }  # fmt: skip


async def _flow(bench: Bench, receiver: Receiver, seconds: float, patients: int) -> dict[str, Any]:
    await bench.new_partner(receiver)
    bench.start_worker()
    started, i = time.monotonic(), 0
    while time.monotonic() - started < seconds:
        await bench.emit(1 + i % patients, i // patients, i)
        i += 1
    wrote = time.monotonic() - started
    drained = await bench.wait_for("delivered", i, 600)
    await bench.stop_worker()
    return {
        "workload": "flow", "per_second": round(i / (wrote + drained), 1),
        "events_per_second": round(i / wrote, 1), "count": i, "patients": patients,
        "drained_after_s": round(drained, 2),
    }  # fmt: skip


async def _steady(bench: Bench, rate: float, seconds: float, patients: int) -> dict[int, float]:
    """``rate`` events a second on a schedule for ``seconds``: seq -> commit time."""
    committed: dict[int, float] = {}
    started = time.monotonic()
    i = 0
    while True:
        due = started + i / rate
        if due - started >= seconds:
            break
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        committed[i] = await bench.emit(1 + i % patients, i // patients, i)
        i += 1
    return committed


async def _lag(
    bench: Bench, receiver: Receiver, rate: float, seconds: float, patients: int
) -> dict[str, Any]:
    await receiver.reset()
    await bench.new_partner(receiver)
    bench.start_worker()
    committed = await _steady(bench, rate, seconds, patients)
    await bench.wait_for("delivered", len(committed), 120)
    await bench.stop_worker()
    lags = []
    for m in await receiver.get("/_received"):
        body = json.loads(m["body"])
        if body.get("audience") == bench.audience:
            at = datetime.fromisoformat(m["received_at"]).timestamp()
            lags.append(at - committed[body["seq"]])
    return {
        "workload": "lag", "rate": rate, "count": len(lags),
        "p50_ms": ms(percentile(lags, 50)), "p95_ms": ms(percentile(lags, 95)),
        "p99_ms": ms(percentile(lags, 99)), "max_ms": ms(max(lags) if lags else None),
    }  # fmt: skip


async def _outage(
    bench: Bench, receiver: Receiver, outage: float, rate: float, patients: int
) -> dict[str, Any]:
    o = bench.options
    await receiver.reset()
    await bench.new_partner(
        receiver, backoff_ms=o.backoff_ms, backoff_cap_ms=o.backoff_cap_ms, timeout_ms=2000
    )
    bench.start_worker()
    before, after = (2.0, 2.0) if o.quick else (10.0, 10.0)
    flow = asyncio.create_task(_steady(bench, rate, before + outage + after, patients))
    await asyncio.sleep(before)
    receiver.kill()
    progress(WHO, f"outage: the receiver is down for {outage:.0f} s")
    await asyncio.sleep(outage)
    failing = await bench.db.fetchval(
        "SELECT failing_since IS NOT NULL FROM partners WHERE id = $1", bench.partner_id
    )
    pending_at_return = (await bench.counts()).get("pending", 0)
    await receiver.start()
    returned = time.monotonic()
    progress(WHO, f"outage: the receiver is back, {pending_at_return} messages pending")
    committed = await flow
    total = len(committed)
    told = returned
    while True:
        states = await bench.counts()
        if states.get("pending", 0) == 0 and sum(states.values()) >= total:
            break
        if time.monotonic() - told >= 15:
            told = time.monotonic()
            progress(WHO, f"outage: {time.monotonic() - returned:.0f} s after the return: {states}")
        if time.monotonic() - returned > max(900.0, 3 * o.backoff_cap_ms / 1000):
            break
        await asyncio.sleep(0.05)
    drained = time.monotonic() - returned
    await bench.stop_worker()
    received = [
        m for m in await receiver.get("/_received")
        if json.loads(m["body"]).get("audience") == bench.audience
    ]  # fmt: skip
    got: dict[int, list[int]] = defaultdict(list)
    for m in received:
        body = json.loads(m["body"])
        got[body["patient"]].append(body["n"])
    emitted: dict[int, int] = defaultdict(int)
    for i in committed:
        emitted[1 + i % patients] += 1
    seen = {(p, n) for p, ns in got.items() for n in ns}
    lost = sum(1 for p, c in emitted.items() for n in range(c) if (p, n) not in seen)
    doubled = len(received) - len(seen)
    out_of_order = sum(1 for ns in got.values() for a, b in zip(ns, ns[1:], strict=False) if b < a)
    stats = await receiver.get("/_stats")
    states = await bench.counts()
    passed = (
        lost == 0 and doubled == 0 and out_of_order == 0
        and states.get("pending", 0) == 0 and states.get("dead", 0) == 0
        and states.get("delivered", 0) == total
    )  # fmt: skip
    return {
        "workload": "outage", "outage_s": outage, "rate": rate, "count": total,
        "patients": patients, "failing_seen": bool(failing),
        "pending_at_return": pending_at_return, "drain_s": round(drained, 2),
        "backoff_ms": o.backoff_ms, "backoff_cap_ms": o.backoff_cap_ms,
        "received": len(received), "lost": lost, "doubled": doubled,
        "out_of_order": out_of_order, "receiver_duplicates": stats.get("duplicates"),
        "pending": states.get("pending", 0), "dead": states.get("dead", 0),
        "passed": passed,
    }  # fmt: skip


async def _scratch(admin_url: str, redis_url: str) -> str:
    """The scratch database, made anew and migrated (by ``imias migrate``: the bench
    stays outside the product's composition)."""
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{SCRATCH}"')
    finally:
        await conn.close()
    url = _with_database(admin_url, SCRATCH)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    environ |= {"IMIAS_DATABASE_URL": url, "IMIAS_REDIS_URL": redis_url}
    done = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "imias.cli", "migrate"],
        env=environ,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"imias migrate failed: {done.stderr[-2000:]}")
    return url


async def _drop(admin_url: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')
    finally:
        await conn.close()


async def run(options: argparse.Namespace, admin_url: str, redis_url: str) -> bool:
    url = await _scratch(admin_url, redis_url)
    redis = aioredis.from_url(redis_url)
    bench = Bench(options, url, redis)
    passed = True
    with tempfile.TemporaryDirectory(prefix="imias-bench-deliveries-") as folder:
        receiver = Receiver(SECRET, Path(folder))
        try:
            await receiver.start()
            await bench.open()
            print_line({"workload": "machine", **describe()})
            line = await _baseline(receiver, options.backlog, options.concurrency)
            print_line(line)
            baseline = line["per_second"]
            progress(WHO, f"backlog of {options.backlog}")
            line = await _backlog(bench, receiver, options.backlog, options.patients)
            print_line(line | {"ratio": round(line["per_second"] / baseline, 3)})
            progress(WHO, f"flow for {options.flow_seconds} s")
            print_line(await _flow(bench, receiver, options.flow_seconds, options.patients))
            progress(WHO, f"lag at {options.rate}/s for {options.lag_seconds} s")
            line = await _lag(bench, receiver, options.rate, options.lag_seconds, options.patients)
            print_line(line)
            if options.outage:
                line = await _outage(
                    bench, receiver, options.outage, options.outage_rate, options.outage_patients
                )
                print_line(line)
                passed = bool(line["passed"])
        finally:
            await bench.close()
            receiver.stop()
            await redis.aclose()
            await _drop(admin_url)
    return passed


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="imias bench deliveries", description=__doc__)
    parser.add_argument("--database-url", default=None, help="a server where the bench may "
                        "make its scratch database (default: IMIAS_DATABASE_URL, else the "
                        "embedded one)")  # fmt: skip
    parser.add_argument("--redis-url", default=None, help="default: IMIAS_REDIS_URL, else the "
                        "embedded one")  # fmt: skip
    parser.add_argument("--backlog", type=int, default=5000, help="messages drained")
    parser.add_argument("--patients", type=int, default=200, help="patients they are round")
    parser.add_argument("--concurrency", type=int, default=8, help="the partner's concurrency")
    parser.add_argument("--flow-seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=50.0, help="events a second (lag)")
    parser.add_argument("--lag-seconds", type=float, default=30.0)
    parser.add_argument("--outage", type=float, default=0.0, help="seconds the receiver is "
                        "down under a steady flow (0: no outage part)")  # fmt: skip
    parser.add_argument("--outage-rate", type=float, default=10.0, help="events a second "
                        "during the outage part")  # fmt: skip
    parser.add_argument("--outage-patients", type=int, default=20, help="patients of the "
                        "outage's flow (each gets many: their order is checked)")  # fmt: skip
    parser.add_argument("--backoff-ms", type=int, default=1000)
    parser.add_argument("--backoff-cap-ms", type=int, default=300_000)
    parser.add_argument("--quick", action="store_true", help="short parts (a smoke run)")
    options = parser.parse_args(argv)
    if options.quick:
        options.backlog = min(options.backlog, 500)
        options.flow_seconds = min(options.flow_seconds, 3.0)
        options.lag_seconds = min(options.lag_seconds, 5.0)
        if options.outage:
            options.outage = min(options.outage, 10.0)
            options.backoff_cap_ms = min(options.backoff_cap_ms, 2000)
    return options


def main(argv: list[str]) -> int:
    options = parse(argv)
    from imias.platform.embedded import EmbeddedRedis
    from loadtest.bench.database import database_url

    admin_url, embedded = database_url(options.database_url)
    redis_url = options.redis_url or os.environ.get("IMIAS_REDIS_URL")
    redis_server = None
    try:
        if redis_url is None:
            redis_server = EmbeddedRedis(Path(os.environ.get("IMIAS_DATA_DIR") or ".imias"))
            redis_url = redis_server.start()
        passed = asyncio.run(run(options, admin_url, redis_url))
    finally:
        if redis_server is not None:
            redis_server.stop()
        if embedded is not None:
            embedded.stop()
    return 0 if passed else 1
