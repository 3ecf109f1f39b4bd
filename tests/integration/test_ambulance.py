"""The ambulance service against the dispatch simulator, over real sockets where the
outside is: the crew's emergency summary (an IPS document, validated by fhir.resources'
R4B models) by policy and by name, ambiguous and missing, restricted entries hidden
unless the glass is broken, each read audited with the call's number; the finished call
in as a signed FHIR transaction and as an HL7 v2 ADT over IMIAS's MLLP listener, each
written once (a copy answered the same), bad ones refused with their codes and nothing
written; a call that left the patient at home books the earliest slot within a day,
tells the patient (a notice) and the dispatch system through the delivery worker."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from fhir.resources.R4B import get_fhir_model_class
from hl7.mllp import open_hl7_connection
from signin import CapturingSms, app_client, fetch
from staffpages import hidden

from integrations import hl7
from integrations import repository as partners_repo
from integrations.ambulance.adt import build_adt
from integrations.ambulance.simulator import DispatchSimulator, call_of_request
from integrations.model import Partner
from integrations.signing import partner_secret

FHIR = "/fhir/R4"
POLICY = "urn:imias:policy"
HTTP_PARTNER = "dispatch-http"
MLLP_PARTNER = "dispatch-hl7"
SECTIONS = {"48765-2", "11450-4", "10160-0", "30954-2"}


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_ambulance_{worker_id()}"
    url = await build_city_database(
        pg_admin_url, name, clinics=12, doctors=200, patients=1500, history_days=30
    )
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def sim():
    s = DispatchSimulator(partner_id=HTTP_PARTNER)
    await s.start()
    yield s
    await s.stop()


@pytest.fixture(scope="module")
async def client(city, redis_url, sim):
    sms = CapturingSms()
    async with app_client(city, redis_url, sms=sms, mllp_port=0) as c:
        c.city, c.sms = city, sms
        pool = await asyncpg.connect(city)  # the app's own pool is on the app's loop
        fast = {"backoff_ms": 50, "backoff_cap_ms": 500, "timeout_ms": 3000}
        await partners_repo.save_partner(
            pool,
            Partner(id=HTTP_PARTNER, kind="ambulance_dispatch", name="ЕДДС 103", transport="http",
                    url=sim.url, topics=["ambulance.active_visit"], **fast),
        )  # fmt: skip
        await partners_repo.save_partner(
            pool,
            Partner(id=MLLP_PARTNER, kind="ambulance_dispatch", name="АДИС (HL7)",
                    transport="mllp", url=None, topics=[]),
        )  # fmt: skip
        await pool.close()
        sim.secret = partner_secret(bearer.TEST_SECRET, HTTP_PARTNER)
        sim.client = c
        sim.mllp = f"127.0.0.1:{c.app_state.mllp.port}"
        sim.mllp_partner_id = MLLP_PARTNER
        yield c


_offset = iter(range(0, 1500, 7))


async def active_visit_notices(url: str, patient_id: int) -> list[dict[str, Any]]:
    """The ``active_visit`` notices to the patient in the outbox (the notification
    service texts them)."""
    rows = await fetch(url, "SELECT payload FROM event_outbox WHERE topic = 'notice'")
    found = [json.loads(bytes(r["payload"])) for r in rows]
    return [n for n in found if n["kind"] == "active_visit" and n["patient_id"] == patient_id]


async def adult(client) -> dict[str, Any]:
    """An adult with a phone, attached to a clinic, whom no other test here uses."""
    rows = await fetch(
        client.city,
        "SELECT id, policy_number, birth_date, phone, attached_clinic_id, family_name,"
        " given_name FROM patients WHERE birth_date < now() - interval '25 years'"
        " AND phone IS NOT NULL AND attached_clinic_id IS NOT NULL ORDER BY id OFFSET $1 LIMIT 1",
        next(_offset),
    )
    return dict(rows[0])


def crew(**claims: Any) -> dict[str, str]:
    return bearer.bearer("ambulance_crew", claims.pop("staff", 7), org=claims.pop("org", 1))


def valid(body: dict) -> dict:
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    return body


def ips_of(answer) -> dict:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/fhir+json")
    assert b":null" not in answer.content
    bundle = valid(answer.json())
    for entry in bundle["entry"]:
        valid(entry["resource"])
    return bundle


def code_of(answer, status: int) -> str:
    assert answer.status_code == status, answer.text
    body = answer.json()
    if body.get("resourceType") == "OperationOutcome":
        return str(body["issue"][0]["details"]["coding"][0]["code"])
    return str(body["code"])


async def send(sim: DispatchSimulator, data: dict[str, Any], **options: Any) -> dict[str, Any]:
    return await sim.send_call(call_of_request(data, datetime.now(UTC)), **options)


async def eventually(check, seconds: float = 20.0):
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        found = await check()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("it never happened")
        await asyncio.sleep(0.1)


async def encounters_of(city: str, patient_id: int) -> list[Any]:
    return await fetch(
        city,
        "SELECT id, kind, doctor_id, clinic_id, status, protocol FROM encounters"
        " WHERE patient_id = $1 AND kind = 'ambulance' ORDER BY id",
        patient_id,
    )


# -- the emergency summary ----------------------------------------------------------------


async def test_the_summary_by_policy_is_an_ips_document_and_audited_with_the_call(client):
    row = (
        await fetch(
            client.city,
            "SELECT p.id, p.policy_number FROM patients p WHERE EXISTS"
            " (SELECT 1 FROM allergies a WHERE a.patient_id = p.id) AND EXISTS"
            " (SELECT 1 FROM encounters e WHERE e.patient_id = p.id) ORDER BY p.id LIMIT 1",
        )
    )[0]
    answer = await client.get(
        f"{FHIR}/Patient/$summary",
        params={"identifier": f"{POLICY}|{row['policy_number']}", "call": "103-0001",
                "reason": "боль в груди, без сознания"},
        headers=crew(),
    )  # fmt: skip
    bundle = ips_of(answer)
    assert bundle["type"] == "document" and bundle["identifier"]["value"].startswith("urn:uuid:")
    first = bundle["entry"][0]["resource"]
    assert first["resourceType"] == "Composition"
    assert first["type"]["coding"][0]["code"] == "60591-5"
    assert first["subject"]["reference"] == f"Patient/{row['id']}"
    codes = {s["code"]["coding"][0]["code"] for s in first["section"]}
    assert SECTIONS <= codes
    in_bundle = {e["fullUrl"] for e in bundle["entry"]}
    for section in first["section"]:
        for ref in section.get("entry", []):
            assert ref["reference"] in in_bundle  # every entry a section names is there
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert "Patient" in kinds and "Organization" in kinds and "AllergyIntolerance" in kinds
    audit = await fetch(
        client.city,
        "SELECT actor_role, actor_org, resource_id, reason, break_glass FROM audit_log"
        " WHERE patient_id = $1 AND resource = 'emergency_summary'",
        row["id"],
    )
    assert [
        (a["actor_role"], a["actor_org"], a["resource_id"], a["break_glass"]) for a in audit
    ] == [("ambulance_crew", 1, "103-0001", False)]
    assert "боль в груди" in audit[0]["reason"] and "103-0001" in audit[0]["reason"]


async def test_the_summary_by_id_and_by_name_and_birth_date(client):
    person = await adult(client)
    why = {"call": "103-0002", "reason": "ДТП, пострадавший без документов"}
    by_id = ips_of(
        await client.get(f"{FHIR}/Patient/{person['id']}/$summary", params=why, headers=crew())
    )
    by_name = ips_of(
        await client.get(
            f"{FHIR}/Patient/$summary",
            params=why | {"family": person["family_name"], "given": person["given_name"],
                          "birthdate": person["birth_date"].isoformat()},
            headers=crew(),
        )
    )  # fmt: skip
    for bundle in (by_id, by_name):
        assert bundle["entry"][1]["resource"]["id"] == str(person["id"])


async def test_two_patients_of_one_name_and_birth_date_are_ambiguous_and_none_is_404(client):
    person = await adult(client)
    twin = 990_000_000 + person["id"]
    await fetch(
        client.city,
        "INSERT INTO patients (id, policy_number, family_name, given_name, birth_date, sex,"
        " attached_clinic_id) SELECT $2, $3, family_name, given_name,"
        " birth_date, sex, attached_clinic_id FROM patients WHERE id = $1",
        person["id"],
        twin,
        str(twin).rjust(16, "9"),
    )
    params = {
        "family": person["family_name"],
        "given": person["given_name"],
        "birthdate": person["birth_date"].isoformat(),
        "call": "103-3",
        "reason": "ДТП",
    }
    answer = await client.get(f"{FHIR}/Patient/$summary", params=params, headers=crew())
    assert code_of(answer, 409) == "ambiguous_patient"
    params["birthdate"] = "1901-01-01"
    answer = await client.get(f"{FHIR}/Patient/$summary", params=params, headers=crew())
    assert code_of(answer, 404) == "not_found"
    missing = await client.get(
        f"{FHIR}/Patient/999999999/$summary", params={"call": "1", "reason": "ДТП"}, headers=crew()
    )
    assert code_of(missing, 404) == "not_found"


async def test_the_call_number_and_the_reason_are_required(client):
    person = await adult(client)
    path = f"{FHIR}/Patient/{person['id']}/$summary"
    assert code_of(await client.get(path, params={"reason": "ДТП"}, headers=crew()), 400) == (
        "call_required"
    )
    assert code_of(await client.get(path, params={"call": "103-9"}, headers=crew()), 400) == (
        "reason_required"
    )
    assert not await fetch(
        client.city, "SELECT 1 FROM audit_log WHERE patient_id = $1", person["id"]
    )


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        (bearer.patient(1), 403),
        (bearer.doctor(1, 1), 403),
        (bearer.registrar(1), 403),
        (bearer.bearer("school_nurse", 8, org=1), 403),
        ({}, 401),
    ],
    ids=["patient", "doctor", "registrar", "school_nurse", "anonymous"],
)
async def test_only_a_crew_reads_the_summary(client, headers, status):
    answer = await client.get(
        f"{FHIR}/Patient/1/$summary", params={"call": "1", "reason": "ДТП"}, headers=headers
    )
    assert answer.status_code == status, answer.text
    assert "Composition" not in answer.text


async def test_the_crew_reaches_nothing_else_of_the_record(client):
    person = await adult(client)
    for path in (f"{FHIR}/Patient/{person['id']}", f"/api/v1/patients/{person['id']}/record",
                 f"{FHIR}/Condition?patient={person['id']}"):  # fmt: skip
        assert (await client.get(path, headers=crew())).status_code == 403, path


async def test_restricted_entries_stay_hidden_unless_the_glass_is_broken(client, sim):
    person = await adult(client)
    sent = await send(
        sim,
        {"policy": person["policy_number"], "outcome": "hospital", "diagnoses": ["F41.1"],
         "reason": "Паническая атака"},
    )  # fmt: skip
    assert sent["status"] == 200, sent
    path = f"{FHIR}/Patient/{person['id']}/$summary"
    plain = await client.get(path, params={"call": "103-7", "reason": "повторный вызов"},
                             headers=crew())  # fmt: skip
    text = json.dumps(ips_of(plain), ensure_ascii=False)
    assert "F41.1" not in text and "Запись ограниченного доступа" in text
    opened = await client.get(
        path,
        params={"call": "103-7", "reason": "без сознания, нужен анамнез", "emergency": "true"},
        headers=crew(),
    )
    assert "F41.1" in json.dumps(ips_of(opened), ensure_ascii=False)
    audit = await fetch(
        client.city,
        "SELECT break_glass, reason FROM audit_log WHERE patient_id = $1"
        " AND resource = 'emergency_summary' ORDER BY id",
        person["id"],
    )
    assert [a["break_glass"] for a in audit] == [False, True]
    log = await client.get("/api/v1/me/access-log", headers=bearer.patient(person["id"]))
    seen = [e for e in log.json() if e["resource"] == "emergency_summary"]
    assert [e["break_glass"] for e in seen] == [True, False]  # newest first
    assert all(e["actor_role"] == "ambulance_crew" and "103-7" in e["reason"] for e in seen)
    assert seen[0]["organisation_name"]  # the station, by name


# -- the call in ---------------------------------------------------------------------------


async def test_a_call_over_fhir_becomes_one_ambulance_encounter(client, sim):
    person = await adult(client)
    message_id = str(uuid.uuid4())
    data = {"policy": person["policy_number"], "outcome": "hospital", "diagnoses": ["I20.0"],
            "vitals": {"8867-4": 112, "8480-6": 165}, "call_number": "103-FHIR-1"}  # fmt: skip
    first = await send(sim, data, message_id=message_id)
    assert first["status"] == 200, first
    answer = valid(first["answer"])
    assert answer["type"] == "transaction-response"
    locations = [e["response"].get("location", "") for e in answer["entry"]]
    (encounter,) = await encounters_of(client.city, person["id"])
    assert f"Encounter/{encounter['id']}/_history/1" in locations
    assert encounter["doctor_id"] is None and encounter["status"] == "finished"
    assert encounter["clinic_id"] == person["attached_clinic_id"]
    assert "103-FHIR-1" in encounter["protocol"]
    again = await send(sim, data, message_id=message_id)
    assert again["answer"] == first["answer"]
    assert len(await encounters_of(client.city, person["id"])) == 1
    facts = await fetch(
        client.city,
        "SELECT (SELECT array_agg(code) FROM conditions WHERE encounter_id = $1) AS dx,"
        " (SELECT array_agg(code ORDER BY code) FROM observations WHERE encounter_id = $1) AS obs,"
        " (SELECT author_id FROM conditions WHERE encounter_id = $1) AS author",
        encounter["id"],
    )
    assert facts[0]["dx"] == ["I20.0"] and facts[0]["obs"] == ["8480-6", "8867-4"]
    station = await fetch(
        client.city, "SELECT username, role, disabled FROM staff_accounts WHERE id = $1",
        facts[0]["author"],
    )  # fmt: skip
    assert [tuple(s) for s in station] == [("ambulance-station-1", "ambulance_crew", True)]


async def test_two_copies_of_a_call_at_once_make_one_encounter(client, sim):
    person = await adult(client)
    body = json.dumps(_bundle(person)).encode()
    message_id = str(uuid.uuid4())
    first, second = await asyncio.gather(
        sim.post_bundle(body, message_id), sim.post_bundle(body, message_id)
    )
    assert first.status_code == second.status_code == 200, (first.text, second.text)
    assert first.content == second.content
    assert {first.headers.get("x-imias-replayed"), second.headers.get("x-imias-replayed")} == {
        None, "true"
    }  # fmt: skip
    assert len(await encounters_of(client.city, person["id"])) == 1


def _bundle(person: dict[str, Any], **changes: Any) -> dict[str, Any]:
    from integrations.ambulance.simulator import transaction_bundle

    call = call_of_request(
        {"policy": person["policy_number"], "outcome": "hospital"}, datetime.now(UTC)
    )
    bundle = transaction_bundle(call)
    encounter = bundle["entry"][1]["resource"]
    for key, value in changes.items():
        if key == "bundle_type":
            bundle["type"] = value
        elif key == "extra_entry":
            bundle["entry"].append(value)
        elif value is None:
            encounter.pop(key, None)
        else:
            encounter[key] = value
    return bundle


BAD_BUNDLES = {
    "not_a_transaction": {"bundle_type": "collection"},
    "not_emergency": {"class": {"code": "AMB"}},
    "period_required": {"period": None},
    "outcome_required": {"hospitalization": None},
    "unknown_outcome": {"hospitalization": {"dischargeDisposition": {"coding": [
        {"system": "urn:imias:ambulance-outcome", "code": "teleported"}]}}},
    "station_required": {"serviceProvider": None},
    "unknown_station": {"serviceProvider": {"identifier": {
        "system": "urn:imias:ambulance-station", "value": "987654"}}},
    "call_number_required": {"identifier": None},
    "unknown_code": {"extra_entry": {"resource": {"resourceType": "Condition", "code": {
        "coding": [{"system": "http://hl7.org/fhir/sid/icd-10", "code": "Q99.99"}]}},
        "request": {"method": "POST", "url": "Condition"}}},
    "implausible_value": {"extra_entry": {"resource": {"resourceType": "Observation",
        "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]},
        "valueQuantity": {"value": 900}}, "request": {"method": "POST", "url": "Observation"}}},
    "unsupported_resource": {"extra_entry": {"resource": {"resourceType": "Coverage"},
        "request": {"method": "POST", "url": "Coverage"}}},
}  # fmt: skip


@pytest.mark.parametrize("code", list(BAD_BUNDLES))
async def test_a_bad_bundle_is_refused_with_its_code_and_nothing_written(client, sim, code):
    person = await adult(client)
    body = json.dumps(_bundle(person, **BAD_BUNDLES[code])).encode()
    answer = await sim.post_bundle(body, str(uuid.uuid4()))
    assert answer.status_code in (400, 422), answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["code"] == code
    assert not await encounters_of(client.city, person["id"])


async def test_an_unsigned_or_unknown_sender_is_refused(client, sim):
    person = await adult(client)
    body = json.dumps(_bundle(person)).encode()
    unsigned = await client.post(
        f"/api/v1/integrations/ambulance/{HTTP_PARTNER}/calls", content=body,
        headers={"content-type": "application/fhir+json"},
    )  # fmt: skip
    assert code_of(unsigned, 401) == "bad_signature"
    stranger = await client.post(
        "/api/v1/integrations/ambulance/nobody/calls", content=body,
        headers={"content-type": "application/fhir+json"},
    )  # fmt: skip
    assert code_of(stranger, 401) == "unknown_partner"
    assert not await encounters_of(client.city, person["id"])


async def mllp_send(client, raw: bytes) -> tuple[str, str]:
    reader, writer = await open_hl7_connection("127.0.0.1", client.app_state.mllp.port)
    try:
        writer.writeblock(raw)
        await writer.drain()
        return hl7.ack_code(await reader.readblock())
    finally:
        writer.close()


async def test_a_call_over_mllp_becomes_one_encounter_and_a_copy_is_acked_the_same(client, sim):
    person = await adult(client)
    data = {"policy": person["policy_number"], "outcome": "refused", "diagnoses": ["J06.9"],
            "call_number": "103-HL7-1", "message_id": "HL7-" + uuid.uuid4().hex[:12]}  # fmt: skip
    first = await send(sim, data, via="mllp", message_id=data["message_id"])
    assert first["ack"] == "AA", first
    again = await send(sim, data, via="mllp", message_id=data["message_id"])
    assert again["ack"] == "AA"
    (encounter,) = await encounters_of(client.city, person["id"])
    assert "103-HL7-1" in encounter["protocol"] and "Отказ" in encounter["protocol"]
    assert client.app_state.mllp.stats["replayed"] >= 1


@pytest.mark.parametrize(
    ("mutate", "code"),
    [
        (lambda raw: raw.replace(b"|E|", b"|O|", 1), "not_emergency"),
        (lambda raw: raw.replace(b"DISPATCH-HL7", b"STRANGER", 1), "unknown_partner"),
        (lambda raw: raw.replace(b"|01|||", b"|99|||", 1), "unknown_outcome"),
        (lambda raw: raw.replace(b"I20.9^", b"Q99.99^", 1), "unknown_code"),
        (lambda raw: raw.replace(b"ADT^A03", b"ORU^R01", 1), "unsupported_message"),
    ],
    ids=["class", "sender", "outcome", "diagnosis", "type"],
)
async def test_a_bad_adt_is_rejected_with_its_code_and_nothing_written(client, mutate, code):
    person = await adult(client)
    call = call_of_request(
        {"policy": person["policy_number"], "outcome": "home"}, datetime.now(UTC)
    )
    raw = build_adt(sender_id=MLLP_PARTNER, control_id=uuid.uuid4().hex[:20], call=call)
    ack, text = await mllp_send(client, mutate(raw))
    assert ack == "AR" and text.startswith(code), text
    assert not await encounters_of(client.city, person["id"])


async def test_the_simulators_own_endpoint_sends_a_call_over_mllp(client, sim):
    """``POST /_send-call`` of the running simulator (what `imias simulate ambulance`
    serves): it builds the ADT and sends it to IMIAS's listener, both over sockets."""
    import httpx

    person = await adult(client)
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"http://{sim.host}:{sim.port}/_send-call",
            json={"policy": person["policy_number"], "outcome": "hospital", "via": "mllp",
                  "call_number": "103-SIM-1"},
        )  # fmt: skip
    assert answer.status_code == 200 and answer.json()["ack"] == "AA", answer.text
    (encounter,) = await encounters_of(client.city, person["id"])
    assert "103-SIM-1" in encounter["protocol"]


