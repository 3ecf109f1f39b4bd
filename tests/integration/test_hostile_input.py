"""What a hostile or careless caller sends is a 400 problem document, never a 500: JSON
nested a thousand deep, instants and days near year 1 or 9999 (with an offset they have
no UTC at all), a wait until 9999; and a few small doors: OPTIONS and HEAD, an
administrator disabling herself or the last administrator."""

import json
import logging
import uuid
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import bearer
import pytest
from bearer import TEST_SECRET
from citydb import build_city_database, drop_database, worker_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import AsyncTestClient

from imias.app import create_app
from imias.platform.bounds import FIRST_DAY, LAST_DAY
from imias.platform.settings import load_settings

DEEP = "[" * 1000 + "]" * 1000


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_hostile_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=6, doctors=60, patients=300)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    app = create_app(
        load_settings({}, database_url=city, redis_url=redis_url, secret_key=TEST_SECRET)
    )
    async with AsyncTestClient(app) as test_client:
        await app.state.engine.wait_loaded()
        test_client.city = city
        yield test_client


async def _one(city: str, sql: str):
    conn = await asyncpg.connect(city)
    try:
        return await conn.fetchrow(sql)
    finally:
        await conn.close()


def _problem(response, status: int = 400) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    return response.json()


@pytest.mark.parametrize(
    "path",
    ["/api/v1/auth/staff/token", "/api/v1/auth/patient/code", "/api/v1/auth/patient/token"],
)
async def test_json_nested_a_thousand_deep_is_a_400(client, path):
    body = _problem(
        await client.post(path, content=DEEP, headers={"content-type": "application/json"})
    )
    assert body["code"] in ("invalid_json", "validation_error")
    nested = '{"username": ' + DEEP + ', "password": "x"}'
    body = _problem(
        await client.post(path, content=nested, headers={"content-type": "application/json"})
    )
    assert body["code"] in ("invalid_json", "validation_error")


FAR = [
    "0001-01-01T01:00:00+03:00",
    "9999-12-31T23:00:00-03:00",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:55:00+00:00",
    "1899-12-31T12:00:00+03:00",
    "2200-01-01T12:00:00+03:00",
]


@pytest.mark.parametrize("instant", FAR)
async def test_instants_out_of_the_span_are_a_400_on_every_booking_route(client, instant):
    patient = await _one(client.city, "SELECT id FROM patients ORDER BY id LIMIT 1")
    me = bearer.patient(patient["id"])
    key = {"Idempotency-Key": uuid.uuid4().hex, **me}
    body = {"doctor_id": 1, "starts_at": instant}
    for path, headers in (
        ("/api/v1/holds", me),
        ("/api/v1/appointments", key),
        ("/api/v1/appointments/1/reschedule", key),
    ):
        problem = _problem(await client.post(path, json=body, headers=headers))
        assert problem["code"] == "validation_error", problem
        assert "starts_at" in json.dumps(problem["errors"]), problem


async def test_days_out_of_the_span_are_a_400(client):
    patient = await _one(client.city, "SELECT id FROM patients ORDER BY id LIMIT 1")
    wait = {"specialty": "therapist", "from": "9999-12-30", "to": "9999-12-31"}
    problem = _problem(
        await client.post("/api/v1/waitlist", json=wait, headers=bearer.patient(patient["id"]))
    )
    assert problem["code"] == "validation_error"
    # Within the span but far beyond the waiting window: the waitlist's own refusal.
    today = datetime.now(UTC).date()
    wait |= {"from": today.isoformat(), "to": (today + timedelta(days=5000)).isoformat()}
    problem = _problem(
        await client.post("/api/v1/waitlist", json=wait, headers=bearer.patient(patient["id"]))
    )
    assert problem["code"] == "invalid_range"
    doctor = await _one(client.city, "SELECT clinic_id, id FROM doctors ORDER BY id LIMIT 1")
    staff = bearer.doctor(doctor["id"], doctor["clinic_id"])
    for day in ("9999-12-31", "0001-01-01"):
        response = await client.get(
            f"/api/v1/doctors/{doctor['id']}/day", params={"date": day}, headers=staff
        )
        assert _problem(response)["code"] == "out_of_range"
    for params in ({"from": "0001-01-01"}, {"to": "9999-12-31"}):
        response = await client.get("/api/v1/slots", params={"specialty": "therapist", **params})
        assert _problem(response)["code"] == "out_of_range"
    response = await client.get(
        "/api/v1/audit/records",
        params={"from": "0001-01-01T01:00:00+03:00"},
        headers=bearer.administrator(),
    )
    assert _problem(response)["code"] == "out_of_range"


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    moment=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    offset_minutes=st.integers(min_value=-23 * 60, max_value=23 * 60),
)
async def test_any_instant_a_hold_is_asked_for_is_answered_never_with_a_500(
    client, moment, offset_minutes
):
    instant = moment.replace(tzinfo=timezone(timedelta(minutes=offset_minutes)))
    response = await client.post(
        "/api/v1/holds",
        json={"doctor_id": 1, "starts_at": instant.isoformat(), "patient_id": None},
        headers=bearer.patient(1),
    )
    assert response.status_code < 500, response.text
    if not FIRST_DAY <= moment.date() <= LAST_DAY:
        assert response.status_code == 400, response.text


@pytest.mark.parametrize("path", ["/health", "/api/v1/engine/state", "/api/v1/me"])
async def test_options_is_answered_without_an_error_in_the_log(client, path, caplog):
    with caplog.at_level(logging.INFO):
        response = await client.options(path)
    assert response.status_code == 204, response.text
    assert "GET" in response.headers["allow"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_head_health_is_the_status_without_a_body(client):
    response = await client.head("/health")
    assert response.status_code == 200 and response.content == b""


async def test_an_administrator_disables_neither_herself_nor_the_last_administrator(client):
    conn = await asyncpg.connect(client.city)
    try:
        admins = await conn.fetch(
            "SELECT id FROM staff_accounts WHERE role = 'administrator' AND NOT disabled"
        )
        ids = [r["id"] for r in admins]
        if len(ids) < 2:
            extra = await conn.fetchval(
                "INSERT INTO staff_accounts (username, password_hash, role, full_name) "
                "VALUES ('second.admin', 'x', 'administrator', 'Second') RETURNING id"
            )
            ids.append(extra)
    finally:
        await conn.close()
    me, other = ids[0], ids[1]
    as_me = bearer.administrator(me)
    problem = _problem(await client.post(f"/api/v1/staff/{me}/disable", headers=as_me), 409)
    assert problem["code"] == "cannot_disable_self"
    for admin in ids[1:-1]:  # all but the last other one
        assert (await client.post(f"/api/v1/staff/{admin}/disable", headers=as_me)).is_success
    # Now `me` and ids[-1] are the enabled ones: disabling ids[-1] is allowed...
    assert (await client.post(f"/api/v1/staff/{ids[-1]}/disable", headers=as_me)).is_success
    # ...and then `me` is the last: another administrator may not disable her.
    other_admin = bearer.administrator(other)
    problem = _problem(await client.post(f"/api/v1/staff/{me}/disable", headers=other_admin), 409)
    assert problem["code"] == "last_administrator"
    json.dumps(problem)  # a document a client can read
