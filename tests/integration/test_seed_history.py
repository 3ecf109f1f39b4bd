"""`imias seed --history-days N`: past appointments in a small city, checked as their
users would look at them: on the doctors' working days, by the booking rules, with
realistic statuses and times, repeatable, and invisible to the engine and the jobs."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import bearer
import pytest
from citydb import build_city_database, drop_database, with_database, worker_id
from signin import app_client, key

from imias.booking import repository
from imias.booking.calendar_loader import load_calendar
from imias.booking.reminders import send_due_reminders
from imias.booking.rules import age_on
from imias.booking.schedules import ScheduleException, Template, expand, to_local
from imias.citygen import city as citygen
from imias.citygen import history
from imias.citygen.seed import CityAlreadySeeded, city_is_seeded, seed_city
from imias.domains import migrate_url
from imias.platform.db import create_pool
from loadtest.audit import audit

START = date(2026, 3, 5)  # a Thursday: the history is Monday to Wednesday
HISTORY = 3
FIRST = START - timedelta(days=HISTORY)
SMALL = {"clinics": 12, "doctors": 200, "patients": 2_000, "days": 14, "start": START}
# The appointments alone, for the tests of them (test_seed_records checks the records).
LEAN = {**SMALL, "medical_records": False}
ZONE = ZoneInfo(citygen.TIME_ZONE)
FINAL = {"completed", "cancelled", "no_show"}

# The shape of the two tables history loads: indexes, constraints, triggers.
SCHEMA = """
SELECT 'index ' || indexname || ': ' || indexdef FROM pg_indexes
 WHERE tablename IN ('appointments', 'referrals')
UNION ALL
SELECT 'constraint ' || conname || ': ' || pg_get_constraintdef(oid) || ' ' || convalidated::text
  FROM pg_constraint WHERE conrelid IN ('appointments'::regclass, 'referrals'::regclass)
UNION ALL
SELECT 'trigger ' || tgname || ': ' || tgenabled::text FROM pg_trigger
 WHERE tgrelid = 'appointments'::regclass AND NOT tgisinternal
ORDER BY 1
"""
HISTORY_DIGEST = """
SELECT md5(string_agg(a::text, '|' ORDER BY a.clinic_id, a.id)) FROM appointments a
UNION ALL
SELECT md5(string_agg(r::text, '|' ORDER BY r.clinic_id, r.id)) FROM referrals r
"""
# Two appointments of one doctor at one time; with $1, only those that kept the time.
OVERLAPS = """
SELECT count(*) FROM appointments a JOIN appointments b
    ON b.clinic_id = a.clinic_id AND b.doctor_id = a.doctor_id AND b.id > a.id
   AND b.starts_at < a.ends_at AND a.starts_at < b.ends_at
 WHERE $1::bool IS FALSE OR (a.status <> 'cancelled' AND b.status <> 'cancelled')
