"""The medical record over the JSON API: a doctor opens the visit of her appointment,
saves a draft, signs protocol, diagnoses and vitals in one go, amends with a reason
(the earlier version stays readable); the patient reads it; bad input is a 4xx with a
code and writes nothing; restricted diagnoses are masked for other specialties."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import adults, app_client, book_specialty, fetch


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_records_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    async with app_client(city, redis_url) as c:
        c.city = city
        yield c


_offset = iter(range(0, 1000, 3))


async def booked(
    client, specialty: str = "ophthalmologist", person: dict | None = None
) -> tuple[dict, dict]:
    """A fresh adult (or ``person``) booked with a doctor of ``specialty``: (patient,
    appointment)."""
    person = person or dict((await adults(client.city, 1, offset=next(_offset)))[0])
    return person, await book_specialty(client, person, specialty)


def doctor_of(appointment: dict) -> dict[str, str]:
    return bearer.doctor(appointment["doctor_id"], appointment["clinic_id"])


async def open_visit(client, appointment: dict) -> dict:
    answer = await client.post(
        "/api/v1/encounters",
        json={"appointment_id": appointment["id"]},
        headers=doctor_of(appointment),
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


SIGNOFF = {
    "protocol": {
        "complaints": "Снижение зрения вдаль",
        "history": "Около года",
        "examination": "Visus OD 0.5 OS 0.6",
        "conclusion": "Миопия слабой степени",
        "recommendations": "Очки для дали",
    },
    "diagnoses": [
        {"code": "H52.1", "rank": "primary", "course": "chronic"},
        {"code": "I10", "rank": "secondary", "course": "chronic", "verification": "provisional"},
    ],
    "vitals": [
        {"code": "8480-6", "value": 152},
        {"code": "8462-4", "value": 95, "unit": "mm[Hg]"},
        {"code": "15074-8", "value": 5.4, "low": 3.3, "high": 5.5},
    ],
}


async def test_visit_from_appointment_to_signed_protocol_read_by_the_patient(client):
    person, appointment = await booked(client)
    doctor = doctor_of(appointment)
    visit = await open_visit(client, appointment)
    assert visit["status"] == "in-progress" and visit["patient_id"] == person["id"]
    # Opening again gives the same encounter, not a second one.
    assert (await open_visit(client, appointment))["id"] == visit["id"]

    draft = {"protocol": {"complaints": "Снижение зр"}, "vitals": {"8480-6": "15"}}
    saved = await client.put(f"/api/v1/encounters/{visit['id']}/draft", json=draft, headers=doctor)
    assert saved.status_code == 200, saved.text
    again = (await client.get(f"/api/v1/encounters/{visit['id']}", headers=doctor)).json()
    assert again["draft"]["protocol"]["complaints"] == "Снижение зр"
    assert again["draft"]["vitals"] == {"8480-6": "15"}

    signed = await client.post(
        f"/api/v1/encounters/{visit['id']}/sign", json=SIGNOFF, headers=doctor
    )
    assert signed.status_code == 200, signed.text
    body = signed.json()
    assert body["status"] == "finished" and body["version"] == 1 and body["draft"] is None
    assert [d["code"] for d in body["diagnoses"]] == ["H52.1", "I10"]
    systolic = next(v for v in body["vitals"] if v["code"] == "8480-6")
    assert systolic["interpretation"] == "H" and systolic["unit"] == "mm[Hg]"
    glucose = next(v for v in body["vitals"] if v["code"] == "15074-8")
    assert (glucose["low"], glucose["high"], glucose["interpretation"]) == (3.3, 5.5, "N")

    me = bearer.patient(person["id"])
    card = (await client.get(f"/api/v1/patients/{person['id']}/record", headers=me)).json()
    assert {p["code"] for p in card["problems"]} == {"H52.1", "I10"}
    assert card["visits"][0]["id"] == visit["id"]
    assert any("H52.1" in d for d in card["visits"][0]["diagnoses"])
    assert {t["code"] for t in card["results"]} >= {"8480-6", "8462-4", "15074-8"}
    mine = (await client.get(f"/api/v1/encounters/{visit['id']}", headers=me)).json()
    assert mine["protocol"]["conclusion"] == "Миопия слабой степени"
    assert mine["draft"] is None

    # The patient's access log shows the doctor's writes and reads.
    log = (await client.get("/api/v1/me/access-log", headers=me)).json()
    actions = {(e["action"], e["resource"]) for e in log}
    assert ("sign", "encounter") in actions, actions


async def test_a_signed_visit_is_amended_with_a_reason_and_the_first_version_stays(client):
    _, appointment = await booked(client)
    doctor = doctor_of(appointment)
    visit = await open_visit(client, appointment)
    url = f"/api/v1/encounters/{visit['id']}"
    assert (await client.post(f"{url}/sign", json=SIGNOFF, headers=doctor)).status_code == 200

    # A write to a signed visit is refused: its draft and a second signature.
    draft = await client.put(f"{url}/draft", json={}, headers=doctor)
    assert (draft.status_code, draft.json()["code"]) == (409, "encounter_signed")
    twice = await client.post(f"{url}/sign", json=SIGNOFF, headers=doctor)
    assert (twice.status_code, twice.json()["code"]) == (409, "encounter_signed")
    # An amendment needs its reason.
    no_reason = await client.post(
        f"{url}/amendments", json={"protocol": SIGNOFF["protocol"]}, headers=doctor
    )
    assert no_reason.status_code == 400, no_reason.text

    amended = await client.post(
        f"{url}/amendments",
        json={
            "reason": "Уточнён диагноз после осмотра глазного дна",
            "protocol": {**SIGNOFF["protocol"], "conclusion": "Миопия средней степени"},
            "diagnoses": [{"code": "H52.1", "rank": "primary", "course": "chronic"}],
        },
        headers=doctor,
    )
    assert amended.status_code == 200, amended.text
    now = amended.json()
    assert now["version"] == 2 and now["amended_reason"].startswith("Уточнён")
    assert [d["code"] for d in now["diagnoses"]] == ["H52.1"]  # I10 marked entered-in-error

    versions = (await client.get(f"{url}/versions", headers=doctor)).json()
    assert [v["version"] for v in versions] == [2, 1]
    first = (await client.get(f"{url}/versions/1", headers=doctor)).json()
    assert first["protocol"]["conclusion"] == "Миопия слабой степени"
    assert {d["code"] for d in first["diagnoses"]} == {"H52.1", "I10"}
    rows = await fetch(
        client.city,
        "SELECT verification_status FROM conditions WHERE encounter_id = $1 AND code = 'I10'",
        visit["id"],
    )
    assert [r["verification_status"] for r in rows] == ["entered-in-error"]  # kept, marked


BAD_SIGNOFFS = [
    ({"diagnoses": [{"code": "X99.99"}]}, 422, "unknown_code"),
    ({"vitals": [{"code": "0000-0", "value": 1}]}, 422, "unknown_code"),
    ({"vitals": [{"code": "8480-6", "value": 120, "unit": "kPa"}]}, 422, "unit_mismatch"),
    ({"vitals": [{"code": "8480-6", "value": 900}]}, 422, "implausible_value"),
    (
        {"vitals": [{"code": "8310-5", "value": 36.6, "effective_at": "2199-01-01T00:00:00Z"}]},
        422,
        "date_in_future",
    ),
    ({"diagnoses": [{"code": "I10", "onset": "2199-01-01"}]}, 422, "date_in_future"),
    (
        {"diagnoses": [{"code": "I10", "rank": "primary"}, {"code": "J06.9", "rank": "primary"}]},
        422,
        "two_primary_diagnoses",
    ),
    ({"protocol": {"complaints": "x", "unknown": 1}}, 400, None),
    ({"protocol": {"conclusion": "  "}}, 422, "empty_protocol"),
]


@pytest.mark.parametrize(("change", "status", "code"), BAD_SIGNOFFS)
async def test_bad_input_is_refused_with_a_code_and_nothing_is_written(
    client, change, status, code
):
    _, appointment = await booked(client)
    visit = await open_visit(client, appointment)
    body = {"protocol": {"complaints": "ok"}, **change}
    answer = await client.post(
        f"/api/v1/encounters/{visit['id']}/sign", json=body, headers=doctor_of(appointment)
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if code:
        assert answer.json()["code"] == code
    rows = await fetch(
        client.city,
        "SELECT status, (SELECT count(*) FROM conditions WHERE encounter_id = e.id) AS c,"
        " (SELECT count(*) FROM observations WHERE encounter_id = e.id) AS o"
        " FROM encounters e WHERE id = $1",
        visit["id"],
    )
    assert (rows[0]["status"], rows[0]["c"], rows[0]["o"]) == ("in-progress", 0, 0)


async def test_another_clinics_encounter_and_another_doctors_visit(client):
    _, appointment = await booked(client)
    visit = await open_visit(client, appointment)
    other_clinic = bearer.doctor(appointment["doctor_id"] + 1, appointment["clinic_id"] + 1)
    answer = await client.post(
        f"/api/v1/encounters/{visit['id']}/sign", json=SIGNOFF, headers=other_clinic
    )
    assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
    colleague = (
        await fetch(
            client.city,
            "SELECT id FROM doctors WHERE clinic_id = $1 AND id <> $2 LIMIT 1",
            appointment["clinic_id"],
            appointment["doctor_id"],
        )
    )[0]["id"]
    answer = await client.post(
        f"/api/v1/encounters/{visit['id']}/sign",
        json=SIGNOFF,
        headers=bearer.doctor(colleague, appointment["clinic_id"]),
    )
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")


async def test_restricted_diagnosis_is_masked_for_other_specialties_and_seen_with_break_glass(
    client,
):
    person, appointment = await booked(client, "surgeon")
    visit = await open_visit(client, appointment)
    signoff = {
        "protocol": {"conclusion": "Сифилис"},
        "diagnoses": [{"code": "A53.9", "rank": "primary"}, {"code": "L20.9"}],
    }
    signed = await client.post(
        f"/api/v1/encounters/{visit['id']}/sign", json=signoff, headers=doctor_of(appointment)
    )
    assert signed.status_code == 200, signed.text
    assert signed.json()["restricted"] is True
    # The patient sees it all.
    own = (
        await client.get(f"/api/v1/encounters/{visit['id']}", headers=bearer.patient(person["id"]))
    ).json()
    assert {d["code"] for d in own["diagnoses"]} == {"A53.9", "L20.9"}
    # An ophthalmologist of the patient's clinic, booked with the patient, sees that a
    # restricted entry exists, not what it is: neither the code nor the protocol.
    _, eye = await booked(client, "ophthalmologist", person)
    eyes = doctor_of(eye)
    seen = (await client.get(f"/api/v1/encounters/{visit['id']}", headers=eyes)).json()
    assert seen["hidden"] is True and seen["protocol"] is None
    masked = [d for d in seen["diagnoses"] if d["hidden"]]
    assert len(masked) == 1 and masked[0]["code"] is None
    assert "A53" not in str(seen) and "Сифилис" not in str(seen)
    # Another dermatologist (the same specialty group) would see it; so does break-glass.
    glass = await client.post(
        "/api/v1/break-glass",
        json={"patient_id": person["id"], "reason": "ambulance asked for the full record"},
        headers=eyes,
    )
    assert glass.status_code == 201, glass.text
    now = (await client.get(f"/api/v1/encounters/{visit['id']}", headers=eyes)).json()
    assert now["hidden"] is False and {d["code"] for d in now["diagnoses"]} == {"A53.9", "L20.9"}
    flagged = await fetch(
        client.city,
        "SELECT count(*) AS n FROM audit_log WHERE patient_id = $1 AND break_glass"
        " AND resource = 'encounter' AND action = 'read'",
        person["id"],
    )
    assert flagged[0]["n"] >= 1


async def test_allergy_immunization_and_entered_in_error(client):
    person, appointment = await booked(client)
    doctor = doctor_of(appointment)
    patient = person["id"]
    allergy = await client.post(
        f"/api/v1/patients/{patient}/allergies",
        json={"substance": "J01C", "reaction": "крапивница", "severity": "moderate"},
        headers=doctor,
    )
    assert allergy.status_code == 201, allergy.text
    assert allergy.json()["substance_system"] == "http://www.whocc.no/atc"
    unknown = await client.post(
        f"/api/v1/patients/{patient}/allergies", json={"substance": "nothing"}, headers=doctor
    )
    assert (unknown.status_code, unknown.json()["code"]) == (422, "unknown_code")
    shot = await client.post(
        f"/api/v1/patients/{patient}/immunizations",
        json={"vaccine": "flu", "dose_number": 1, "occurred_on": "2026-10-01", "lot": "FL-2026-7"},
        headers=doctor,
    )
    assert shot.status_code == 201, shot.text
    tomorrow = (datetime.now(UTC) + timedelta(days=3)).date().isoformat()
    future = await client.post(
        f"/api/v1/patients/{patient}/immunizations",
        json={"vaccine": "flu", "dose_number": 2, "occurred_on": tomorrow},
        headers=doctor,
    )
    assert (future.status_code, future.json()["code"]) == (422, "date_in_future")
    me = bearer.patient(patient)
    assert [
        a["substance"]
        for a in (await client.get(f"/api/v1/patients/{patient}/allergies", headers=me)).json()
    ] == ["J01C"]

    wrong = await client.post(
        f"/api/v1/records/allergies/{allergy.json()['id']}/entered-in-error",
        json={"reason": "записано не тому пациенту"},
        headers=doctor,
    )
    assert wrong.status_code == 200, wrong.text
    assert wrong.json()["version"] == 2
    assert (await client.get(f"/api/v1/patients/{patient}/allergies", headers=me)).json() == []
    again = await client.post(
        f"/api/v1/records/allergies/{allergy.json()['id']}/entered-in-error",
        json={"reason": "ещё раз"},
        headers=doctor,
    )
    assert (again.status_code, again.json()["code"]) == (409, "already_in_error")


async def test_diagnosis_type_ahead_by_code_and_by_words(client):
    by_code = (await client.get("/api/v1/diagnoses", params={"q": "j06"})).json()
    assert by_code[0]["code"] == "J06" and any(d["code"] == "J06.9" for d in by_code)
    by_words = (await client.get("/api/v1/diagnoses", params={"q": "гипертензия"})).json()
    assert any(d["code"] == "I10" for d in by_words)
    english = (
        await client.get(
            "/api/v1/diagnoses", params={"q": "I10"}, headers={"Accept-Language": "en"}
        )
    ).json()
    assert english[0]["title"] == "Essential (primary) hypertension"
    restricted = (await client.get("/api/v1/diagnoses", params={"q": "F32.0"})).json()
    assert restricted[0]["restricted"] is True


async def test_a_cancelled_appointment_has_no_visit_to_open(client):
    """(A no-show has: a patient marked absent who comes late is seen all the same.)"""
    person, appointment = await booked(client)
    cancelled = await client.post(
        f"/api/v1/appointments/{appointment['id']}/cancel",
        json={},
        headers=bearer.patient(person["id"]),
    )
    assert cancelled.status_code == 200, cancelled.text
    answer = await client.post(
        "/api/v1/encounters",
        json={"appointment_id": appointment["id"]},
        headers=doctor_of(appointment),
    )
    assert (answer.status_code, answer.json()["code"]) == (409, "appointment_cancelled")
