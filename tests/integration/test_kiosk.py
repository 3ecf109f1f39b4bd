"""The kiosk's pages as a browser without JavaScript uses them: sign-in with the typed
digits and the SMS code, the session cookie, CSRF, booking, a ticket, check-in in its
window (and its refusal as a sentence), and forgetting the patient."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import Clock
from signin import CapturingSms, adults, app_client, book_specialty, fetch


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_kiosk_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def sms():
    return CapturingSms()


@pytest.fixture
async def client(city, redis_url, redis_client, sms):
    await redis_client.flushdb()  # other modules' cities share the policy numbers
    async with app_client(city, redis_url, sms=sms, kiosk_idle_seconds=45) as c:
        c.city = city
        yield c


def hidden(page: str, name: str) -> str:
    match = re.search(rf'name="{name}" value="([^"]*)"', page)
    assert match, f"no {name} in the page"
    return html.unescape(match.group(1))


async def sign_in(client, sms, patient) -> None:
    start = await client.get("/kiosk")
    assert start.status_code == 200
    csrf = hidden(start.text, "csrf")
    form = {
        "csrf": csrf,
        "policy_number": patient["policy_number"],
        "birth_date": patient["birth_date"].strftime("%d%m%Y"),
    }
    page = await client.post("/kiosk/code", data=form)
    assert page.status_code == 200 and "Введите код из SMS" in page.text
    form = {
        "csrf": csrf,
        "challenge": hidden(page.text, "challenge"),
        "code": sms.code_for(patient["phone"]),
    }
    signed = await client.post("/kiosk/token", data=form, follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/kiosk/home"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("imias_kiosk=")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/kiosk" in cookie


async def test_the_start_screen_has_a_keypad_and_the_idle_time(client):
    page = await client.get("/kiosk")
    assert page.status_code == 200
    assert page.text.count('class="keypad"') == 2
    assert "var idle = 45 * 1000" in page.text
    assert 'for="policy_number"' in page.text  # labelled
    assert "imias_csrf=" in page.headers["set-cookie"]


async def test_a_form_without_its_csrf_value_is_refused(client):
    await client.get("/kiosk")
    page = await client.post(
        "/kiosk/code", data={"policy_number": "1" * 16, "birth_date": "01011980"}
    )
    assert page.status_code == 403
    assert "Не получилось" in page.text and "Форма устарела" in page.text


async def test_pages_of_the_patient_need_a_session(client):
    page = await client.get("/kiosk/home", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/kiosk"


async def test_typos_are_said_as_a_sentence(client):
    start = await client.get("/kiosk")
    form = {"csrf": hidden(start.text, "csrf"), "policy_number": "123", "birth_date": "31022000"}
    page = await client.post("/kiosk/code", data=form)
    assert "Проверьте номер полиса" in page.text


async def test_sign_in_book_print_and_leave(client, sms):
    (patient,) = await adults(client.city, 1)
    await sign_in(client, sms, patient)
    home = await client.get("/kiosk/home")
    assert "На сегодня записей нет" in home.text or "Ваши записи на сегодня" in home.text
    book = await client.get("/kiosk/book", params={"specialty": "ophthalmologist"})
    assert book.status_code == 200
    form = {name: hidden(book.text, name) for name in ("csrf", "key", "doctor_id", "starts_at")}
    ticket = await client.post("/kiosk/book", data=form)
    assert ticket.status_code == 200 and "Талон на приём" in ticket.text
    rows = await fetch(
        client.city,
        "SELECT id, status, channel FROM appointments WHERE patient_id = $1",
        patient["id"],
    )
    assert [(r["status"], r["channel"]) for r in rows] == [("booked", "kiosk")]
    assert f"№ {rows[0]['id']}" in ticket.text
    # leaving revokes the session: the same cookie no longer opens a page
    kept = client.cookies.get("imias_kiosk")
    out = await client.post("/kiosk/sign-out", data={"csrf": form["csrf"]}, follow_redirects=False)
    assert out.status_code == 303 and out.headers["location"] == "/kiosk"
    client.cookies.set("imias_kiosk", kept, path="/kiosk")
    again = await client.get("/kiosk/home", follow_redirects=False)
    assert again.status_code == 303


async def test_check_in_opens_an_hour_before_and_marks_arrived(client, sms):
    (patient,) = await adults(client.city, 1, offset=1)
    await sign_in(client, sms, patient)
    book = await client.get("/kiosk/book", params={"specialty": "ophthalmologist"})
    form = {name: hidden(book.text, name) for name in ("csrf", "key", "doctor_id", "starts_at")}
    await client.post("/kiosk/book", data=form)
    (row,) = await fetch(
        client.city, "SELECT id, starts_at FROM appointments WHERE patient_id = $1", patient["id"]
    )
    service = client.app_state.booking
    service.clock = Clock(row["starts_at"] - timedelta(hours=2))
    early = await client.post(f"/kiosk/check-in/{row['id']}", data={"csrf": form["csrf"]})
    assert "Отметиться можно не раньше чем за час до приёма." in early.text
    service.clock = Clock(row["starts_at"] - timedelta(minutes=20))
    arrived = await client.post(f"/kiosk/check-in/{row['id']}", data={"csrf": form["csrf"]})
    assert arrived.status_code == 200 and "Талон на приём" in arrived.text
    (status,) = await fetch(client.city, "SELECT status FROM appointments WHERE id = $1", row["id"])
    assert status["status"] == "arrived"


async def test_the_api_checks_a_patient_in_for_their_own_appointment_only(client):
    import bearer
    from signin import key

    me, other = await adults(client.city, 2, offset=2)
    slots = await client.get("/api/v1/slots", params={"specialty": "dentist", "limit": 1})
    slot = slots.json()[0]
    booked = await client.post(
        "/api/v1/appointments",
        json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"], "channel": "kiosk"},
        headers={**bearer.patient(me["id"]), **key()},
    )
    assert booked.status_code == 201, booked.text
    appointment = booked.json()
    client.app_state.booking.clock = Clock(
        datetime.fromisoformat(appointment["starts_at"]) - timedelta(minutes=5)
    )
    path = f"/api/v1/appointments/{appointment['id']}/check-in"
    refused = await client.post(path, headers=bearer.patient(other["id"]))
    assert refused.status_code == 404
    assert (await client.post(path, headers=bearer.patient(me["id"]))).status_code == 204
    again = await client.post(path, headers=bearer.patient(me["id"]))
    assert again.status_code == 409 and again.json()["code"] == "already_arrived"
    assert again.json()["message_ru"] == "Вы уже отметились."


async def test_the_kiosk_speaks_russian_by_default_and_english_on_request(client):
    russian = await client.get("/kiosk")
    assert '<html lang="ru">' in russian.text and "Получить код" in russian.text
    english = await client.get("/kiosk", params={"lang": "en"})
    assert '<html lang="en">' in english.text
    assert "Get a code" in english.text and "Получить код" not in english.text
    assert "Policy number (16 digits)" in english.text
    cookie = [c for c in english.headers.get_list("set-cookie") if c.startswith("lang=")]
    assert cookie and "HttpOnly" in cookie[0] and "samesite=strict" in cookie[0].lower()
    remembered = await client.get("/kiosk")  # the cookie keeps the choice
    assert "Get a code" in remembered.text
    typo = await client.post(
        "/kiosk/code",
        data={"csrf": hidden(remembered.text, "csrf"), "policy_number": "1", "birth_date": "1"},
    )
    assert "Check the policy number (16 digits)" in typo.text


async def test_a_prescription_is_printed_with_the_qr_code_of_its_own_code(client, sms):
    from imias.platform import qr
    from prescriptions import Catalogue

    (patient, stranger) = await adults(client.city, 2, offset=40)
    appointment = await book_specialty(client, patient, "ophthalmologist")
    doctor = bearer.doctor(appointment["doctor_id"], appointment["clinic_id"])
    visit = await client.post(
        "/api/v1/encounters", json={"appointment_id": appointment["id"]}, headers=doctor
    )
    product = Catalogue.bundled().drugs["C08CA01"].products[0].code
    written = await client.post(
        f"/api/v1/encounters/{visit.json()['id']}/prescriptions",
        json={"product": product, "dose": 1, "per_day": 1, "days": 30},
        headers=doctor,
    )
    assert written.status_code == 201, written.text
    number = written.json()["id"]
    mine = await client.get(
        f"/api/v1/patients/{patient['id']}/prescriptions", headers=bearer.patient(patient["id"])
    )
    code = mine.json()[0]["code"]

    await sign_in(client, sms, patient)
    listed = await client.get("/kiosk/prescriptions")
    assert listed.status_code == 200 and f"/kiosk/prescriptions/{number}" in listed.text
    page = await client.get(f"/kiosk/prescriptions/{number}")
    assert page.status_code == 200 and "window.print()" in page.text
    drawn = re.search(r'<div class="qr-code"[^>]*>(.*?)</div>', page.text, re.S)
    assert drawn, page.text
    path = re.search(r' d="([^"]+)"', drawn.group(1))
    expected = re.search(r' d="([^"]+)"', qr.svg(code, scale=6))
    assert path and expected and path.group(1) == expected.group(1)  # the QR of its code

    # Another patient's prescription is not printed for this one.
    other = await book_specialty(client, stranger, "ophthalmologist")
    their_doctor = bearer.doctor(other["doctor_id"], other["clinic_id"])
    their_visit = await client.post(
        "/api/v1/encounters", json={"appointment_id": other["id"]}, headers=their_doctor
    )
    theirs = await client.post(
        f"/api/v1/encounters/{their_visit.json()['id']}/prescriptions",
        json={"product": product, "dose": 1, "per_day": 1, "days": 30},
        headers=their_doctor,
    )
    refused = await client.get(f"/kiosk/prescriptions/{theirs.json()['id']}")
    assert refused.status_code == 404
