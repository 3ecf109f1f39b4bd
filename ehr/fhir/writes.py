"""FHIR writes: a body decoded strictly, created through the record's use cases, and
updated only where the record lets it change (If-Match: the version read)."""

from __future__ import annotations

import re
import typing
from typing import Any

import msgspec
from litestar import Request

from ehr import model
from ehr import repository as repo
from ehr.fhir import mapping
from ehr.fhir import resources as r
from ehr.fhir.capability import MUTABLE, RECORD
from ehr.service import Records
from imias.identity import principal_of
from imias.platform.language import api_language as lang_of
from imias.platform.problems import ProblemError

FHIR_JSON = "application/fhir+json"
ACCEPTED_BODIES = ("application/fhir+json", "application/json")
IN_ERROR_REASON = "Marked entered-in-error through FHIR (an update of its status)"
#: What the server writes, never compared in an update.
SERVER_WRITTEN = ("recorded_date", "recorded")
BODY: dict[str, type[r.Resource]] = {
    "Condition": r.Condition,
    "Observation": r.Observation,
    "AllergyIntolerance": r.AllergyIntolerance,
    "Immunization": r.Immunization,
}


def stored(kind: str) -> model.Resource:
    """The record's name of a resource type (a DocumentReference is its Encounter's)."""
    name = "Encounter" if kind == "DocumentReference" else kind
    assert name in RECORD
    return typing.cast(model.Resource, name)


def searched(kind: str) -> repo.Searched:
    assert kind in RECORD or kind == "DocumentReference"
    return typing.cast(repo.Searched, kind)


async def body_of(request: Request[Any, Any, Any], kind: str) -> r.Resource:
    """The request's resource, decoded strictly: its resourceType, no unknown element."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ACCEPTED_BODIES:
        raise ProblemError(
            415, "unsupported_media_type", f"Send {FHIR_JSON} (or application/json)."
        )
    raw = await request.body()
    try:
        envelope = msgspec.json.decode(raw, type=dict[str, Any])
    except (msgspec.DecodeError, msgspec.ValidationError):
        raise ProblemError(400, "invalid_json", "The body is not a JSON object.") from None
    if envelope.get("resourceType") != kind:
        raise ProblemError(
            400,
            "wrong_resource_type",
            f"The body is a {envelope.get('resourceType')!r}, not a {kind}.",
        )
    try:
        return msgspec.json.decode(raw, type=BODY[kind])
    except msgspec.ValidationError as exc:
        raise ProblemError(400, "invalid_resource", f"{kind}: {exc}") from None


_IF_MATCH = re.compile(r'^(?:W/)?"(\d{1,9})"$')


def expected_version(request: Request[Any, Any, Any]) -> int:
    value = request.headers.get("if-match")
    if value is None:
        raise ProblemError(
            428, "precondition_required", 'An update needs If-Match: W/"<version>" (its ETag).'
        )
    m = _IF_MATCH.match(value.strip())
    if m is None:
        raise ProblemError(400, "invalid_if_match", 'If-Match is W/"<version>".')
    return int(m[1])


def normalized(resource: r.Resource, *drop: str) -> Any:
    """A resource as compared for an update: without ``drop``, its meta, id and what the
    server writes (recorded dates), codes by (system, code) only (displays and texts are
    in the reader's language)."""
    changed = msgspec.structs.replace(resource, **{name: None for name in ("id", "meta", *drop)})

    def walk(value: Any) -> Any:
        if isinstance(value, dict):
            if "coding" in value:
                return sorted(
                    (c.get("system", ""), c.get("code", "")) for c in value.get("coding", [])
                )
            return {k: walk(v) for k, v in value.items() if k != "display"}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(msgspec.to_builtins(changed))


# -- writes ------------------------------------------------------------------------


async def create_fact(
    records: Records, request: Request[Any, Any, Any], body: r.Resource, lang: str
) -> msgspec.Struct:
    principal = principal_of(request)
    if isinstance(body, r.Condition):
        patient_id, diagnosis, category, encounter_id = mapping.condition_in(body)
        conditions, _ = await records.add_facts(
            principal, patient_id, diagnoses=[diagnosis], category=category,
            encounter_id=encounter_id, lang=lang,
        )  # fmt: skip
        return conditions[0]
    if isinstance(body, r.Observation):
        patient_id, vital, encounter_id = mapping.observation_in(body)
        _, observations = await records.add_facts(
            principal, patient_id, vitals=[vital], encounter_id=encounter_id, lang=lang
        )
        return observations[0]
    if isinstance(body, r.AllergyIntolerance):
        patient_id, allergy = mapping.allergy_in(body)
        return await records.add_allergy(principal, patient_id, allergy, lang)
    assert isinstance(body, r.Immunization)
    patient_id, given = mapping.immunization_in(body)
    return await records.add_immunization(principal, patient_id, given, lang)


#: The elements of each resource an update may change (the rest must stay as read).


def _one_of(value: str | None, allowed: Any, element: str) -> str | None:
    if value is not None and value not in typing.get_args(allowed):
        raise ProblemError(422, "invalid_value", f"{element} {value!r} is not one IMIAS keeps.")
    return value


async def update_fact(
    records: Records,
    request: Request[Any, Any, Any],
    kind: str,
    resource_id: int,
    expected: int,
    body: r.Resource,
) -> r.Resource:
    principal = principal_of(request)
    lang = lang_of(request)
    state = await records.fhir_read(principal, stored(kind), resource_id, lang)
    if getattr(state, "hidden", False):
        raise ProblemError(403, "forbidden", "A restricted entry you may not read.")
    current = mapping.resource(kind, state, lang)
    drop = MUTABLE[kind] + tuple(n for n in SERVER_WRITTEN if hasattr(current, n))
    if normalized(current, *drop) != normalized(body, *drop):
        raise ProblemError(
            422,
            "unsupported_change",
            f"Only {', '.join(MUTABLE[kind])} of a {kind} change through an update.",
        )
    if isinstance(body, r.Condition):
        assert isinstance(state, model.Condition)
        verification = _one_of(
            mapping.status_of(body.verification_status, mapping.CONDITION_VERIFICATION),
            model.Verification,
            "verificationStatus",
        )
        clinical = _one_of(
            mapping.status_of(body.clinical_status, mapping.CONDITION_CLINICAL),
            model.ClinicalStatus,
            "clinicalStatus",
        )
        if clinical is None and verification != "entered-in-error":
            raise ProblemError(422, "required_element", "Condition.clinicalStatus is required.")
        updated = await records.update_condition(
            principal,
            resource_id,
            expected,
            clinical_status=clinical or state.clinical_status,
            verification_status=verification or state.verification_status,
            abatement=mapping.parse_day(body.abatement_date_time, "Condition.abatementDateTime"),
            note=body.note[0].text if body.note else None,
            lang=lang,
        )
        return mapping.condition(updated, lang)
    status = (
        mapping.status_of(body.verification_status, mapping.ALLERGY_VERIFICATION)
        if isinstance(body, r.AllergyIntolerance)
        else getattr(body, "status", None)
    )
    if status != "entered-in-error":
        raise ProblemError(422, "unsupported_change", f"A {kind} changes only to entered-in-error.")
    if isinstance(body, r.AllergyIntolerance) and body.clinical_status is not None:
        raise ProblemError(422, "invalid_value", "An entry in error has no clinicalStatus (ait-2).")
    await records.fhir_mark_in_error(
        principal, stored(kind), resource_id, expected, IN_ERROR_REASON, lang
    )
    return mapping.resource(
        kind,
        await records.fhir_read(principal, stored(kind), resource_id, lang),
        lang,
    )