async def test_what_is_not_hl7_is_rejected(client):
    ack, text = await mllp_send(client, b"hello, this is not HL7")
    assert ack == "AR" and text.startswith("not_hl7")


# -- the active visit ---------------------------------------------------------------------


async def task_of(city: str, patient_id: int) -> Any:
    rows = await fetch(city, "SELECT * FROM active_visits WHERE patient_id = $1", patient_id)
    return rows[0] if rows and rows[0]["status"] != "new" else None


async def test_left_at_home_books_the_earliest_slot_within_a_day_and_tells_everyone(client, sim):
    from imias.booking import CHANNEL_BITS, search

    person = await adult(client)
    engine = client.app_state.engine
    specialty = engine.directory.by_code["therapist"]
    now = datetime.now(UTC)
    first, last = search.window(engine, None, engine.today() + timedelta(days=1))
    expected = [
        s for s in search.earliest(
            engine, 5, specialty_id=specialty.id, clinic_ids=[person["attached_clinic_id"]],
            first=first, last=last, channel=CHANNEL_BITS["registrar"], now=now,
        ) if s.starts_at <= now + timedelta(hours=24)
    ]  # fmt: skip
    assert expected, "the test city has no therapist time within a day"
    sent = await send(sim, {"policy": person["policy_number"], "outcome": "home",
                            "call_number": "103-HOME-1"})  # fmt: skip
    assert sent["status"] == 200, sent
    task = await eventually(lambda: task_of(client.city, person["id"]))
    assert task["status"] == "booked" and task["booked_by"] == "system"
    appointment = (
        await fetch(client.city, "SELECT * FROM appointments WHERE id = $1",
                    task["appointment_id"])
    )[0]  # fmt: skip
    assert appointment["patient_id"] == person["id"]
    assert (appointment["doctor_id"], appointment["starts_at"]) == (
        expected[0].doctor_id,
        expected[0].starts_at,
    )
    assert appointment["starts_at"] <= task["created_at"] + timedelta(hours=24)
    notices = await active_visit_notices(client.city, person["id"])
    assert len(notices) == 1, "the patient is told once, with the task marked booked"
    assert notices[0]["params"] == {
        "appointment_id": appointment["id"], "clinic_id": appointment["clinic_id"],
        "doctor_id": appointment["doctor_id"], "starts_at": appointment["starts_at"].isoformat(),
    }  # fmt: skip

    async def noticed():
        return [m for m in sim.store.snapshot() if m.extra.get("call_number") == "103-HOME-1"]

    (notice,) = await eventually(noticed)
    assert notice.kind == "ambulance.active_visit" and notice.extra["status"] == "booked"
    assert notice.extra["local_start"] == expected[0].local_start
    log = await client.get("/api/v1/me/access-log", headers=bearer.patient(person["id"]))
    actions = {(e["actor_role"], e["action"], e["resource"]) for e in log.json()}
    assert ("ambulance_crew", "create", "encounter") in actions
    assert ("ambulance_crew", "book", "appointment") in actions


