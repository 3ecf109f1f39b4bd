"""FHIR R4 at /fhir/R4: what it emits is valid FHIR (checked by fhir.resources' R4B
models), a resource written through FHIR reads back as written, an update needs the
current version, searches filter and page by keyset to the end, and FHIR is a front
door: the same access rule, masking and audit as the JSON API."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from fhir.resources.R4B import get_fhir_model_class
from signin import adults, app_client, book_specialty, fetch

FHIR = "/fhir/R4"
FHIR_JSON = "application/fhir+json"
LOINC = "http://loinc.org"
ICD10 = "http://hl7.org/fhir/sid/icd-10"


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_fhir_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    async with app_client(city, redis_url) as c:
        c.city = city
        yield c


def valid(body: dict) -> dict:
    """``body`` as R4B's model of its resourceType accepts it (raises otherwise)."""
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    return body


def fhir_body(answer, status: int = 200) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(FHIR_JSON), answer.headers
    assert b":null" not in answer.content  # absent elements are omitted, never null
    return valid(answer.json())


def problem_of(answer, status: int, code: str) -> dict:
    """The OperationOutcome of an error, with our stable code."""
    body = fhir_body(answer, status)
    assert body["resourceType"] == "OperationOutcome"
    issue = body["issue"][0]
    assert issue["severity"] == "error"
    assert issue["details"]["coding"][0] == {"system": "urn:imias:problem", "code": code}, body
    return issue


_offset = iter(range(0, 1000, 3))


async def booked(client, specialty: str = "ophthalmologist", person=None):
    person = person or dict((await adults(client.city, 1, offset=next(_offset)))[0])
    return person, await book_specialty(client, person, specialty)


def doctor_of(appointment: dict) -> dict[str, str]:
    return bearer.doctor(appointment["doctor_id"], appointment["clinic_id"])


SIGNOFF = {
    "protocol": {
        "complaints": "Снижение зрения вдаль",
        "conclusion": "Миопия слабой степени",
        "recommendations": "Очки для дали",
    },
    "diagnoses": [
        {"code": "H52.1", "rank": "primary", "course": "chronic"},
        {"code": "I10", "rank": "secondary", "course": "chronic"},
    ],
    "vitals": [{"code": "8480-6", "value": 152}, {"code": "8462-4", "value": 95}],
}


async def signed_visit(client, specialty="ophthalmologist", person=None, signoff=SIGNOFF):
    """(patient, appointment, signed encounter of the JSON API)."""
    person, appointment = await booked(client, specialty, person)
    doctor = doctor_of(appointment)
    opened = await client.post(
        "/api/v1/encounters", json={"appointment_id": appointment["id"]}, headers=doctor
    )
    assert opened.status_code == 201, opened.text
    signed = await client.post(
        f"/api/v1/encounters/{opened.json()['id']}/sign", json=signoff, headers=doctor
    )
    assert signed.status_code == 200, signed.text
    return person, appointment, signed.json()


async def post(client, kind: str, body: dict, headers: dict) -> dict:
    answer = await client.post(
        f"{FHIR}/{kind}", content=_json(body), headers=headers | {"Content-Type": FHIR_JSON}
    )
    created = fhir_body(answer, 201)
    assert answer.headers["etag"] == 'W/"1"'
    assert answer.headers["location"].endswith(f"/fhir/R4/{kind}/{created['id']}/_history/1")
    return created


def _json(body: dict) -> bytes:
    import json

    return json.dumps(body).encode()


async def walk(client, url: str, headers: dict, params: dict | None = None) -> list[dict]:
    """Every entry of a search, following the next links to the end."""
    entries: list[dict] = []
    answer = await client.get(url, params=params, headers=headers)
    for _ in range(200):
        bundle = fhir_body(answer)
        assert bundle["type"] == "searchset"
        assert all(e["search"]["mode"] == "match" for e in bundle.get("entry", []))
        entries += bundle.get("entry", [])
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        if "next" not in links:
            return entries
        answer = await client.get(links["next"], headers=headers)
    raise AssertionError("the next links never ended")


# -- tests -----------------------------------------------------------------------------


