"""``imias bench booking``: load a served instance with search, hold and confirm.

Concurrent clients (each with its own keep-alive connection of
:mod:`loadtest.client`, so that the load generator takes little of the CPU
it shares with the server) each take a patient and walk the booking flow
against the URL given (default ``http://127.0.0.1:8000``): search free slots of a
specialty (at the patient's attached clinic for a specialty booked only there, such
as the therapist, after sometimes looking near a random point of Moscow; otherwise
city-wide or, sometimes, near a random point), hold one of the slots found (a random
one, or the first), and confirm the hold with a fresh ``Idempotency-Key``.
Patients come from the database: adults (18+), of the sex the specialty admits, with
no live appointment or hold of that specialty, each used once.

A refusal the API is meant to give (409 ``slot_taken``, ``hold_limit``,
``duplicate_appointment``, any 4xx problem) is counted as refused; a 5xx or a
transport error as failed. Then the same searches are answered by an equivalent SQL
query (:data:`SQL_SEARCH`) over the same database, one at a time from this process,
and compared with the engine's answers.

Prints one JSON line per workload on stdout (``workload`` and, where they apply,
``per_second``, ``p50_ms``, ``p99_ms``, ``ratio`` plus counts): ``search``, ``hold``,
``confirm``, ``bookings``, ``search_sql`` (``ratio`` = SQL p50 / the p50 of the same
searches answered by the served engine over HTTP, each side one search at a time, like
for like; ``ratio_in_process`` = SQL p50 / the engine answering in this process;
``ratio_under_load`` = SQL p50 / the HTTP search p50 measured under the booking load).
First comes the ``baseline``: the same clients asking the same server for the
simplest public answer (:data:`BASELINE_PATH`, from memory) as fast as it gives it,
so that a machine's speed can be told apart from the code's: ``bookings`` carries
``baseline_requests_per_booking``, how many of those answers one booking costs (on a
slower machine both figures drop, their ratio much less).
Progress goes to stderr. Latency percentiles are over answered requests (successes and
refusals; failures are counted, not timed). Timings are a benchmark, never a test
assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

from imias.booking import CHANNEL_BITS, Engine, Geometry
from imias.booking import search as booking_search
from imias.identity import Keys, server_secret
from imias.identity import tokens as identity_tokens
from imias.platform.db import create_pool
from loadtest.bench.database import add_served_options, run_on_database
from loadtest.bench.sql import (
    SQL_BY_KIND,
    SQL_PATIENTS,
    SQL_SPECIALTY,
)
from loadtest.client import Connection, TransportError
from loadtest.machine import cpu_snapshot, describe
from loadtest.report import Stat, cpu_per, ms, percentile, print_line, progress
from loadtest.walk import Answer, Outcome, Request, book, problem_code, verdict_of

# Moscow inside the MKAD, roughly: where a random "near" point is drawn.
MOSCOW_BOX = ((55.57, 55.91), (37.37, 37.84))
HTTP_TIMEOUT = 15.0
HOLD_ATTEMPTS = 3  # a client that loses a slot searches again, at most this many times
# The baseline's request: public, answered from the worker's memory, a small JSON list.
BASELINE_PATH = "/api/v1/specialties"
BASELINE_SECONDS = 5.0


@dataclass
class Search:
    """One search as the clients asked it, to be answered again by SQL."""

    kind: str  # clinic, near, city
    clinic: int | None = None
    near: tuple[float, float] | None = None

    def params(self, specialty: str, limit: int) -> dict[str, Any]:
        params: dict[str, Any] = {"specialty": specialty, "limit": limit, "channel": "web"}
        if self.clinic is not None:
            params["clinic"] = self.clinic
        if self.near is not None:
            params["near"] = f"{self.near[0]:.5f},{self.near[1]:.5f}"
        return params


@dataclass
class Run:
    args: argparse.Namespace
    attached_only: bool
    patients: list[tuple[int, int | None]]
    rng: random.Random
    search: Stat = field(default_factory=Stat)
    hold: Stat = field(default_factory=Stat)
    confirm: Stat = field(default_factory=Stat)
    bookings: Stat = field(default_factory=Stat)
    searches: list[Search] = field(default_factory=list)
    next_patient: int = 0
    token_key: bytes = b""  # the server's token key, to sign in as each patient
    measuring: bool = False
    deadline: float = 0.0

    def take_patient(self) -> tuple[int, int | None] | None:
        if self.next_patient >= len(self.patients):
            return None
        patient = self.patients[self.next_patient]
        self.next_patient += 1
        return patient

    def random_point(self) -> tuple[float, float]:
        (lat0, lat1), (lon0, lon1) = MOSCOW_BOX
        return (self.rng.uniform(lat0, lat1), self.rng.uniform(lon0, lon1))


def patient_headers(key: bytes, patient_id: int) -> dict[str, str]:
    """The patient signed in: a token minted with the server's key, as `imias token` does
    (the key: IMIAS_SECRET_KEY, or the key file of the embedded default)."""
    claims = identity_tokens.claims("patient", patient_id, ttl=3600)
    return {"Authorization": "Bearer " + identity_tokens.mint(key, claims)}


def log(message: str) -> None:
    progress("bench booking", message)


async def _call(run: Run, stat: Stat, client: Connection, request: Request) -> Answer:
    """Send, time and classify one request: a 4xx is a refusal, a 5xx or a transport
    error a failure; counted in ``stat`` while the run is measured."""
    began = time.perf_counter()
    try:
        response = await client.request(
            request.method,
            request.path,
            params=request.params,
            json=request.json,
            headers=request.headers,
        )
    except TransportError as exc:
        if run.measuring:
            stat.failed += 1
            stat.errors[type(exc).__name__] += 1
        return Answer("failed")
    took = time.perf_counter() - began
    status = response.status_code
    verdict = verdict_of(status)
    if verdict == "ok":
        if run.measuring:
            stat.ok += 1
            stat.latencies.append(took)
        return Answer("ok", body=response.json() if response.content else None)
    code = problem_code(status, response.json)
    if run.measuring:
        if verdict == "refused":
            stat.refused += 1
            stat.codes[code] += 1
            stat.latencies.append(took)
        else:
            stat.failed += 1
            stat.errors[f"{status} {code}"] += 1
    return Answer(verdict, code)


def _search_request(run: Run, search: Search) -> Request:
    if run.measuring and len(run.searches) < 100_000:
        run.searches.append(search)
    params = search.params(run.args.specialty, run.args.limit)
    return Request("GET", "/api/v1/slots", "search", params=params)


def _searches(run: Run, attached: int | None) -> list[Request]:
    """The searches of one attempt: at the attached clinic for a specialty booked only
    there (after sometimes looking near a random point), else city-wide or near one."""
    near_share = run.args.near_share
    if run.attached_only:
        looks = []
        if run.rng.random() < near_share:  # looks around first, books at home
            looks.append(_search_request(run, Search("near", near=run.random_point())))
        return [*looks, _search_request(run, Search("clinic", clinic=attached))]
    if run.rng.random() < near_share:
        return [_search_request(run, Search("near", near=run.random_point()))]
    return [_search_request(run, Search("city"))]


async def _book_one(run: Run, client: Connection, patient: tuple[int, int | None]) -> None:
    """One patient's flow (:func:`loadtest.walk.book`): search, hold, confirm; a lost
    slot is searched for again."""
    patient_id, attached = patient
    stats = {"search": run.search, "hold": run.hold, "confirm": run.confirm}
    walk = book(
        patient_id,
        patient_headers(run.token_key, patient_id),
        lambda: _searches(run, attached),
        lambda slots: slots[0] if run.args.pick == "first" else run.rng.choice(slots),
        attempts=HOLD_ATTEMPTS,
    )
    try:
        request = next(walk)
        while True:
            answer = await _call(run, stats[request.name], client, request)
            request = walk.send(answer)
    except StopIteration as stop:
        outcome: Outcome = stop.value
    if not run.measuring:
        return
    if outcome.verdict == "ok":
        run.bookings.ok += 1
    elif outcome.verdict == "refused":
        run.bookings.refused += 1
        run.bookings.codes[outcome.code or "refused"] += 1
    else:
        run.bookings.failed += 1
        run.bookings.errors[outcome.code or "transport"] += 1


async def _client_loop(run: Run, client: Connection) -> None:
    while time.monotonic() < run.deadline:
        patient = run.take_patient()
        if patient is None:
            return
        await _book_one(run, client, patient)


async def _baseline(run: Run, clients: list[Connection], seconds: float) -> dict[str, Any]:
    """Every client asks for :data:`BASELINE_PATH` again and again for ``seconds``; the
    line also describes the machine (:func:`loadtest.machine.describe`)."""
    machine = describe()  # before the load, while the machine is quiet
    stat = Stat()
    deadline = time.monotonic() + seconds

    async def loop(client: Connection) -> None:
        while time.monotonic() < deadline:
            await _call(run, stat, client, Request("GET", BASELINE_PATH, "baseline"))

    run.measuring = True
    cpu0 = cpu_snapshot()
    began = time.monotonic()
    try:
        await asyncio.gather(*(loop(c) for c in clients))
    finally:
        run.measuring = False
    cpu = cpu_per(cpu0, cpu_snapshot(), stat.ok, "cpu_ms_per_request")
    return stat.line(
        "baseline",
        time.monotonic() - began,
        path=BASELINE_PATH,
        concurrency=len(clients),
        machine=machine,
        **cpu,
    )


async def _progress(run: Run, began: float) -> None:
    while True:
        await asyncio.sleep(1.0)
        b = run.bookings
        log(
            f"{time.monotonic() - began:5.1f}s  bookings ok {b.ok} refused {b.refused} "
            f"failed {b.failed}  searches {len(run.search.latencies)}"
        )


# -- the SQL side ---------------------------------------------------------------------------


def _sql_args(
    search: Search,
    specialty: str,
    window: tuple[date, date],
    channel: int,
    now: datetime,
    limit: int,
    geometry: Geometry,
) -> tuple[Any, ...]:
    base: tuple[Any, ...] = (
        specialty,
        window[0],
        window[1],
        channel,
        now,
        limit,
        geometry.day_begins,
        geometry.day_ends,
    )
    if search.kind == "clinic":
        return (*base, [search.clinic])
    if search.kind == "near":
        assert search.near is not None
        return (*base, search.near[0], search.near[1])
    return base


def _key(doctor_id: int, starts_at: datetime | str) -> tuple[int, datetime]:
    if isinstance(starts_at, str):
        starts_at = datetime.fromisoformat(starts_at)
    return doctor_id, starts_at.astimezone(UTC)


async def _compare_sql(
    run: Run,
    conn: asyncpg.Connection,
    client: Connection,
    window: tuple[date, date],
    engine_p50: float | None,
    local: Engine,
) -> dict[str, Any]:
    """Replay a sample of the searches, one at a time: SQL, the engine over HTTP (idle),
    and the engine in this process (the data structure itself, no HTTP); time all three
    and see whether SQL and the served engine give the same slots."""
    args = run.args
    sample_from = run.searches or [Search("city")]
    rng = random.Random(args.seed + 1)
    sample = [rng.choice(sample_from) for _ in range(args.sql_repetitions)]
    channel = CHANNEL_BITS["web"]
    geometry = Geometry()
    sql_times: list[float] = []
    http_times: list[float] = []
    local_times: list[float] = []
    kinds: Counter[str] = Counter()
    same = 0
    # Each side answers the whole sample in turn, one search at a time, so that each
    # runs warm (interleaved, the server's worker fell asleep during every SQL query
    # and each HTTP search paid its wake-up).
    answers: list[list[tuple[int, datetime]]] = []
    for i, search in enumerate(sample):
        now = datetime.now(UTC)
        query = SQL_BY_KIND[search.kind]
        params = _sql_args(search, args.specialty, window, channel, now, args.limit, geometry)
        began = time.perf_counter()
        rows = await conn.fetch(query, *params)
        sql_times.append(time.perf_counter() - began)
        answers.append([_key(r["doctor_id"], r["starts_at"]) for r in rows])
        kinds[search.kind] += 1
        if (i + 1) % max(1, len(sample) // 5) == 0:
            log(f"SQL search {i + 1}/{len(sample)}")
    for search, expected in zip(sample, answers, strict=True):
        began = time.perf_counter()
        response = await client.get(
            "/api/v1/slots", params=search.params(args.specialty, args.limit)
        )
        http_times.append(time.perf_counter() - began)
        if response.status_code == 200:
            engine = [_key(s["doctor_id"], s["starts_at"]) for s in response.json()]
            if engine == expected:
                same += 1
    for search in sample:
        began = time.perf_counter()
        _search_in_process(local, search, args.specialty, args.limit, window, channel)
        local_times.append(time.perf_counter() - began)
    sql_p50 = percentile(sql_times, 50)
    idle_p50 = percentile(http_times, 50)
    local_p50 = percentile(local_times, 50)
    return {
        "workload": "search_sql",
        "per_second": round(len(sql_times) / sum(sql_times), 1) if sql_times else None,
        "p50_ms": ms(sql_p50),
        "p99_ms": ms(percentile(sql_times, 99)),
        "ratio": round(sql_p50 / idle_p50, 2) if sql_p50 and idle_p50 else None,
        "ratio_under_load": round(sql_p50 / engine_p50, 2) if sql_p50 and engine_p50 else None,
        "count": len(sql_times),
        "searches": dict(kinds),
        "same_answer": same,
        "engine_under_load_p50_ms": ms(engine_p50),
        "engine_idle_p50_ms": ms(idle_p50),
        "engine_idle_p99_ms": ms(percentile(http_times, 99)),
        "engine_in_process_p50_ms": ms(local_p50),
        "engine_in_process_p99_ms": ms(percentile(local_times, 99)),
        "ratio_in_process": round(sql_p50 / local_p50, 1) if sql_p50 and local_p50 else None,
    }


async def _local_engine(database_url: str) -> Engine:
    """An engine built from the same database, in this process."""
    pool = await create_pool(database_url, 2)
    try:
        engine = Engine()
        await engine.load(pool)
    finally:
        await pool.close()
    return engine


def _search_in_process(
    engine: Engine,
    search: Search,
    specialty: str,
    limit: int,
    window: tuple[date, date],
    channel: int,
) -> list[Any]:
    """The search of GET /api/v1/slots, answered by the engine directly."""
    specialty_id = engine.directory.by_code[specialty].id
    clinics: list[int] | None = None
    if search.clinic is not None:
        clinics = [search.clinic]
    elif search.near is not None:
        nearest = engine.directory.nearest_offering(
            *search.near, specialty_id, booking_search.NEAR_CLINICS
        )
        clinics = [clinic.id for _, clinic in nearest]
    return booking_search.earliest(
        engine,
        limit,
        specialty_id=specialty_id,
        clinic_ids=clinics,
        first=window[0],
        last=window[1],
        channel=channel,
    )


# -- the run --------------------------------------------------------------------------------


async def _engine_window(client: Connection, wait: float) -> tuple[date, date]:
    """The server's search window from /health (waiting while its engine loads)."""
    deadline = time.monotonic() + wait
    last = ""
    while True:
        try:
            response = await client.get("/health")
            if response.status_code == 200:
                details = response.json().get("engine_details", {})
                first = date.fromisoformat(details["first_day"])
                return first, first + timedelta(days=int(details["days"]) - 1)
            last = f"/health answered {response.status_code}"
        except TransportError as exc:
            last = f"{type(exc).__name__}: {exc}"
        if time.monotonic() > deadline:
            raise SystemExit(f"bench booking: {client.base_url} is not healthy ({last})")
        await asyncio.sleep(0.5)


