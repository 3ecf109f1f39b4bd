"""The registrar's walk-in queue (``/registrar/walk-ins``): today's patients without an
appointment at her clinic, with each one's wait; she adds one from the patient's page
(the complaint in a few words, urgent or not) and marks one who went away. Everything
goes through :class:`imias.booking.WalkIns` (audited there), limited to her clinic."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from imias.booking import WalkInAdd, WalkIns
from imias.channels.registrar.pages import DESK, PATH, clinic_of
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.i18n import N_
from imias.channels.web.pages import form_of, page, redirect, say
from imias.channels.web.walk_in_view import refusal, walk_in_helpers
from imias.identity import principal_of
from imias.platform.problems import ProblemError

NOTICES = {"added": N_("Пациент добавлен в очередь без записи."), "left": N_("Отмечено: ушёл.")}


def walk_ins_of(request: Request[Any, Any, Any]) -> WalkIns:
    found: WalkIns = request.app.state.booking.walk_ins
    return found


class RegistrarWalkInController(Controller):
    path = f"{PATH}/walk-ins"
    tags = ["registrar"]
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
        clinic = clinic_of(request)
        queue = await walk_ins_of(request).queue(clinic)
        zone = ZoneInfo(request.app.state.engine.directory.clinics[clinic].time_zone)
        return page(
            request,
            "registrar/walk_ins.html",
            status_code=status_code,
            queue=queue,
            zone=zone,
            error=error,
            notice=notice,
            **walk_in_helpers(request),
        )

    @get(opt=DESK, operation_id="registrarWalkIns")
    async def listing(
        self, request: Request[Any, Any, Any], done: FromQuery[str | None] = None
    ) -> Template:
        notice = NOTICES.get(done or "")
        return await self._queue(request, notice=say(request, notice) if notice else None)

    @post(opt=DESK, operation_id="registrarAddWalkIn", status_code=200)
    async def add(self, request: Request[Any, Any, Any]) -> Any:
        form = await form_of(request)
        clinic = clinic_of(request)
        try:
            data = msgspec.convert(
                {
                    "patient_id": int(form.get("patient_id", "")),
                    "complaint": form.get("complaint", "").strip(),
                    "urgent": form.get("urgent") == "yes",
                },
                WalkInAdd,
            )
        except (ValueError, msgspec.ValidationError):
            error = say(request, "Напишите, с чем пришёл пациент (до 200 знаков).")
            return await self._queue(request, error=error, status_code=400)
        try:
            await walk_ins_of(request).add(principal_of(request), clinic, data)
        except ProblemError as exc:
            return await self._queue(request, error=refusal(request, exc), status_code=exc.status)
        return redirect(f"{PATH}/walk-ins?" + urlencode({"done": "added"}))

    @post("/{entry_id:int}/left", opt=DESK, operation_id="registrarWalkInLeft", status_code=200)
    async def left(self, request: Request[Any, Any, Any], entry_id: FromPath[int]) -> Any:
        await form_of(request)
        clinic = clinic_of(request)
        try:
            await walk_ins_of(request).end(principal_of(request), clinic, entry_id, "left")
        except ProblemError as exc:
            if exc.status == 404:
                raise
            return await self._queue(request, error=refusal(request, exc), status_code=exc.status)
        return redirect(f"{PATH}/walk-ins?" + urlencode({"done": "left"}))
