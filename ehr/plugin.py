"""The medical record as the app assembles it: its routes, its use cases
(``app.state.records``, ``app.state.certificates``) and its migrations. Whether a patient
is booked with a doctor is asked of ``app.state.care_links`` (set by the booking domain),
when there is one; and ``imias verify`` and ``imias certificate-keys``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from ehr.api import CatalogueController, RecordController
from ehr.certificates.api import CertificateController, TrustController, VerifyController
from ehr.certificates.commands import certificate_keys, verify
from ehr.certificates.keys import CertificateKeys
from ehr.certificates.limits import CheckLimiter
from ehr.certificates.service import Certificates
from ehr.fhir.api import FhirController
from ehr.illness.api import IllnessController
from ehr.illness.service import IllnessEpisodes
from ehr.service import Records
from imias.identity import resolve_secret
from imias.platform.plugin import DomainPlugin, provide


class EhrPlugin(DomainPlugin):
    name = "ehr"
    migrations = "ehr.migrations"
    commands = (verify, certificate_keys)

    def route_handlers(self) -> Sequence[ControllerRouterHandler]:
        return [
            CatalogueController,
            RecordController,
            FhirController,
            CertificateController,
            VerifyController,
            TrustController,
            IllnessController,
        ]

    def dependencies(self) -> dict[str, Provide]:
        return {
            "records": provide("records"),
            "certificates": provide("certificates"),
            "illness": provide("illness"),
        }

    @asynccontextmanager
    async def running(self, app: Litestar) -> AsyncIterator[None]:
        zone = ZoneInfo(self.settings.time_zone)

        def today() -> date:  # the city's day
            return datetime.now(UTC).astimezone(zone).date()

        app.state.records = records = Records(
            app.state.db,
            app.state.identity,
            getattr(app.state, "care_links", None),
            today=today,
        )
        app.state.illness = IllnessEpisodes(app.state.db, records, today=today)
        secret = await asyncio.to_thread(
            resolve_secret, self.settings.secret_key, self.settings.data_dir, announce=False
        )
        app.state.certificates = Certificates(
            app.state.db,
            records,
            CertificateKeys(app.state.db, secret, self.settings.city_code),
            city=self.settings.city_code,
            today=today,
            zone=zone,
            limiter=CheckLimiter(getattr(app.state, "redis", None)),
        )
        yield
