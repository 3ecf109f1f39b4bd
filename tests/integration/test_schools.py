"""The schools connected, over real sockets: a guardian's consent per child and school, a
child's illness episode opened and closed by a doctor reaching the school's journal (the
simulator, signed, deduplicated) as "Б" for exactly those days, once, in order, and never
the diagnosis; nothing without a consent or after its withdrawal; a school certificate
reaching the school the guardian named, and its revocation; the school nurse seeing only
her school's children with a PE restriction; every refusal a problem with its code."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import app_client, fetch, guardian_and_child
from test_outbox import eventually

from integrations import repository as integrations_repo
from integrations.model import Partner
from integrations.schools.simulator import SchoolJournal
from integrations.signing import partner_secret

DIAGNOSIS = ("J06.9", "Острая инфекция верхних дыхательных путей")


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_schools_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=12, doctors=200, patients=1500)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    async with app_client(city, redis_url) as c:
        c.city = city
        yield c


@pytest.fixture
async def journal(client):
    """A school journal simulator, a partner of kind school_journal pointing at it (the
    app's worker picks it up), signatures checked with the partner's secret."""
    partner_id = f"journal-{uuid.uuid4().hex[:8]}"
    secret = partner_secret(bearer.TEST_SECRET, partner_id, 1)
    sim = SchoolJournal(secret=secret)
    await sim.start()
    pool = await asyncpg.create_pool(client.city, min_size=1, max_size=2)
    await integrations_repo.save_partner(
        pool,
        Partner(
            id=partner_id,
            kind="school_journal",
            name="школьный журнал",
            transport="http",
            url=sim.url,
            topics=["school.absence", "school.certificate"],
            backoff_ms=20,
            backoff_cap_ms=200,
            timeout_ms=2000,
        ),  # fmt: skip
    )
    sim.partner_id = partner_id  # type: ignore[attr-defined]
    try:
        yield sim
    finally:
        await pool.execute("UPDATE partners SET enabled = false WHERE id = $1", partner_id)
        await pool.close()
        await sim.stop()


def today() -> date:
    return datetime.now(UTC).astimezone(ZoneInfo("Europe/Moscow")).date()


_offsets = iter(range(0, 400, 3))


async def family(client):
    """A guardian, their child (under 16) and a paediatrician of the child's clinic with a
    home visit of the child open (the doctor's headers, the encounter)."""
    while True:
        guardian, child = await guardian_and_child(client.city, next(_offsets))
        rows = await fetch(
            client.city,
            "SELECT d.id, d.clinic_id FROM doctors d JOIN specialties s ON s.id = d.specialty_id"
            " WHERE s.code = 'paediatrician' AND d.clinic_id = $1 AND d.active"
            " ORDER BY d.id LIMIT 1",
            child["attached_clinic_id"],
        )
        if rows:
            break
    doctor = bearer.doctor(rows[0]["id"], rows[0]["clinic_id"])
    opened = await client.post(
        "/api/v1/encounters", json={"patient_id": child["id"], "kind": "home"}, headers=doctor
    )
    assert opened.status_code == 201, opened.text
    return guardian, child, doctor, opened.json()["id"]


async def sign_with_diagnosis(client, doctor, encounter: int) -> None:
    signed = await client.post(
        f"/api/v1/encounters/{encounter}/sign",
        json={
            "protocol": {
                "complaints": "кашель, насморк", "history": "болеет второй день",
                "examination": "зев гиперемирован", "conclusion": "ОРВИ",
                "recommendations": "домашний режим",
            },
            "diagnoses": [{"code": DIAGNOSIS[0], "rank": "primary"}],
        },
        headers=doctor,
    )  # fmt: skip
    assert signed.status_code in (200, 201), signed.text


async def consent(client, guardian, child, school: int, **what: bool):
    answer = await client.post(
        f"/api/v1/patients/{child['id']}/school-consents",
        json={"school_id": school, **what},
        headers=bearer.patient(guardian["id"]),
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


def of_child(sim: SchoolJournal, child) -> list:
    return [m for m in sim.store.snapshot() if m.order_key == str(child["id"])]


async def test_illness_days_reach_the_consented_school_once_in_order_without_diagnosis(
    client, journal
):
    guardian, child, doctor, encounter = await family(client)
    await consent(client, guardian, child, 1, absences=True, certificates=True)
    await consent(client, guardian, child, 2, certificates=True)  # no absences for school 2
    await sign_with_diagnosis(client, doctor, encounter)
    first, last = today() - timedelta(days=3), today() - timedelta(days=1)
    opened = await client.post(
        f"/api/v1/encounters/{encounter}/illness-episodes",
        json={"starts_on": first.isoformat()},
        headers=doctor,
    )
    assert opened.status_code == 201, opened.text
    episode = opened.json()
    assert episode["status"] == "open" and "diagnos" not in json.dumps(episode)
    await eventually(lambda: len(of_child(journal, child)) == 1, 15, "the opening")
    closed = await client.post(
        f"/api/v1/patients/{child['id']}/illness-episodes/{episode['id']}/close",
        json={"ends_on": last.isoformat()},
        headers=doctor,
    )
    assert closed.status_code == 200, closed.text
    await eventually(lambda: len(of_child(journal, child)) == 2, 15, "the closing")
    got = of_child(journal, child)
    assert [m.kind for m in got] == ["absence.opened", "absence.closed"]
    assert all(json.loads(m.body)["school"]["id"] == 1 for m in got)  # school 2: none
    assert journal.store.stats["refused"] == 0 and journal.store.stats["duplicates"] == 0
    days = journal.journal()[f"1:{child['id']}"]["ill_days"]
    assert days == [(first + timedelta(days=n)).isoformat() for n in range(3)]
    for m in got:  # the school learns the days, the child's identity, never the diagnosis
        assert DIAGNOSIS[0] not in m.body and DIAGNOSIS[0].replace(".", "") not in m.body
        assert DIAGNOSIS[1].lower() not in m.body.lower() and "ОРВИ" not in m.body
        body = json.loads(m.body)
        assert set(body) == {"type", "format", "school", "pupil", "absence", "sent_for"}
        assert body["pupil"]["id"] == str(child["id"])
        assert body["pupil"]["birth_date"] == child["birth_date"].isoformat()
        assert body["absence"]["mark"] == "Б" and body["absence"]["reason"] == "illness"
    # the journal's page shows the marks
    page = await _get(journal, "/journal")
    assert page.count(">Б<") == 3 and child["family_name"] in page


async def _get(sim: SchoolJournal, path: str) -> str:
    import httpx

    async with httpx.AsyncClient() as http:
        return (await http.get(f"http://{sim.host}:{sim.port}{path}")).text


async def test_no_consent_or_a_withdrawn_one_sends_nothing(client, journal):
    guardian, child, doctor, encounter = await family(client)
    given = await consent(client, guardian, child, 3, absences=True)
    withdrawn = await client.post(
        f"/api/v1/patients/{child['id']}/school-consents/{given['id']}/withdraw",
        headers=bearer.patient(guardian["id"]),
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    again = await client.post(
        f"/api/v1/patients/{child['id']}/school-consents/{given['id']}/withdraw",
        headers=bearer.patient(guardian["id"]),
    )
    assert again.status_code == 409 and again.json()["code"] == "already_withdrawn"
    opened = await client.post(
        f"/api/v1/encounters/{encounter}/illness-episodes",
        json={"starts_on": today().isoformat()},
        headers=doctor,
    )
    assert opened.status_code == 201, opened.text
    # another child's episode with a consent: once it has arrived, this one's would have
    other_guardian, other, other_doctor, other_encounter = await family(client)
    await consent(client, other_guardian, other, 3, absences=True)
    assert (
        await client.post(
            f"/api/v1/encounters/{other_encounter}/illness-episodes",
            json={"starts_on": today().isoformat()},
            headers=other_doctor,
        )
    ).status_code == 201
    await eventually(lambda: len(of_child(journal, other)) == 1, 15, "the other child's")
    await eventually(
        lambda: _one(client, "SELECT count(*) = 0 FROM event_outbox WHERE published_at IS NULL"),
        15,
        "every event routed",
    )
    assert of_child(journal, child) == []
    queued = await _one(
        client, "SELECT count(*) FROM deliveries WHERE patient_id = $1", child["id"]
    )
    assert queued == 0


async def _one(client, sql: str, *args):
    return (await fetch(client.city, sql, *args))[0][0]


async def test_a_school_certificate_reaches_the_named_school_and_its_revocation_too(
    client, journal
):
    guardian, child, doctor, encounter = await family(client)
    await consent(client, guardian, child, 4, certificates=True)
    await consent(client, guardian, child, 5, absences=True)  # certificates not ticked
    issued = await client.post(
        "/api/v1/certificates",
        json={"patient_id": child["id"], "kind": "pe_group", "pe_group": "special_a"},
        headers=doctor,
    )
    assert issued.status_code == 201, issued.text
    number = issued.json()["number"]
    await eventually(lambda: len(of_child(journal, child)) == 1, 15, "the certificate")
    (got,) = of_child(journal, child)
    body = json.loads(got.body)
    assert got.kind == "certificate.issued" and body["school"]["id"] == 4
    assert body["certificate"]["number"] == number
    assert body["certificate"]["pe_group"] == "special_a"
    assert body["certificate"]["valid_until"] == issued.json()["valid_until"]
    assert set(body["certificate"]) <= {
        "number", "kind", "form", "status", "valid_from", "valid_until", "pe_group",
        "pool_admitted",
    }  # fmt: skip
    # the nurse of school 4 sees the child; school 5's nurse (no certificates) does not
    nurse = await client.get("/api/v1/school/pe-restrictions", headers=nurse_of(4))
    assert nurse.status_code == 200, nurse.text
    seen = {p["patient_id"]: p for p in nurse.json()}
    assert seen[child["id"]]["pe_group"] == "special_a"
    assert set(seen[child["id"]]) == {
        "patient_id", "name", "birth_date", "pe_group", "certificate", "valid_until",
    }  # fmt: skip
    other = await client.get("/api/v1/school/pe-restrictions", headers=nurse_of(6))
    assert child["id"] not in {p["patient_id"] for p in other.json()}
    # the child's access log says the nurse looked
    log = await client.get(
        "/api/v1/me/access-log",
        params={"patient_id": child["id"]},
        headers=bearer.patient(guardian["id"]),
    )
    assert any(
        e["resource"] == "pe_restrictions" and e["actor_role"] == "school_nurse" for e in log.json()
    )
    revoked = await client.post(
        f"/api/v1/certificates/{number}/revoke",
        json={"reason": "выдана по ошибке"},
        headers=doctor,
    )
    assert revoked.status_code in (200, 201), revoked.text
    await eventually(lambda: len(of_child(journal, child)) == 2, 15, "the revocation")
    last = json.loads(of_child(journal, child)[1].body)
    assert (
        last["certificate"]["status"] == "revoked"
        and "выдана" not in of_child(journal, child)[1].body
    )
    entry = journal.journal()[f"4:{child['id']}"]
    assert [c["status"] for c in entry["certificates"]] == ["revoked"]
    after = await client.get("/api/v1/school/pe-restrictions", headers=nurse_of(4))
    assert child["id"] not in {p["patient_id"] for p in after.json()}


def nurse_of(school: int) -> dict[str, str]:
    return bearer.bearer("school_nurse", 700_000 + school, org=school)


async def test_refusals_are_problems_with_codes(client):
    guardian, child, doctor, encounter = await family(client)
    stranger = bearer.patient(guardian["id"] + 1 if guardian["id"] + 1 != child["id"] else 1)
    url = f"/api/v1/patients/{child['id']}/school-consents"
    for headers, body, status, code in (
        (bearer.patient(guardian["id"]), {"school_id": 1}, 422, "nothing_consented"),
        (bearer.patient(guardian["id"]), {"school_id": 10**9, "absences": True}, 422,
         "unknown_school"),
        (bearer.patient(guardian["id"]), {"school_id": 1, "absence": True}, 400, None),
        (stranger, {"school_id": 1, "absences": True}, 404, "not_found"),
    ):  # fmt: skip
        answer = await client.post(url, json=body, headers=headers)
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        if code:
            assert answer.json()["code"] == code
    assert (await client.get(url, headers=stranger)).status_code == 404
    episodes = f"/api/v1/encounters/{encounter}/illness-episodes"
    for starts_on, code in (
        (today() + timedelta(days=1), "starts_in_future"),
        (today() - timedelta(days=60), "starts_too_early"),
    ):
        answer = await client.post(
            episodes, json={"starts_on": starts_on.isoformat()}, headers=doctor
        )
        assert answer.status_code == 422 and answer.json()["code"] == code, answer.text
    opened = await client.post(
        episodes, json={"starts_on": (today() - timedelta(days=2)).isoformat()}, headers=doctor
    )
    assert opened.status_code == 201
    twice = await client.post(episodes, json={"starts_on": today().isoformat()}, headers=doctor)
    assert twice.status_code == 409 and twice.json()["code"] == "episode_open"
    close = f"/api/v1/patients/{child['id']}/illness-episodes/{opened.json()['id']}/close"
    for ends_on, code in (
        (today() - timedelta(days=3), "ends_before_start"),
        (today() + timedelta(days=1), "ends_in_future"),
    ):
        answer = await client.post(close, json={"ends_on": ends_on.isoformat()}, headers=doctor)
        assert answer.status_code == 422 and answer.json()["code"] == code, answer.text
    assert (
        await client.post(close, json={"ends_on": today().isoformat()}, headers=doctor)
    ).status_code == 200
    again = await client.post(close, json={"ends_on": today().isoformat()}, headers=doctor)
    assert again.status_code == 409 and again.json()["code"] == "already_closed"
    missing = f"/api/v1/patients/{child['id']}/illness-episodes/{10**12}/close"
    answer = await client.post(missing, json={"ends_on": today().isoformat()}, headers=doctor)
    assert answer.status_code == 404
    # the guardian reads the child's episodes; days only
    listed = await client.get(
        f"/api/v1/patients/{child['id']}/illness-episodes", headers=bearer.patient(guardian["id"])
    )
    assert [e["status"] for e in listed.json()] == ["closed"]


async def test_an_adult_has_no_illness_episode_here(client):
    adult = (
        await fetch(
            client.city,
            "SELECT p.id, p.attached_clinic_id, d.id AS doctor, d.clinic_id FROM patients p"
            " JOIN doctors d ON d.clinic_id = p.attached_clinic_id"
            " WHERE p.birth_date < now() - interval '30 years' AND d.active"
            " ORDER BY p.id LIMIT 1",
        )
    )[0]
    doctor = bearer.doctor(adult["doctor"], adult["clinic_id"])
    opened = await client.post(
        "/api/v1/encounters", json={"patient_id": adult["id"], "kind": "home"}, headers=doctor
    )
    assert opened.status_code == 201, opened.text
    answer = await client.post(
        f"/api/v1/encounters/{opened.json()['id']}/illness-episodes",
        json={"starts_on": today().isoformat()},
        headers=doctor,
    )
    assert answer.status_code == 422 and answer.json()["code"] == "not_a_child"
