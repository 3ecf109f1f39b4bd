"""The registrar's pages. The session is the registrar's token in the ``imias_registrar``
cookie (path ``/registrar``); every read and change goes through the booking routes'
scoping (:mod:`imias.booking.caller`) and services, so it is limited to her clinic and
audited as the API's are."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from imias.booking import (
    CHANNEL_BITS,
    Appointment,
    BookingService,
    Channel,
    acting_patient,
    caller,
    channel_of,
    clinic_scope,
    doctor_in_scope,
    readable_patient,
    search,
    staff_appointment,
)
from imias.channels.kiosk.pages import birth_date
from imias.channels.web.errors import PAGE_ERRORS, sentence
from imias.channels.web.pages import form_of, page, redirect, say
from imias.channels.web.staff import sign_in_policy, staff_sign_in, staff_sign_out
from imias.identity import allow
from imias.platform.audit.writer import record, record_many
from imias.platform.problems import ProblemError
from imias.registry import Specialty, patients

COOKIE = "imias_registrar"
PATH = "/registrar"
DESK = allow(
    "registrar",
    data="registrar: any patient she names, her clinic's doctors and appointments",
    cookie=COOKIE,
    sign_in=PATH,
)
SIGN_IN = sign_in_policy("registrar desk")
SLOTS_SHOWN = 8
CHANNELS: tuple[Channel, ...] = ("registrar", "phone")


def _booking(request: Request[Any, Any, Any]) -> BookingService:
    booking: BookingService = request.app.state.booking
    return booking


def clinic_of(request: Request[Any, Any, Any]) -> int:
    clinic = clinic_scope(request)
    assert clinic is not None  # a registrar's token always names her clinic
    return clinic


def specialties_at(request: Request[Any, Any, Any], clinic: int) -> list[Specialty]:
    directory = request.app.state.engine.directory
    ids = {d.specialty_id for d in directory.doctors_of_clinic.get(clinic, [])}
    return sorted((directory.specialties[i] for i in ids), key=lambda s: s.code)


def earliest_at(
    request: Request[Any, Any, Any], clinic: int, specialty: str, channel: Channel
) -> list[search.FreeSlot]:
    engine = request.app.state.engine
    chosen = engine.directory.by_code.get(specialty)
    if chosen is None:
        return []
    first, last = search.window(engine, None, None)
    return search.earliest(
        engine,
        SLOTS_SHOWN,
        specialty_id=chosen.id,
        clinic_ids=[clinic],
        first=first,
        last=last,
        channel=CHANNEL_BITS[channel],
    )


def chosen_channel(value: str | None) -> Channel:
    return value if value in CHANNELS else "registrar"


def slot_of(request: Request[Any, Any, Any], form: dict[str, str]) -> tuple[int, datetime]:
    try:
        return int(form.get("doctor_id", "")), datetime.fromisoformat(form.get("starts_at", ""))
    except ValueError:
        raise ProblemError(400, "bad_request", say(request, "Выберите время из списка.")) from None


class RegistrarController(Controller):
    path = PATH
    tags = ["registrar"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get(opt=SIGN_IN, operation_id="registrarSignInPage")
    async def start(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "registrar/sign_in.html")

    @post("/sign-in", opt=SIGN_IN, operation_id="registrarSignIn", status_code=200)
    async def sign_in(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return await staff_sign_in(
            request,
            role="registrar",
            cookie=COOKIE,
            path=PATH,
            template="registrar/sign_in.html",
            home=f"{PATH}/find",
            wrong_role=say(request, "Эта страница для регистраторов."),
        )

    @post("/sign-out", opt=SIGN_IN, operation_id="registrarSignOut", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return await staff_sign_out(request, cookie=COOKIE, path=PATH)

    @get("/find", opt=DESK, operation_id="registrarFind")
    async def find(
        self,
        request: Request[Any, Any, Any],
        policy: FromQuery[str | None] = None,
        family: FromQuery[str | None] = None,
        born: FromQuery[str | None] = None,
    ) -> Template:
        """Find by policy number, or family name and birth date (DDMMYYYY or ISO)."""
        policy = (policy or "").strip()
        family = (family or "").strip()
        error, found = None, None
        if policy or family or born:
            day = _day(born)
            if policy and (len(policy) != 16 or not policy.isdigit()):
                error = say(request, "Номер полиса — 16 цифр.")
            elif not policy and (not family or day is None):
                error = say(request, "Введите фамилию и дату рождения (ДДММГГГГ).")
            else:
                found = await patients.find(
                    _booking(request).pool,
                    policy_number=policy or None,
                    family_name=family or None,
                    birth_date=day,
                )
        return page(
            request,
            "registrar/find.html",
            policy=policy,
            family=family,
            born=born or "",
            found=found,
            error=error,
        )

    async def _patient_page(
        self,
        request: Request[Any, Any, Any],
        patient_id: int,
        specialty: str | None = None,
        channel: Channel = "registrar",
        error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        clinic = await readable_patient(request, patient_id)  # 404 when there is none
        assert clinic is not None
        booking = _booking(request)
        person = await patients.card(booking.pool, patient_id)
        found = [a for a in await booking.patient_appointments(patient_id) if a.clinic_id == clinic]
        await record(booking.pool, "read", "appointments", None, patient_id)
        slots = earliest_at(request, clinic, specialty, channel) if specialty else None
        return page(
            request,
            "registrar/patient.html",
            status_code=status_code,
            person=person,
            upcoming=[a for a in found if a.status in ("booked", "arrived")],
            past=[a for a in found if a.status not in ("booked", "arrived")][:10],
            specialties=specialties_at(request, clinic),
            specialty=specialty,
            channel=channel,
            channels=CHANNELS,
            slots=slots,
            key=uuid.uuid4().hex,
            error=error,
        )

    @get("/patients/{patient_id:int}", opt=DESK, operation_id="registrarPatient")
    async def patient(
        self,
        request: Request[Any, Any, Any],
        patient_id: FromPath[int],
        specialty: FromQuery[str | None] = None,
        channel: FromQuery[str | None] = None,
    ) -> Template:
        return await self._patient_page(request, patient_id, specialty, chosen_channel(channel))

    @post(
        "/patients/{patient_id:int}/book", opt=DESK, operation_id="registrarBook", status_code=200
    )
    async def book(self, request: Request[Any, Any, Any], patient_id: FromPath[int]) -> Any:
        form = await form_of(request)
        channel = channel_of(caller(request), chosen_channel(form.get("channel")))
        patient = await acting_patient(request, patient_id)
        doctor, starts = slot_of(request, form)
        try:
            doctor_in_scope(request, doctor)
            await _booking(request).book(
                patient, doctor, starts, channel, "registrar-" + form.get("key", "")[:64]
            )
        except ProblemError as exc:
            return await self._patient_page(
                request, patient, error=sentence(exc, request), status_code=exc.status
            )
        return redirect(f"{PATH}/patients/{patient}")

    @post(
        "/appointments/{appointment_id:int}/cancel",
        opt=DESK,
        operation_id="registrarCancel",
        status_code=200,
    )
    async def cancel(self, request: Request[Any, Any, Any], appointment_id: FromPath[int]) -> Any:
        await form_of(request)
        patient = await staff_appointment(request, appointment_id)  # 404 outside her clinic
        try:
            await _booking(request).cancel(patient, appointment_id, by_clinic=True)
        except ProblemError as exc:
            return await self._patient_page(
                request, patient, error=sentence(exc, request), status_code=exc.status
            )
        return redirect(f"{PATH}/patients/{patient}")

    async def _appointment(
        self, request: Request[Any, Any, Any], appointment_id: int
    ) -> Appointment:
        patient = await staff_appointment(request, appointment_id)
        booking = _booking(request)
        found = [a for a in await booking.patient_appointments(patient) if a.id == appointment_id]
        if not found:
            raise ProblemError(404, "not_found", say(request, "Такой записи нет."))
        await record(booking.pool, "read", "appointment", appointment_id, patient)
        return found[0]

    @get(
        "/appointments/{appointment_id:int}/reschedule",
        opt=DESK,
        operation_id="registrarReschedulePage",
    )
    async def reschedule_page(
        self,
        request: Request[Any, Any, Any],
        appointment_id: FromPath[int],
        channel: FromQuery[str | None] = None,
    ) -> Template:
        a = await self._appointment(request, appointment_id)
        chosen = chosen_channel(channel)
        return page(
            request,
            "registrar/reschedule.html",
            a=a,
            channel=chosen,
            channels=CHANNELS,
            slots=earliest_at(request, clinic_of(request), a.specialty, chosen),
            key=uuid.uuid4().hex,
        )

    @post(
        "/appointments/{appointment_id:int}/reschedule",
        opt=DESK,
        operation_id="registrarReschedule",
        status_code=200,
    )
    async def reschedule(
        self, request: Request[Any, Any, Any], appointment_id: FromPath[int]
    ) -> Any:
        form = await form_of(request)
        channel = channel_of(caller(request), chosen_channel(form.get("channel")))
        patient = await staff_appointment(request, appointment_id)
        doctor, starts = slot_of(request, form)
        try:
            doctor_in_scope(request, doctor)
            await _booking(request).reschedule(
                patient,
                appointment_id,
                doctor,
                starts,
                channel,
                "registrar-" + form.get("key", "")[:64],
            )
        except ProblemError as exc:
            return await self._patient_page(
                request, patient, error=sentence(exc, request), status_code=exc.status
            )
        return redirect(f"{PATH}/patients/{patient}")

    @get("/day", opt=DESK, operation_id="registrarClinicDay")
    async def day(self, request: Request[Any, Any, Any]) -> Template:
        """Every doctor's list of the clinic on a day (today by default)."""
        clinic = clinic_of(request)
        engine = request.app.state.engine
        zone = ZoneInfo(engine.directory.clinics[clinic].time_zone)
        booking = _booking(request)
        day = _day(request.query_params.get("date")) or booking.clock().astimezone(zone).date()
        lists = []
        for doctor in sorted(
            engine.directory.doctors_of_clinic.get(clinic, []), key=lambda d: d.full_name
        ):
            listing = await booking.doctor_day(doctor.id, day)
            patient_ids = [e["appointment"].patient_id for e in listing]
            await record_many(booking.pool, "read", "doctor_day", doctor.id, patient_ids)
            specialty = engine.directory.specialties[doctor.specialty_id]
            lists.append((doctor, specialty, listing))
        return page(request, "registrar/day.html", day=day, lists=lists)


def _day(text: str | None) -> date | None:
    """A day typed as DDMMYYYY, DD.MM.YYYY or YYYY-MM-DD."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return birth_date(text.replace(".", ""))
