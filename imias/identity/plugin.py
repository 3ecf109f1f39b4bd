"""Identity as the app assembles it: the sign-in, session, account, break-glass and
access-log routes, the one check before every request, the bearer scheme in the
OpenAPI document, and the worker's :class:`Identity` (``app.state.identity``) with its
housekeeping."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.handlers import HTTPRouteHandler
from litestar.plugins import ReceiveRoutePlugin
from litestar.routes import BaseRoute
from litestar.types import ControllerRouterHandler

from imias.identity.access_log import AccessLogController, AuditController
from imias.identity.api import (
    AuthController,
    BreakGlassController,
    MeController,
    StaffAccountController,
)
from imias.identity.commands import staff, token
from imias.identity.keys import resolve_secret
from imias.identity.policies import BEARER, before_request
from imias.identity.registration import PatientRegistrationController
from imias.identity.service import Identity
from imias.identity.sms import SmsSender
from imias.platform.plugin import DomainPlugin, provide
from imias.platform.policy import POLICY, Policy
from imias.platform.settings import Settings


class IdentityPlugin(DomainPlugin, ReceiveRoutePlugin):
    name = "identity"
    migrations = "imias.identity.migrations"
    commands = (token, staff)

    def __init__(self, settings: Settings, *, sms: SmsSender | None = None) -> None:
        super().__init__(settings)
        self.sms = sms  # sends one-time codes (default: the log sender, see .sms)

    def route_handlers(self) -> Sequence[ControllerRouterHandler]:
        return [
            AuthController,
            MeController,
            AccessLogController,
            AuditController,
            StaffAccountController,
            BreakGlassController,
            PatientRegistrationController,
        ]

    def dependencies(self) -> dict[str, Provide]:
        return {"identity": provide("identity")}

    def configure(self, app_config: AppConfig) -> None:
        # The one check: every route's declared policy, every signed-in caller's token.
        app_config.before_request = before_request

    def receive_route(self, route: BaseRoute) -> None:
        """Mark every non-public route as needing the bearer token in the OpenAPI
        document."""
        for handler in getattr(route, "route_handlers", []):
            policy = handler.opt.get(POLICY)
            if isinstance(handler, HTTPRouteHandler) and isinstance(policy, Policy):
                if not policy.public:
                    handler.security = [{BEARER: []}]

    @asynccontextmanager
    async def running(self, app: Litestar) -> AsyncIterator[None]:
        settings = self.settings
        secret = await asyncio.to_thread(
            resolve_secret, settings.secret_key, settings.data_dir, announce=False
        )
        app.state.identity = identity = Identity(
            app.state.db, app.state.redis, secret, demo=settings.demo, sms=self.sms
        )
        identity.start()
        try:
            yield
        finally:
            await identity.stop()
