"""The registrar's active visits (``/registrar/active-visits``): the tasks an ambulance
call that left a patient at home gave her clinic, which the booking worker could not
book within a day (no free time with the attached therapist or paediatrician). She books
the patient herself (the patient's page, the specialty chosen) or arranges a home
visit, then marks the task done. Only her clinic's tasks; each patient shown is an
audited read (:class:`integrations.ActiveVisits`)."""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Redirect, Template

from imias.channels.registrar.pages import DESK, PATH, clinic_of
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.pages import form_of, page, redirect
from imias.identity import principal_of
from integrations import ActiveVisits


def _visits(request: Request[Any, Any, Any]) -> ActiveVisits:
    found: ActiveVisits = request.app.state.active_visits
    return found


class ActiveVisitsController(Controller):
    path = f"{PATH}/active-visits"
    tags = ["registrar"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get(opt=DESK, operation_id="registrarActiveVisits")
    async def listing(self, request: Request[Any, Any, Any]) -> Template:
        clinic = clinic_of(request)
        tasks = await _visits(request).open_of_clinic(clinic)
        zone = ZoneInfo(request.app.state.engine.directory.clinics[clinic].time_zone)
        return page(request, "registrar/active_visits.html", tasks=tasks, zone=zone)

    @post("/{task_id:int}/done", opt=DESK, operation_id="registrarActiveVisitDone",
          status_code=303)  # fmt: skip
    async def done(self, request: Request[Any, Any, Any], task_id: FromPath[int]) -> Redirect:
        form = await form_of(request)
        note = form.get("note", "").strip()[:500] or None
        await _visits(request).mark_done(principal_of(request), task_id, note)
        return redirect(f"{PATH}/active-visits")
