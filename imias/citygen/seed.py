"""The city data generator behind ``imias seed``: clinics, doctors, schedules, patients,
the patients' guardians and the staff's accounts.

A synthetic Moscow: by default 678 clinics over the twelve administrative okrugs,
21,500 doctors over the specialties of :mod:`imias.citygen.catalogue`, weekly
schedule templates with leave, sick days and extra shifts over the next ``days``
days, and 100,000 patients (``patients=9_500_000`` loads the full city). Names come
from pools built once with Faker's ``ru_RU`` locale and combined with a seeded
``random.Random``, so the same seed and start date give the same city, row for row.
Nothing describes a real person: policy numbers and phones are synthetic.

Children are linked to one or two adult patients as their guardians. Staff accounts
(an administrator, a registrar per clinic, a login for each doctor, one of each other
role) share one demo password, :data:`DEMO_PASSWORD`, hashed once with Argon2 per seed:
a demo city is synthetic, and its password is documented as demo-only.

With ``history_days`` the city also gets the appointments of that many days before its
schedules, and their referrals (:mod:`imias.citygen.history`), and the medical records
of the completed visits among them (:mod:`imias.citygen.records`). A few percent of the
adults hold a driver's certificate with the examinations behind it
(:mod:`imias.citygen.certificates`), signed with the deployment's secret as its
prescriptions are.

Everything is loaded with COPY in one transaction: a failure leaves the database as
it was. A database that already holds a city is refused unless ``replace=True``,
which truncates the booking tables (and whatever refers to them) first.

For the CLI: :func:`run_seed` (sync) and :func:`city_is_seeded`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from imias.citygen import bulkload, certificates, history, organisations, prescribing, records
from imias.citygen import catalogue as cat
from imias.citygen import city as citygen
from imias.identity import Passwords
from imias.platform.db import Connection
from prescriptions import Catalogue, LocalAuthority

BATCH_ROWS = 50_000
MAX_HISTORY_DAYS = 366  # a year of the past is plenty (imias seed --history-days)

DEMO_PASSWORD = "imias-demo"

# Everything `replace=True` empties, children first (TRUNCATE takes them together).
# The audit log is history and is never emptied.
BOOKING_TABLES = (
    "certificates",
    "exam_conclusions",
    "certificate_keys",
    "dispensings",
    "prescription_periods",
    "prescriptions",
    "signing_keys",
    "patient_benefits",
    "ehr_versions",
    "immunizations",
    "allergies",
    "observations",
    "conditions",
    "encounters",
    "break_glass_grants",
    "guardian_links",
    "staff_accounts",
    "appointment_units",
    "appointments",
    "referrals",
    "waitlist_entries",
    "idempotency_keys",
    "schedule_exceptions",
    "schedule_templates",
    "patients",
    "schools",
    "ambulance_stations",
    "doctors",
    "pharmacies",
    "clinics",
    "specialties",
)
#: Tables of the city that a database migrated before them lacks (the seed leaves them).
_LATER_TABLES = frozenset({"schools", "ambulance_stations"})
# A city is there when one of these has a row.
_CITY_TABLES = ("specialties", "clinics", "doctors", "patients", "appointments")

CLINIC_COLUMNS = ("id", "name", "address", "district", "lat", "lon", "time_zone", "kind")
DOCTOR_COLUMNS = (
    "clinic_id",
    "id",
    "specialty_id",
    "family_name",
    "given_name",
    "patronymic",
    "room",
    "slot_minutes",
)
TEMPLATE_COLUMNS = (
    "clinic_id",
    "doctor_id",
    "weekday",
    "starts",
    "ends",
    "channels",
    "urgent",
    "valid_from",
)
EXCEPTION_COLUMNS = ("clinic_id", "doctor_id", "day", "kind", "starts", "ends", "channels")
PATIENT_COLUMNS = (
    "id",
    "policy_number",
    "family_name",
    "given_name",
    "patronymic",
    "birth_date",
    "sex",
    "phone",
    "attached_clinic_id",
)

GUARDIAN_COLUMNS = ("guardian_id", "child_id", "relation")
STAFF_COLUMNS = (
    "username",
    "role",
    "full_name",
    "clinic_id",
    "doctor_id",
    "organisation_id",
    "password_hash",
)

# pg_advisory_xact_lock key: two seeds at once would wait for each other ("IMIASEED").
_SEED_LOCK = 0x494D4941_53454544 & 0x7FFFFFFFFFFFFFFF


class CityAlreadySeeded(RuntimeError):
    """The database already holds a city and ``replace`` was not asked for."""


@dataclass(frozen=True)
class TableLoad:
    table: str
    rows: int
    seconds: float

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class SeedReport:
    """What a seed loaded, how fast, and how big the database is now."""

    seed: int
    start: date
    tables: tuple[TableLoad, ...]
    seconds: float  # the whole run: planning, loading, commit and ANALYZE
    database_bytes: int
    database_size: str  # pg_size_pretty

    def rows(self, table: str) -> int:
        return next((t.rows for t in self.tables if t.table == table), 0)

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds > 0 else 0.0

    def render(self) -> Table:
        table = Table(title=f"City seeded (seed {self.seed}, schedules from {self.start})")
        table.add_column("table")
        table.add_column("rows", justify="right")
        table.add_column("seconds", justify="right")
        table.add_column("rows/s", justify="right")
        for t in self.tables:
            table.add_row(t.table, f"{t.rows:,}", f"{t.seconds:.2f}", f"{t.rows_per_second:,.0f}")
        table.add_section()
        table.add_row(
            "total", f"{self.total_rows:,}", f"{self.seconds:.2f}", f"{self.rows_per_second:,.0f}"
        )
        table.caption = f"database size {self.database_size}"
        return table

    def summary(self) -> str:
        lines = [f"{t.table}: {t.rows:,} rows in {t.seconds:.2f} s" for t in self.tables]
        lines.append(
            f"total: {self.total_rows:,} rows in {self.seconds:.2f} s "
            f"({self.rows_per_second:,.0f} rows/s); database size {self.database_size}"
        )
        return "\n".join(lines)


class _RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        if not speed and task.finished_time:  # a total set at the end (_Bars.finish)
            speed = task.completed / task.finished_time
        return Text(f"{speed:,.0f} rows/s" if speed else "", style="progress.data.speed")


class _Bars:
    """A rich progress bar per table, or nothing when ``enabled`` is false."""

    def __init__(self, enabled: bool, console: Console | None) -> None:
        self._progress = (
            Progress(
                TextColumn("{task.description:<20}"),
                BarColumn(),
                MofNCompleteColumn(),
                _RowsPerSecond(),
                TimeElapsedColumn(),
                console=console,
            )
            if enabled
            else None
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _Bars:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def add(self, table: str, total: int) -> None:
        if self._progress is not None:
            self._tasks[table] = self._progress.add_task(table, total=total, start=False)

    def start(self, table: str) -> None:
        if self._progress is not None:
            self._progress.start_task(self._tasks[table])

    def advance(self, table: str, rows: int) -> None:
        if self._progress is not None:
            self._progress.advance(self._tasks[table], rows)

    def finish(self, table: str, rows: int) -> None:
        """The bar's total was an estimate: make it what was loaded."""
        if self._progress is not None:
            self._progress.update(self._tasks[table], total=rows, completed=rows)


