"""``imias bench certificates``: a certificate's QR checked offline in process, an
officer's check over HTTP, and the chair's issue over HTTP, on a city whose seed signed
its certificates (``imias seed`` with the server's secret).

One JSON line each (:mod:`loadtest.report`):

- ``ecdsa_verify``: the in-process baseline, one P-256 signature verified by
  ``cryptography`` (OpenSSL) over a certificate's signed bytes: the floor of any
  verification;
- ``offline``: :func:`ehr.certificates.check_offline` (base45, zlib, COSE_Sign1, the
  signature against the trust list, the revocation list, the verdict) over every
  distinct certificate of the city (or ``--generate N`` made here), one core; per
  second, median and p99 in µs, the verdicts, and its ratio to ``ecdsa_verify``
  (target: at least 5,000 a second);
- ``offline_stages``: where an offline check's time goes, stage by stage (median µs);
- ``sign``: :func:`ehr.certificates.cose.encode_qr` (the issue's signing), one core;
- ``baseline``: the same HTTP clients asking for :data:`BASELINE_PATH` (public, from
  memory) as fast as the server answers, as the other benches do;
- ``verify``: ``--concurrency`` (32) officers at once, each checking a seeded QR
  (``POST /api/v1/verify``) as fast as the server answers, p50/p95/p99 and answers a
  second with ``baseline_requests_per_verify`` (target: p99 under 20 ms);
  ``verify_at_rate``: the same clients offered ``--rate`` checks a second on a
  schedule, each timed from when it was due (no coordinated omission);
- ``issue``: the chairs issuing driver's certificates (``POST /api/v1/certificates``:
  the conclusions read and weighed, the content signed by the clinic's key, the row and
  its audit record written), ``--concurrency`` at once, issues a second.

An officer may check 120 times in 10 minutes and an address 300 times: the limits stay as
they are, and the bench spreads its checks over many officers (a token each, at most 100
checks an officer) and addresses (at most 250 an address, in ``X-Forwarded-For``, which
the server believes from 127.0.0.1 only when ``IMIAS_TRUSTED_PROXIES`` says so). Without
``--url`` the bench serves the city itself (``imias serve --workers 2``, trusting
127.0.0.1 as its proxy); a server given with ``--url`` must be started so too, or its
address limit refuses the bench (counted as ``too_many_checks``).

The issue's patients get fresh conclusions first, written straight into
``exam_conclusions`` (copies of their own examinations, dated now): the bench's fixture,
so that every issue succeeds. A run writes certificates, conclusions and audit records
into the database it is pointed at. Timings are a benchmark, never a test assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
import tempfile
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import base45
import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ehr import certificates
from imias.identity import Keys, server_secret
from imias.identity import tokens as identity_tokens
from loadtest.bench.database import run_on_database
from loadtest.client import Connection
from loadtest.machine import cpu_snapshot, describe
from loadtest.report import Stat, cpu_per, ms, percentile, print_line, progress
from loadtest.walk import timed

HTTP_TIMEOUT = 15.0
BASELINE_PATH = "/api/v1/specialties"
VERIFY_PATH = "/api/v1/verify"
ISSUE_PATH = "/api/v1/certificates"
PLACE = "МКАД, 41 км, пост ДПС (bench)"
TARGETS = {"offline_per_second": 5000.0, "verify_p99_ms": 20.0}
CHECKS_PER_OFFICER = 100  # of the 120 an officer may make in 10 minutes
CHECKS_PER_ADDRESS = 250  # of the 300 an address may make in 10 minutes
OFFICER_BASE = 1_000_000_000  # the bench's officers' subjects (tokens only: no accounts)
_ECDSA = ec.ECDSA(hashes.SHA256())
cose, rules = certificates.cose, certificates.rules
check_offline = certificates.check_offline

SQL_QRS = "SELECT qr FROM certificates ORDER BY id LIMIT $1"
SQL_VALID = """
SELECT qr FROM certificates
 WHERE status = 'issued' AND valid_from <= $1 AND valid_until >= $1
 ORDER BY md5(id::text || $2::text) LIMIT $3
"""
# Patients whose certificate a chair (its therapist) issued: each gets fresh conclusions.
SQL_CHAIRS = """
SELECT c.id, c.patient_id, c.categories, c.clinic_id, c.doctor_id, c.author_id
  FROM certificates c
 WHERE c.kind = 'driver' AND EXISTS (SELECT 1 FROM exam_conclusions x
                                      WHERE x.patient_id = c.patient_id)
 ORDER BY md5(c.id::text || $1::text) LIMIT $2
