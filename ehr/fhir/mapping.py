"""The record's Structs as FHIR R4 resources (out), and FHIR bodies as the record's
commands (in). No I/O.

A restricted entry the reader may not see keeps its place (it exists) but not its
content: a Condition's code is only the text "Restricted entry", an Observation has no
value (``dataAbsentReason`` masked), a visit's protocol no text; each restricted entry
carries the security label R (restricted) of HL7's confidentiality codes."""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any

import msgspec

from ehr import codes
from ehr import repository as repo
from ehr.fhir import resources as r
from ehr.model import (
    Allergy,
    AllergyIn,
    Condition,
    DiagnosisIn,
    Encounter,
    Immunization,
    ImmunizationIn,
    Observation,
    VitalIn,
)
from ehr.templates import SECTION_TITLES, SECTIONS
from imias.platform.problems import ProblemError

TERMINOLOGY = "http://terminology.hl7.org/CodeSystem/"
CONDITION_CLINICAL = TERMINOLOGY + "condition-clinical"
CONDITION_VERIFICATION = TERMINOLOGY + "condition-ver-status"
CONDITION_CATEGORY = TERMINOLOGY + "condition-category"
OBSERVATION_CATEGORY = TERMINOLOGY + "observation-category"
INTERPRETATION = TERMINOLOGY + "v3-ObservationInterpretation"
ALLERGY_CLINICAL = TERMINOLOGY + "allergyintolerance-clinical"
ALLERGY_VERIFICATION = TERMINOLOGY + "allergyintolerance-verification"
ACT_CODE = TERMINOLOGY + "v3-ActCode"
CONFIDENTIALITY = TERMINOLOGY + "v3-Confidentiality"
DATA_ABSENT = TERMINOLOGY + "data-absent-reason"
UCUM = "http://unitsofmeasure.org"
POLICY_SYSTEM = "urn:imias:policy"
SPECIALTY_SYSTEM = "urn:imias:specialty"
CLINIC_KIND_SYSTEM = "urn:imias:clinic-kind"
OUTPATIENT_NOTE = r.Coding(system=codes.LOINC_SYSTEM, code="34108-1", display="Outpatient Note")
RESTRICTED = {"ru": "Запись ограниченного доступа", "en": "Restricted entry"}
ENCOUNTER_CLASS = {
    "outpatient": ("AMB", "ambulatory"),
    "home": ("HH", "home health"),
    "ambulance": ("EMER", "emergency"),
}


def instant(at: datetime | None) -> str | None:
    return None if at is None else at.isoformat()


def day(d: date | None) -> str | None:
    return None if d is None else d.isoformat()


def ref(kind: str, key: object, display: str | None = None) -> r.Reference:
    return r.Reference(reference=f"{kind}/{key}", display=display)


def concept(system: str, code: str, display: str | None = None) -> r.CodeableConcept:
    return r.CodeableConcept(coding=[r.Coding(system=system, code=code, display=display)])


def meta(version: int, restricted: bool = False) -> r.Meta:
    label = [r.Coding(system=CONFIDENTIALITY, code="R", display="restricted")]
    return r.Meta(version_id=str(version), security=label if restricted else None)


def practitioner_id(clinic_id: int, doctor_id: int) -> str:
    """A doctor's FHIR id: doctors are numbered within their clinic."""
    return f"{clinic_id}-{doctor_id}"


# -- the registry ------------------------------------------------------------------


def patient(p: repo.PatientEntry) -> r.Patient:
    given = [p.given_name] + ([p.patronymic] if p.patronymic else [])
    return r.Patient(
        id=str(p.id),
        meta=meta(1),
        identifier=[r.Identifier(system=POLICY_SYSTEM, value=p.policy_number)],
        active=True,
        name=[
            r.HumanName(text=" ".join([p.family_name, *given]), family=p.family_name, given=given)
        ],
        telecom=[r.ContactPoint(system="phone", value=p.phone)] if p.phone else None,
        gender="female" if p.sex == "F" else "male",
        birth_date=day(p.birth_date),
        managing_organization=(
            ref("Organization", p.attached_clinic_id) if p.attached_clinic_id else None
        ),
    )


