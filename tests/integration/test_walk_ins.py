"""The walk-in queue over the API, as a clinic's desk and its duty doctors use it: the
order (urgent first, then the longest waiting), the waits, two doctors calling at
once, the visit a called patient is seen in, and another clinic's staff refused."""

from __future__ import annotations

import asyncio

import asyncpg
import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import adults, app_client, fetch

from imias.booking import WalkIns
from imias.identity import Principal, tokens
from imias.platform import notices
from imias.platform.problems import ProblemError


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_walk_ins_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=8, doctors=160, patients=600)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    async with app_client(city, redis_url) as test_client:
        yield test_client


@pytest.fixture(scope="module")
async def world(city) -> dict:
    """Clinic A with two doctors of self-referral specialties (the duty doctors) and one
    of a referral-only one; clinic B; patients not attached to A."""
    duty = await fetch(
        city,
        """
        SELECT d.clinic_id, array_agg(d.id ORDER BY d.id) AS ids
          FROM doctors d JOIN specialties s ON s.id = d.specialty_id
         WHERE s.self_referral
         GROUP BY d.clinic_id HAVING count(*) >= 2
         ORDER BY d.clinic_id LIMIT 2
        """,
    )
    a, b = duty[0]["clinic_id"], duty[1]["clinic_id"]
    referral_only = await fetch(
        city,
        "SELECT d.id FROM doctors d JOIN specialties s ON s.id = d.specialty_id "
        "WHERE d.clinic_id = $1 AND NOT s.self_referral ORDER BY d.id LIMIT 1",
        a,
    )
    people = [p for p in await adults(city, 40) if p["attached_clinic_id"] != a]
    return {
        "a": a,
        "b": b,
        "doctors": duty[0]["ids"][:2],
        "b_doctor": duty[1]["ids"][0],
        "specialist": referral_only[0]["id"] if referral_only else None,
        "people": people,
    }


def doctor_principal(doctor: int, clinic: int) -> Principal:
    return tokens.claims("doctor", 200_000 + doctor, org=clinic, doctor=doctor)


def desk(clinic: int) -> dict[str, str]:
    return bearer.registrar(clinic)


async def add(client, clinic: int, patient: int, complaint: str = "кашель", urgent=False):
    return await client.post(
        f"/api/v1/clinics/{clinic}/walk-ins",
        json={"patient_id": patient, "complaint": complaint, "urgent": urgent},
        headers=desk(clinic),
    )


async def clear(city, clinic: int) -> None:
    await fetch(
        city,
        "UPDATE walk_ins SET state = 'left', ended_at = now() WHERE clinic_id = $1 "
        "AND state IN ('waiting', 'called')",
        clinic,
    )


async def test_the_queue_calls_urgent_first_then_the_longest_waiting(client, city, world):
    a = world["a"]
    await clear(city, a)
    first, second, urgent = world["people"][:3]
    for patient, is_urgent in ((first, False), (second, False), (urgent, True)):
        added = await add(client, a, patient["id"], urgent=is_urgent)
        assert added.status_code == 201, added.text
        assert added.json()["state"] == "waiting"
    again = await add(client, a, first["id"])
    assert again.status_code == 409 and again.json()["code"] == "already_queued"
    missing = await add(client, a, 999_999_999)
    assert missing.status_code == 404 and missing.json()["code"] == "unknown_patient"
    blank = await add(client, a, world["people"][3]["id"], complaint="   ")
    assert blank.status_code == 400
    queue = await client.get(f"/api/v1/clinics/{a}/walk-ins", headers=desk(a))
    assert queue.status_code == 200
    waiting = [e for e in queue.json()["entries"] if e["state"] == "waiting"]
    assert [e["patient_id"] for e in waiting] == [urgent["id"], first["id"], second["id"]]
    assert all(e["waited_seconds"] >= 0 and e["patient_name"] for e in waiting)
    assert queue.json()["waiting"] == 3
    doctor = bearer.doctor(world["doctors"][0], a)
    called = []
    for _ in range(3):
        response = await client.post(f"/api/v1/clinics/{a}/walk-ins/call", headers=doctor)
        assert response.status_code == 200, response.text
        called.append(response.json())
    assert [c["patient_id"] for c in called] == [urgent["id"], first["id"], second["id"]]
    assert all(c["state"] == "called" and c["called_by_doctor"] == world["doctors"][0]
               for c in called)  # fmt: skip
    assert all(c["waited_seconds"] is not None for c in called)
    empty = await client.post(f"/api/v1/clinics/{a}/walk-ins/call", headers=doctor)
    assert empty.status_code == 409 and empty.json()["code"] == "queue_empty"
    rows = await fetch(
        city,
        "SELECT added_at, called_at FROM walk_ins WHERE clinic_id = $1 AND id = $2",
        a,
        called[0]["id"],
    )
    assert rows[0]["called_at"] >= rows[0]["added_at"]  # the wait the dashboard reads
    kinds = [
        notices.decode(r["payload"])
        for r in await fetch(city, "SELECT payload FROM event_outbox WHERE topic = 'notice'")
    ]
    told = [n for n in kinds if n.kind == "walk_in_called" and n.patient_id == urgent["id"]]
    assert told and told[0].params["clinic_id"] == a


