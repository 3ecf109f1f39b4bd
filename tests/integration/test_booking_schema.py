"""The database itself refuses a double booking, whatever wrote the rows."""

import asyncio
import json
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

T0 = datetime(2026, 12, 1, 7, 0, tzinfo=UTC)  # 10:00 in Moscow


async def _city(conn: asyncpg.Connection) -> None:
    await conn.execute(
        """
        INSERT INTO specialties (id, code, name_ru, name_en, self_referral, slot_minutes)
        VALUES (1, 'therapist', 'Терапевт', 'Therapist', true, 15);
        INSERT INTO clinics (id, name, address, district, lat, lon, kind)
        VALUES (10, 'Поликлиника № 1', 'ул. Тверская, 1', 'ЦАО', 55.76, 37.61, 'adult');
        INSERT INTO doctors (clinic_id, id, specialty_id, family_name, given_name, slot_minutes)
        VALUES (10, 100, 1, 'Иванова', 'Мария', 15), (10, 101, 1, 'Петров', 'Олег', 15);
        INSERT INTO patients (id, policy_number, family_name, given_name, birth_date, sex)
        VALUES (1000, '7700000000000001', 'Смирнов', 'Иван', '1980-05-01', 'M'),
               (1001, '7700000000000002', 'Кузнецова', 'Анна', '1991-02-11', 'F');
        """
    )


async def _book(conn, doctor: int, patient: int, start: datetime, minutes: int = 15) -> int:
    return await conn.fetchval(
        """
        INSERT INTO appointments
            (clinic_id, doctor_id, patient_id, specialty_id, starts_at, ends_at, channel)
        VALUES (10, $1, $2, 1, $3, $4, 'web') RETURNING id
        """,
        doctor,
        patient,
        start,
        start + timedelta(minutes=minutes),
    )


async def test_an_overlapping_appointment_is_refused_by_the_database(db):
    await _city(db)
    await _book(db, 100, 1000, T0)
    with pytest.raises(asyncpg.UniqueViolationError) as caught:
        async with db.transaction():
            await _book(db, 100, 1001, T0 + timedelta(minutes=10))
    assert caught.value.constraint_name == "appointment_units_pkey"
    # Back to back is fine, and so is the same time with another doctor.
    await _book(db, 100, 1001, T0 + timedelta(minutes=15))
    await _book(db, 101, 1001, T0)
    active = await db.fetchval("SELECT count(*) FROM appointments WHERE status = 'booked'")
    assert active == 3


async def test_cancelling_frees_the_time_and_rebooking_it_works(db):
    await _city(db)
    first = await _book(db, 100, 1000, T0)
    await db.execute("UPDATE appointments SET status = 'cancelled' WHERE id = $1", first)
    assert await db.fetchval("SELECT count(*) FROM appointment_units") == 0
    await _book(db, 100, 1001, T0)
    # A cancelled appointment cannot come back over someone else's time.
    with pytest.raises(asyncpg.UniqueViolationError):
        async with db.transaction():
            await db.execute("UPDATE appointments SET status = 'booked' WHERE id = $1", first)


async def test_moving_an_appointment_onto_taken_time_is_refused(db):
    await _city(db)
    await _book(db, 100, 1000, T0)
    other = await _book(db, 100, 1001, T0 + timedelta(minutes=30))
    with pytest.raises(asyncpg.UniqueViolationError):
        async with db.transaction():
            await db.execute(
                "UPDATE appointments SET starts_at = $2, ends_at = $3 WHERE id = $1",
                other,
                T0 + timedelta(minutes=5),
                T0 + timedelta(minutes=20),
            )
    units = await db.fetch("SELECT unit FROM appointment_units ORDER BY unit")
    assert len(units) == 6  # 3 units each, unchanged


async def test_times_off_the_five_minute_grid_are_refused(db):
    await _city(db)
    with pytest.raises(asyncpg.CheckViolationError):
        async with db.transaction():
            await _book(db, 100, 1000, T0 + timedelta(minutes=2))


async def test_concurrent_inserts_for_one_slot_leave_exactly_one(database_url):
    setup = await asyncpg.connect(database_url)
    try:
        await setup.execute(
            "TRUNCATE appointments, appointment_units, doctors, patients, clinics, "
            "specialties CASCADE"
        )
        await _city(setup)
        for i in range(20):
            await setup.execute(
                "INSERT INTO patients (id, policy_number, family_name, given_name, birth_date, "
                "sex) VALUES ($1, $2, 'Тестов', 'Тест', '1990-01-01', 'M')",
                2000 + i,
                f"{7711000000000000 + i:016d}",
            )
        conns = [await asyncpg.connect(database_url) for _ in range(20)]

        async def attempt(conn, patient) -> str:
            try:
                await _book(conn, 100, patient, T0)
                return "booked"
            except asyncpg.UniqueViolationError:
                return "refused"

        try:
            results = await asyncio.gather(*(attempt(c, 2000 + i) for i, c in enumerate(conns)))
        finally:
            await asyncio.gather(*(c.close() for c in conns))
        assert results.count("booked") == 1 and results.count("refused") == 19
        assert await setup.fetchval("SELECT count(*) FROM appointments") == 1
    finally:
        await setup.execute(
            "TRUNCATE appointments, appointment_units, doctors, patients, clinics, "
            "specialties CASCADE"
        )
        await setup.close()