async def run_workloads(
    args: argparse.Namespace,
    database_url: str,
    emit: Callable[[dict[str, Any]], None] = print_line,
) -> list[dict[str, Any]]:
    """The workloads against ``args.url`` (the server of ``database_url``); each line
    is handed to ``emit`` (default: printed as JSON on stdout) as it is measured."""
    # JIT off, as for an OLTP database: the search's plan costs enough to be compiled,
    # which takes longer than running it (about 0.5 s here) and would flatter the engine.
    conn = await asyncpg.connect(database_url, server_settings={"jit": "off"})
    clients = [Connection(args.url, timeout=HTTP_TIMEOUT) for _ in range(args.concurrency)]
    try:
        client = clients[0]
        window = await _engine_window(client, wait=60.0)
        spec = await conn.fetchrow(SQL_SPECIALTY, args.specialty)
        if spec is None:
            raise SystemExit(f"bench booking: no specialty {args.specialty!r}")
        if not spec["self_referral"]:
            raise SystemExit(
                f"bench booking: {args.specialty} needs a referral; "
                "choose a self-referral specialty"
            )
        now = datetime.now(UTC)
        today = datetime.now(ZoneInfo("Europe/Moscow")).date()
        rows = await conn.fetch(
            SQL_PATIENTS, args.specialty, today, window[1], now, args.max_patients
        )
        patients = [(r["id"], r["attached_clinic_id"]) for r in rows]
        rng = random.Random(args.seed)
        rng.shuffle(patients)
        log(
            f"{len(patients)} patients for {args.specialty}; window {window[0]}..{window[1]}"
            f"; {args.concurrency} clients (one connection each) for "
            f"{args.duration:g}s against {args.url}"
        )
        run = Run(args, spec["attached_only"], patients, rng)
        run.token_key = Keys.from_secret(server_secret()).token

        # Warm-up: two searches a client, one after the other (a connection serves one
        # request at a time), not measured, so that connections are open.
        run.deadline = time.monotonic() + 3600

        async def warm(client: Connection) -> None:
            for _ in range(2):
                request = _search_request(run, Search("near", near=run.random_point()))
                await _call(run, run.search, client, request)

        await asyncio.gather(*(warm(c) for c in clients))
        baseline = await _baseline(run, clients, args.baseline_seconds)
        emit(baseline)
        log(f"baseline: {baseline['per_second']} answers/s of {BASELINE_PATH}")

        usage0 = resource.getrusage(resource.RUSAGE_SELF)
        cpu0 = cpu_snapshot()
        run.measuring = True
        began = time.monotonic()
        run.deadline = began + args.duration
        ticker = asyncio.create_task(_progress(run, began))
        try:
            await asyncio.gather(*(_client_loop(run, c) for c in clients))
        finally:
            ticker.cancel()
        elapsed = time.monotonic() - began
        run.measuring = False
        usage1 = resource.getrusage(resource.RUSAGE_SELF)
        cpu1 = cpu_snapshot()
        client_cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
        if run.next_patient >= len(patients):
            log("the patients ran out before the time did")

        synchronous_commit = await conn.fetchval("SHOW synchronous_commit")
        lines = [
            run.search.line(
                "search",
                elapsed,
                near=sum(1 for s in run.searches if s.kind == "near"),
                concurrency=args.concurrency,
            ),
            run.hold.line("hold", elapsed),
            run.confirm.line("confirm", elapsed),
            {
                "workload": "bookings",
                "per_second": round(run.bookings.ok / elapsed, 1),
                "ok": run.bookings.ok,
                "refused": run.bookings.refused,
                "failed": run.bookings.failed,
                **(
                    {"refused_codes": dict(run.bookings.codes.most_common())}
                    if run.bookings.codes
                    else {}
                ),
                **(
                    {"errors": dict(run.bookings.errors.most_common(5))}
                    if run.bookings.errors
                    else {}
                ),
                "seconds": round(elapsed, 2),
                "concurrency": args.concurrency,
                "specialty": args.specialty,
                "client_cpu_seconds": round(client_cpu, 2),
                "synchronous_commit": synchronous_commit,
                "baseline_requests_per_booking": (
                    round(baseline["per_second"] * elapsed / run.bookings.ok, 1)
                    if run.bookings.ok and baseline["per_second"]
                    else None
                ),
                **cpu_per(cpu0, cpu1, run.bookings.ok, "cpu_ms_per_booking"),
            },
        ]
        if getattr(args, "floor", False):
            lines[-1] |= await _beside_the_floor(args, database_url, conn, lines[-1])
        for line in lines:
            emit(line)
        await asyncio.sleep(0.5)  # let the other workers' engines take the last events
        engine_p50 = percentile(run.search.latencies, 50)
        log("loading an engine in this process for the in-process comparison")
        local = await _local_engine(database_url)
        line = await _compare_sql(run, conn, client, window, engine_p50, local)
        emit(line)
        lines.append(line)
        return [baseline, *lines]
    finally:
        for c in clients:
            await c.aclose()
        await conn.close()


