"""The integrations as the app assembles them: the router on the outbox relay (every
published event offered to the adapters' handlers, :mod:`integrations.routes`), a
delivery worker per partner (:mod:`integrations.delivery`), the inbound side
(``app.state.inbound``), their migrations and ``imias partners``, ``imias
deliveries``, ``imias simulate``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from ehr import add_fhir_types
from imias.identity import resolve_secret
from imias.platform.plugin import OUTBOX_SINKS, DomainPlugin, provide
from integrations import ambulance
from integrations.api import partner_states
from integrations.commands import deliveries, partners, simulate
from integrations.delivery import Deliveries
from integrations.inbound import Inbound
from integrations.model import Partner
from integrations.notifications import NotificationPreferenceController, NotificationPreferences
from integrations.routes import build_router
from integrations.scheduling import SchedulingController
from integrations.scheduling import fhir_types as scheduling_types
from integrations.schools import (
    SchoolConsentController,
    SchoolConsents,
    SchoolNurse,
    SchoolNurseController,
)
from integrations.signing import partner_secret


class IntegrationsPlugin(DomainPlugin):
    name = "integrations"
    migrations = "integrations.migrations"
    commands = (partners, deliveries, simulate)

    def route_handlers(self) -> Sequence[ControllerRouterHandler]:
        return [
            SchoolConsentController,
            SchoolNurseController,
            SchedulingController,
            *ambulance.route_handlers(),
            partner_states,
            NotificationPreferenceController,
        ]

    def configure(self, app_config: AppConfig) -> None:
        # The router is the outbox relay's sink, there before the relay starts.
        self.router = build_router(self.settings)
        app_config.state.setdefault(OUTBOX_SINKS, []).append(self.router)
        # Appointment, Schedule, Slot in /fhir/R4's CapabilityStatement (our own routes).
        add_fhir_types(app_config, *scheduling_types())

    def dependencies(self) -> dict[str, Provide]:
        return {
            "inbound": provide("inbound"),
            "school_consents": provide("school_consents"),
            "school_nurse": provide("school_nurse"),
            "notification_preferences": provide("notification_preferences"),
        }

    def health_checks(self) -> dict[str, Any]:
        return {"deliveries": check_deliveries}

    @asynccontextmanager
    async def running(self, app: Litestar) -> AsyncIterator[None]:
        settings = self.settings
        secret = await asyncio.to_thread(
            resolve_secret, settings.secret_key, settings.data_dir, announce=False
        )

        def secret_of(partner: Partner) -> str:
            return partner_secret(secret, partner.id, partner.secret_version)

        app.state.inbound = Inbound(app.state.db, secret)
        zone = ZoneInfo(settings.time_zone)
        app.state.school_consents = SchoolConsents(app.state.db, app.state.identity)
        app.state.school_nurse = SchoolNurse(
            app.state.db, lambda: datetime.now(UTC).astimezone(zone).date()
        )
        app.state.notification_preferences = NotificationPreferences(
            app.state.db, app.state.identity
        )
        app.state.router = self.router
        dsn = app.state.outbox_relay.dsn
        app.state.deliveries = workers = Deliveries(dsn, app.state.db, secret_of)
        workers.start()
        try:
            async with ambulance.running(app, settings, dsn):
                yield
        finally:
            await workers.stop()


async def check_deliveries(state: State) -> dict[str, Any]:
    """/health: each partner's worker here (a failing partner is reported, not a failure
    of IMIAS: the admin page and ``imias partners list`` show it)."""
    found: dict[str, Any] = {
        "workers": state.deliveries.status(),
        "routing_failures": state.router.failed,
    }
    visits = getattr(state, "active_visits", None)
    if visits is not None:  # the ambulance's active visits booked and left open here
        found["active_visits"] = {"booked": visits.booked, "opened": visits.opened}
    listener = getattr(state, "mllp", None)
    if listener is not None:  # the MLLP listener's messages here
        found["mllp"] = {"port": listener.port, **listener.stats}
    return found


__all__ = ["IntegrationsPlugin"]