async def test_the_capability_statement_tells_what_the_server_does(client):
    body = fhir_body(await client.get(f"{FHIR}/metadata"))
    assert body["resourceType"] == "CapabilityStatement" and body["fhirVersion"] == "4.0.1"
    resources = {r["type"]: r for r in body["rest"][0]["resource"]}
    # The record's own, and what prescriptions and scheduling add (read and search only,
    # and scheduling's operations).
    added = {"Medication", "MedicationRequest", "MedicationDispense"}
    added |= {"Appointment", "Schedule", "Slot"}
    assert set(resources) == {
        "Patient", "Practitioner", "Organization", "Encounter", "Condition", "Observation",
        "AllergyIntolerance", "Immunization", "DocumentReference", *added,
    }  # fmt: skip
    for kind, declared in resources.items():
        codes = {i["code"] for i in declared["interaction"]}
        writable = kind in ("Condition", "Observation", "AllergyIntolerance", "Immunization")
        if kind in added:
            assert codes == {"read", "search-type"}, kind
            continue
        assert codes == {"read", "vread", "history-instance", "search-type"} | (
            {"create", "update"} if writable else set()
        ), kind
    assert {p["name"] for p in resources["Observation"]["searchParam"]} == {
        "patient", "date", "code", "category",
    }  # fmt: skip
    # The search parameters it declares are the ones it takes (a patient's own search),
    # and one it does not declare is refused.
    person, _, _ = await signed_visit(client)
    me = bearer.patient(person["id"])
    samples = {
        "patient": str(person["id"]),
        "date": "ge2020-01-01",
        "authoredon": "ge2020-01-01",
        "_id": str(person["id"]),
        "prescription": "1",
        "actor": "Organization/1",
        "schedule": "Schedule/1-1",
        "start": "ge2020-01-01",
    }
    for kind, declared in resources.items():
        for param in declared["searchParam"]:
            value = samples.get(param["name"], "x")
            params = {param["name"]: value}
            if (
                kind not in ("Patient", "Practitioner", "Organization", "Medication")
                and kind not in ("Schedule", "Slot")  # public: no patient
                and param["name"] != "patient"
            ):
                params["patient"] = str(person["id"])
            if kind == "Slot":  # a Slot search names its schedule; free slots only
                params.setdefault("schedule", "Schedule/1-1")
                if param["name"] == "status":
                    params["status"] = "free"
            if kind in ("Practitioner",) and param["name"] == "_id":
                params["_id"] = "1-1"
            answer = await client.get(f"{FHIR}/{kind}", params=params, headers=me)
            assert answer.status_code in (200, 404), (kind, param, answer.text)
    problem_of(
        await client.get(
            f"{FHIR}/Observation", params={"patient": person["id"], "subject": "x"}, headers=me
        ),
        400,
        "unknown_search_parameter",
    )


