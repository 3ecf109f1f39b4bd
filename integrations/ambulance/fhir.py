"""The ambulance's FHIR R4: the emergency summary out, as an International Patient
Summary (a ``document`` Bundle: the Composition first, then the Patient, the attached
clinic and every entry its sections name), and the call in, as a ``transaction``
Bundle read into :class:`~integrations.ambulance.model.CallIn` with a stable problem
code for each bad part. No I/O.

The record's resources are mapped by the record's own mapping (``ehr.fhir_mapping``):
a restricted entry the crew may not see keeps its place with no content, as everywhere.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import msgspec
from msgspec import field

from ehr import CardSummary, DiagnosisIn, EncounterBrief, VitalIn, codes
from ehr import fhir_mapping as mapping
from ehr import fhir_resources as r
from imias.platform.problems import ProblemError
from integrations.ambulance.model import (
    CALL_SYSTEM,
    POLICY_SYSTEM,
    STATION_SYSTEM,
    CallIn,
    Outcome,
    PatientRef,
    Recorded,
)
from integrations.ambulance.rules import outcome_of

LOINC = codes.LOINC_SYSTEM
ICD10 = codes.ICD10_SYSTEM
IPS_PROFILE = "http://hl7.org/fhir/uv/ips/StructureDefinition/Composition-uv-ips"
XHTML = "http://www.w3.org/1999/xhtml"
#: The IPS sections: key, LOINC code, display, title (ru, en).
SECTIONS: dict[str, tuple[str, str, str, str]] = {
    "allergies": ("48765-2", "Allergies and adverse reactions", "Аллергии", "Allergies"),
    "problems": ("11450-4", "Problem list", "Активные заболевания", "Active problems"),
    "medications": ("10160-0", "History of Medication use", "Лекарства", "Medications"),
    "results": ("30954-2", "Relevant diagnostic tests/laboratory data", "Результаты", "Results"),
    "immunizations": ("11369-6", "History of Immunization", "Прививки", "Immunizations"),
    "encounters": ("46240-8", "History of encounters", "Последние визиты", "Recent visits"),
}
EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"


# -- the summary's own resources (the record has no Struct for these) ----------------


class Narrative(r.Element):
    status: str
    div: str


class CompositionAttester(r.Element):
    mode: str
    time: str | None = None
    party: r.Reference | None = None


class Section(r.Element):
    title: str
    code: r.CodeableConcept
    text: Narrative
    entry: list[r.Reference] | None = None
    empty_reason: r.CodeableConcept | None = None


class Composition(r.Resource, tag="Composition"):
    status: str
    type: r.CodeableConcept
    subject: r.Reference
    date: str
    author: list[r.Reference]
    title: str
    confidentiality: str | None = None
    section: list[Section] = field(default_factory=list)


class MedicationStatement(r.Resource, tag="MedicationStatement"):
    status: str
    medication_codeable_concept: r.CodeableConcept
    subject: r.Reference


class DocumentBundle(r.Resource, tag="Bundle"):
    identifier: r.Identifier
    type: str
    timestamp: str
    entry: list[r.BundleEntry]


class EntryResponse(r.Element):
    status: str
    location: str | None = None
    etag: str | None = None


class ResponseEntry(r.Element):
    response: EntryResponse
    full_url: str | None = None


class ResponseBundle(r.Resource, tag="Bundle"):
    type: str
    entry: list[ResponseEntry]


def _div(lines: Sequence[str]) -> Narrative:
    if not lines:
        body = "<p>—</p>"
    else:
        body = "<ul>" + "".join(f"<li>{html.escape(x)}</li>" for x in lines) + "</ul>"
    return Narrative(status="generated", div=f'<div xmlns="{XHTML}">{body}</div>')


def _urn() -> str:
    return f"urn:uuid:{uuid.uuid4()}"


def _visit(v: EncounterBrief, patient_id: int) -> r.Encounter:
    code, display = mapping.ENCOUNTER_CLASS[v.kind]
    return r.Encounter(
        id=str(v.id),
        meta=mapping.meta(v.version, v.restricted),
        status=v.status,
        class_=r.Coding(system=mapping.ACT_CODE, code=code, display=display),
        service_type=(
            mapping.concept(mapping.SPECIALTY_SYSTEM, v.specialty) if v.specialty else None
        ),
        subject=mapping.ref("Patient", patient_id),
        period=r.Period(start=mapping.instant(v.started_at)),
        service_provider=r.Reference(display=v.clinic_name),
    )


def summary_bundle(
    card: CardSummary,
    patient: r.Patient,
    clinic: r.Organization | None,
    *,
    base: str,
    now: datetime,
    lang: str,
) -> DocumentBundle:
    """The International Patient Summary of ``card``: a document Bundle."""
    pid = card.patient.id
    entries: list[r.BundleEntry] = []
    sections: list[Section] = []

    def add(key: str, resources: Sequence[tuple[r.Resource, str, str]]) -> None:
        """A section of (resource, its fullUrl, its line of narrative)."""
        loinc, display, title_ru, title_en = SECTIONS[key]
        refs = []
        for resource, full_url, _ in resources:
            entries.append(r.BundleEntry(full_url=full_url, resource=resource))
            refs.append(r.Reference(reference=full_url))
        sections.append(
            Section(
                title=title_ru if lang == "ru" else title_en,
                code=mapping.concept(LOINC, loinc, display),
                text=_div([line for _, _, line in resources]),
                entry=refs or None,
                empty_reason=(
                    mapping.concept(EMPTY_REASON, "unavailable", "Unavailable")
                    if not refs
                    else None
                ),
            )
        )

    add(
        "allergies",
        [
            (mapping.allergy(a, lang), f"{base}/AllergyIntolerance/{a.id}",
             f"{a.substance_name}" + (f": {a.reaction}" if a.reaction else ""))
            for a in card.allergies
        ],
    )  # fmt: skip
    add(
        "problems",
        [
            (mapping.condition(c, lang), f"{base}/Condition/{c.id}",
             f"{c.code or ''} {c.title}".strip())
            for c in card.problems
        ],
    )  # fmt: skip
    medications = []
    for line in card.medications:
        key = _urn()
        statement = MedicationStatement(
            id=key.removeprefix("urn:uuid:"),
            status="active",
            medication_codeable_concept=r.CodeableConcept(text=line),
            subject=mapping.ref("Patient", pid),
        )
        medications.append((statement, key, line))
    add("medications", medications)
    results = []
    for t in card.results:
        o = t.latest
        shown = "—" if o.value is None else f"{o.value:g} {o.unit or ''}".strip()
        results.append(
            (mapping.observation(o, lang), f"{base}/Observation/{o.id}",
             f"{o.name or mapping.RESTRICTED[lang]}: {shown}")
        )  # fmt: skip
    add("results", results)
    add(
        "immunizations",
        [
            (mapping.immunization(i, lang), f"{base}/Immunization/{i.id}",
             f"{i.vaccine_name}, {i.occurred_on.isoformat()}")
            for i in card.immunizations
        ],
    )  # fmt: skip
    add(
        "encounters",
        [
            (_visit(v, pid), f"{base}/Encounter/{v.id}",
             f"{v.started_at:%d.%m.%Y} {v.clinic_name}: {', '.join(v.diagnoses) or '—'}")
            for v in card.visits
        ],
    )  # fmt: skip
    key = _urn()
    composition = Composition(
        id=key.removeprefix("urn:uuid:"),
        status="final",
        type=mapping.concept(LOINC, "60591-5", "Patient summary Document"),
        subject=mapping.ref("Patient", pid),
        date=now.isoformat(),
        author=[r.Reference(display="IMIAS")],
        title=(
            "Экстренная сводка о пациенте (IPS)"
            if lang == "ru"
            else "International Patient Summary (emergency)"
        ),
        confidentiality="R" if card.restricted_hidden else "N",
        section=sections,
    )
    head = [
        r.BundleEntry(full_url=key, resource=composition),
        r.BundleEntry(full_url=f"{base}/Patient/{pid}", resource=patient),
    ]
    if clinic is not None:
        head.append(r.BundleEntry(full_url=f"{base}/Organization/{clinic.id}", resource=clinic))
    return DocumentBundle(
        identifier=r.Identifier(system="urn:ietf:rfc:3986", value=_urn()),
        type="document",
        timestamp=now.isoformat(),
        entry=head + entries,
    )


# -- the call in: a transaction Bundle ----------------------------------------------


def bad(code: str, detail: str, status: int = 422) -> ProblemError:
    return ProblemError(status, code, detail)


def _list(value: Any, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise bad("invalid_bundle", f"{where} is a list.")
    return value


def _dict(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise bad("invalid_bundle", f"{where} is an object.")
    return value


def _text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


def _codings(concept: Any) -> list[dict[str, Any]]:
    if not isinstance(concept, dict):
        return []
    return [c for c in _list(concept.get("coding"), "coding") if isinstance(c, dict)]


def _words(concept: Any) -> str:
    """A CodeableConcept in words: its text, else its first coding's display or code."""
    if not isinstance(concept, dict):
        return ""
    text = _text(concept.get("text"))
    if text:
        return text
    for c in _codings(concept):
        shown = _text(c.get("display")) or _text(c.get("code"))
        if shown:
            return shown
    return ""


