"""Prescriptions over the JSON API: the doctor checks and signs in her visit, the
patient reads them with the QR code's text, the pharmacist scans and dispenses, and
every bad input is refused with a code and a sentence in both languages, writing
nothing."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import date, timedelta

import asyncpg
import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import adults, app_client, book_specialty, fetch

from prescriptions import Catalogue, LocalAuthority, rules
from prescriptions.signing import KEY_SECONDS

CATALOGUE = Catalogue.bundled()
SUBSIDISED_PHARMACY, COMMERCIAL_PHARMACY = 1, 2  # as the seed makes them


def product(atc: str) -> str:
    return CATALOGUE.drugs[atc].products[0].code


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_prescriptions_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    async with app_client(city, redis_url) as c:
        c.city = city
        yield c


_offset = iter(range(0, 1000, 3))


class Visit:
    def __init__(self, person: dict, appointment: dict, encounter: dict) -> None:
        self.person = person
        self.patient = person["id"]
        self.encounter = encounter["id"]
        self.doctor = bearer.doctor(appointment["doctor_id"], appointment["clinic_id"])
        self.doctor_ids = (appointment["clinic_id"], appointment["doctor_id"])
        self.me = bearer.patient(person["id"])


async def visit(client, *, chronic: bool = False) -> Visit:
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
    return Visit(person, appointment, opened.json())


def rx(atc: str, **more) -> dict:
    return {"product": product(atc), "dose": 1, "per_day": 1, "days": 10} | more


async def prescribe(client, v: Visit, body: dict, status: int = 201) -> dict:
    answer = await client.post(
        f"/api/v1/encounters/{v.encounter}/prescriptions", json=body, headers=v.doctor
    )
    assert answer.status_code == status, answer.text
    return answer.json()


PHARMACIST = bearer.bearer("pharmacist", 7, org=SUBSIDISED_PHARMACY)
COMMERCIAL = bearer.bearer("pharmacist", 8, org=COMMERCIAL_PHARMACY)


async def code_of(client, v: Visit, prescription_id: int) -> str:
    mine = (await client.get(f"/api/v1/patients/{v.patient}/prescriptions", headers=v.me)).json()
    return next(p["code"] for p in mine if p["id"] == prescription_id)


async def test_drug_type_ahead_by_inn_and_trade_name(client):
    found = (await client.get("/api/v1/drugs", params={"q": "амокс"})).json()
    assert found and found[0]["atc"].startswith("J01C"), found
    assert found[0]["products"] and found[0]["products"][0]["code"]
    trade = CATALOGUE.drugs["C08CA01"].trade_names[0]
    by_trade = (await client.get("/api/v1/drugs", params={"q": trade[:5]})).json()
    assert "C08CA01" in {d["atc"] for d in by_trade}
    en = (
        await client.get("/api/v1/drugs", params={"q": "amlo"}, headers={"Accept-Language": "en"})
    ).json()
    assert en[0]["name"] == "amlodipine"


async def test_allergy_blocks_until_overridden_and_the_override_is_audited(client):
    v = await visit(client)
    allergy = await client.post(
        f"/api/v1/patients/{v.patient}/allergies",
        json={"substance": "J01C", "criticality": "high"},
        headers=v.doctor,
    )
    assert allergy.status_code == 201, allergy.text
    body = rx("J01CA04", dose=1, per_day=3, days=7)
    checked = await client.post(
        f"/api/v1/encounters/{v.encounter}/prescription-checks", json=body, headers=v.doctor
    )
    assert checked.status_code == 200, checked.text
    found = checked.json()
    assert found["blocked"] is True
    assert found["findings"][0]["check"] == "allergy"
    assert found["findings"][0]["severity"] == "contraindicated"
    assert found["quantity"] == 21

    refused = await prescribe(client, v, body, 409)
    assert refused["code"] == "contraindicated" and refused["findings"][0]["check"] == "allergy"
    assert refused["ru"] and refused["en"]
    none = await fetch(
        client.city, "SELECT count(*) FROM prescriptions WHERE patient_id = $1", v.patient
    )
    assert none[0]["count"] == 0

    reason = "Аллергия сомнительна, проба отрицательная"
    written = await prescribe(client, v, body | {"override_reason": reason})
    assert written["state"] == "active" and written["quantity"] == 21
    assert written["findings"][0]["check"] == "allergy"
    audited = await fetch(
        client.city,
        "SELECT action, resource, reason FROM audit_log "
        "WHERE patient_id = $1 AND action = 'override'",
        v.patient,
    )
    assert [(a["resource"], a["reason"]) for a in audited] == [("prescription_allergy", reason)]


async def test_interaction_warns_and_duplicate_therapy_is_found(client):
    v = await visit(client)
    await prescribe(client, v, rx("B01AA03"))  # warfarin
    checked = (
        await client.post(
            f"/api/v1/encounters/{v.encounter}/prescription-checks",
            json=rx("M01AE01"),  # ibuprofen
            headers=v.doctor,
        )
    ).json()
    interaction = [f for f in checked["findings"] if f["check"] == "interaction"]
    assert interaction and interaction[0]["severity"] in ("major", "contraindicated"), checked
    again = (
        await client.post(
            f"/api/v1/encounters/{v.encounter}/prescription-checks",
            json=rx("B01AA03"),
            headers=v.doctor,
        )
    ).json()
    assert [f["check"] for f in again["findings"]] == ["duplicate"]


async def test_bad_input_is_refused_with_a_code_and_nothing_is_written(client):
    v = await visit(client)
    drug = CATALOGUE.drugs["C08CA01"]
    over = drug.max_daily / drug.products[0].strength * 2
    cases = [
        (rx("C08CA01") | {"product": "NO-SUCH-DRUG"}, 422, "unknown_drug"),
        (rx("C08CA01", dose=over), 409, "contraindicated"),
        (rx("C08CA01", quantity=0), 400, None),
        (rx("C08CA01", dose=0.0001), 400, None),  # stored as 0.000: nothing
        (rx("C08CA01", quantity=1_000_000), 400, None),
        (rx("C08CA01", schedule="monthly", months=6), 422, "not_chronic"),
        (rx("C08CA01", benefit="999"), 422, None),
    ]
    for body, status, code in cases:
        answer = await client.post(
            f"/api/v1/encounters/{v.encounter}/prescriptions", json=body, headers=v.doctor
        )
        assert answer.status_code == status, (body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
        if code:
            assert answer.json()["code"] == code
    en = await client.post(
        f"/api/v1/encounters/{v.encounter}/prescriptions",
        json=rx("C08CA01") | {"product": "NO-SUCH-DRUG"},
        headers=v.doctor | {"Accept-Language": "en"},
    )
    assert en.json()["detail"] == "There is no such drug in the catalogue."
    written = await fetch(
        client.city, "SELECT count(*) FROM prescriptions WHERE patient_id = $1", v.patient
    )
    assert written[0]["count"] == 0


async def test_the_patient_sees_it_the_pharmacist_dispenses_part_then_the_rest_then_nothing(client):
    v = await visit(client)
    written = await prescribe(client, v, rx("C08CA01", quantity=30))
    code = await code_of(client, v, written["id"])
    assert code.startswith("RX1.MOW.") and written["code"] is None  # the doctor sees no code
    svg = await client.get(f"/api/v1/prescriptions/{written['id']}/qr.svg", headers=v.me)
    assert svg.status_code == 200 and svg.headers["content-type"].startswith("image/svg+xml")
    assert "<svg" in svg.text

    seen = await client.post("/api/v1/pharmacy/scans", json={"code": code}, headers=COMMERCIAL)
    assert seen.status_code == 200, seen.text
    view = seen.json()
    assert view["signature"]["valid"] is True and view["dispensable"] is True
    assert view["left"] == 30 and view["due"]["period"] == 1
    assert view["patient_birth_date"] == str(v.person["birth_date"])
    generic = next(a["code"] for a in view["alternatives"])

    url = f"/api/v1/pharmacy/prescriptions/{written['id']}/dispensings"
    part = {"quantity": 20, "period": 1, "code": code, "product": generic}
    first = await client.post(url, json=part, headers=COMMERCIAL)
    assert first.status_code == 201, first.text
    rest = await client.post(url, json=part | {"quantity": 10}, headers=COMMERCIAL)
    assert rest.status_code == 201, rest.text
    third = await client.post(url, json=part | {"quantity": 1}, headers=COMMERCIAL)
    assert (third.status_code, third.json()["code"]) == (409, "nothing_left")
    mine = (await client.get(f"/api/v1/prescriptions/{written['id']}", headers=v.me)).json()
    assert mine["state"] == "dispensed" and mine["periods"][0]["dispensed"] == 30


async def test_more_than_left_is_refused_and_a_retried_request_is_dispensed_once(client):
    v = await visit(client)
    written = await prescribe(client, v, rx("C08CA01", quantity=10))
    code = await code_of(client, v, written["id"])
    url = f"/api/v1/pharmacy/prescriptions/{written['id']}/dispensings"
    too_much = await client.post(
        url, json={"quantity": 11, "period": 1, "code": code}, headers=PHARMACIST
    )
    assert (too_much.status_code, too_much.json()["code"]) == (409, "more_than_left")
    assert too_much.json()["left"] == 10
    request = {"quantity": 4, "period": 1, "code": code, "request_id": str(uuid.uuid4())}
    once = await client.post(url, json=request, headers=PHARMACIST)
    twice = await client.post(url, json=request, headers=PHARMACIST)
    assert (once.status_code, twice.status_code) == (201, 200)
    assert once.json()["id"] == twice.json()["id"]
    left = await fetch(
        client.city,
        "SELECT dispensed FROM prescription_periods WHERE prescription_id = $1",
        written["id"],
    )
    assert left[0]["dispensed"] == 4
    # Without proof of the prescription nothing is handed out.
    bare = await client.post(url, json={"quantity": 1, "period": 1}, headers=PHARMACIST)
    assert (bare.status_code, bare.json()["code"]) == (422, "proof_required")
    by_birth = await client.post(
        url,
        json={"quantity": 1, "period": 1, "birth_date": str(v.person["birth_date"])},
        headers=PHARMACIST,
    )
    assert by_birth.status_code == 201, by_birth.text


async def test_a_changed_code_another_city_and_a_changed_row_are_refused_at_the_counter(client):
    v = await visit(client)
    written = await prescribe(client, v, rx("C08CA01", quantity=10))
    code = await code_of(client, v, written["id"])
    last = code[-2]
    changed = code[:-2] + ("A" if last != "A" else "B") + code[-1]
    for text, expected in (
        (changed, "code_mismatch"),
        (code.replace(".MOW.", ".SPB."), "foreign_city"),
        ("hello, this is not a prescription", "bad_code"),
        (code.replace(f".{written['id']}.", f".{written['id'] + 1}."), None),
    ):
        answer = await client.post(
            "/api/v1/pharmacy/scans", json={"code": text}, headers=PHARMACIST
        )
        if expected is None:  # another number: no such prescription, or not this one
            assert answer.json()["code"] in ("not_found", "code_mismatch"), answer.text
            continue
        assert (answer.status_code, answer.json()["code"]) == (422, expected), answer.text

    # Someone with the database's keys changes the quantity after signing.
    await fetch(
        client.city,
        "UPDATE prescription_periods SET quantity = 100 WHERE prescription_id = $1",
        written["id"],
    )
    seen = (
        await client.post("/api/v1/pharmacy/scans", json={"code": code}, headers=PHARMACIST)
    ).json()
    assert seen["signature"]["valid"] is False and seen["refusal"] == "signature_invalid"
    url = f"/api/v1/pharmacy/prescriptions/{written['id']}/dispensings"
    refused = await client.post(
        url, json={"quantity": 1, "period": 1, "code": code}, headers=PHARMACIST
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "signature_invalid")


async def test_a_cancelled_prescription_is_refused_at_once(client):
    v = await visit(client)
    written = await prescribe(client, v, rx("C08CA01", quantity=10))
    code = await code_of(client, v, written["id"])
    cancelled = await client.post(
        f"/api/v1/prescriptions/{written['id']}/cancel",
        json={"reason": "Назначен другой препарат"},
        headers=v.doctor,
    )
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    again = await client.post(
        f"/api/v1/prescriptions/{written['id']}/cancel",
        json={"reason": "Назначен другой препарат"},
        headers=v.doctor,
    )
    assert (again.status_code, again.json()["code"]) == (409, "already_cancelled")
    url = f"/api/v1/pharmacy/prescriptions/{written['id']}/dispensings"
    refused = await client.post(
        url, json={"quantity": 1, "period": 1, "code": code}, headers=PHARMACIST
    )
    assert (refused.status_code, refused.json()["code"]) == (409, "cancelled")


async def test_subsidised_only_with_a_benefit_and_only_at_a_subsidised_pharmacy(client):
    v = await visit(client, chronic=True)
    drug = next(d for d in CATALOGUE.drugs.values() if d.subsidised and d.min_age <= 18)
    category = next(b.code for b in CATALOGUE.benefits.values() if not b.covers)
    refused = await prescribe(client, v, rx(drug.atc, benefit=category), 422)
    assert refused["code"] == "no_benefit"
    await fetch(
        client.city,
        "INSERT INTO patient_benefits (patient_id, category, valid_from) "
        "VALUES ($1, $2, '2020-01-01')",
        v.patient,
        category,
    )
    written = await prescribe(client, v, rx(drug.atc, benefit=category))
    # 90 days for a chronic patient
    span = date.fromisoformat(written["valid_until"]) - date.fromisoformat(written["issued_on"])
    assert span.days == 89
    code = await code_of(client, v, written["id"])
    url = f"/api/v1/pharmacy/prescriptions/{written['id']}/dispensings"
    body = {"quantity": 1, "period": 1, "code": code}
    at_shop = await client.post(url, json=body, headers=COMMERCIAL)
    assert (at_shop.status_code, at_shop.json()["code"]) == (403, "not_subsidised_pharmacy")
    search = {"policy_number": v.person["policy_number"]}
    shop_search = await client.post(
        "/api/v1/pharmacy/subsidised-searches", json=search, headers=COMMERCIAL
    )
    assert shop_search.status_code == 403
    found = await client.post(
        "/api/v1/pharmacy/subsidised-searches", json=search, headers=PHARMACIST
    )
    assert found.status_code == 200, found.text
    assert [f["prescription"]["id"] for f in found.json()] == [written["id"]]
    by_policy = await client.post(
        url,
        json={"quantity": 1, "period": 1, "policy_number": v.person["policy_number"]},
        headers=PHARMACIST,
    )
    assert by_policy.status_code == 201, by_policy.text


async def test_long_term_prescription_is_dispensed_by_period(client):
    v = await visit(client, chronic=True)
    written = await prescribe(
        client, v, rx("C08CA01", schedule="quarterly", months=12, days=90, quantity=90)
    )
    assert [p["period"] for p in written["periods"]] == [1, 2, 3, 4]
    code = await code_of(client, v, written["id"])
    view = (
        await client.post("/api/v1/pharmacy/scans", json={"code": code}, headers=PHARMACIST)
    ).json()
    assert view["due"]["period"] == 1 and view["left"] == 90
    url = f"/api/v1/pharmacy/prescriptions/{written['id']}/dispensings"
    early = await client.post(
        url, json={"quantity": 90, "period": 2, "code": code}, headers=PHARMACIST
    )
    assert (early.status_code, early.json()["code"]) == (409, "period_not_due")
    now = await client.post(
        url, json={"quantity": 90, "period": 1, "code": code}, headers=PHARMACIST
    )
    assert now.status_code == 201, now.text
    mine = (await client.get(f"/api/v1/prescriptions/{written['id']}", headers=v.me)).json()
    assert mine["state"] == "active"  # three quarters are still to come


async def test_who_reads_what(client):
    v = await visit(client)
    written = await prescribe(client, v, rx("C08CA01"))
    stranger = bearer.patient(v.patient + 1)
    assert (
        await client.get(f"/api/v1/prescriptions/{written['id']}", headers=stranger)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/patients/{v.patient}/prescriptions", headers=stranger)
    ).status_code == 404
    assert (
        await client.get(f"/api/v1/patients/{v.patient}/prescriptions", headers=PHARMACIST)
    ).status_code == 403
    qr = await client.get(f"/api/v1/prescriptions/{written['id']}/qr.svg", headers=v.doctor)
    assert qr.status_code == 403
    doctor_list = (
        await client.get(f"/api/v1/patients/{v.patient}/prescriptions", headers=v.doctor)
    ).json()
    assert doctor_list[0]["id"] == written["id"] and doctor_list[0]["code"] is None
    card = (await client.get(f"/api/v1/patients/{v.patient}/record", headers=v.doctor)).json()
    assert any(m.startswith("амлодипин") and "до " in m for m in card["medications"]), card
    en = await client.get(
        f"/api/v1/patients/{v.patient}/record", headers=v.me | {"Accept-Language": "en"}
    )
    assert any(m.startswith("amlodipine: 1 x 1 a day") for m in en.json()["medications"])
    log = (await client.get("/api/v1/me/access-log", headers=v.me)).json()
    assert ("create", "prescription") in {(e["action"], e["resource"]) for e in log}


async def test_the_counter_never_waits_on_a_second_connection(client, redis_url):
    """A server whose pool is one connection, with no key read yet, answers a burst of
    scans and dispensings: no request holds a connection while it asks for another."""
    v = await visit(client)
    written = await prescribe(client, v, rx("C08CA01", quantity=10))
    code = await code_of(client, v, written["id"])
    async with app_client(client.city, redis_url, db_pool_size=1) as narrow:
        url = f"/api/v1/pharmacy/prescriptions/{written['id']}/dispensings"
        burst = [
            narrow.post("/api/v1/pharmacy/scans", json={"code": code}, headers=PHARMACIST)
            for _ in range(4)
        ] + [
            narrow.post(url, json={"quantity": 1, "period": 1, "code": code}, headers=PHARMACIST)
            for _ in range(4)
        ]
        answers = await asyncio.wait_for(asyncio.gather(*burst), timeout=20)
    assert [a.status_code for a in answers] == [200] * 4 + [201] * 4, [a.text for a in answers]


async def test_an_expired_prescription_is_refused_at_the_counter(client):
    v = await visit(client)
    written = await prescribe(client, v, rx("C08CA01", quantity=10))
    code = await code_of(client, v, written["id"])
    service = client.app_state.prescriptions
    city_day = service.today
    last_day = date.fromisoformat(written["valid_until"])
    service.today = lambda: last_day + timedelta(days=1)  # the city's next day after it
    try:
        seen = await client.post("/api/v1/pharmacy/scans", json={"code": code}, headers=PHARMACIST)
        assert seen.json()["refusal"] == "expired" and seen.json()["dispensable"] is False
        url = f"/api/v1/pharmacy/prescriptions/{written['id']}/dispensings"
        body = {"quantity": 1, "period": 1, "code": code}
        refused = await client.post(url, json=body, headers=PHARMACIST)
        assert (refused.status_code, refused.json()["code"]) == (409, "expired")
        mine = (await client.get(f"/api/v1/prescriptions/{written['id']}", headers=v.me)).json()
        assert mine["state"] == "expired"
        service.today = lambda: last_day  # its last day: still valid
        assert (await client.post(url, json=body, headers=PHARMACIST)).status_code == 201
    finally:
        service.today = city_day


async def test_what_the_counter_refuses_besides(client):
    """A request id used for another dispensing, a number in other digits, the policy as
    proof at a commercial pharmacy, an unknown policy (answered as one with nothing)."""
    v = await visit(client)
    first = await prescribe(client, v, rx("C08CA01", quantity=10))
    second = await prescribe(client, v, rx("C09AA02", quantity=10))
    request = str(uuid.uuid4())
    for written, status in ((first, 201), (second, 409)):
        code = await code_of(client, v, written["id"])
        answer = await client.post(
            f"/api/v1/pharmacy/prescriptions/{written['id']}/dispensings",
            json={"quantity": 1, "period": 1, "code": code, "request_id": request},
            headers=PHARMACIST,
        )
        assert answer.status_code == status, answer.text
    assert answer.json()["code"] == "request_id_reused"
    left = await fetch(
        client.city,
        "SELECT dispensed FROM prescription_periods WHERE prescription_id = $1",
        second["id"],
    )
    assert left[0]["dispensed"] == 0

    odd = await client.post(
        "/api/v1/pharmacy/scans", json={"code": "RX1.MOW.\u00b2.AAAAAAAA"}, headers=PHARMACIST
    )
    assert (odd.status_code, odd.json()["code"]) == (422, "bad_code")
    by_policy = await client.post(
        f"/api/v1/pharmacy/prescriptions/{first['id']}/dispensings",
        json={"quantity": 1, "period": 1, "policy_number": v.person["policy_number"]},
        headers=COMMERCIAL,
    )
    assert (by_policy.status_code, by_policy.json()["code"]) == (403, "not_subsidised_pharmacy")
    nobody = await client.post(
        "/api/v1/pharmacy/subsidised-searches",
        json={"policy_number": "0000000000000001"},
        headers=PHARMACIST,
    )
    assert (nobody.status_code, nobody.json()) == (200, [])


async def test_guessing_numbers_and_birth_dates_is_audited_and_stopped(client):
    v = await visit(client)
    written = await prescribe(client, v, rx("C08CA01", quantity=10))
    guesser = bearer.bearer("pharmacist", 901, org=SUBSIDISED_PHARMACY)
    statuses = []
    for day in range(1, 23):
        guess = {"number": str(written["id"]), "birth_date": f"1950-01-{day:02d}"}
        answer = await client.post("/api/v1/pharmacy/scans", json=guess, headers=guesser)
        statuses.append(answer.status_code)
    assert statuses[:20] == [404] * 20 and statuses[20:] == [429, 429], statuses
    assert answer.json()["code"] == "too_many_attempts"
    tried = await fetch(
        client.city,
        "SELECT count(*) FROM audit_log WHERE action = 'proof_failed' AND patient_id = $1",
        v.patient,
    )
    assert tried[0]["count"] == 20  # the holder sees every attempt
    # the QR code still works for this pharmacist, and the others are not stopped
    code = await code_of(client, v, written["id"])
    scanned = await client.post("/api/v1/pharmacy/scans", json={"code": code}, headers=guesser)
    assert scanned.status_code == 200
    right = {"number": str(written["id"]), "birth_date": str(v.person["birth_date"])}
    other = await client.post("/api/v1/pharmacy/scans", json=right, headers=PHARMACIST)
    assert other.status_code == 200


async def test_a_colleagues_key_is_not_the_prescribers_signature(client):
    """Re-signed in the database with another doctor's certified key, a prescription is
    refused at the counter: the key must be the prescriber's own."""
    v = await visit(client)
    written = await prescribe(client, v, rx("C08CA01", quantity=10))
    found = await fetch(
        client.city,
        "SELECT clinic_id, id FROM doctors WHERE (clinic_id, id) <> ($1, $2) LIMIT 1",
        *v.doctor_ids,
    )
    other = (found[0]["clinic_id"], found[0]["id"])
    conn = await asyncpg.connect(client.city)
    try:  # the deployment's own authority (the server's secret) issues the colleague's key
        authority = LocalAuthority(conn, bearer.TEST_SECRET)
        key_id = await authority.key_id(*other)
        row = dict(await conn.fetchrow("SELECT * FROM prescriptions WHERE id = $1", written["id"]))
        row["key_id"] = key_id
        spans = await conn.fetch(
            "SELECT starts, ends, quantity FROM prescription_periods "
            "WHERE prescription_id = $1 ORDER BY period",
            written["id"],
        )
        birth = v.person["birth_date"]
        periods = [(p["starts"], p["ends"], p["quantity"]) for p in spans]
        _, signature = await authority.sign(
            *other, rules.stored_content("MOW", row, birth, periods)
        )
    finally:
        await conn.close()
    await fetch(
        client.city,
        "UPDATE prescriptions SET key_id = $2, signature = $3 WHERE id = $1",
        written["id"],
        key_id,
        signature,
    )
    code = await code_of(client, v, written["id"])
    seen = await client.post("/api/v1/pharmacy/scans", json={"code": code}, headers=PHARMACIST)
    view = seen.json()
    assert view["signature"] == {
        "valid": False,
        "key_id": key_id,
        "signer": view["prescription"]["doctor_name"],
        "reason": "not_the_prescribers_key",
    }
    assert view["refusal"] == "signature_invalid"