def practitioner(d: repo.PractitionerEntry, lang: str) -> r.Practitioner:
    given = [d.given_name] + ([d.patronymic] if d.patronymic else [])
    title = d.specialty_ru if lang == "ru" else d.specialty_en
    return r.Practitioner(
        id=practitioner_id(d.clinic_id, d.id),
        meta=meta(1),
        active=d.active,
        name=[
            r.HumanName(text=" ".join([d.family_name, *given]), family=d.family_name, given=given)
        ],
        qualification=[r.Qualification(code=concept(SPECIALTY_SYSTEM, d.specialty, title))],
    )


def organization(c: repo.OrganizationEntry) -> r.Organization:
    return r.Organization(
        id=str(c.id),
        meta=meta(1),
        active=True,
        type=[concept(CLINIC_KIND_SYSTEM, c.kind)],
        name=c.name,
        address=[r.Address(text=c.address, district=c.district)],
    )


# -- the record ----------------------------------------------------------------------


def encounter(e: Encounter, lang: str) -> r.Encounter:
    code, display = ENCOUNTER_CLASS[e.kind]
    return r.Encounter(
        id=str(e.id),
        meta=meta(e.version, e.restricted),
        status=e.status,
        class_=r.Coding(system=ACT_CODE, code=code, display=display),
        service_type=(concept(SPECIALTY_SYSTEM, e.specialty) if e.specialty is not None else None),
        subject=ref("Patient", e.patient_id),
        participant=(
            [
                r.EncounterParticipant(
                    individual=ref(
                        "Practitioner", practitioner_id(e.clinic_id, e.doctor_id), e.doctor_name
                    )
                )
            ]
            if e.doctor_id is not None
            else None
        ),
        period=r.Period(start=instant(e.started_at), end=instant(e.signed_at)),
        diagnosis=[
            r.EncounterDiagnosis(
                condition=ref("Condition", c.id), rank=1 if c.rank == "primary" else 2
            )
            for c in e.diagnoses
        ]
        or None,
        service_provider=ref("Organization", e.clinic_id, e.clinic_name),
    )


def protocol_text(e: Encounter, lang: str) -> str:
    assert e.protocol is not None
    parts = []
    for section in SECTIONS:
        text = getattr(e.protocol, section)
        if text:
            parts.append(f"{SECTION_TITLES[section][0 if lang == 'ru' else 1]}:\n{text}")
    return "\n\n".join(parts)


def document(e: Encounter, lang: str) -> r.DocumentReference:
    """The signed visit's protocol as a document of its encounter (the same id)."""
    if e.protocol is None or e.hidden:
        attachment = r.Attachment(content_type="text/plain", title=RESTRICTED[lang])
    else:
        data = base64.b64encode(protocol_text(e, lang).encode("utf-8")).decode("ascii")
        attachment = r.Attachment(
            content_type="text/plain; charset=utf-8",
            language=lang,
            data=data,
            title=f"{e.clinic_name}: {e.doctor_name or ''}".strip(": "),
        )
    author = (
        [ref("Practitioner", practitioner_id(e.clinic_id, e.doctor_id), e.doctor_name)]
        if e.doctor_id is not None
        else None
    )
    return r.DocumentReference(
        id=str(e.id),
        meta=meta(e.version, e.restricted),
        status="entered-in-error" if e.status == "entered-in-error" else "current",
        doc_status="final" if e.version <= 1 else "amended",
        type=r.CodeableConcept(coding=[OUTPATIENT_NOTE]),
        subject=ref("Patient", e.patient_id),
        date=instant(e.signed_at),
        author=author,
        security_label=[concept(CONFIDENTIALITY, "R", "restricted")] if e.restricted else None,
        content=[r.DocumentContent(attachment=attachment)],
        context=r.DocumentContext(
            encounter=[ref("Encounter", e.id)],
            period=r.Period(start=instant(e.started_at), end=instant(e.signed_at)),
        ),
    )