async def test_reads_of_every_resource_type_are_valid_and_agree_with_the_record(client):
    person, appointment, visit = await signed_visit(client)
    doctor = doctor_of(appointment)
    patient = fhir_body(await client.get(f"{FHIR}/Patient/{person['id']}", headers=doctor))
    assert patient["birthDate"] == person["birth_date"].isoformat()
    assert patient["name"][0]["family"] == person["family_name"]
    assert "null" not in str(patient).lower()

    encounter = fhir_body(await client.get(f"{FHIR}/Encounter/{visit['id']}", headers=doctor))
    assert encounter["status"] == "finished" and encounter["class"]["code"] == "AMB"
    assert encounter["subject"]["reference"] == f"Patient/{person['id']}"
    practitioner_ref = encounter["participant"][0]["individual"]["reference"]
    assert practitioner_ref == (
        f"Practitioner/{appointment['clinic_id']}-{appointment['doctor_id']}"
    )
    practitioner = fhir_body(await client.get(f"{FHIR}/{practitioner_ref}", headers=doctor))
    assert practitioner["resourceType"] == "Practitioner"
    organization = fhir_body(
        await client.get(f"{FHIR}/{encounter['serviceProvider']['reference']}", headers=doctor)
    )
    assert organization["id"] == str(appointment["clinic_id"])

    by_rank = {d["rank"]: d["condition"]["reference"] for d in encounter["diagnosis"]}
    primary = fhir_body(await client.get(f"{FHIR}/{by_rank[1]}", headers=doctor))
    assert primary["code"]["coding"][0] == {
        "system": ICD10,
        "code": "H52.1",
        "display": primary["code"]["coding"][0]["display"],
    }
    assert primary["encounter"]["reference"] == f"Encounter/{visit['id']}"

    systolic = next(v for v in visit["vitals"] if v["code"] == "8480-6")
    observation = fhir_body(
        await client.get(f"{FHIR}/Observation/{systolic['id']}", headers=doctor)
    )
    assert observation["valueQuantity"]["value"] == 152
    assert observation["interpretation"][0]["coding"][0]["code"] == "H"

    document = fhir_body(
        await client.get(f"{FHIR}/DocumentReference/{visit['id']}", headers=doctor)
    )
    text = base64.b64decode(document["content"][0]["attachment"]["data"]).decode()
    assert "Миопия слабой степени" in text and "Очки для дали" in text
    assert document["context"]["encounter"][0]["reference"] == f"Encounter/{visit['id']}"

    # The patient reads the same, and a vread of version 1 and the history agree.
    me = bearer.patient(person["id"])
    own = fhir_body(await client.get(f"{FHIR}/Condition/{primary['id']}", headers=me))
    assert own["code"]["coding"][0]["code"] == "H52.1"
    first = fhir_body(await client.get(f"{FHIR}/Encounter/{visit['id']}/_history/1", headers=me))
    assert first["meta"]["versionId"] == "1" and first["period"] == encounter["period"]
    history = fhir_body(
        await client.get(f"{FHIR}/DocumentReference/{visit['id']}/_history", headers=me)
    )
    assert history["type"] == "history" and history["total"] == 1
    assert history["entry"][0]["resource"]["id"] == str(visit["id"])
    registry = fhir_body(await client.get(f"{FHIR}/Patient/{person['id']}/_history", headers=me))
    assert [e["response"]["etag"] for e in registry["entry"]] == ['W/"1"']

    # Every read is audited for the patient.
    rows = await fetch(
        client.city,
        "SELECT DISTINCT resource FROM audit_log WHERE patient_id = $1 AND action = 'read'",
        person["id"],
    )
    assert {"patient", "encounter", "condition", "observation"} <= {r["resource"] for r in rows}