def moscow_today() -> date:
    return datetime.now(ZoneInfo(citygen.TIME_ZONE)).date()


SAMPLE_PATIENTS = """
SELECT policy_number, to_char(birth_date, 'DD.MM.YYYY') AS born FROM patients
 WHERE phone IS NOT NULL AND birth_date < now() - interval '25 years'
 ORDER BY id LIMIT $1
"""


async def sample_patients(conn: Connection, count: int = 3) -> list[tuple[str, str]]:
    """Adults of the city with a phone (policy number, birth date as the pages ask it)."""
    return [(r["policy_number"], r["born"]) for r in await conn.fetch(SAMPLE_PATIENTS, count)]


async def city_is_seeded(conn: Connection) -> bool:
    """Whether the (migrated) database holds a city: at least one clinic."""
    return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM clinics)"))


async def _refuse_if_seeded(conn: Connection) -> None:
    held = [
        table
        for table in _CITY_TABLES
        if await conn.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})")
    ]
    if held:
        clinics = await conn.fetchval("SELECT count(*) FROM clinics")
        raise CityAlreadySeeded(
            f"the database already holds a city ({clinics:,} clinics; rows in "
            f"{', '.join(held)}); seed with replace (imias seed --replace) to delete it, "
            "and everything that refers to it, and generate a new one"
        )


