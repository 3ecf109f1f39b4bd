"""The record's JSON API: thin controllers over :class:`ehr.service.Records`.

Whose record a caller reaches is decided in :mod:`ehr.access`; every read and write is
audited by the service. Titles come in the caller's language (``Accept-Language``:
Russian unless English is asked for first).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from litestar import Controller, Request, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter

from ehr import codes
from ehr.model import (
    Allergy,
    AllergyIn,
    Amendment,
    CardSummary,
    DiagnosisOption,
    Encounter,
    EncounterOpen,
    EnteredInError,
    Immunization,
    ImmunizationIn,
    Observation,
    Protocol,
    Resource,
    SignOff,
    TemplateOut,
    Version,
    VisitDraft,
)
from ehr.service import Records
from ehr.templates import SECTION_TITLES, SECTIONS, template_for
from imias.identity import PUBLIC, allow, principal_of
from imias.platform.bounds import instant_param
from imias.platform.language import api_language as lang_of
from imias.platform.problems import ProblemError

MAX_ID = 2**63 - 1
IdPath = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
Limit = Annotated[int, QueryParameter(ge=1, le=100, description="How many to return")]

READERS = allow(
    "patient",
    "doctor",
    data="patient: their own record and a linked child's under 18; doctor: patients "
    "attached to her clinic, booked with her or seen by her (others: break-glass); "
    "restricted diagnoses only to their author and her specialty group",
)
WRITERS = allow(
    "doctor",
    data="doctor: her own visits in her clinic; allergies and immunizations of patients "
    "she may read",
)

FACTS: dict[str, Resource] = {
    "conditions": "Condition",
    "observations": "Observation",
    "allergies": "AllergyIntolerance",
    "immunizations": "Immunization",
}


class DraftSaved(msgspec.Struct, frozen=True):
    saved_at: datetime


class Marked(msgspec.Struct, frozen=True):
    resource: Resource
    id: int
    version: int


class CatalogueController(Controller):
    """The codes a doctor picks from: no personal data."""

    path = "/api/v1"
    tags = ["records"]
    opt = PUBLIC

    @get("/diagnoses", operation_id="searchDiagnoses", summary="ICD-10 type-ahead")
    async def diagnoses(
        self,
        request: Request[Any, Any, Any],
        q: Annotated[str, QueryParameter(min_length=1, max_length=60, description="code or words")],
        limit: Annotated[int, QueryParameter(ge=1, le=50)] = 20,
    ) -> list[DiagnosisOption]:
        lang = lang_of(request)
        return [
            DiagnosisOption(d.code, d.title(lang), codes.restricted_class(d.code) is not None)
            for d in codes.search_diagnoses(q, limit)
        ]

    @get(
        "/protocol-templates/{specialty:str}",
        operation_id="protocolTemplate",
        summary="A specialty's protocol template",
    )
    async def template(
        self,
        request: Request[Any, Any, Any],
        specialty: Annotated[str, PathParameter(pattern=r"^[a-z_]{1,64}$")],
    ) -> TemplateOut:
        en = lang_of(request) == "en"
        found = template_for(specialty)
        start = found.start()
        return TemplateOut(
            specialty=specialty,
            title=found.title_ru,
            sections=[(s, SECTION_TITLES[s][1 if en else 0]) for s in SECTIONS],
            start=Protocol(**start),
        )


class RecordController(Controller):
    path = "/api/v1"
    tags = ["records"]

    # -- the visit ------------------------------------------------------------------

    @post(
        "/encounters",
        operation_id="openEncounter",
        summary="Open the visit of an appointment (or a home visit)",
        opt=WRITERS,
    )
    async def open_encounter(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        data: JSONBody[EncounterOpen],
    ) -> Encounter:
        return await records.open_visit(
            principal_of(request),
            appointment_id=data.appointment_id,
            patient_id=data.patient_id,
            kind=data.kind,
            lang=lang_of(request),
        )

    @get("/encounters/{encounter_id:int}", operation_id="readEncounter", opt=READERS)
    async def read_encounter(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        encounter_id: IdPath,
    ) -> Encounter:
        return await records.encounter(principal_of(request), encounter_id, lang_of(request))

    @put(
        "/encounters/{encounter_id:int}/draft",
        operation_id="saveEncounterDraft",
        summary="Save the visit's form as typed (unsigned)",
        opt=WRITERS,
    )
    async def save_draft(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        encounter_id: IdPath,
        data: JSONBody[VisitDraft],
    ) -> DraftSaved:
        return DraftSaved(await records.save_draft(principal_of(request), encounter_id, data))

    @post(
        "/encounters/{encounter_id:int}/sign",
        operation_id="signEncounter",
        summary="Sign the visit: protocol, diagnoses and vitals, final",
        status_code=200,
        opt=WRITERS,
    )
    async def sign(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        encounter_id: IdPath,
        data: JSONBody[SignOff],
    ) -> Encounter:
        return await records.sign(principal_of(request), encounter_id, data, lang_of(request))

    @post(
        "/encounters/{encounter_id:int}/amendments",
        operation_id="amendEncounter",
        summary="Correct a signed visit, with a reason",
        status_code=200,
        opt=WRITERS,
    )
    async def amend(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        encounter_id: IdPath,
        data: JSONBody[Amendment],
    ) -> Encounter:
        return await records.amend(principal_of(request), encounter_id, data, lang_of(request))

    @get(
        "/encounters/{encounter_id:int}/versions",
        operation_id="encounterVersions",
        opt=READERS,
    )
    async def versions(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        encounter_id: IdPath,
    ) -> list[Version]:
        return await records.versions(principal_of(request), "Encounter", encounter_id)

    @get(
        "/encounters/{encounter_id:int}/versions/{version:int}",
        operation_id="encounterVersion",
        summary="A visit as it was at a version",
        opt=READERS,
    )
    async def version(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        encounter_id: IdPath,
        version: Annotated[int, PathParameter(ge=1, le=1_000_000)],
    ) -> Encounter:
        return await records.encounter_version(
            principal_of(request), encounter_id, version, lang_of(request)
        )

    # -- the patient's card ---------------------------------------------------------

    @get(
        "/patients/{patient_id:int}/record",
        operation_id="readCard",
        summary="The card at a glance",
        opt=READERS,
    )
    async def card(
        self, request: Request[Any, Any, Any], records: NamedDependency[Records], patient_id: IdPath
    ) -> CardSummary:
        return await records.card(principal_of(request), patient_id, lang_of(request))

    @get(
        "/patients/{patient_id:int}/encounters",
        operation_id="listEncounters",
        summary="Visits with their protocols, newest first",
        opt=READERS,
    )
    async def encounters(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        patient_id: IdPath,
        limit: Limit = 20,
        before: Annotated[
            str | None,
            QueryParameter(description="the page's keyset: the last visit's started_at,id"),
        ] = None,
    ) -> list[Encounter]:
        return await records.visits(
            principal_of(request), patient_id, limit, _keyset(before), lang_of(request)
        )

    @get(
        "/patients/{patient_id:int}/observations",
        operation_id="listObservations",
        summary="A measure's results, newest first",
        opt=READERS,
    )
    async def observations(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        patient_id: IdPath,
        code: Annotated[str, QueryParameter(min_length=1, max_length=16, description="LOINC")],
        limit: Limit = 50,
    ) -> list[Observation]:
        return await records.results_of(
            principal_of(request), patient_id, code, limit, lang=lang_of(request)
        )

    @get("/patients/{patient_id:int}/allergies", operation_id="listAllergies", opt=READERS)
    async def allergies(
        self, request: Request[Any, Any, Any], records: NamedDependency[Records], patient_id: IdPath
    ) -> list[Allergy]:
        return await records.allergies(principal_of(request), patient_id, lang_of(request))

    @post("/patients/{patient_id:int}/allergies", operation_id="recordAllergy", opt=WRITERS)
    async def add_allergy(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        patient_id: IdPath,
        data: JSONBody[AllergyIn],
    ) -> Allergy:
        return await records.add_allergy(principal_of(request), patient_id, data, lang_of(request))

    @get("/patients/{patient_id:int}/immunizations", operation_id="listImmunizations", opt=READERS)
    async def immunizations(
        self, request: Request[Any, Any, Any], records: NamedDependency[Records], patient_id: IdPath
    ) -> list[Immunization]:
        return await records.immunizations(principal_of(request), patient_id, lang_of(request))

    @post(
        "/patients/{patient_id:int}/immunizations",
        operation_id="recordImmunization",
        opt=WRITERS,
    )
    async def add_immunization(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        patient_id: IdPath,
        data: JSONBody[ImmunizationIn],
    ) -> Immunization:
        return await records.add_immunization(
            principal_of(request), patient_id, data, lang_of(request)
        )

    @post(
        "/records/{kind:str}/{resource_id:int}/entered-in-error",
        operation_id="markEnteredInError",
        summary="Mark a wrong entry entered-in-error (it stays, marked), with a reason",
        status_code=200,
        opt=WRITERS,
    )
    async def entered_in_error(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        kind: Annotated[
            Literal["conditions", "observations", "allergies", "immunizations"], PathParameter()
        ],
        resource_id: IdPath,
        data: JSONBody[EnteredInError],
    ) -> Marked:
        resource = FACTS[kind]
        version = await records.mark_in_error(
            principal_of(request), resource, resource_id, data.reason, lang_of(request)
        )
        return Marked(resource, resource_id, version)


def _keyset(before: str | None) -> tuple[datetime, int] | None:
    if before is None:
        return None
    try:
        at, _, last = before.rpartition(",")
        when = instant_param(datetime.fromisoformat(at), "before")
        assert when is not None
        return when, int(last)
    except (ValueError, TypeError):
        raise ProblemError(
            400,
            "invalid_keyset",
            "'before' is a visit's started_at and id: 2026-01-02T10:00:00+03:00,123",
        ) from None
