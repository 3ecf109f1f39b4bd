"""How a part of IMIAS joins the app: one Litestar plugin per domain, and the
platform's own.

A :class:`DomainPlugin` registers what its domain brings (routes, the dependencies its
controllers are given, health checks, the work it runs beside requests in a lifespan)
and names its migrations and its CLI commands. ``create_app`` is the list of plugins,
in dependency order: a plugin's lifespan starts after those before it (the platform's
pools first) and stops before them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, ClassVar

import click
from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.datastructures import State
from litestar.di import Provide
from litestar.plugins import InitPluginProtocol
from litestar.types import ControllerRouterHandler

from imias.platform import heap
from imias.platform.audit import AuditSealer, check_audit
from imias.platform.cache import create_redis
from imias.platform.commands import audit
from imias.platform.db import app_url, create_pool
from imias.platform.embedded import Servers, start_servers
from imias.platform.health import Check, check_database, check_redis, health, health_head
from imias.platform.outbox import OutboxRelay, StreamConsumer, check_outbox
from imias.platform.problems import EXCEPTION_HANDLERS
from imias.platform.settings import Settings
from imias.platform.stream import Topics

log = logging.getLogger("imias.app")

HEALTH_CHECKS = "health_checks"
#: The app state's list of the outbox relay's sinks (:meth:`OutboxRelay.add_sink`): a
#: plugin appends to it in ``configure``, before the relay starts.
OUTBOX_SINKS = "outbox_sinks"


class DomainPlugin(InitPluginProtocol):
    #: The domain's name: its migrations are recorded under it.
    name: ClassVar[str]
    #: The package holding its ``NNNN_name.sql`` files (None: no tables of its own).
    migrations: ClassVar[str | None] = None
    #: Commands it adds to ``imias`` (click commands or groups).
    commands: ClassVar[Sequence[click.Command]] = ()

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    # -- what a domain overrides -----------------------------------------------------
    def route_handlers(self) -> Sequence[ControllerRouterHandler]:
        return ()

    def dependencies(self) -> dict[str, Provide]:
        return {}

    def health_checks(self) -> dict[str, Check]:
        return {}

    @asynccontextmanager
    async def running(self, app: Litestar) -> AsyncIterator[None]:
        """The domain's work beside requests, for the worker's life (default: none)."""
        yield

    def configure(self, app_config: AppConfig) -> None:
        """Anything else the domain sets on the app (hooks, templates)."""

    # -- the plugin protocol ---------------------------------------------------------
    def on_app_init(self, app_config: AppConfig) -> AppConfig:
        app_config.route_handlers.extend(self.route_handlers())
        app_config.dependencies.update(self.dependencies())
        app_config.state.setdefault(HEALTH_CHECKS, {}).update(self.health_checks())
        app_config.lifespan.append(self.running)
        self.configure(app_config)
        return app_config


def provide(name: str) -> Provide:
    """A dependency that hands controllers ``app.state.<name>`` (set by a lifespan)."""

    def from_state(state: State) -> Any:
        return getattr(state, name)

    from_state.__name__ = f"provide_{name}"
    return Provide(from_state, sync_to_thread=False)


class PlatformPlugin(DomainPlugin):
    """Pools for PostgreSQL and Redis (the embedded servers when none are given), the
    outbox relay, the stream consumer whose topics the domains subscribe to
    (``app.state.topics``), the audit sealer, ``/health`` and the problem documents."""

    name = "platform"
    migrations = "imias.platform.migrations"
    commands = (audit,)

    def route_handlers(self) -> Sequence[ControllerRouterHandler]:
        return [health, health_head]

    def health_checks(self) -> dict[str, Check]:
        return {
            "database": check_database,
            "redis": check_redis,
            "outbox": check_outbox,
            "audit": check_audit,
        }

    def configure(self, app_config: AppConfig) -> None:
        app_config.exception_handlers.update(EXCEPTION_HANDLERS)
        # After every plugin's lifespan has subscribed its topics.
        app_config.on_startup.append(_start_consumer)

    @asynccontextmanager
    async def running(self, app: Litestar) -> AsyncIterator[None]:
        settings = self.settings
        heap.watch()  # a slow pass of the garbage collector shows in the log
        servers: Servers | None = None
        database_url, redis_url = settings.database_url, settings.redis_url
        if database_url is None or redis_url is None:
            # A single process run without `imias serve`: start the embedded default.
            servers = await asyncio.to_thread(start_servers, settings)
            database_url, redis_url = servers.database_url, servers.redis_url
        # The workers log in as the application's own role, never as the owner.
        database_url = settings.app_database_url or app_url(database_url)
        app.state.db = await create_pool(database_url, settings.db_pool_size)
        app.state.redis = create_redis(redis_url)
        app.state.topics = topics = Topics()
        # The stream position is noted now, before any domain loads from the database;
        # what comes after it is applied once the consumer starts (at start-up's end): a
        # change made meanwhile arrives twice and applies once.
        app.state.stream_consumer = consumer = StreamConsumer(app.state.redis, topics)
        await consumer.resolve_start()
        # Event outbox: every worker runs a relay; an advisory lock keeps one active. Its
        # sinks are those the plugins put in the app's state (OUTBOX_SINKS) as it was made.
        app.state.outbox_relay = relay = OutboxRelay(database_url, app.state.redis)
        for sink in app.state.get(OUTBOX_SINKS, ()):
            relay.add_sink(sink)
        relay.start()
        # Audit records are chained by one sealer at a time (advisory lock).
        app.state.audit_sealer = sealer = AuditSealer(database_url)
        sealer.start()
        try:
            yield
        finally:
            await sealer.stop()
            await consumer.stop()
            await relay.stop()
            await app.state.redis.aclose()
            await asyncio.wait_for(app.state.db.close(), timeout=10)
            if servers is not None:
                await asyncio.to_thread(servers.stop)
            log.info("worker stopped; pools closed")


def _start_consumer(app: Litestar) -> None:
    app.state.stream_consumer.start()