"""
SQL_FRESH_CONCLUSIONS = """
INSERT INTO exam_conclusions (patient_id, encounter_id, clinic_id, doctor_id, author_id,
                              examiner, verdict, recorded_at)
SELECT c.patient_id, e.encounter_id, e.clinic_id, e.doctor_id, e.author_id, x.examiner,
       'fit', now() - interval '1 hour'
  FROM certificates c
 CROSS JOIN LATERAL (SELECT encounter_id, clinic_id, doctor_id, author_id
                       FROM exam_conclusions
                      WHERE patient_id = c.patient_id ORDER BY id DESC LIMIT 1) e
 CROSS JOIN unnest($2::text[]) AS x(examiner)
 WHERE c.id = ANY($1::bigint[])
"""
SQL_COUNT = "SELECT count(*) FROM certificates"


def log(message: str) -> None:
    progress("bench certificates", message)


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


# -- in process: the offline check ------------------------------------------------------


@dataclass
class Offline:
    """What an offline verifier holds: the QRs to check and the lists."""

    qrs: list[str]
    trust: certificates.TrustList
    revocations: certificates.Revocations
    source: str


def generated(count: int, seed: int, today: date) -> Offline:
    """``count`` distinct certificates signed here by four clinics' keys, and their lists."""
    rng = random.Random(seed)
    keys = [ec.generate_private_key(ec.SECP256R1()) for _ in range(4)]
    trust = certificates.TrustList.of_body(
        {
            "iss": "MOW",
            "iat": 0,
            "keys": [
                {"kid": cose.key_id(k.public_key()), "clinic": i, "org": f"Поликлиника № {i}",
                 "spki": cose.spki(k.public_key()), "nbf": 0, "wdn": None}
                for i, k in enumerate(keys, 1)
            ],
        }
    )  # fmt: skip
    qrs = []
    for n in range(count):
        k = keys[n % len(keys)]
        content = {
            "v": 1, "n": f"{today.year}-{n % 4 + 1}-{n:08d}"[-22:], "k": "driver",
            "nm": f"Иванов{rng.randrange(10**6)} Иван Иванович", "dob": "1980-01-02",
            "cat": ["B"], "res": ["01.06"] if n % 5 == 0 else [], "df": today.isoformat(),
            "du": rules.longest_validity("driver", ["B"], today).isoformat(),
            "org": f"Городская поликлиника № {n % 4 + 1}",
        }  # fmt: skip
        qrs.append(cose.encode_qr(k, cose.key_id(k.public_key()), iss="MOW", iat=0, exp=0,
                                  content=content))  # fmt: skip
    return Offline(qrs, trust, certificates.Revocations(0, frozenset()), "generated")


async def from_city(conn: asyncpg.Connection, most: int, today: date) -> Offline | None:
    """The city's certificates and its lists as its server signs them (None: none)."""
    qrs = [r["qr"] for r in await conn.fetch(SQL_QRS, most)]
    if not qrs:
        return None
    # Only the lists are read: any secret, and a connection for a pool.
    keys = certificates.CertificateKeys(conn, "bench-reads-public-keys-only-0123456789", "MOW")  # type: ignore[arg-type]
    trust = await keys.trust()
    _, revocations = await keys.revocations(today)
    return Offline(qrs, trust, revocations, "city")


