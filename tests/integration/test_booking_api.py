"""The booking API over HTTP (the mobile app's back end): hold, confirm with an
Idempotency-Key, lists, the doctor's day, check-in, referrals, the waitlist, and
bookings that still commit while Redis is down."""

import asyncio
import os
import signal
import uuid
from datetime import datetime

import asyncpg
import pytest
from citydb import build_city_database, drop_database, worker_id
from litestar.testing import AsyncTestClient

from imias.app import create_app
from imias.platform.embedded import EmbeddedRedis
from imias.settings import load_settings


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_api_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def own_redis(tmp_path):
    server = EmbeddedRedis(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def client(city, own_redis):
    app = create_app(load_settings({}, database_url=city, redis_url=own_redis.url))
    async with AsyncTestClient(app) as test_client:
        await app.state.engine.wait_loaded()
        test_client.app_state = app.state
        test_client.city = city
        yield test_client


async def patients(client, n: int) -> list[int]:
    conn = await asyncpg.connect(client.city)  # the app's pool lives in the app's loop
    try:
        rows = await conn.fetch(
            "SELECT id FROM patients WHERE birth_date < now() - interval '20 years' "
            "AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.patient_id = patients.id) "
            "AND NOT EXISTS (SELECT 1 FROM waitlist_entries w WHERE w.patient_id = patients.id) "
            "ORDER BY random() LIMIT $1",
            n,
        )
    finally:
        await conn.close()
    return [r["id"] for r in rows]


async def free_slot(client, index: int = 0) -> dict:
    response = await client.get(
        "/api/v1/slots", params={"specialty": "ophthalmologist", "limit": index + 1}
    )
    return response.json()[index]


def key() -> dict:
    return {"Idempotency-Key": uuid.uuid4().hex}


async def test_hold_and_confirm_over_http(client):
    (patient,) = await patients(client, 1)
    slot = await free_slot(client, 2)
    held = await client.post(
        "/api/v1/holds",
        json={
            "patient_id": patient,
            "doctor_id": slot["doctor_id"],
            "starts_at": slot["starts_at"],
        },
    )
    assert held.status_code == 201, held.text
    token = held.json()["token"]
    no_key = await client.post(f"/api/v1/holds/{token}/confirm", json={"patient_id": patient})
    assert no_key.status_code == 400 and no_key.json()["code"] == "idempotency_key_required"
    headers = key()
    first = await client.post(
        f"/api/v1/holds/{token}/confirm", json={"patient_id": patient}, headers=headers
    )
    again = await client.post(
        f"/api/v1/holds/{token}/confirm", json={"patient_id": patient}, headers=headers
    )
    assert first.status_code == 201 and again.status_code == 201
    assert first.json() == again.json() and first.json()["status"] == "booked"
    mine = (await client.get(f"/api/v1/patients/{patient}/appointments")).json()
    assert [a["id"] for a in mine] == [first.json()["id"]]
    # The worker's engine learns of the booking from the stream, a moment later.
    for _ in range(100):
        taken = await client.get("/api/v1/slots", params={"doctor": slot["doctor_id"], "limit": 50})
        if slot["starts_at"] not in {s["starts_at"] for s in taken.json()}:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the booked slot is still offered after 5 s")


async def test_refusals_are_problems_with_codes_and_readable_messages(client):
    (patient,) = await patients(client, 1)
    slot = await free_slot(client, 4)
    body = {"patient_id": patient, "doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]}
    assert (await client.post("/api/v1/appointments", json=body, headers=key())).status_code == 201
    (other,) = await patients(client, 1)
    taken = await client.post("/api/v1/holds", json={**body, "patient_id": other})
    assert taken.status_code == 409
    problem = taken.json()
    assert problem["code"] == "slot_taken" and problem["detail"] and problem["message_ru"]
    assert taken.headers["content-type"].startswith("application/problem+json")
    typo = await client.post("/api/v1/holds", json={**body, "pateint_id": 1})
    assert typo.status_code == 400 and typo.json()["code"] == "validation_error"
    naive = await client.post("/api/v1/holds", json={**body, "starts_at": "2026-12-01T10:00:00"})
    assert naive.status_code == 400
    missing = await client.post("/api/v1/holds", json={**body, "patient_id": 999_999_999})
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_the_doctors_day_check_in_and_completion(client):
    (patient,) = await patients(client, 1)
    slot = await free_slot(client, 6)
    booked = (
        await client.post(
            "/api/v1/appointments",
            json={
                "patient_id": patient,
                "doctor_id": slot["doctor_id"],
                "starts_at": slot["starts_at"],
            },
            headers=key(),
        )
    ).json()
    day = slot["local_start"][:10]
    listing = (
        await client.get(f"/api/v1/doctors/{slot['doctor_id']}/day", params={"date": day})
    ).json()
    assert [e["appointment"]["id"] for e in listing] == [booked["id"]]
    assert listing[0]["patient_name"]
    assert (await client.post(f"/api/v1/appointments/{booked['id']}/complete")).status_code == 409
    assert (await client.post(f"/api/v1/appointments/{booked['id']}/check-in")).status_code == 204
    assert (await client.post(f"/api/v1/appointments/{booked['id']}/complete")).status_code == 204
    mine = (await client.get(f"/api/v1/patients/{patient}/appointments")).json()
    assert mine[0]["status"] == "completed"


async def test_a_referral_opens_a_specialist(client):
    (patient,) = await patients(client, 1)
    slots = (await client.get("/api/v1/slots", params={"specialty": "neurologist"})).json()
    assert slots == [], "referral-only time is not offered without a referral"
    therapist = await client.get("/api/v1/slots", params={"specialty": "therapist"})
    issued = await client.post(
        "/api/v1/referrals",
        json={
            "patient_id": patient,
            "specialty": "neurologist",
            "doctor_id": therapist.json()[0]["doctor_id"],
        },
    )
    assert issued.status_code == 201 and issued.json()["id"] > 0


async def test_the_waitlist_over_http(client):
    (patient,) = await patients(client, 1)
    today = client.app_state.engine.today().isoformat()
    joined = await client.post(
        "/api/v1/waitlist",
        json={"patient_id": patient, "specialty": "ophthalmologist", "from": today, "to": today},
    )
    assert joined.status_code == 201, joined.text
    entries = (await client.get(f"/api/v1/patients/{patient}/waitlist")).json()
    assert [e["status"] for e in entries] == ["waiting"]
    left = await client.post(
        f"/api/v1/waitlist/{entries[0]['id']}/cancel", json={"patient_id": patient}
    )
    assert left.status_code == 204
    entries = (await client.get(f"/api/v1/patients/{patient}/waitlist")).json()
    assert [e["status"] for e in entries] == ["cancelled"]


async def test_bookings_commit_while_redis_is_down_and_the_stream_catches_up(client, own_redis):
    (patient,) = await patients(client, 1)
    slot = await free_slot(client, 8)
    os.kill(own_redis.pid(), signal.SIGKILL)
    own_redis._process.wait(10)
    booked = await client.post(
        "/api/v1/appointments",
        json={
            "patient_id": patient,
            "doctor_id": slot["doctor_id"],
            "starts_at": slot["starts_at"],
        },
        headers=key(),
    )
    assert booked.status_code == 201, booked.text
    health = await client.get("/health")
    assert health.status_code == 503 and "redis" in health.json()["failing"]
    own_redis.start()
    relay = client.app_state.outbox_relay
    deadline = datetime.now().timestamp() + 20
    while datetime.now().timestamp() < deadline:
        status = relay.status()
        if status.get("backlog") == 0 and status.get("outage") is None:
            break
        await asyncio.sleep(0.2)
    assert relay.status()["backlog"] == 0, relay.status()
    assert (await client.get("/health")).status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        (
            "POST",
            "/api/v1/holds",
            {"patient_id": 2**70, "doctor_id": 1, "starts_at": "2026-12-01T07:00:00Z"},
        ),
        ("POST", f"/api/v1/appointments/{2**70}/cancel", {"patient_id": 1}),
        ("POST", f"/api/v1/appointments/{2**70}/check-in", None),
        ("GET", f"/api/v1/patients/{2**70}/appointments", None),
        ("GET", f"/api/v1/slots?doctor={2**70}", None),
        (
            "POST",
            "/api/v1/referrals",
            {"patient_id": 2**70, "specialty": "neurologist", "doctor_id": 1},
        ),
        ("POST", f"/api/v1/waitlist/{2**70}/cancel", {"patient_id": 1}),
        (
            "POST",
            "/api/v1/holds/0b6f3c1e-2a54-4a8e-9d31-5c7e8f9a0b1c/release",
            {"patient_id": 2**70},
        ),
    ],
)
async def test_ids_beyond_the_database_range_are_400_not_500(client, method, path, body):
    if method == "POST":
        response = await client.post(path, json=body, headers=key())
    else:
        response = await client.get(path)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error"
