"""The dashboard as the app assembles it: its JSON routes and ``/metrics``, its use cases
(``app.state.insights``), the app's metrics (``app.state.metrics``, made as the app is
made, so the request middleware can count from the first request), the insights job and
each worker's flusher, its migrations and ``imias insights``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from zoneinfo import ZoneInfo

from litestar import Litestar
from litestar.config.app import AppConfig
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from imias.platform.plugin import DomainPlugin, provide
from insights.api import InsightsController
from insights.commands import insights
from insights.jobs import InsightsJob, OutcomeFlusher
from insights.metrics import Metrics, metrics_route
from insights.service import Insights


class InsightsPlugin(DomainPlugin):
    name = "insights"
    migrations = "insights.migrations"
    commands = (insights,)

    def route_handlers(self) -> Sequence[ControllerRouterHandler]:
        return [InsightsController, metrics_route]

    def dependencies(self) -> dict[str, Provide]:
        return {"insights": provide("insights")}

    def configure(self, app_config: AppConfig) -> None:
        app_config.state["metrics"] = Metrics()

    @asynccontextmanager
    async def running(self, app: Litestar) -> AsyncIterator[None]:
        zone = ZoneInfo(self.settings.time_zone)
        metrics: Metrics = app.state.metrics
        metrics.state = app.state
        app.state.insights = Insights(app.state.db, zone)
        app.state.insights_job = job = InsightsJob(
            app.state.outbox_relay.dsn, app.state.engine, zone
        )
        flusher = OutcomeFlusher(app.state.db, app.state.booking, metrics)
        job.start()
        flusher.start()
        try:
            yield
        finally:
            await flusher.stop()
            await job.stop()
