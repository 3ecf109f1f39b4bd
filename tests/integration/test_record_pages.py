"""The medical record's pages as a browser without JavaScript uses them: the doctor opens
the visit from her day list, a bad vital comes back as a sentence with what she typed,
she signs with a diagnosis, amends only with a reason (the first version stays
readable); the patient reads the protocol on the portal's card, a guardian reads a
linked child's, and another patient's id answers as a missing one."""

from __future__ import annotations

import html
import re
from datetime import datetime, timedelta

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import Clock
from signin import CapturingSms, adults, app_client, book_specialty, fetch, guardian_and_child
from staffpages import hidden, sign_in


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_record_pages_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def sms():
    return CapturingSms()


@pytest.fixture
async def client(city, redis_url, redis_client, sms):
    await redis_client.flushdb()
    async with app_client(city, redis_url, sms=sms) as c:
        c.city = city
        yield c


async def booked(
    client, offset: int, specialty: str = "ophthalmologist", person: dict | None = None
) -> tuple[dict, dict]:
    """A fresh adult (or ``person``) booked with a doctor of ``specialty``: (patient,
    appointment)."""
    if person is None:
        person = dict((await adults(client.city, 1, offset=offset))[0])
    return person, await book_specialty(client, person, specialty)


async def portal_sign_in(client, sms, patient) -> str:
    start = await client.get("/")
    csrf = hidden(start.text, "csrf")
    form = {
        "csrf": csrf,
        "policy_number": patient["policy_number"],
        "birth_date": patient["birth_date"].isoformat(),
    }
    page = await client.post("/sign-in/code", data=form)
    assert page.status_code == 200, page.text
    form = {
        "csrf": csrf,
        "challenge": hidden(page.text, "challenge"),
        "code": sms.code_for(patient["phone"]),
    }
    signed = await client.post("/sign-in/token", data=form, follow_redirects=False)
    assert signed.status_code == 303
    return csrf


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", page))


PROTOCOL = {
    "complaints": "Снижение зрения вдаль последние полгода",
    "history": "Очки не носил",
    "examination": "Visus OD 0.5 OS 0.6",
    "conclusion": "Миопия слабой степени обоих глаз",
    "recommendations": "Очки для дали, контроль через год",
}


