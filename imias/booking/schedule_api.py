"""HTTP controllers of a clinic's schedules and the city's public holidays: thin, as the
other booking controllers. A clinic administrator works on her own clinic (the token's
``org``; another clinic answers 403 ``forbidden``), the city's administrator on any;
holidays are the city's administrator's, read by both. Each change writes its audit
record in the use case's transaction (:mod:`.schedule_admin`)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter, QueryParameter

from imias.booking.api import IdPath
from imias.booking.caller import caller
from imias.booking.schedule_admin import ScheduleAdmin
from imias.booking.schedule_model import (
    ClinicDoctor,
    DoctorSchedule,
    ExceptionRequest,
    Holiday,
    HolidayRequest,
    ScheduleChange,
    TemplateRequest,
)
from imias.identity import allow
from imias.platform.audit.writer import record
from imias.platform.bounds import day_param
from imias.platform.problems import ProblemError

MANAGE = allow(
    "administrator",
    "clinic_admin",
    data="doctors' schedules (no personal data); administrator: every clinic; "
    "clinic_admin: her own clinic only",
)
HOLIDAYS_READ = allow(
    "administrator", "clinic_admin", data="the city's public holidays (no personal data)"
)
HOLIDAYS_EDIT = allow("administrator", data="the city's public holidays (no personal data)")
FromParam = Annotated[
    date | None,
    QueryParameter(name="from", description="the first day without it (default: today)"),
]
DayPath = Annotated[date, PathParameter(description="the holiday's day")]


def own_clinic(request: Request[Any, Any, Any], clinic_id: int) -> int | None:
    """The caller may manage the clinic's schedules; her staff id (for the record)."""
    principal = caller(request)
    if principal.role == "clinic_admin" and principal.org != clinic_id:
        raise ProblemError(403, "forbidden", "A clinic administrator manages her own clinic.")
    return principal.subject


class ScheduleController(Controller):
    path = "/api/v1/clinics/{clinic_id:int}"
    tags = ["schedules"]
    opt = MANAGE

    @get("/schedule/doctors", operation_id="listScheduleDoctors", summary="The clinic's doctors")
    async def doctors(
        self,
        request: Request[Any, Any, Any],
        schedules: NamedDependency[ScheduleAdmin],
        clinic_id: IdPath,
    ) -> list[ClinicDoctor]:
        own_clinic(request, clinic_id)
        return await schedules.doctors(clinic_id)

    @get(
        "/doctors/{doctor_id:int}/schedule",
        operation_id="getDoctorSchedule",
        summary="A doctor's weekly templates and exceptions from today",
    )
    async def schedule(
        self,
        request: Request[Any, Any, Any],
        schedules: NamedDependency[ScheduleAdmin],
        clinic_id: IdPath,
        doctor_id: IdPath,
    ) -> DoctorSchedule:
        own_clinic(request, clinic_id)
        found = await schedules.schedule(clinic_id, doctor_id)
        await record(schedules.pool, "read", "schedule", doctor_id)
        return found

    @post(
        "/doctors/{doctor_id:int}/templates",
        operation_id="addScheduleTemplate",
        summary="Add a weekly template (hours, visit length, channels, referral, urgent)",
    )
    async def add_template(
        self,
        request: Request[Any, Any, Any],
        schedules: NamedDependency[ScheduleAdmin],
        clinic_id: IdPath,
        doctor_id: IdPath,
        data: JSONBody[TemplateRequest],
    ) -> ScheduleChange:
        by = own_clinic(request, clinic_id)
        return await schedules.add_template(clinic_id, doctor_id, data, by)

    @put(
        "/templates/{template_id:int}",
        operation_id="changeScheduleTemplate",
        summary="Change a weekly template from a day on (the days before keep it)",
    )
    async def change_template(
        self,
        request: Request[Any, Any, Any],
        schedules: NamedDependency[ScheduleAdmin],
        clinic_id: IdPath,
        template_id: IdPath,
        data: JSONBody[TemplateRequest],
    ) -> ScheduleChange:
        by = own_clinic(request, clinic_id)
        return await schedules.change_template(clinic_id, template_id, data, by)

    @delete(
        "/templates/{template_id:int}",
        operation_id="removeScheduleTemplate",
        status_code=200,
        summary="End a weekly template from a day on (the days before keep it)",
    )
    async def remove_template(
        self,
        request: Request[Any, Any, Any],
        schedules: NamedDependency[ScheduleAdmin],
        clinic_id: IdPath,
        template_id: IdPath,
        from_day: FromParam = None,
    ) -> ScheduleChange:
        by = own_clinic(request, clinic_id)
        since = day_param(from_day, "from")
        return await schedules.remove_template(clinic_id, template_id, since, by)

    @post(
        "/doctors/{doctor_id:int}/exceptions",
        operation_id="addScheduleException",
        summary="Leave, a sick day, training (whole day or hours) or an extra shift",
    )
    async def add_exception(
        self,
        request: Request[Any, Any, Any],
        schedules: NamedDependency[ScheduleAdmin],
        clinic_id: IdPath,
        doctor_id: IdPath,
        data: JSONBody[ExceptionRequest],
    ) -> ScheduleChange:
        by = own_clinic(request, clinic_id)
        return await schedules.add_exception(clinic_id, doctor_id, data, by)

    @delete(
        "/exceptions/{exception_id:int}",
        operation_id="removeScheduleException",
        status_code=200,
        summary="Take an exception back (its day works as the templates say)",
    )
    async def remove_exception(
        self,
        request: Request[Any, Any, Any],
        schedules: NamedDependency[ScheduleAdmin],
        clinic_id: IdPath,
        exception_id: IdPath,
    ) -> ScheduleChange:
        by = own_clinic(request, clinic_id)
        return await schedules.remove_exception(clinic_id, exception_id, by)


class HolidayController(Controller):
    path = "/api/v1/holidays"
    tags = ["schedules"]

    @get(operation_id="listHolidays", summary="The city's public holidays", opt=HOLIDAYS_READ)
    async def holidays(
        self, schedules: NamedDependency[ScheduleAdmin], from_day: FromParam = None
    ) -> list[Holiday]:
        return await schedules.holidays(day_param(from_day, "from"))

    @post(operation_id="addHoliday", summary="Add a public holiday", opt=HOLIDAYS_EDIT)
    async def add(
        self,
        request: Request[Any, Any, Any],
        schedules: NamedDependency[ScheduleAdmin],
        data: JSONBody[HolidayRequest],
    ) -> ScheduleChange:
        return await schedules.add_holiday(data, caller(request).subject)

    @delete(
        "/{day:date}",
        operation_id="removeHoliday",
        status_code=200,
        summary="Take a public holiday back",
        opt=HOLIDAYS_EDIT,
    )
    async def remove(
        self,
        request: Request[Any, Any, Any],
        schedules: NamedDependency[ScheduleAdmin],
        day: DayPath,
    ) -> ScheduleChange:
        return await schedules.remove_holiday(day_param(day, "day") or day, caller(request).subject)
