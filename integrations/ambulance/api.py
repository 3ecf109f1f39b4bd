"""The ambulance's HTTP routes.

- ``GET /fhir/R4/Patient/$summary`` and ``GET /fhir/R4/Patient/{id}/$summary``: the
  crew's emergency summary (an International Patient Summary), found by
  ``identifier=urn:imias:policy|<16 digits>`` or by ``family``, ``given`` and
  ``birthdate``; ``call`` (the call's number) and ``reason`` are required, and
  ``emergency=true`` breaks the glass (restricted entries shown, flagged in the audit).
- ``POST /api/v1/integrations/ambulance/{partner_id}/calls``: the dispatch system's
  finished call, a FHIR transaction Bundle signed as Standard Webhooks say, answered
  once per ``webhook-id`` with a transaction-response Bundle.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import Parameter

from ehr import fhir_api
from imias.identity import PUBLIC, allow, principal_of
from imias.platform.db import Connection
from imias.platform.language import api_language
from imias.platform.problems import ProblemError
from integrations.ambulance.fhir import call_of_bundle, response_bundle
from integrations.ambulance.model import CALL_KIND, POLICY_SYSTEM, PatientRef
from integrations.ambulance.service import Ambulance
from integrations.inbound import Answer, Inbound

FHIR_JSON = "application/fhir+json"
CREW = allow(
    "ambulance_crew",
    data="ambulance_crew: any patient's emergency summary, with the call's number and a "
    "reason (audited, shown in the patient's access log); restricted entries only as "
    "existing unless emergency=true (break-glass)",
)
Text = Annotated[str | None, Parameter(required=False, max_length=500)]


def ambulance_of(request: Request[Any, Any, Any]) -> Ambulance:
    found: Ambulance = request.app.state.ambulance
    return found


def _fhir(body: msgspec.Struct, status: int = 200) -> Response[bytes]:
    return Response(content=msgspec.json.encode(body), status_code=status, media_type=FHIR_JSON)


def _why(call: str | None, reason: str | None, emergency: bool) -> tuple[str, str]:
    call = (call or "").strip()
    reason = (reason or "").strip()
    if not 1 <= len(call) <= 64:
        raise ProblemError(400, "call_required", "Give the call's number (call=...).")
    if len(reason) < 3:
        raise ProblemError(400, "reason_required", "Say why you read the summary (reason=...).")
    if emergency and len(reason) < 10:
        raise ProblemError(400, "reason_required", "An emergency reason is at least 10 characters.")
    return call, reason


def _ref(
    identifier: str | None, family: str | None, given: str | None, birthdate: str | None
) -> PatientRef:
    if identifier:
        system, _, value = identifier.rpartition("|")
        if system not in ("", POLICY_SYSTEM) or len(value) != 16 or not value.isdigit():
            raise ProblemError(
                400, "invalid_identifier", f"identifier is {POLICY_SYSTEM}|<16-digit policy>."
            )
        return PatientRef(policy=value)
    if not family or not given or not birthdate:
        raise ProblemError(
            400,
            "patient_required",
            "Name the patient: identifier (the policy), or family, given and birthdate.",
        )
    try:
        born = date.fromisoformat(birthdate)
    except ValueError:
        raise ProblemError(400, "invalid_date", "birthdate is YYYY-MM-DD.") from None
    return PatientRef(family=family, given=given, birth_date=born)


def _patient_kind(kind: str) -> None:
    """The operation is Patient's (the routes take the type as the FHIR controller's do,
    so that ``/fhir/R4/Patient/{id}`` stays its read)."""
    if kind != "Patient":
        raise ProblemError(404, "unknown_operation", f"{kind} has no $summary here.")


class SummaryController(Controller):
    path = "/fhir/R4"
    tags = ["fhir", "ambulance"]
    exception_handlers = fhir_api.EXCEPTIONS

    @get(
        "/{kind:str}/$summary",
        operation_id="fhirPatientSummaryFind",
        summary="An ambulance crew's emergency summary (IPS), the patient found by policy "
        "or by name and birth date",
        opt=CREW,
    )
    async def find(
        self,
        request: Request[Any, Any, Any],
        kind: str,
        call: Text = None,
        reason: Text = None,
        emergency: bool = False,
        identifier: Text = None,
        family: Text = None,
        given: Text = None,
        birthdate: Text = None,
    ) -> Response[bytes]:
        _patient_kind(kind)
        why = _why(call, reason, emergency)
        ambulance = ambulance_of(request)
        patient = await ambulance.patient_of(_ref(identifier, family, given, birthdate))
        return await self._summary(request, patient, why, emergency)

    @get(
        "/{kind:str}/{key:str}/$summary",
        operation_id="fhirPatientSummary",
        summary="An ambulance crew's emergency summary (IPS) of a patient by id",
        opt=CREW,
    )
    async def read(
        self,
        request: Request[Any, Any, Any],
        kind: str,
        key: str,
        call: Text = None,
        reason: Text = None,
        emergency: bool = False,
    ) -> Response[bytes]:
        _patient_kind(kind)
        why = _why(call, reason, emergency)
        if not key.isdigit() or not 1 <= int(key) < 2**63:
            raise ProblemError(404, "not_found", "There is no such patient.")
        return await self._summary(request, int(key), why, emergency)

    async def _summary(
        self,
        request: Request[Any, Any, Any],
        patient_id: int,
        why: tuple[str, str],
        emergency: bool,
    ) -> Response[bytes]:
        call, reason = why
        bundle = await ambulance_of(request).summary(
            principal_of(request),
            patient_id,
            call=call,
            reason=reason,
            emergency=emergency,
            base=str(request.base_url).rstrip("/") + "/fhir/R4",
            lang=api_language(request),
        )
        return _fhir(bundle)


class CallController(Controller):
    path = "/api/v1/integrations/ambulance"
    tags = ["integrations"]

    @post(
        "/{partner_id:str}/calls",
        operation_id="recordAmbulanceCall",
        summary="A dispatch system's finished call (a signed FHIR transaction Bundle)",
        opt=PUBLIC,  # the partner's signature is the authentication (Standard Webhooks)
        status_code=200,
    )
    async def record_call(
        self, request: Request[Any, Any, Any], partner_id: str
    ) -> Response[bytes]:
        body = await request.body()
        inbound: Inbound = request.app.state.inbound
        partner, message_id = await inbound.authenticate(partner_id, body, request.headers)
        content_type = request.headers.get("content-type", "").split(";")[0].strip()
        if content_type not in (FHIR_JSON, "application/json"):
            raise ProblemError(415, "unsupported_media_type", f"Send the Bundle as {FHIR_JSON}.")
        if partner.kind != "ambulance_dispatch":
            raise ProblemError(403, "forbidden", "This partner does not send ambulance calls.")
        call, kinds = call_of_bundle(body)
        ambulance = ambulance_of(request)
        base = str(request.base_url).rstrip("/") + "/fhir/R4"

        async def handle(conn: Connection) -> Answer:
            recorded = await ambulance.record_call(conn, partner.id, message_id, call)
            out = msgspec.json.encode(response_bundle(kinds, recorded, base))
            return Answer(200, out, FHIR_JSON)

        async with request.app.state.db.acquire() as conn:
            answer = await inbound.once(conn, partner.id, message_id, CALL_KIND, handle)
        headers = {"x-imias-replayed": "true"} if answer.replayed else None
        return Response(
            content=answer.body,
            status_code=answer.status,
            media_type=answer.content_type,
            headers=headers,
        )
