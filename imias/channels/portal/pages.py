"""The portal's sign-in and "my appointments" (with cancel). The session lives in the
``imias_portal`` cookie (path ``/``); sign-out revokes it and clears what the service
worker kept offline."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template

from imias.booking import Appointment
from imias.channels.portal.common import (
    COOKIE,
    PORTAL,
    PORTAL_PUBLIC,
    acting_for,
    appointments_url,
    booking_of,
    claimed_patient,
    portal_page,
)
from imias.channels.portal.relocations import move_cards
from imias.channels.web.errors import PAGE_ERRORS, sentence
from imias.channels.web.pages import end_session, form_of, redirect, say, set_session
from imias.identity import PatientCodeRequest, PatientTokenRequest
from imias.platform.audit.writer import record
from imias.platform.problems import ProblemError
from imias.platform.requests import client_address

UPCOMING = ("held", "booked", "arrived")


def _start(request: Request[Any, Any, Any], **context: Any) -> Template:
    return portal_page(request, "portal/start.html", **context)


def upcoming(appointments: list[Appointment], now: datetime) -> list[Appointment]:
    return sorted(
        (a for a in appointments if a.status in UPCOMING[1:] and a.ends_at > now),
        key=lambda a: a.starts_at,
    )


class PortalController(Controller):
    path = "/"
    tags = ["portal"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get(opt=PORTAL_PUBLIC, operation_id="portalStart")
    async def start(self, request: Request[Any, Any, Any]) -> Template:
        return _start(request, signed_in_cookie=COOKIE in request.cookies)

    @post("/sign-in/code", opt=PORTAL_PUBLIC, operation_id="portalCode", status_code=200)
    async def code(self, request: Request[Any, Any, Any]) -> Template:
        form = await form_of(request)
        try:
            data = msgspec.convert(
                {
                    "policy_number": form.get("policy_number", "").replace(" ", ""),
                    "birth_date": form.get("birth_date", ""),
                    "channel": "web",
                },
                PatientCodeRequest,
            )
        except msgspec.ValidationError:
            return _start(
                request,
                error=say(request, "Проверьте номер полиса (16 цифр) и дату рождения."),
                policy_number=form.get("policy_number", ""),
            )
        identity = request.app.state.identity
        try:
            sent = await identity.sign_in.send_patient_code(data, client_address(request))
        except ProblemError as exc:
            return _start(request, error=sentence(exc), policy_number=data.policy_number)
        return portal_page(
            request, "portal/code.html", challenge=sent.challenge, demo_code=sent.demo_code
        )

    @post("/sign-in/token", opt=PORTAL_PUBLIC, operation_id="portalToken", status_code=200)
    async def token(self, request: Request[Any, Any, Any]) -> Any:
        form = await form_of(request)
        challenge = form.get("challenge", "")
        try:
            data = msgspec.convert(
                {"challenge": challenge, "code": form.get("code", "").strip()},
                PatientTokenRequest,
            )
        except msgspec.ValidationError:
            return portal_page(
                request,
                "portal/code.html",
                challenge=challenge,
                error=say(request, "Введите шесть цифр кода из SMS."),
            )
        identity = request.app.state.identity
        try:
            out = await identity.sign_in.patient_token(data, client_address(request))
        except ProblemError as exc:
            return portal_page(
                request, "portal/code.html", challenge=challenge, error=sentence(exc)
            )
        response = redirect("/appointments")
        set_session(response, request, COOKIE, out.access_token, "/")
        return response

    @post("/sign-out", opt=PORTAL_PUBLIC, operation_id="portalSignOut", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any]) -> Redirect:
        """Revoke the session and forget what this browser kept of it (the offline copy
        of the appointments included)."""
        await form_of(request)
        response = await end_session(request, COOKIE, "/")
        response.headers["Clear-Site-Data"] = '"cache", "storage"'
        return response

    @get("/appointments", opt=PORTAL, operation_id="portalAppointments")
    async def appointments(
        self,
        request: Request[Any, Any, Any],
        patient_id: FromQuery[int | None] = None,
        booked: FromQuery[int | None] = None,
    ) -> Template:
        patient = await acting_for(request, patient_id)
        booking = booking_of(request)
        found = await booking.patient_appointments(patient)
        await record(booking.pool, "read", "appointments", None, patient)
        now = datetime.now(UTC)
        coming = upcoming(found, now)
        past = [a for a in found if a not in coming and a.status != "held"][:20]
        moves = await move_cards(request, patient)
        return portal_page(
            request,
            "portal/appointments.html",
            moves=moves,
            upcoming=coming,
            past=past,
            patient=patient,
            claimed=patient_id,
            booked=booked,
        )

    @post(
        "/appointments/{appointment_id:int}/cancel",
        opt=PORTAL,
        operation_id="portalCancel",
        status_code=303,
    )
    async def cancel(self, request: Request[Any, Any, Any], appointment_id: FromPath[int]) -> Any:
        form = await form_of(request)
        claimed = claimed_patient(form)
        patient = await acting_for(request, claimed)
        await booking_of(request).cancel(patient, appointment_id)
        return redirect(appointments_url(claimed))