async def test_resources_created_through_fhir_read_back_as_written(client):
    person, appointment, visit = await signed_visit(client)
    doctor = doctor_of(appointment)
    pid = person["id"]
    condition = {
        "resourceType": "Condition",
        "subject": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": ICD10, "code": "E11.9"}]},
        "category": [
            {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-category",
                         "code": "problem-list-item"}]}
        ],
        "verificationStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": "provisional"}]},
        "onsetDateTime": "2024-05-01",
        "note": [{"text": "HbA1c 7.1"}],
    }  # fmt: skip
    observation = {
        "resourceType": "Observation",
        "status": "final",
        "subject": {"reference": f"Patient/{pid}"},
        "encounter": {"reference": f"Encounter/{visit['id']}"},
        "code": {"coding": [{"system": LOINC, "code": "15074-8"}]},
        "valueQuantity": {"value": 6.2, "unit": "mmol/L"},
        "referenceRange": [{"low": {"value": 3.3}, "high": {"value": 5.5}}],
        "effectiveDateTime": "2026-01-10T09:30:00+03:00",
    }
    allergy = {
        "resourceType": "AllergyIntolerance",
        "patient": {"reference": f"Patient/{pid}"},
        "code": {"coding": [{"system": "http://www.whocc.no/atc", "code": "J01C"}]},
        "criticality": "high",
        "reaction": [{"manifestation": [{"text": "крапивница"}], "severity": "moderate"}],
    }
    immunization = {
        "resourceType": "Immunization",
        "status": "completed",
        "patient": {"reference": f"Patient/{pid}"},
        "vaccineCode": {"coding": [{"system": "urn:imias:vaccine", "code": "flu"}]},
        "occurrenceDateTime": "2025-10-01",
        "lotNumber": "FL-2025-7",
        "protocolApplied": [{"doseNumberPositiveInt": 1}],
    }
    created = {}
    for body in (condition, observation, allergy, immunization):
        kind = body["resourceType"]
        made = await post(client, kind, body, doctor)
        read = fhir_body(await client.get(f"{FHIR}/{kind}/{made['id']}", headers=doctor))
        assert read == made
        vread = fhir_body(
            await client.get(f"{FHIR}/{kind}/{made['id']}/_history/1", headers=doctor)
        )
        assert vread["id"] == made["id"] and vread["meta"]["versionId"] == "1"
        created[kind] = read

    c = created["Condition"]
    assert c["code"]["coding"][0]["code"] == "E11.9"
    assert c["verificationStatus"]["coding"][0]["code"] == "provisional"
    assert c["category"][0]["coding"][0]["code"] == "problem-list-item"
    assert (c["onsetDateTime"], c["note"]) == ("2024-05-01", [{"text": "HbA1c 7.1"}])
    assert c["subject"] == {"reference": f"Patient/{pid}"}
    o = created["Observation"]
    assert o["valueQuantity"]["value"] == 6.2 and o["valueQuantity"]["code"] == "mmol/L"
    assert o["encounter"] == {"reference": f"Encounter/{visit['id']}"}
    assert datetime.fromisoformat(o["effectiveDateTime"]) == datetime.fromisoformat(
        observation["effectiveDateTime"]
    )
    assert (o["referenceRange"][0]["low"]["value"], o["referenceRange"][0]["high"]["value"]) == (
        3.3,
        5.5,
    )
    assert o["interpretation"][0]["coding"][0]["code"] == "H"
    a = created["AllergyIntolerance"]
    assert a["code"]["coding"][0]["code"] == "J01C" and a["criticality"] == "high"
    assert a["reaction"][0]["manifestation"][0]["text"] == "крапивница"
    assert a["reaction"][0]["severity"] == "moderate"
    i = created["Immunization"]
    assert ("urn:imias:vaccine", "flu") in {
        (x["system"], x["code"]) for x in i["vaccineCode"]["coding"]
    }
    assert (i["occurrenceDateTime"], i["lotNumber"]) == ("2025-10-01", "FL-2025-7")
    assert i["protocolApplied"] == [{"doseNumberPositiveInt": 1}]
    # Found by the searches of their own kinds (a day's immunization by that day).
    for kind, params, expected in (
        ("Immunization", {"date": "2025-10-01"}, [i["id"]]),
        ("Immunization", {"date": "gt2025-10-01"}, []),
        ("Immunization", {"date": "le2025-10"}, [i["id"]]),
        ("Immunization", {"vaccine-code": "urn:imias:vaccine|flu"}, [i["id"]]),
        ("AllergyIntolerance", {"code": "J01C", "clinical-status": "active"}, [a["id"]]),
        ("AllergyIntolerance", {"category": "food"}, []),
        ("Condition", {"category": "problem-list-item", "code": "E11.9"}, [c["id"]]),
        ("Condition", {"clinical-status": "resolved"}, []),
    ):
        found = await walk(client, f"{FHIR}/{kind}", doctor, {"patient": pid, **params})
        assert [e["resource"]["id"] for e in found] == expected, (kind, params)

    # The JSON API sees what FHIR wrote.
    allergies = (await client.get(f"/api/v1/patients/{pid}/allergies", headers=doctor)).json()
    assert [x["id"] for x in allergies] == [int(a["id"])]

    # A patient does not write, and bad bodies are refused as OperationOutcomes.
    refused = await client.post(
        f"{FHIR}/Condition", content=_json(condition), headers=bearer.patient(pid)
    )
    problem_of(refused, 403, "forbidden")
    unknown = await client.post(
        f"{FHIR}/Condition",
        content=_json({**condition, "severityScore": 3}),
        headers=doctor | {"Content-Type": FHIR_JSON},
    )
    assert "severityScore" in problem_of(unknown, 400, "invalid_resource")["diagnostics"]
    wrong = await client.post(
        f"{FHIR}/Condition",
        content=_json(observation),
        headers=doctor | {"Content-Type": FHIR_JSON},
    )
    problem_of(wrong, 400, "wrong_resource_type")
    bad_code = await client.post(
        f"{FHIR}/Condition",
        content=_json({**condition, "code": {"coding": [{"system": ICD10, "code": "X99.99"}]}}),
        headers=doctor | {"Content-Type": "application/json"},
    )
    problem_of(bad_code, 422, "unknown_code")


