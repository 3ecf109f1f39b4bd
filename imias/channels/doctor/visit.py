"""The doctor's visit page ``/doctor/visits/{appointment_id}``: the patient's card at a
glance, the protocol of her specialty's template, vitals, diagnoses by ICD-10, an
allergy and an immunization, the signature; a signed visit read-only with its
amendment (a reason required) and its versions.

The page works as plain forms; its script saves the draft as she types (to the server
and, for a dropped connection, to the browser) and offers ICD-10 codes as she types
them. Every read and write goes through :class:`ehr.Records`, audited there."""

from __future__ import annotations

import hmac
import re
from collections.abc import Awaitable, Callable
from datetime import date
from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from ehr import (
    AllergyIn,
    Encounter,
    ImmunizationIn,
    Records,
    VisitDraft,
    certificates,
    codes,
    template_for,
)
from imias.channels.doctor.cert_form import SCHOOL_KINDS, VERDICTS, CertState
from imias.channels.doctor.pages import COOKIE, PATH, own_doctor
from imias.channels.doctor.rx_form import SCHEDULES, RxState
from imias.channels.doctor.visit_form import (
    COURSES,
    RANKS,
    VERIFICATIONS,
    VITALS,
    FormError,
    VisitForm,
    amendment_of,
    of_draft,
    of_form,
    of_signed,
    signoff_of,
    started,
)
from imias.channels.web.certificate_view import certificate_helpers, certificates_of
from imias.channels.web.errors import PAGE_ERRORS, sentence
from imias.channels.web.i18n import N_
from imias.channels.web.pages import CSRF_COOKIE, form_of, lang_of, page, redirect, say
from imias.channels.web.record_view import record_helpers
from imias.channels.web.rx_view import rx_helpers, rx_lang
from imias.identity import allow, principal_of
from imias.platform.problems import ProblemError
from prescriptions import Prescriptions

VISIT = allow(
    "doctor",
    data="doctor: the record of her own visit's patient (card, protocol, versions); "
    "her own visit's draft, signature and amendment",
    cookie=COOKIE,
    sign_in=PATH,
)
CSRF_HEADER = "x-csrf-token"

#: The record's refusals as the page says them (by the service's code).
REFUSALS = {
    "implausible_value": N_("Такого значения измерения не бывает: проверьте его."),
    "unknown_code": N_("Такого кода нет в справочнике: выберите из списка."),
    "two_primary_diagnoses": N_("Основной диагноз может быть только один."),
    "date_in_future": N_("Дата не может быть в будущем."),
    "unit_mismatch": N_("Единица измерения не та, в которой записывают это измерение."),
    "encounter_signed": N_("Этот приём уже подписан: изменить его можно только исправлением."),
    "encounter_not_signed": N_("Приём ещё не подписан: исправлять нечего."),
    "bad_dose": N_("У этой вакцины нет дозы с таким номером."),
    "forbidden": N_("Это приём другого врача."),
    "empty_protocol": N_("Протокол пуст: напишите его, прежде чем подписывать."),
    "appointment_cancelled": N_("Эта запись отменена: приёма по ней нет."),
    "already_in_error": N_("Эта запись уже отмечена как ошибочная."),
}
SEVERITIES = ("mild", "moderate", "severe")
#: Certificates' numbers in a notice's address (``?revoked=``).
REVOKED_NUMBERS = re.compile(r"\b\d{4}-\d{1,19}-[0-9A-Z]{8}\b")
CRITICALITIES = ("low", "high", "unable-to-assess")


def records_of(request: Request[Any, Any, Any]) -> Records:
    records: Records = request.app.state.records
    return records


async def own_encounter(request: Request[Any, Any, Any], encounter_id: int) -> Encounter:
    """The calling doctor's visit, as the record answers it (404/403 otherwise)."""
    own_doctor(request)
    return await records_of(request).encounter(
        principal_of(request), encounter_id, lang_of(request)
    )


def prescriptions_of(request: Request[Any, Any, Any]) -> Prescriptions:
    service: Prescriptions = request.app.state.prescriptions
    return service


