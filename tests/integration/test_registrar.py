"""The registrar's desk as a browser without JavaScript uses it: sign-in of registrars
only, finding a patient (audited), booking for a caller at her clinic, rescheduling and
cancelling, the clinic's day, and refusals as sentences."""

from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

import asyncpg
import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import adults, app_client, fetch, key
from staffpages import hidden, sign_in

from imias.registry import repository as registry_repository


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_registrar_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def client(city, redis_url, redis_client):
    await redis_client.flushdb()  # sign-in attempts are counted in Redis
    async with app_client(city, redis_url) as c:
        c.city = city
        yield c


async def desk_clinic(client) -> int:
    """A clinic with free dentist time on the registrar's channel."""
    slots = await client.get(
        "/api/v1/slots", params={"specialty": "dentist", "channel": "registrar", "limit": 1}
    )
    return slots.json()[0]["clinic_id"]


async def signed_in(client) -> tuple[int, str]:
    clinic = await desk_clinic(client)
    answer, csrf = await sign_in(client, "/registrar", f"registrar.{clinic}")
    assert answer.status_code == 303 and answer.headers["location"] == "/registrar/find"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith("imias_registrar=") and "Path=/registrar" in cookie
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    return clinic, csrf


async def test_pages_of_the_desk_need_a_registrars_session(client):
    page = await client.get("/registrar/find", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/registrar"
    start = await client.get("/registrar")
    assert 'for="username"' in start.text and 'type="password"' in start.text
    assert "/registrar/sign-out" not in start.text  # no one to sign out yet


async def test_a_wrong_password_is_said_in_russian(client):
    answer, _ = await sign_in(client, "/registrar", "registrar.1", "not-the-password")
    assert answer.status_code == 401
    assert "Неверное имя пользователя или пароль." in answer.text
    assert "imias_registrar=" not in answer.headers.get("set-cookie", "")


async def test_a_doctor_cannot_sign_in_at_the_desk(client):
    (doctor,) = await fetch(
        client.city, "SELECT username FROM staff_accounts WHERE role = 'doctor' ORDER BY id LIMIT 1"
    )
    answer, _ = await sign_in(client, "/registrar", doctor["username"])
    assert answer.status_code == 403 and "Эта страница для регистраторов." in answer.text
    assert "imias_registrar=" not in answer.headers.get("set-cookie", "")


async def test_a_form_without_its_csrf_value_is_refused(client):
    await client.get("/registrar")
    answer = await client.post(
        "/registrar/sign-in", data={"username": "registrar.1", "password": "x" * 10}
    )
    assert answer.status_code == 403 and "Форма устарела" in answer.text


async def test_find_a_patient_by_policy_or_by_name_and_birth_date_audited(client):
    clinic, _ = await signed_in(client)
    (patient,) = await adults(client.city, 1, offset=40)
    by_policy = await client.get("/registrar/find", params={"policy": patient["policy_number"]})
    assert by_policy.status_code == 200
    assert f"/registrar/patients/{patient['id']}" in by_policy.text
    by_name = await client.get(
        "/registrar/find",
        params={
            "family": patient["family_name"].upper(),
            "born": patient["birth_date"].strftime("%d%m%Y"),
        },
    )
    assert f"/registrar/patients/{patient['id']}" in by_name.text
    reads = await fetch(
        client.city,
        "SELECT actor_role, actor_org FROM audit_log "
        "WHERE patient_id = $1 AND resource = 'patient_search'",
        patient["id"],
    )
    assert [(r["actor_role"], r["actor_org"]) for r in reads] == [("registrar", clinic)] * 2
    typo = await client.get("/registrar/find", params={"policy": "123"})
    assert "Номер полиса — 16 цифр." in typo.text


async def test_book_reschedule_and_cancel_for_a_caller_at_her_clinic(client):
    clinic, csrf = await signed_in(client)
    (patient,) = await adults(client.city, 1, offset=41)
    page = await client.get(
        f"/registrar/patients/{patient['id']}",
        params={"specialty": "dentist", "channel": "phone"},
    )
    assert page.status_code == 200 and patient["family_name"] in page.text
    form = {n: hidden(page.text, n) for n in ("csrf", "key", "channel", "doctor_id", "starts_at")}
    assert form["channel"] == "phone"
    booked = await client.post(
        f"/registrar/patients/{patient['id']}/book", data=form, follow_redirects=False
    )
    assert booked.status_code == 303, booked.text
    sql = (
        "SELECT id, clinic_id, channel, status FROM appointments WHERE patient_id = $1 ORDER BY id"
    )
    (first,) = await fetch(client.city, sql, patient["id"])
    assert (first["clinic_id"], first["channel"], first["status"]) == (clinic, "phone", "booked")
    # the clinic's day lists the patient under the doctor
    day_of = (
        await fetch(client.city, "SELECT starts_at FROM appointments WHERE id = $1", first["id"])
    )[0]["starts_at"]
    tz = (await fetch(client.city, "SELECT time_zone FROM clinics WHERE id = $1", clinic))[0]
    local = day_of.astimezone(ZoneInfo(tz["time_zone"])).date()
    day = await client.get("/registrar/day", params={"date": local.isoformat()})
    assert f"/registrar/patients/{patient['id']}" in day.text and "записан" in day.text

    move = await client.get(f"/registrar/appointments/{first['id']}/reschedule")
    assert move.status_code == 200
    form = {n: hidden(move.text, n) for n in ("csrf", "key", "channel", "doctor_id", "starts_at")}
    moved = await client.post(
        f"/registrar/appointments/{first['id']}/reschedule", data=form, follow_redirects=False
    )
    assert moved.status_code == 303, moved.text
    rows = await fetch(client.city, sql, patient["id"])
    assert [r["status"] for r in rows] == ["cancelled", "booked"]
    assert rows[1]["channel"] == "registrar"

    cancelled = await client.post(
        f"/registrar/appointments/{rows[1]['id']}/cancel",
        data={"csrf": csrf},
        follow_redirects=False,
    )
    assert cancelled.status_code == 303
    rows = await fetch(client.city, sql, patient["id"])
    assert [r["status"] for r in rows] == ["cancelled", "cancelled"]


async def test_another_clinics_appointment_is_not_found_as_a_sentence(client):
    clinic, csrf = await signed_in(client)
    (patient,) = await adults(client.city, 1, offset=42)
    slots = await client.get("/api/v1/slots", params={"specialty": "dentist", "limit": 50})
    slot = next(s for s in slots.json() if s["clinic_id"] != clinic)
    booked = await client.post(
        "/api/v1/appointments",
        json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]},
        headers={**bearer.patient(patient["id"]), **key()},
    )
    other = booked.json()
    answer = await client.post(f"/registrar/appointments/{other['id']}/cancel", data={"csrf": csrf})
    assert answer.status_code == 404
    assert "Не получилось" in answer.text and "Такой записи нет." in answer.text
    english = await client.post(
        f"/registrar/appointments/{other['id']}/cancel?lang=en", data={"csrf": csrf}
    )
    assert english.status_code == 404 and "There is no such appointment." in english.text


