"""The patient's prescriptions on the portal ``/prescriptions``: the active ones with the
QR code to show at the pharmacy and the number to say there, then the dispensed, the
expired and the cancelled; a linked child's with ``?patient_id=``. The read goes through
:class:`prescriptions.Prescriptions` (the record's access rule, audited there)."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.response import Template

from imias.channels.portal.common import PORTAL, acting_for, portal_page
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.rx_view import STATES, rx_helpers, rx_lang
from imias.identity import principal_of
from prescriptions import Prescriptions

#: How many prescriptions the page lists (newest first).
SHOWN = 100


class PortalPrescriptionController(Controller):
    path = "/"
    tags = ["portal"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get("/prescriptions", opt=PORTAL, operation_id="portalPrescriptions")
    async def prescriptions(
        self, request: Request[Any, Any, Any], patient_id: FromQuery[int | None] = None
    ) -> Template:
        patient = await acting_for(request, patient_id)  # a stranger's id: 404
        service: Prescriptions = request.app.state.prescriptions
        lang = rx_lang(request)
        found = await service.of_patient(principal_of(request), patient, lang, SHOWN)
        return portal_page(
            request,
            "portal/prescriptions.html",
            by_state=[(s, [p for p in found if p.state == s]) for s in STATES],
            claimed=patient_id,
            **rx_helpers(request),
        )