async def _copy(
    conn: Connection,
    table: str,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    bars: _Bars,
    batch_rows: int,
) -> TableLoad:
    bars.start(table)
    began = time.perf_counter()
    for i in range(0, len(rows), batch_rows):
        chunk = rows[i : i + batch_rows]
        await conn.copy_records_to_table(table, records=chunk, columns=columns)
        bars.advance(table, len(chunk))
    return TableLoad(table, len(rows), time.perf_counter() - began)


async def _copy_patients(
    conn: Connection,
    stream: citygen.PatientStream,
    total: int,
    bars: _Bars,
    batch_rows: int,
    index: history.PatientIndex | None = None,
    benefits: prescribing.Benefits | None = None,
) -> list[TableLoad]:
    """Generate the next batch in a thread while PostgreSQL takes this one; the
    guardians of each batch's children follow it, and with ``benefits`` their benefit
    categories. With ``index``, each batch is also noted there for the history."""
    bars.start("patients")
    began = time.perf_counter()
    left = total
    links = 0
    link_seconds = 0.0
    granted = 0
    benefit_seconds = 0.0

    def next_batch() -> Awaitable[list[tuple[Any, ...]]] | None:
        nonlocal left
        count = min(batch_rows, left)
        left -= count
        return asyncio.ensure_future(asyncio.to_thread(stream.batch, count)) if count else None

    pending = next_batch()
    try:
        while pending is not None:
            rows = await pending
            pending = next_batch()
            await conn.copy_records_to_table("patients", records=rows, columns=PATIENT_COLUMNS)
            bars.advance("patients", len(rows))
            if index is not None:
                index.add(rows)
            linked = time.perf_counter()
            guardians = stream.guardians(rows)
            await conn.copy_records_to_table(
                "guardian_links", records=guardians, columns=GUARDIAN_COLUMNS
            )
            links += len(guardians)
            link_seconds += time.perf_counter() - linked
            if benefits is not None:
                copied = time.perf_counter()
                rows_of = benefits.rows(rows)
                await conn.copy_records_to_table(
                    "patient_benefits", records=rows_of, columns=prescribing.BENEFIT_COLUMNS
                )
                granted += len(rows_of)
                benefit_seconds += time.perf_counter() - copied
    finally:
        if pending is not None:  # the copy failed: let the generator thread finish first
            await asyncio.gather(pending, return_exceptions=True)
    loads = [
        TableLoad("patients", total, time.perf_counter() - began - link_seconds - benefit_seconds),
        TableLoad("guardian_links", links, link_seconds),
    ]
    if benefits is not None:
        loads.append(TableLoad("patient_benefits", granted, benefit_seconds))
    return loads


