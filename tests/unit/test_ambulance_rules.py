"""The ambulance adapter's pure parts: a call read back from the FHIR Bundle and the HL7
v2 ADT the simulator builds, each bad part refused with its code, the outcome's codes,
whom an active visit is with, and the protocol a call writes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from ehr import DiagnosisIn, VitalIn
from imias.platform.problems import ProblemError
from integrations import hl7
from integrations.ambulance.adt import build_adt, call_of_adt, parse_time, sender
from integrations.ambulance.fhir import call_of_bundle
from integrations.ambulance.model import CallIn, PatientRef
from integrations.ambulance.rules import outcome_of, protocol_of, specialty_for
from integrations.ambulance.simulator import transaction_bundle

MOSCOW = ZoneInfo("Europe/Moscow")
START = datetime(2026, 12, 3, 21, 40, tzinfo=UTC)


def a_call(**changes: object) -> CallIn:
    values: dict[str, object] = {
        "patient": PatientRef(policy="7700000000000042"),
        "call_number": "103-2026-000451",
        "station_id": 7,
        "started_at": START,
        "ended_at": START + timedelta(minutes=47),
        "outcome": "home",
        "reason": "Головная боль | давление",
        "findings": ["Сознание ясное, кожа обычной окраски"],
        "treatment": ["Каптоприл 25 мг под язык"],
        "diagnoses": [DiagnosisIn(code="I10", rank="primary", note="Гипертензия")],
        "vitals": [
            VitalIn(code="8480-6", value=182, unit="mm[Hg]", effective_at=START),
            VitalIn(code="8867-4", value=96, unit="/min", effective_at=START),
        ],
    }
    values.update(changes)
    return CallIn(**values)  # type: ignore[arg-type]


def test_a_call_survives_the_adt_it_is_sent_as():
    call = a_call()
    message = hl7.parse(build_adt(sender_id="dispatch-hl7", control_id="C1", call=call))
    assert sender(message) == "dispatch-hl7"
    back = call_of_adt(message, MOSCOW)
    assert back.patient == call.patient and back.call_number == call.call_number
    assert (back.station_id, back.outcome) == (7, "home")
    assert (back.started_at, back.ended_at) == (call.started_at, call.ended_at)
    assert back.reason == call.reason  # the | escaped and back
    assert [(v.code, v.value, v.unit) for v in back.vitals] == [
        ("8480-6", 182, "mm[Hg]"),
        ("8867-4", 96, "/min"),
    ]
    assert [d.code for d in back.diagnoses] == ["I10"] and back.diagnoses[0].rank == "primary"
    assert back.treatment == call.treatment
    assert any("Сознание ясное" in f for f in back.findings)


def test_an_adt_names_a_patient_without_a_policy_by_name_and_birth_date():
    who = PatientRef(family="Иванова", given="Мария", birth_date=date(1961, 4, 2))
    message = hl7.parse(build_adt(sender_id="d", control_id="C2", call=a_call(patient=who)))
    assert call_of_adt(message, MOSCOW).patient == who


@pytest.mark.parametrize(
    ("old", "new", "code"),
    [
        (b"|E|", b"|I|", "not_emergency"),
        (b"|01|||7|", b"||||7|", "outcome_required"),
        (b"|01|||7|", b"|99|||7|", "unknown_outcome"),
        (b"|01|||7|", b"|01||||", "station_required"),
        (b"103-2026-000451", b"", "call_number_required"),
        (b"7700000000000042^^^OMS^HC", b"", "patient_unidentified"),
        (b"8867-4^8867-4^LN||96", b"8867-4^8867-4^LN||fast", "bad_observation"),
        (b"ADT^A03", b"ADT^A01", "unsupported_message"),
    ],
)
def test_a_bad_adt_is_refused_with_its_code(old, new, code):
    raw = build_adt(sender_id="d", control_id="C3", call=a_call())
    assert old in raw
    with pytest.raises(ProblemError) as refused:
        call_of_adt(hl7.parse(raw.replace(old, new, 1)), MOSCOW)
    assert refused.value.code == code


def test_an_hl7_time_without_an_offset_is_the_citys_wall_time():
    assert parse_time("202612040130", MOSCOW, "x") == datetime(2026, 12, 3, 22, 30, tzinfo=UTC)
    assert parse_time("20261204013000+0300", MOSCOW, "x") == datetime(
        2026, 12, 3, 22, 30, tzinfo=UTC
    )


def test_a_call_survives_the_fhir_transaction_it_is_sent_as():
    call = a_call()
    back, kinds = call_of_bundle(json.dumps(transaction_bundle(call)).encode())
    assert kinds[:2] == ["Patient", "Encounter"] and "Finding" in kinds
    assert back.patient == call.patient and back.outcome == "home"
    assert (back.call_number, back.station_id) == (call.call_number, 7)
    assert [v.code for v in back.vitals] == ["8480-6", "8867-4"]
    assert [d.code for d in back.diagnoses] == ["I10"]
    assert back.treatment == call.treatment and back.reason == call.reason


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda b: b.update(type="batch"), "not_a_transaction"),
        (lambda b: b["entry"].pop(0), "patient_required"),
        (lambda b: b["entry"].pop(1), "encounter_required"),
        (lambda b: b["entry"][1]["resource"].update({"class": {"code": "AMB"}}), "not_emergency"),
        (lambda b: b["entry"][1]["resource"].pop("period"), "period_required"),
        (lambda b: b["entry"][1]["resource"]["period"].update(end="yesterday"), "invalid_date"),
        (lambda b: b["entry"][1]["resource"].pop("hospitalization"), "outcome_required"),
        (lambda b: b["entry"][1]["resource"].pop("serviceProvider"), "station_required"),
        (lambda b: b["entry"][1]["resource"].pop("identifier"), "call_number_required"),
        (lambda b: b["entry"][0]["resource"].pop("identifier"), "patient_unidentified"),
        (lambda b: b["entry"].append({"resource": {"resourceType": "Claim"},
                                      "request": {"method": "POST"}}), "unsupported_resource"),
    ],
)  # fmt: skip
def test_a_bad_bundle_is_refused_with_its_code(change, code):
    bundle = transaction_bundle(a_call())
    change(bundle)
    with pytest.raises(ProblemError) as refused:
        call_of_bundle(json.dumps(bundle).encode())
    assert refused.value.code == code


def test_what_is_not_json_or_not_a_bundle_is_a_400():
    for body, code in ((b"{", "invalid_json"), (b'{"resourceType": "Patient"}', "not_a_bundle")):
        with pytest.raises(ProblemError) as refused:
            call_of_bundle(body)
        assert (refused.value.status, refused.value.code) == (400, code)


def test_the_outcomes_codes():
    assert outcome_of("urn:imias:ambulance-outcome", "refused") == "refused"
    disposition = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
    assert outcome_of(disposition, "home") == "home"
    assert outcome_of(disposition, "hosp") == "hospital"
    assert outcome_of(disposition, "aadvice") == "refused"
    assert outcome_of(disposition, "exp") is None
    assert outcome_of("urn:other", "home") is None


def test_a_child_is_seen_by_the_paediatrician_until_the_eighteenth_birthday():
    born = date(2008, 12, 4)
    assert specialty_for(born, date(2026, 12, 3)) == "paediatrician"
    assert specialty_for(born, date(2026, 12, 4)) == "therapist"


def test_the_protocol_tells_the_call_in_the_visits_sections():
    protocol = protocol_of(a_call(), "Подстанция № 7", MOSCOW)
    assert protocol.complaints == "Головная боль | давление"
    assert "103-2026-000451" in protocol.history and "04.12.2026 00:40" in protocol.history
    assert "8480-6: 182 mm[Hg]" in protocol.examination
    assert "I10" in protocol.conclusion and "Оставлен дома" in protocol.conclusion
    assert protocol.recommendations == "Каптоприл 25 мг под язык"
