"""The doctor's day as a browser without JavaScript uses it: sign-in of doctors only,
today's list with an arrival, the visit's end, a no-show after the slot began (and
before it, refused as a sentence), and a referral the patient can then book."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import Clock
from signin import adults, app_client, fetch, key
from staffpages import sign_in

from imias.booking import search


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_doctor_pages_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def client(city, redis_url, redis_client):
    await redis_client.flushdb()
    async with app_client(city, redis_url) as c:
        c.city = city
        yield c


async def two_booked(client, offset: int):
    """Two adults booked with the same ophthalmologist on one day: (slot, appointments)."""
    people = await adults(client.city, 2, offset=offset)
    slots = (
        await client.get("/api/v1/slots", params={"specialty": "ophthalmologist", "limit": 40})
    ).json()
    # The first doctor whose own earliest two times fall on one day (the city's earliest
    # times interleave many doctors, so ask each doctor for hers).
    for first in slots:
        own = (
            await client.get("/api/v1/slots", params={"doctor": first["doctor_id"], "limit": 2})
        ).json()
        same = [s for s in own if s["local_start"][:10] == own[0]["local_start"][:10]]
        if len(same) == 2:
            break
    assert len(same) == 2
    first = same[0]
    booked = []
    for person, slot in zip(people, same, strict=True):
        answer = await client.post(
            "/api/v1/appointments",
            json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]},
            headers=bearer.patient(person["id"]) | key(),
        )
        assert answer.status_code == 201, answer.text
        booked.append(answer.json())
    return first, booked, people


async def test_only_doctors_sign_in_here(client):
    answer, _ = await sign_in(client, "/doctor", "registrar.1")
    assert answer.status_code == 403 and "Эта страница для врачей." in answer.text
    page = await client.get("/doctor/day", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/doctor"


async def test_the_day_with_arrival_done_no_show_and_a_referral(client):
    slot, (a, b), (pa, pb) = await two_booked(client, offset=60)
    desk = bearer.registrar(slot["clinic_id"])
    assert (
        await client.post(f"/api/v1/appointments/{a['id']}/check-in", headers=desk)
    ).status_code == 204
    service = client.app_state.booking
    service.clock = Clock(datetime.fromisoformat(a["starts_at"]) - timedelta(minutes=5))
    answer, csrf = await sign_in(client, "/doctor", f"doctor.{slot['doctor_id']}")
    assert answer.status_code == 303 and answer.headers["location"] == "/doctor/day"
    assert "Path=/doctor" in answer.headers["set-cookie"]
    day = await client.get("/doctor/day")
    assert day.status_code == 200
    assert "пришёл" in day.text and "записан" in day.text
    assert f"/doctor/appointments/{a['id']}/complete" in day.text
    assert f"/doctor/appointments/{b['id']}/no-show" not in day.text  # not begun yet
    early = await client.post(f"/doctor/appointments/{b['id']}/no-show", data={"csrf": csrf})
    assert early.status_code == 409
    assert "Приём ещё не начался: неявку отмечают после его начала." in early.text
    service.clock = Clock(datetime.fromisoformat(b["starts_at"]) + timedelta(minutes=1))
    later = await client.get("/doctor/day")
    assert f"/doctor/appointments/{b['id']}/no-show" in later.text
    gone = await client.post(
        f"/doctor/appointments/{b['id']}/no-show", data={"csrf": csrf}, follow_redirects=False
    )
    assert gone.status_code == 303
    done = await client.post(
        f"/doctor/appointments/{a['id']}/complete", data={"csrf": csrf}, follow_redirects=False
    )
    assert done.status_code == 303
    rows = await fetch(
        client.city,
        "SELECT id, status FROM appointments WHERE id = ANY($1) ORDER BY id",
        [a["id"], b["id"]],
    )
    assert {r["id"]: r["status"] for r in rows} == {a["id"]: "completed", b["id"]: "no_show"}
    # a referral to a neurologist (referral-only), which the patient can then book
    service.clock = Clock(datetime.now(UTC))
    neuro = referral_only_slot(client)
    body = {"doctor_id": neuro.doctor_id, "starts_at": neuro.starts_at.isoformat()}
    me = bearer.patient(pa["id"])
    before = await client.post("/api/v1/appointments", json=body, headers=me | key())
    assert before.status_code == 403 and before.json()["code"] == "referral_required"
    referred = await client.post(
        "/doctor/referrals",
        data={"csrf": csrf, "patient_id": str(pa["id"]), "specialty": "neurologist"},
    )
    assert referred.status_code == 200 and "выдано" in referred.text
    (ref,) = await fetch(
        client.city, "SELECT id, issued_by FROM referrals WHERE patient_id = $1", pa["id"]
    )
    assert ref["issued_by"] == slot["doctor_id"] and f"№{ref['id']}" in referred.text
    after = await client.post("/api/v1/appointments", json=body, headers=me | key())
    assert after.status_code == 201, after.text


def referral_only_slot(client):
    engine = client.app_state.engine
    first, last = search.window(engine, None, None)
    return search.earliest(
        engine,
        1,
        specialty_id=engine.directory.by_code["neurologist"].id,
        clinic_ids=None,
        first=first,
        last=last,
        channel=1,
        entitled=32,
    )[0]


async def test_a_referral_for_a_stranger_needs_break_glass(client):
    slot, _, _ = await two_booked(client, offset=64)
    (stranger,) = await adults(client.city, 1, offset=70)
    answer, csrf = await sign_in(client, "/doctor", f"doctor.{slot['doctor_id']}")
    refused = await client.post(
        "/doctor/referrals",
        data={"csrf": csrf, "patient_id": str(stranger["id"]), "specialty": "neurologist"},
    )
    assert refused.status_code == 403
    assert "Этот пациент не записан в вашу поликлинику." in refused.text


async def test_the_doctors_day_in_english(client):
    slot, (a, _), _ = await two_booked(client, offset=72)
    client.app_state.booking.clock = Clock(datetime.fromisoformat(a["starts_at"]))
    await sign_in(client, "/doctor", f"doctor.{slot['doctor_id']}")
    russian = await client.get("/doctor/day")
    assert "Не пришёл" in russian.text and "Время" in russian.text
    english = await client.get("/doctor/day", params={"lang": "en"})
    assert "Did not come" in english.text and "Time" in english.text
    assert "Не пришёл" not in english.text and "записан" not in english.text