async def test_the_language_switch_remembers_english_and_returns_to_the_page(client):
    switched = await client.get(
        "/lang/en", params={"back": "/registrar?x=1"}, follow_redirects=False
    )
    assert switched.status_code == 303 and switched.headers["location"] == "/registrar?x=1"
    assert switched.headers["set-cookie"].startswith("lang=en")
    page = await client.get("/registrar")
    assert "Registrars&#39; sign-in" in page.text or "Registrars' sign-in" in page.text
    assert "Username" in page.text and "Имя пользователя" not in page.text
    assert 'href="/lang/ru?back=/registrar"' in page.text  # the way back to Russian
    wrong, _ = await sign_in(client, "/registrar", "registrar.1", "not-the-password")
    assert "The username or the password is wrong." in wrong.text
    back = await client.get("/lang/ru", params={"back": "//evil.example/"}, follow_redirects=False)
    assert back.headers["location"] == "/"  # only a path of this site
    assert "Имя пользователя" in (await client.get("/registrar")).text


async def test_the_search_by_name_and_birth_date_can_use_its_index(client):
    conn = await asyncpg.connect(client.city)
    try:
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            rows = await conn.fetch(
                "EXPLAIN " + registry_repository.PATIENTS_BY_NAME, "Иванов", date(1980, 1, 1), 20
            )
    finally:
        await conn.close()
    plan = "\n".join(r[0] for r in rows)
    assert "patients_family_name_birth" in plan, plan
