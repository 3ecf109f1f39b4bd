"""A clinic's schedules as its administrator runs them (``/admin/schedules``): the
clinic's doctors, a doctor's week (templates) and exceptions with their forms (a sick
day is one short form: doctor, day, kind, the whole day or hours), and the city's
public holidays (the city's administrator edits them; a clinic's reads them).

A clinic administrator sees her own clinic only (the token's ``org``); the city's
administrator picks a clinic. Forms post with the CSRF value and answer with a redirect
(no repeat on a reload) that says what the change did: how many patients lost their
appointment, with a link to the moved patients' page. A refused change shows its
sentence in the form, with the status of the problem. The use cases are
:class:`imias.booking.ScheduleAdmin`'s, so a page's change is the API's change: one
transaction, the engines told through the stream."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from imias.booking import (
    ExceptionRequest,
    HolidayRequest,
    ScheduleAdmin,
    ScheduleChange,
    TemplateRequest,
)
from imias.channels.admin.pages import COOKIE, MANAGERS, SIGN_IN_PATH
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.i18n import N_
from imias.channels.web.pages import form_of, lang_of, page, redirect, say
from imias.identity import allow, principal_of
from imias.platform.problems import ProblemError

PATH = "/admin/schedules"
HOLIDAYS_EDIT = allow(
    "administrator",
    data="the city's public holidays (no personal data)",
    cookie=COOKIE,
    sign_in=SIGN_IN_PATH,
)
WEEKDAYS = (
    N_("понедельник"),
    N_("вторник"),
    N_("среда"),
    N_("четверг"),
    N_("пятница"),
    N_("суббота"),
    N_("воскресенье"),
)
KINDS = {
    "sick": N_("больничный"),
    "leave": N_("отпуск"),
    "training": N_("учёба"),
    "extra": N_("дополнительная смена"),
}
CHANNELS = {
    "web": N_("сайт"),
    "app": N_("приложение"),
    "phone": N_("телефон"),
    "kiosk": N_("инфомат"),
    "registrar": N_("регистратура"),
}
#: What a refused change says on a page, by the problem's code.
SENTENCES = {
    "template_overlap": N_("Эти часы пересекаются с другим шаблоном врача в тот же день недели."),
    "in_the_past": N_("Этот день уже прошёл."),
    "bad_visit_length": N_(
        "Длительность приёма должна быть кратна 5 минутам и целиком заполнять часы приёма."
    ),
    "bad_hours": N_(
        "Часы приёма — с 08:00 до 20:00, с шагом 5 минут, и конец позже начала; "
        "у дополнительной смены часы обязательны."
    ),
    "bad_dates": N_("Дата окончания раньше даты начала."),
    "holiday_exists": N_("Этот день уже праздничный."),
    "appointments_in_the_way": N_(
        "На эти дни уже есть записи, которые не укладываются в новые приёмы: "
        "укажите более поздний день, с которого действует изменение."
    ),
    "patient_arrived": N_("Пациент уже пришёл на приём в это время: сначала завершите приём."),
    "not_found": N_("Такого врача, шаблона или дня нет."),
    "forbidden": N_("Администратор поликлиники работает только со своей поликлиникой."),
    "validation_error": N_("Проверьте заполнение формы."),
}


def _schedules(request: Request[Any, Any, Any]) -> ScheduleAdmin:
    admin: ScheduleAdmin = request.app.state.schedules
    return admin


def _clinic_of(request: Request[Any, Any, Any], clinic_id: int | None) -> int | None:
    """The clinic a page works on: a clinic administrator's own, whatever is asked."""
    principal = principal_of(request)
    if principal.role == "clinic_admin":
        if clinic_id is not None and clinic_id != principal.org:
            raise ProblemError(403, "forbidden", say(request, SENTENCES["forbidden"]))
        return principal.org
    return clinic_id


def _specialties(request: Request[Any, Any, Any]) -> dict[str, str]:
    """A specialty's name in the page's language, by its code."""
    english = lang_of(request) == "en"
    return {
        s.code: s.name_en if english else s.name_ru
        for s in request.app.state.engine.directory.specialties.values()
    }