def condition(c: Condition, lang: str) -> r.Condition:
    if c.hidden or c.code is None:
        code = r.CodeableConcept(text=RESTRICTED[lang])
    else:
        code = r.CodeableConcept(
            coding=[r.Coding(system=codes.ICD10_SYSTEM, code=c.code, display=c.title)],
            text=c.title,
        )
    in_error = c.verification_status == "entered-in-error"
    return r.Condition(
        id=str(c.id),
        meta=meta(c.version, c.restricted),
        # con-5: an entry in error has no clinical status.
        clinical_status=None if in_error else concept(CONDITION_CLINICAL, c.clinical_status),
        verification_status=concept(CONDITION_VERIFICATION, c.verification_status),
        category=[concept(CONDITION_CATEGORY, c.category)],
        code=code,
        subject=ref("Patient", c.patient_id),
        encounter=ref("Encounter", c.encounter_id) if c.encounter_id else None,
        onset_date_time=day(c.onset),
        abatement_date_time=day(c.abatement),
        recorded_date=instant(c.recorded_at),
        note=[r.Annotation(text=c.note)] if c.note else None,
    )


def _quantity(value: float | None, unit: str | None) -> r.Quantity | None:
    if value is None:
        return None
    return r.Quantity(value=value, unit=unit, system=UCUM if unit else None, code=unit)


def observation(o: Observation, lang: str) -> r.Observation:
    masked = o.hidden or o.code is None
    if masked:
        code = r.CodeableConcept(text=RESTRICTED[lang])
    else:
        assert o.code is not None
        code = r.CodeableConcept(
            coding=[r.Coding(system=codes.LOINC_SYSTEM, code=o.code, display=o.name)], text=o.name
        )
    ranges = None
    if o.low is not None or o.high is not None:
        ranges = [r.ReferenceRange(low=_quantity(o.low, o.unit), high=_quantity(o.high, o.unit))]
    return r.Observation(
        id=str(o.id),
        meta=meta(o.version, masked),
        status=o.status,
        category=[concept(OBSERVATION_CATEGORY, o.category)],
        code=code,
        subject=ref("Patient", o.patient_id),
        encounter=ref("Encounter", o.encounter_id) if o.encounter_id else None,
        effective_date_time=instant(o.effective_at),
        value_quantity=_quantity(o.value, o.unit),
        data_absent_reason=concept(DATA_ABSENT, "masked") if o.value is None else None,
        interpretation=([concept(INTERPRETATION, o.interpretation)] if o.interpretation else None),
        reference_range=ranges,
    )


def allergy(a: Allergy, lang: str) -> r.AllergyIntolerance:
    in_error = a.verification_status == "entered-in-error"
    reaction = None
    if a.reaction:
        reaction = [
            r.AllergyReaction(
                manifestation=[r.CodeableConcept(text=a.reaction)], severity=a.severity
            )
        ]
    return r.AllergyIntolerance(
        id=str(a.id),
        meta=meta(a.version),
        # ait-2: an entry in error has no clinical status.
        clinical_status=None if in_error else concept(ALLERGY_CLINICAL, a.clinical_status),
        verification_status=concept(ALLERGY_VERIFICATION, a.verification_status),
        category=[a.category],
        criticality=a.criticality,
        code=r.CodeableConcept(
            coding=[
                r.Coding(system=a.substance_system, code=a.substance, display=a.substance_name)
            ],
            text=a.substance_name,
        ),
        patient=ref("Patient", a.patient_id),
        encounter=ref("Encounter", a.encounter_id) if a.encounter_id else None,
        onset_date_time=day(a.onset),
        recorded_date=instant(a.recorded_at),
        reaction=reaction,
    )


def immunization(i: Immunization, lang: str) -> r.Immunization:
    coding = [r.Coding(system=codes.VACCINE_SYSTEM, code=i.vaccine, display=i.vaccine_name)]
    if i.atc:
        coding.append(r.Coding(system=codes.ATC_SYSTEM, code=i.atc))
    return r.Immunization(
        id=str(i.id),
        meta=meta(i.version),
        status=i.status,
        vaccine_code=r.CodeableConcept(coding=coding, text=i.vaccine_name),
        patient=ref("Patient", i.patient_id),
        encounter=ref("Encounter", i.encounter_id) if i.encounter_id else None,
        occurrence_date_time=day(i.occurred_on),
        recorded=instant(i.recorded_at),
        lot_number=i.lot,
        protocol_applied=[r.ImmunizationProtocol(dose_number_positive_int=i.dose_number)],
    )


