"""Prescriptions in the doctor's visit: the checks as she fills the form (the page's
script posts it as JSON), the signature (a plain form: without the script, "Проверить"
shows the findings the same way) with the override's reason when a finding is
contraindicated, and a cancellation with its reason. Every call goes through
:class:`prescriptions.Prescriptions`, audited there."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, Response, post
from litestar.params import FromPath

from imias.channels.doctor.pages import PATH, own_doctor
from imias.channels.doctor.rx_form import RxState, prescription_in, rx_of_form, said_of
from imias.channels.doctor.visit import (
    VISIT,
    check_csrf_header,
    prescriptions_of,
    records_of,
    visit_page,
    visit_url,
)
from imias.channels.doctor.visit_form import FormError
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.pages import form_of, lang_of, redirect, say
from imias.channels.web.rx_view import rx_lang, rx_sentence
from imias.identity import principal_of
from imias.platform.problems import ProblemError
from prescriptions import Finding, PrescriptionIn


class DoctorPrescriptionController(Controller):
    path = PATH
    tags = ["doctor"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @post(
        "/visits/{encounter_id:int}/prescription-checks",
        opt=VISIT,
        operation_id="doctorPrescriptionCheck",
        status_code=200,
    )
    async def check(self, request: Request[Any, Any, Any], encounter_id: FromPath[int]) -> Any:
        """The checks of the form as typed, from the page's script (JSON
        :class:`prescriptions.PrescriptionIn`): :class:`prescriptions.CheckOut`, or
        ``{"error": sentence}`` (422) when the form cannot be checked yet."""
        check_csrf_header(request)
        own_doctor(request)
        try:
            rx = msgspec.json.decode(await request.body(), type=PrescriptionIn)
        except msgspec.ValidationError as exc:
            error = say(request, said_of(str(exc)))
            return Response({"error": error}, status_code=422)
        except msgspec.DecodeError:
            raise ProblemError(400, "invalid_prescription", "Not JSON.") from None
        try:
            found = await prescriptions_of(request).check(
                principal_of(request), encounter_id, rx, rx_lang(request)
            )
        except ProblemError as exc:
            if exc.status in (401, 403, 404):
                raise
            return Response({"error": rx_sentence(exc, request)}, status_code=422)
        return Response(
            msgspec.to_builtins(found)
            | {"valid_until_text": found.valid_until.strftime("%d.%m.%Y")}
        )

    @post(
        "/visits/{encounter_id:int}/prescriptions",
        opt=VISIT,
        operation_id="doctorPrescribe",
        media_type=MediaType.HTML,
        status_code=200,
    )
    async def prescribe(self, request: Request[Any, Any, Any], encounter_id: FromPath[int]) -> Any:
        """The form: ``action`` find (the products of the drug typed), check (the
        findings) or sign (check, sign, back to the visit)."""
        form = await form_of(request)
        own_doctor(request)
        encounter = await records_of(request).encounter(
            principal_of(request), encounter_id, lang_of(request)
        )
        typed = rx_of_form(form)
        action = form.get("action", "sign")
        state = RxState(form=typed)
        if action == "find":
            return await visit_page(request, encounter, rx=state)
        service = prescriptions_of(request)
        try:
            rx = prescription_in(typed)
            if action == "check":
                state.check = await service.check(
                    principal_of(request), encounter_id, rx, rx_lang(request)
                )
                state.findings = state.check.findings
                state.blocked = state.check.blocked
                return await visit_page(request, encounter, rx=state)
            await service.prescribe(principal_of(request), encounter_id, rx, rx_lang(request))
        except FormError as exc:
            state.error = exc.sentence(lambda m: say(request, m))
            return await visit_page(request, encounter, rx=state, status_code=422)
        except ProblemError as exc:
            if exc.status in (401, 403, 404):
                raise
            state.error = rx_sentence(exc, request)
            if exc.code == "contraindicated":
                state.blocked = True
                state.findings = msgspec.convert(exc.extra.get("findings", []), list[Finding])
            return await visit_page(request, encounter, rx=state, status_code=exc.status)
        return redirect(visit_url(encounter) + "?done=prescribed#prescriptions")

    @post(
        "/visits/{encounter_id:int}/prescriptions/{prescription_id:int}/cancel",
        opt=VISIT,
        operation_id="doctorPrescriptionCancel",
        media_type=MediaType.HTML,
        status_code=200,
    )
    async def cancel(
        self,
        request: Request[Any, Any, Any],
        encounter_id: FromPath[int],
        prescription_id: FromPath[int],
    ) -> Any:
        form = await form_of(request)
        own_doctor(request)
        encounter = await records_of(request).encounter(
            principal_of(request), encounter_id, lang_of(request)
        )
        reason = form.get("reason", "").strip()
        if not 10 <= len(reason) <= 500:
            error = say(request, "Укажите причину аннулирования (от 10 до 500 знаков).")
            return await visit_page(request, encounter, rx=RxState(error=error), status_code=422)
        try:
            await prescriptions_of(request).cancel(
                principal_of(request), prescription_id, reason, rx_lang(request)
            )
        except ProblemError as exc:
            if exc.status in (401, 404):
                raise
            error = rx_sentence(exc, request)
            return await visit_page(
                request, encounter, rx=RxState(error=error), status_code=exc.status
            )
        return redirect(visit_url(encounter) + "?done=cancelled#prescriptions")
