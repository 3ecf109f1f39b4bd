"""The booking API over HTTP (the mobile app's back end), as signed-in callers use it:
hold, confirm with an Idempotency-Key, lists, the doctor's day, check-in, referrals,
the waitlist, and bookings that still commit while Redis is down."""

import asyncio
import os
import signal
import uuid
from datetime import datetime, timedelta

import asyncpg
import bearer
import pytest
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, worker_id
from litestar.testing import AsyncTestClient

from imias.app import create_app
from imias.platform.embedded import EmbeddedRedis
from imias.platform.settings import load_settings


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
    app = create_app(
        load_settings({}, database_url=city, redis_url=own_redis.url, secret_key=TEST_SECRET)
    )
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
    me = bearer.patient(patient)
    slot = await free_slot(client, 2)
    held = await client.post(
        "/api/v1/holds",
        json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]},
        headers=me,
    )
    assert held.status_code == 201, held.text
    assert held.json()["slot"]["patient_id"] == patient, "the patient is the signed-in one"
    token = held.json()["token"]
    no_key = await client.post(f"/api/v1/holds/{token}/confirm", headers=me)
    assert no_key.status_code == 400 and no_key.json()["code"] == "idempotency_key_required"
    headers = key() | me
    first = await client.post(
        f"/api/v1/holds/{token}/confirm", json={"patient_id": patient}, headers=headers
    )
    again = await client.post(f"/api/v1/holds/{token}/confirm", headers=headers)
    assert first.status_code == 201 and again.status_code == 201
    assert first.json() == again.json() and first.json()["status"] == "booked"
    mine = (await client.get(f"/api/v1/patients/{patient}/appointments", headers=me)).json()
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
    me = bearer.patient(patient)
    slot = await free_slot(client, 4)
    body = {"patient_id": patient, "doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]}
    booked = await client.post("/api/v1/appointments", json=body, headers=key() | me)
    assert booked.status_code == 201, booked.text
    (other,) = await patients(client, 1)
    taken = await client.post(
        "/api/v1/holds", json={**body, "patient_id": other}, headers=bearer.patient(other)
    )
    assert taken.status_code == 409
    problem = taken.json()
    assert problem["code"] == "slot_taken" and problem["detail"] and problem["message_ru"]
    assert taken.headers["content-type"].startswith("application/problem+json")
    typo = await client.post("/api/v1/holds", json={**body, "pateint_id": 1}, headers=me)
    assert typo.status_code == 400 and typo.json()["code"] == "validation_error"
    naive = await client.post(
        "/api/v1/holds", json={**body, "starts_at": "2026-12-01T10:00:00"}, headers=me
    )
    assert naive.status_code == 400
    missing = await client.post(
        "/api/v1/holds", json={**body, "patient_id": 999_999_999}, headers=me
    )
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    signed_out = await client.post("/api/v1/holds", json=body)
    assert signed_out.status_code == 401 and signed_out.json()["code"] == "unauthenticated"


async def test_the_doctors_day_check_in_and_completion(client):
    (patient,) = await patients(client, 1)
    slot = await free_slot(client, 6)
    desk = bearer.registrar(slot["clinic_id"])
    doctor = bearer.doctor(slot["doctor_id"], slot["clinic_id"])
    booked = (
        await client.post(
            "/api/v1/appointments",
            json={
                "patient_id": patient,
                "doctor_id": slot["doctor_id"],
                "starts_at": slot["starts_at"],
            },
            headers=key() | bearer.patient(patient),
        )
    ).json()
    day = slot["local_start"][:10]
    listing = (
        await client.get(
            f"/api/v1/doctors/{slot['doctor_id']}/day", params={"date": day}, headers=doctor
        )
    ).json()
    # Earlier tests of the module may have booked the same doctor's day (the earliest
    # free slots of the city cluster at few doctors, depending on the time of day).
    (entry,) = [e for e in listing if e["appointment"]["id"] == booked["id"]]
    assert entry["patient_name"]
    assert {e["appointment"]["doctor_id"] for e in listing} == {slot["doctor_id"]}
    path = f"/api/v1/appointments/{booked['id']}"
    assert (await client.post(f"{path}/complete", headers=doctor)).status_code == 409
    assert (await client.post(f"{path}/check-in", headers=desk)).status_code == 204
    assert (await client.post(f"{path}/complete", headers=doctor)).status_code == 204
    me = bearer.patient(patient)
    mine = (await client.get(f"/api/v1/patients/{patient}/appointments", headers=me)).json()
    assert mine[0]["status"] == "completed"


async def test_a_doctor_marks_a_no_show_once_the_slot_began(client):
    from serving import Clock

    a, b = await patients(client, 2)
    booked = []
    for index, patient in ((8, a), (9, b)):
        slot = await free_slot(client, index)
        answer = await client.post(
            "/api/v1/appointments",
            json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]},
            headers=key() | bearer.patient(patient),
        )
        assert answer.status_code == 201, answer.text
        booked.append((answer.json(), slot))
    (first, slot), (second, slot_b) = booked
    doctor = bearer.doctor(slot["doctor_id"], slot["clinic_id"])
    path = f"/api/v1/appointments/{first['id']}/no-show"
    early = await client.post(path, headers=doctor)
    assert early.status_code == 409 and early.json()["code"] == "not_begun"
    assert early.json()["message_ru"] == "Приём ещё не начался: неявку отмечают после его начала."
    starts = datetime.fromisoformat(first["starts_at"])
    client.app_state.booking.clock = Clock(starts + timedelta(minutes=1))
    assert (await client.post(path, headers=doctor)).status_code == 204
    again = await client.post(path, headers=doctor)
    assert again.status_code == 409 and again.json()["code"] == "already_no_show"
    mine = await client.get(f"/api/v1/patients/{a}/appointments", headers=bearer.patient(a))
    assert mine.json()[0]["status"] == "no_show"
    conn = await asyncpg.connect(client.city)
    try:
        audit = await conn.fetch(
            "SELECT actor_role, action FROM audit_log WHERE resource = 'appointment' "
            "AND resource_id = $1 AND action = 'no_show'",
            str(first["id"]),
        )
    finally:
        await conn.close()
    assert [(r["actor_role"], r["action"]) for r in audit] == [("doctor", "no_show")]
    # a patient who has arrived is not a no-show; another clinic's doctor reaches nothing
    other = f"/api/v1/appointments/{second['id']}"
    desk = bearer.registrar(slot_b["clinic_id"])
    assert (await client.post(f"{other}/check-in", headers=desk)).status_code == 204
    doctor_b = bearer.doctor(slot_b["doctor_id"], slot_b["clinic_id"])
    client.app_state.booking.clock = Clock(datetime.fromisoformat(second["starts_at"]))
    arrived = await client.post(f"{other}/no-show", headers=doctor_b)
    assert arrived.status_code == 409 and arrived.json()["code"] == "wrong_status"
    if slot_b["clinic_id"] != slot["clinic_id"]:
        assert (await client.post(f"{other}/no-show", headers=doctor)).status_code == 404


