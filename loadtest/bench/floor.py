"""``imias bench floor``: the most bookings per second this machine gives any Python
server on asyncpg and PostgreSQL, to read ``imias bench booking``'s figure against.

It serves :mod:`loadtest.bench.floor_app` (a bare ASGI app: no framework, no rules, no
engine, no audit, no outbox) with granian on the given database, in a scratch schema
dropped afterwards, and drives it with the booking bench's own load client: concurrent
clients each doing search, hold and confirm, as ``imias bench booking`` does. Once
for each shape of the writes: ``statement`` (one statement each, two round trips to
PostgreSQL a booking) and ``transaction`` (IMIAS's round trips: BEGIN, the patient's
row locked, the write, COMMIT; eight a booking). One JSON line per workload on
stdout; the figures are this machine's, measured in this process.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from loadtest.bench.database import run_on_database
from loadtest.bench.floor_app import SHAPES, tables
from loadtest.client import Connection, TransportError
from loadtest.machine import cpu_snapshot, describe
from loadtest.report import cpu_per, ms, percentile, print_line
from loadtest.served import answers, child_session, free_port

ROUND_TRIPS = {"statement": 2, "transaction": 8}
START_SECONDS = 60.0
FLOOR_STOP_SECONDS = 15.0  # nothing to drain: the bench has stopped its clients


class FloorError(RuntimeError):
    """The floor's server did not start, or the database refused the scratch schema."""


def log(message: str) -> None:
    print(f"[bench floor] {message}", file=sys.stderr, flush=True)


@dataclass
class Tally:
    """What the clients of one workload got."""

    latencies: list[float] = field(default_factory=list)  # a whole booking's, seconds
    refused: dict[str, int] = field(default_factory=dict)
    failed: int = 0

    def refuse(self, step: str, status: int) -> None:
        key = f"{step}:{status}"
        self.refused[key] = self.refused.get(key, 0) + 1


async def _book(client: Connection, patient_id: int, tally: Tally) -> None:
    began = time.perf_counter()
    found = await client.get("/search")
    if found.status_code != 200:
        return tally.refuse("search", found.status_code)
    slot = found.json()[0]
    held = await client.post("/hold", json={**slot, "patient_id": patient_id})
    if held.status_code != 200:
        return tally.refuse("hold", held.status_code)
    token = held.json()["token"]
    booked = await client.post("/confirm", json={"token": token, "patient_id": patient_id})
    if booked.status_code != 200:
        return tally.refuse("confirm", booked.status_code)
    tally.latencies.append(time.perf_counter() - began)


async def _client(client: Connection, patient_id: int, until: float, tally: Tally) -> None:
    """Book until ``until``; a booking begun before it is finished (and counted)."""
    while time.perf_counter() < until:
        try:
            await _book(client, patient_id, tally)
        except (TransportError, ValueError, KeyError, IndexError):
            tally.failed += 1