async def test_a_status_change_on_the_same_time_keeps_the_units_rows(db):
    # held -> booked -> arrived keeps the time: the unit rows stay as they were written
    # (same row versions), so a confirmation does not delete and insert them again.
    await _city(db)
    first = await _book(db, 100, 1000, T0)
    await db.execute(
        "UPDATE appointments SET status = 'held', hold_token = gen_random_uuid(), "
        "hold_expires_at = now() WHERE id = $1",
        first,
    )
    before = await db.fetch(
        "SELECT ctid::text, xmin::text, unit FROM appointment_units ORDER BY unit"
    )
    assert len(before) == 3
    for status in ("booked", "arrived"):
        await db.execute("UPDATE appointments SET status = $2 WHERE id = $1", first, status)
        after = await db.fetch(
            "SELECT ctid::text, xmin::text, unit FROM appointment_units ORDER BY unit"
        )
        assert after == before
    # Leaving the occupied statuses still frees the time, and moving still moves it.
    await db.execute("UPDATE appointments SET status = 'completed' WHERE id = $1", first)
    assert await db.fetchval("SELECT count(*) FROM appointment_units") == 0
    second = await _book(db, 100, 1001, T0)
    await db.execute(
        "UPDATE appointments SET starts_at = $2, ends_at = $3 WHERE id = $1",
        second,
        T0 + timedelta(minutes=15),
        T0 + timedelta(minutes=30),
    )
    units = await db.fetch("SELECT unit FROM appointment_units ORDER BY unit")
    assert [u["unit"] for u in units] == [int(T0.timestamp()) // 300 + 3 + i for i in range(3)]


# Each reader of appointments by time, the arguments of its statement and the index a
# range of which it reads.
READERS = {
    "no-show-job": ("MARK_NO_SHOWS", (T0,), "appointments_booked_by_time", "starts_at"),
    "engine-start": (
        "ACTIVE_APPOINTMENTS_BETWEEN",
        (T0, T0 + timedelta(days=14)),
        "appointments_by_time",
        "starts_at",
    ),
    "hold-sweeper": ("EXPIRED_HOLDS", (T0, 500), "appointments_hold_expiry", "hold_expires_at"),
    "holds-on-the-time": (
        "EXPIRE_OVERLAPPING_HOLDS",
        (10, 100, T0, T0 + timedelta(minutes=15), T0),
        "appointments_doctor_day",
        "starts_at >",
    ),
}


@pytest.mark.parametrize("reader", list(READERS), ids=list(READERS))
async def test_the_readers_of_appointments_by_time_read_a_range_of_their_index(db, reader):
    # With a city's history the table is mostly past appointments: these must not scan
    # it, nor walk a whole index. With sequential scans priced out, the plan names the
    # index with a bound on its column only when the statement allows it.
    from imias.booking import queries as repo

    name, args, index, column = READERS[reader]
    await db.execute("SET LOCAL enable_seqscan = off")
    plan = json.loads(await db.fetchval("EXPLAIN (FORMAT JSON) " + getattr(repo, name), *args))
    scans = []

    def walk(node):
        scans.append((node.get("Index Name"), node.get("Index Cond", "")))
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan[0]["Plan"])
    assert any(found == index and column in cond for found, cond in scans), scans


# Statements of the booking hot path that name a status, with their arguments.
HOT = {
    "confirm-hold": ("CONFIRM_HOLD", (10, 1, None, None, T0)),
    "end-hold": ("END_HOLD", (10, 1, T0)),
    "holds-on-the-time": (
        "EXPIRE_OVERLAPPING_HOLDS",
        (10, 100, T0, T0 + timedelta(minutes=15), T0),
    ),
    "patient-live-appointments": ("PATIENT_FACTS", (1000,)),
}


@pytest.mark.parametrize("statement", list(HOT), ids=list(HOT))
async def test_no_hot_statement_can_be_planned_through_a_partial_index(db, statement):
    # A partial index is priced by its own statistics, which only VACUUM refreshes: one
    # that looks empty wins over the right index. So the partial indexes of the table
    # have predicates no hot statement implies. With every other index gone (in this
    # rolled-back transaction) and sequential scans priced out, a statement whose
    # conditions imply a partial index's predicate would be planned through it.
    from imias.booking import queries as repo

    partial = await db.fetch(
        "SELECT indexrelid::regclass::text AS name FROM pg_index "
        "WHERE indrelid = 'appointments'::regclass AND indpred IS NOT NULL"
    )
    partial_names = {r["name"] for r in partial}
    assert {"appointments_hold_expiry", "appointments_booked_by_time"} <= partial_names
    await db.execute("ALTER TABLE appointments DROP CONSTRAINT appointments_pkey CASCADE")
    for row in await db.fetch(
        "SELECT indexrelid::regclass::text AS name FROM pg_index "
        "WHERE indrelid = 'appointments'::regclass AND indpred IS NULL"
    ):
        await db.execute(f"DROP INDEX {row['name']}")
    await db.execute("SET LOCAL enable_seqscan = off")
    name, args = HOT[statement]
    plan = await db.fetchval("EXPLAIN (FORMAT JSON) " + getattr(repo, name), *args)
    assert not any(index in plan for index in partial_names), plan