async def _beside_the_floor(
    args: argparse.Namespace, database_url: str, conn: asyncpg.Connection, bookings: dict[str, Any]
) -> dict[str, Any]:
    """``--floor``: the floor's two-round-trip figure (``imias bench floor``, shape
    ``statement``) measured now, on the same database with the same clients and seconds,
    and IMIAS's ratios to it: bookings per second, and CPU per booking of the server and
    of PostgreSQL (how many times the floor's)."""
    from loadtest.bench import floor

    schema = await floor.make_scratch(conn, args.concurrency)
    try:
        line = await floor.measure_shape(
            database_url,
            conn,
            schema,
            "statement",
            concurrency=args.concurrency,
            duration=args.duration,
            workers=args.floor_workers,
        )
    finally:
        await floor.drop_scratch(conn, schema)
    out: dict[str, Any] = {
        "floor_per_second": line["per_second"],
        "floor_ratio": (
            round(bookings["per_second"] / line["per_second"], 3) if line["per_second"] else None
        ),
        "floor_cpu_ms_per_booking": line.get("cpu_ms_per_booking"),
        "floor_failed": line["failed"],
    }
    ours, theirs = bookings.get("cpu_ms_per_booking"), line.get("cpu_ms_per_booking")
    if ours and theirs:
        for kind in ("server", "postgres"):
            if theirs.get(kind):
                out[f"{kind}_cpu_vs_floor"] = round(ours[kind] / theirs[kind], 2)
    return out


