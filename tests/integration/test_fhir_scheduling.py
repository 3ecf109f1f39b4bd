"""FHIR R4 scheduling (IHE ITI Scheduling) at /fhir/R4: $find -> $hold -> $book -> the
search shows it booked, on the channel fhir with its audit record; the booking rules'
refusals as OperationOutcomes with the JSON API's codes and statuses; Schedule and Slot;
the CapabilityStatement lists it all. Everything emitted is valid R4B."""

from __future__ import annotations

import bearer
import msgspec
import pytest
from citydb import build_city_database, drop_database, worker_id
from fhir.resources.R4B import get_fhir_model_class
from signin import adults, app_client, fetch, key

from imias.booking import ENTITLED_BY_REFERRAL, search

FHIR = "/fhir/R4"
FHIR_JSON = "application/fhir+json"


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_fhir_sched_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=8, doctors=120, patients=800)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture
async def client(city, redis_url):
    # An app per test: its engine loads what the tests before booked (a module's app
    # would keep its first engine, which no stream reaches between the tests' loops).
    async with app_client(city, redis_url) as c:
        c.city = city
        yield c


def valid(body: dict) -> dict:
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    for entry in body.get("entry", []):
        get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(entry["resource"])
    return body


def fhir_body(answer, status: int = 200) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(FHIR_JSON), answer.headers
    assert b":null" not in answer.content
    return valid(answer.json())


def outcome_code(answer, status: int) -> str:
    body = fhir_body(answer, status)
    assert body["resourceType"] == "OperationOutcome"
    coding = body["issue"][0]["details"]["coding"][0]
    assert coding["system"] == "urn:imias:problem"
    return str(coding["code"])


def parameters(*params: dict) -> dict:
    return {"resourceType": "Parameters", "parameter": list(params)}


def appt_param(appointment: dict) -> dict:
    return {"name": "appt-resource", "resource": appointment}


_offset = iter(range(20, 400, 3))


async def person(client) -> dict:
    return dict((await adults(client.city, 1, offset=next(_offset)))[0])


async def test_find_hold_book_and_search(client):
    p = await person(client)
    me = bearer.patient(p["id"])
    found = fhir_body(
        await client.post(
            f"{FHIR}/Appointment/$find",
            json=parameters(
                {"name": "specialty", "valueCoding": {"code": "ophthalmologist"}},
                {"name": "_count", "valueInteger": 5},
            ),
            headers=me,
        )
    )
    assert found["type"] == "searchset" and 1 <= len(found["entry"]) <= 5
    proposals = [e["resource"] for e in found["entry"]]
    assert all(a["status"] == "proposed" for a in proposals)
    assert all(a["participant"][0]["actor"]["reference"] == f"Patient/{p['id']}" for a in proposals)
    starts = [a["start"] for a in proposals]
    assert starts == sorted(starts)  # earliest first
    # the same slots as the JSON API's search (the engine's, same window)
    api = (await client.get("/api/v1/slots", params={"specialty": "ophthalmologist"})).json()
    assert proposals[0]["start"].replace("Z", "") in {
        s["starts_at"].replace("Z", "").replace("+00:00", "") for s in api
    }
    chosen = proposals[0]
    held = fhir_body(
        await client.post(
            f"{FHIR}/Appointment/$hold", json=parameters(appt_param(chosen)), headers=me
        )
    )
    hold = held["entry"][0]["resource"]
    assert hold["status"] == "pending" and hold["start"] == chosen["start"]
    token = next(i["value"] for i in hold["identifier"] if i["system"] == "urn:imias:hold-token")
    expiry = {e["url"].rsplit("/", 1)[1]: e for e in hold["extension"]}
    assert expiry["hold-expires"]["valueDateTime"] > chosen["start"][:0]
    row = (
        await fetch(
            client.city, "SELECT status, channel FROM appointments WHERE id = $1", int(hold["id"])
        )
    )[0]
    assert (row["status"], row["channel"]) == ("held", "fhir")
    booked = fhir_body(
        await client.post(
            f"{FHIR}/Appointment/$book", json=parameters(appt_param(hold)), headers=me
        )
    )
    appointment = booked["entry"][0]["resource"]
    assert appointment["status"] == "booked" and appointment["id"] == hold["id"]
    assert token  # the hold's token was what $book confirmed
    row = (
        await fetch(
            client.city, "SELECT status, channel FROM appointments WHERE id = $1", int(hold["id"])
        )
    )[0]
    assert (row["status"], row["channel"]) == ("booked", "fhir")
    audited = await fetch(
        client.city,
        "SELECT action FROM audit_log WHERE patient_id = $1 AND resource = 'appointment'"
        " ORDER BY id",
        p["id"],
    )
    assert [a["action"] for a in audited][:2] == ["hold", "confirm"]
    # ITI-118: the search shows it booked; a day filter and a status filter
    day = appointment["start"][:10]
    listed = fhir_body(
        await client.get(
            f"{FHIR}/Appointment",
            params={"patient": f"Patient/{p['id']}", "date": day, "status": "booked"},
            headers=me,
        )
    )
    assert [e["resource"]["id"] for e in listed["entry"]] == [appointment["id"]]
    none = fhir_body(
        await client.get(f"{FHIR}/Appointment", params={"status": "cancelled"}, headers=me)
    )
    assert none["entry"] == [] if "entry" in none else True
    read = fhir_body(await client.get(f"{FHIR}/Appointment/{appointment['id']}", headers=me))
    assert read["status"] == "booked"
    # the JSON API sees the same booking, on the fhir channel
    mine = (await client.get(f"/api/v1/patients/{p['id']}/appointments", headers=me)).json()
    assert [(a["id"], a["channel"]) for a in mine] == [(int(appointment["id"]), "fhir")]
    # another patient's appointment answers as a missing one
    other = bearer.patient((await person(client))["id"])
    assert (
        outcome_code(
            await client.get(f"{FHIR}/Appointment/{appointment['id']}", headers=other), 404
        )
        == "not_found"
    )