def _problem_sentence(request: Request[Any, Any, Any], exc: ProblemError) -> str:
    sentence = SENTENCES.get(exc.code)
    return say(request, sentence) if sentence else (exc.detail or exc.code)


def _template_request(form: dict[str, str]) -> TemplateRequest:
    channels = [c for c in CHANNELS if form.get(f"channel_{c}")]
    fields: dict[str, Any] = {
        "weekday": int(form.get("weekday") or 0),
        "starts": form.get("starts", ""),
        "ends": form.get("ends", ""),
        "channels": channels or None,
        "referral": bool(form.get("referral")),
        "urgent": bool(form.get("urgent")),
    }
    for name in ("slot_minutes",):
        if form.get(name):
            fields[name] = int(form[name])
    for name in ("valid_from", "valid_to", "from"):
        if form.get(name):
            fields[name] = form[name]
    return msgspec.convert(fields, TemplateRequest)


def _exception_request(form: dict[str, str]) -> ExceptionRequest:
    fields: dict[str, Any] = {"day": form.get("day", ""), "kind": form.get("kind", "")}
    if form.get("hours") == "part" or form.get("kind") == "extra":
        fields |= {"starts": form.get("starts") or None, "ends": form.get("ends") or None}
    return msgspec.convert(fields, ExceptionRequest)


def _done(change: ScheduleChange) -> dict[str, Any]:
    return {"done": 1, "displaced": change.displaced, "holds": change.holds_released}