def resource(kind: str, state: msgspec.Struct, lang: str) -> r.Resource:
    """A state of the record as the FHIR resource ``kind``."""
    if kind == "DocumentReference":
        assert isinstance(state, Encounter)
        return document(state, lang)
    if isinstance(state, Encounter):
        return encounter(state, lang)
    if isinstance(state, Condition):
        return condition(state, lang)
    if isinstance(state, Observation):
        return observation(state, lang)
    if isinstance(state, Allergy):
        return allergy(state, lang)
    assert isinstance(state, Immunization)
    return immunization(state, lang)


# -- in: FHIR bodies as the record's commands ----------------------------------------


def unprocessable(code: str, detail: str) -> ProblemError:
    return ProblemError(422, code, detail)


def reference_id(value: r.Reference | None, kind: str, element: str) -> int:
    """The id of a reference ``kind/123`` (a relative reference to this server)."""
    text = value.reference if value is not None else None
    if text is None:
        raise unprocessable("required_element", f"{element} is required.")
    prefix, _, key = text.rpartition("/")
    if prefix.rsplit("/", 1)[-1] != kind or not key.isdigit() or not 1 <= int(key) < 2**63:
        raise unprocessable("invalid_reference", f"{element} must be {kind}/<id>, not {text!r}.")
    return int(key)


def optional_id(value: r.Reference | None, kind: str, element: str) -> int | None:
    return None if value is None else reference_id(value, kind, element)


def coded(value: r.CodeableConcept | None, systems: tuple[str, ...], element: str) -> str:
    """The code of the first coding of one of ``systems`` (or of no system)."""
    for coding in (value.coding if value is not None else None) or ():
        if coding.code and (coding.system is None or coding.system in systems):
            return coding.code
    raise unprocessable("required_element", f"{element} needs a coding of {' or '.join(systems)}.")


def status_of(value: r.CodeableConcept | None, system: str) -> str | None:
    if value is None:
        return None
    return coded(value, (system,), "a status")


def parse_day(text: str | None, element: str) -> date | None:
    """A FHIR date or dateTime as its day (a day is what IMIAS keeps there)."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text[:10])
    except ValueError:
        raise unprocessable("invalid_date", f"{element} is not a date: {text!r}.") from None


def parse_instant(text: str | None, element: str) -> datetime | None:
    if text is None:
        return None
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise unprocessable("invalid_date", f"{element} is not a dateTime: {text!r}.") from None
    if at.tzinfo is None:
        raise unprocessable("invalid_date", f"{element} needs its time zone: {text!r}.")
    return at


def command(kind: type[msgspec.Struct], values: dict[str, Any]) -> Any:
    """The record's command, checked as the JSON API checks it."""
    try:
        return msgspec.convert({k: v for k, v in values.items() if v is not None}, kind)
    except msgspec.ValidationError as exc:
        raise unprocessable("invalid_value", str(exc)) from None


def condition_in(c: r.Condition) -> tuple[int, DiagnosisIn, str, int | None]:
    """(patient, diagnosis, category, encounter) of a new Condition."""
    patient_id = reference_id(c.subject, "Patient", "Condition.subject")
    encounter_id = optional_id(c.encounter, "Encounter", "Condition.encounter")
    code = coded(c.code, (codes.ICD10_SYSTEM,), "Condition.code")
    category = "encounter-diagnosis" if encounter_id else "problem-list-item"
    if c.category:
        category = coded(c.category[0], (CONDITION_CATEGORY,), "Condition.category")
        if category not in ("encounter-diagnosis", "problem-list-item") or len(c.category) > 1:
            raise unprocessable("unsupported_value", "Condition.category is one of ours.")
    if status_of(c.clinical_status, CONDITION_CLINICAL) not in (None, "active"):
        raise unprocessable("unsupported_value", "A new Condition is active.")
    if c.abatement_date_time is not None:
        raise unprocessable("unsupported_value", "A new Condition has no abatement.")
    if c.note is not None and len(c.note) > 1:
        raise unprocessable("unsupported_value", "A Condition keeps one note.")
    diagnosis = command(
        DiagnosisIn,
        {
            "code": code,
            "verification": status_of(c.verification_status, CONDITION_VERIFICATION),
            "course": "chronic" if category == "problem-list-item" else "acute",
            "onset": parse_day(c.onset_date_time, "Condition.onsetDateTime"),
            "note": c.note[0].text if c.note else None,
        },
    )
    return patient_id, diagnosis, category, encounter_id


