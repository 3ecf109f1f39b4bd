"""FHIR R4 at ``/fhir/R4``: a front door to the record, not a back door. Every request
is signed in like the JSON API's, reaches a patient's record only through the same
access rule (:meth:`ehr.access.RecordAccess.reader`), is masked the same way and
audited by the same use cases (:class:`ehr.service.Records`).

Interactions (``GET /fhir/R4/metadata`` says exactly these): read, vread, history of an
instance and search of Patient, Practitioner, Organization, Encounter, Condition,
Observation, AllergyIntolerance, Immunization and DocumentReference (a signed visit's
protocol, with its encounter's id); create and update of Condition, Observation,
AllergyIntolerance and Immunization by a doctor. Other domains add types that are read
and searched only (:mod:`ehr.fhir.extension`; prescriptions: Medication,
MedicationRequest, MedicationDispense): their reads and searches are theirs, the routes,
their policy, the Bundle and the errors are these.

An update needs ``If-Match: W/"<version>"``: without it the answer is 428
(``precondition_required``), with a version that is no longer current 412
(``version_conflict``). A Condition's clinicalStatus, verificationStatus,
abatementDateTime and note change; an Observation, AllergyIntolerance or Immunization
changes only to entered-in-error; any other change is 422 (``unsupported_change``).

Every answer is ``application/fhir+json``; every error an OperationOutcome carrying the
stable code of the JSON API's problem (``urn:imias:problem``) in
``issue[0].details.coding[0]``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, Response, get, post, put
from litestar.di import NamedDependency
from litestar.types import ExceptionHandlersMap

from ehr.fhir import mapping
from ehr.fhir import resources as r
from ehr.fhir.capability import REGISTRY, TYPES, WRITABLE, capabilities
from ehr.fhir.extension import FhirType, fhir_types
from ehr.fhir.search import count_of, cursor, record_search, registry_id, uncursor
from ehr.fhir.writes import (
    FHIR_JSON,
    body_of,
    create_fact,
    expected_version,
    searched,
    stored,
    update_fact,
)
from ehr.service import Records
from imias.identity import PUBLIC, allow, principal_of
from imias.platform.language import api_language as lang_of
from imias.platform.problems import EXCEPTION_HANDLERS, ProblemError

BASE = "/fhir/R4"
PROBLEM_SYSTEM = "urn:imias:problem"

READERS = allow(
    "patient",
    "doctor",
    data="as the JSON API: patient: their own record and a linked child's under 18; "
    "doctor: patients attached to her clinic, booked with her or seen by her (others: "
    "break-glass); restricted diagnoses masked; Practitioner, Organization: the directory",
)
WRITERS = allow("doctor", data="doctor: facts of patients she may read, in her clinic")

# -- errors as OperationOutcome ------------------------------------------------------

ISSUE_CODE = {
    400: "invalid",
    401: "login",
    403: "forbidden",
    404: "not-found",
    405: "not-supported",
    406: "not-supported",
    409: "conflict",
    410: "deleted",
    412: "conflict",
    413: "too-costly",
    415: "not-supported",
    422: "processing",
    428: "required",
    429: "throttled",
    503: "transient",
}


def outcome(status: int, code: str, detail: str | None) -> r.OperationOutcome:
    return r.OperationOutcome(
        issue=[
            r.Issue(
                severity="error",
                code=ISSUE_CODE.get(status, "exception"),
                details=r.IssueDetails(coding=[r.Coding(system=PROBLEM_SYSTEM, code=code)]),
                diagnostics=detail,
            )
        ]
    )


def fhir(
    resource: r.Resource, status: int = 200, headers: dict[str, str] | None = None
) -> Response[bytes]:
    return Response(
        content=msgspec.json.encode(resource),
        status_code=status,
        media_type=FHIR_JSON,
        headers=headers,
    )


Handler = Callable[[Request[Any, Any, Any], Any], Response[Any]]


def as_outcome(handler: Handler) -> Handler:
    """The platform's handler, its problem document told as an OperationOutcome (its
    status, code, detail and headers kept)."""

    def handle(request: Request[Any, Any, Any], exc: Any) -> Response[Any]:
        problem = handler(request, exc)
        body = problem.content if isinstance(problem.content, dict) else {}
        detail = body.get("detail") or body.get("title")
        if body.get("errors"):
            detail = f"{detail}: {msgspec.json.encode(body['errors']).decode()}"
        status = problem.status_code or 500
        code = str(body.get("code", "error"))
        return fhir(outcome(status, code, detail), status, dict(problem.headers) or None)

    return handle


def handle_decode(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    return fhir(outcome(400, "invalid_resource", str(exc)), 400)


EXCEPTIONS: ExceptionHandlersMap = {
    **{kind: as_outcome(handler) for kind, handler in EXCEPTION_HANDLERS.items()},
    msgspec.ValidationError: handle_decode,
    msgspec.DecodeError: handle_decode,
}

# -- helpers -----------------------------------------------------------------------


def not_supported(kind: str) -> ProblemError:
    return ProblemError(
        404, "unknown_resource_type", f"{kind} is not a resource type this server has."
    )


def kind_of(kind: str, among: tuple[str, ...] = TYPES) -> str:
    if kind not in among:
        if kind in TYPES:
            raise ProblemError(405, "method_not_allowed", f"{kind} is read-only through FHIR here.")
        raise not_supported(kind)
    return kind


def added_of(request: Request[Any, Any, Any], kind: str) -> FhirType | None:
    """The type another domain added under this name (None: not one)."""
    return fhir_types(request.app.state).get(kind)


def own_kind(request: Request[Any, Any, Any], kind: str, among: tuple[str, ...] = TYPES) -> str:
    """:func:`kind_of` for an interaction the added types do not have (405 for them)."""
    if added_of(request, kind) is not None:
        raise ProblemError(
            405, "method_not_allowed", f"{kind} is only read and searched through FHIR here."
        )
    return kind_of(kind, among)


def number(key: str, what: str = "resource") -> int:
    if not key.isdigit() or not 1 <= int(key) < 2**63:
        raise ProblemError(404, "not_found", f"There is no such {what}.")
    return int(key)


def practitioner_key(key: str) -> tuple[int, int]:
    clinic, _, doctor = key.partition("-")
    return number(clinic, "practitioner"), number(doctor, "practitioner")


def base_of(request: Request[Any, Any, Any]) -> str:
    return str(request.base_url).rstrip("/") + BASE


def etag(version: str | int) -> dict[str, str]:
    return {"ETag": f'W/"{version}"'}


def version_of(resource: r.Resource) -> str:
    return (resource.meta.version_id if resource.meta else None) or "1"


def zone_of(request: Request[Any, Any, Any]) -> ZoneInfo:
    return ZoneInfo(request.app.state.settings.time_zone)


def query_of(request: Request[Any, Any, Any]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for name, value in request.query_params.multi_items():
        found.setdefault(name, []).append(value)
    return found


# -- the controller ------------------------------------------------------------------


class FhirController(Controller):
    path = BASE
    tags = ["fhir"]
    exception_handlers = EXCEPTIONS

    @get("/metadata", operation_id="fhirCapabilities", summary="CapabilityStatement", opt=PUBLIC)
    async def metadata(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        return fhir(capabilities(base_of(request), fhir_types(request.app.state).values()))

    @get("/{kind:str}", operation_id="fhirSearch", summary="Search (a Bundle)", opt=READERS)
    async def search(
        self, request: Request[Any, Any, Any], records: NamedDependency[Records], kind: str
    ) -> Response[bytes]:
        added = added_of(request, kind)
        kind = kind if added is not None else kind_of(kind)
        principal = principal_of(request)
        lang = lang_of(request)
        query = query_of(request)
        found: list[r.Resource]
        after: list[object] | None = None
        if added is not None:
            found, after = await added.search(request, query)
        elif kind in REGISTRY:
            found, after = await registry_search(records, request, kind, query)
        else:
            search = record_search(kind, query, zone_of(request))
            states, last = await records.fhir_search(principal, searched(kind), search, lang)
            found = [mapping.resource(kind, s, lang) for s in states]
            if last is not None:
                after = [last[0].isoformat(), last[1]]
        base = base_of(request)
        links = [r.BundleLink(relation="self", url=f"{base}/{kind}?{request.url.query}")]
        if after is not None:
            rest = [(k, v) for k, vs in query.items() if k != "_cursor" for v in vs]
            links.append(
                r.BundleLink(
                    relation="next",
                    url=f"{base}/{kind}?{urlencode([*rest, ('_cursor', cursor(after))])}",
                )
            )
        return fhir(
            r.Bundle(
                type="searchset",
                link=links,
                entry=[
                    r.BundleEntry(
                        full_url=f"{base}/{kind}/{f.id}",
                        resource=f,
                        search=r.BundleSearch(mode="match"),
                    )
                    for f in found
                ],
            )
        )

    @get("/{kind:str}/{key:str}", operation_id="fhirRead", summary="Read", opt=READERS)
    async def read(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        kind: str,
        key: str,
    ) -> Response[bytes]:
        added = added_of(request, kind)
        if added is not None:
            return fhir(await added.read(request, key))
        found = await read_current(records, request, kind_of(kind), key)
        return fhir(found, headers=etag(version_of(found)))

    @get(
        "/{kind:str}/{key:str}/_history/{vid:str}",
        operation_id="fhirVersionRead",
        summary="Read a version",
        opt=READERS,
    )
    async def vread(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        kind: str,
        key: str,
        vid: str,
    ) -> Response[bytes]:
        kind = own_kind(request, kind)
        version = number(vid, "version")
        if kind in REGISTRY:
            found = await read_current(records, request, kind, key)
            if version != 1:
                raise ProblemError(404, "not_found", "There is no such version.")
        else:
            found = await read_version(records, request, kind, number(key), version)
        return fhir(found, headers=etag(version))

    @get(
        "/{kind:str}/{key:str}/_history",
        operation_id="fhirHistory",
        summary="A resource's versions (a Bundle, newest first)",
        opt=READERS,
    )
    async def history(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        kind: str,
        key: str,
    ) -> Response[bytes]:
        kind = own_kind(request, kind)
        lang = lang_of(request)
        base = base_of(request)
        versions: list[tuple[int, datetime | None, r.Resource]] = []
        if kind in REGISTRY:
            versions = [(1, None, await read_current(records, request, kind, key))]
        else:
            found = await records.fhir_history(
                principal_of(request),
                stored(kind),
                number(key),
                lang,
            )
            versions = [
                (v.version, v.written_at, mapping.resource(kind, s, lang)) for v, s in found
            ]
            if not versions:  # a visit not yet signed: one version, as it is
                current = await read_current(records, request, kind, key)
                versions = [(int(version_of(current)), None, current)]
        entries = []
        for version, written_at, resource in versions:
            entries.append(
                r.BundleEntry(
                    full_url=f"{base}/{kind}/{resource.id}",
                    resource=resource,
                    request=r.BundleRequest(
                        method="POST" if version <= 1 else "PUT", url=f"{kind}/{resource.id}"
                    ),
                    response=r.BundleResponse(
                        status="201" if version <= 1 else "200",
                        etag=f'W/"{version}"',
                        last_modified=mapping.instant(written_at),
                    ),
                )
            )
        return fhir(
            r.Bundle(
                type="history",
                total=len(entries),
                link=[r.BundleLink(relation="self", url=f"{base}/{kind}/{key}/_history")],
                entry=entries,
            )
        )

    @post("/{kind:str}", operation_id="fhirCreate", summary="Create", opt=WRITERS)
    async def create(
        self, request: Request[Any, Any, Any], records: NamedDependency[Records], kind: str
    ) -> Response[bytes]:
        kind = own_kind(request, kind, WRITABLE)
        body = await body_of(request, kind)
        lang = lang_of(request)
        state = await create_fact(records, request, body, lang)
        found = mapping.resource(kind, state, lang)
        version = version_of(found)
        location = f"{base_of(request)}/{kind}/{found.id}/_history/{version}"
        return fhir(found, 201, {"Location": location, **etag(version)})

    @put("/{kind:str}/{key:str}", operation_id="fhirUpdate", summary="Update", opt=WRITERS)
    async def update(
        self,
        request: Request[Any, Any, Any],
        records: NamedDependency[Records],
        kind: str,
        key: str,
    ) -> Response[bytes]:
        kind = own_kind(request, kind, WRITABLE)
        resource_id = number(key)
        expected = expected_version(request)
        body = await body_of(request, kind)
        if body.id is not None and body.id != key:
            raise ProblemError(400, "id_mismatch", f"The body's id is not {key}.")
        found = await update_fact(records, request, kind, resource_id, expected, body)
        return fhir(found, headers=etag(version_of(found)))


# -- reads -------------------------------------------------------------------------


async def read_current(
    records: Records, request: Request[Any, Any, Any], kind: str, key: str
) -> r.Resource:
    principal = principal_of(request)
    lang = lang_of(request)
    if kind == "Patient":
        return mapping.patient(await records.fhir_patient(principal, number(key, "patient")))
    if kind == "Practitioner":
        clinic, doctor = practitioner_key(key)
        doctors = await records.fhir_practitioners(clinic, doctor, None, 1)
        if not doctors:
            raise ProblemError(404, "not_found", "There is no such practitioner.")
        return mapping.practitioner(doctors[0], lang)
    if kind == "Organization":
        clinics = await records.fhir_organizations(number(key, "organization"), None, 1)
        if not clinics:
            raise ProblemError(404, "not_found", "There is no such organization.")
        return mapping.organization(clinics[0])
    if kind == "DocumentReference":
        visit = await records.encounter(principal, number(key), lang)
        if visit.status == "in-progress":
            raise ProblemError(404, "not_found", "The visit is not signed: no document yet.")
        return mapping.document(visit, lang)
    state = await records.fhir_read(principal, stored(kind), number(key), lang)
    return mapping.resource(kind, state, lang)


async def read_version(
    records: Records, request: Request[Any, Any, Any], kind: str, key: int, version: int
) -> r.Resource:
    lang = lang_of(request)
    state = await records.fhir_version(principal_of(request), stored(kind), key, version, lang)
    return mapping.resource(kind, state, lang)


async def registry_search(
    records: Records, request: Request[Any, Any, Any], kind: str, query: dict[str, list[str]]
) -> tuple[list[r.Resource], list[object] | None]:
    """A search of the registry: one patient (the caller's own by default), the
    directory's doctors and clinics, by id."""
    principal = principal_of(request)
    key = registry_id(kind, query)
    count = count_of(query)
    raw = query.get("_cursor")
    after = uncursor(raw[0]) if raw else None
    if kind == "Patient":
        if key is None and principal.role != "patient":
            raise ProblemError(400, "invalid_search", "A Patient search names the _id.")
        found = await records.fhir_patient(principal, number(key or str(principal.subject)))
        return [mapping.patient(found)], None
    if kind == "Practitioner":
        clinic, doctor = practitioner_key(key) if key is not None else (None, None)
        start = None
        if after is not None:
            c, d = after
            if not isinstance(c, int) or not isinstance(d, int):
                raise ProblemError(400, "invalid_cursor", "_cursor is not one this server gave.")
            start = (c, d)
        doctors = await records.fhir_practitioners(clinic, doctor, start, count + 1)
        more = doctors[count:]
        page = doctors[:count]
        return [mapping.practitioner(d, lang_of(request)) for d in page], (
            [page[-1].clinic_id, page[-1].id] if more else None
        )
    clinic_id = number(key, "organization") if key is not None else None
    last = after[0] if after else None
    if last is not None and not isinstance(last, int):
        raise ProblemError(400, "invalid_cursor", "_cursor is not one this server gave.")
    clinics = await records.fhir_organizations(clinic_id, last, count + 1)
    shown = clinics[:count]
    return [mapping.organization(c) for c in shown], (
        [shown[-1].id] if len(clinics) > count else None
    )