async def rx_section(
    request: Request[Any, Any, Any], encounter: Encounter, rx: RxState
) -> dict[str, Any]:
    """What the visit's prescription section shows besides the form: this visit's
    prescriptions, the products of the drug searched (for a page without its script), the
    benefit categories and the schedules."""
    service = prescriptions_of(request)
    lang = rx_lang(request)
    written = await service.of_encounter(
        principal_of(request), encounter.patient_id, encounter.id, lang
    )
    query = rx.form.drug
    if not query and rx.form.product:
        found = service.catalogue.product(rx.form.product)
        if found is not None:
            query = found[0].inn if lang == "en" else found[0].inn_ru
    return {
        "visit_prescriptions": written,
        "drug_choices": service.drugs(query, 10, lang) if query else [],
        "benefits": [
            (b.code, b.title_en if lang == "en" else b.title_ru)
            for b in service.catalogue.data.benefits
        ],
        "schedules": SCHEDULES,
        **rx_helpers(request),
    }


async def cert_section(
    request: Request[Any, Any, Any], encounter: Encounter, cert: CertState
) -> dict[str, Any]:
    """What the visit's certificate sections show: for an examiner (the driver's
    examination), the verdicts and the restrictions she may set and her examination's
    conclusion on record; for the chair, the driver's checklist for the categories asked
    and the patient's certificates."""
    principal = principal_of(request)
    service = certificates_of(request)
    rules = certificates.rules
    lang = lang_of(request)
    specialty = encounter.specialty or ""
    examiner = rules.EXAMINER_OF.get(specialty)
    chair_driver = specialty in rules.CHAIRS["driver"]
    chair_kinds = [k for k in SCHOOL_KINDS if specialty in rules.CHAIRS[k]]
    checklist = None
    if chair_driver:
        try:
            checklist = await service.checklist(
                principal, encounter.patient_id, cert.categories, lang
            )
        except ProblemError as exc:
            if exc.status != 422:
                raise
    mine = None
    if examiner is not None:
        if checklist is None or examiner not in [i.examiner for i in checklist.items]:
            asked = ["C"] if examiner in rules.PROFESSIONAL_EXAMINERS else ["B"]
            checklist_for_me = await service.checklist(principal, encounter.patient_id, asked, lang)
        else:
            checklist_for_me = checklist
        mine = next(i for i in checklist_for_me.items if i.examiner == examiner)
    yes_no = examiner in rules.YES_NO
    held = []
    if chair_driver or chair_kinds:
        held = await service.of_patient(principal, encounter.patient_id)
    return {
        "cert": cert,
        "examiner": examiner,
        "yes_no": yes_no,
        "verdicts": [v for v in VERDICTS if not (yes_no and v == "restricted")],
        "examiner_restrictions": [
            code for code, (_, _, who) in rules.RESTRICTIONS.items() if examiner in who
        ],
        "concluded": mine if mine is not None and mine.verdict is not None else None,
        "chair_driver": chair_driver,
        "chair_kinds": chair_kinds,
        "driver_checklist": checklist,
        "all_categories": rules.CATEGORIES,
        "professional": rules.PROFESSIONAL,
        "pe_groups": list(rules.PE_GROUPS),
        "patient_certificates": held,
        "own_clinic": principal.org,
        **certificate_helpers(request),
    }


def refusal(exc: ProblemError, request: Request[Any, Any, Any]) -> str:
    known = REFUSALS.get(exc.code)
    return say(request, known) if known else sentence(exc, request)


def visit_url(encounter: Encounter) -> str:
    """A visit's page: by its appointment, or (a walk-in's, a home visit's) by itself."""
    if encounter.appointment_id is None:
        return f"{PATH}/encounters/{encounter.id}"
    return f"{PATH}/visits/{encounter.appointment_id}"


def check_csrf_header(request: Request[Any, Any, Any]) -> None:
    """The script's posts carry the form's CSRF value in a header (double submit)."""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, request.headers.get(CSRF_HEADER, "")):
        raise ProblemError(
            403, "csrf_failed", "The form has expired; open the page again and repeat."
        )


