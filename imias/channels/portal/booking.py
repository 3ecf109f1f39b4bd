"""Finding a time and booking it on the portal: a specialty, the nearest clinics to the
browser's location (or a district) with their earliest free time, a clinic's doctors, a
doctor's day; then a hold with its countdown, confirmed or let go; and moving an
appointment to another time (reschedule). The same service calls as the API's."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from imias.booking import (
    CHANNEL_BITS,
    ENTITLED_BY_REFERRAL,
    bookable_clinics,
    channel_of,
    doctor_in_scope,
    search,
)
from imias.channels.portal.common import (
    PORTAL,
    acting_for,
    address_point,
    appointments_url,
    booking_of,
    claimed_patient,
    districts,
    portal_page,
)
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.i18n import N_
from imias.channels.web.pages import form_of, redirect, say
from imias.identity import principal_of
from imias.platform.problems import ProblemError

CLINICS_SHOWN = 6
SLOTS_SHOWN = 48
WEB = CHANNEL_BITS["web"]


def _slot_of(form: dict[str, str]) -> tuple[int, datetime]:
    try:
        return int(form.get("doctor_id", "")), datetime.fromisoformat(form.get("starts_at", ""))
    except ValueError:
        raise ProblemError(400, "bad_request", N_("Выберите время из списка.")) from None


def _point(
    request: Request[Any, Any, Any],
    lat: str | None,
    lon: str | None,
    district: str | None,
    address: str | None = None,
) -> tuple[float, float] | None:
    """The point to search near: the browser's location, an address typed in, or the
    chosen district's."""
    try:
        y, x = float(lat or ""), float(lon or "")
    except ValueError:
        y = x = float("nan")
    if -90 <= y <= 90 and -180 <= x <= 180:  # NaN fails both
        return y, x
    if address and address.strip():
        return address_point(request, address[:200])
    for d in districts(request):
        if d.name == district:
            return d.lat, d.lon
    return None