async def test_book_directly_and_refusals_match_the_json_api(client):
    p = await person(client)
    me = bearer.patient(p["id"])
    # a referral-only specialty without a referral: the rule's refusal, as the JSON API's
    engine = client.app_state.engine
    first, last = search.window(engine, None, None)
    kept = search.earliest(
        engine, 1, specialty_id=engine.directory.by_code["cardiologist"].id, clinic_ids=None,
        first=first, last=last, channel=1, entitled=ENTITLED_BY_REFERRAL,
    )  # fmt: skip
    slot = msgspec.to_builtins(kept[0])
    api = await client.post(
        "/api/v1/appointments",
        json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]},
        headers=me | key(),
    )
    appointment = {
        "resourceType": "Appointment",
        "status": "proposed",
        "start": slot["starts_at"],
        "participant": [
            {
                "actor": {"reference": f"Practitioner/{slot['clinic_id']}-{slot['doctor_id']}"},
                "status": "needs-action",
            }
        ],
    }
    fhir = await client.post(
        f"{FHIR}/Appointment/$book", json=parameters(appt_param(appointment)), headers=me
    )
    assert api.status_code == 403 and api.json()["code"] == "referral_required"
    assert outcome_code(fhir, 403) == "referral_required"
    # $find offers nothing of a referral-only specialty's kept time without a referral,
    # and what it offers is still refused by the rule: never booked
    # booking directly with a self-referral specialty works, channel fhir
    free = (
        await client.get("/api/v1/slots", params={"specialty": "ophthalmologist", "limit": 20})
    ).json()[-1]
    appointment["start"] = free["starts_at"]
    appointment["participant"][0]["actor"]["reference"] = (
        f"Practitioner/{free['clinic_id']}-{free['doctor_id']}"
    )
    booked = fhir_body(
        await client.post(
            f"{FHIR}/Appointment/$book", json=parameters(appt_param(appointment)), headers=me
        )
    )
    assert booked["entry"][0]["resource"]["status"] == "booked"
    # the same slot again (another patient): slot_taken, 409, like the JSON API
    q = bearer.patient((await person(client))["id"])
    assert (
        outcome_code(
            await client.post(
                f"{FHIR}/Appointment/$book", json=parameters(appt_param(appointment)), headers=q
            ),
            409,
        )
        == "slot_taken"
    )
    # a second ophthalmologist for the same patient: duplicate_appointment
    again = (
        await client.get("/api/v1/slots", params={"specialty": "ophthalmologist", "limit": 20})
    ).json()[0]
    appointment["start"] = again["starts_at"]
    appointment["participant"][0]["actor"]["reference"] = (
        f"Practitioner/{again['clinic_id']}-{again['doctor_id']}"
    )
    assert (
        outcome_code(
            await client.post(
                f"{FHIR}/Appointment/$book", json=parameters(appt_param(appointment)), headers=me
            ),
            409,
        )
        == "duplicate_appointment"
    )
    # bad input: 400 OperationOutcomes, never a 500
    assert (
        outcome_code(
            await client.post(
                f"{FHIR}/Appointment/$book", json={"resourceType": "Parameters"}, headers=me
            ),
            400,
        )
        == "appointment_required"
    )
    assert (
        outcome_code(
            await client.post(
                f"{FHIR}/Appointment/$find", json={"resourceType": "Patient"}, headers=me
            ),
            400,
        )
        == "invalid_resource"
    )
    assert (
        outcome_code(
            await client.post(f"{FHIR}/Appointment/$find", json=parameters(), headers=me), 400
        )
        == "specialty_required"
    )
    # another patient named by a patient: 404, as the JSON API
    stranger = (await person(client))["id"]
    assert (
        outcome_code(
            await client.post(
                f"{FHIR}/Appointment/$find",
                json=parameters(
                    {"name": "specialty", "valueCode": "ophthalmologist"},
                    {"name": "patient", "valueReference": {"reference": f"Patient/{stranger}"}},
                ),
                headers=me,
            ),
            404,
        )
        == "not_found"
    )