async def illness_section(request: Request[Any, Any, Any], encounter: Encounter) -> dict[str, Any]:
    from imias.channels.doctor.illness import illness_section as section  # it imports this module

    return await section(request, encounter)


async def visit_page(
    request: Request[Any, Any, Any],
    encounter: Encounter,
    *,
    form: VisitForm | None = None,
    amend: VisitForm | None = None,
    reason: str = "",
    error: str | None = None,
    notice: str | None = None,
    posted: bool = False,
    status_code: int = 200,
    rx: RxState | None = None,
    cert: CertState | None = None,
) -> Template:
    """The visit page (its prescription section as ``rx`` says, its certificate sections
    as ``cert`` says; else empty)."""
    principal = principal_of(request)
    records = records_of(request)
    lang = lang_of(request)
    card = await records.card(principal, encounter.patient_id, lang)
    signed = encounter.status != "in-progress"
    versions = await records.versions(principal, "Encounter", encounter.id) if signed else []
    if form is None:
        form = of_draft(encounter.draft) if encounter.draft else started(encounter.specialty)
    if amend is None and signed:
        amend = of_signed(
            encounter.protocol,
            [
                (c.code, c.rank, c.course, c.verification_status)
                for c in encounter.diagnoses
                if c.code and c.verification_status in VERIFICATIONS
            ],
        )
    return page(
        request,
        "doctor/visit.html",
        status_code=status_code,
        enc=encounter,
        card=card,
        form=form,
        amend=amend,
        reason=reason,
        versions=versions,
        template=template_for(encounter.specialty or ""),
        vitals=[codes.measure(c) for c in VITALS],
        substances=sorted(codes.substances().values(), key=lambda s: s.name(lang)),
        vaccines=list(codes.vaccines().values()),
        ranks=RANKS,
        courses=COURSES,
        verifications=VERIFICATIONS,
        severities=SEVERITIES,
        criticalities=CRITICALITIES,
        today=records.today(),
        url=visit_url(encounter),
        posted=posted,
        error=error,
        notice=notice,
        rx=rx or RxState(),
        **await rx_section(request, encounter, rx or RxState()),
        **await cert_section(request, encounter, cert or CertState()),
        **await illness_section(request, encounter),
        **record_helpers(request),
    )


def done_notice(request: Request[Any, Any, Any]) -> str | None:
    """What the visit page says after a change (its ``?done=``)."""
    notice = {
        "signed": N_("Приём подписан."),
        "amended": N_("Исправление сохранено."),
        "allergy": N_("Аллергия записана."),
        "immunization": N_("Прививка записана."),
        "prescribed": N_("Рецепт подписан."),
        "cancelled": N_("Рецепт аннулирован."),
        "concluded": N_("Заключение записано."),
        "issued": N_("Справка выдана."),
        "revoked": N_("Справка отозвана."),
    }.get(request.query_params.get("done", ""))
    said = say(request, notice) if notice else None
    # A conclusion "unfit" revokes the driver's certificates that needed it: say which.
    numbers = REVOKED_NUMBERS.findall(request.query_params.get("revoked", "")[:400])
    if said and numbers:
        said += " " + say(
            request,
            "Из-за этого заключения отозваны медицинские заключения водителя: {numbers}.",
        ).format(numbers=", ".join(numbers))
    return said