async def _copy_history(
    conn: Connection,
    stream: history.HistoryStream,
    bars: _Bars,
    batch_rows: int,
    notes: records.RecordsStream | None = None,
    rx: prescribing.PrescriptionStream | None = None,
) -> list[TableLoad]:
    """The past appointments and their referrals, generated a batch ahead in a thread
    as the patients are; a batch's referrals go first, for its appointments refer to
    them. The rows carry their ids: the sequences continue after them.

    The two tables' indexes and foreign keys are set aside for the load and made again
    after it (:mod:`imias.citygen.bulkload`); so is the trigger that gives active
    appointments their time units, which does nothing for history's statuses.

    With ``notes``, each batch's completed visits get their medical records
    (:mod:`imias.citygen.records`), made in the same thread after the batch and loaded
    after its appointments, the record tables' indexes and keys set aside likewise.
    With ``rx`` (and ``notes``), the prescriptions written at those visits and their
    dispensings (:mod:`imias.citygen.prescribing`) follow each batch's records."""
    bars.start("appointments")
    bars.start("referrals")
    began = time.perf_counter()
    referral_seconds = 0.0
    batches = stream.batches(batch_rows)
    referral_keys = await bulkload.set_aside(conn, "referrals")
    appointment_keys = await bulkload.set_aside(
        conn, "appointments", triggers=("appointments_occupy_units",)
    )
    record_keys: list[str] = []
    record_seconds = dict.fromkeys((name for name, _ in records.TABLES), 0.0)
    rx_seconds = dict.fromkeys((name for name, _ in prescribing.TABLES), 0.0)
    if rx is not None:
        for name, _ in prescribing.TABLES:
            bars.start(name)
    if notes is not None:
        for name, _ in records.TABLES:
            bars.start(name)
            record_keys += await bulkload.set_aside(conn, name)
    await conn.set_type_codec(**history.WIRE_CODEC)
    if notes is not None:
        await conn.set_type_codec(**records.JSONB_WIRE_CODEC)

    def made() -> Any:
        batch = next(batches, None)
        if batch is None or notes is None:
            return batch
        written = notes.batch(batch[0])
        return (*batch, written, None if rx is None else rx.batch(written))

    def next_batch() -> Awaitable[Any]:
        return asyncio.ensure_future(asyncio.to_thread(made))

    pending = next_batch()
    try:
        while (batch := await pending) is not None:
            pending = next_batch()
            appointments, referrals = batch[0], batch[1]
            copied = time.perf_counter()
            await conn.copy_records_to_table(
                "referrals", records=referrals, columns=history.REFERRAL_COLUMNS
            )
            bars.advance("referrals", len(referrals))
            referral_seconds += time.perf_counter() - copied
            await conn.copy_records_to_table(
                "appointments", records=appointments, columns=history.APPOINTMENT_COLUMNS
            )
            bars.advance("appointments", len(appointments))
            for name, columns in records.TABLES if notes is not None else ():
                copied = time.perf_counter()
                rows = batch[2][name]
                for i in range(0, len(rows), batch_rows):
                    chunk = rows[i : i + batch_rows]
                    await conn.copy_records_to_table(name, records=chunk, columns=columns)
                    bars.advance(name, len(chunk))
                record_seconds[name] += time.perf_counter() - copied
            for name, columns in prescribing.TABLES if rx is not None else ():
                copied = time.perf_counter()
                rows = batch[3][name]
                for i in range(0, len(rows), batch_rows):
                    chunk = rows[i : i + batch_rows]
                    await conn.copy_records_to_table(name, records=chunk, columns=columns)
                    bars.advance(name, len(chunk))
                rx_seconds[name] += time.perf_counter() - copied
    finally:
        await asyncio.gather(pending, return_exceptions=True)  # the generator is done
        await conn.reset_type_codec("timestamptz", schema="pg_catalog")
        await conn.reset_type_codec("jsonb", schema="pg_catalog")
    restored = time.perf_counter()
    await bulkload.restore(conn, referral_keys)
    referral_seconds += time.perf_counter() - restored
    await bulkload.restore(conn, appointment_keys)
    for table, rows in (("appointments", stream.appointments), ("referrals", stream.referrals)):
        bars.finish(table, rows)
        if rows:
            await conn.execute("SELECT setval(pg_get_serial_sequence($1, 'id'), $2)", table, rows)
    loads = [TableLoad("appointments", stream.appointments, 0.0)]
    loads.append(TableLoad("referrals", stream.referrals, referral_seconds))
    if notes is not None:
        restored = time.perf_counter()
        await bulkload.restore(conn, record_keys)
        # The indexes rebuilt: their time is the encounters' (the table the load is of).
        record_seconds["encounters"] += time.perf_counter() - restored
        for table, last in notes.last_ids().items():
            if last:
                await conn.execute(
                    "SELECT setval(pg_get_serial_sequence($1, 'id'), $2)", table, last
                )
        for name, _ in records.TABLES:
            bars.finish(name, notes.counts[name])
            loads.append(TableLoad(name, notes.counts[name], record_seconds[name]))
    if rx is not None:
        for table, last in (
            ("prescriptions", rx.last_prescription),
            ("dispensings", rx.last_dispensing),
        ):
            if last:
                await conn.execute(
                    "SELECT setval(pg_get_serial_sequence($1, 'id'), $2)", table, last
                )
        for name, _ in prescribing.TABLES:
            bars.finish(name, rx.counts[name])
            loads.append(TableLoad(name, rx.counts[name], rx_seconds[name]))
    # The rest is the appointments' (with the wait for the generator, records included).
    appointment_seconds = (
        time.perf_counter()
        - began
        - referral_seconds
        - sum(record_seconds.values())
        - sum(rx_seconds.values())
    )
    loads[0] = TableLoad("appointments", stream.appointments, appointment_seconds)
    return loads


