"""The integrations over HTTP for operations: each partner's state as JSON
(``GET /api/v1/admin/partners``), for monitoring; the administrator's page shows the
same (:mod:`imias.channels.admin`)."""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from imias.identity import allow
from integrations import admin
from integrations.admin import PartnersOverview

PARTNERS = allow(
    "administrator",
    data="no personal data: each partner's delivery counts, its oldest pending message's "
    "age, its failure and its last success",
)


@get(
    "/api/v1/admin/partners",
    operation_id="listPartnerStates",
    tags=["operations"],
    summary="Each partner's deliveries: delivered, pending, dead, failing since",
    opt=PARTNERS,
)
async def partner_states(request: Request[Any, Any, Any]) -> PartnersOverview:
    return await admin.overview(request.app.state.db)
