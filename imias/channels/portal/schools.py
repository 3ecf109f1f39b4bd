"""A child's schools on the portal ``/schools?patient_id=``: the guardian chooses a school
or club (a search of the registry), ticks what it is sent (illness absences, certificates)
and consents; sees the consents and withdraws one. Plain forms (no script needed); every
call goes through :class:`integrations.SchoolConsents` (a guardian's linked child under
18 only; audited there)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.enums import MediaType
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from imias.channels.portal.common import PORTAL, claimed_patient, portal_page
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.i18n import N_
from imias.channels.web.pages import form_of, redirect, say
from imias.identity import principal_of
from imias.platform.problems import ProblemError
from imias.registry import schools
from integrations import ConsentIn, SchoolConsents

FOUND_SHOWN = 20
#: What a refusal of the consents' service reads as on the page.
REFUSALS = {
    "nothing_consented": N_("Отметьте, что передавать: дни болезни, справки или и то и другое."),
    "unknown_school": N_("Такой школы или кружка нет в списке."),
    "already_withdrawn": N_("Это согласие уже отозвано."),
}


def _service(request: Request[Any, Any, Any]) -> SchoolConsents:
    service: SchoolConsents = request.app.state.school_consents
    return service


class PortalSchoolController(Controller):
    path = "/schools"
    tags = ["portal"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    async def _page(
        self,
        request: Request[Any, Any, Any],
        child: int,
        query: str | None,
        *,
        error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        consents = await _service(request).of_child(principal_of(request), child)
        names = {c.patient_id: c.given_name for c in await _children(request)}
        found = await schools(request.app.state.db, query, FOUND_SHOWN) if query else []
        return portal_page(
            request,
            "portal/schools.html",
            status_code=status_code,
            child=child,
            child_name=names.get(child, ""),
            consents=[c for c in consents if c.status == "active"],
            withdrawn=[c for c in consents if c.status == "withdrawn"][:10],
            query=query or "",
            found=found,
            error=error,
        )

    @get(opt=PORTAL, operation_id="portalSchools", media_type=MediaType.HTML)
    async def schools_page(
        self,
        request: Request[Any, Any, Any],
        patient_id: FromQuery[int | None] = None,
        q: FromQuery[str | None] = None,
    ) -> Any:
        if patient_id is None:
            return redirect("/family")
        return await self._page(request, patient_id, (q or "").strip()[:100] or None)

    @post(
        "/consents",
        opt=PORTAL,
        operation_id="portalGiveSchoolConsent",
        status_code=303,
        media_type=MediaType.HTML,
    )
    async def give(self, request: Request[Any, Any, Any]) -> Any:
        form = await form_of(request)
        child = claimed_patient(form)
        if child is None:
            return redirect("/family")
        school = form.get("school_id", "")
        wanted = ConsentIn(
            school_id=int(school) if school.isdigit() and len(school) < 19 else 1,
            absences=form.get("absences") == "on",
            certificates=form.get("certificates") == "on",
        )
        if not school.isdigit():
            return await self._refused(request, child, form, "unknown_school", 422)
        try:
            await _service(request).give(principal_of(request), child, wanted)
        except ProblemError as exc:
            if exc.code not in REFUSALS:
                raise
            return await self._refused(request, child, form, exc.code, exc.status)
        return redirect(f"/schools?patient_id={child}&done=given")

    @post(
        "/consents/{consent_id:int}/withdraw",
        opt=PORTAL,
        operation_id="portalWithdrawSchoolConsent",
        status_code=303,
        media_type=MediaType.HTML,
    )
    async def withdraw(self, request: Request[Any, Any, Any], consent_id: FromPath[int]) -> Any:
        form = await form_of(request)
        child = claimed_patient(form)
        if child is None:
            return redirect("/family")
        try:
            await _service(request).withdraw(principal_of(request), child, consent_id)
        except ProblemError as exc:
            if exc.code not in REFUSALS:
                raise
            return await self._refused(request, child, form, exc.code, exc.status)
        return redirect(f"/schools?patient_id={child}&done=withdrawn")

    async def _refused(
        self, request: Request[Any, Any, Any], child: int, form: dict[str, str], code: str,
        status: int,
    ) -> Template:  # fmt: skip
        return await self._page(
            request, child, form.get("q") or None, error=say(request, REFUSALS[code]),
            status_code=status,
        )  # fmt: skip


async def _children(request: Request[Any, Any, Any]) -> list[Any]:
    identity = request.app.state.identity
    children: list[Any] = await identity.accounts.children(principal_of(request).subject)
    return children