async def test_an_update_needs_the_current_version(client):
    person, appointment, visit = await signed_visit(client)
    doctor = doctor_of(appointment)
    condition_id = next(d["id"] for d in visit["diagnoses"] if d["code"] == "I10")
    url = f"{FHIR}/Condition/{condition_id}"
    current = fhir_body(await client.get(url, headers=doctor))
    resolved = {
        **current,
        "clinicalStatus": {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
            "code": "resolved"}]},
        "abatementDateTime": "2026-01-01",
    }  # fmt: skip
    json_headers = doctor | {"Content-Type": FHIR_JSON}
    missing = await client.put(url, content=_json(resolved), headers=json_headers)
    problem_of(missing, 428, "precondition_required")
    updated = await client.put(
        url, content=_json(resolved), headers=json_headers | {"If-Match": 'W/"1"'}
    )
    body = fhir_body(updated)
    assert updated.headers["etag"] == 'W/"2"' and body["meta"]["versionId"] == "2"
    assert body["clinicalStatus"]["coding"][0]["code"] == "resolved"
    assert body["abatementDateTime"] == "2026-01-01"
    stale = await client.put(
        url, content=_json(resolved), headers=json_headers | {"If-Match": 'W/"1"'}
    )
    problem_of(stale, 412, "version_conflict")
    recoded = {**body, "code": {"coding": [{"system": ICD10, "code": "I11"}]}}
    problem_of(
        await client.put(url, content=_json(recoded), headers=json_headers | {"If-Match": 'W/"2"'}),
        422,
        "unsupported_change",
    )
    # Both versions stay: the history, and version 1 as it was.
    history = fhir_body(await client.get(f"{url}/_history", headers=doctor))
    assert [e["resource"]["meta"]["versionId"] for e in history["entry"]] == ["2", "1"]
    first = fhir_body(await client.get(f"{url}/_history/1", headers=doctor))
    assert first["clinicalStatus"]["coding"][0]["code"] == "active"

    # An observation changes only to entered-in-error.
    obs_id = visit["vitals"][0]["id"]
    obs_url = f"{FHIR}/Observation/{obs_id}"
    obs = fhir_body(await client.get(obs_url, headers=doctor))
    changed = {**obs, "valueQuantity": {**obs["valueQuantity"], "value": 1}}
    problem_of(
        await client.put(
            obs_url, content=_json(changed), headers=json_headers | {"If-Match": 'W/"1"'}
        ),
        422,
        "unsupported_change",
    )
    in_error = await client.put(
        obs_url,
        content=_json({**obs, "status": "entered-in-error"}),
        headers=json_headers | {"If-Match": 'W/"1"'},
    )
    assert fhir_body(in_error)["status"] == "entered-in-error"
    assert in_error.headers["etag"] == 'W/"2"'
    problem_of(
        await client.put(
            obs_url,
            content=_json({**obs, "status": "entered-in-error"}),
            headers=json_headers | {"If-Match": 'W/"1"'},
        ),
        412,
        "version_conflict",
    )