class PortalBookingController(Controller):
    path = "/"
    tags = ["portal"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get("/book", opt=PORTAL, operation_id="portalBook")
    async def find(
        self,
        request: Request[Any, Any, Any],
        specialty: FromQuery[str | None] = None,
        lat: FromQuery[str | None] = None,
        lon: FromQuery[str | None] = None,
        district: FromQuery[str | None] = None,
        address: FromQuery[str | None] = None,
        clinic: FromQuery[int | None] = None,
        doctor: FromQuery[int | None] = None,
        day: FromQuery[date | None] = None,
        patient_id: FromQuery[int | None] = None,
        reschedule: FromQuery[int | None] = None,
    ) -> Template:
        patient = await acting_for(request, patient_id)
        engine = request.app.state.engine
        search.ready(engine)
        directory = engine.directory
        chosen = directory.by_code.get(specialty) if specialty else None
        point = _point(request, lat, lon, district, address)
        context: dict[str, Any] = {
            "specialties": sorted(directory.specialties.values(), key=lambda s: s.name_ru),
            "districts": districts(request),
            "chosen": chosen,
            "point": point,
            "district": district,
            "address": address or "",
            "claimed": patient_id,
            "reschedule": reschedule,
            "key": uuid.uuid4().hex,
            "clinics": None,
            "clinic": None,
            "doctors": None,
            "doctor": None,
            "slots": None,
            "day": day,
        }
        if address and address.strip() and point is None:
            context["error"] = say(
                request, "Такой улицы не нашлось: уточните адрес или выберите район."
            )
        # A referral-only specialty's time is kept for patients with a referral: show it
        # to one who has one (the rules check it again when the time is held).
        entitled = 0
        if chosen is not None and not chosen.self_referral:
            referrals = await booking_of(request).patient_referrals(patient)
            if any(r["specialty"].id == chosen.id for r in referrals):
                entitled = ENTITLED_BY_REFERRAL
        if chosen is not None and clinic is None and chosen.attached_only:
            # Primary care is booked at the attached clinic: straight to its doctors.
            allowed = await bookable_clinics(booking_of(request).pool, engine, patient, chosen)
            clinic = allowed[0] if allowed else None
            if clinic is None:
                context["error"] = say(
                    request, "Вы не прикреплены к поликлинике: обратитесь в регистратуру."
                )
        if chosen is not None and clinic is None and point is not None:
            first, last = search.window(engine, None, None)
            context["clinics"] = search.nearest_clinics(
                engine,
                point[0],
                point[1],
                specialty_id=chosen.id,
                limit=CLINICS_SHOWN,
                first=first,
                last=last,
                channel=WEB,
                entitled=entitled,
            )
        if chosen is not None and clinic is not None:
            context["clinic"] = directory.clinics.get(clinic)
            of_clinic = directory.doctors_of_clinic.get(clinic, [])
            context["doctors"] = [d for d in of_clinic if d.specialty_id == chosen.id]
        if doctor is not None and doctor in directory.doctors:
            context["doctor"] = directory.doctors[doctor]
            first, last = search.window(engine, day, day if day else None)
            context["slots"] = search.doctor_slots(
                engine, doctor, SLOTS_SHOWN, first=first, last=last, channel=WEB, entitled=entitled
            )
            context["first_day"], context["last_day"] = search.window(engine, None, None)
        return portal_page(request, "portal/book.html", **context)

    @post("/book/hold", opt=PORTAL, operation_id="portalHold", status_code=200)
    async def hold(self, request: Request[Any, Any, Any]) -> Template:
        form = await form_of(request)
        claimed = claimed_patient(form)
        doctor, starts = _slot_of(form)
        channel = channel_of(principal_of(request), "web")
        patient = await acting_for(request, claimed)
        doctor_in_scope(request, doctor)
        held = await booking_of(request).hold(patient, doctor, starts, channel)
        left = max(0, int((held.expires_at - datetime.now(UTC)).total_seconds()))
        zone = ZoneInfo(request.app.state.settings.time_zone)
        return portal_page(
            request,
            "portal/hold.html",
            hold=held,
            seconds_left=left,
            expires_local=held.expires_at.astimezone(zone).strftime("%H:%M:%S"),
            claimed=claimed,
            key=uuid.uuid4().hex,
        )

    @post("/holds/{token:str}/confirm", opt=PORTAL, operation_id="portalConfirm", status_code=303)
    async def confirm(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Any:
        form = await form_of(request)
        claimed = claimed_patient(form)
        patient = await acting_for(request, claimed)
        booked = await booking_of(request).confirm(
            patient, token, "portal-" + form.get("key", "")[:64]
        )
        url = appointments_url(claimed)
        return redirect(url + ("&" if "?" in url else "?") + f"booked={booked.id}")

    @post("/holds/{token:str}/release", opt=PORTAL, operation_id="portalRelease", status_code=303)
    async def release(self, request: Request[Any, Any, Any], token: FromPath[str]) -> Any:
        form = await form_of(request)
        claimed = claimed_patient(form)
        patient = await acting_for(request, claimed)
        await booking_of(request).release_hold(patient, token)
        return redirect("/book" + (f"?patient_id={claimed}" if claimed else ""))

    @post(
        "/appointments/{appointment_id:int}/reschedule",
        opt=PORTAL,
        operation_id="portalReschedule",
        status_code=303,
    )
    async def reschedule(
        self, request: Request[Any, Any, Any], appointment_id: FromPath[int]
    ) -> Any:
        form = await form_of(request)
        claimed = claimed_patient(form)
        doctor, starts = _slot_of(form)
        channel = channel_of(principal_of(request), "web")
        patient = await acting_for(request, claimed)
        doctor_in_scope(request, doctor)
        moved = await booking_of(request).reschedule(
            patient,
            appointment_id,
            doctor,
            starts,
            channel,
            "portal-" + form.get("key", "")[:64],
        )
        url = appointments_url(claimed)
        return redirect(url + ("&" if "?" in url else "?") + f"booked={moved.id}")