def _check_size(
    clinics: int, doctors: int, patients: int, days: int, history_days: int, batch_rows: int
) -> None:
    if clinics < 1:
        raise ValueError("a city needs at least one clinic")
    if doctors < clinics:
        raise ValueError(f"every clinic needs a doctor: {doctors} doctors for {clinics} clinics")
    if patients < 0 or days < 0:
        raise ValueError("patients and days cannot be negative")
    if not 0 <= history_days <= MAX_HISTORY_DAYS:
        raise ValueError(f"history days must be between 0 and {MAX_HISTORY_DAYS}")
    if batch_rows < 1:
        raise ValueError("batch_rows must be at least 1")


async def seed_city(
    conn: Connection,
    *,
    clinics: int = 678,
    doctors: int = 21_500,
    patients: int = 100_000,
    days: int = 14,
    history_days: int = 0,
    start: date | None = None,
    seed: int = 1,
    replace: bool = False,
    progress: bool = False,
    batch_rows: int = BATCH_ROWS,
    console: Console | None = None,
    medical_records: bool = True,
    with_prescriptions: bool = True,
    secret: str | None = None,
    city_code: str = "MOW",
    with_certificates: bool = True,
    with_clinic_admins: bool = True,
) -> SeedReport:
    """Generate a city and load it into the migrated database behind ``conn``.

    ``start`` (default: today in Moscow) is the first day of the schedules and the
    day ages are counted on; the same ``seed`` and ``start`` give the same city.
    ``history_days`` adds past appointments over that many days before ``start``
    (:mod:`imias.citygen.history`) and, unless ``medical_records`` is false, the medical records
    of its completed visits (:mod:`imias.citygen.records`); the rest of the city is the
    same with or without.
    The city's pharmacies and its patients' benefit categories come with it
    (:mod:`imias.citygen.prescribing`); with the records and ``secret`` (the deployment's
    secret, as the server resolves it: ``IMIAS_SECRET_KEY`` or the embedded default's key
    file) also the prescriptions of the past visits, signed by the system's authority of
    that secret for the city ``city_code`` (the server's ``city_code``), and their
    dispensings. Without ``secret`` there are none: a prescription signed with another
    key would be refused at every counter. ``with_prescriptions=False`` leaves out pharmacies,
    benefits and prescriptions (a database migrated before they came has no tables for
    them).
    With ``secret`` a few percent of the adults also hold a driver's certificate, with
    the examinations behind it, signed by their clinic's key sealed with that secret
    (:mod:`imias.citygen.certificates`); ``with_certificates=False`` leaves them out.
    ``with_clinic_admins=False`` leaves out the clinics' administrators (a database
    migrated before their role came refuses them).
    One transaction: on any error nothing is left behind. Raises
    :class:`CityAlreadySeeded` if the database holds a city and not ``replace``.
    """
    _check_size(clinics, doctors, patients, days, history_days, batch_rows)
    if not replace:
        await _refuse_if_seeded(conn)  # early, before any work; checked again under the lock
    start = moscow_today() if start is None else start
    began = time.perf_counter()
    pools = citygen.name_pools()
    rng = random.Random(f"imias-city-{seed}")
    clinic_plan = citygen.plan_clinics(clinics, rng, pools)
    pharmacy_plan = prescribing.plan_pharmacies(
        clinics, random.Random(f"imias-pharmacies-{seed}"), pools
    )
    drugs = Catalogue.bundled()
    benefits = prescribing.Benefits(drugs, seed, start) if with_prescriptions else None
    doctor_plan = citygen.plan_doctors(clinic_plan, doctors, rng, pools)
    school_rows, station_rows = organisations.plan(
        clinics, random.Random(f"imias-organisations-{seed}"), pools
    )
    past_rng = random.Random(f"imias-past-schedules-{seed}")
    templates, exceptions = citygen.plan_schedules(
        doctor_plan, start, days, rng, past_days=history_days, past_rng=past_rng
    )
    stream = citygen.PatientStream(clinic_plan, start, seed, pools)
    index = history.PatientIndex(start) if history_days else None
    staff_plan = citygen.plan_staff(clinic_plan, doctor_plan, rng, pools)
    if not with_clinic_admins:
        staff_plan = [row for row in staff_plan if row[1] != "clinic_admin"]
    demo_hash = Passwords().hash(DEMO_PASSWORD)  # once: Argon2 is slow by design
    tables: list[tuple[str, Sequence[str], Sequence[tuple[Any, ...]]]] = [
        ("specialties", cat.SPECIALTY_COLUMNS, [s.row() for s in cat.SPECIALTIES]),
        ("clinics", CLINIC_COLUMNS, [c.row() for c in clinic_plan]),
        ("doctors", DOCTOR_COLUMNS, [d.row() for d in doctor_plan]),
        ("schedule_templates", TEMPLATE_COLUMNS, templates),
        ("schedule_exceptions", EXCEPTION_COLUMNS, exceptions),
        ("schools", organisations.SCHOOL_COLUMNS, school_rows),
        ("ambulance_stations", organisations.STATION_COLUMNS, station_rows),
    ]
    if with_prescriptions:
        tables.insert(
            2, ("pharmacies", prescribing.PHARMACY_COLUMNS, [p.row() for p in pharmacy_plan])
        )
    loads: list[TableLoad] = []
    rx: prescribing.PrescriptionStream | None = None
    with _Bars(progress, console) as bars:
        for name, _, rows in tables:
            bars.add(name, len(rows))
        bars.add("patients", patients)
        bars.add("staff_accounts", len(staff_plan))
        if history_days:  # estimates: the bars get the true totals at the end
            planned = history.plan_size(doctor_plan, templates, start, history_days)
            bars.add("appointments", planned[0])
            bars.add("referrals", planned[1])
            for name, estimated in records.estimate(planned[0] if medical_records else 0).items():
                bars.add(name, estimated)
            if medical_records and secret is not None and benefits is not None:
                for name, _ in prescribing.TABLES:
                    bars.add(name, planned[0] // 20)  # an estimate
        signing = with_certificates and secret is not None
        if signing:
            certificates.add_bars(bars, patients)
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", _SEED_LOCK)
            if not replace:
                await _refuse_if_seeded(conn)
            # Empty tables either way: RESTART IDENTITY makes the generated ids repeat.
            # The tables this database has (one migrated before a domain came has not
            # its tables).
            present = await conn.fetchval(
                "SELECT array_agg(t) FROM unnest($1::text[]) AS t WHERE to_regclass(t) IS NOT NULL",
                list(BOOKING_TABLES),
            )
            await conn.execute(f"TRUNCATE {', '.join(present)} RESTART IDENTITY CASCADE")
            loaded = set(present)
            for name, columns, rows in tables:
                if name in _LATER_TABLES and name not in present:
                    bars.finish(name, 0)  # a database migrated before they came
                    continue
                loads.append(await _copy(conn, name, columns, rows, bars, batch_rows))
            loads.extend(
                await _copy_patients(conn, stream, patients, bars, batch_rows, index, benefits)
            )
            staff = [(*row, demo_hash) for row in staff_plan]
            loads.append(
                await _copy(conn, "staff_accounts", STAFF_COLUMNS, staff, bars, batch_rows)
            )
            if index is not None:
                past = history.HistoryStream(
                    clinic_plan,
                    doctor_plan,
                    templates,
                    exceptions,
                    index,
                    start,
                    history_days,
                    seed,
                    wire=True,
                )
                notes = (
                    records.RecordsStream(
                        clinic_plan, doctor_plan, staff_plan, index, start, seed, wire=True
                    )
                    if medical_records
                    else None
                )
                if notes is not None and secret is not None and benefits is not None:
                    rx = prescribing.PrescriptionStream(
                        drugs,
                        benefits,
                        LocalAuthority(conn, secret),
                        city=city_code,
                        clinics=clinic_plan,
                        pharmacies=pharmacy_plan,
                        pharmacists=_pharmacists(staff_plan),
                        birth=index.birth,
                        start=start,
                        history_days=history_days,
                        seed=seed,
                    )
                loads.extend(await _copy_history(conn, past, bars, batch_rows, notes, rx))
            if signing and await conn.fetchval("SELECT to_regclass('certificates') IS NOT NULL"):
                assert secret is not None
                made = await certificates.load(
                    conn, clinics=clinic_plan, doctors=doctor_plan, staff=staff_plan,
                    patients=patients, start=start, history_days=history_days, seed=seed,
                    secret=secret, city_code=city_code, bars=bars, batch_rows=batch_rows,
                )  # fmt: skip
                loads.extend(TableLoad(*t) for t in made)
            else:
                signing = False
    if not conn.is_in_transaction():  # the planner needs statistics for the new city
        analyzed = (
            [name for name, _, rows in tables if rows and name in loaded]
            + [
                "patients",
                "guardian_links",
                "staff_accounts",
            ]
            + (["patient_benefits"] if benefits is not None else [])
        )
        if history_days:
            analyzed += ["appointments", "referrals"]
            analyzed += [name for name, _ in records.TABLES] if medical_records else []
            analyzed += [name for name, _ in prescribing.TABLES] if rx is not None else []
        if signing:
            analyzed += ["certificate_keys", *(name for name, _ in certificates.TABLES)]
        await conn.execute(f"ANALYZE {', '.join(dict.fromkeys(analyzed))}")
    size = await conn.fetchrow(
        "SELECT pg_database_size(current_database()) AS bytes,"
        " pg_size_pretty(pg_database_size(current_database())) AS pretty"
    )
    assert size is not None  # a SELECT without FROM returns one row
    return SeedReport(
        seed=seed,
        start=start,
        tables=tuple(_merged(loads)),
        seconds=time.perf_counter() - began,
        database_bytes=size["bytes"],
        database_size=size["pretty"],
    )


def _merged(loads: Sequence[TableLoad]) -> list[TableLoad]:
    """One load a table (benefits are loaded with the patients and, a disease's, with
    the records), in the order first loaded."""
    by_table: dict[str, TableLoad] = {}
    for t in loads:
        was = by_table.get(t.table)
        by_table[t.table] = (
            t if was is None else TableLoad(t.table, was.rows + t.rows, was.seconds + t.seconds)
        )
    return list(by_table.values())


def _pharmacists(staff: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
    """The staff ids (in the order loaded, from 1) of the subsidised and the commercial
    pharmacy's demo pharmacists."""
    ids = {row[0]: i for i, row in enumerate(staff, 1)}
    return ids["pharmacist.1"], ids["pharmacist.2"]


def run_seed(
    database_url: str,
    *,
    clinics: int = 678,
    doctors: int = 21_500,
    patients: int = 100_000,
    days: int = 14,
    history_days: int = 0,
    start: date | None = None,
    seed: int = 1,
    replace: bool = False,
    progress: bool = True,
    console: Console | None = None,
    secret: str | None = None,
    city_code: str = "MOW",
) -> SeedReport:
    """:func:`seed_city` over a new connection to ``database_url``, for the CLI.

    With ``progress`` it draws the bars and prints the report table at the end.
    """

    async def main() -> SeedReport:
        conn = await asyncpg.connect(database_url)
        try:
            return await seed_city(
                conn,
                clinics=clinics,
                doctors=doctors,
                patients=patients,
                days=days,
                history_days=history_days,
                start=start,
                seed=seed,
                replace=replace,
                progress=progress,
                console=console,
                secret=secret,
                city_code=city_code,
            )
        finally:
            await conn.close()

    report = asyncio.run(main())
    if progress:
        (console or Console()).print(report.render())
    return report
