"""The medical record as the app assembles it: its routes, its use cases
(``app.state.records``) and its migrations. Whether a patient is booked with a doctor is
asked of ``app.state.care_links`` (set by the booking domain), when there is one."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from ehr.api import CatalogueController, RecordController
from ehr.fhir.api import FhirController
from ehr.service import Records
from imias.platform.plugin import DomainPlugin, provide


class EhrPlugin(DomainPlugin):
    name = "ehr"
    migrations = "ehr.migrations"

    def route_handlers(self) -> Sequence[ControllerRouterHandler]:
        return [CatalogueController, RecordController, FhirController]

    def dependencies(self) -> dict[str, Provide]:
        return {"records": provide("records")}

    @asynccontextmanager
    async def running(self, app: Litestar) -> AsyncIterator[None]:
        zone = ZoneInfo(self.settings.time_zone)

        def today() -> date:  # the city's day
            return datetime.now(UTC).astimezone(zone).date()

        app.state.records = Records(
            app.state.db,
            app.state.identity,
            getattr(app.state, "care_links", None),
            today=today,
        )
        yield
