"""``imias bench prescriptions``: the prescription's checks and signature in process, and
the pharmacy's counter over HTTP, on a city seeded with history (``imias seed
--history-days N`` signs its prescriptions with the server's secret).

One JSON line each (:mod:`loadtest.report`):

- ``encode``: the in-process baseline, :func:`prescriptions.rules.canonical` of one
  prescription's content (the bytes a signature covers), median and p99 in µs;
- ``checks``: :func:`prescriptions.rules.check` with the bundled catalogue for a patient
  with 20 active prescriptions and two allergies (target: under 1 ms), with its ratio
  to ``encode``;
- ``sign`` and ``verify``: Ed25519 through ``cryptography`` over the canonical bytes, as
  :class:`prescriptions.LocalAuthority` does, per second on one core;
- ``baseline``: the same HTTP clients asking for :data:`BASELINE_PATH` (public, from
  memory) as fast as the server answers, as ``imias bench booking`` does;
- ``scan``, ``dispense`` and ``dispensings``: ``--concurrency`` (32) pharmacists at
  once, each scanning a seeded prescription's QR code (``POST /api/v1/pharmacy/scans``)
  and dispensing one unit of its due period (``POST
  /api/v1/pharmacy/prescriptions/{id}/dispensings``) at pharmacy 1 (subsidised) as
  ``pharmacist.1``; ``dispensings`` is the two together, a second, with
  ``baseline_requests_per_dispensing``;
- ``dispensings_at_rate``: the same clients offered ``--rate`` (300) dispensings a
  second on a schedule, each timed from when it was due: the latency at that load
  (at saturation, closed-loop clients only measure their own queue: 32 clients at
  N a second wait 32/N seconds on average whatever the server does).

Targets (2 cores): checks p99 < 1 ms; at least 300 dispensings a second, and p99 < 30
ms at that rate.
Timings are a benchmark, never a test assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from imias.identity import Keys, server_secret
from loadtest.bench.database import add_served_options, run_on_database
from loadtest.bench.records import token_headers
from loadtest.client import Connection
from loadtest.machine import cpu_snapshot, describe
from loadtest.report import Stat, cpu_per, ms, percentile, print_line, progress
from loadtest.walk import timed
from prescriptions import Catalogue, PrescriptionIn, rules

HTTP_TIMEOUT = 15.0
BASELINE_PATH = "/api/v1/specialties"
SCAN_PATH = "/api/v1/pharmacy/scans"
DISPENSE_PATH = "/api/v1/pharmacy/prescriptions/{id}/dispensings"
TARGETS = {"checks_p99_us": 1000.0, "dispensings_p99_ms": 30.0, "dispensings_per_second": 300.0}
ACTIVE = 20  # the patient's other active prescriptions in ``checks``

# Seeded prescriptions with a unit left in the period due today (the city's day), in a
# random order of the seed; each is dispensed one unit at a time.
SQL_DUE = """
SELECT p.id, p.signature, pp.period, pp.quantity - pp.dispensed AS left
  FROM prescriptions p
  JOIN prescription_periods pp ON pp.patient_id = p.patient_id AND pp.prescription_id = p.id
 WHERE p.status = 'active' AND p.valid_until >= $1 AND pp.starts <= $1 AND pp.ends >= $1
   AND pp.dispensed < pp.quantity
 ORDER BY md5(p.id::text || $2::text)
 LIMIT $3
