"""Prescriptions through FHIR R4 (/fhir/R4): Medication, MedicationRequest and
MedicationDispense are read and searched, every resource valid by fhir.resources' R4B
models, agreeing with what the JSON API wrote, reached by the same rule (a stranger finds
nothing, a pharmacist is refused) and listed in the CapabilityStatement."""

from __future__ import annotations

import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from fhir.resources.R4B import get_fhir_model_class
from signin import adults, app_client, book_specialty, fetch

from prescriptions import Catalogue

FHIR = "/fhir/R4"
FHIR_JSON = "application/fhir+json"
ATC = "http://www.whocc.no/atc"
PRODUCT = "urn:imias:drug-product"
CATALOGUE = Catalogue.bundled()
PHARMACIST = bearer.bearer("pharmacist", 7, org=1)


def product(atc: str) -> str:
    return CATALOGUE.drugs[atc].products[0].code


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_prescriptions_fhir_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    async with app_client(city, redis_url) as c:
        c.city = city
        yield c


def fhir_body(answer, status: int = 200) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(FHIR_JSON), answer.headers
    assert b":null" not in answer.content
    body = answer.json()
    get_fhir_model_class(body["resourceType"]).model_validate(body)
    return body


def resources(bundle: dict) -> list[dict]:
    assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
    return [e["resource"] for e in bundle.get("entry", [])]


_offset = iter(range(0, 1000, 3))


async def visit(client, *, chronic: bool = False):
    """(patient, the doctor's token, the patient's token, the open encounter's id)."""
    person = dict((await adults(client.city, 1, offset=next(_offset)))[0])
    appointment = await book_specialty(client, person, "ophthalmologist")
    doctor = bearer.doctor(appointment["doctor_id"], appointment["clinic_id"])
    opened = await client.post(
        "/api/v1/encounters", json={"appointment_id": appointment["id"]}, headers=doctor
    )
    assert opened.status_code == 201, opened.text
    if chronic:
        signed = await client.post(
            f"/api/v1/encounters/{opened.json()['id']}/sign",
            json={
                "protocol": {"conclusion": "Гипертоническая болезнь"},
                "diagnoses": [{"code": "I10", "rank": "primary", "course": "chronic"}],
            },
            headers=doctor,
        )
        assert signed.status_code == 200, signed.text
    return person, doctor, bearer.patient(person["id"]), opened.json()["id"]