async def test_a_full_day_leaves_the_task_on_the_registrars_page(client, sim):
    """The clinic's therapists are all off sick today and tomorrow: no slot within a day,
    so the task stays open and the registrar sees it; she marks it done."""
    person = await adult(client)
    clinic = person["attached_clinic_id"]
    today = client.app_state.engine.today()
    await fetch(
        client.city,
        "INSERT INTO schedule_exceptions (clinic_id, doctor_id, day, kind)"
        " SELECT d.clinic_id, d.id, day::date, 'sick' FROM doctors d"
        " JOIN specialties s ON s.id = d.specialty_id,"
        " generate_series($2::date - 1, $2::date + 2, interval '1 day') AS day"
        " WHERE d.clinic_id = $1 AND s.code = 'therapist'",
        clinic,
        today,
    )
    # the worker's engine rebuilt from the database, on the app's own loop
    app = client.app_state
    await asyncio.to_thread(client.blocking_portal.call, app.engine.load, app.db)
    sent = await send(sim, {"policy": person["policy_number"], "outcome": "home",
                            "call_number": "103-FULL-1"})  # fmt: skip
    assert sent["status"] == 200, sent
    task = await eventually(lambda: task_of(client.city, person["id"]))
    assert task["status"] == "open" and task["appointment_id"] is None
    desk = bearer.registrar(clinic)
    page = await client.get("/registrar/active-visits", headers=desk)
    assert page.status_code == 200, page.text
    assert "103-FULL-1" in page.text and person["family_name"] in page.text
    other = await client.get("/registrar/active-visits", headers=bearer.registrar(clinic + 1))
    assert "103-FULL-1" not in other.text  # another clinic's desk does not see it

    async def noticed():
        return [m for m in sim.store.snapshot() if m.extra.get("call_number") == "103-FULL-1"]

    (notice,) = await eventually(noticed)
    assert notice.extra["status"] == "open"
    assert not await active_visit_notices(client.city, person["id"])
    done = await client.post(
        f"/registrar/active-visits/{task['id']}/done",
        data={"note": "записан на дом", "csrf": hidden(page.text, "csrf")},
        headers=desk, follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303, done.text
    elsewhere = await client.post(
        f"/registrar/active-visits/{task['id']}/done",
        data={"csrf": hidden(page.text, "csrf")}, headers=bearer.registrar(clinic + 1),
    )  # fmt: skip
    assert elsewhere.status_code == 404  # another clinic's task is no task of hers
    page = await client.get("/registrar/active-visits", headers=desk)
    assert "103-FULL-1" not in page.text
    row = await fetch(client.city, "SELECT status FROM active_visits WHERE id = $1", task["id"])
    assert row[0]["status"] == "done"