async def test_the_doctor_signs_amends_and_the_patient_reads_it(client, sms):
    person, appointment = await booked(client, offset=30)
    visit_url = f"/doctor/visits/{appointment['id']}"
    # the doctor's day is the appointment's day
    client.app_state.booking.clock = Clock(
        datetime.fromisoformat(appointment["starts_at"]) - timedelta(minutes=5)
    )
    answer, csrf = await sign_in(client, "/doctor", f"doctor.{appointment['doctor_id']}")
    assert answer.status_code == 303
    day = await client.get("/doctor/day")
    assert f'href="{visit_url}"' in day.text and "Открыть приём" in day.text

    opened = await client.get(visit_url)
    assert opened.status_code == 200, opened.text
    assert opened.headers["content-type"].startswith("text/html"), opened.headers
    page = text_of(opened.text)
    assert "Кратко о пациенте" in page and "Текущие лекарства" in page and "нет данных" in page
    assert "Глазное дно" in page  # the ophthalmologist's template prefills the examination
    encounter = int(re.search(r'action="/doctor/visits/(\d+)/sign"', opened.text).group(1))
    sign = f"/doctor/visits/{encounter}/sign"

    # A systolic pressure of 900: a sentence, a 4xx, and everything typed kept.
    typed = {
        "csrf": csrf,
        **PROTOCOL,
        "vital-8480-6": "900",
        "vital-8462-4": "85",
        "dx-0-code": "H52.1",
        "dx-0-rank": "primary",
        "dx-0-course": "chronic",
        "dx-0-verification": "confirmed",
    }
    refused = await client.post(sign, data=typed)
    assert refused.status_code == 422
    page = text_of(refused.text)
    assert "Систолическое давление: 900 — такого значения не бывает" in page
    assert 'role="alert"' in refused.text
    assert PROTOCOL["complaints"] in page and 'value="900"' in refused.text
    assert 'value="H52.1"' in refused.text
    rows = await fetch(client.city, "SELECT status FROM encounters WHERE id = $1", encounter)
    assert rows[0]["status"] == "in-progress"

    # A code that is not ICD-10 is a sentence too.
    wrong = await client.post(sign, data={**typed, "vital-8480-6": "128", "dx-0-code": "Q99.99"})
    assert wrong.status_code == 422 and "нет в МКБ-10" in text_of(wrong.text)
    # A protocol with nothing written: the service's refusal, in the page's words.
    blank = {k: ("" if k in PROTOCOL else v) for k, v in typed.items()} | {"vital-8480-6": "128"}
    empty = await client.post(sign, data=blank)
    assert empty.status_code == 422 and "Протокол пуст" in text_of(empty.text)

    signed = await client.post(sign, data={**typed, "vital-8480-6": "128"}, follow_redirects=False)
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"].startswith(visit_url)
    after = await client.get(visit_url)
    page = text_of(after.text)
    assert "Подписанный протокол" in page and "Исправить" in page
    assert PROTOCOL["conclusion"] in page and "H52.1" in page
    assert f'action="{sign}"' not in after.text  # read-only now

    # The amendment needs its reason; without one, a sentence and the text kept.
    amend = f"/doctor/visits/{encounter}/amend"
    changed = {**typed, "vital-8480-6": "128", "conclusion": "Миопия средней степени"}
    no_reason = await client.post(amend, data={**changed, "reason": " "})
    assert no_reason.status_code == 400
    page = text_of(no_reason.text)
    assert "Укажите причину исправления" in page and "Миопия средней степени" in page
    done = await client.post(
        amend,
        data={**changed, "reason": "Уточнена рефракция"},
        follow_redirects=False,
    )
    assert done.status_code == 303, done.text
    amended = text_of((await client.get(visit_url)).text)
    assert "Миопия средней степени" in amended and "Уточнена рефракция" in amended
    first = await client.get(f"/doctor/encounters/{encounter}/versions/1")
    assert first.status_code == 200
    assert PROTOCOL["conclusion"] in text_of(first.text)
    assert f"/doctor/encounters/{encounter}/versions/2" in first.text

    # The patient reads it on the portal's card.
    await portal_sign_in(client, sms, person)
    card = await client.get("/record")
    assert card.status_code == 200
    page = text_of(card.text)
    assert 'href="/record"' in card.text  # in the portal's navigation
    assert "Миопия средней степени" in page and "H52.1" in page
    assert "Систолическое давление" in page and "90–139" in page  # with its range
    # ... and sees the doctor's writes and reads of it in "who saw my data", in words.
    log = text_of((await client.get("/access-log")).text)
    assert "подпись: приём" in log and "исправление: приём" in log
    assert "просмотр: медицинская карта" in log


async def test_the_card_draws_a_repeated_measures_trend(client, sms):
    person, first = await booked(client, offset=33)
    _, second = await booked(client, 0, specialty="dentist", person=person)
    for appointment, value in ((first, 150), (second, 142)):
        doctor = bearer.doctor(appointment["doctor_id"], appointment["clinic_id"])
        opened = await client.post(
            "/api/v1/encounters", json={"appointment_id": appointment["id"]}, headers=doctor
        )
        assert opened.status_code == 201, opened.text
        signoff = {"protocol": {"complaints": "АД"}, "vitals": [{"code": "8480-6", "value": value}]}
        url = f"/api/v1/encounters/{opened.json()['id']}/sign"
        assert (await client.post(url, json=signoff, headers=doctor)).status_code == 200
    allergy = await client.post(
        f"/api/v1/patients/{person['id']}/allergies",
        json={"substance": "J01C", "reaction": "крапивница", "criticality": "high"},
        headers=bearer.doctor(first["doctor_id"], first["clinic_id"]),
    )
    assert allergy.status_code == 201, allergy.text
    await portal_sign_in(client, sms, person)
    card = await client.get("/record")
    page = text_of(card.text)
    assert 'role="img"' in card.text and "<polyline" in card.text
    assert "150 → 142" in page  # the chart's text alternative, oldest first
    assert "Значения таблицей" in page  # and its table
    assert "Пенициллины" in page and "крапивница" in page


