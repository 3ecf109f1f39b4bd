"""The application factory: ``create_app(settings)`` assembles the Litestar app.

Domain packages own their controllers, services and SQL; this module only wires
them together with the platform (pools, Redis, errors, request ids, health).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from imias import __version__
from imias.booking.api import (
    BookingController,
    DirectoryController,
    SearchController,
    WaitlistController,
    engine_state,
)
from imias.booking.engine import Engine
from imias.booking.jobs import BookingJobs
from imias.booking.service import BookingService
from imias.channels.doctor import DoctorController
from imias.channels.kiosk import KioskController
from imias.channels.phone import PhoneController
from imias.channels.portal import (
    PortalAccountController,
    PortalBookingController,
    PortalController,
    icon,
    manifest,
    service_worker,
)
from imias.channels.registrar import RegistrarController
from imias.channels.web.language import switch_language
from imias.channels.web.pages import template_config
from imias.identity import PUBLIC, Identity, before_request
from imias.identity.access_log import AccessLogController, AuditController
from imias.identity.api import (
    AuthController,
    BreakGlassController,
    MeController,
    StaffAccountController,
)
from imias.identity.keys import resolve_secret
from imias.identity.policies import BEARER, document_security
from imias.identity.sms import SmsSender
from imias.platform.audit import AuditSealer, check_audit
from imias.platform.cache import create_redis
from imias.platform.db import create_pool
from imias.platform.embedded import Servers, start_servers
from imias.platform.health import check_database, check_redis, health
from imias.platform.outbox import OutboxRelay, StreamConsumer, check_outbox
from imias.platform.problems import EXCEPTION_HANDLERS
from imias.platform.requests import request_id_middleware
from imias.platform.settings import Settings

log = logging.getLogger("imias.app")


async def check_engine(state: State) -> dict[str, Any]:
    """The worker's engine is loaded: which implementation, what it holds."""
    return state.engine.health()


def create_app(settings: Settings, *, sms: SmsSender | None = None) -> Litestar:
    """Build the app. Servers are connected in the lifespan, not here. ``sms`` sends
    one-time codes (default: the log sender, see imias.identity.sms)."""

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        servers: Servers | None = None
        database_url, redis_url = settings.database_url, settings.redis_url
        if database_url is None or redis_url is None:
            # A single process run without `imias serve`: start the embedded default.
            servers = await asyncio.to_thread(start_servers, settings)
            database_url, redis_url = servers.database_url, servers.redis_url
        app.state.db = await create_pool(database_url, settings.db_pool_size)
        app.state.redis = create_redis(redis_url)
        app.state.engine = engine = Engine(settings.time_zone)
        # Note the stream position before loading from the database, then apply what
        # comes after it: a change made meanwhile arrives twice and applies once.
        app.state.stream_consumer = StreamConsumer(app.state.redis, engine.apply_event)
        await app.state.stream_consumer.resolve_start()
        engine.start_loading(app.state.db)
        app.state.stream_consumer.start()
        # Event outbox: every worker runs a relay; an advisory lock keeps one active.
        app.state.outbox_relay = OutboxRelay(database_url, app.state.redis)
        app.state.outbox_relay.start()
        # Audit records are chained by one sealer at a time (advisory lock).
        app.state.audit_sealer = AuditSealer(database_url)
        app.state.audit_sealer.start()
        secret = await asyncio.to_thread(
            resolve_secret, settings.secret_key, settings.data_dir, announce=False
        )
        app.state.identity = identity = Identity(
            app.state.db, app.state.redis, secret, demo=settings.demo, sms=sms
        )
        identity.start()
        app.state.booking = BookingService(app.state.db, engine)
        jobs = BookingJobs(app.state.booking, app.state.db)
        jobs.start()
        try:
            yield
        finally:
            await jobs.stop()
            await identity.stop()
            await app.state.audit_sealer.stop()
            await app.state.stream_consumer.stop()
            await app.state.outbox_relay.stop()
            await app.state.engine.stop()
            await app.state.redis.aclose()
            await asyncio.wait_for(app.state.db.close(), timeout=10)
            if servers is not None:
                await asyncio.to_thread(servers.stop)
            log.info("worker stopped; pools closed")

    state = State(
        {
            "settings": settings,
            "health_checks": {
                "database": check_database,
                "redis": check_redis,
                "engine": check_engine,
                "outbox": check_outbox,
                "audit": check_audit,
            },
        }
    )
    app = Litestar(
        route_handlers=[
            health,
            AuthController,
            MeController,
            AccessLogController,
            AuditController,
            StaffAccountController,
            BreakGlassController,
            DirectoryController,
            SearchController,
            BookingController,
            WaitlistController,
            engine_state,
            PhoneController,
            KioskController,
            RegistrarController,
            DoctorController,
            switch_language,
            PortalController,
            PortalBookingController,
            PortalAccountController,
            manifest,
            service_worker,
            icon,
        ],
        template_config=template_config(),
        lifespan=[lifespan],
        state=state,
        # The one check: every route's declared policy, every signed-in caller's token.
        before_request=before_request,
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        openapi_config=OpenAPIConfig(
            title="IMIAS",
            version=__version__,
            description="Integrated medical information system: booking, records, "
            "prescriptions and certificates for a city's outpatient care.",
            components=Components(
                security_schemes={
                    BEARER: SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="JWT",
                        description="A token from /api/v1/auth/... (or `imias token`)",
                    )
                }
            ),
            # The OpenAPI document and its viewers are public, like /health.
            openapi_router=Router(
                "/schema", route_handlers=[], include_in_schema=False, opt=PUBLIC
            ),
        ),
        logging_config=None,
    )
    document_security(app)
    # Outermost, so that unmatched routes (404, 405) also get an id and a log line.
    app.asgi_handler = request_id_middleware(app.asgi_handler)
    return app
