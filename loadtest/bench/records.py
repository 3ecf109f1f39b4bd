"""``imias bench records``: the medical record of a seeded city with history
(``imias seed --history-days N``), measured over HTTP against a served instance.

Three workloads, one JSON line each (:mod:`loadtest.report`):

- ``card``: the patient's card at a glance, ``GET /api/v1/patients/{id}/record``, for
  random patients who have visits, each asked as the patient (a token minted with the
  server's key, as ``imias token`` does), by ``--read-concurrency`` clients at once;
- ``search``: a measure's results for a patient, newest first (:data:`SEARCH_PATH`,
  ``--search-path`` to switch to FHIR's ``/fhir/R4/Observation?patient=...``), for
  random patients who have that measure;
- ``signoffs``: the doctor's visit, ``--concurrency`` (32) doctors at once: open the
  encounter of an appointment (``POST /api/v1/encounters``), then sign it with a
  protocol, two diagnoses and four vitals (``POST /api/v1/encounters/{id}/sign``), as
  the appointment's doctor (a doctor's token for her staff account). The appointments
  are those of the history without a visit yet whose patient the doctor may read: the
  no-shows (and any booked or arrived) of primary care at the patient's own clinic.
  ``per_second`` is signed visits a second.

Then ``plan``: the card's queries (``ehr.queries``) for the patient of the samples with
the most results, under ``EXPLAIN (ANALYZE, BUFFERS)``, printed on stderr and carried in
the line (text).
The targets this bench is read against (2 cores): card p99 < 20 ms, search p99 <
30 ms, at least 300 signed visits/s. Timings are a benchmark, never a test assertion.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg

from ehr import queries as ehr_queries
from imias.identity import Keys, server_secret
from imias.identity import tokens as identity_tokens
from loadtest.bench.database import add_served_options, run_on_database
from loadtest.client import Connection
from loadtest.machine import cpu_snapshot, describe
from loadtest.report import Stat, cpu_per, print_line, progress
from loadtest.walk import timed

HTTP_TIMEOUT = 15.0
CARD_PATH = "/api/v1/patients/{patient}/record"
#: The observation search, newest first: FHIR's (the JSON API's is
#: ``/api/v1/patients/{patient}/observations?code={code}``, for --search-path).
SEARCH_PATH = "/fhir/R4/Observation?patient={patient}&code=http://loinc.org%7C{code}&_sort=-date"
SEARCH_CODE = "8480-6"  # systolic blood pressure
TARGETS = {"card_p99_ms": 20.0, "search_p99_ms": 30.0, "signoffs_per_second": 300.0}

SIGNOFF = {
    "protocol": {
        "complaints": "Насморк, першение в горле, температура до 37,6 °C.",
        "history": "Болеет 2 дня.",
        "examination": "Общее состояние удовлетворительное. Зев гиперемирован. "
        "Дыхание везикулярное, хрипов нет.",
        "conclusion": "J06.9 Острая инфекция верхних дыхательных путей неуточнённая",
        "recommendations": "Обильное питьё, симптоматическая терапия.",
    },
    "diagnoses": [
        {"code": "J06.9", "rank": "primary", "course": "acute"},
        {"code": "R05", "rank": "secondary", "course": "acute"},
    ],
    "vitals": [
        {"code": "8480-6", "value": 124},
        {"code": "8462-4", "value": 78},
        {"code": "8867-4", "value": 76},
        {"code": "8310-5", "value": 37.4},
    ],
}

# Patients with visits (random ids from the city's range, kept when they have one).
SQL_WITH_VISITS = """
SELECT DISTINCT patient_id FROM encounters WHERE patient_id = ANY($1::bigint[])
"""
SQL_WITH_MEASURE = """
SELECT DISTINCT patient_id FROM observations
 WHERE patient_id = ANY($1::bigint[]) AND code = $2
"""
SQL_LAST_PATIENT = "SELECT max(id) FROM patients"
# The patient of the plan: the one of the samples with the most results.
SQL_BUSIEST = """
SELECT patient_id FROM observations WHERE patient_id = ANY($1::bigint[])
 GROUP BY patient_id ORDER BY count(*) DESC, patient_id LIMIT 1
