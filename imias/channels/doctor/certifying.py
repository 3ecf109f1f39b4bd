"""Medical certificates in the doctor's visit: a specialist's conclusion for the driver's
examination (003-В/у), the chair's checklist and issue (the driver's from the
conclusions on record; the school's, the PE group's and the pool's), a revocation
with its reason, and a certificate's PDF. Plain forms (no script needed); every call
goes through :class:`ehr.certificates.Certificates`, audited there."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, get, post
from litestar.params import FromPath

from imias.channels.doctor.cert_form import (
    CertState,
    certificate_in,
    certificate_of_form,
    conclusion_in,
    conclusion_of_form,
    revocation_reason,
)
from imias.channels.doctor.pages import COOKIE, PATH, own_doctor
from imias.channels.doctor.visit import own_encounter, visit_page, visit_url
from imias.channels.doctor.visit_form import FormError
from imias.channels.web.certificate_view import (
    certificate_pdf,
    certificate_sentence,
    certificates_of,
)
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.pages import form_of, redirect, say
from imias.identity import allow, principal_of
from imias.platform.problems import ProblemError

CERTIFYING = allow(
    "doctor",
    data="doctor: her own visit's driver's-examination conclusion; as the chair, her visit's "
    "patient's checklist, certificates and their issue; revocation of her clinic's "
    "certificates; a certificate's PDF for a patient whose record she may read",
    cookie=COOKIE,
    sign_in=PATH,
)


class DoctorCertificateController(Controller):
    path = PATH
    tags = ["doctor"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @post(
        "/visits/{encounter_id:int}/conclusions",
        opt=CERTIFYING,
        operation_id="doctorConclusion",
        media_type=MediaType.HTML,
        status_code=200,
    )
    async def conclude(self, request: Request[Any, Any, Any], encounter_id: FromPath[int]) -> Any:
        """The specialist's conclusion for the driver's examination, in her own visit."""
        form = await form_of(request)
        encounter = await own_encounter(request, encounter_id)
        state = conclusion_of_form(form)
        try:
            concluded = await certificates_of(request).conclude(
                principal_of(request), encounter_id, conclusion_in(state)
            )
        except FormError as exc:
            state.conclusion_error = exc.sentence(lambda m: say(request, m))
            return await visit_page(request, encounter, cert=state, status_code=422)
        except ProblemError as exc:
            if exc.status in (401, 404):
                raise
            state.conclusion_error = certificate_sentence(exc, request)
            return await visit_page(request, encounter, cert=state, status_code=exc.status)
        revoked = ",".join(concluded.revoked)
        done = "?done=concluded" + (f"&revoked={revoked}" if revoked else "")
        return redirect(visit_url(encounter) + done + "#conclusion")

    @post(
        "/visits/{encounter_id:int}/certificates",
        opt=CERTIFYING,
        operation_id="doctorCertificate",
        media_type=MediaType.HTML,
        status_code=200,
    )
    async def issue(self, request: Request[Any, Any, Any], encounter_id: FromPath[int]) -> Any:
        """The chair's form: ``kind`` driver (``action`` check: the checklist for the
        categories ticked; issue) or a school kind; back to the visit once issued."""
        form = await form_of(request)
        encounter = await own_encounter(request, encounter_id)
        state = certificate_of_form(form)
        kind = form.get("kind", "driver")
        driver = kind == "driver"
        if driver and form.get("action") == "check":
            if state.categories:
                return await visit_page(request, encounter, cert=state)
            state.driver_error = say(request, "Отметьте хотя бы одну категорию.")
            return await visit_page(request, encounter, cert=state, status_code=422)
        try:
            wanted = certificate_in(encounter.patient_id, kind, state)
            await certificates_of(request).issue(principal_of(request), wanted)
        except (FormError, msgspec.ValidationError) as exc:
            if isinstance(exc, FormError):
                error = exc.sentence(lambda m: say(request, m))
            else:
                error = say(request, "Проверьте справку: выберите её вид из списка.")
            if driver:
                state.driver_error = error
            else:
                state.school_error = error
            return await visit_page(request, encounter, cert=state, status_code=422)
        except ProblemError as exc:
            if exc.status in (401, 404):
                raise
            if driver:
                state.driver_error = certificate_sentence(exc, request)
            else:
                state.school_error = certificate_sentence(exc, request)
            return await visit_page(request, encounter, cert=state, status_code=exc.status)
        return redirect(visit_url(encounter) + "?done=issued#certificates")

    @post(
        "/visits/{encounter_id:int}/certificates/{number:str}/revoke",
        opt=CERTIFYING,
        operation_id="doctorRevokeCertificate",
        media_type=MediaType.HTML,
        status_code=200,
    )
    async def revoke(
        self, request: Request[Any, Any, Any], encounter_id: FromPath[int], number: FromPath[str]
    ) -> Any:
        """A certificate of her clinic revoked, with the reason (the holder reads it)."""
        form = await form_of(request)
        encounter = await own_encounter(request, encounter_id)
        state = CertState()
        state.revoking, state.reason = number, form.get("reason", "").strip()[:500]
        try:
            reason = revocation_reason(form)
            await certificates_of(request).revoke(principal_of(request), number, reason)
        except FormError as exc:
            state.revoke_error = exc.sentence(lambda m: say(request, m))
            return await visit_page(request, encounter, cert=state, status_code=422)
        except ProblemError as exc:
            if exc.status in (401, 404):
                raise
            state.revoke_error = certificate_sentence(exc, request)
            return await visit_page(request, encounter, cert=state, status_code=exc.status)
        return redirect(visit_url(encounter) + "?done=revoked#certificates")

    @get(
        "/certificates/{number:str}/pdf",
        opt=CERTIFYING,
        operation_id="doctorCertificatePdf",
        media_type="application/pdf",
    )
    async def printable(self, request: Request[Any, Any, Any], number: FromPath[str]) -> Any:
        """A certificate to print, for a doctor who may read the holder's record."""
        own_doctor(request)
        return await certificate_pdf(request, number)