async def test_search_by_code_and_dates_newest_first_paged_to_the_end(client):
    person, appointment, _ = await signed_visit(client)
    doctor = doctor_of(appointment)
    pid = person["id"]
    base = (datetime.now(UTC) - timedelta(days=12)).replace(
        hour=9, minute=0, second=0, microsecond=0
    )
    written: dict[str, datetime] = {}
    for n in range(9):
        at = base + timedelta(days=n)
        made = await post(
            client,
            "Observation",
            {
                "resourceType": "Observation",
                "subject": {"reference": f"Patient/{pid}"},
                "code": {"coding": [{"system": LOINC, "code": "8867-4"}]},
                "valueQuantity": {"value": 60 + n},
                "effectiveDateTime": at.isoformat(),
            },
            doctor,
        )
        written[made["id"]] = at

    params = {
        "patient": f"Patient/{pid}",
        "code": f"{LOINC}|8867-4",
        "_count": "2",
        "_sort": "-date",
    }
    entries = await walk(client, f"{FHIR}/Observation", doctor, params)
    ids = [e["resource"]["id"] for e in entries]
    assert len(ids) == len(set(ids)) == 9 and set(ids) == set(written)
    assert ids == sorted(written, key=lambda i: written[i], reverse=True)  # newest first
    assert all(e["fullUrl"].endswith(f"/Observation/{e['resource']['id']}") for e in entries)

    def days(*ns: int) -> set[str]:
        return {i for i, at in written.items() if (at - base).days in ns}

    def day(n: int) -> str:
        return (base + timedelta(days=n)).astimezone(UTC).date().isoformat()

    cases = [
        ([f"ge{day(3)}", f"lt{day(6)}"], days(3, 4, 5)),
        ([f"eq{day(2)}"], days(2)),
        ([day(2)], days(2)),
        ([f"gt{day(6)}"], days(7, 8)),
        ([f"le{day(1)}"], days(0, 1)),
        ([f"ge{(base + timedelta(days=4)).isoformat()}"], days(4, 5, 6, 7, 8)),
    ]
    for dates, expected in cases:
        found = await walk(
            client,
            f"{FHIR}/Observation",
            doctor,
            [("patient", str(pid)), ("code", "8867-4"), ("_count", "3")]
            + [("date", d) for d in dates],
        )
        assert {e["resource"]["id"] for e in found} == expected, dates

    # The signed visit's vitals are other codes; by category, all of them.
    vitals = await walk(
        client, f"{FHIR}/Observation", doctor, {"patient": pid, "category": "vital-signs"}
    )
    assert set(written) < {e["resource"]["id"] for e in vitals}
    other_system = await walk(
        client, f"{FHIR}/Observation", doctor, {"patient": pid, "code": f"{ICD10}|8867-4"}
    )
    assert other_system == []
    conditions = await walk(
        client, f"{FHIR}/Condition", doctor, {"patient": pid, "code": f"{ICD10}|h52.1"}
    )
    assert [e["resource"]["code"]["coding"][0]["code"] for e in conditions] == ["H52.1"]
    encounters = await walk(client, f"{FHIR}/Encounter", doctor, {"patient": pid})
    assert len(encounters) == 1
    documents = await walk(client, f"{FHIR}/DocumentReference", doctor, {"patient": pid})
    assert [e["resource"]["id"] for e in documents] == [encounters[0]["resource"]["id"]]

    # What the search refuses, it refuses as an OperationOutcome.
    for bad, code in (
        ({"patient": pid, "_count": "0"}, "invalid_search"),
        ({"patient": pid, "_sort": "date"}, "unsupported_sort"),
        ({"patient": pid, "date": "sa2026-01-01"}, "invalid_search"),
        ({"patient": pid, "_cursor": "not-ours"}, "invalid_cursor"),
        ({"code": "8867-4"}, "patient_required"),
    ):
        problem_of(await client.get(f"{FHIR}/Observation", params=bad, headers=doctor), 400, code)