"""
# Appointments without a visit whose patient the doctor may read (attached to her
# clinic), with the doctor's staff account.
SQL_UNSEEN = """
SELECT a.id, a.clinic_id, a.doctor_id, st.id AS staff_id
  FROM appointments a
  JOIN specialties s ON s.id = a.specialty_id AND s.attached_only
  JOIN patients p ON p.id = a.patient_id AND p.attached_clinic_id = a.clinic_id
  JOIN staff_accounts st ON st.role = 'doctor' AND st.clinic_id = a.clinic_id
                        AND st.doctor_id = a.doctor_id AND NOT st.disabled
 WHERE a.status IN ('no_show', 'booked', 'arrived')
   AND NOT EXISTS (SELECT 1 FROM encounters e
                    WHERE e.patient_id = a.patient_id AND e.appointment_id = a.id)
 LIMIT $1
"""
FAR_FUTURE = datetime(9999, 1, 1).astimezone()
NO_ID = 2**63 - 1


def log(message: str) -> None:
    progress("bench records", message)


def token_headers(key: bytes, role: str, subject: int, **claims: Any) -> dict[str, str]:
    """A token minted with the server's key, as `imias token` does."""
    principal = identity_tokens.claims(role, subject, ttl=3600, **claims)  # type: ignore[arg-type]
    return {"Authorization": "Bearer " + identity_tokens.mint(key, principal)}


@dataclass
class Run:
    args: argparse.Namespace
    key: bytes
    deadline: float = 0.0
    card: Stat = field(default_factory=Stat)
    search: Stat = field(default_factory=Stat)
    open: Stat = field(default_factory=Stat)
    sign: Stat = field(default_factory=Stat)
    visits: Stat = field(default_factory=Stat)


async def _patients(
    conn: asyncpg.Connection, rng: random.Random, wanted: int, code: str | None = None
) -> list[int]:
    """Up to ``wanted`` random patients with visits (with ``code`` measured, if given)."""
    last = await conn.fetchval(SQL_LAST_PATIENT) or 0
    found: list[int] = []
    for _ in range(40):
        if len(found) >= wanted or not last:
            break
        candidates = [rng.randint(1, last) for _ in range(max(wanted * 4, 200))]
        rows = (
            await conn.fetch(SQL_WITH_VISITS, candidates)
            if code is None
            else await conn.fetch(SQL_WITH_MEASURE, candidates, code)
        )
        found += [r["patient_id"] for r in rows]
    rng.shuffle(found)
    return found[:wanted]


async def _reads(
    run: Run,
    stat: Stat,
    clients: list[Connection],
    patients: list[int],
    path_of: Callable[[int], str],
    requests: int,
) -> float:
    """``requests`` GETs over the patients (each as the patient), the clients at once;
    the seconds taken."""
    queue = [patients[i % len(patients)] for i in range(requests)] if patients else []
    headers = {p: token_headers(run.key, "patient", p) for p in set(queue)}
    position = 0

    async def loop(client: Connection) -> None:
        nonlocal position
        while position < len(queue):
            patient = queue[position]
            position += 1
            await timed(stat, client, "GET", path_of(patient), headers=headers[patient])

    began = time.perf_counter()
    await asyncio.gather(*(loop(c) for c in clients))
    return time.perf_counter() - began


