"""The duty doctor's walk-in queue (``/doctor/walk-ins``): her clinic's patients without
an appointment today, with each one's wait; "Call next" (urgent first, then the longest
waiting; two doctors calling at once never get the same patient), then the visit of a
patient she called (the record's encounter with no appointment, opened once and kept by
the entry), "seen" (also when that visit is signed) or "did not come".

Who may call: a doctor of the clinic whose specialty patients see without a referral
(:meth:`imias.booking.WalkIns.is_duty_doctor`); any doctor of the clinic sees the queue.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from imias.booking import WalkIns
from imias.channels.doctor.pages import COOKIE, PATH, own_doctor
from imias.channels.doctor.visit import records_of
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.i18n import N_
from imias.channels.web.pages import form_of, lang_of, page, redirect, say
from imias.channels.web.walk_in_view import REFUSALS, refusal, walk_in_helpers
from imias.identity import allow, principal_of
from imias.platform.problems import ProblemError

QUEUE = allow(
    "doctor",
    data="doctor: her clinic's walk-in queue (names, complaints, waits); the record of a "
    "patient she called",
    cookie=COOKIE,
    sign_in=PATH,
)
NOTICES = {
    "called": N_("Пациент вызван: {name}."),
    "seen": N_("Отмечено: принят."),
    "left": N_("Отмечено: не пришёл."),
}


def walk_ins_of(request: Request[Any, Any, Any]) -> WalkIns:
    found: WalkIns = request.app.state.booking.walk_ins
    return found


def clinic_of(request: Request[Any, Any, Any]) -> int:
    clinic = principal_of(request).org
    if clinic is None:
        raise ProblemError(403, "forbidden", "This account is not bound to a clinic.")
    return clinic


class DoctorWalkInController(Controller):
    path = f"{PATH}/walk-ins"
    tags = ["doctor"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    async def _queue(
        self,
        request: Request[Any, Any, Any],
        *,
        error: str | None = None,
        notice: str | None = None,
        status_code: int = 200,
    ) -> Template:
        doctor = own_doctor(request)
        clinic = clinic_of(request)
        walk_ins = walk_ins_of(request)
        queue = await walk_ins.queue(clinic)
        zone = ZoneInfo(request.app.state.engine.directory.clinics[clinic].time_zone)
        return page(
            request,
            "doctor/walk_ins.html",
            status_code=status_code,
            queue=queue,
            zone=zone,
            doctor_id=doctor,
            duty=walk_ins.is_duty_doctor(clinic, doctor),
            error=error,
            notice=notice,
            **walk_in_helpers(request),
        )

    @get(opt=QUEUE, operation_id="doctorWalkIns")
    async def listing(
        self,
        request: Request[Any, Any, Any],
        done: FromQuery[str | None] = None,
        name: FromQuery[str | None] = None,
    ) -> Template:
        notice = NOTICES.get(done or "")
        said = say(request, notice).format(name=(name or "")[:200]) if notice else None
        return await self._queue(request, notice=said)

    @post("/call", opt=QUEUE, operation_id="doctorCallWalkIn", status_code=200)
    async def call(self, request: Request[Any, Any, Any]) -> Any:
        await form_of(request)
        own_doctor(request)
        try:
            entry = await walk_ins_of(request).call_next(principal_of(request), clinic_of(request))
        except ProblemError as exc:
            return await self._queue(request, error=refusal(request, exc), status_code=exc.status)
        query = {"done": "called", "name": entry.patient_name or str(entry.patient_id)}
        return redirect(f"{PATH}/walk-ins?" + urlencode(query) + f"#walk-in-{entry.id}")

    @post("/{entry_id:int}/visit", opt=QUEUE, operation_id="doctorWalkInVisit", status_code=303)
    async def visit(self, request: Request[Any, Any, Any], entry_id: FromPath[int]) -> Any:
        """Her called patient's visit: opened on the first press, the same one after."""
        await form_of(request)
        doctor = own_doctor(request)
        clinic = clinic_of(request)
        walk_ins = walk_ins_of(request)
        entry = await walk_ins.entry(clinic, entry_id)
        if entry.called_by_doctor != doctor or entry.state not in ("called", "seen"):
            raise ProblemError(404, "not_found", say(request, REFUSALS["not_found"]))
        encounter = entry.encounter_id
        if encounter is None:
            opened = await records_of(request).open_visit(
                principal_of(request), patient_id=entry.patient_id, lang=lang_of(request)
            )
            encounter = await walk_ins.attach_visit(clinic, entry_id, doctor, opened.id)
        return redirect(f"{PATH}/encounters/{encounter}")

    async def _end(self, request: Request[Any, Any, Any], entry_id: int, state: str) -> Any:
        await form_of(request)
        own_doctor(request)
        try:
            await walk_ins_of(request).end(
                principal_of(request), clinic_of(request), entry_id, state
            )
        except ProblemError as exc:
            if exc.status == 404:
                raise
            return await self._queue(request, error=refusal(request, exc), status_code=exc.status)
        return redirect(f"{PATH}/walk-ins?" + urlencode({"done": state}))

    @post("/{entry_id:int}/seen", opt=QUEUE, operation_id="doctorWalkInSeen", status_code=200)
    async def seen(self, request: Request[Any, Any, Any], entry_id: FromPath[int]) -> Any:
        return await self._end(request, entry_id, "seen")

    @post("/{entry_id:int}/left", opt=QUEUE, operation_id="doctorWalkInLeft", status_code=200)
    async def left(self, request: Request[Any, Any, Any], entry_id: FromPath[int]) -> Any:
        return await self._end(request, entry_id, "left")
