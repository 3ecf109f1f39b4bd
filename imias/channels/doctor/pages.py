"""The doctor's pages. The session is the doctor's token in the ``imias_doctor`` cookie
(path ``/doctor``); the list, the visit's end, a no-show and a referral go through the
booking routes' scoping (:mod:`imias.booking.caller`) and services, audited as the
API's are."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Template

from imias.booking import BookingService, doctor_in_scope, readable_patient, staff_appointment
from imias.channels.web.errors import PAGE_ERRORS, sentence
from imias.channels.web.pages import form_of, lang_of, page, redirect, say
from imias.channels.web.staff import sign_in_policy, staff_sign_in, staff_sign_out
from imias.identity import allow, principal_of
from imias.platform.audit.writer import record_many
from imias.platform.problems import ProblemError

COOKIE = "imias_doctor"
PATH = "/doctor"
DOCTOR = allow(
    "doctor",
    data="doctor: her own day's patients, her clinic's appointments; referrals for "
    "patients booked with her clinic",
    cookie=COOKIE,
    sign_in=PATH,
)
SIGN_IN = sign_in_policy("doctor's day")


def _booking(request: Request[Any, Any, Any]) -> BookingService:
    booking: BookingService = request.app.state.booking
    return booking


def own_doctor(request: Request[Any, Any, Any]) -> int:
    doctor = principal_of(request).doc
    if doctor is None:
        raise ProblemError(
            403, "forbidden", say(request, "Эта учётная запись не связана с врачом.")
        )
    doctor_in_scope(request, doctor)
    return doctor


class DoctorController(Controller):
    path = PATH
    tags = ["doctor"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get(opt=SIGN_IN, operation_id="doctorSignInPage")
    async def start(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "doctor/sign_in.html")

    @post("/sign-in", opt=SIGN_IN, operation_id="doctorSignIn", status_code=200)
    async def sign_in(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return await staff_sign_in(
            request,
            role="doctor",
            cookie=COOKIE,
            path=PATH,
            template="doctor/sign_in.html",
            home=f"{PATH}/day",
            wrong_role=say(request, "Эта страница для врачей."),
        )

    @post("/sign-out", opt=SIGN_IN, operation_id="doctorSignOut", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return await staff_sign_out(request, cookie=COOKIE, path=PATH)

    async def _day(
        self,
        request: Request[Any, Any, Any],
        *,
        error: str | None = None,
        notice: str | None = None,
        status_code: int = 200,
    ) -> Template:
        doctor_id = own_doctor(request)
        engine = request.app.state.engine
        doctor = engine.directory.doctors[doctor_id]
        zone = ZoneInfo(engine.directory.clinics[doctor.clinic_id].time_zone)
        booking = _booking(request)
        now = booking.clock()
        today = now.astimezone(zone).date()
        listing = await booking.doctor_day(doctor_id, today)
        patients = [e["appointment"].patient_id for e in listing]
        await record_many(booking.pool, "read", "doctor_day", doctor_id, patients)
        referable = sorted(
            (s for s in engine.directory.specialties.values() if not s.self_referral),
            key=lambda s: s.code,
        )
        return page(
            request,
            "doctor/day.html",
            status_code=status_code,
            doctor=doctor,
            day=today,
            now=now,
            listing=listing,
            referable=referable,
            error=error,
            notice=notice,
        )

    @get("/day", opt=DOCTOR, operation_id="doctorDayPage")
    async def day(self, request: Request[Any, Any, Any]) -> Template:
        return await self._day(request)

    async def _visit(self, request: Request[Any, Any, Any], appointment_id: int, done: bool) -> Any:
        await form_of(request)
        own_doctor(request)
        await staff_appointment(request, appointment_id)  # 404 outside her clinic
        booking = _booking(request)
        try:
            if done:
                await booking.set_visit_status(appointment_id, "completed", ("arrived",))
            else:
                await booking.mark_no_show(appointment_id)
        except ProblemError as exc:
            return await self._day(request, error=sentence(exc, request), status_code=exc.status)
        return redirect(f"{PATH}/day")

    @post(
        "/appointments/{appointment_id:int}/complete",
        opt=DOCTOR,
        operation_id="doctorComplete",
        status_code=200,
    )
    async def complete(self, request: Request[Any, Any, Any], appointment_id: FromPath[int]) -> Any:
        return await self._visit(request, appointment_id, done=True)

    @post(
        "/appointments/{appointment_id:int}/no-show",
        opt=DOCTOR,
        operation_id="doctorNoShow",
        status_code=200,
    )
    async def no_show(self, request: Request[Any, Any, Any], appointment_id: FromPath[int]) -> Any:
        return await self._visit(request, appointment_id, done=False)

    @post("/referrals", opt=DOCTOR, operation_id="doctorReferral", status_code=200)
    async def referral(self, request: Request[Any, Any, Any]) -> Template:
        form = await form_of(request)
        doctor = own_doctor(request)
        try:
            patient = int(form.get("patient_id", ""))
        except ValueError:
            raise ProblemError(
                400, "bad_request", say(request, "Выберите пациента из списка.")
            ) from None
        specialty = request.app.state.engine.directory.by_code.get(form.get("specialty", ""))
        if specialty is None:
            return await self._day(
                request, error=say(request, "Выберите специальность."), status_code=400
            )
        try:
            await readable_patient(request, patient)
            number = await _booking(request).issue_referral(patient, specialty.code, doctor)
        except ProblemError as exc:
            return await self._day(request, error=sentence(exc, request), status_code=exc.status)
        notice = say(request, "Направление №{number} выдано: {specialty}.").format(
            number=number,
            specialty=specialty.name_ru if lang_of(request) == "ru" else specialty.name_en,
        )
        return await self._day(request, notice=notice)