async def test_a_guardian_reads_a_childs_card_and_no_one_elses(client, sms):
    guardian, child = await guardian_and_child(client.city)
    (doctor,) = await fetch(
        client.city,
        "SELECT id, clinic_id FROM doctors WHERE clinic_id = $1 ORDER BY id LIMIT 1",
        child["attached_clinic_id"],
    )
    given = await client.post(
        f"/api/v1/patients/{child['id']}/immunizations",
        json={"vaccine": "mmr", "dose_number": 1, "occurred_on": "2024-05-01", "lot": "K-17"},
        headers=bearer.doctor(doctor["id"], doctor["clinic_id"]),
    )
    assert given.status_code == 201, given.text
    await portal_sign_in(client, sms, guardian)
    family = await client.get("/family")
    assert f"/record?patient_id={child['id']}" in family.text
    card = await client.get("/record", params={"patient_id": child["id"]})
    assert card.status_code == 200
    page = text_of(card.text)
    assert "Корь, краснуха, эпидемический паротит" in page and "K-17" in page
    (stranger,) = await adults(client.city, 1, offset=40)
    other = await client.get("/record", params={"patient_id": stranger["id"]})
    assert other.status_code == 404
    missing = await client.get("/record", params={"patient_id": 999_999_999})
    assert missing.status_code == 404


async def test_the_doctor_records_an_allergy_and_an_immunization_in_english_too(client, sms):
    person, appointment = await booked(client, offset=36)
    answer, csrf = await sign_in(client, "/doctor", f"doctor.{appointment['doctor_id']}")
    assert answer.status_code == 303
    visit_url = f"/doctor/visits/{appointment['id']}"
    opened = await client.get(visit_url)
    encounter = int(re.search(r'action="/doctor/visits/(\d+)/sign"', opened.text).group(1))
    allergy = await client.post(
        f"/doctor/visits/{encounter}/allergies",
        data={"csrf": csrf, "substance": "J01C", "reaction": "отёк Квинке", "severity": "severe"},
        follow_redirects=False,
    )
    assert allergy.status_code == 303, allergy.text
    too_many = await client.post(
        f"/doctor/visits/{encounter}/immunizations",
        data={"csrf": csrf, "vaccine": "bcg", "dose_number": "2", "occurred_on": "2020-01-10"},
    )
    assert too_many.status_code == 422
    assert "У этой вакцины нет дозы с таким номером." in text_of(too_many.text)
    given = await client.post(
        f"/doctor/visits/{encounter}/immunizations",
        data={"csrf": csrf, "vaccine": "flu", "dose_number": "1", "occurred_on": "2025-10-01"},
        follow_redirects=False,
    )
    assert given.status_code == 303, given.text
    page = text_of(re.sub(r"<[^>]+>", "", (await client.get(given.headers["location"])).text))
    assert "Прививка записана." in page
    assert "Пенициллины: отёк Квинке" in page and "01.10.2025 — Грипп" in page
    english = await client.get(visit_url, params={"lang": "en"})
    assert english.status_code == 200
    page = text_of(english.text)
    assert "The patient at a glance" in page and "Penicillins" in page and ">Sign<" in page
    # a draft from the page's script needs the CSRF header
    draft = {"protocol": {"complaints": "черновик"}}
    refused = await client.post(f"/doctor/visits/{encounter}/draft", json=draft)
    assert refused.status_code == 403
    saved = await client.post(
        f"/doctor/visits/{encounter}/draft", json=draft, headers={"X-CSRF-Token": csrf}
    )
    assert saved.status_code == 200 and re.fullmatch(r"\d\d:\d\d", saved.json()["shown"])
    assert "черновик" in (await client.get(visit_url)).text


async def test_a_cancelled_appointment_has_no_visit_page(client, sms):
    person, appointment = await booked(client, offset=60)
    cancelled = await client.post(
        f"/api/v1/appointments/{appointment['id']}/cancel",
        json={},
        headers=bearer.patient(person["id"]),
    )
    assert cancelled.status_code == 200, cancelled.text
    await sign_in(client, "/doctor", f"doctor.{appointment['doctor_id']}")
    page = await client.get(f"/doctor/visits/{appointment['id']}")
    assert page.status_code == 409
    assert "Эта запись отменена" in text_of(page.text)