@contextmanager
def floor_served(database_url: str, schema: str, shape: str, workers: int) -> Iterator[str]:
    """granian serving the floor app with ``shape``; its base URL once it answers. It is
    stopped on leaving, also when this process gets SIGTERM (as ``served`` does)."""
    port = free_port()
    env = dict(os.environ)
    env |= {"FLOOR_DATABASE_URL": database_url, "FLOOR_SCHEMA": schema, "FLOOR_SHAPE": shape}
    command = [
        sys.executable, "-m", "granian", "--interface", "asgi", "--workers", str(workers),
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-ws",
        "loadtest.bench.floor_app:app",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    with child_session(command, env, subprocess.DEVNULL, FLOOR_STOP_SECONDS) as process:
        deadline = time.monotonic() + START_SECONDS
        while not answers(url + "/search", timeout=2):
            if process.poll() is not None or time.monotonic() > deadline:
                raise FloorError(f"the floor's server did not answer at {url} (shape {shape})")
            time.sleep(0.2)
        yield url


async def measure(
    url: str, shape: str, concurrency: int, duration: float, conn: asyncpg.Connection, schema: str
) -> dict[str, Any]:
    """One workload against the floor at ``url``: its JSON line."""
    clients = [Connection(url) for _ in range(concurrency)]
    try:
        warm = Tally()  # connections made and statements prepared before the count
        await asyncio.gather(*(_book(c, i, warm) for i, c in enumerate(clients)))
        await conn.execute(f"TRUNCATE {schema}.slots")
        tally = Tally()
        before = cpu_snapshot()
        began = time.perf_counter()
        until = began + duration
        await asyncio.gather(*(_client(c, i, until, tally) for i, c in enumerate(clients)))
        seconds = time.perf_counter() - began
        after = cpu_snapshot()
    finally:
        for client in clients:
            await client.aclose()
    ok = len(tally.latencies)
    in_database = await conn.fetchval(
        f"SELECT count(*) FROM {schema}.slots WHERE status = 'booked'"
    )
    return {
        "workload": f"floor_{shape}",
        "per_second": round(ok / seconds, 1),
        "p50_ms": ms(percentile(tally.latencies, 50)),
        "p99_ms": ms(percentile(tally.latencies, 99)),
        "ok": ok,
        "booked_in_database": in_database,
        "refused": tally.refused,
        "failed": tally.failed,
        "seconds": round(seconds, 2),
        "concurrency": concurrency,
        "round_trips_per_booking": ROUND_TRIPS[shape],
        **cpu_per(before, after, ok, "cpu_ms_per_booking"),
    }


async def make_scratch(conn: asyncpg.Connection, concurrency: int) -> str:
    """A scratch schema of the floor's tables; its name (drop it with
    :func:`drop_scratch`)."""
    schema = f"imias_floor_{os.getpid()}"
    try:
        for statement in tables(schema, concurrency):
            await conn.execute(statement)
    except asyncpg.PostgresError as exc:
        raise FloorError(f"cannot make the scratch schema {schema}: {exc}") from None
    return schema


async def drop_scratch(conn: asyncpg.Connection, schema: str) -> None:
    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


async def measure_shape(
    database_url: str,
    conn: asyncpg.Connection,
    schema: str,
    shape: str,
    *,
    concurrency: int,
    duration: float,
    workers: int,
) -> dict[str, Any]:
    """Serve the floor in ``shape`` and measure it: its JSON line (``imias bench booking
    --floor`` calls this beside its own workloads)."""
    log(f"{shape}: {concurrency} clients for {duration:g}s")
    with floor_served(database_url, schema, shape, workers) as url:
        return await measure(url, shape, concurrency, duration, conn, schema)


async def run(args: argparse.Namespace, database_url: str) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    lines: list[dict[str, Any]] = []
    try:
        schema = await make_scratch(conn, args.concurrency)
        try:
            for shape in args.shapes:
                line = await measure_shape(
                    database_url,
                    conn,
                    schema,
                    shape,
                    concurrency=args.concurrency,
                    duration=args.duration,
                    workers=args.workers,
                )
                if not lines:
                    line["machine"] = describe()
                elif lines[0]["per_second"] and line["per_second"]:
                    # How many times the first shape's bookings/s (statement: two round trips).
                    line["ratio"] = round(lines[0]["per_second"] / line["per_second"], 2)
                lines.append(line)
                print_line(line)
        finally:
            await drop_scratch(conn, schema)
    finally:
        await conn.close()
    return lines


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imias bench floor",
        description="The most bookings per second this machine gives a bare Python server "
        "on asyncpg and PostgreSQL (no framework, no rules), for each shape of the writes; "
        "one JSON line per workload on stdout.",
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="a database to make a scratch schema in (default: IMIAS_DATABASE_URL, else the "
        "embedded one under IMIAS_DATA_DIR)",
    )
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load a shape")
    parser.add_argument("--workers", type=int, default=2, help="the server's worker processes")
    parser.add_argument(
        "--shape",
        dest="shapes",
        action="append",
        choices=SHAPES,
        help="the shape(s) to measure (default: both)",
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    args.shapes = args.shapes or list(SHAPES)
    if args.quick:
        args.duration, args.concurrency = min(args.duration, 2.0), min(args.concurrency, 8)
    if args.concurrency < 1 or args.duration <= 0 or args.workers < 1:
        print("bench floor: concurrency >= 1, duration > 0, workers >= 1", file=sys.stderr)
        return 2
    try:
        run_on_database(args.database_url, lambda url: run(args, url))
    except FloorError as exc:
        print(f"bench floor: {exc}", file=sys.stderr)
        return 1
    except (OSError, asyncpg.PostgresError) as exc:  # refused, unknown database, no rights
        print(f"bench floor: cannot use the database: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
