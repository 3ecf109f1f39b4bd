"""The integrations as the app assembles them: the router on the outbox relay (every
published event offered to the adapters' handlers, :mod:`integrations.routes`), a
delivery worker per partner (:mod:`integrations.delivery`), the inbound side
(``app.state.inbound``), their migrations and ``imias partners``, ``imias
deliveries``, ``imias simulate``."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from imias.identity import resolve_secret
from imias.platform.plugin import DomainPlugin, provide
from integrations.api import partner_states
from integrations.commands import deliveries, partners, simulate
from integrations.delivery import Deliveries
from integrations.inbound import Inbound
from integrations.model import Partner
from integrations.routes import build_router
from integrations.signing import partner_secret


class IntegrationsPlugin(DomainPlugin):
    name = "integrations"
    migrations = "integrations.migrations"
    commands = (partners, deliveries, simulate)

    def route_handlers(self) -> Sequence[ControllerRouterHandler]:
        return [partner_states]

    def dependencies(self) -> dict[str, Provide]:
        return {"inbound": provide("inbound")}

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
        app.state.router = router = build_router(settings)
        app.state.outbox_relay.add_sink(router)  # before the relay starts (at start-up's end)
        dsn = app.state.outbox_relay.dsn
        app.state.deliveries = workers = Deliveries(dsn, app.state.db, secret_of)
        workers.start()
        try:
            yield
        finally:
            await workers.stop()


async def check_deliveries(state: State) -> dict[str, Any]:
    """/health: each partner's worker here (a failing partner is reported, not a failure
    of IMIAS: the admin page and ``imias partners list`` show it)."""
    return {"workers": state.deliveries.status(), "routing_failures": state.router.failed}


__all__ = ["IntegrationsPlugin"]