async def test_a_revoked_key_is_refused_and_the_doctor_signs_with_a_new_one(client, tmp_path):
    v = await visit(client)
    before = await prescribe(client, v, rx("C08CA01", quantity=10))
    clinic, doctor = v.doctor_ids
    env = {k: val for k, val in os.environ.items() if not k.startswith("IMIAS_")} | {
        "IMIAS_DATA_DIR": str(tmp_path),
        "IMIAS_LOG_LEVEL": "WARNING",
        "IMIAS_DATABASE_URL": client.city,
        "IMIAS_REDIS_URL": "redis://127.0.0.1:1/0",
    }
    args = ["--clinic", str(clinic), "--doctor", str(doctor)]
    cli = [sys.executable, "-m", "imias.cli", "signing-keys", "revoke", *args]
    revoked = await asyncio.to_thread(
        subprocess.run, cli, env=env, capture_output=True, text=True, timeout=120
    )
    assert revoked.returncode == 0 and "revoked" in revoked.stdout, revoked.stderr
    again = await asyncio.to_thread(
        subprocess.run, cli, env=env, capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 1 and "no signing key in use" in again.stderr
    client.app_state.prescriptions.signer._polled -= KEY_SECONDS  # a minute on
    code = await code_of(client, v, before["id"])
    seen = await client.post("/api/v1/pharmacy/scans", json={"code": code}, headers=PHARMACIST)
    view = seen.json()
    assert view["refusal"] == "signature_invalid"
    assert view["signature"]["reason"] == "key_revoked"
    after = await prescribe(client, v, rx("C09AA02", quantity=10))
    keys = await fetch(
        client.city,
        "SELECT id, key_id FROM prescriptions WHERE id = ANY($1::bigint[]) ORDER BY id",
        [before["id"], after["id"]],
    )
    assert keys[0]["key_id"] != keys[1]["key_id"]
    fresh = await code_of(client, v, after["id"])
    ok = await client.post("/api/v1/pharmacy/scans", json={"code": fresh}, headers=PHARMACIST)
    assert ok.json()["signature"]["valid"] is True
