"""Directory and search over HTTP, answered by the engine built from a seeded city."""

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import pytest
from citydb import with_database, worker_id
from litestar.testing import AsyncTestClient

from imias.app import create_app
from imias.booking.engine import Engine
from imias.citygen.seed import seed_city
from imias.domains import migrate_url
from imias.platform.settings import load_settings

MOSCOW = ZoneInfo("Europe/Moscow")
CENTRE = "55.7558,37.6173"


@pytest.fixture(scope="module")
async def city_url(pg_admin_url):
    """A migrated database with a small seeded city whose schedules start today."""
    name = f"imias_test_search_city_{worker_id()}"
    admin = await asyncpg.connect(pg_admin_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(pg_admin_url, name)
    await migrate_url(url)
    conn = await asyncpg.connect(url)
    await seed_city(conn, clinics=24, doctors=300, patients=200, start=Engine().today())
    await conn.close()
    yield url
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def client(city_url, redis_url):
    app = create_app(load_settings({}, database_url=city_url, redis_url=redis_url))
    async with AsyncTestClient(app) as test_client:
        await app.state.engine.wait_loaded()
        yield test_client


async def _in_schedule(url: str, slot: dict, channel_bit: int) -> bool:
    """The slot lies inside one of its doctor's templates that allows the channel."""
    local = datetime.fromisoformat(slot["local_start"])
    minutes = (
        datetime.fromisoformat(slot["ends_at"]) - datetime.fromisoformat(slot["starts_at"])
    ).total_seconds() / 60
    end = (local + timedelta(minutes=minutes)).time()
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(
            """
            SELECT EXISTS (SELECT 1 FROM schedule_templates
                            WHERE doctor_id = $1 AND weekday = $2 AND starts <= $3
                              AND ends >= $4 AND channels & $5 <> 0)
                OR EXISTS (SELECT 1 FROM schedule_exceptions
                            WHERE doctor_id = $1 AND kind = 'extra' AND day = $6
                              AND starts <= $3 AND ends >= $4)
            """,
            slot["doctor_id"],
            local.isoweekday(),
            local.time(),
            end,
            channel_bit,
            local.date(),
        )
    finally:
        await conn.close()


async def test_specialties_list_the_catalogue(client):
    response = await client.get("/api/v1/specialties")
    assert response.status_code == 200
    codes = {s["code"] for s in response.json()}
    assert {"therapist", "paediatrician", "cardiologist"} <= codes


async def test_nearest_clinics_come_nearest_first_with_their_earliest_time(client):
    response = await client.get(
        "/api/v1/clinics", params={"near": CENTRE, "specialty": "therapist", "limit": 3}
    )
    assert response.status_code == 200, response.text
    clinics = response.json()
    assert len(clinics) == 3
    distances = [c["distance_km"] for c in clinics]
    assert distances == sorted(distances)
    now = datetime.now(UTC)
    for clinic in clinics:
        assert clinic["kind"] == "adult"
        if clinic["earliest"] is not None:
            assert clinic["earliest"]["clinic_id"] == clinic["id"]
            assert datetime.fromisoformat(clinic["earliest"]["starts_at"]) > now


async def test_search_returns_future_free_slots_in_order_within_schedules(client, city_url):
    response = await client.get("/api/v1/slots", params={"specialty": "therapist", "limit": 8})
    assert response.status_code == 200, response.text
    slots = response.json()
    assert len(slots) == 8
    starts = [datetime.fromisoformat(s["starts_at"]) for s in slots]
    assert starts == sorted(starts) and starts[0] > datetime.now(UTC)
    for slot in slots:
        assert slot["specialty"] == "therapist"
        assert await _in_schedule(city_url, slot, 1), slot
        local = datetime.fromisoformat(slot["local_start"]).replace(tzinfo=MOSCOW)
        assert local == datetime.fromisoformat(slot["starts_at"])


async def test_a_doctors_slots_follow_each_other(client):
    first = (await client.get("/api/v1/slots", params={"specialty": "therapist"})).json()[0]
    response = await client.get("/api/v1/slots", params={"doctor": first["doctor_id"], "limit": 4})
    slots = response.json()
    assert response.status_code == 200 and len(slots) == 4
    assert {s["doctor_id"] for s in slots} == {first["doctor_id"]}
    for earlier, later in zip(slots, slots[1:], strict=False):
        assert later["starts_at"] >= earlier["ends_at"]


async def test_phone_only_time_is_not_offered_on_the_web(client, city_url):
    conn = await asyncpg.connect(city_url)
    try:
        doctor = await conn.fetchval(
            "SELECT doctor_id FROM schedule_templates WHERE channels = 20 ORDER BY doctor_id"
            " LIMIT 1"
        )
    finally:
        await conn.close()
    assert doctor is not None, "the seeded city keeps some time for phone and registrar"
    web = (await client.get("/api/v1/slots", params={"doctor": doctor, "limit": 50})).json()
    phone = (
        await client.get(
            "/api/v1/slots", params={"doctor": doctor, "limit": 50, "channel": "phone"}
        )
    ).json()
    for slot in web:
        assert await _in_schedule(city_url, slot, 1)
    outside_web = [s for s in phone if not await _in_schedule(city_url, s, 1)]
    assert outside_web, "the phone channel is offered the time kept for it"


async def test_a_booked_slot_is_not_offered_after_the_engine_reloads(client, city_url, redis_url):
    slot = (await client.get("/api/v1/slots", params={"specialty": "therapist"})).json()[0]
    conn = await asyncpg.connect(city_url)
    try:
        patient = await conn.fetchval("SELECT min(id) FROM patients")
        await conn.execute(
            """
            INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id, starts_at,
                                      ends_at, channel)
            VALUES ($1, $2, $3, 1, $4, $5, 'registrar')
            """,
            slot["clinic_id"],
            slot["doctor_id"],
            patient,
            datetime.fromisoformat(slot["starts_at"]),
            datetime.fromisoformat(slot["ends_at"]),
        )
        app = create_app(load_settings({}, database_url=city_url, redis_url=redis_url))
        async with AsyncTestClient(app) as fresh:
            await app.state.engine.wait_loaded()
            again = (await fresh.get("/api/v1/slots", params={"doctor": slot["doctor_id"]})).json()
        assert again and all(s["starts_at"] != slot["starts_at"] for s in again)
    finally:
        await conn.execute("DELETE FROM appointments")
        await conn.close()


@pytest.mark.parametrize(
    ("params", "status", "code"),
    [
        ({"specialty": "astrologer"}, 404, "unknown_specialty"),
        ({"specialty": "therapist", "near": "moscow"}, 400, "invalid_near"),
        ({"specialty": "therapist", "near": "95,37"}, 400, "invalid_near"),
        (
            {"specialty": "therapist", "from": "2026-12-10", "to": "2026-12-01"},
            400,
            "invalid_range",
        ),
        ({"specialty": "therapist", "from": "2099-01-01"}, 400, "outside_window"),
        ({"specialty": "therapist", "limit": 0}, 400, "validation_error"),
        ({"specialty": "therapist", "channel": "fax"}, 400, "validation_error"),
        ({"doctor": 999999999}, 404, "unknown_doctor"),
        ({}, 400, "specialty_required"),
    ],
)
async def test_bad_searches_are_problems_with_codes(client, params, status, code):
    response = await client.get("/api/v1/slots", params=params)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def test_doctors_of_a_clinic(client, city_url):
    conn = await asyncpg.connect(city_url)
    try:
        clinic, count = await conn.fetchrow(
            "SELECT clinic_id, count(*) FROM doctors GROUP BY clinic_id ORDER BY clinic_id LIMIT 1"
        )
    finally:
        await conn.close()
    response = await client.get(f"/api/v1/clinics/{clinic}/doctors")
    assert response.status_code == 200
    doctors = response.json()
    assert len(doctors) == count and {d["clinic_id"] for d in doctors} == {clinic}
    assert all(d["name"] and d["specialty"] for d in doctors)
    missing = await client.get("/api/v1/clinics/987654321/doctors")
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_clinic"