async def _signoffs(
    run: Run, clients: list[Connection], unseen: list[asyncpg.Record], seconds: float
) -> float:
    """Open and sign visits until the time or the appointments run out; the seconds."""
    position = 0

    async def loop(client: Connection) -> None:
        nonlocal position
        while position < len(unseen) and time.monotonic() < run.deadline:
            a = unseen[position]
            position += 1
            headers = token_headers(
                run.key, "doctor", a["staff_id"], org=a["clinic_id"], doctor=a["doctor_id"]
            )
            began = time.perf_counter()
            opened = await timed(
                run.open, client, "POST", "/api/v1/encounters",
                json={"appointment_id": a["id"]}, headers=headers,
            )  # fmt: skip
            signed = None
            if opened is not None:
                signed = await timed(
                    run.sign, client, "POST", f"/api/v1/encounters/{opened['id']}/sign",
                    json=SIGNOFF, headers=headers,
                )  # fmt: skip
            if signed is not None:
                run.visits.ok += 1
                run.visits.latencies.append(time.perf_counter() - began)
            else:
                run.visits.failed += 1

    began = time.monotonic()
    run.deadline = began + seconds
    await asyncio.gather(*(loop(c) for c in clients))
    if position >= len(unseen):
        log("the appointments without a visit ran out before the time did")
    return time.monotonic() - began


async def card_plans(conn: asyncpg.Connection, patient_id: int) -> str:
    """The card's queries for one patient under EXPLAIN (ANALYZE, BUFFERS)."""
    visits = await conn.fetch(ehr_queries.ENCOUNTERS_OF_PATIENT, patient_id, FAR_FUTURE, NO_ID, 10)
    steps: list[tuple[str, str, tuple[Any, ...]]] = [
        ("problems", ehr_queries.PROBLEMS, (patient_id,)),
        ("allergies", ehr_queries.ALLERGIES, (patient_id,)),
        ("visits", ehr_queries.ENCOUNTERS_OF_PATIENT, (patient_id, FAR_FUTURE, NO_ID, 10)),
        (
            "visit diagnoses",
            ehr_queries.CONDITIONS_OF_ENCOUNTERS,
            (patient_id, [r["id"] for r in visits]),
        ),
        ("results", ehr_queries.RESULTS, (patient_id, 12)),
        ("immunizations", ehr_queries.IMMUNIZATIONS, (patient_id,)),
        (
            "search",
            ehr_queries.OBSERVATIONS_OF_CODE,
            (patient_id, SEARCH_CODE, FAR_FUTURE, NO_ID, 50),
        ),
    ]
    out = []
    for name, sql, params in steps:
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sql, *params)
        out.append(f"-- {name}\n" + "\n".join(r[0] for r in rows))
    return "\n\n".join(out)


