"""The portal's other pages of the signed-in patient: the waitlist (join, leave),
referrals (what I may book), family members (a linked child to book for) and who looked
at my data (the access log). Reads are audited as the API's are."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from imias.channels.portal.common import (
    PORTAL,
    acting_for,
    booking_of,
    claimed_patient,
    portal_page,
)
from imias.channels.web.certificate_view import check_place
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.i18n import N_
from imias.channels.web.pages import form_of, redirect, say
from imias.identity import principal_of, read_access_log
from imias.platform.audit.writer import record, record_many
from imias.platform.problems import ProblemError

ACCESS_LOG_SHOWN = 100
# What an access log's action and role read as.
ACTIONS = {
    "read": N_("просмотр"),
    "create": N_("запись"),
    "book": N_("запись"),
    "update": N_("изменение"),
    "cancel": N_("отмена"),
    "sign": N_("подпись"),
    "amend": N_("исправление"),
    "draft": N_("черновик"),
    "entered_in_error": N_("отметка об ошибочной записи"),
    "break_glass": N_("экстренный доступ"),
    "dispense": N_("отпуск в аптеке"),
    "override": N_("назначение вопреки проверке"),
    "conclude": N_("заключение"),
    "issue": N_("выдача"),
    "revoke": N_("отзыв"),
    "verify": N_("проверка"),
    "close": N_("закрытие"),
    "withdraw": N_("отзыв согласия"),
    "retry": N_("повторная отправка"),
}
# What the record's audit entries are about (the rest show as they are recorded).
RESOURCES = {
    "medical_record": N_("медицинская карта"),
    "encounter": N_("приём"),
    "encounters": N_("приёмы"),
    "condition": N_("диагноз"),
    "observation": N_("результат"),
    "observations": N_("результаты"),
    "allergy": N_("аллергия"),
    "allergies": N_("аллергии"),
    "immunization": N_("прививка"),
    "immunizations": N_("прививки"),
    "appointment": N_("запись на приём"),
    "patient": N_("данные пациента"),
    "prescription": N_("рецепт"),
    "prescriptions": N_("рецепты"),
    "subsidised_prescriptions": N_("льготные рецепты"),
    "dispensing": N_("отпуск препарата"),
    "prescribing_facts": N_("аллергии и хронические заболевания (проверка рецепта)"),
    "prescription_allergy": N_("рецепт: аллергия"),
    "prescription_interaction": N_("рецепт: взаимодействие препаратов"),
    "prescription_duplicate": N_("рецепт: дублирование терапии"),
    "prescription_max_daily_dose": N_("рецепт: суточная доза"),
    "prescription_age": N_("рецепт: возраст"),
    "fhir_medicationrequest": N_("рецепты (FHIR)"),
    "fhir_medicationdispense": N_("отпуск препаратов (FHIR)"),
    "certificate": N_("медицинская справка"),
    "certificates": N_("медицинские справки"),
    "exam_conclusion": N_("заключение для медицинского заключения водителя"),
    "exam_conclusions": N_("заключения врачей для медицинского заключения водителя"),
    "illness_episode": N_("справка о болезни для школы"),
    "illness_episodes": N_("справки о болезни для школы"),
    "school_consent": N_("согласие на передачу данных в школу"),
    "school_consents": N_("согласия на передачу данных в школу"),
    "pe_restrictions": N_("ограничения по физкультуре (медицинская сестра школы)"),
    "emergency_summary": N_("экстренная сводка для бригады скорой помощи"),
    "active_visit": N_("активный визит после вызова скорой помощи"),
    "active_visits": N_("активные визиты после вызова скорой помощи"),
    "deliveries": N_("сообщения внешним системам (список отправленного)"),
}
ROLES = {
    "registrar": N_("регистратор"),
    "doctor": N_("врач"),
    "pharmacist": N_("фармацевт"),
    "administrator": N_("администратор"),
    "patient": N_("пациент (по доверенности)"),
    "police_officer": N_("сотрудник полиции"),
    "school_nurse": N_("медицинская сестра школы"),
    "ambulance_crew": N_("скорая помощь"),
}


def _with(patient_id: int | None) -> str:
    return f"?patient_id={patient_id}" if patient_id else ""


class PortalAccountController(Controller):
    path = "/"
    tags = ["portal"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get("/waitlist", opt=PORTAL, operation_id="portalWaitlist")
    async def waitlist(
        self,
        request: Request[Any, Any, Any],
        patient_id: FromQuery[int | None] = None,
        specialty: FromQuery[str | None] = None,
    ) -> Template:
        patient = await acting_for(request, patient_id)
        booking = booking_of(request)
        entries = await booking.waitlist.entries(patient)
        await record(booking.pool, "read", "waitlist", None, patient)
        directory = request.app.state.engine.directory
        today = request.app.state.engine.today()  # the city's day, as join checks it
        return portal_page(
            request,
            "portal/waitlist.html",
            entries=[e for e in entries if e.status in ("waiting", "offered")],
            specialties=sorted(directory.specialties.values(), key=lambda s: s.name_ru),
            names={s.code: s.name_ru for s in directory.specialties.values()},
            chosen=specialty,
            claimed=patient_id,
            from_day=today,
            to_day=today + timedelta(days=13),
        )

    @post("/waitlist", opt=PORTAL, operation_id="portalJoinWaitlist", status_code=303)
    async def join(self, request: Request[Any, Any, Any]) -> Any:
        form = await form_of(request)
        claimed = claimed_patient(form)
        patient = await acting_for(request, claimed)
        try:
            first = date.fromisoformat(form.get("from", ""))
            last = date.fromisoformat(form.get("to", ""))
        except ValueError:
            raise ProblemError(
                400, "bad_request", say(request, "Укажите даты: с какого дня и по какой.")
            ) from None
        await booking_of(request).waitlist.join(
            patient, form.get("specialty", ""), None, None, first, last
        )
        return redirect("/waitlist" + _with(claimed))

    @post(
        "/waitlist/{entry_id:int}/leave",
        opt=PORTAL,
        operation_id="portalLeaveWaitlist",
        status_code=303,
    )
    async def leave(self, request: Request[Any, Any, Any], entry_id: FromPath[int]) -> Any:
        form = await form_of(request)
        claimed = claimed_patient(form)
        patient = await acting_for(request, claimed)
        await booking_of(request).waitlist.leave(patient, entry_id)
        return redirect("/waitlist" + _with(claimed))

    @get("/referrals", opt=PORTAL, operation_id="portalReferrals")
    async def referrals(
        self, request: Request[Any, Any, Any], patient_id: FromQuery[int | None] = None
    ) -> Template:
        patient = await acting_for(request, patient_id)
        booking = booking_of(request)
        found = await booking.patient_referrals(patient)
        await record(booking.pool, "read", "referrals", None, patient)
        return portal_page(request, "portal/referrals.html", referrals=found, claimed=patient_id)

    @get("/family", opt=PORTAL, operation_id="portalFamily")
    async def family(self, request: Request[Any, Any, Any]) -> Template:
        principal = principal_of(request)
        identity = request.app.state.identity
        children = await identity.accounts.children(principal.subject)
        await record_many(
            identity.pool,
            "read",
            "linked_patient",
            principal.subject,
            [c.patient_id for c in children],
        )
        return portal_page(request, "portal/family.html", children=children)

    @get("/access-log", opt=PORTAL, operation_id="portalAccessLog")
    async def access_log(
        self, request: Request[Any, Any, Any], patient_id: FromQuery[int | None] = None
    ) -> Template:
        whose = await acting_for(request, patient_id)
        identity = request.app.state.identity
        rows = await read_access_log(identity.pool, whose, None, ACCESS_LOG_SHOWN)
        return portal_page(
            request,
            "portal/access_log.html",
            rows=rows,
            actions=ACTIONS,
            resources=RESOURCES,
            roles=ROLES,
            check_place=lambda reason: check_place(reason, request),
            claimed=patient_id,
        )
