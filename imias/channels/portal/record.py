"""The patient's medical card on the portal ``/record``: visits with their protocols,
diagnoses, results with their reference range and trend, vaccinations and allergies; a
linked child's with ``?patient_id=``. The reads go through :class:`ehr.Records` (the
record's access rule, audited there); another patient's id answers as a missing one."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.response import Template

from ehr import Records
from imias.channels.portal.common import PORTAL, acting_for, portal_page
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.pages import lang_of
from imias.channels.web.record_view import record_helpers
from imias.identity import principal_of

#: How many visits the card shows with their protocols.
VISITS_SHOWN = 30


class PortalRecordController(Controller):
    path = "/"
    tags = ["portal"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get("/record", opt=PORTAL, operation_id="portalRecord")
    async def record(
        self, request: Request[Any, Any, Any], patient_id: FromQuery[int | None] = None
    ) -> Template:
        patient = await acting_for(request, patient_id)  # a stranger's id: 404
        records: Records = request.app.state.records
        principal = principal_of(request)
        lang = lang_of(request)
        card = await records.card(principal, patient, lang)
        visits = await records.visits(principal, patient, VISITS_SHOWN, lang=lang)
        return portal_page(
            request,
            "portal/record.html",
            card=card,
            visits=[v for v in visits if v.status != "entered-in-error"],
            claimed=patient_id,
            **record_helpers(request),
        )
