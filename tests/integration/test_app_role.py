"""The application's own database login, imias_app: it cannot become another role,
switch a trigger off, or change the time units that stand between two bookings of the
same time, whatever statement it sends (not only the ones IMIAS's code sends)."""

from datetime import UTC, datetime, timedelta

import asyncpg
import pytest
from litestar.datastructures import State

from imias.platform import db
from imias.platform.health import check_database

T0 = datetime(2031, 3, 3, 9, 0, tzinfo=UTC)  # a Monday, 12:00 in Moscow


@pytest.fixture
async def app_conn(database_url):
    conn = await db.connect(db.app_url(database_url))
    try:
        yield conn
    finally:
        await conn.close()


async def test_the_workers_log_in_as_the_app_role_that_has_nowhere_to_go(app_conn):
    assert await app_conn.fetchval("SELECT session_user") == db.APP_ROLE
    assert await db.role_escapes(app_conn) is None
    for statement in (
        "SET ROLE postgres",
        "SET SESSION AUTHORIZATION postgres",
        "SET session_replication_role = replica",
        "ALTER TABLE appointments DISABLE TRIGGER USER",
        "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
        "ALTER ROLE imias_app SUPERUSER",
        "CREATE ROLE escape SUPERUSER",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with app_conn.transaction():
                await app_conn.execute(statement)
    # Dropping the role it switched to leaves it where it logged in: there is no other.
    await app_conn.execute("RESET ROLE")
    assert await app_conn.fetchval("SELECT current_user") == db.APP_ROLE
    await app_conn.execute("SET ROLE NONE")
    assert await app_conn.fetchval("SELECT current_user") == db.APP_ROLE


INSERT = """
INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id, starts_at, ends_at,
                          status, channel)
SELECT d.clinic_id, d.id, $3, d.specialty_id, $4::timestamptz,
       $4::timestamptz + interval '15 minutes', 'booked', 'web'
  FROM doctors d WHERE d.clinic_id = $1 AND d.id = $2
RETURNING id
"""


@pytest.fixture
async def city_row(database_url):
    """A clinic, a specialty, a doctor and two patients in the worker's database, made by
    the owner for this test and removed after."""
    owner = await asyncpg.connect(database_url)
    await owner.execute(
        """
        INSERT INTO specialties (id, code, name_ru, name_en, self_referral, slot_minutes)
        VALUES (901, 'role_test', 'тест', 'test', true, 15) ON CONFLICT DO NOTHING;
        INSERT INTO clinics (id, name, address, district, lat, lon, kind)
        VALUES (9001, 'Тест', 'ул. Тестовая', 'ЦАО', 55.7, 37.6, 'adult') ON CONFLICT DO NOTHING;
        INSERT INTO doctors (clinic_id, id, specialty_id, family_name, given_name, slot_minutes)
        VALUES (9001, 90001, 901, 'Тестова', 'Анна', 15) ON CONFLICT DO NOTHING;
        INSERT INTO patients (id, policy_number, family_name, given_name, birth_date, sex)
        VALUES (9000001, '9999000000000001', 'Первый', 'Пётр', '1980-01-01', 'M'),
               (9000002, '9999000000000002', 'Вторая', 'Вера', '1981-01-01', 'F')
        ON CONFLICT DO NOTHING;
        """
    )
    try:
        yield 9001, 90001, 9000001, 9000002
    finally:
        await owner.execute(
            """
            DELETE FROM appointments WHERE clinic_id = 9001;
            DELETE FROM patients WHERE id IN (9000001, 9000002);
            DELETE FROM doctors WHERE clinic_id = 9001;
            DELETE FROM clinics WHERE id = 9001;
            DELETE FROM specialties WHERE id = 901;
            """
        )
        await owner.close()


async def test_the_app_role_cannot_free_booked_time_to_book_it_twice(app_conn, city_row):
    clinic, doctor, alice, bob = city_row
    first = await app_conn.fetchval(INSERT, clinic, doctor, alice, T0)
    assert (
        await app_conn.fetchval(
            "SELECT count(*) FROM appointment_units WHERE clinic_id = $1 AND appointment_id = $2",
            clinic,
            first,
        )
        == 3
    )  # the trigger, with its owner's rights, took the three units
    for statement in (
        "DELETE FROM appointment_units WHERE clinic_id = $1 AND appointment_id = $2",
        "UPDATE appointment_units SET unit = unit + 100000 "
        "WHERE clinic_id = $1 AND appointment_id = $2",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with app_conn.transaction():
                await app_conn.execute(statement, clinic, first)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with app_conn.transaction():
            await app_conn.execute("TRUNCATE appointment_units CASCADE")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with app_conn.transaction():
            await app_conn.execute(
                "INSERT INTO appointment_units (clinic_id, doctor_id, unit, appointment_id) "
                "VALUES ($1, $2, 1, $3)",
                clinic,
                doctor,
                first,
            )
    # The same time for another patient is still refused by the units' key.
    with pytest.raises(asyncpg.UniqueViolationError):
        async with app_conn.transaction():
            await app_conn.fetchval(INSERT, clinic, doctor, bob, T0 + timedelta(minutes=5))


async def test_a_temporary_table_does_not_take_the_units(app_conn, city_row):
    """A session's own temporary table named like the units is not where the trigger
    writes (its search_path puts pg_temp last)."""
    clinic, doctor, alice, bob = city_row
    async with app_conn.transaction():
        await app_conn.execute(
            "CREATE TEMPORARY TABLE appointment_units (clinic_id bigint, doctor_id bigint, "
            "unit bigint, appointment_id bigint) ON COMMIT DROP"
        )
        await app_conn.fetchval(INSERT, clinic, doctor, alice, T0)
        with pytest.raises(asyncpg.UniqueViolationError):
            async with app_conn.transaction():
                await app_conn.fetchval(INSERT, clinic, doctor, bob, T0)
        assert await app_conn.fetchval("SELECT count(*) FROM pg_temp.appointment_units") == 0


async def test_health_fails_when_the_app_logs_in_as_a_superuser(database_url):
    """An operator who gives the workers the owner's superuser login is told at once."""
    pool = await db.create_pool(database_url, 1)  # the test server's superuser
    try:
        with pytest.raises(RuntimeError, match="superuser"):
            await check_database(State({"db": pool}))
    finally:
        await pool.close()
    pool = await db.create_pool(db.app_url(database_url), 1)
    try:
        assert await check_database(State({"db": pool})) is None
    finally:
        await pool.close()


def test_the_app_url_is_the_owners_with_the_app_login():
    assert (
        db.app_url("postgresql://owner:secret@db.example:5432/imias?sslmode=require")
        == "postgresql://imias_app@db.example:5432/imias?sslmode=require"
    )
    assert db.app_url("postgresql://postgres:@/imias?host=/tmp/pg") == (
        "postgresql://imias_app@/imias?host=/tmp/pg"
    )
