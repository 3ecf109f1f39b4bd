"""Prescriptions' JSON API: thin controllers over :class:`prescriptions.service.Prescriptions`.

The catalogue's type-ahead is public (no personal data). The doctor checks, signs and
cancels within her visits; the patient reads their own (with the QR code); the
pharmacist works one prescription at a time, by what the holder shows.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter

from imias.identity import PUBLIC, allow, principal_of
from imias.platform import qr
from imias.platform.language import api_language as lang_of
from prescriptions.model import (
    CancelIn,
    CheckOut,
    CounterView,
    DispenseIn,
    DispensingOut,
    DrugOption,
    Prescription,
    PrescriptionIn,
    ScanIn,
)
from prescriptions.refusals import refuse
from prescriptions.service import Prescriptions

MAX_ID = 2**63 - 1
IdPath = Annotated[int, PathParameter(ge=1, le=MAX_ID)]

DOCTOR = allow(
    "doctor",
    data="doctor: in her own visits, for the visit's patient; cancels what she wrote",
)
READERS = allow(
    "patient",
    "doctor",
    data="patient: their own and a linked child's under 18; doctor: patients whose record "
    "she may read",
)
PATIENT = allow("patient", data="patient: the QR code of their own or a linked child's")
PHARMACIST = allow(
    "pharmacist",
    data="pharmacist: one prescription at a time, by its QR code, its number with the "
    "holder's birth date, or (subsidised pharmacy) the holder's policy number",
)


class PolicySearch(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    policy_number: Annotated[str, msgspec.Meta(pattern=r"^[0-9]{16}$")]


class DrugController(Controller):
    path = "/api/v1"
    tags = ["prescriptions"]
    opt = PUBLIC

    @get("/drugs", operation_id="searchDrugs", summary="Drugs by INN or trade name (type-ahead)")
    async def drugs(
        self,
        request: Request[Any, Any, Any],
        prescriptions: NamedDependency[Prescriptions],
        q: Annotated[
            str, QueryParameter(min_length=1, max_length=60, description="a name's start")
        ],
        limit: Annotated[int, QueryParameter(ge=1, le=50)] = 20,
    ) -> list[DrugOption]:
        return prescriptions.drugs(q, limit, lang_of(request))


class PrescriptionController(Controller):
    path = "/api/v1"
    tags = ["prescriptions"]

    @post(
        "/encounters/{encounter_id:int}/prescription-checks",
        operation_id="checkPrescription",
        summary="What the checks find for a prescription, before signing",
        status_code=200,
        opt=DOCTOR,
    )
    async def check(
        self,
        request: Request[Any, Any, Any],
        prescriptions: NamedDependency[Prescriptions],
        encounter_id: IdPath,
        data: JSONBody[PrescriptionIn],
    ) -> CheckOut:
        return await prescriptions.check(
            principal_of(request), encounter_id, data, lang_of(request)
        )

    @post(
        "/encounters/{encounter_id:int}/prescriptions",
        operation_id="prescribe",
        summary="Check, sign and issue a prescription in the visit",
        opt=DOCTOR,
    )
    async def prescribe(
        self,
        request: Request[Any, Any, Any],
        prescriptions: NamedDependency[Prescriptions],
        encounter_id: IdPath,
        data: JSONBody[PrescriptionIn],
    ) -> Prescription:
        return await prescriptions.prescribe(
            principal_of(request), encounter_id, data, lang_of(request)
        )

    @post(
        "/prescriptions/{prescription_id:int}/cancel",
        operation_id="cancelPrescription",
        summary="Cancel a prescription she wrote (pharmacies see it at once)",
        status_code=200,
        opt=DOCTOR,
    )
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        prescriptions: NamedDependency[Prescriptions],
        prescription_id: IdPath,
        data: JSONBody[CancelIn],
    ) -> Prescription:
        return await prescriptions.cancel(
            principal_of(request), prescription_id, data.reason, lang_of(request)
        )

    @get(
        "/patients/{patient_id:int}/prescriptions",
        operation_id="patientPrescriptions",
        summary="A patient's prescriptions, newest first",
        opt=READERS,
    )
    async def of_patient(
        self,
        request: Request[Any, Any, Any],
        prescriptions: NamedDependency[Prescriptions],
        patient_id: IdPath,
        limit: Annotated[int, QueryParameter(ge=1, le=100)] = 50,
    ) -> list[Prescription]:
        return await prescriptions.of_patient(
            principal_of(request), patient_id, lang_of(request), limit
        )

    @get(
        "/prescriptions/{prescription_id:int}",
        operation_id="readPrescription",
        opt=READERS,
    )
    async def one(
        self,
        request: Request[Any, Any, Any],
        prescriptions: NamedDependency[Prescriptions],
        prescription_id: IdPath,
    ) -> Prescription:
        return await prescriptions.one(principal_of(request), prescription_id, lang_of(request))

    @get(
        "/prescriptions/{prescription_id:int}/qr.svg",
        operation_id="prescriptionQr",
        summary="The QR code to show at the pharmacy (SVG)",
        opt=PATIENT,
        media_type="image/svg+xml",
    )
    async def qr_code(
        self,
        request: Request[Any, Any, Any],
        prescriptions: NamedDependency[Prescriptions],
        prescription_id: IdPath,
    ) -> Response[str]:
        lang = lang_of(request)
        found = await prescriptions.one(principal_of(request), prescription_id, lang)
        if found.code is None:
            raise refuse("not_found", lang)
        return Response(
            qr.svg(found.code, title=f"№ {found.number}"),
            media_type="image/svg+xml",
            headers={"Cache-Control": "private, no-store"},
        )


class CounterController(Controller):
    path = "/api/v1/pharmacy"
    tags = ["prescriptions"]
    opt = PHARMACIST

    @post(
        "/scans",
        operation_id="scanPrescription",
        summary="A prescription at the counter, by its QR code or number and birth date",
        status_code=200,
    )
    async def scan(
        self,
        request: Request[Any, Any, Any],
        prescriptions: NamedDependency[Prescriptions],
        data: JSONBody[ScanIn],
    ) -> CounterView:
        return await prescriptions.scan(principal_of(request), data, lang_of(request))

    @post(
        "/subsidised-searches",
        operation_id="subsidisedByPolicy",
        summary="A subsidised pharmacy finds the holder's subsidised prescriptions by policy",
        status_code=200,
    )
    async def by_policy(
        self,
        request: Request[Any, Any, Any],
        prescriptions: NamedDependency[Prescriptions],
        data: JSONBody[PolicySearch],
    ) -> list[CounterView]:
        return await prescriptions.by_policy(
            principal_of(request), data.policy_number, lang_of(request)
        )

    @post(
        "/prescriptions/{prescription_id:int}/dispensings",
        operation_id="dispense",
        summary="Dispense all or part of the period due (201; a retried request_id: 200)",
    )
    async def dispense(
        self,
        request: Request[Any, Any, Any],
        prescriptions: NamedDependency[Prescriptions],
        prescription_id: IdPath,
        data: JSONBody[DispenseIn],
    ) -> Response[DispensingOut]:
        out, new = await prescriptions.dispense(
            principal_of(request), prescription_id, data, lang_of(request)
        )
        return Response(out, status_code=201 if new else 200)
