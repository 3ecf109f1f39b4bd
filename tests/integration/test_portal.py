"""The patient portal ``/`` as a browser without JavaScript uses it: sign-in with the
SMS code, the session cookie and CSRF, nearest clinics with their earliest time, a hold
confirmed into an appointment, reschedule and cancel, the waitlist, referrals, a linked
child, the access log, and refusals said as the rule's sentence."""

from __future__ import annotations

import html
import re
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import CapturingSms, adults, app_client, fetch, guardian_and_child

from imias.booking.model import RefusalCode


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_portal_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def sms():
    return CapturingSms()


@pytest.fixture
async def client(city, redis_url, redis_client, sms):
    await redis_client.flushdb()  # other modules' cities share the policy numbers
    async with app_client(city, redis_url, sms=sms) as c:
        c.city = city
        yield c


def hidden(page: str, name: str, nth: int = 0) -> str:
    found = re.findall(rf'name="{name}" value="([^"]*)"', page)
    assert len(found) > nth, f"no {name} in the page"
    return html.unescape(found[nth])


def action(page: str, pattern: str) -> str:
    match = re.search(rf'action="({pattern})"', page)
    assert match, f"no form posting to {pattern}"
    return match.group(1)


async def sign_in(client, sms, patient) -> str:
    start = await client.get("/")
    assert start.status_code == 200
    csrf = hidden(start.text, "csrf")
    form = {
        "csrf": csrf,
        "policy_number": patient["policy_number"],
        "birth_date": patient["birth_date"].isoformat(),
    }
    page = await client.post("/sign-in/code", data=form)
    assert page.status_code == 200 and "Введите код из SMS" in page.text
    form = {
        "csrf": csrf,
        "challenge": hidden(page.text, "challenge"),
        "code": sms.code_for(patient["phone"]),
    }
    signed = await client.post("/sign-in/token", data=form, follow_redirects=False)
    assert signed.status_code == 303 and signed.headers["location"] == "/appointments"
    cookie = signed.headers["set-cookie"]
    assert cookie.startswith("imias_portal=")
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower() and "Path=/" in cookie
    return csrf


async def hold_first(client, query: dict, patient_id: int | None = None) -> str:
    """From a doctor's free times, hold the first: the hold page."""
    book = await client.get("/book", params=query)
    assert book.status_code == 200, book.text
    form = {n: hidden(book.text, n) for n in ("csrf", "key", "doctor_id", "starts_at")}
    if patient_id:
        form["patient_id"] = str(patient_id)
    held = await client.post("/book/hold", data=form)
    assert held.status_code == 200, held.text
    assert 'role="timer"' in held.text
    return held.text


async def test_the_start_page_is_labelled_and_sets_the_csrf_cookie(client):
    page = await client.get("/")
    assert page.status_code == 200
    assert 'for="policy_number"' in page.text and 'for="birth_date"' in page.text
    assert "imias_csrf=" in page.headers["set-cookie"]