"""
SQL_PHARMACIST = """
SELECT id, organisation_id FROM staff_accounts WHERE username = 'pharmacist.1'
"""
SQL_TODAY = "SELECT (now() AT TIME ZONE 'Europe/Moscow')::date"


def log(message: str) -> None:
    progress("bench prescriptions", message)


def _timed(call: Callable[[], Any], rounds: int) -> list[float]:
    """The seconds each of ``rounds`` calls took (a warm-up tenth first, not counted)."""
    for _ in range(max(1, rounds // 10)):
        call()
    clock = time.perf_counter_ns
    out = []
    for _ in range(rounds):
        began = clock()
        call()
        out.append((clock() - began) / 1e9)
    return out


def _us(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1e6, 2)


def _micro_line(workload: str, took: list[float], **extra: Any) -> dict[str, Any]:
    total = sum(took)
    return {
        "workload": workload,
        "per_second": round(len(took) / total, 1) if total > 0 else None,
        "p50_us": _us(percentile(took, 50)),
        "p99_us": _us(percentile(took, 99)),
        "count": len(took),
        **extra,
    }


def in_process(rounds: int) -> list[dict[str, Any]]:
    """``encode``, ``checks``, ``sign`` and ``verify`` lines (one core: this process)."""
    catalogue = Catalogue.bundled()
    drugs = sorted(catalogue.drugs.values(), key=lambda d: d.atc)
    drug = catalogue.drugs.get("C08CA01") or drugs[0]  # amlodipine
    product = drug.products[0]
    # Twenty other drugs, interactions included where the catalogue has them.
    partners = {a for pair in catalogue.data.interactions for a in (pair.a, pair.b)}
    active = [d.atc for d in drugs if d.atc != drug.atc and d.atc in partners][: ACTIVE // 2]
    active += [d.atc for d in drugs if d.atc != drug.atc and d.atc not in active][
        : ACTIVE - len(active)
    ]
    allergies = [("J01C", "пенициллины"), ("x-latex", "латекс")]
    rx = PrescriptionIn(product=product.code, dose=1, per_day=1, days=30)
    spans = rules.periods(datetime.now(UTC).date(), "once", None, subsidised=False, chronic=True)
    content = rules.Content(
        city="MOW",
        number=123_456_789,
        patient=4_567_890,
        birth_date=datetime(1956, 5, 17).date(),
        atc=drug.atc,
        inn=drug.inn,
        product=product.code,
        drug=f"{drug.inn_ru}, {product.form_ru}, {product.strength_text}",
        dose=rules.dose_text(rx.dose),
        per_day=rx.per_day,
        days=rx.days,
        quantity=rules.quantity_of(rx),
        schedule=rx.schedule,
        periods=[(s, e, rules.quantity_of(rx)) for s, e in spans],
        benefit=None,
        instructions=None,
        issued_on=spans[0][0],
        valid_until=spans[-1][1],
        doctor=1234,
        clinic=56,
        key_id="d56-1234-0a1b2c3d",
    )
    encoded = _timed(lambda: rules.canonical(content), rounds)
    findings = rules.check(catalogue, drug, product, rx, age=70, allergies=allergies, active=active)
    checks = _timed(
        lambda: rules.check(
            catalogue, drug, product, rx, age=70, allergies=allergies, active=active
        ),
        rounds,
    )
    body = rules.canonical(content)
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    signature = key.sign(body)
    signs = _timed(lambda: key.sign(body), max(1, rounds // 2))
    verifies = _timed(lambda: public.verify(signature, body), max(1, rounds // 2))
    base = percentile(encoded, 50) or 0.0

    def ratio(took: list[float]) -> float | None:
        middle = percentile(took, 50)
        return round(middle / base, 1) if middle and base else None

    return [
        _micro_line("encode", encoded, content_bytes=len(body)),
        _micro_line(
            "checks",
            checks,
            active=len(active),
            findings=len(findings),
            catalogue=catalogue.version,
            drugs=len(catalogue.drugs),
            target_p99_us=TARGETS["checks_p99_us"],
            encode_ratio=ratio(checks),
        ),
        _micro_line("sign", signs, content_bytes=len(body), encode_ratio=ratio(signs)),
        _micro_line("verify", verifies, content_bytes=len(body), encode_ratio=ratio(verifies)),
    ]


@dataclass
class Run:
    args: argparse.Namespace
    headers: dict[str, str]
    due: list[asyncpg.Record]
    deadline: float = 0.0
    started: float = 0.0
    position: int = 0
    baseline: Stat = field(default_factory=Stat)
    scan: Stat = field(default_factory=Stat)
    dispense: Stat = field(default_factory=Stat)
    both: Stat = field(default_factory=Stat)


async def _baseline(run: Run, clients: list[Connection], seconds: float) -> float:
    deadline = time.monotonic() + seconds

    async def loop(client: Connection) -> None:
        while time.monotonic() < deadline:
            await timed(run.baseline, client, "GET", BASELINE_PATH)

    began = time.monotonic()
    await asyncio.gather(*(loop(c) for c in clients))
    return time.monotonic() - began


async def _counter(
    run: Run, clients: list[Connection], seconds: float, city: str, rate: float = 0.0
) -> float:
    """Scan and dispense until the time or the prescriptions run out; the seconds.

    With ``rate`` (dispensings a second) the dispensings are offered on a schedule, the
    n-th at ``n / rate`` seconds, whoever is free takes it, and its time counts from
    when it was due (a late start is the server's delay, not hidden by the client's
    waiting: no coordinated omission); without, as fast as the clients go."""

    async def loop(client: Connection) -> None:
        while run.position < len(run.due) and time.monotonic() < run.deadline:
            n = run.position
            rx = run.due[n]
            run.position += 1
            code = rules.code_of(city, rx["id"], bytes(rx["signature"]))
            if rate > 0:
                due_at = run.started + n / rate
                await asyncio.sleep(max(0.0, due_at - time.monotonic()))
                if time.monotonic() >= run.deadline:
                    return
                began = time.perf_counter() - max(0.0, time.monotonic() - due_at)
            else:
                began = time.perf_counter()
            seen = await timed(
                run.scan, client, "POST", SCAN_PATH, json={"code": code}, headers=run.headers
            )
            given = None
            if seen is not None and seen.get("dispensable"):
                given = await timed(
                    run.dispense, client, "POST", DISPENSE_PATH.format(id=rx["id"]),
                    json={"quantity": 1, "period": seen["due"]["period"], "code": code,
                          "request_id": str(uuid.uuid4())},
                    headers=run.headers,
                )  # fmt: skip
            if given is not None:
                run.both.ok += 1
                run.both.latencies.append(time.perf_counter() - began)
            else:
                run.both.failed += 1

    began = time.monotonic()
    run.started = began
    run.deadline = began + seconds
    await asyncio.gather(*(loop(c) for c in clients))
    if run.position >= len(run.due):
        log("the prescriptions due ran out before the time did")
    return time.monotonic() - began


async def over_http(
    args: argparse.Namespace, database_url: str, emit: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url, server_settings={"jit": "off"})
    clients = [Connection(args.url, timeout=HTTP_TIMEOUT) for _ in range(args.concurrency)]
    lines: list[dict[str, Any]] = []
    try:
        pharmacist = await conn.fetchrow(SQL_PHARMACIST)
        if pharmacist is None:
            raise SystemExit("bench prescriptions: no pharmacist.1; seed the city (imias seed)")
        today = await conn.fetchval(SQL_TODAY)
        due = list(await conn.fetch(SQL_DUE, today, str(args.seed), args.max_dispensings))
        if not due:
            raise SystemExit(
                "bench prescriptions: no prescription is due; seed with --history-days "
                "(and the server's IMIAS_SECRET_KEY)"
            )
        key = Keys.from_secret(server_secret()).token
        headers = token_headers(key, "pharmacist", pharmacist["id"], org=1)
        run = Run(args, headers, due)
        log(f"{len(due)} prescriptions due; {args.concurrency} pharmacists against {args.url}")
        machine = describe()
        warm = Stat()
        for c in clients:  # connections and the server's caches, not counted
            await timed(warm, c, "GET", BASELINE_PATH)
        cpu0 = cpu_snapshot()
        seconds = await _baseline(run, clients, args.baseline_seconds)
        line = run.baseline.line(
            "baseline",
            seconds,
            path=BASELINE_PATH,
            concurrency=args.concurrency,
            machine=machine,
            **cpu_per(cpu0, cpu_snapshot(), run.baseline.ok, "cpu_ms_per_request"),
        )
        baseline_per_second = line["per_second"] or 0.0
        emit(line)
        lines.append(line)

        if args.rate > 0:  # the same clients, offered a steady rate: the latency at it
            cpu0 = cpu_snapshot()
            seconds = await _counter(run, clients, args.duration, args.city, args.rate)
            line = run.both.line(
                "dispensings_at_rate",
                seconds,
                concurrency=args.concurrency,
                offered_per_second=args.rate,
                p95_ms=ms(percentile(run.both.latencies, 95)),
                target_p99_ms=TARGETS["dispensings_p99_ms"],
                **cpu_per(cpu0, cpu_snapshot(), run.both.ok, "cpu_ms_per_dispensing"),
            )
            line["per_second"] = round(run.both.ok / seconds, 1) if seconds > 0 else None
            emit(line)
            lines.append(line)
            run.scan, run.dispense, run.both = Stat(), Stat(), Stat()
        cpu0 = cpu_snapshot()
        seconds = await _counter(run, clients, args.duration, args.city)
        cpu1 = cpu_snapshot()
        for name, stat in (("scan", run.scan), ("dispense", run.dispense)):
            line = stat.line(name, seconds, concurrency=args.concurrency)
            line["p95_ms"] = ms(percentile(stat.latencies, 95))
            emit(line)
            lines.append(line)
        line = run.both.line(
            "dispensings",
            seconds,
            concurrency=args.concurrency,
            p95_ms=ms(percentile(run.both.latencies, 95)),
            prescriptions_due=len(due),
            target_p99_ms=TARGETS["dispensings_p99_ms"],
            target_per_second=TARGETS["dispensings_per_second"],
            synchronous_commit=await conn.fetchval("SHOW synchronous_commit"),
            **cpu_per(cpu0, cpu1, run.both.ok, "cpu_ms_per_dispensing"),
        )
        line["per_second"] = round(run.both.ok / seconds, 1) if seconds > 0 else None
        line["baseline_requests_per_dispensing"] = (
            round(baseline_per_second / line["per_second"], 1)
            if line["per_second"] and baseline_per_second
            else None
        )
        line["seconds"] = round(seconds, 2)
        emit(line)
        lines.append(line)
        return lines
    finally:
        for c in clients:
            await c.aclose()
        await conn.close()


async def run_workloads(
    args: argparse.Namespace,
    database_url: str,
    emit: Callable[[dict[str, Any]], None] = print_line,
) -> list[dict[str, Any]]:
    lines = in_process(args.rounds)
    for line in lines:
        emit(line)
    return lines + await over_http(args, database_url, emit)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imias bench prescriptions",
        description="The prescription's checks and signature in process, and scan-to-"
        "dispense at the counter against a served IMIAS on a city seeded with history; "
        "one JSON line per workload on stdout.",
    )
    add_served_options(parser)
    parser.add_argument("--city", default="MOW", help="the server's IMIAS_CITY_CODE")
    parser.add_argument("--rounds", type=int, default=20_000, help="in-process rounds")
    parser.add_argument("--concurrency", type=int, default=32, help="pharmacists at once")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of dispensing")
    parser.add_argument(
        "--rate",
        type=float,
        default=300.0,
        help="then offer this many dispensings a second and time them (0: skip)",
    )
    parser.add_argument("--baseline-seconds", type=float, default=5.0, help="of the baseline")
    parser.add_argument(
        "--max-dispensings", type=int, default=100_000, help="the most prescriptions to use"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        args.rounds = min(args.rounds, 500)
        args.duration = min(args.duration, 2.0)
        args.baseline_seconds = min(args.baseline_seconds, 1.0)
        args.concurrency = min(args.concurrency, 8)
        args.max_dispensings = min(args.max_dispensings, 300)
        args.rate = min(args.rate, 40.0)
    if min(args.rounds, args.concurrency, args.max_dispensings) < 1 or (
        args.duration <= 0 or args.baseline_seconds <= 0 or args.rate < 0
    ):
        print("bench prescriptions: counts >= 1, durations > 0", file=sys.stderr)
        return 2
    run_on_database(args.database_url, lambda url: run_workloads(args, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
