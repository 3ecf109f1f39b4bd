"""The walk-in queue on the registrar's and the doctor's pages, as a browser without
JavaScript uses them: the registrar puts a patient in today's queue from his page and
sees his wait; the duty doctor calls the next, opens his visit (a page of its own, the
same one on a second press), signs it, and the entry is seen; a patient who went away
is marked so; another clinic's entry answers a page's 404."""

from __future__ import annotations

import re

import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import adults, app_client, fetch
from staffpages import sign_in


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_walk_in_pages_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=4, doctors=60, patients=300)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def client(city, redis_url, redis_client):
    await redis_client.flushdb()
    async with app_client(city, redis_url) as c:
        yield c


@pytest.fixture(scope="module")
async def place(city) -> dict:
    """A clinic, its duty doctor (a self-referral specialty) and patients of elsewhere."""
    row = (
        await fetch(
            city,
            "SELECT d.clinic_id, d.id FROM doctors d JOIN specialties s ON s.id = d.specialty_id"
            " WHERE s.self_referral ORDER BY d.clinic_id, d.id LIMIT 1",
        )
    )[0]
    people = [p for p in await adults(city, 20) if p["attached_clinic_id"] != row["clinic_id"]]
    other = await fetch(city, "SELECT id FROM clinics WHERE id <> $1 LIMIT 1", row["clinic_id"])
    return {"clinic": row["clinic_id"], "doctor": row["id"], "people": people,
            "other": other[0]["id"]}  # fmt: skip


async def test_the_registrar_queues_and_the_duty_doctor_calls_and_sees(client, city, place):
    clinic, patient = place["clinic"], place["people"][0]
    answer, csrf = await sign_in(client, "/registrar", f"registrar.{clinic}")
    assert answer.status_code == 303
    card = await client.get(f"/registrar/patients/{patient['id']}")
    assert 'action="/registrar/walk-ins"' in card.text
    added = await client.post(
        "/registrar/walk-ins",
        data={"csrf": csrf, "patient_id": str(patient["id"]), "complaint": "болит ухо",
              "urgent": "yes"},
        follow_redirects=False,
    )  # fmt: skip
    assert added.status_code == 303
    queue = await client.get("/registrar/walk-ins")
    assert "болит ухо" in queue.text and patient["family_name"] in queue.text
    assert re.search(r'id="waiting-count">1<', queue.text)
    twice = await client.post(
        "/registrar/walk-ins",
        data={"csrf": csrf, "patient_id": str(patient["id"]), "complaint": "снова"},
    )
    assert twice.status_code == 409 and "уже в очереди" in twice.text
    empty = await client.post(
        "/registrar/walk-ins", data={"csrf": csrf, "patient_id": str(patient["id"])}
    )
    assert empty.status_code == 400

    answer, csrf = await sign_in(client, "/doctor", f"doctor.{place['doctor']}")
    assert answer.status_code == 303
    mine = await client.get("/doctor/walk-ins")
    assert "Вызвать следующего" in mine.text and "болит ухо" in mine.text
    called = await client.post("/doctor/walk-ins/call", data={"csrf": csrf}, follow_redirects=False)
    assert called.status_code == 303
    entry = (
        await fetch(city, "SELECT id, state FROM walk_ins WHERE patient_id = $1", patient["id"])
    )[0]
    assert entry["state"] == "called"
    shown = await client.get(called.headers["location"])
    assert "Пациент вызван" in shown.text
    opened = await client.post(
        f"/doctor/walk-ins/{entry['id']}/visit", data={"csrf": csrf}, follow_redirects=False
    )
    assert opened.status_code == 303
    visit_path = opened.headers["location"]
    assert re.fullmatch(r"/doctor/encounters/\d+", visit_path)
    again = await client.post(
        f"/doctor/walk-ins/{entry['id']}/visit", data={"csrf": csrf}, follow_redirects=False
    )
    assert again.headers["location"] == visit_path, "the same visit"
    visit = await client.get(visit_path)
    assert visit.status_code == 200, visit.text
    encounter = int(visit_path.rsplit("/", 1)[1])
    signed = await client.post(
        f"/doctor/visits/{encounter}/sign",
        data={"csrf": csrf, "complaints": "боль в ухе", "conclusion": "Наружный отит",
              "dx-0-code": "H60.9", "dx-0-rank": "primary", "dx-0-course": "acute",
              "dx-0-verification": "confirmed"},
        follow_redirects=False,
    )  # fmt: skip
    assert signed.status_code == 303, signed.text
    assert signed.headers["location"] == visit_path + "?done=signed"
    assert "Приём подписан" in (await client.get(signed.headers["location"])).text
    state = await fetch(city, "SELECT state, encounter_id FROM walk_ins WHERE id = $1", entry["id"])
    assert (state[0]["state"], state[0]["encounter_id"]) == ("seen", encounter)


async def test_a_patient_who_went_away_is_marked_and_another_clinics_entry_is_not_found(
    client, city, place
):
    clinic, patient = place["clinic"], place["people"][1]
    _, csrf = await sign_in(client, "/registrar", f"registrar.{clinic}")
    await client.post(
        "/registrar/walk-ins",
        data={"csrf": csrf, "patient_id": str(patient["id"]), "complaint": "давление"},
    )
    entry = (
        await fetch(
            city,
            "SELECT id FROM walk_ins WHERE patient_id = $1 AND state = 'waiting'",
            patient["id"],
        )
    )[0]["id"]
    _, other_csrf = await sign_in(client, "/registrar", f"registrar.{place['other']}")
    foreign = await client.post(f"/registrar/walk-ins/{entry}/left", data={"csrf": other_csrf})
    assert foreign.status_code == 404 and foreign.headers["content-type"].startswith("text/html")
    assert patient["family_name"] not in foreign.text
    _, csrf = await sign_in(client, "/registrar", f"registrar.{clinic}")
    gone = await client.post(
        f"/registrar/walk-ins/{entry}/left", data={"csrf": csrf}, follow_redirects=False
    )
    assert gone.status_code == 303
    queue = await client.get(gone.headers["location"])
    assert re.search(rf'id="walk-in-{entry}" data-state="left"', queue.text)