@pytest.mark.parametrize(
    "path", ["/appointments", "/book", "/waitlist", "/referrals", "/family", "/access-log"]
)
async def test_pages_of_the_patient_need_a_session(client, path):
    page = await client.get(path, follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"] == "/"


async def test_a_form_without_its_csrf_value_is_refused(client):
    await client.get("/")
    page = await client.post(
        "/sign-in/code", data={"policy_number": "1" * 16, "birth_date": "1980-01-01"}
    )
    assert page.status_code == 403 and "Форма устарела" in page.text  # Russian by default


async def test_a_typo_is_said_as_a_sentence(client):
    start = await client.get("/")
    form = {"csrf": hidden(start.text, "csrf"), "policy_number": "123", "birth_date": "x"}
    page = await client.post("/sign-in/code", data=form)
    assert "Проверьте номер полиса" in page.text


async def test_a_typo_is_said_in_english_on_an_english_page(client):
    start = await client.get("/?lang=en")
    assert 'lang="en"' in start.text and "Get a code by SMS" in start.text
    form = {"csrf": hidden(start.text, "csrf"), "policy_number": "123", "birth_date": "x"}
    page = await client.post("/sign-in/code", data=form)
    assert "Check the policy number" in page.text
    assert "Проверьте" not in page.text
    await client.get("/?lang=ru")  # the module's other tests read Russian


async def test_the_api_does_not_take_the_portal_cookie(client, sms):
    (patient,) = await adults(client.city, 1, offset=10)
    await sign_in(client, sms, patient)
    answer = await client.get(f"/api/v1/patients/{patient['id']}/appointments")
    assert answer.status_code == 401


async def test_nearest_clinics_have_their_earliest_time(client, sms):
    (patient,) = await adults(client.city, 1, offset=11)
    await sign_in(client, sms, patient)
    start = await client.get("/book")
    select = start.text.split('id="district"', 1)[1].split("</select>", 1)[0]
    district = re.findall(r'<option value="([^"]+)" >', select)
    assert district, "no districts to choose"
    page = await client.get("/book", params={"specialty": "dentist", "district": district[0]})
    assert page.text.count("Ближайшее время") >= 1
    assert page.text.count('class="card"') >= 2
    near = await client.get("/book", params={"specialty": "dentist", "lat": "55.75", "lon": "37.6"})
    assert "Ближайшие поликлиники" in near.text


async def test_an_address_typed_in_finds_the_clinics_of_that_street(client, sms):
    (patient,) = await adults(client.city, 1, offset=14)
    await sign_in(client, sms, patient)
    (clinic,) = await fetch(
        client.city,
        "SELECT c.id, c.name, c.address FROM clinics c JOIN doctors d ON d.clinic_id = c.id"
        " JOIN specialties s ON s.id = d.specialty_id WHERE s.code = 'dentist'"
        " ORDER BY c.id LIMIT 1",
    )
    street = clinic["address"].split(",")[1]  # "ш. Советское": as a person types it
    words = street.replace(".", " ").split()
    typed = f"{words[-1]} {words[0]} 7"  # "Советское ш 7"
    page = await client.get("/book", params={"specialty": "dentist", "address": typed})
    assert "Ближайшие поликлиники" in page.text
    assert clinic["name"] in page.text  # among the nearest, being on that street
    unknown = await client.get("/book", params={"specialty": "dentist", "address": "Нигдейная"})
    assert "Такой улицы не нашлось" in unknown.text


async def test_book_with_a_hold_then_reschedule_and_cancel(client, sms):
    (patient,) = await adults(client.city, 1)
    await sign_in(client, sms, patient)
    (doctor,) = await fetch(
        client.city,
        "SELECT d.id, d.clinic_id FROM doctors d JOIN specialties s ON s.id = d.specialty_id"
        " WHERE s.code = 'ophthalmologist' ORDER BY d.id LIMIT 1",
    )
    query = {"specialty": "ophthalmologist", "clinic": doctor["clinic_id"], "doctor": doctor["id"]}
    held = await hold_first(client, query)
    confirm = {"csrf": hidden(held, "csrf"), "key": hidden(held, "key")}
    done = await client.post(action(held, r"/holds/[^/]+/confirm"), data=confirm)
    assert done.status_code == 200 and "Готово: вы записаны." in done.text
    (row,) = await fetch(
        client.city,
        "SELECT id, status, channel, starts_at FROM appointments WHERE patient_id = $1",
        patient["id"],
    )
    assert (row["status"], row["channel"]) == ("booked", "web")
    # reschedule to the doctor's second free time
    book = await client.get("/book", params={**query, "reschedule": row["id"]})
    assert f'action="/appointments/{row["id"]}/reschedule"' in book.text
    form = {n: hidden(book.text, n, 1) for n in ("key", "doctor_id", "starts_at")}
    form["csrf"] = hidden(book.text, "csrf")
    moved = await client.post(f"/appointments/{row['id']}/reschedule", data=form)
    assert moved.status_code == 200 and "Готово: вы записаны." in moved.text
    rows = await fetch(
        client.city,
        "SELECT id, status FROM appointments WHERE patient_id = $1 AND status = 'booked'",
        patient["id"],
    )
    assert len(rows) == 1 and rows[0]["id"] != row["id"]
    cancel = action(moved.text, r"/appointments/\d+/cancel")
    gone = await client.post(cancel, data={"csrf": confirm["csrf"]})
    assert gone.status_code == 200 and "Предстоящих записей нет." in gone.text
    audited = await fetch(
        client.city,
        "SELECT action FROM audit_log WHERE patient_id = $1 AND actor_role = 'patient'",
        patient["id"],
    )
    actions = {r["action"] for r in audited}
    assert {"hold", "confirm", "read", "cancel"} <= actions, actions


async def test_a_refusal_is_the_rules_sentence(client, sms):
    (patient,) = await adults(client.city, 1, offset=3)
    csrf = await sign_in(client, sms, patient)
    page = await client.post(
        "/holds/not-a-token/confirm", data={"csrf": csrf, "key": "k"}, follow_redirects=False
    )
    assert page.status_code == RefusalCode.WRONG_HOLD.status
    assert RefusalCode.WRONG_HOLD.message("ru") in page.text
    assert "wrong_hold" not in page.text


async def join_the_dentists_waitlist(client, csrf: str, first: date | None = None):
    """Join with the days the waitlist page offers (``first``: what it must offer)."""
    page = await client.get("/waitlist")
    if first is not None:
        assert hidden(page.text, "from") == first.isoformat()
    form = {
        "csrf": csrf,
        "specialty": "dentist",
        "from": hidden(page.text, "from"),
        "to": hidden(page.text, "to"),
    }
    joined = await client.post("/waitlist", data=form)
    assert joined.status_code == 200 and "Больше не ждать" in joined.text
    return joined


async def test_join_and_leave_the_waitlist(client, sms):
    (patient,) = await adults(client.city, 1, offset=4)
    csrf = await sign_in(client, sms, patient)
    joined = await join_the_dentists_waitlist(client, csrf)
    left = await client.post(action(joined.text, r"/waitlist/\d+/leave"), data={"csrf": csrf})
    assert "Вы не стоите в листе ожидания." in left.text
    (entry,) = await fetch(
        client.city, "SELECT status FROM waitlist_entries WHERE patient_id = $1", patient["id"]
    )
    assert entry["status"] == "cancelled"


async def test_the_waitlist_offers_the_citys_days_not_the_servers(client, sms):
    # A city whose date is not the server's now (UTC+14 is a day ahead of UTC from 10:00
    # UTC, UTC-12 a day behind before 12:00): the form's days are the city's, which is
    # what joining checks (the server's date was refused every night after 21:00 UTC).
    engine = client.app.state.engine
    kept = engine.zone
    ahead = ZoneInfo("Etc/GMT-14")
    engine.zone = ahead if datetime.now(ahead).date() != date.today() else ZoneInfo("Etc/GMT+12")
    try:
        assert engine.today() != date.today()
        (patient,) = await adults(client.city, 1, offset=30)
        csrf = await sign_in(client, sms, patient)
        await join_the_dentists_waitlist(client, csrf, first=engine.today())
    finally:
        engine.zone = kept


async def test_referrals_show_what_the_patient_may_book(client, sms):
    (patient,) = await adults(client.city, 1, offset=5)
    await sign_in(client, sms, patient)
    assert "Действующих направлений нет" in (await client.get("/referrals")).text
    await fetch(
        client.city,
        "INSERT INTO referrals (clinic_id, patient_id, specialty_id, issued_by, valid_until)"
        " SELECT d.clinic_id, $1, s.id, d.id, current_date + 30"
        "   FROM doctors d, specialties s WHERE s.code = 'cardiologist' ORDER BY d.id LIMIT 1",
        patient["id"],
    )
    page = await client.get("/referrals")
    assert "/book?specialty=cardiologist" in page.text


async def test_a_guardian_books_for_a_linked_child_and_no_one_else(client, sms):
    guardian, child = await guardian_and_child(client.city)
    csrf = await sign_in(client, sms, guardian)
    family = await client.get("/family")
    assert f"/book?patient_id={child['id']}" in family.text
    (doctor,) = await fetch(
        client.city,
        "SELECT d.id, d.clinic_id FROM doctors d JOIN specialties s ON s.id = d.specialty_id"
        " WHERE s.code = 'dentist' ORDER BY d.id LIMIT 1",
    )
    query = {"specialty": "dentist", "clinic": doctor["clinic_id"], "doctor": doctor["id"]}
    held = await hold_first(client, {**query, "patient_id": child["id"]}, child["id"])
    assert hidden(held, "patient_id") == str(child["id"])
    confirm = {"csrf": csrf, "key": hidden(held, "key"), "patient_id": str(child["id"])}
    done = await client.post(action(held, r"/holds/[^/]+/confirm"), data=confirm)
    assert "Готово: вы записаны." in done.text
    rows = await fetch(
        client.city, "SELECT status FROM appointments WHERE patient_id = $1", child["id"]
    )
    assert [r["status"] for r in rows] == ["booked"]
    (stranger,) = await adults(client.city, 1, offset=6)
    other = await client.get("/appointments", params={"patient_id": stranger["id"]})
    assert other.status_code == 404


async def test_the_access_log_names_staff_who_read_my_data(client, sms):
    (patient,) = await adults(client.city, 1, offset=7)
    await sign_in(client, sms, patient)
    assert "Никто, кроме вас" in (await client.get("/access-log")).text
    (staff,) = await fetch(client.city, "SELECT id FROM staff_accounts ORDER BY id LIMIT 1")
    await fetch(
        client.city,
        "INSERT INTO audit_log (actor_id, actor_role, action, resource, patient_id)"
        " VALUES ($1, 'registrar', 'read', 'appointments', $2)",
        staff["id"],
        patient["id"],
    )
    page = await client.get("/access-log")
    assert "регистратор" in page.text and "просмотр" in page.text


async def test_a_referral_shows_the_time_kept_for_referrals_and_books_it(client, sms):
    with_referral, without = await adults(client.city, 2, offset=8)
    (doctor,) = await fetch(
        client.city,
        "SELECT d.id, d.clinic_id FROM doctors d JOIN specialties s ON s.id = d.specialty_id"
        " WHERE s.code = 'cardiologist' ORDER BY d.id LIMIT 1",
    )
    query = {"specialty": "cardiologist", "clinic": doctor["clinic_id"], "doctor": doctor["id"]}
    await sign_in(client, sms, without)
    page = await client.get("/book", params=query)
    assert 'action="/book/hold"' not in page.text and "Свободного времени нет" in page.text
    client.cookies.clear()
    await fetch(
        client.city,
        "INSERT INTO referrals (clinic_id, patient_id, specialty_id, issued_by, valid_until)"
        " SELECT d.clinic_id, $1, d.specialty_id, d.id, current_date + 30"
        "   FROM doctors d WHERE d.id = $2",
        with_referral["id"],
        doctor["id"],
    )
    await sign_in(client, sms, with_referral)
    held = await hold_first(client, query)
    confirm = {"csrf": hidden(held, "csrf"), "key": hidden(held, "key")}
    done = await client.post(action(held, r"/holds/[^/]+/confirm"), data=confirm)
    assert "Готово: вы записаны." in done.text
    (referral,) = await fetch(
        client.city, "SELECT status FROM referrals WHERE patient_id = $1", with_referral["id"]
    )
    assert referral["status"] == "used"