"""


async def _migrated(url: str) -> asyncpg.Connection:
    await migrate_url(url)
    return await asyncpg.connect(url)


@pytest.fixture(scope="module")
async def city(pg_admin_url: str) -> AsyncIterator[dict]:
    """A small city with three days of history (read only), and the shape of its
    tables before the seed."""
    name = f"imias_test_history_{worker_id()}"
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
    finally:
        await admin.close()
    url = with_database(pg_admin_url, name)
    conn = await _migrated(url)
    try:
        schema = [r[0] for r in await conn.fetch(SCHEMA)]
        report = await seed_city(conn, seed=1, history_days=HISTORY, **SMALL)
    finally:
        await conn.close()
    yield {"url": url, "report": report, "schema": schema}
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def conn(city: dict) -> AsyncIterator[asyncpg.Connection]:
    c = await asyncpg.connect(city["url"])
    try:
        yield c
    finally:
        await c.close()


@pytest.fixture
async def empty(fresh_database_url: str) -> AsyncIterator[asyncpg.Connection]:
    c = await _migrated(fresh_database_url)
    try:
        yield c
    finally:
        await c.close()


async def _rows(conn: asyncpg.Connection, sql: str, *args: object) -> list[dict]:
    return [dict(r) for r in await conn.fetch(sql, *args)]


async def test_history_fills_each_doctors_working_time_on_the_past_days(conn, city):
    report = city["report"]
    rows = await _rows(
        conn,
        "SELECT a.*, d.slot_minutes FROM appointments a "
        "JOIN doctors d ON d.clinic_id = a.clinic_id AND d.id = a.doctor_id",
    )
    assert len(rows) == report.rows("appointments") > 3_000
    assert report.rows("referrals") == await conn.fetchval("SELECT count(*) FROM referrals") > 0
    templates = [
        Template(**dict(r)) for r in await repository.templates_in_window(conn, FIRST, START)
    ]
    exceptions = [
        ScheduleException(**dict(r))
        for r in await repository.exceptions_in_window(conn, FIRST, START)
    ]
    blocks = expand(templates, exceptions, FIRST, HISTORY)
    assert any(e.day < START and e.kind in ("leave", "sick") for e in exceptions)
    slots = sum(
        (b.end - b.start) // r["slot_minutes"]
        for r in await _rows(conn, "SELECT id, slot_minutes FROM doctors")
        for b in blocks.get(r["id"], ())
    )
    per_day: Counter[date] = Counter()
    for r in rows:
        day, minute = to_local(r["starts_at"], ZONE)
        per_day[day] += 1
        slot = r["slot_minutes"]
        assert r["ends_at"] - r["starts_at"] == timedelta(minutes=slot)
        (block,) = [
            b
            for b in blocks[r["doctor_id"]]
            if b.day == day and b.start <= minute and minute + slot <= b.end
        ]
        assert (minute - block.start) % slot == 0, "on the doctor's slots"
        if block.channels == citygen.DESK_CHANNELS:
            assert r["channel"] in ("phone", "registrar")
    assert set(per_day) == {FIRST + timedelta(days=i) for i in range(HISTORY)}
    kept = sum(r["status"] != "cancelled" for r in rows)
    assert 0.65 < kept / slots < 0.92, "most of the working time was booked"


async def test_statuses_have_realistic_shares_and_times_tell_their_story(conn):
    rows = await _rows(conn, "SELECT * FROM appointments")
    shares = Counter(r["status"] for r in rows)
    assert set(shares) == FINAL, "nothing of the past is left booked"
    assert 0.80 < shares["completed"] / len(rows) < 0.91
    assert 0.06 < shares["cancelled"] / len(rows) < 0.13
    assert 0.025 < shares["no_show"] / len(rows) < 0.08
    assert set(Counter(r["channel"] for r in rows)) == {"web", "app", "phone", "kiosk", "registrar"}
    for r in rows:
        assert r["created_at"] < r["starts_at"] - timedelta(seconds=59)
        assert r["starts_at"] - r["created_at"] <= timedelta(days=14)
        assert r["hold_token"] is None and r["rescheduled_to"] is None
        if r["status"] == "cancelled":
            assert r["created_at"] <= r["cancelled_at"] < r["starts_at"]
            assert r["updated_at"] == r["cancelled_at"]
        else:
            assert r["cancelled_at"] is None
            assert r["ends_at"] <= r["updated_at"] <= r["ends_at"] + timedelta(minutes=11)
        if r["reminded_at"] is not None:  # a day ahead, or at once when booked later
            assert r["created_at"] < r["reminded_at"] < r["starts_at"]
            assert r["reminded_at"] >= r["starts_at"] - timedelta(days=1)
            assert r["cancelled_at"] is None or r["reminded_at"] < r["cancelled_at"]
    reminded = sum(r["reminded_at"] is not None for r in rows)
    assert reminded > 0.8 * len(rows)


async def test_no_doctor_is_double_booked_and_history_owns_no_time(conn, city):
    assert await conn.fetchval(OVERLAPS, True) == 0
    # Cancelled times were booked again by others: those are the only overlaps.
    assert await conn.fetchval(OVERLAPS, False) > 0
    assert await conn.fetchval("SELECT count(*) FROM appointment_units") == 0
    # The load set the indexes, keys and the units' trigger aside: all are back.
    assert [r[0] for r in await conn.fetch(SCHEMA)] == city["schema"]


async def test_the_units_trigger_works_again_after_the_load(city):
    conn = await asyncpg.connect(city["url"])
    tx = conn.transaction()
    await tx.start()
    try:
        row = await conn.fetchrow("SELECT * FROM appointments WHERE status = 'completed' LIMIT 1")
        insert = (
            "INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id,"
            " starts_at, ends_at, status, channel) VALUES ($1, $2, $3, $4, $5, $6, 'booked',"
            " 'web') RETURNING id"
        )
        values = [row[k] for k in ("clinic_id", "doctor_id", "patient_id", "specialty_id")]
        later = (row["starts_at"] + timedelta(days=30), row["ends_at"] + timedelta(days=30))
        new = await conn.fetchval(insert, *values, *later)
        assert new > await conn.fetchval("SELECT max(id) FROM appointments WHERE id <> $1", new)
        units = await conn.fetchval("SELECT count(*) FROM appointment_units")
        assert units == (later[1] - later[0]) // timedelta(minutes=5)
        with pytest.raises(asyncpg.UniqueViolationError, match="appointment_units_pkey"):
            await conn.fetchval(insert, *values, *later)
    finally:
        await tx.rollback()
        await conn.close()


async def test_patients_are_those_the_booking_rules_admit(conn):
    rows = await _rows(
        conn,
        """
        SELECT a.*, p.birth_date, p.sex AS patient_sex, p.attached_clinic_id, s.min_age,
               s.max_age, s.sex AS only_sex, s.attached_only, s.self_referral, c.kind,
               r.patient_id AS r_patient, r.specialty_id AS r_specialty, r.issued_at,
               r.valid_until, r.status AS r_status, r.clinic_id AS r_clinic,
               i.clinic_id AS issuer_clinic, si.attached_only AS issuer_primary
          FROM appointments a
          JOIN patients p ON p.id = a.patient_id
          JOIN specialties s ON s.id = a.specialty_id
          JOIN clinics c ON c.id = a.clinic_id
          LEFT JOIN referrals r ON r.clinic_id = a.referral_clinic_id AND r.id = a.referral_id
          LEFT JOIN doctors i ON i.clinic_id = r.clinic_id AND i.id = r.issued_by
          LEFT JOIN specialties si ON si.id = i.specialty_id
        """,
    )
    kinds: Counter[str] = Counter()
    for r in rows:
        day, _ = to_local(r["starts_at"], ZONE)
        age = age_on(r["birth_date"], day)
        assert r["min_age"] <= age <= r["max_age"], r
        assert r["only_sex"] is None or r["only_sex"] == r["patient_sex"], r
        if r["attached_only"]:
            assert r["clinic_id"] == r["attached_clinic_id"], "primary care at one's own clinic"
        elif r["kind"] == "children":
            assert age < 18
        elif r["kind"] == "adult":
            assert age >= 18
        if r["self_referral"]:
            assert r["referral_id"] is None
            continue
        kinds[r["status"]] += 1
        assert (r["r_patient"], r["r_specialty"]) == (r["patient_id"], r["specialty_id"])
        assert r["issued_at"] < r["created_at"] and r["valid_until"] >= day
        assert r["r_clinic"] == r["issuer_clinic"] == r["attached_clinic_id"]
        assert r["issuer_primary"], "referred by the patient's own primary-care doctor"
        if r["status"] == "cancelled":  # the referral came back to the patient
            expected = "active" if r["valid_until"] >= START else "expired"
            assert r["r_status"] == expected
        else:
            assert r["r_status"] == "used"
    assert set(kinds) == FINAL
    unused = await conn.fetchval(
        "SELECT count(*) FROM referrals r WHERE NOT EXISTS (SELECT 1 FROM appointments a"
        " WHERE a.referral_clinic_id = r.clinic_id AND a.referral_id = r.id)"
    )
    assert unused == 0, "every referral of the history was booked"


async def test_the_jobs_and_the_load_audit_leave_history_alone(conn, city):
    before = await conn.fetchval(HISTORY_DIGEST)
    # The no-show job at the start (history ended within its two days) marks nothing;
    # the reminder job on the first history morning (all of it a day ahead) sends nothing.
    start = datetime.combine(START, time(0), tzinfo=ZONE)
    assert await repository.mark_no_shows(conn, start) == 0
    pool = await create_pool(city["url"], 1)
    sent: list[object] = []

    class Sender:
        async def send(self, reminder: object) -> None:
            sent.append(reminder)

    try:
        morning = datetime.combine(FIRST, time(7), tzinfo=ZONE)
        assert await send_due_reminders(pool, Sender(), lambda: morning) == 0
    finally:
        await pool.close()
    assert sent == [] and await conn.fetchval(HISTORY_DIGEST) == before
    result = await audit(city["url"])
    assert result["passed"], result["checks"]


async def test_the_engine_ignores_the_past(empty: asyncpg.Connection):
    await seed_city(empty, seed=4, **SMALL)
    plain, plain_report = await load_calendar(empty, START)
    await seed_city(empty, seed=4, history_days=HISTORY, replace=True, **LEAN)
    assert await empty.fetchval("SELECT count(*) FROM appointments") > 0
    cal, report = await load_calendar(empty, START)
    assert report.appointments == 0 and report.unplaced_appointments == 0
    assert (report.doctors, report.slots) == (plain_report.doctors, plain_report.slots)
    for doctor in range(1, 201):
        for day in range(START.toordinal(), START.toordinal() + 14):
            assert cal.day_states(doctor, day) == plain.day_states(doctor, day)


async def test_the_same_seed_gives_the_same_history_and_the_city_is_unchanged(
    empty: asyncpg.Connection,
):
    city_tables = ("clinics", "doctors", "patients")
    digest = "SELECT md5(string_agg(t::text, '|' ORDER BY t::text)) FROM {} t"

    async def city() -> list[str]:
        tables = [await empty.fetchval(digest.format(t)) for t in city_tables]
        tables.append(  # created_at is the clock
            await empty.fetchval(
                "SELECT md5(string_agg(concat_ws(',', guardian_id, child_id, relation), '|'"
                " ORDER BY guardian_id, child_id)) FROM guardian_links"
            )
        )
        future = await empty.fetchval(
            "SELECT md5(string_agg(concat_ws(',', doctor_id, day, kind, starts, ends), '|'"
            " ORDER BY doctor_id, day, kind, starts)) FROM schedule_exceptions WHERE day >= $1",
            START,
        )
        weeks = await empty.fetchval(
            "SELECT md5(string_agg(concat_ws(',', doctor_id, weekday, starts, ends, channels,"
            " urgent), '|' ORDER BY id)) FROM schedule_templates"
        )
        return [*tables, future, weeks]

    await seed_city(empty, seed=7, **SMALL)
    without = await city()
    await seed_city(empty, seed=7, history_days=HISTORY, replace=True, **LEAN)
    first = [r[0] for r in await empty.fetch(HISTORY_DIGEST)]
    assert await city() == without, "history adds to the city, it does not change it"
    await seed_city(empty, seed=7, history_days=HISTORY, replace=True, batch_rows=333, **LEAN)
    assert [r[0] for r in await empty.fetch(HISTORY_DIGEST)] == first
    await seed_city(empty, seed=8, history_days=HISTORY, replace=True, **LEAN)
    other = [r[0] for r in await empty.fetch(HISTORY_DIGEST)]
    assert other[0] != first[0] and other[1] != first[1]


async def test_replace_empties_history_and_a_failed_history_leaves_nothing(
    empty: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
):
    schema = [r[0] for r in await empty.fetch(SCHEMA)]
    real = history.HistoryStream._doctor
    calls = []

    def failing(self, *args):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 150:
            raise RuntimeError("history generator crashed")
        return real(self, *args)

    monkeypatch.setattr(history.HistoryStream, "_doctor", failing)
    with pytest.raises(RuntimeError, match="history generator crashed"):
        await seed_city(empty, seed=1, history_days=HISTORY, batch_rows=500, **SMALL)
    assert not await city_is_seeded(empty)
    for table in ("patients", "appointments", "referrals"):
        assert await empty.fetchval(f"SELECT count(*) FROM {table}") == 0, table
    assert [r[0] for r in await empty.fetch(SCHEMA)] == schema
    assert isinstance(await empty.fetchval("SELECT now()"), datetime), "codec restored"
    monkeypatch.setattr(history.HistoryStream, "_doctor", real)

    await seed_city(empty, seed=1, history_days=HISTORY, **SMALL)
    assert await empty.fetchval("SELECT count(*) FROM appointments") > 0
    with pytest.raises(CityAlreadySeeded):
        await seed_city(empty, seed=1, **SMALL)
    await seed_city(empty, seed=1, replace=True, **SMALL)
    for table in ("appointments", "referrals", "appointment_units"):
        assert await empty.fetchval(f"SELECT count(*) FROM {table}") == 0, table


async def test_history_days_out_of_range_are_refused_before_touching_the_database():
    for days in (-1, 367):
        with pytest.raises(ValueError, match="history days"):
            await seed_city(None, history_days=days)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def served(pg_admin_url: str) -> AsyncIterator[str]:
    """A city whose schedules start today, with three days of history behind it."""
    name = f"imias_test_history_served_{worker_id()}"
    url = await build_city_database(
        pg_admin_url, name, clinics=12, doctors=200, patients=2_000, history_days=HISTORY
    )
    yield url
    await drop_database(pg_admin_url, name)


async def test_patients_and_doctors_see_history_as_the_past_and_book_on(served, redis_url):
    conn = await asyncpg.connect(served)
    try:
        # An adult whose therapist saw them, at their own clinic.
        seen = await conn.fetchrow(
            """
            SELECT a.patient_id, a.doctor_id, a.clinic_id, a.starts_at, p.attached_clinic_id
              FROM appointments a JOIN patients p ON p.id = a.patient_id
              JOIN specialties s ON s.id = a.specialty_id
             WHERE s.code = 'therapist' AND a.status = 'completed'
             ORDER BY a.id LIMIT 1
            """
        )
        past = await conn.fetchval(
            "SELECT count(*) FROM appointments WHERE patient_id = $1", seen["patient_id"]
        )
        day = await conn.fetch(
            "SELECT id, status FROM appointments WHERE doctor_id = $1"
            " AND (starts_at AT TIME ZONE 'Europe/Moscow')::date = $2",
            seen["doctor_id"],
            to_local(seen["starts_at"], ZONE)[0],
        )
    finally:
        await conn.close()
    patient, me = seen["patient_id"], bearer.patient(seen["patient_id"])
    async with app_client(served, redis_url) as client:
        engine = client.app_state.engine
        assert engine.calendar is not None and engine.first_day > seen["starts_at"].date()
        mine = (await client.get(f"/api/v1/patients/{patient}/appointments", headers=me)).json()
        assert len(mine) == past and {a["status"] for a in mine} <= FINAL
        assert all(a["starts_at"] < engine.today().isoformat() for a in mine)
        # History never blocks a booking: the therapist again, at the patient's clinic.
        slots = await client.get(
            "/api/v1/slots",
            params={"specialty": "therapist", "clinic": seen["attached_clinic_id"], "limit": 5},
        )
        slot = slots.json()[-1]
        booked = await client.post(
            "/api/v1/appointments",
            json={
                "patient_id": patient,
                "doctor_id": slot["doctor_id"],
                "starts_at": slot["starts_at"],
            },
            headers=key() | me,
        )
        assert booked.status_code == 201, booked.text
        mine = (await client.get(f"/api/v1/patients/{patient}/appointments", headers=me)).json()
        assert [a["status"] for a in mine][:1] == ["booked"] and len(mine) == past + 1
        # The doctor's day in the past lists the visits and the no-shows, not cancellations.
        local_day = to_local(seen["starts_at"], ZONE)[0].isoformat()
        listing = await client.get(
            f"/api/v1/doctors/{seen['doctor_id']}/day",
            params={"date": local_day},
            headers=bearer.doctor(seen["doctor_id"], seen["clinic_id"]),
        )
        assert listing.status_code == 200
        shown = {e["appointment"]["id"]: e["appointment"]["status"] for e in listing.json()}
        assert shown == {r["id"]: r["status"] for r in day if r["status"] != "cancelled"}
        assert all(e["patient_name"] for e in listing.json())
