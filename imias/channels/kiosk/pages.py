"""The kiosk's pages. Sign-in is the patients' sign-in with digits typed on the screen;
the session lives in the ``imias_kiosk`` cookie (path ``/kiosk``) and is revoked when
the patient leaves or the kiosk is idle."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from imias.booking import Appointment, BookingService, acting_patient, earliest_for
from imias.channels.web.errors import PAGE_ERRORS, sentence
from imias.channels.web.pages import (
    end_session,
    form_of,
    page,
    redirect,
    say,
    set_session,
)
from imias.channels.web.rx_view import rx_helpers, rx_lang
from imias.identity import PatientCodeRequest, PatientTokenRequest, allow, principal_of
from imias.platform.audit.writer import record
from imias.platform.policy import POLICY, Policy
from imias.platform.problems import ProblemError
from imias.platform.requests import client_address
from prescriptions import Prescriptions

COOKIE = "imias_kiosk"
KIOSK = allow(
    "patient",
    data="patient: own, a linked child's (the kiosk's signed-in patient)",
    cookie=COOKIE,
    sign_in="/kiosk",
)
KIOSK_SIGN_IN = {POLICY: Policy(public=True, data="no personal data (the kiosk's sign-in)")}
SPECIALTIES = ("therapist", "dentist", "ophthalmologist", "otolaryngologist", "surgeon")
SLOTS_SHOWN = 6


def _booking(request: Request[Any, Any, Any]) -> BookingService:
    booking: BookingService = request.app.state.booking
    return booking


def _kiosk_page(request: Request[Any, Any, Any], name: str, **context: Any) -> Template:
    idle = request.app.state.settings.kiosk_idle_seconds
    return page(request, name, idle_seconds=idle, **context)


def birth_date(digits: str) -> date | None:
    """DDMMYYYY as typed on the keypad."""
    digits = digits.strip()
    if len(digits) != 8 or not digits.isdigit():
        return None
    try:
        return date(int(digits[4:]), int(digits[2:4]), int(digits[:2]))
    except ValueError:
        return None


def local_day(a: Appointment) -> date:
    return datetime.fromisoformat(a.local_start).date()


class KioskController(Controller):
    path = "/kiosk"
    tags = ["kiosk"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get(opt=KIOSK_SIGN_IN, operation_id="kioskStart")
    async def start(self, request: Request[Any, Any, Any]) -> Template:
        return _kiosk_page(request, "kiosk/start.html")

    @post("/code", opt=KIOSK_SIGN_IN, operation_id="kioskCode", status_code=200)
    async def code(self, request: Request[Any, Any, Any]) -> Template:
        form = await form_of(request)
        born = birth_date(form.get("birth_date", ""))
        policy = form.get("policy_number", "").strip()
        if born is None or len(policy) != 16 or not policy.isdigit():
            return _kiosk_page(
                request,
                "kiosk/start.html",
                error=say(request, "Проверьте номер полиса (16 цифр) и дату рождения (ДДММГГГГ)."),
            )
        request_ = PatientCodeRequest(policy, born, channel="kiosk")
        identity = request.app.state.identity
        try:
            sent = await identity.sign_in.send_patient_code(request_, client_address(request))
        except ProblemError as exc:
            return _kiosk_page(request, "kiosk/start.html", error=sentence(exc, request))
        return _kiosk_page(
            request, "kiosk/code.html", challenge=sent.challenge, demo_code=sent.demo_code
        )

    @post("/token", opt=KIOSK_SIGN_IN, operation_id="kioskToken", status_code=200)
    async def token(self, request: Request[Any, Any, Any]) -> Any:
        form = await form_of(request)
        try:
            data = msgspec.convert(
                {"challenge": form.get("challenge", ""), "code": form.get("code", "").strip()},
                PatientTokenRequest,
            )
        except msgspec.ValidationError:
            return _kiosk_page(
                request,
                "kiosk/code.html",
                challenge=form.get("challenge", ""),
                error=say(request, "Введите шесть цифр кода из SMS."),
            )
        identity = request.app.state.identity
        try:
            out = await identity.sign_in.patient_token(data, client_address(request))
        except ProblemError as exc:
            return _kiosk_page(
                request, "kiosk/code.html", challenge=data.challenge, error=sentence(exc, request)
            )
        response = redirect("/kiosk/home")
        set_session(response, request, COOKIE, out.access_token, "/kiosk")
        return response

    @post("/sign-out", opt=KIOSK_SIGN_IN, operation_id="kioskSignOut", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any]) -> Redirect:
        """Forget the patient (the idle timer posts here too): revoke the session."""
        return await end_session(request, COOKIE, "/kiosk")

    async def _today(self, request: Request[Any, Any, Any], patient: int) -> list[Appointment]:
        booking = _booking(request)
        found = await booking.patient_appointments(patient)
        await record(booking.pool, "read", "appointments", None, patient)
        today = datetime.now(UTC).astimezone(ZoneInfo(request.app.state.settings.time_zone))
        return sorted(
            (
                a
                for a in found
                if a.status in ("booked", "arrived") and local_day(a) == today.date()
            ),
            key=lambda a: a.starts_at,
        )

    @get("/home", opt=KIOSK, operation_id="kioskHome")
    async def home(self, request: Request[Any, Any, Any]) -> Template:
        patient = principal_of(request).subject
        today = await self._today(request, patient)
        return _kiosk_page(request, "kiosk/home.html", appointments=today)

    @post("/check-in/{appointment_id:int}", opt=KIOSK, operation_id="kioskCheckIn", status_code=200)
    async def check_in(self, request: Request[Any, Any, Any], appointment_id: FromPath[int]) -> Any:
        await form_of(request)
        patient = await acting_patient(request, None)
        try:
            await _booking(request).patient_check_in(patient, appointment_id)
        except ProblemError as exc:
            today = await self._today(request, patient)
            return _kiosk_page(
                request, "kiosk/home.html", appointments=today, error=sentence(exc, request)
            )
        return redirect(f"/kiosk/ticket/{appointment_id}")

    @get("/book", opt=KIOSK, operation_id="kioskBook")
    async def book_page(
        self, request: Request[Any, Any, Any], specialty: FromQuery[str | None] = None
    ) -> Template:
        directory = request.app.state.engine.directory
        choices = [directory.by_code[c] for c in SPECIALTIES if c in directory.by_code]
        slots = None
        chosen = directory.by_code.get(specialty) if specialty else None
        if chosen is not None:
            patient = principal_of(request).subject
            slots = await earliest_for(
                _booking(request).pool,
                request.app.state.engine,
                patient,
                chosen,
                SLOTS_SHOWN,
                "kiosk",
            )
        return _kiosk_page(
            request,
            "kiosk/book.html",
            specialties=choices,
            chosen=chosen,
            slots=slots,
            key=uuid.uuid4().hex,
        )

    @post("/book", opt=KIOSK, operation_id="kioskBookSlot", status_code=200)
    async def book(self, request: Request[Any, Any, Any]) -> Any:
        form = await form_of(request)
        patient = await acting_patient(request, None)
        try:
            doctor = int(form.get("doctor_id", ""))
            starts = datetime.fromisoformat(form.get("starts_at", ""))
        except ValueError:
            raise ProblemError(
                400, "bad_request", say(request, "Выберите время из списка.")
            ) from None
        try:
            booked = await _booking(request).book(
                patient, doctor, starts, "kiosk", "kiosk-" + form.get("key", "")[:64]
            )
        except ProblemError as exc:
            directory = request.app.state.engine.directory
            choices = [directory.by_code[c] for c in SPECIALTIES if c in directory.by_code]
            return _kiosk_page(
                request,
                "kiosk/book.html",
                specialties=choices,
                chosen=None,
                slots=None,
                key=uuid.uuid4().hex,
                error=sentence(exc, request),
            )
        return redirect(f"/kiosk/ticket/{booked.id}")

    @get("/ticket/{appointment_id:int}", opt=KIOSK, operation_id="kioskTicket")
    async def ticket(
        self, request: Request[Any, Any, Any], appointment_id: FromPath[int]
    ) -> Template:
        patient = principal_of(request).subject
        booking = _booking(request)
        found = [a for a in await booking.patient_appointments(patient) if a.id == appointment_id]
        if not found:
            raise ProblemError(404, "not_found", say(request, "Такой записи нет."))
        await record(booking.pool, "read", "appointment", appointment_id, patient)
        return _kiosk_page(request, "kiosk/ticket.html", a=found[0])

    @get("/prescriptions", opt=KIOSK, operation_id="kioskPrescriptions")
    async def prescriptions(self, request: Request[Any, Any, Any]) -> Template:
        """The signed-in patient's active prescriptions, each to print with its QR code."""
        patient = principal_of(request).subject
        service: Prescriptions = request.app.state.prescriptions
        lang = rx_lang(request)
        found = await service.of_patient(principal_of(request), patient, lang, 100)
        return _kiosk_page(
            request,
            "kiosk/prescriptions.html",
            prescriptions=[p for p in found if p.state == "active"],
            **rx_helpers(request),
        )

    @get("/prescriptions/{prescription_id:int}", opt=KIOSK, operation_id="kioskPrescription")
    async def prescription(
        self, request: Request[Any, Any, Any], prescription_id: FromPath[int]
    ) -> Template:
        """One prescription to print: the QR code, the number, what and how to take."""
        service: Prescriptions = request.app.state.prescriptions
        lang = rx_lang(request)
        found = await service.one(principal_of(request), prescription_id, lang)
        if found.patient_id != principal_of(request).subject or found.code is None:
            raise ProblemError(404, "not_found", say(request, "Такого рецепта нет."))
        return _kiosk_page(request, "kiosk/prescription.html", p=found, **rx_helpers(request))
