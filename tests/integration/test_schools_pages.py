"""The schools' pages as a browser without JavaScript uses them: a guardian finds a school
on the portal, ticks what it is sent, consents and withdraws (another's child answers as
a missing one); the doctor opens and closes a child's illness note in her visit, a bad
day coming back as a sentence; the school nurse signs in and sees her school's children
with a PE restriction, and a doctor's password opens nothing there."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import CapturingSms, app_client, fetch, guardian_and_child, key
from staffpages import hidden, sign_in
from test_record_pages import portal_sign_in, text_of


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_school_pages_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=12, doctors=200, patients=1500)
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


async def book_at_own_clinic(client, person, specialty: str) -> dict:
    """``person`` booked with a doctor of ``specialty`` at their own clinic (a district
    paediatrician books only her own clinic's children)."""
    slots = (
        await client.get(
            "/api/v1/slots",
            params={"specialty": specialty, "clinic": person["attached_clinic_id"], "limit": 30},
        )
    ).json()
    for slot in slots:
        answer = await client.post(
            "/api/v1/appointments",
            json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]},
            headers=bearer.patient(person["id"]) | key(),
        )
        if answer.status_code == 201:
            return dict(answer.json())
    raise AssertionError(f"no {specialty} slot could be booked")


def today():
    return datetime.now(UTC).astimezone(ZoneInfo("Europe/Moscow")).date()


async def test_a_guardian_consents_and_withdraws_on_the_portal(client, sms):
    guardian, child = await guardian_and_child(client.city, 5)
    school = (await fetch(client.city, "SELECT id, name FROM schools WHERE id = 1"))[0]
    csrf = await portal_sign_in(client, sms, guardian)
    family = await client.get("/family")
    assert f'href="/schools?patient_id={child["id"]}"' in family.text
    found = await client.get(
        "/schools", params={"patient_id": child["id"], "q": school["name"][:12]}
    )
    assert found.status_code == 200 and school["name"] in text_of(found.text)
    assert found.headers["content-type"].startswith("text/html")  # a page, not JSON text
    form = {"csrf": csrf, "patient_id": str(child["id"]), "school_id": "1"}
    nothing = await client.post("/schools/consents", data=form)
    assert nothing.status_code == 422 and "Отметьте, что передавать" in nothing.text
    assert nothing.headers["content-type"].startswith("text/html")
    given = await client.post(
        "/schools/consents", data=form | {"absences": "on"}, follow_redirects=False
    )
    assert given.status_code == 303
    page = await client.get(given.headers["location"])
    assert "Согласие дано." in page.text and "Отозвать согласие" in page.text
    consent = re.search(r'action="/schools/consents/(\d+)/withdraw"', page.text)
    assert consent
    withdrawn = await client.post(
        f"/schools/consents/{consent.group(1)}/withdraw",
        data={"csrf": csrf, "patient_id": str(child["id"])},
        follow_redirects=False,
    )
    assert withdrawn.status_code == 303
    after = await client.get(withdrawn.headers["location"])
    assert "Согласий нет" in after.text and "Отозванные согласия" in after.text
    stranger = await client.get("/schools", params={"patient_id": guardian["id"] + 100_000})
    assert stranger.status_code == 404
    audited = await fetch(
        client.city,
        "SELECT action FROM audit_log WHERE patient_id = $1 AND resource = 'school_consent'"
        " ORDER BY id",
        child["id"],
    )
    assert [r["action"] for r in audited] == ["create", "withdraw"]


async def test_the_doctor_opens_and_closes_the_illness_note_in_her_visit(client):
    _, child = await guardian_and_child(client.city, 9)
    appointment = await book_at_own_clinic(client, child, "paediatrician")
    answer, csrf = await sign_in(client, "/doctor", f"doctor.{appointment['doctor_id']}")
    assert answer.status_code == 303, answer.text
    visit = await client.get(f"/doctor/visits/{appointment['id']}")
    assert visit.status_code == 200 and "Справка о болезни для школы" in visit.text
    encounter = re.search(r'action="/doctor/visits/(\d+)/illness"', visit.text).group(1)
    start = (today() - timedelta(days=1)).isoformat()
    opened = await client.post(
        f"/doctor/visits/{encounter}/illness",
        data={"csrf": csrf, "starts_on": start},
        follow_redirects=False,
    )
    assert opened.status_code == 303 and "illness=opened" in opened.headers["location"]
    page = await client.get(opened.headers["location"])
    assert "Закрыть справку" in page.text
    episode = re.search(r'/illness/(\d+)/close"', page.text).group(1)
    early = await client.post(
        f"/doctor/visits/{encounter}/illness/{episode}/close",
        data={"csrf": csrf, "ends_on": (today() - timedelta(days=5)).isoformat()},
        follow_redirects=False,
    )
    refused = await client.get(early.headers["location"])
    assert "Последний день болезни не раньше первого." in refused.text
    closed = await client.post(
        f"/doctor/visits/{encounter}/illness/{episode}/close",
        data={"csrf": csrf, "ends_on": today().isoformat()},
        follow_redirects=False,
    )
    assert "illness=closed" in closed.headers["location"]
    listed = await client.get(
        f"/api/v1/patients/{child['id']}/illness-episodes", headers=bearer.patient(child["id"])
    )
    assert [(e["starts_on"], e["ends_on"]) for e in listed.json()] == [(start, today().isoformat())]


async def test_the_school_nurse_sees_her_schools_restricted_children(client):
    guardian, child = await guardian_and_child(client.city, 13)
    given = await client.post(
        f"/api/v1/patients/{child['id']}/school-consents",
        json={"school_id": 1, "certificates": True},
        headers=bearer.patient(guardian["id"]),
    )
    assert given.status_code == 201
    doctor = (
        await fetch(
            client.city,
            "SELECT d.id, d.clinic_id FROM doctors d JOIN specialties s ON s.id = d.specialty_id"
            " WHERE s.code = 'paediatrician' AND d.clinic_id = $1 ORDER BY d.id LIMIT 1",
            child["attached_clinic_id"],
        )
    )[0]
    issued = await client.post(
        "/api/v1/certificates",
        json={"patient_id": child["id"], "kind": "pe_group", "pe_group": "preparatory"},
        headers=bearer.doctor(doctor["id"], doctor["clinic_id"]),
    )
    assert issued.status_code == 201, issued.text
    wrong, _ = await sign_in(client, "/school", f"doctor.{doctor['id']}")
    assert wrong.status_code == 403
    answer, _ = await sign_in(client, "/school", "nurse.1")
    assert answer.status_code == 303 and answer.headers["location"] == "/school/pupils"
    page = await client.get("/school/pupils")
    assert page.status_code == 200
    text = text_of(page.text)
    assert child["family_name"] in text and "Подготовительная" in text
    assert issued.json()["number"] in text
    assert hidden(page.text, "csrf")
