"""Certificates' JSON API and the verifier's well-known documents.

Specialists conclude in their own visits; the chair issues; the issuing clinic's doctors
revoke; the holder (and the doctors who may read the record) read, print and show the
QR; a police officer checks, and learns only what the certificate says. The trust list,
the revocation list and the trust anchor are public: they hold no personal data.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from litestar import Controller, Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter

from ehr.certificates import pdf
from ehr.certificates.cose import spki
from ehr.certificates.model import (
    Certificate,
    CertificateIn,
    Check,
    Checklist,
    Conclusion,
    ConclusionIn,
    RevokeIn,
    VerifyIn,
)
from ehr.certificates.service import Certificates
from imias.identity import PUBLIC, allow, principal_of
from imias.platform.language import api_language as lang_of
from imias.platform.requests import client_address

MAX_ID = 2**63 - 1
IdPath = Annotated[int, PathParameter(ge=1, le=MAX_ID)]
NumberPath = Annotated[str, PathParameter(pattern=r"^\d{4}-\d{1,19}-[0-9A-Z]{8}$", max_length=40)]
COSE = "application/cose"

EXAMINER = allow(
    "doctor",
    data="doctor: a driver's-examination conclusion in her own visit (therapist, "
    "ophthalmologist, psychiatrist, narcologist, neurologist, otolaryngologist)",
)
CHAIR = allow(
    "doctor",
    data="doctor: the chair (therapist, general practitioner; paediatrician for school "
    "certificates) issues for patients whose record she may read; a doctor of the issuing "
    "clinic revokes",
)
READERS = allow(
    "patient",
    "doctor",
    data="patient: their own and a linked child's under 18; doctor: patients whose record "
    "she may read",
)
OFFICER = allow(
    "police_officer",
    data="police_officer: a certificate's verdict and what it says (holder, birth date, "
    "categories, restrictions, validity, clinic), by its QR or its number with the birth "
    "date; never the record; audited with the place; rate-limited",
)


class CertificateController(Controller):
    path = "/api/v1"
    tags = ["certificates"]

    @post(
        "/encounters/{encounter_id:int}/conclusions",
        operation_id="recordConclusion",
        summary="A specialist's driver's-examination conclusion in her visit",
        opt=EXAMINER,
    )
    async def conclude(
        self,
        request: Request[Any, Any, Any],
        certificates: NamedDependency[Certificates],
        encounter_id: IdPath,
        data: JSONBody[ConclusionIn],
    ) -> Conclusion:
        return await certificates.conclude(principal_of(request), encounter_id, data)

    @get(
        "/patients/{patient_id:int}/driver-checklist",
        operation_id="driverChecklist",
        summary="Which examinations a driver's certificate needs, and which are concluded",
        opt=READERS,
    )
    async def checklist(
        self,
        request: Request[Any, Any, Any],
        certificates: NamedDependency[Certificates],
        patient_id: IdPath,
        categories: Annotated[
            list[str], QueryParameter(min_items=1, max_items=16, description="e.g. B, C")
        ],
    ) -> Checklist:
        return await certificates.checklist(
            principal_of(request), patient_id, categories, lang_of(request)
        )

    @get(
        "/patients/{patient_id:int}/certificates",
        operation_id="patientCertificates",
        summary="A patient's certificates, newest first (with their QR text)",
        opt=READERS,
    )
    async def of_patient(
        self,
        request: Request[Any, Any, Any],
        certificates: NamedDependency[Certificates],
        patient_id: IdPath,
    ) -> list[Certificate]:
        return await certificates.of_patient(principal_of(request), patient_id)

    @post(
        "/certificates",
        operation_id="issueCertificate",
        summary="The chair issues a certificate, signed by the clinic's key",
        opt=CHAIR,
    )
    async def issue(
        self,
        request: Request[Any, Any, Any],
        certificates: NamedDependency[Certificates],
        data: JSONBody[CertificateIn],
    ) -> Certificate:
        return await certificates.issue(principal_of(request), data)

    @get(
        "/certificates/{number:str}",
        operation_id="certificate",
        summary="One certificate",
        opt=READERS,
    )
    async def one(
        self,
        request: Request[Any, Any, Any],
        certificates: NamedDependency[Certificates],
        number: NumberPath,
    ) -> Certificate:
        return await certificates.one(principal_of(request), number)

    @get(
        "/certificates/{number:str}/pdf",
        operation_id="certificatePdf",
        summary="The certificate to print (PDF, with its QR code)",
        opt=READERS,
        media_type="application/pdf",
    )
    async def printable(
        self,
        request: Request[Any, Any, Any],
        certificates: NamedDependency[Certificates],
        number: NumberPath,
    ) -> Response[bytes]:
        certificate = await certificates.one(principal_of(request), number)
        body = await asyncio.to_thread(pdf.render, certificate, lang_of(request))
        return Response(
            body,
            media_type="application/pdf",
            headers={
                "Content-Disposition": f'attachment; filename="certificate-{number}.pdf"',
                "Cache-Control": "no-store",
            },
        )

    @post(
        "/certificates/{number:str}/revoke",
        operation_id="revokeCertificate",
        summary="Revoke a certificate of her clinic, with a reason",
        status_code=200,
        opt=CHAIR,
    )
    async def revoke(
        self,
        request: Request[Any, Any, Any],
        certificates: NamedDependency[Certificates],
        number: NumberPath,
        data: JSONBody[RevokeIn],
    ) -> Certificate:
        return await certificates.revoke(principal_of(request), number, data.reason)


class VerifyController(Controller):
    path = "/api/v1"
    tags = ["certificates"]

    @post(
        "/verify",
        operation_id="verifyCertificate",
        summary="A police officer's check of a certificate (its QR, or number and birth date)",
        status_code=200,
        opt=OFFICER,
    )
    async def verify(
        self,
        request: Request[Any, Any, Any],
        certificates: NamedDependency[Certificates],
        data: JSONBody[VerifyIn],
    ) -> Check:
        return await certificates.check(principal_of(request), data, client_address(request))


class TrustController(Controller):
    """What an offline verifier needs: the anchor it pins, the signed lists it caches."""

    path = "/.well-known/imias"
    tags = ["certificates"]
    opt = PUBLIC

    @get(
        "/trust-list",
        operation_id="trustList",
        summary="The clinics' certificate keys, signed by the trust anchor (COSE_Sign1)",
        media_type=COSE,
    )
    async def trust_list(self, certificates: NamedDependency[Certificates]) -> Response[bytes]:
        body = await certificates.keys.trust_document()
        return Response(body, media_type=COSE, headers={"Cache-Control": "max-age=10"})

    @get(
        "/revocations",
        operation_id="revocationList",
        summary="Revoked certificates (hashes of their numbers), signed by the trust anchor",
        media_type=COSE,
    )
    async def revocations(self, certificates: NamedDependency[Certificates]) -> Response[bytes]:
        body, _ = await certificates.keys.revocations(certificates.today())
        return Response(body, media_type=COSE, headers={"Cache-Control": "max-age=10"})

    @get(
        "/anchor",
        operation_id="trustAnchor",
        summary="The trust anchor's public key (DER SubjectPublicKeyInfo, P-256)",
        media_type="application/octet-stream",
    )
    async def anchor(self, certificates: NamedDependency[Certificates]) -> Response[bytes]:
        return Response(
            spki(certificates.keys.anchor_public), media_type="application/octet-stream"
        )