def _instant(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise bad("period_required", f"{where} is required (a dateTime with its zone).")
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise bad("invalid_date", f"{where} is not a dateTime: {value!r}.") from None
    if at.tzinfo is None:
        raise bad("invalid_date", f"{where} needs its time zone: {value!r}.")
    return at


def _patient(resource: dict[str, Any]) -> PatientRef:
    for ident in _list(resource.get("identifier"), "Patient.identifier"):
        value = _text(_dict(ident, "Patient.identifier").get("value"))
        if ident.get("system") in (POLICY_SYSTEM, None) and len(value) == 16 and value.isdigit():
            return PatientRef(policy=value)
    names = _list(resource.get("name"), "Patient.name")
    name = _dict(names[0], "Patient.name") if names else {}
    family = _text(name.get("family"))
    given = [g for g in _list(name.get("given"), "Patient.name.given") if isinstance(g, str)]
    birth = resource.get("birthDate")
    if family and isinstance(birth, str):
        try:
            born = date.fromisoformat(birth)
        except ValueError:
            raise bad("invalid_date", f"Patient.birthDate is not a date: {birth!r}.") from None
        return PatientRef(family=family, given=given[0] if given else None, birth_date=born)
    raise bad(
        "patient_unidentified",
        f"The Patient names no policy number ({POLICY_SYSTEM}, 16 digits) and no family "
        "name with a birth date.",
    )


def _outcome(encounter: dict[str, Any]) -> Outcome:
    hospitalization = encounter.get("hospitalization")
    disposition = (
        hospitalization.get("dischargeDisposition") if isinstance(hospitalization, dict) else None
    )
    codings = _codings(disposition)
    if not codings:
        raise bad(
            "outcome_required",
            "Encounter.hospitalization.dischargeDisposition (home, hospital or refused) is "
            "required.",
        )
    for c in codings:
        found = outcome_of(c.get("system"), _text(c.get("code")))
        if found is not None:
            return found
    raise bad("unknown_outcome", f"No known outcome in {codings!r}.")


def _station(encounter: dict[str, Any]) -> int:
    provider = encounter.get("serviceProvider")
    ident = provider.get("identifier") if isinstance(provider, dict) else None
    value = _text(ident.get("value")) if isinstance(ident, dict) else ""
    if not isinstance(ident, dict) or ident.get("system") != STATION_SYSTEM or not value:
        raise bad(
            "station_required",
            f"Encounter.serviceProvider.identifier names the crew's station ({STATION_SYSTEM}).",
        )
    if not value.isdigit() or not 1 <= int(value) < 2**63:
        raise bad("unknown_station", f"There is no station {value!r}.")
    return int(value)


def _call_number(encounter: dict[str, Any]) -> str:
    for ident in _list(encounter.get("identifier"), "Encounter.identifier"):
        if isinstance(ident, dict) and ident.get("system") in (CALL_SYSTEM, None):
            value = _text(ident.get("value"))
            if 1 <= len(value) <= 64:
                return value
    raise bad("call_number_required", f"Encounter.identifier ({CALL_SYSTEM}) is the call number.")


def _vital(resource: dict[str, Any], n: int) -> VitalIn | str:
    """A measurement by LOINC (valueQuantity), or a finding in words (valueString)."""
    where = f"entry[{n}] Observation"
    codings = _codings(resource.get("code"))
    if isinstance(resource.get("valueString"), str):
        return f"{_words(resource.get('code')) or 'Находка'}: {resource['valueString'].strip()}"
    loinc = next((_text(c.get("code")) for c in codings if c.get("system") == LOINC), "")
    if not loinc:
        raise bad("bad_observation", f"{where}: code needs a LOINC coding ({LOINC}).")
    q = resource.get("valueQuantity")
    if not isinstance(q, dict) or not isinstance(q.get("value"), int | float):
        raise bad("bad_observation", f"{where}: valueQuantity.value is required.")
    unit = _text(q.get("code")) or _text(q.get("unit")) or None
    effective = resource.get("effectiveDateTime")
    at = _instant(effective, f"{where}.effectiveDateTime") if effective is not None else None
    try:
        return VitalIn(code=loinc, value=float(q["value"]), unit=unit, effective_at=at)
    except (msgspec.ValidationError, ValueError) as exc:
        raise bad("bad_observation", f"{where}: {exc}") from None


def _diagnosis(resource: dict[str, Any], n: int, primary: bool) -> DiagnosisIn:
    code = next(
        (_text(c.get("code")) for c in _codings(resource.get("code")) if c.get("system") == ICD10),
        "",
    )
    if not code:
        raise bad("bad_condition", f"entry[{n}] Condition: code needs an ICD-10 coding ({ICD10}).")
    note = _words(resource.get("code")) or None
    try:
        return DiagnosisIn(
            code=code, rank="primary" if primary else "secondary", note=note[:500] if note else None
        )
    except (msgspec.ValidationError, ValueError) as exc:
        raise bad("bad_condition", f"entry[{n}] Condition: {exc}") from None


def _treatment(resource: dict[str, Any]) -> str:
    if resource["resourceType"] == "Procedure":
        return _words(resource.get("code"))
    medication = _words(resource.get("medicationCodeableConcept"))
    dosage = resource.get("dosage")
    dose = _text(dosage.get("text")) if isinstance(dosage, dict) else ""
    return f"{medication} {dose}".strip()


KNOWN = frozenset(
    {"Patient", "Encounter", "Observation", "Condition", "Procedure", "MedicationAdministration"}
)


def call_of_bundle(body: bytes) -> tuple[CallIn, list[str]]:
    """The call a transaction Bundle reports, and each entry's resource type (in order,
    for the transaction-response); 4xx problems with stable codes otherwise."""
    try:
        bundle = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise bad("invalid_json", f"The body is not JSON: {exc}", 400) from None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise bad("not_a_bundle", "The body is a FHIR Bundle.", 400)
    if bundle.get("type") != "transaction":
        raise bad("not_a_transaction", "The Bundle's type is transaction.")
    kinds: list[str] = []
    patients: list[dict[str, Any]] = []
    encounters: list[dict[str, Any]] = []
    findings: list[str] = []
    treatment: list[str] = []
    vitals: list[VitalIn] = []
    diagnoses: list[DiagnosisIn] = []
    entries = _list(bundle.get("entry"), "Bundle.entry")
    for n, entry in enumerate(entries):
        resource = _dict(_dict(entry, f"entry[{n}]").get("resource"), f"entry[{n}].resource")
        kind = resource.get("resourceType")
        if kind not in KNOWN:
            raise bad("unsupported_resource", f"entry[{n}]: a call holds no {kind!r}.")
        request = entry.get("request")
        if not isinstance(request, dict) or request.get("method") not in ("POST", "PUT"):
            raise bad("invalid_bundle", f"entry[{n}].request.method is POST (or PUT).")
        kinds.append(str(kind))
        if kind == "Patient":
            patients.append(resource)
        elif kind == "Encounter":
            encounters.append(resource)
        elif kind == "Observation":
            found = _vital(resource, n)
            if isinstance(found, str):
                findings.append(found)
                kinds[-1] = "Finding"  # kept in the protocol's text
            else:
                vitals.append(found)
        elif kind == "Condition":
            diagnoses.append(_diagnosis(resource, n, primary=not diagnoses))
        else:
            line = _treatment(resource)
            if line:
                treatment.append(line)
    if len(patients) != 1:
        raise bad("patient_required", "A call's Bundle holds one Patient.")
    if len(encounters) != 1:
        raise bad("encounter_required", "A call's Bundle holds one Encounter.")
    encounter = encounters[0]
    klass = encounter.get("class")
    if not isinstance(klass, dict) or klass.get("code") != "EMER":
        raise bad("not_emergency", "The Encounter's class is EMER (v3-ActCode).")
    period = encounter.get("period")
    if not isinstance(period, dict):
        raise bad("period_required", "Encounter.period (start and end) is required.")
    started = _instant(period.get("start"), "Encounter.period.start")
    ended = _instant(period.get("end"), "Encounter.period.end")
    reasons = [_words(c) for c in _list(encounter.get("reasonCode"), "Encounter.reasonCode")]
    text = encounter.get("text")
    if isinstance(text, dict) and isinstance(text.get("div"), str):
        findings.insert(0, _plain(text["div"]))
    call = CallIn(
        patient=_patient(patients[0]),
        call_number=_call_number(encounter),
        station_id=_station(encounter),
        started_at=started,
        ended_at=ended,
        outcome=_outcome(encounter),
        reason="; ".join(x for x in reasons if x),
        findings=[f for f in findings if f],
        treatment=treatment,
        diagnoses=diagnoses,
        vitals=[v if v.effective_at else msgspec.structs.replace(v, effective_at=started)
                for v in vitals],
    )  # fmt: skip
    return call, kinds


def _plain(div: str) -> str:
    """A narrative's text without its markup."""
    return html.unescape(re.sub(r"<[^>]+>", " ", div)).strip()


def response_bundle(kinds: Sequence[str], recorded: Recorded, base: str) -> ResponseBundle:
    """The transaction-response: an entry per entry of the request, in its order (the
    Patient found, the resources made with their locations; a finding or a treatment
    kept as the protocol's text: 200 with no location)."""
    conditions = iter(recorded.condition_ids)
    observations = iter(recorded.observation_ids)
    entries = []
    for kind in kinds:
        location: str | None = None
        if kind == "Patient":
            location = f"Patient/{recorded.patient_id}"
        elif kind == "Encounter":
            location = f"Encounter/{recorded.encounter_id}"
        elif kind == "Condition":
            location = f"Condition/{next(conditions)}"
        elif kind == "Observation":
            location = f"Observation/{next(observations)}"
        if location is None:
            entries.append(ResponseEntry(response=EntryResponse(status="200 OK")))
        elif kind == "Patient":
            entries.append(
                ResponseEntry(
                    full_url=f"{base}/{location}",
                    response=EntryResponse(status="200 OK", location=location),
                )
            )
        else:
            entries.append(
                ResponseEntry(
                    full_url=f"{base}/{location}",
                    response=EntryResponse(
                        status="201 Created", location=f"{location}/_history/1", etag='W/"1"'
                    ),
                )
            )
    return ResponseBundle(type="transaction-response", entry=entries)