async def test_a_registrar_finds_and_books_at_her_clinic_only(client):
    p = await person(client)
    any_slot = (await client.get("/api/v1/slots", params={"specialty": "ophthalmologist"})).json()[
        0
    ]
    desk = bearer.registrar(any_slot["clinic_id"])
    found = fhir_body(
        await client.post(
            f"{FHIR}/Appointment/$find",
            json=parameters(
                {"name": "specialty", "valueCode": "ophthalmologist"},
                {"name": "patient", "valueReference": {"reference": f"Patient/{p['id']}"}},
            ),
            headers=desk,
        )
    )
    proposals = [e["resource"] for e in found.get("entry", [])]
    assert proposals and all(
        a["participant"][2]["actor"]["reference"] == f"Organization/{any_slot['clinic_id']}"
        for a in proposals
    )
    booked = fhir_body(
        await client.post(
            f"{FHIR}/Appointment/$book",
            json=parameters(
                appt_param(proposals[0]),
                {"name": "patient", "valueReference": {"reference": f"Patient/{p['id']}"}},
            ),
            headers=desk,
        )
    )
    assert booked["entry"][0]["resource"]["status"] == "booked"


async def test_schedule_slot_and_capabilities(client):
    slot = (await client.get("/api/v1/slots", params={"specialty": "ophthalmologist"})).json()[0]
    key_ = f"{slot['clinic_id']}-{slot['doctor_id']}"
    schedules = fhir_body(
        await client.get(f"{FHIR}/Schedule", params={"actor": f"Practitioner/{key_}"})
    )
    assert [e["resource"]["id"] for e in schedules["entry"]] == [key_]
    fhir_body(await client.get(f"{FHIR}/Schedule/{key_}"))
    slots = fhir_body(
        await client.get(
            f"{FHIR}/Slot",
            params={
                "schedule": f"Schedule/{key_}",
                "status": "free",
                "start": "ge" + slot["starts_at"][:10],
            },
        )
    )
    free = [e["resource"] for e in slots["entry"]]
    assert free and all(
        s["status"] == "free" and s["schedule"]["reference"] == f"Schedule/{key_}" for s in free
    )
    r = await client.get(f"{FHIR}/Slot/{free[0]['id']}")
    if r.status_code != 200:
        print("FREE", free[:3])
        print("TODAY", client.app_state.engine.today(), "SLOT", slot)
    assert fhir_body(r)["start"] == free[0]["start"]
    assert outcome_code(await client.get(f"{FHIR}/Slot/1-2-3"), 404) == "not_found"
    assert (
        outcome_code(
            await client.get(f"{FHIR}/Slot", params={"status": "busy", "schedule": key_}), 400
        )
        == "invalid_search"
    )
    capabilities = fhir_body(await client.get(f"{FHIR}/metadata"))
    types = {r["type"]: r for r in capabilities["rest"][0]["resource"]}
    assert {"Appointment", "Schedule", "Slot"} <= set(types)
    assert [o["name"] for o in types["Appointment"]["operation"]] == ["find", "hold", "book"]
