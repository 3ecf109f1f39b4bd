"""``imias bench insights``: the dashboard's answer times against a served instance on a
seeded city (``imias seed --history-days N`` and ``imias insights rebuild``).

Each case is one page or JSON route in one scope, asked ``--requests`` times one after
the other (an answer's time, not a throughput): the page ``/admin`` for the city, a
district, a specialty and a clinic (as its head, with the city's totals beside), and
each JSON twin under ``/api/v1/insights`` for the city's 30 days. One JSON line per case
on stdout (:mod:`loadtest.report`), a table on stderr, then the aggregate tables' sizes.
The target this bench is read against: every p99 under a second on the full city with
history. Timings are a benchmark, never a test assertion.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import asyncpg
from rich.console import Console
from rich.table import Table

from imias.identity import Keys, server_secret
from imias.identity import tokens as identity_tokens
from loadtest.bench.database import add_served_options, run_on_database
from loadtest.client import Connection, TransportError
from loadtest.machine import describe
from loadtest.report import Stat, print_line, progress

HTTP_TIMEOUT = 60.0
TARGET_P99_MS = 1000.0
ROUTES = (
    "",
    "/earliest",
    "/earliest/specialties",
    "/served",
    "/load",
    "/load/days",
    "/channels",
    "/waits",
    "/refusals",
    "/map",
)
TABLES = (
    "insight_bookings",
    "insight_channels",
    "insight_load",
    "insight_waits",
    "insight_refusals",
    "insight_earliest",
    "insight_district_earliest",
)


def log(message: str) -> None:
    progress("bench insights", message)


def bearer(key: bytes, role: str, subject: int, **claims: Any) -> str:
    principal = identity_tokens.claims(role, subject, ttl=3600, **claims)  # type: ignore[arg-type]
    return identity_tokens.mint(key, principal)


async def _case(
    client: Connection, path: str, params: dict[str, Any], headers: dict[str, str], n: int
) -> Stat:
    stat = Stat()
    for _ in range(n):
        began = time.perf_counter()
        try:
            response = await client.request("GET", path, params=params, headers=headers)
        except TransportError as exc:
            stat.failed += 1
            stat.errors[type(exc).__name__] += 1
            continue
        took = time.perf_counter() - began
        if response.status_code == 200:
            stat.ok += 1
            stat.latencies.append(took)
        else:
            stat.failed += 1
            stat.errors[str(response.status_code)] += 1
    return stat


async def run_cases(
    args: argparse.Namespace,
    database_url: str,
    emit: Callable[[dict[str, Any]], None] = print_line,
) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url)
    client = Connection(args.url, timeout=HTTP_TIMEOUT)
    lines: list[dict[str, Any]] = []
    try:
        key = Keys.from_secret(server_secret()).token
        admin = {"Authorization": "Bearer " + bearer(key, "administrator", 1)}
        clinic = await conn.fetchval("SELECT id FROM clinics ORDER BY id LIMIT 1")
        district = await conn.fetchval("SELECT district FROM clinics ORDER BY id LIMIT 1")
        specialty = await conn.fetchval("SELECT code FROM specialties ORDER BY id LIMIT 1")
        head = {"Authorization": "Bearer " + bearer(key, "clinic_admin", 2, org=clinic)}
        last = await conn.fetchval("SELECT max(day) FROM insight_load") or None
        sizes = {t: await conn.fetchval(f"SELECT count(*) FROM {t}") for t in TABLES}  # noqa: S608
        city = {
            "patients": await conn.fetchval("SELECT count(*) FROM patients"),
            "clinics": await conn.fetchval("SELECT count(*) FROM clinics"),
        }
        log(f"city {city}; aggregates {sizes}; against {args.url}")
        period: dict[str, Any] = {}
        if last is not None:
            period = {
                "from": (last - timedelta(days=args.days - 1)).isoformat(),
                "to": last.isoformat(),
            }
        cases: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
            ("page city", "/admin", period, admin),
            ("page district", "/admin", {**period, "district": district}, admin),
            ("page specialty", "/admin", {**period, "specialty": specialty}, admin),
            ("page clinic head", "/admin", period, head),
        ]
        cases += [(f"json {r or '/'}", f"/api/v1/insights{r}", period, admin) for r in ROUTES]
        machine = describe()
        # one warm-up request each (the names' cache, the first connection)
        for _, path, params, headers in cases:
            await _case(client, path, params, headers, 1)
        for name, path, params, headers in cases:
            stat = await _case(client, path, params, headers, args.requests)
            line = stat.line(
                name,
                sum(stat.latencies) or 1.0,
                path=path,
                params=params,
                target_p99_ms=TARGET_P99_MS,
                city=city,
                aggregates=sizes,
                machine=machine if not lines else None,
            )
            line.pop("per_second", None)
            emit(line)
            lines.append(line)
        table = Table(title="imias bench insights: answer times (ms)")
        for column in ("case", "p50", "p99", "ok", "failed"):
            table.add_column(column, justify="left" if column == "case" else "right")
        for line in lines:
            table.add_row(
                line["workload"],
                str(line["p50_ms"]),
                str(line["p99_ms"]),
                str(line["ok"]),
                str(line["failed"]),
            )
        Console(stderr=True).print(table)
        return lines
    finally:
        await client.aclose()
        await conn.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imias bench insights",
        description="The dashboard's page and JSON routes against a served IMIAS on a seeded "
        "city; one JSON line per case on stdout, a table on stderr.",
    )
    add_served_options(parser)
    parser.add_argument("--requests", type=int, default=20, help="requests per case")
    parser.add_argument("--days", type=int, default=30, help="the period asked (days)")
    parser.add_argument("--quick", action="store_true", help="a few requests, for CI")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        args.requests = min(args.requests, 3)
    if args.requests < 1 or not 1 <= args.days <= 92:
        print("bench insights: --requests >= 1 and --days in 1..92", file=sys.stderr)
        return 2
    run_on_database(args.database_url, lambda url: run_cases(args, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