class DoctorVisitController(Controller):
    path = PATH
    tags = ["doctor"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    async def _page(
        self, request: Request[Any, Any, Any], encounter: Encounter, **context: Any
    ) -> Template:
        return await visit_page(request, encounter, **context)

    @get(
        "/visits/{appointment_id:int}",
        opt=VISIT,
        operation_id="doctorVisitPage",
        media_type=MediaType.HTML,
    )
    async def visit(self, request: Request[Any, Any, Any], appointment_id: FromPath[int]) -> Any:
        own_doctor(request)
        try:
            encounter = await records_of(request).open_visit(
                principal_of(request), appointment_id=appointment_id, lang=lang_of(request)
            )
        except ProblemError as exc:  # said in the page's words (PAGE_ERRORS shows it)
            known = REFUSALS.get(exc.code)
            if known:
                exc.extra["message_ru"] = known
            raise
        said = done_notice(request)
        return await self._page(request, encounter, notice=said)

    @get(
        "/encounters/{encounter_id:int}",
        opt=VISIT,
        operation_id="doctorEncounterPage",
        media_type=MediaType.HTML,
    )
    async def encounter_page(
        self, request: Request[Any, Any, Any], encounter_id: FromPath[int]
    ) -> Any:
        """A visit with no appointment (a walk-in called from the queue, a home visit):
        her own only."""
        encounter = await own_encounter(request, encounter_id)
        if encounter.doctor_id != own_doctor(request):
            raise ProblemError(403, "forbidden", say(request, REFUSALS["forbidden"]))
        if encounter.appointment_id is not None:
            return redirect(visit_url(encounter))
        return await self._page(request, encounter, notice=done_notice(request))

    @post(
        "/visits/{encounter_id:int}/draft",
        opt=VISIT,
        operation_id="doctorVisitDraft",
        status_code=200,
    )
    async def draft(self, request: Request[Any, Any, Any], encounter_id: FromPath[int]) -> Any:
        """The form as typed, from the page's script (JSON :class:`ehr.VisitDraft`)."""
        check_csrf_header(request)
        own_doctor(request)
        principal = principal_of(request)
        try:
            draft = msgspec.json.decode(await request.body(), type=VisitDraft)
        except msgspec.DecodeError as exc:
            raise ProblemError(400, "invalid_draft", str(exc)) from None
        saved = await records_of(request).save_draft(principal, encounter_id, draft)
        zone = request.app.state.engine.zone  # the city's
        return Response(
            {"saved_at": saved.isoformat(), "shown": saved.astimezone(zone).strftime("%H:%M")}
        )

    @post(
        "/visits/{encounter_id:int}/sign",
        opt=VISIT,
        operation_id="doctorVisitSign",
        media_type=MediaType.HTML,
        status_code=200,
    )
    async def sign(self, request: Request[Any, Any, Any], encounter_id: FromPath[int]) -> Any:
        form = await form_of(request)
        encounter = await own_encounter(request, encounter_id)
        typed = of_form(form)
        lang = lang_of(request)
        try:
            signoff = signoff_of(typed, lang)
            await records_of(request).sign(principal_of(request), encounter_id, signoff, lang)
        except FormError as exc:
            error = exc.sentence(lambda m: say(request, m))
            return await self._page(
                request, encounter, form=typed, error=error, posted=True, status_code=422
            )
        except ProblemError as exc:
            if exc.status in (401, 403, 404):
                raise
            return await self._page(
                request,
                encounter,
                form=typed,
                error=refusal(exc, request),
                posted=True,
                status_code=exc.status,
            )
        if encounter.appointment_id is None:  # a walk-in's visit signed: she was seen
            await request.app.state.booking.walk_ins.seen_by_visit(
                principal_of(request).org, encounter_id
            )
        return redirect(visit_url(encounter) + "?done=signed")

    @post(
        "/visits/{encounter_id:int}/amend",
        opt=VISIT,
        operation_id="doctorVisitAmend",
        media_type=MediaType.HTML,
        status_code=200,
    )
    async def amend(self, request: Request[Any, Any, Any], encounter_id: FromPath[int]) -> Any:
        form = await form_of(request)
        encounter = await own_encounter(request, encounter_id)
        typed = of_form(form)
        reason = form.get("reason", "")
        lang = lang_of(request)
        try:
            amendment = amendment_of(reason, typed, lang)
            await records_of(request).amend(principal_of(request), encounter_id, amendment, lang)
        except FormError as exc:
            error = exc.sentence(lambda m: say(request, m))
            return await self._page(
                request, encounter, amend=typed, reason=reason, error=error, status_code=400
            )
        except ProblemError as exc:
            if exc.status in (401, 403, 404):
                raise
            return await self._page(
                request,
                encounter,
                amend=typed,
                reason=reason,
                error=refusal(exc, request),
                status_code=exc.status,
            )
        return redirect(visit_url(encounter) + "?done=amended")

    @post(
        "/visits/{encounter_id:int}/allergies",
        opt=VISIT,
        operation_id="doctorVisitAllergy",
        media_type=MediaType.HTML,
        status_code=200,
    )
    async def allergy(self, request: Request[Any, Any, Any], encounter_id: FromPath[int]) -> Any:
        form = await form_of(request)
        encounter = await own_encounter(request, encounter_id)

        async def write() -> None:
            allergy = msgspec.convert(
                {
                    "substance": form.get("substance", ""),
                    "reaction": form.get("reaction", "").strip() or None,
                    "severity": form.get("severity") or None,
                    "criticality": form.get("criticality") or "low",
                    "encounter_id": encounter.id,
                },
                AllergyIn,
            )
            await records_of(request).add_allergy(
                principal_of(request), encounter.patient_id, allergy, lang_of(request)
            )

        unreadable = N_("Выберите вещество из списка.")
        return await self._beside(request, encounter, write, unreadable, "allergy#allergies")

    @post(
        "/visits/{encounter_id:int}/immunizations",
        opt=VISIT,
        operation_id="doctorVisitImmunization",
        media_type=MediaType.HTML,
        status_code=200,
    )
    async def immunization(
        self, request: Request[Any, Any, Any], encounter_id: FromPath[int]
    ) -> Any:
        form = await form_of(request)
        encounter = await own_encounter(request, encounter_id)

        async def write() -> None:
            given = msgspec.convert(
                {
                    "vaccine": form.get("vaccine", ""),
                    "dose_number": int(form.get("dose_number", "")),
                    "occurred_on": date.fromisoformat(form.get("occurred_on", "")),
                    "lot": form.get("lot", "").strip() or None,
                    "encounter_id": encounter.id,
                },
                ImmunizationIn,
            )
            await records_of(request).add_immunization(
                principal_of(request), encounter.patient_id, given, lang_of(request)
            )

        unreadable = N_("Укажите вакцину, номер дозы (1–20) и дату прививки.")
        return await self._beside(
            request, encounter, write, unreadable, "immunization#immunizations"
        )

    async def _beside(
        self,
        request: Request[Any, Any, Any],
        encounter: Encounter,
        write: Callable[[], Awaitable[None]],
        unreadable: str,
        done: str,
    ) -> Any:
        """A fact written beside the visit from its own small form: back to the visit,
        or the visit again with the refusal said (``unreadable``: the form made no sense)."""
        try:
            await write()
        except (ValueError, msgspec.ValidationError, ProblemError) as exc:
            if isinstance(exc, ProblemError) and exc.status in (401, 403, 404):
                raise
            error = (
                refusal(exc, request) if isinstance(exc, ProblemError) else say(request, unreadable)
            )
            return await self._page(request, encounter, error=error, status_code=422)
        return redirect(visit_url(encounter) + f"?done={done}")

    @get(
        "/encounters/{encounter_id:int}/versions/{version:int}",
        opt=VISIT,
        operation_id="doctorVisitVersion",
        media_type=MediaType.HTML,
    )
    async def version(
        self, request: Request[Any, Any, Any], encounter_id: FromPath[int], version: FromPath[int]
    ) -> Template:
        own_doctor(request)
        principal = principal_of(request)
        records = records_of(request)
        if not 1 <= version <= 1_000_000:
            raise ProblemError(404, "not_found", say(request, "Такой версии нет."))
        state = await records.encounter_version(principal, encounter_id, version, lang_of(request))
        versions = await records.versions(principal, "Encounter", encounter_id)
        return page(
            request,
            "doctor/visit_version.html",
            enc=state,
            version=version,
            versions=versions,
            url=visit_url(state),
            **record_helpers(request),
        )