async def test_fhir_is_a_front_door_not_a_back_door(client):
    person, appointment, visit = await signed_visit(client)
    condition_id = visit["diagnoses"][0]["id"]
    stranger, _ = await booked(client)
    other = bearer.patient(stranger["id"])
    # Another patient learns nothing: 404, as if there were no such record.
    for url in (
        f"{FHIR}/Condition/{condition_id}",
        f"{FHIR}/Encounter/{visit['id']}",
        f"{FHIR}/DocumentReference/{visit['id']}",
        f"{FHIR}/Patient/{person['id']}",
        f"{FHIR}/Condition/{condition_id}/_history",
    ):
        problem_of(await client.get(url, headers=other), 404, "not_found")
    problem_of(
        await client.get(f"{FHIR}/Observation", params={"patient": person["id"]}, headers=other),
        404,
        "not_found",
    )
    # A doctor with no tie to the patient is told to break the glass.
    elsewhere = (
        await fetch(
            client.city,
            "SELECT clinic_id, id FROM doctors WHERE clinic_id <> $1"
            " AND clinic_id IS DISTINCT FROM $2 ORDER BY clinic_id, id LIMIT 1",
            appointment["clinic_id"],
            person["attached_clinic_id"],
        )
    )[0]
    stranger_doctor = bearer.doctor(elsewhere["id"], elsewhere["clinic_id"])
    problem_of(
        await client.get(f"{FHIR}/Condition/{condition_id}", headers=stranger_doctor),
        403,
        "break_glass_required",
    )
    problem_of(
        await client.get(
            f"{FHIR}/Condition", params={"patient": person["id"]}, headers=stranger_doctor
        ),
        403,
        "break_glass_required",
    )
    # Without a token: 401, also an OperationOutcome.
    problem_of(await client.get(f"{FHIR}/Condition/{condition_id}"), 401, "unauthenticated")
    problem_of(await client.get(f"{FHIR}/Device/1", headers=other), 404, "unknown_resource_type")
    # The searches are audited like the JSON API's reads.
    rows = await fetch(
        client.city,
        "SELECT count(*) AS n FROM audit_log WHERE patient_id = $1 AND resource LIKE 'fhir_%'",
        person["id"],
    )
    assert rows[0]["n"] == 0  # refused searches read nothing
    await walk(client, f"{FHIR}/Condition", bearer.patient(person["id"]), {"patient": person["id"]})
    rows = await fetch(
        client.city,
        "SELECT count(*) AS n FROM audit_log WHERE patient_id = $1 AND resource = 'fhir_condition'",
        person["id"],
    )
    assert rows[0]["n"] == 1


async def test_a_restricted_condition_is_masked_for_another_specialty(client):
    signoff = {
        "protocol": {"conclusion": "Сифилис"},
        "diagnoses": [{"code": "A53.9", "rank": "primary"}, {"code": "L20.9"}],
    }
    person, _, visit = await signed_visit(client, "surgeon", signoff=signoff)
    restricted_id = next(d["id"] for d in visit["diagnoses"] if d["code"] == "A53.9")
    _, eye = await booked(client, "ophthalmologist", person)
    eyes = doctor_of(eye) | {"Accept-Language": "en"}

    masked = fhir_body(await client.get(f"{FHIR}/Condition/{restricted_id}", headers=eyes))
    assert masked["code"] == {"text": "Restricted entry"}
    assert masked["meta"]["security"][0]["code"] == "R"
    found = await walk(client, f"{FHIR}/Condition", eyes, {"patient": person["id"]})
    assert "A53" not in str(found) and len(found) == 2
    assert {e["resource"]["id"] for e in found if "coding" not in e["resource"]["code"]} == {
        str(restricted_id)
    }
    # A search by the code does not reveal it either; the patient finds it.
    assert (
        await walk(client, f"{FHIR}/Condition", eyes, {"patient": person["id"], "code": "A53.9"})
        == []
    )
    own = await walk(
        client, f"{FHIR}/Condition", bearer.patient(person["id"]),
        {"patient": person["id"], "code": "A53.9"},
    )  # fmt: skip
    assert [e["resource"]["id"] for e in own] == [str(restricted_id)]
    # The visit's document: no text for the ophthalmologist, labelled restricted.
    document = fhir_body(await client.get(f"{FHIR}/DocumentReference/{visit['id']}", headers=eyes))
    assert "data" not in document["content"][0]["attachment"]
    assert document["securityLabel"][0]["coding"][0]["code"] == "R"
    assert "Сифилис" not in str(document)
    version = fhir_body(
        await client.get(f"{FHIR}/Condition/{restricted_id}/_history/1", headers=eyes)
    )
    assert "coding" not in version["code"]
