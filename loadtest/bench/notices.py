"""``imias bench notices``: patients' notices through the notification service to an SMS
gateway: how many a second the router turns into SMS deliveries (the patient's
preference read, the text rendered, the delivery queued, in the relay's transaction),
and how many a second one SMS gateway partner's worker sends (``imias simulate sms`` as
a separate process, answering as SMS.ru does).

``--count`` notices (sign-in codes to as many numbers) are written to the outbox first,
then routed by the outbox relay with the integrations' router (the relay's batches, as
the app runs it), then sent by one :class:`~integrations.delivery.DeliveryWorker`
with ``--concurrency``. In a scratch database of its own (``imias_bench_notices``,
made on the given server, migrated, dropped after). One JSON line each (``write``,
``route``, ``send``). Timings are a benchmark, never a test assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import redis.asyncio as aioredis

from imias.platform.db import app_url
from imias.platform.notices import NOTICE_TOPIC, Notice, write_notice
from imias.platform.outbox import OutboxRelay
from imias.platform.settings import load_settings
from integrations import DeliveryWorker, NoticeRouter, Partner, Router, save_partner
from loadtest.machine import describe
from loadtest.report import print_line, progress

SCRATCH = "imias_bench_notices"
WHO = "bench notices"
PARTNER = "bench-sms"


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


async def _scratch(admin_url: str, redis_url: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{SCRATCH}"')
    finally:
        await conn.close()
    url = urlunsplit(urlsplit(admin_url)._replace(path="/" + SCRATCH))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    environ |= {"IMIAS_DATABASE_URL": url, "IMIAS_REDIS_URL": redis_url}
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "imias.cli", "migrate"], env=environ,
        capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"imias migrate failed: {done.stderr[-2000:]}")
    return url


def _spawn(port: int, environ: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """``imias simulate sms`` as a process of its own (any api_id)."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "imias.cli", "simulate", "sms", "--port", str(port)],
            env=environ, stdout=log, stderr=log,
        )  # fmt: skip


async def _until(pool: asyncpg.Pool, sql: str, count: int) -> None:
    """Poll until the count is reached (the relay and the worker run in this loop)."""
    while True:
        if await pool.fetchval(sql) >= count:
            return
        await asyncio.sleep(0.02)


async def run(options: argparse.Namespace, admin_url: str, redis_url: str) -> None:
    url = await _scratch(admin_url, redis_url)
    redis = aioredis.from_url(redis_url)
    port = _free_port()
    folder = Path(tempfile.mkdtemp(prefix="imias-bench-notices-"))
    environ = {k: v for k, v in os.environ.items() if not k.startswith("IMIAS_")}
    gateway = await asyncio.to_thread(_spawn, port, environ, folder / "gateway.log")
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        async with httpx.AsyncClient(timeout=1) as client:
            for _ in range(300):
                try:
                    await client.get(f"http://127.0.0.1:{port}/_stats")
                    break
                except httpx.HTTPError:
                    await asyncio.sleep(0.1)
        await save_partner(pool, Partner(
            id=PARTNER, kind="sms_gateway", name="bench", transport="sms",
            url=f"http://127.0.0.1:{port}/sms/send", topics=["notice.sms"],
            concurrency=options.concurrency,
        ))  # fmt: skip
        print_line({"workload": "machine", **describe()})
        n = options.count
        progress(WHO, f"writing {n} notices")
        started = time.perf_counter()
        for first in range(0, n, 500):
            async with pool.acquire() as conn, conn.transaction():
                for i in range(first, min(n, first + 500)):
                    notice = Notice(kind="sign_in_code", phone=f"+7916{1_000_001 + i:07d}",
                                    params={"code": f"{i % 10**6:06d}", "purpose": "sign_in"},
                                    urgent=True)  # fmt: skip
                    await write_notice(conn, notice)
        wrote = time.perf_counter() - started
        print_line({"workload": "notices write", "count": n, "per_second": round(n / wrote)})
        progress(WHO, "routing")
        router = Router()
        router.route(NOTICE_TOPIC, NoticeRouter(load_settings({})))
        relay = OutboxRelay(app_url(url), redis, stream="imias:bench:notices", poll_interval=0.05,
                            lock_retry=0.1, max_backoff=0.2, lock_key=0x6E6F74)  # fmt: skip
        relay.add_sink(router)
        started = time.perf_counter()
        relay.start()
        await _until(pool, "SELECT count(*) FROM deliveries", n)
        routed = time.perf_counter() - started
        await relay.stop()
        print_line({"workload": "notices route", "count": n, "per_second": round(n / routed)})
        progress(WHO, f"sending with concurrency {options.concurrency}")
        worker = DeliveryWorker(app_url(url), PARTNER, lambda _: "any", interval=0.05)
        started = time.perf_counter()
        worker.start()
        await _until(pool, "SELECT count(*) FROM deliveries WHERE status <> 'pending'", n)
        sent = time.perf_counter() - started
        await worker.stop()
        async with httpx.AsyncClient(timeout=5) as client:
            stats: dict[str, Any] = (await client.get(f"http://127.0.0.1:{port}/_stats")).json()
        print_line({"workload": "notices send", "count": n, "per_second": round(n / sent),
                    "concurrency": options.concurrency, "gateway": stats})  # fmt: skip
    finally:
        await pool.close()
        gateway.terminate()
        gateway.wait(10)
        await redis.aclose()
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{SCRATCH}" WITH (FORCE)')
        finally:
            await admin.close()


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="imias bench notices", description=__doc__)
    parser.add_argument("--database-url", default=None, help="a server where the bench may "
                        "make its scratch database (default: IMIAS_DATABASE_URL, else the "
                        "embedded one)")  # fmt: skip
    parser.add_argument("--redis-url", default=None, help="default: IMIAS_REDIS_URL, else the "
                        "embedded one")  # fmt: skip
    parser.add_argument("--count", type=int, default=5000, help="notices")
    parser.add_argument("--concurrency", type=int, default=8, help="the gateway's concurrency")
    parser.add_argument("--quick", action="store_true", help="a smoke run (500 notices)")
    options = parser.parse_args(argv)
    if options.quick:
        options.count = min(options.count, 500)
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
        asyncio.run(run(options, admin_url, redis_url))
    finally:
        if redis_server is not None:
            redis_server.stop()
        if embedded is not None:
            embedded.stop()
    return 0