def add_workload_options(parser: argparse.ArgumentParser) -> None:
    """The options of the workloads themselves (also `imias bench cities`'s)."""
    parser.add_argument("--concurrency", type=int, default=64, help="concurrent clients")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of load")
    parser.add_argument("--specialty", default="therapist", help="a self-referral specialty")
    parser.add_argument("--limit", type=int, default=10, help="slots per search (k)")
    parser.add_argument(
        "--pick", choices=("random", "first"), default="random", help="which slot found to hold"
    )
    parser.add_argument(
        "--near-share",
        type=float,
        default=0.25,
        help="share of searches near a random point of Moscow",
    )
    parser.add_argument("--sql-repetitions", type=int, default=200, help="searches replayed as SQL")
    parser.add_argument(
        "--max-patients", type=int, default=60_000, help="the most patients (bookings) to use"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument(
        "--baseline-seconds",
        type=float,
        default=BASELINE_SECONDS,
        help=f"seconds of the baseline ({BASELINE_PATH}) before the load",
    )
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI")


def settle_workload_options(args: argparse.Namespace) -> str | None:
    """Apply ``--quick``; the problem with the options, if any."""
    if args.quick:
        args.duration = min(args.duration, 2.0)
        args.baseline_seconds = min(args.baseline_seconds, 1.0)
        args.concurrency = min(args.concurrency, 8)
        args.sql_repetitions = min(args.sql_repetitions, 20)
        args.max_patients = min(args.max_patients, 2_000)
    if (
        args.concurrency < 1
        or args.duration <= 0
        or args.baseline_seconds <= 0
        or not 1 <= args.limit <= 50
    ):
        return "concurrency >= 1, duration > 0, baseline seconds > 0, 1 <= limit <= 50"
    return None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imias bench booking",
        description="Concurrent search, hold and confirm against a served IMIAS, and the "
        "same search as SQL; one JSON line per workload on stdout.",
    )
    add_served_options(parser)
    add_workload_options(parser)
    parser.add_argument(
        "--floor",
        action="store_true",
        help="also measure `imias bench floor`'s two-round-trip shape right after, on the "
        "same database with the same clients and seconds, and put its figure and IMIAS's "
        "ratios to it on the bookings line",
    )
    parser.add_argument(
        "--floor-workers", type=int, default=2, help="the floor server's worker processes"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    problem = settle_workload_options(args)
    if problem:
        print(f"bench booking: {problem}", file=sys.stderr)
        return 2
    run_on_database(args.database_url, lambda url: run_workloads(args, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