async def run_workloads(
    args: argparse.Namespace,
    database_url: str,
    emit: Callable[[dict[str, Any]], None] = print_line,
) -> list[dict[str, Any]]:
    conn = await asyncpg.connect(database_url, server_settings={"jit": "off"})
    readers = [Connection(args.url, timeout=HTTP_TIMEOUT) for _ in range(args.read_concurrency)]
    writers = [Connection(args.url, timeout=HTTP_TIMEOUT) for _ in range(args.concurrency)]
    lines: list[dict[str, Any]] = []
    try:
        rng = random.Random(args.seed)
        run = Run(args, Keys.from_secret(server_secret()).token)
        card_patients = await _patients(conn, rng, args.patients)
        search_patients = await _patients(conn, rng, args.patients, SEARCH_CODE)
        unseen = list(await conn.fetch(SQL_UNSEEN, args.max_visits))
        if not card_patients:
            raise SystemExit("bench records: no patient has a visit; seed with --history-days")
        log(
            f"{len(card_patients)} patients with visits, {len(search_patients)} with "
            f"{SEARCH_CODE}, {len(unseen)} appointments without a visit; against {args.url}"
        )
        machine = describe()

        def card_path(p: int) -> str:
            return CARD_PATH.format(patient=p)

        search_template: str = args.search_path

        def search_path(p: int) -> str:
            return search_template.format(patient=p, code=SEARCH_CODE)

        # Warm-up (connections, the server's caches), not counted.
        warm = Stat()
        await _reads(run, warm, readers, card_patients[:50], card_path, 2 * len(readers))
        await _reads(run, warm, readers, search_patients[:50], search_path, 2 * len(readers))

        cpu0 = cpu_snapshot()
        seconds = await _reads(run, run.card, readers, card_patients, card_path, args.requests)
        cpu1 = cpu_snapshot()
        line = run.card.line(
            "card",
            seconds,
            path=CARD_PATH,
            patients=len(card_patients),
            concurrency=args.read_concurrency,
            target_p99_ms=TARGETS["card_p99_ms"],
            machine=machine,
            **cpu_per(cpu0, cpu1, run.card.ok, "cpu_ms_per_request"),
        )
        emit(line)
        lines.append(line)

        seconds = await _reads(
            run, run.search, readers, search_patients, search_path, args.requests
        )
        line = run.search.line(
            "search",
            seconds,
            path=args.search_path,
            code=SEARCH_CODE,
            patients=len(search_patients),
            concurrency=args.read_concurrency,
            target_p99_ms=TARGETS["search_p99_ms"],
        )
        emit(line)
        lines.append(line)

        cpu0 = cpu_snapshot()
        seconds = await _signoffs(run, writers, unseen, args.duration)
        cpu1 = cpu_snapshot()
        synchronous_commit = await conn.fetchval("SHOW synchronous_commit")
        for name, stat in (("open", run.open), ("sign", run.sign)):
            line = stat.line(name, seconds, concurrency=args.concurrency)
            emit(line)
            lines.append(line)
        line = run.visits.line(
            "signoffs",
            seconds,
            concurrency=args.concurrency,
            diagnoses=len(SIGNOFF["diagnoses"]),
            vitals=len(SIGNOFF["vitals"]),
            target_per_second=TARGETS["signoffs_per_second"],
            synchronous_commit=synchronous_commit,
            **cpu_per(cpu0, cpu1, run.visits.ok, "cpu_ms_per_signoff"),
        )
        line["per_second"] = round(run.visits.ok / seconds, 1) if seconds > 0 else None
        line["seconds"] = round(seconds, 2)
        emit(line)
        lines.append(line)

        busiest = (
            await conn.fetchval(SQL_BUSIEST, card_patients + search_patients) or card_patients[0]
        )
        plan = await card_plans(conn, busiest)
        log(f"the card's queries for patient {busiest}, EXPLAIN (ANALYZE, BUFFERS):\n{plan}")
        line = {"workload": "plan", "patient_id": busiest, "plan": plan}
        emit(line)
        lines.append(line)
        return lines
    finally:
        for c in readers + writers:
            await c.aclose()
        await conn.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="imias bench records",
        description="The card, a measure's search and visit sign-offs against a served "
        "IMIAS on a city seeded with history; one JSON line per workload on stdout.",
    )
    add_served_options(parser)
    parser.add_argument("--requests", type=int, default=5_000, help="card and search requests")
    parser.add_argument("--patients", type=int, default=2_000, help="random patients to read")
    parser.add_argument("--read-concurrency", type=int, default=8, help="clients reading at once")
    parser.add_argument("--concurrency", type=int, default=32, help="doctors signing at once")
    parser.add_argument("--duration", type=float, default=20.0, help="seconds of sign-offs")
    parser.add_argument(
        "--max-visits", type=int, default=60_000, help="the most appointments to sign"
    )
    parser.add_argument(
        "--search-path",
        default=SEARCH_PATH,
        help="the observation search ({patient}, {code} filled in), e.g. "
        "'/fhir/R4/Observation?patient={patient}&code=http://loinc.org|{code}&_sort=-date'",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed")
    parser.add_argument("--quick", action="store_true", help="a few seconds, for CI")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.quick:
        args.requests = min(args.requests, 200)
        args.patients = min(args.patients, 100)
        args.duration = min(args.duration, 2.0)
        args.concurrency = min(args.concurrency, 8)
        args.read_concurrency = min(args.read_concurrency, 4)
        args.max_visits = min(args.max_visits, 500)
    if min(args.requests, args.patients, args.read_concurrency, args.concurrency) < 1 or (
        args.duration <= 0
    ):
        print("bench records: counts >= 1 and duration > 0", file=sys.stderr)
        return 2
    run_on_database(args.database_url, lambda url: run_workloads(args, url))
    return 0


if __name__ == "__main__":
    sys.exit(main())