async def test_a_referral_opens_a_specialist(client):
    (patient,) = await patients(client, 1)
    slots = (await client.get("/api/v1/slots", params={"specialty": "neurologist"})).json()
    assert slots == [], "referral-only time is not offered without a referral"
    conn = await asyncpg.connect(client.city)
    try:
        home = await conn.fetchval("SELECT attached_clinic_id FROM patients WHERE id = $1", patient)
    finally:
        await conn.close()
    therapist = (
        await client.get("/api/v1/slots", params={"specialty": "therapist", "clinic": home})
    ).json()[0]
    doctor = bearer.doctor(therapist["doctor_id"], therapist["clinic_id"])
    body = {"patient_id": patient, "specialty": "neurologist"}
    # Not booked with the therapist's clinic yet: the doctor has no reason to see them.
    refused = await client.post("/api/v1/referrals", json=body, headers=doctor)
    assert refused.status_code == 403 and refused.json()["code"] == "break_glass_required"
    booked = await client.post(
        "/api/v1/appointments",
        json={"doctor_id": therapist["doctor_id"], "starts_at": therapist["starts_at"]},
        headers=key() | bearer.patient(patient),
    )
    assert booked.status_code == 201, booked.text
    issued = await client.post(
        "/api/v1/referrals", json={**body, "doctor_id": therapist["doctor_id"]}, headers=doctor
    )
    assert issued.status_code == 201 and issued.json()["id"] > 0


async def test_the_waitlist_over_http(client):
    (patient,) = await patients(client, 1)
    me = bearer.patient(patient)
    today = client.app_state.engine.today().isoformat()
    joined = await client.post(
        "/api/v1/waitlist",
        json={"specialty": "ophthalmologist", "from": today, "to": today},
        headers=me,
    )
    assert joined.status_code == 201, joined.text
    entries = (await client.get(f"/api/v1/patients/{patient}/waitlist", headers=me)).json()
    assert [e["status"] for e in entries] == ["waiting"]
    left = await client.post(f"/api/v1/waitlist/{entries[0]['id']}/cancel", headers=me)
    assert left.status_code == 204
    entries = (await client.get(f"/api/v1/patients/{patient}/waitlist", headers=me)).json()
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
        headers=key() | bearer.patient(patient),
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
    ("role", "method", "path", "body"),
    [
        (
            "patient",
            "POST",
            "/api/v1/holds",
            {"patient_id": 2**70, "doctor_id": 1, "starts_at": "2026-12-01T07:00:00Z"},
        ),
        ("patient", "POST", f"/api/v1/appointments/{2**70}/cancel", {"patient_id": 1}),
        ("registrar", "POST", f"/api/v1/appointments/{2**70}/check-in", None),
        ("patient", "GET", f"/api/v1/patients/{2**70}/appointments", None),
        ("patient", "GET", f"/api/v1/slots?doctor={2**70}", None),
        (
            "doctor",
            "POST",
            "/api/v1/referrals",
            {"patient_id": 2**70, "specialty": "neurologist", "doctor_id": 1},
        ),
        ("patient", "POST", f"/api/v1/waitlist/{2**70}/cancel", {"patient_id": 1}),
        (
            "patient",
            "POST",
            "/api/v1/holds/0b6f3c1e-2a54-4a8e-9d31-5c7e8f9a0b1c/release",
            {"patient_id": 2**70},
        ),
    ],
)
async def test_ids_beyond_the_database_range_are_400_not_500(client, role, method, path, body):
    signed_in = {
        "patient": bearer.patient(1),
        "registrar": bearer.registrar(1),
        "doctor": bearer.doctor(1, 1),
    }[role]
    if method == "POST":
        response = await client.post(path, json=body, headers=key() | signed_in)
    else:
        response = await client.get(path, headers=signed_in)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "validation_error"
