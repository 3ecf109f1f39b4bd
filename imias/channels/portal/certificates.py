"""The patient's medical certificates on the portal ``/certificates``: each with its signed
QR code (to show at a traffic stop, offline too: the service worker keeps the page),
its number, categories, restrictions, validity and state, and its PDF; then the
driver's checklist for the categories the patient picks, each examination done or to
book (a referral-only one says that a referral from the therapist comes first). A
linked child's with ``?patient_id=``. The reads go through
:class:`ehr.certificates.Certificates` (the record's access rule, audited there)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from imias.channels.portal.common import PORTAL, acting_for, booking_of, portal_page
from imias.channels.web.certificate_view import (
    certificate_helpers,
    certificate_pdf,
    certificates_of,
    rules,
)
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.pages import lang_of, say
from imias.identity import principal_of
from imias.registry import patients

#: Primary care, booked at the patient's own clinic: the therapist's examination is done
#: there, and the referrals to the referral-only examinations are given there.
PRIMARY_CARE = ("therapist", "general_practitioner")


async def primary_care(request: Request[Any, Any, Any], patient: int) -> str:
    """The primary-care specialty the patient books at her own clinic: its therapist, or
    its general practitioner where it has no therapist."""
    directory = request.app.state.engine.directory
    attached = await patients.attached_clinic(booking_of(request).pool, patient)
    offered = {d.specialty_id for d in directory.doctors_of_clinic.get(attached, [])}
    for code in PRIMARY_CARE:
        found = directory.by_code.get(code)
        if found is not None and found.id in offered:
            return code
    return PRIMARY_CARE[0]


class PortalCertificateController(Controller):
    path = "/"
    tags = ["portal"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get("/certificates", opt=PORTAL, operation_id="portalCertificates")
    async def certificates(
        self,
        request: Request[Any, Any, Any],
        patient_id: FromQuery[int | None] = None,
        categories: FromQuery[list[str] | None] = None,
    ) -> Template:
        patient = await acting_for(request, patient_id)  # a stranger's id: 404
        principal = principal_of(request)
        service = certificates_of(request)
        lang = lang_of(request)
        held = await service.of_patient(principal, patient)
        asked = [c for c in rules.CATEGORIES if c in set(categories or ())]
        error = None
        if categories is not None and not asked:
            error = say(request, "Отметьте хотя бы одну категорию.")
        checklist = await service.checklist(principal, patient, asked or ["B"], lang)
        referred = {
            r["specialty"].code for r in await booking_of(request).patient_referrals(patient)
        }
        directory = request.app.state.engine.directory
        referring = await primary_care(request, patient)
        steps = []
        for item in checklist.items:
            code = referring if item.specialty in PRIMARY_CARE else item.specialty
            specialty = directory.by_code.get(code)
            needs_referral = specialty is not None and not specialty.self_referral
            steps.append(
                {
                    "item": item,
                    "book": code,
                    "bookable": specialty is not None,
                    "needs_referral": needs_referral and item.specialty not in referred,
                    "referred": needs_referral and item.specialty in referred,
                }
            )
        return portal_page(
            request,
            "portal/certificates.html",
            held=held,
            checklist=checklist,
            steps=steps,
            all_categories=rules.CATEGORIES,
            professional=rules.PROFESSIONAL,
            referring=referring,
            claimed=patient_id,
            error=error,
            **certificate_helpers(request),
        )

    @get("/certificates/{number:str}/pdf", opt=PORTAL, operation_id="portalCertificatePdf")
    async def printable(
        self, request: Request[Any, Any, Any], number: FromPath[str]
    ) -> Response[bytes]:
        """The certificate to print or keep (its holder's, or a linked child's)."""
        return await certificate_pdf(request, number)