def observation_in(o: r.Observation) -> tuple[int, VitalIn, int | None]:
    patient_id = reference_id(o.subject, "Patient", "Observation.subject")
    encounter_id = optional_id(o.encounter, "Encounter", "Observation.encounter")
    code = coded(o.code, (codes.LOINC_SYSTEM,), "Observation.code")
    if o.status not in (None, "final"):
        raise unprocessable("unsupported_value", "A new Observation is final.")
    if o.data_absent_reason is not None or o.value_quantity is None:
        raise unprocessable("required_element", "Observation.valueQuantity is required.")
    m = codes.measure(code)
    if m is not None and o.category:
        given = coded(o.category[0], (OBSERVATION_CATEGORY,), "Observation.category")
        if given != m.category or len(o.category) > 1:
            raise unprocessable("unsupported_value", f"{code} is of category {m.category}.")
    q = o.value_quantity
    low = high = None
    if o.reference_range:
        if len(o.reference_range) > 1:
            raise unprocessable("unsupported_value", "An Observation keeps one reference range.")
        low = o.reference_range[0].low.value if o.reference_range[0].low else None
        high = o.reference_range[0].high.value if o.reference_range[0].high else None
    vital = command(
        VitalIn,
        {
            "code": code,
            "value": q.value,
            "unit": q.code or q.unit,
            "low": low,
            "high": high,
            "effective_at": parse_instant(o.effective_date_time, "Observation.effectiveDateTime"),
        },
    )
    if q.value is None:
        raise unprocessable("required_element", "Observation.valueQuantity.value is required.")
    return patient_id, vital, encounter_id


def allergy_in(a: r.AllergyIntolerance) -> tuple[int, AllergyIn]:
    patient_id = reference_id(a.patient, "Patient", "AllergyIntolerance.patient")
    code = coded(a.code, (codes.ATC_SYSTEM, codes.SUBSTANCE_SYSTEM), "AllergyIntolerance.code")
    substance = codes.substances().get(code)
    if substance is not None and a.category and a.category != [substance.category]:
        raise unprocessable("unsupported_value", f"{code} is of category {substance.category}.")
    if status_of(a.clinical_status, ALLERGY_CLINICAL) not in (None, "active"):
        raise unprocessable("unsupported_value", "A new AllergyIntolerance is active.")
    reaction = severity = None
    if a.reaction:
        if len(a.reaction) > 1 or len(a.reaction[0].manifestation) > 1:
            raise unprocessable("unsupported_value", "IMIAS keeps one reaction, in words.")
        m = a.reaction[0].manifestation[0]
        reaction = m.text or next((c.display for c in m.coding or () if c.display), None)
        severity = a.reaction[0].severity
    allergy = command(
        AllergyIn,
        {
            "substance": code,
            "reaction": reaction,
            "severity": severity,
            "criticality": a.criticality,
            "verification": status_of(a.verification_status, ALLERGY_VERIFICATION),
            "onset": parse_day(a.onset_date_time, "AllergyIntolerance.onsetDateTime"),
            "encounter_id": optional_id(a.encounter, "Encounter", "AllergyIntolerance.encounter"),
        },
    )
    return patient_id, allergy


def immunization_in(i: r.Immunization) -> tuple[int, ImmunizationIn]:
    patient_id = reference_id(i.patient, "Patient", "Immunization.patient")
    vaccine = coded(i.vaccine_code, (codes.VACCINE_SYSTEM,), "Immunization.vaccineCode")
    if i.status not in (None, "completed"):
        raise unprocessable("unsupported_value", "A new Immunization is completed.")
    if not i.protocol_applied or len(i.protocol_applied) > 1:
        raise unprocessable(
            "required_element", "Immunization.protocolApplied (one, with its dose) is required."
        )
    given = command(
        ImmunizationIn,
        {
            "vaccine": vaccine,
            "dose_number": i.protocol_applied[0].dose_number_positive_int,
            "occurred_on": parse_day(i.occurrence_date_time, "Immunization.occurrenceDateTime"),
            "lot": i.lot_number,
            "encounter_id": optional_id(i.encounter, "Encounter", "Immunization.encounter"),
        },
    )
    return patient_id, given