async def prescribe(client, encounter: int, doctor: dict, atc: str, **more) -> dict:
    body = {"product": product(atc), "dose": 1, "per_day": 2, "days": 10} | more
    answer = await client.post(
        f"/api/v1/encounters/{encounter}/prescriptions", json=body, headers=doctor
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def dispense(client, me: dict, prescription: dict, quantity: int) -> dict:
    patient = prescription["patient_id"]
    mine = await client.get(f"/api/v1/patients/{patient}/prescriptions", headers=me)
    code = next(p["code"] for p in mine.json() if p["id"] == prescription["id"])
    answer = await client.post(
        f"/api/v1/pharmacy/prescriptions/{prescription['id']}/dispensings",
        json={"quantity": quantity, "period": 1, "code": code},
        headers=PHARMACIST,
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def test_the_capability_statement_lists_the_three(client):
    body = fhir_body(await client.get(f"{FHIR}/metadata"))
    declared = {r["type"]: r for r in body["rest"][0]["resource"]}
    for kind, params in (
        ("Medication", {"code", "ingredient-code"}),
        ("MedicationRequest", {"patient", "status", "authoredon"}),
        ("MedicationDispense", {"patient", "prescription"}),
    ):
        assert {i["code"] for i in declared[kind]["interaction"]} == {"read", "search-type"}
        assert {p["name"] for p in declared[kind]["searchParam"]} == params


async def test_medication_is_read_and_searched_by_code_and_name(client):
    me = bearer.patient(1)
    code = product("C08CA01")
    med = fhir_body(await client.get(f"{FHIR}/Medication/{code}", headers=me))
    assert med["id"] == code
    assert {"system": ATC, "code": "C08CA01", "display": "амлодипин"} in med["code"]["coding"]
    strength = med["ingredient"][0]["strength"]["numerator"]
    assert strength["code"] == "mg" and strength["value"] > 0
    by_atc = resources(
        fhir_body(
            await client.get(f"{FHIR}/Medication", params={"code": f"{ATC}|C08CA01"}, headers=me)
        )
    )
    assert {m["id"] for m in by_atc} == {p.code for p in CATALOGUE.drugs["C08CA01"].products}
    by_product = resources(
        fhir_body(
            await client.get(f"{FHIR}/Medication", params={"code": f"{PRODUCT}|{code}"}, headers=me)
        )
    )
    assert [m["id"] for m in by_product] == [code]
    by_name = resources(
        fhir_body(
            await client.get(
                f"{FHIR}/Medication", params={"code:text": "amlo", "_count": 100}, headers=me
            )
        )
    )
    assert code in {m["id"] for m in by_name}
    assert all(
        m["ingredient"][0]["itemCodeableConcept"]["coding"][0]["code"] == "C08CA01" for m in by_name
    )
    other = resources(
        fhir_body(
            await client.get(f"{FHIR}/Medication", params={"code": "http://x|C08CA01"}, headers=me)
        )
    )
    assert other == []
    # Paging through the whole catalogue reaches every product once.
    seen: list[str] = []
    answer = await client.get(f"{FHIR}/Medication", params={"_count": 50}, headers=me)
    while True:
        page = fhir_body(answer)
        seen += [m["id"] for m in resources(page)]
        following = [link["url"] for link in page["link"] if link["relation"] == "next"]
        if not following:
            break
        answer = await client.get(following[0], headers=me)
    assert sorted(seen) == sorted(CATALOGUE.products) and len(seen) == len(set(seen))
    missing = await client.get(f"{FHIR}/Medication/NO-SUCH", headers=me)
    assert (
        missing.status_code == 404 and fhir_body(missing, 404)["resourceType"] == "OperationOutcome"
    )
    assert (await client.get(f"{FHIR}/Medication")).status_code == 401


async def test_a_prescription_and_its_dispensing_read_and_search_as_written(client):
    person, doctor, me, encounter = await visit(client)
    written = await prescribe(
        client, encounter, doctor, "C08CA01", quantity=30, instructions="После еды"
    )
    request = fhir_body(await client.get(f"{FHIR}/MedicationRequest/{written['id']}", headers=me))
    assert request["status"] == "active" and request["intent"] == "order"
    assert request["identifier"][0] == {
        "system": "urn:imias:prescription",
        "value": written["number"],
    }
    assert request["subject"]["reference"] == f"Patient/{person['id']}"
    assert request["encounter"]["reference"] == f"Encounter/{encounter}"
    assert request["requester"]["reference"] == (
        f"Practitioner/{written['clinic_id']}-{written['doctor_id']}"
    )
    assert request["authoredOn"] == written["issued_on"]
    codings = request["medicationCodeableConcept"]["coding"]
    assert {(c["system"], c["code"]) for c in codings} == {
        (PRODUCT, written["product_code"]),
        (ATC, "C08CA01"),
    }
    dosage = request["dosageInstruction"][0]
    assert dosage["text"] == "После еды"
    assert dosage["timing"]["repeat"]["frequency"] == 2
    assert dosage["timing"]["repeat"]["boundsDuration"]["value"] == 10
    assert dosage["doseAndRate"][0]["doseQuantity"]["value"] == 1
    supply = request["dispenseRequest"]
    assert supply["quantity"]["value"] == 30
    assert supply["validityPeriod"] == {
        "start": written["issued_on"],
        "end": written["valid_until"],
    }
    assert supply["expectedSupplyDuration"]["value"] == 10
    assert "numberOfRepeatsAllowed" not in supply
    assert request["courseOfTherapyType"]["coding"][0]["code"] == "acute"

    handed = await dispense(client, me, written, 30)
    done = fhir_body(await client.get(f"{FHIR}/MedicationRequest/{written['id']}", headers=doctor))
    assert done["status"] == "completed"
    given = fhir_body(await client.get(f"{FHIR}/MedicationDispense/{handed['id']}", headers=me))
    assert given["status"] == "completed" and given["quantity"]["value"] == 30
    assert given["authorizingPrescription"][0]["reference"] == f"MedicationRequest/{written['id']}"
    assert given["subject"]["reference"] == f"Patient/{person['id']}"
    actor = given["performer"][0]["actor"]
    assert actor["identifier"] == {"system": "urn:imias:pharmacy", "value": "1"}
    named = await fetch(client.city, "SELECT name FROM pharmacies WHERE id = 1")
    assert actor["display"] == named[0]["name"]
    assert given["whenHandedOver"].startswith(handed["dispensed_at"][:16])

    by_prescription = resources(
        fhir_body(
            await client.get(
                f"{FHIR}/MedicationDispense",
                params={"prescription": f"MedicationRequest/{written['id']}"},
                headers=doctor,
            )
        )
    )
    assert [d["id"] for d in by_prescription] == [str(handed["id"])]
    by_patient = resources(
        fhir_body(
            await client.get(
                f"{FHIR}/MedicationDispense", params={"patient": person["id"]}, headers=me
            )
        )
    )
    assert [d["id"] for d in by_patient] == [str(handed["id"])]

    # Every read and search is audited for the patient.
    rows = await fetch(
        client.city,
        "SELECT DISTINCT resource FROM audit_log WHERE patient_id = $1 AND action = 'read'",
        person["id"],
    )
    assert {"prescription", "dispensing", "fhir_medicationdispense"} <= {
        r["resource"] for r in rows
    }


async def test_requests_are_searched_by_status_and_day_and_paged(client):
    person, doctor, me, encounter = await visit(client, chronic=True)
    first = await prescribe(client, encounter, doctor, "C08CA01", quantity=10)
    long_term = await prescribe(
        client, encounter, doctor, "C09AA02", schedule="quarterly", months=12, days=90, quantity=90
    )
    cancelled = await prescribe(client, encounter, doctor, "A10BA02")
    answer = await client.post(
        f"/api/v1/prescriptions/{cancelled['id']}/cancel",
        json={"reason": "Назначен другой препарат"},
        headers=doctor,
    )
    assert answer.status_code == 200, answer.text
    await dispense(client, me, first, 10)

    async def search(**params) -> list[dict]:
        answer = await client.get(
            f"{FHIR}/MedicationRequest", params={"patient": person["id"]} | params, headers=me
        )
        return resources(fhir_body(answer))

    every = await search()
    assert [r["id"] for r in every] == [str(p["id"]) for p in (cancelled, long_term, first)]
    by_status = {r["id"]: r["status"] for r in every}
    assert by_status == {
        str(first["id"]): "completed",
        str(long_term["id"]): "active",
        str(cancelled["id"]): "cancelled",
    }
    for status in ("active", "completed", "cancelled", "stopped"):
        found = await search(status=status)
        assert {r["id"] for r in found} == {k for k, v in by_status.items() if v == status}
    assert await search(status="http://x|active") == []

    quarterly = next(r for r in every if r["id"] == str(long_term["id"]))
    assert quarterly["courseOfTherapyType"]["coding"][0]["code"] == "continuous"
    assert quarterly["dispenseRequest"]["numberOfRepeatsAllowed"] == 3
    assert 89 <= quarterly["dispenseRequest"]["expectedSupplyDuration"]["value"] <= 92
    cancelled_one = next(r for r in every if r["id"] == str(cancelled["id"]))
    assert cancelled_one["statusReason"]["text"] == "Назначен другой препарат"

    day = first["issued_on"]
    assert len(await search(authoredon=day)) == 3
    assert await search(authoredon=f"gt{day}") == []
    assert len(await search(authoredon=[f"ge{day}", f"le{day}"])) == 3

    pages, url = [], f"{FHIR}/MedicationRequest"
    params: dict | None = {"patient": person["id"], "_count": 1}
    while url:
        page = fhir_body(await client.get(url, params=params, headers=doctor))
        pages.append([r["id"] for r in resources(page)])
        url = next((link["url"] for link in page["link"] if link["relation"] == "next"), None)
        params = None
    assert [ids for ids in pages if ids] == [[r["id"]] for r in every]


async def test_whose_prescriptions_are_reached(client):
    person, doctor, me, encounter = await visit(client)
    written = await prescribe(client, encounter, doctor, "C08CA01", quantity=10)
    handed = await dispense(client, me, written, 5)
    stranger = bearer.patient(person["id"] + 1)
    for url in (f"MedicationRequest/{written['id']}", f"MedicationDispense/{handed['id']}"):
        assert (await client.get(f"{FHIR}/{url}", headers=stranger)).status_code == 404
        assert (await client.get(f"{FHIR}/{url}", headers=PHARMACIST)).status_code == 403
    for kind, params in (
        ("MedicationRequest", {"patient": person["id"]}),
        ("MedicationDispense", {"patient": person["id"]}),
    ):
        answer = await client.get(f"{FHIR}/{kind}", params=params, headers=stranger)
        assert answer.status_code == 404, (kind, params, answer.text)
        fhir_body(answer, 404)
        refused = await client.get(f"{FHIR}/{kind}", params=params, headers=PHARMACIST)
        assert refused.status_code == 403
    # By prescription, another patient's answers as a missing one: an empty Bundle.
    for target in (written["id"], 999_999_999):
        answer = await client.get(
            f"{FHIR}/MedicationDispense", params={"prescription": target}, headers=stranger
        )
        assert fhir_body(answer, 200)["entry"] == [], answer.text
    refused = await client.get(
        f"{FHIR}/MedicationDispense", params={"prescription": written["id"]}, headers=PHARMACIST
    )
    assert refused.status_code == 403
    assert (await client.get(f"{FHIR}/Medication", headers=PHARMACIST)).status_code == 403
    # A search without its patient, an unknown parameter, a write or a history: refused.
    bare = await client.get(f"{FHIR}/MedicationRequest", headers=me)
    assert fhir_body(bare, 400)["issue"][0]["details"]["coding"][0]["code"] == "patient_required"
    unknown = await client.get(
        f"{FHIR}/MedicationRequest", params={"patient": person["id"], "code": "x"}, headers=me
    )
    assert unknown.status_code == 400
    history = await client.get(f"{FHIR}/MedicationRequest/{written['id']}/_history", headers=me)
    assert history.status_code == 405
    created = await client.post(
        f"{FHIR}/MedicationRequest",
        content=b'{"resourceType": "MedicationRequest"}',
        headers=doctor | {"Content-Type": FHIR_JSON},
    )
    assert created.status_code == 405
    # The doctor reads what she wrote.
    mine = await client.get(f"{FHIR}/MedicationRequest/{written['id']}", headers=doctor)
    assert fhir_body(mine)["status"] == "active"