class ScheduleAdminPages(Controller):
    path = PATH
    tags = ["admin"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS
    opt = MANAGERS

    @get(operation_id="adminSchedules")
    async def clinic(
        self, request: Request[Any, Any, Any], clinic: FromQuery[int | None] = None
    ) -> Template:
        """The clinic's doctors (the city's administrator first picks a clinic), and the
        short form of a day off (a sick day)."""
        return await self._clinic_page(request, _clinic_of(request, clinic))

    async def _clinic_page(
        self,
        request: Request[Any, Any, Any],
        clinic_id: int | None,
        *,
        error: str | None = None,
        status_code: int = 200,
        form: dict[str, str] | None = None,
    ) -> Template:
        schedules = _schedules(request)
        directory = request.app.state.engine.directory
        if clinic_id is None:
            clinics = sorted(directory.clinics.values(), key=lambda c: c.name)
            return page(request, "admin/schedules.html", clinics=clinics, doctors=None)
        try:
            doctors = await schedules.doctors(clinic_id)
        except ProblemError as exc:
            raise ProblemError(404, exc.code, say(request, "Такой поликлиники нет.")) from None
        clinic_row = directory.clinics.get(clinic_id)
        return page(
            request,
            "admin/schedules.html",
            status_code=status_code,
            clinics=None,
            clinic_id=clinic_id,
            clinic_name=clinic_row.name if clinic_row else str(clinic_id),
            doctors=doctors,
            specialties=_specialties(request),
            kinds=KINDS,
            error=error,
            form=form or {},
            tomorrow=schedules.today(request.app.state.engine.zone.key) + timedelta(days=1),
            **self._result(request),
        )

    @post("/{clinic_id:int}/exceptions", operation_id="adminAddDayOff", status_code=303)
    async def add_day_off(
        self, request: Request[Any, Any, Any], clinic_id: FromPath[int]
    ) -> Response[Any] | Template:
        """The short form: a doctor, a day, a kind, the whole day or hours."""
        form = await form_of(request)
        _clinic_of(request, clinic_id)
        try:
            doctor_id = int(form.get("doctor_id") or 0)
            data = _exception_request(form)
            change = await _schedules(request).add_exception(
                clinic_id, doctor_id, data, principal_of(request).subject
            )
        except (msgspec.ValidationError, ValueError):
            return await self._clinic_page(
                request, clinic_id, form=form, status_code=400,
                error=say(request, SENTENCES["validation_error"]),
            )  # fmt: skip
        except ProblemError as exc:
            if exc.status == 403:
                raise ProblemError(403, exc.code, _problem_sentence(request, exc)) from None
            return await self._clinic_page(
                request, clinic_id, form=form, status_code=exc.status,
                error=_problem_sentence(request, exc),
            )  # fmt: skip
        return redirect(f"{PATH}?" + urlencode({"clinic": clinic_id} | _done(change)))

    @get("/{clinic_id:int}/doctors/{doctor_id:int}", operation_id="adminDoctorSchedule")
    async def doctor(
        self,
        request: Request[Any, Any, Any],
        clinic_id: FromPath[int],
        doctor_id: FromPath[int],
    ) -> Template:
        return await self._doctor_page(request, clinic_id, doctor_id)

    async def _doctor_page(
        self,
        request: Request[Any, Any, Any],
        clinic_id: int,
        doctor_id: int,
        *,
        error: str | None = None,
        status_code: int = 200,
        form: dict[str, str] | None = None,
    ) -> Template:
        _clinic_of(request, clinic_id)
        try:
            schedule = await _schedules(request).schedule(clinic_id, doctor_id)
        except ProblemError as exc:
            raise ProblemError(exc.status, exc.code, _problem_sentence(request, exc)) from None
        return page(
            request,
            "admin/schedule_doctor.html",
            status_code=status_code,
            clinic_id=clinic_id,
            schedule=schedule,
            specialties=_specialties(request),
            weekdays=WEEKDAYS,
            kinds=KINDS,
            channels=CHANNELS,
            error=error,
            form=form or {},
            tomorrow=schedule.today + timedelta(days=1),
            **self._result(request),
        )

    @staticmethod
    def _result(request: Request[Any, Any, Any]) -> dict[str, Any]:
        """What the change just made did, from the redirect's query."""
        query = request.query_params
        if not query.get("done"):
            return {}
        displaced = int(query.get("displaced") or 0)
        notice = say(request, "Изменение сохранено и отправлено в расписание.")
        if displaced:
            notice += " " + say(
                request, "Записи отменены у пациентов: {n}. Им предложат другое время."
            ).format(n=displaced)
        return {"notice": notice, "displaced": displaced}

    async def _change(
        self,
        request: Request[Any, Any, Any],
        clinic_id: int,
        doctor_id: int,
        make: Any,
    ) -> Response[Any] | Template:
        """Run a page's change; a refusal shows the doctor's page with its sentence."""
        form = await form_of(request)
        _clinic_of(request, clinic_id)
        try:
            change: ScheduleChange = await make(form, principal_of(request).subject)
        except msgspec.ValidationError:
            return await self._doctor_page(
                request, clinic_id, doctor_id, form=form, status_code=400,
                error=say(request, SENTENCES["validation_error"]),
            )  # fmt: skip
        except (ValueError, ProblemError) as exc:
            if isinstance(exc, ProblemError) and exc.status in (403, 404):
                raise ProblemError(exc.status, exc.code, _problem_sentence(request, exc)) from None
            status = exc.status if isinstance(exc, ProblemError) else 400
            sentence = (
                _problem_sentence(request, exc)
                if isinstance(exc, ProblemError)
                else say(request, SENTENCES["validation_error"])
            )
            return await self._doctor_page(
                request, clinic_id, doctor_id, form=form, status_code=status, error=sentence
            )
        return redirect(f"{PATH}/{clinic_id}/doctors/{doctor_id}?" + urlencode(_done(change)))

    @post(
        "/{clinic_id:int}/doctors/{doctor_id:int}/templates",
        operation_id="adminAddTemplate",
        status_code=303,
    )
    async def add_template(
        self, request: Request[Any, Any, Any], clinic_id: FromPath[int], doctor_id: FromPath[int]
    ) -> Response[Any] | Template:
        async def make(form: dict[str, str], by: int) -> ScheduleChange:
            data = _template_request(form)
            return await _schedules(request).add_template(clinic_id, doctor_id, data, by)

        return await self._change(request, clinic_id, doctor_id, make)

    @post(
        "/{clinic_id:int}/doctors/{doctor_id:int}/templates/{template_id:int}",
        operation_id="adminChangeTemplate",
        status_code=303,
    )
    async def change_template(
        self,
        request: Request[Any, Any, Any],
        clinic_id: FromPath[int],
        doctor_id: FromPath[int],
        template_id: FromPath[int],
    ) -> Response[Any] | Template:
        async def make(form: dict[str, str], by: int) -> ScheduleChange:
            admin = _schedules(request)
            if form.get("action") == "remove":
                since = date.fromisoformat(form["from"]) if form.get("from") else None
                return await admin.remove_template(clinic_id, template_id, since, by)
            data = _template_request(form)
            return await admin.change_template(clinic_id, template_id, data, by)

        return await self._change(request, clinic_id, doctor_id, make)

    @post(
        "/{clinic_id:int}/doctors/{doctor_id:int}/exceptions",
        operation_id="adminAddException",
        status_code=303,
    )
    async def add_exception(
        self,
        request: Request[Any, Any, Any],
        clinic_id: FromPath[int],
        doctor_id: FromPath[int],
    ) -> Response[Any] | Template:
        async def make(form: dict[str, str], by: int) -> ScheduleChange:
            data = _exception_request(form)
            return await _schedules(request).add_exception(clinic_id, doctor_id, data, by)

        return await self._change(request, clinic_id, doctor_id, make)

    @post(
        "/{clinic_id:int}/doctors/{doctor_id:int}/exceptions/{exception_id:int}/remove",
        operation_id="adminRemoveException",
        status_code=303,
    )
    async def remove_exception(
        self,
        request: Request[Any, Any, Any],
        clinic_id: FromPath[int],
        doctor_id: FromPath[int],
        exception_id: FromPath[int],
    ) -> Response[Any] | Template:
        async def make(form: dict[str, str], by: int) -> ScheduleChange:
            return await _schedules(request).remove_exception(clinic_id, exception_id, by)

        return await self._change(request, clinic_id, doctor_id, make)

    # -- the city's public holidays -----------------------------------------------------------

    @get("/holidays", operation_id="adminHolidays")
    async def holidays(self, request: Request[Any, Any, Any]) -> Template:
        return await self._holidays_page(request)

    async def _holidays_page(
        self,
        request: Request[Any, Any, Any],
        *,
        error: str | None = None,
        status_code: int = 200,
        form: dict[str, str] | None = None,
    ) -> Template:
        schedules = _schedules(request)
        today = schedules.today(request.app.state.engine.zone.key)
        return page(
            request,
            "admin/schedule_holidays.html",
            status_code=status_code,
            holidays=await schedules.holidays(today),
            editor=principal_of(request).role == "administrator",
            error=error,
            form=form or {},
            **self._result(request),
        )

    @post("/holidays", operation_id="adminAddHoliday", status_code=303, opt=HOLIDAYS_EDIT)
    async def add_holiday(self, request: Request[Any, Any, Any]) -> Response[Any] | Template:
        form = await form_of(request)
        try:
            data = msgspec.convert(
                {"day": form.get("day", ""), "name": form.get("name", "").strip()}, HolidayRequest
            )
            change = await _schedules(request).add_holiday(data, principal_of(request).subject)
        except msgspec.ValidationError:
            return await self._holidays_page(
                request, form=form, status_code=400,
                error=say(request, SENTENCES["validation_error"]),
            )  # fmt: skip
        except ProblemError as exc:
            return await self._holidays_page(
                request, form=form, status_code=exc.status, error=_problem_sentence(request, exc)
            )
        return redirect(f"{PATH}/holidays?" + urlencode(_done(change)))

    @post(
        "/holidays/{day:date}/remove",
        operation_id="adminRemoveHoliday",
        status_code=303,
        opt=HOLIDAYS_EDIT,
    )
    async def remove_holiday(
        self, request: Request[Any, Any, Any], day: FromPath[date]
    ) -> Response[Any] | Template:
        await form_of(request)
        try:
            change = await _schedules(request).remove_holiday(day, principal_of(request).subject)
        except ProblemError as exc:
            return await self._holidays_page(
                request, status_code=exc.status, error=_problem_sentence(request, exc)
            )
        return redirect(f"{PATH}/holidays?" + urlencode(_done(change)))