def _timed_each(call: Callable[[str], Any], items: list[str], rounds: int) -> list[float]:
    """The seconds each of ``rounds`` calls took, over the items in turn (a warm-up
    tenth first, not counted)."""
    for i in range(max(1, min(rounds, len(items)) // 10)):
        call(items[i % len(items)])
    clock = time.perf_counter_ns
    out = []
    for i in range(rounds):
        item = items[i % len(items)]
        began = clock()
        call(item)
        out.append((clock() - began) / 1e9)
    return out


def in_process(offline: Offline, rounds: int, today: date) -> list[dict[str, Any]]:
    """``ecdsa_verify``, ``offline``, ``offline_stages`` and ``sign`` (this process)."""
    qrs, trust, revocations = offline.qrs, offline.trust, offline.revocations
    verdicts: Counter[str] = Counter()

    def check(qr: str) -> None:
        verdicts[check_offline(qr, trust, revocations, today).verdict] += 1

    # The baseline: a P-256 signature alone, over as many bytes as a certificate's.
    opened, _ = cose.open_qr(qrs[0])
    if opened.kid not in trust.keys:
        raise SystemExit("bench certificates: the first certificate's key is not trusted")
    private = ec.generate_private_key(ec.SECP256R1())
    public, signed = private.public_key(), bytes(len(opened.payload) + 40)
    der = private.sign(signed, _ECDSA)
    ecdsa = [_one(lambda: public.verify(der, signed, _ECDSA)) for _ in range(max(1, rounds // 4))]
    base = percentile(ecdsa, 50) or 0.0
    checks = _timed_each(check, qrs, rounds)
    stages = _stages(qrs[: min(len(qrs), max(200, rounds // 4))], trust)
    signing = _signs(min(rounds // 4, 5_000) or 1, today)
    lines = [
        _micro_line("ecdsa_verify", ecdsa, curve="P-256", library="cryptography (OpenSSL)"),
        _micro_line(
            "offline",
            checks,
            certificates=len(qrs),
            source=offline.source,
            verdicts=dict(verdicts.most_common()),
            revoked_listed=len(revocations.hashes),
            trusted_keys=len(trust.keys),
            target_per_second=TARGETS["offline_per_second"],
            ecdsa_ratio=_ratio(checks, base),
        ),
        {"workload": "offline_stages", **stages},
        _micro_line("sign", signing, ecdsa_ratio=_ratio(signing, base)),
    ]
    return lines


def _ratio(took: list[float], base: float) -> float | None:
    middle = percentile(took, 50)
    return round(middle / base, 1) if middle and base else None


def _one(call: Callable[[], Any]) -> float:
    began = time.perf_counter_ns()
    call()
    return (time.perf_counter_ns() - began) / 1e9


def _stages(qrs: list[str], trust: certificates.TrustList) -> dict[str, Any]:
    """Median µs of each stage of an offline check, over ``qrs`` (a second pass, after
    a first one that warms up); the rest of it (the verdict) is ``offline`` less these."""
    names = ("base45", "inflate", "cose_parse", "cbor_content", "signature")
    took: dict[str, list[float]] = {n: [] for n in names}
    clock = time.perf_counter_ns
    for counted in (False, True):
        for qr in qrs:
            t0 = clock()
            compressed = base45.b45decode(qr[len(cose.PREFIX) :])
            t1 = clock()
            raw = zlib.decompress(compressed)
            t2 = clock()
            opened = cose.open1(raw)
            t3 = clock()
            content = cbor2.loads(opened.payload)[cose.CONTENT_CLAIM]
            t4 = clock()
            key = trust.keys.get(opened.kid)
            if key is not None:
                opened.verifies(key.public)
            t5 = clock()
            if counted and content:
                for name, a, b in zip(names, (t0, t1, t2, t3, t4), (t1, t2, t3, t4, t5),
                                      strict=True):  # fmt: skip
                    took[name].append((b - a) / 1e9)
    out: dict[str, Any] = {f"{n}_us": _us(percentile(took[n], 50)) for n in names}
    out["total_us"] = round(sum(v for v in out.values() if v), 2)
    out["count"] = len(qrs)
    return out


def _signs(count: int, today: date) -> list[float]:
    key = ec.generate_private_key(ec.SECP256R1())
    kid = cose.key_id(key.public_key())
    content = {
        "v": 1, "n": f"{today.year}-12-ABCDEFGH", "k": "driver", "nm": "Иванов Иван Иванович",
        "dob": "1980-01-02", "cat": ["B"], "res": [], "df": today.isoformat(),
        "du": today.isoformat(), "org": "Городская поликлиника № 12",
    }  # fmt: skip
    return [
        _one(lambda: cose.encode_qr(key, kid, iss="MOW", iat=0, exp=0, content=content))
        for _ in range(count)
    ]


# -- over HTTP --------------------------------------------------------------------------


@dataclass
class Run:
    args: argparse.Namespace
    key: bytes
    qrs: list[str]
    position: int = 0
    started: float = 0.0
    deadline: float = 0.0
    officers: dict[int, dict[str, str]] = field(default_factory=dict)
    # Officers and addresses of this run only: a run within 10 minutes of another one
    # must not find them counted already (the limits' windows are 10 minutes).
    offset: int = field(default_factory=lambda: random.SystemRandom().randrange(256))
    baseline: Stat = field(default_factory=Stat)
    verify: Stat = field(default_factory=Stat)
    verdicts: Counter[str] = field(default_factory=Counter)

    def headers(self, n: int) -> dict[str, str]:
        """The n-th check's officer (a token each :data:`CHECKS_PER_OFFICER` checks)
        and address (another each :data:`CHECKS_PER_ADDRESS`)."""
        officer = n // CHECKS_PER_OFFICER
        held = self.officers.get(officer)
        if held is None:
            subject = OFFICER_BASE + self.offset * 1_000_000 + officer
            principal = identity_tokens.claims("police_officer", subject, ttl=3600)
            held = self.officers[officer] = {
                "Authorization": "Bearer " + identity_tokens.mint(self.key, principal)
            }
        a = self.offset * 65_536 + n // CHECKS_PER_ADDRESS
        address = f"10.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"
        return held | {"X-Forwarded-For": address}


async def _baseline(run: Run, clients: list[Connection], seconds: float) -> float:
    deadline = time.monotonic() + seconds

    async def loop(client: Connection) -> None:
        while time.monotonic() < deadline:
            await timed(run.baseline, client, "GET", BASELINE_PATH)

    began = time.monotonic()
    await asyncio.gather(*(loop(c) for c in clients))
    return time.monotonic() - began


async def _checks(run: Run, clients: list[Connection], seconds: float, rate: float = 0.0) -> float:
    """Officers' checks until the time is up; with ``rate``, offered on a schedule and
    timed from when each was due (see :mod:`loadtest.bench.prescriptions`)."""
    run.started = time.monotonic()
    run.deadline = run.started + seconds
    first = run.position

    async def loop(client: Connection) -> None:
        while time.monotonic() < run.deadline:
            n = run.position
            run.position += 1
            qr = run.qrs[n % len(run.qrs)]
            if rate > 0:
                due = run.started + (n - first) / rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if time.monotonic() >= run.deadline:
                    return
                late = max(0.0, time.monotonic() - due)
            else:
                late = 0.0
            ok_before, latencies = run.verify.ok, len(run.verify.latencies)
            body = await timed(
                run.verify, client, "POST", VERIFY_PATH,
                json={"place": PLACE, "qr": qr}, headers=run.headers(n),
            )  # fmt: skip
            if late and len(run.verify.latencies) > latencies:
                run.verify.latencies[-1] += late
            if body is not None and run.verify.ok > ok_before:
                run.verdicts[body.get("verdict", "?")] += 1

    await asyncio.gather(*(loop(c) for c in clients))
    return time.monotonic() - run.started


async def _issues(
    args: argparse.Namespace,
    conn: asyncpg.Connection,
    clients: list[Connection],
    key: bytes,
    stat: Stat,
) -> tuple[float, int]:
    """The chairs issue until the time is up; (seconds, patients prepared)."""
    chairs = list(await conn.fetch(SQL_CHAIRS, str(args.seed), args.max_issue_patients))
    if not chairs:
        return 0.0, 0
    examiners = list(rules.BASE_EXAMINERS + rules.PROFESSIONAL_EXAMINERS)
    await conn.execute(SQL_FRESH_CONCLUSIONS, [c["id"] for c in chairs], examiners)
    headers = [
        {
            "Authorization": "Bearer "
            + identity_tokens.mint(
                key,
                identity_tokens.claims(
                    "doctor", c["author_id"], org=c["clinic_id"], doctor=c["doctor_id"], ttl=3600
                ),
            )
        }
        for c in chairs
    ]
    position = 0
    deadline = time.monotonic() + args.issue_seconds

    async def loop(client: Connection) -> None:
        nonlocal position
        while time.monotonic() < deadline:
            n = position
            position += 1
            c = chairs[n % len(chairs)]
            await timed(
                stat, client, "POST", ISSUE_PATH,
                json={"patient_id": c["patient_id"], "categories": list(c["categories"])},
                headers=headers[n % len(chairs)],
            )  # fmt: skip

    began = time.monotonic()
    await asyncio.gather(*(loop(c) for c in clients))
    return time.monotonic() - began, len(chairs)


async def over_http(
    args: argparse.Namespace, database_url: str, emit: Callable[[dict[str, Any]], None]
) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url, server_settings={"jit": "off"})
    clients = [Connection(args.url, timeout=HTTP_TIMEOUT) for _ in range(args.concurrency)]
    lines: list[dict[str, Any]] = []

    def out(line: dict[str, Any]) -> None:
        emit(line)
        lines.append(line)

    try:
        today = _today(args)
        qrs = [r["qr"] for r in await conn.fetch(SQL_VALID, today, str(args.seed), 100_000)]
        if not qrs:
            raise SystemExit(
                "bench certificates: no valid certificate in the city; seed it with the "
                "server's secret (imias seed, IMIAS_SECRET_KEY)"
            )
        key = Keys.from_secret(server_secret()).token
        run = Run(args, key, qrs)
        log(
            f"{len(qrs)} valid certificates; {args.concurrency} officers at once against {args.url}"
        )
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
            p95_ms=ms(percentile(run.baseline.latencies, 95)),
            **cpu_per(cpu0, cpu_snapshot(), run.baseline.ok, "cpu_ms_per_request"),
        )
        baseline_per_second = line["per_second"] or 0.0
        out(line)

        def per_baseline(per_second: float | None) -> float | None:
            if not per_second or not baseline_per_second:
                return None
            return round(baseline_per_second / per_second, 1)

        warm_checks = Stat()  # every worker's trust list read, not counted
        for i, c in enumerate(clients):
            await timed(
                warm_checks, c, "POST", VERIFY_PATH,
                json={"place": PLACE, "qr": qrs[i % len(qrs)]}, headers=run.headers(i),
            )  # fmt: skip
        run.position = len(clients)
        cpu0 = cpu_snapshot()
        seconds = await _checks(run, clients, args.duration)
        line = run.verify.line(
            "verify",
            seconds,
            concurrency=args.concurrency,
            p95_ms=ms(percentile(run.verify.latencies, 95)),
            verdicts=dict(run.verdicts.most_common()),
            officers=len(run.officers),
            certificates=len(qrs),
            target_p99_ms=TARGETS["verify_p99_ms"],
            **cpu_per(cpu0, cpu_snapshot(), run.verify.ok, "cpu_ms_per_verify"),
        )
        line["baseline_requests_per_verify"] = per_baseline(line["per_second"])
        out(line)
        if run.verify.codes.get("too_many_checks"):
            log(
                "the server refused checks as too many: serve it with "
                "IMIAS_TRUSTED_PROXIES=127.0.0.1 (the bench's addresses are forwarded)"
            )
        if args.rate > 0:
            run.verify, run.verdicts = Stat(), Counter()
            cpu0 = cpu_snapshot()
            seconds = await _checks(run, clients, args.duration, args.rate)
            line = run.verify.line(
                "verify_at_rate",
                seconds,
                concurrency=args.concurrency,
                offered_per_second=args.rate,
                p95_ms=ms(percentile(run.verify.latencies, 95)),
                verdicts=dict(run.verdicts.most_common()),
                target_p99_ms=TARGETS["verify_p99_ms"],
                **cpu_per(cpu0, cpu_snapshot(), run.verify.ok, "cpu_ms_per_verify"),
            )
            out(line)
        if args.issue_seconds > 0:
            before = await conn.fetchval(SQL_COUNT)
            issued = Stat()
            cpu0 = cpu_snapshot()
            seconds, patients = await _issues(args, conn, clients, key, issued)
            line = issued.line(
                "issue",
                seconds,
                concurrency=args.concurrency,
                patients=patients,
                p95_ms=ms(percentile(issued.latencies, 95)),
                stored=await conn.fetchval(SQL_COUNT) - before,
                **cpu_per(cpu0, cpu_snapshot(), issued.ok, "cpu_ms_per_issue"),
            )
            line["baseline_requests_per_issue"] = per_baseline(line["per_second"])
            out(line)
        return lines
    finally:
        for c in clients:
            await c.aclose()
        await conn.close()


def _today(args: argparse.Namespace) -> date:
    return datetime.now(UTC).astimezone(ZoneInfo(args.time_zone)).date()


async def run_workloads(
    args: argparse.Namespace,
    database_url: str,
    emit: Callable[[dict[str, Any]], None] = print_line,
) -> list[dict[str, Any]]:
    today = _today(args)
    offline: Offline | None = None
    if not args.generate:
        conn = await asyncpg.connect(database_url)
        try:
            offline = await from_city(conn, args.max_certificates, today)
        finally:
            await conn.close()
        if offline is None:
            log("the city has no certificates: checking certificates made here instead")
    if offline is None:
        offline = generated(args.generate or 2_000, args.seed, today)
    log(f"offline: {len(offline.qrs)} distinct certificates ({offline.source}), one core")
    lines = in_process(offline, args.rounds, today)
    for line in lines:
        emit(line)
    if args.in_process_only:
        return lines
    with _served(args, database_url) as url:
        args.url = url
        return lines + await over_http(args, database_url, emit)


@contextlib.contextmanager
def _served(args: argparse.Namespace, database_url: str) -> Iterator[str]:
    """The server given (``--url``), or one served here on the city's database, trusting
    127.0.0.1 as its proxy (the officers' addresses), with ``--workers`` workers."""
    if args.url:
        yield args.url
        return
    from loadtest.served import served

    with contextlib.ExitStack() as stack:
        redis_url = args.redis_url or os.environ.get("IMIAS_REDIS_URL")
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="imias-bench-")))
        if not redis_url:
            from imias.platform.embedded import EmbeddedRedis

            server = EmbeddedRedis(scratch / "redis")
            redis_url = server.start()
            stack.callback(server.stop)
        log_path = Path(args.log_dir or scratch) / "serve-certificates.log"
        log(f"starting imias serve ({args.workers} workers); log {log_path}")
        url = stack.enter_context(
            served(
                database_url,
                redis_url,
                log_path=log_path,
                workers=args.workers,
                settings={"IMIAS_TRUSTED_PROXIES": "127.0.0.1"},
                timeout=args.start_timeout,
            )
        )
        yield url


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imias bench certificates",
        description="A certificate's QR checked offline in process, the officer's check "
        "and the chair's issue over HTTP, on a city seeded with certificates; one JSON "
        "line per workload on stdout.",
    )
    parser.add_argument(
        "--url", default=None, help="a served instance (default: serve the city here)"
    )
    parser.add_argument(
        "--database-url",
        default=None,
        help="the city's database (default: IMIAS_DATABASE_URL, else the embedded one)",
    )
    parser.add_argument("--redis-url", default=None, help="the Redis of the server served here")
    parser.add_argument("--workers", type=int, default=2, help="of the server served here")
    parser.add_argument("--start-timeout", type=float, default=600.0, help="seconds to serve")
    parser.add_argument("--log-dir", default=None, help="keep the served server's log there")
    parser.add_argument("--time-zone", default="Europe/Moscow", help="the city's")
    parser.add_argument("--rounds", type=int, default=30_000, help="offline checks")
    parser.add_argument(
        "--max-certificates", type=int, default=100_000, help="distinct QRs checked offline"
    )
    parser.add_argument(
        "--generate", type=int, default=0, help="check N certificates made here, not the city's"
    )
    parser.add_argument("--concurrency", type=int, default=32, help="officers (chairs) at once")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of checks")
    parser.add_argument(
        "--rate", type=float, default=300.0, help="then offer this many checks a second (0: skip)"
    )
    parser.add_argument("--baseline-seconds", type=float, default=5.0, help="of the baseline")
    parser.add_argument(
        "--issue-seconds", type=float, default=10.0, help="seconds of issuing (0: skip)"
    )
    parser.add_argument(
        "--max-issue-patients", type=int, default=5_000, help="patients the chairs issue for"
    )
    parser.add_argument(
        "--in-process-only", action="store_true", help="only the offline check and signing"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        args.rounds = min(args.rounds, 1_000)
        args.duration = min(args.duration, 2.0)
        args.baseline_seconds = min(args.baseline_seconds, 1.0)
        args.issue_seconds = min(args.issue_seconds, 1.0)
        args.concurrency = min(args.concurrency, 8)
        args.rate = min(args.rate, 40.0)
        args.max_issue_patients = min(args.max_issue_patients, 200)
    if min(args.rounds, args.concurrency, args.max_certificates, args.workers) < 1 or (
        args.duration <= 0 or args.baseline_seconds <= 0 or args.rate < 0
    ):
        print("bench certificates: counts >= 1, durations > 0", file=sys.stderr)
        return 2
    run_on_database(args.database_url, lambda url: run_workloads(args, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