async def test_two_doctors_calling_at_once_never_get_the_same_patient(client, city, world):
    a = world["a"]
    await clear(city, a)
    waiting = world["people"][4:10]
    for patient in waiting:
        assert (await add(client, a, patient["id"])).status_code == 201
    # Each call in a transaction of its own, on a connection of its own, all at once.
    n = len(waiting) + 4
    pool = await asyncpg.create_pool(city, min_size=n, max_size=n)
    walk_ins = WalkIns(pool, client.app_state.engine)
    doctors = [doctor_principal(d, a) for d in world["doctors"]]

    async def call(doctor: Principal) -> object:
        try:
            return await walk_ins.call_next(doctor, a)
        except ProblemError as exc:
            return exc.code

    try:
        answers = await asyncio.gather(*(call(doctors[i % 2]) for i in range(n)))
    finally:
        await pool.close()
    won = [e for e in answers if not isinstance(e, str)]
    refused = [e for e in answers if isinstance(e, str)]
    assert sorted(e.patient_id for e in won) == sorted(p["id"] for p in waiting)
    assert len({e.id for e in won}) == len(waiting)
    assert refused == ["queue_empty"] * 4
    states = await fetch(
        city,
        "SELECT count(*) AS n FROM walk_ins WHERE clinic_id = $1 AND state = 'called' "
        "AND patient_id = ANY($2)",
        a,
        [p["id"] for p in waiting],
    )
    assert states[0]["n"] == len(waiting)


async def test_a_called_patient_is_seen_in_the_doctors_own_visit(client, city, world):
    a = world["a"]
    await clear(city, a)
    patient = world["people"][12]
    mine, colleague = (bearer.doctor(d, a) for d in world["doctors"])
    before = await client.post(
        "/api/v1/encounters", json={"patient_id": patient["id"]}, headers=mine
    )
    assert before.status_code == 403 and before.json()["code"] == "break_glass_required"
    entry = (await add(client, a, patient["id"], complaint="температура 38")).json()
    called = await client.post(f"/api/v1/clinics/{a}/walk-ins/call", headers=mine)
    assert called.json()["id"] == entry["id"]
    visit = await client.post(
        "/api/v1/encounters", json={"patient_id": patient["id"]}, headers=mine
    )
    assert visit.status_code == 201, visit.text
    other = await client.post(
        "/api/v1/encounters", json={"patient_id": patient["id"]}, headers=colleague
    )
    assert other.status_code == 403, "only the doctor who called"
    path = f"/api/v1/clinics/{a}/walk-ins/{entry['id']}"
    assert (await client.post(f"{path}/seen", headers=colleague)).status_code == 403
    assert (await client.post(f"{path}/seen", headers=desk(a))).status_code == 403
    seen = await client.post(f"{path}/seen", headers=mine)
    assert seen.status_code == 200 and seen.json()["state"] == "seen"
    gone = await client.post(f"{path}/left", headers=desk(a))
    assert gone.status_code == 409 and gone.json()["code"] == "not_waiting"
    actions = await fetch(
        city,
        "SELECT action FROM audit_log WHERE resource = 'walk_in' AND resource_id = $1 ORDER BY id",
        str(entry["id"]),
    )
    assert [r["action"] for r in actions] == ["create", "call", "seen"]


async def test_a_waiting_patient_who_went_away_leaves_the_queue(client, city, world):
    a = world["a"]
    await clear(city, a)
    patient = world["people"][14]
    entry = (await add(client, a, patient["id"])).json()
    left = await client.post(f"/api/v1/clinics/{a}/walk-ins/{entry['id']}/left", headers=desk(a))
    assert left.status_code == 200 and left.json()["state"] == "left"
    assert left.json()["waited_seconds"] is None
    doctor = bearer.doctor(world["doctors"][0], a)
    empty = await client.post(f"/api/v1/clinics/{a}/walk-ins/call", headers=doctor)
    assert empty.json()["code"] == "queue_empty"
    assert (await add(client, a, patient["id"])).status_code == 201, "back again: a new entry"


async def test_another_clinics_staff_and_non_duty_doctors_are_refused(client, city, world):
    a, b = world["a"], world["b"]
    await clear(city, a)
    patient = world["people"][16]
    entry = (await add(client, a, patient["id"], complaint="боль в горле")).json()
    other_desk = desk(b)
    for method, path, body in (
        ("GET", f"/api/v1/clinics/{a}/walk-ins", None),
        ("POST", f"/api/v1/clinics/{a}/walk-ins", {"patient_id": patient["id"], "complaint": "x"}),
        ("POST", f"/api/v1/clinics/{a}/walk-ins/{entry['id']}/left", None),
    ):
        refused = await client.request(method, path, json=body, headers=other_desk)
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        assert patient["family_name"] not in refused.text
    under_own = await client.post(
        f"/api/v1/clinics/{b}/walk-ins/{entry['id']}/left", headers=other_desk
    )
    assert under_own.status_code == 404
    b_doctor = bearer.doctor(world["b_doctor"], b)
    assert (
        await client.post(f"/api/v1/clinics/{a}/walk-ins/call", headers=b_doctor)
    ).status_code == 403
    if world["specialist"] is not None:
        specialist = bearer.doctor(world["specialist"], a)
        refused = await client.post(f"/api/v1/clinics/{a}/walk-ins/call", headers=specialist)
        assert refused.status_code == 403 and refused.json()["code"] == "not_duty_doctor"
    head = bearer.bearer("clinic_admin", 300_000 + a, org=a)
    read = await client.get(f"/api/v1/clinics/{a}/walk-ins", headers=head)
    assert read.status_code == 200 and read.json()["waiting"] == 1
    assert (
        await client.post(f"/api/v1/clinics/{a}/walk-ins/call", headers=head)
    ).status_code == 403
    state = await fetch(city, "SELECT state FROM walk_ins WHERE id = $1", entry["id"])
    assert state[0]["state"] == "waiting"
