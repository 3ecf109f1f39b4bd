"""Booking as the app assembles it: the directory, search, booking and waitlist routes,
the worker's engine (``app.state.engine``, loaded from the database at start and kept by
the event stream) and its use cases (``app.state.booking``), the periodic jobs, and the
engine's health."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

from litestar import Litestar
from litestar.datastructures import State
from litestar.di import Provide
from litestar.types import ControllerRouterHandler

from imias.booking.api import (
    BookingController,
    DirectoryController,
    SearchController,
    engine_state,
)
from imias.booking.care import CareLinks
from imias.booking.engine import ENGINE_TOPIC, Engine
from imias.booking.jobs import BookingJobs
from imias.booking.relocation_api import RelocationController
from imias.booking.schedule_admin import ScheduleAdmin
from imias.booking.schedule_api import HolidayController, ScheduleController
from imias.booking.service import BookingService
from imias.booking.waitlist_api import WaitlistController
from imias.booking.walk_ins_api import WalkInController
from imias.platform.health import Check
from imias.platform.plugin import DomainPlugin, provide


async def check_engine(state: State) -> dict[str, Any]:
    """The worker's engine is loaded: which implementation, what it holds."""
    engine: Engine = state.engine
    return engine.health()


class BookingPlugin(DomainPlugin):
    name = "booking"
    migrations = "imias.booking.migrations"

    def route_handlers(self) -> Sequence[ControllerRouterHandler]:
        return [
            DirectoryController,
            SearchController,
            BookingController,
            WaitlistController,
            WalkInController,
            RelocationController,
            ScheduleController,
            HolidayController,
            engine_state,
        ]

    def dependencies(self) -> dict[str, Provide]:
        return {
            "engine": provide("engine"),
            "booking": provide("booking"),
            "schedules": provide("schedules"),
        }

    def health_checks(self) -> dict[str, Check]:
        return {"engine": check_engine}

    @asynccontextmanager
    async def running(self, app: Litestar) -> AsyncIterator[None]:
        app.state.engine = engine = Engine(self.settings.time_zone)
        # Every committed change reaches this engine through the stream, this worker's
        # own included; the platform noted the stream's position before this load.
        app.state.topics.subscribe(ENGINE_TOPIC, engine.apply_event)
        engine.start_loading(app.state.db)
        app.state.booking = booking = BookingService(app.state.db, engine)
        # booking.relocations: the patients moved when a clinic takes a doctor's time away
        # (the schedule's editing calls it in its transaction).
        # A clinic's schedules, edited by its administrator (imias.booking.schedule_admin).
        app.state.schedules = ScheduleAdmin(booking)
        # What the medical record asks of the booking (imias.booking.care).
        app.state.care_links = CareLinks(app.state.db)
        jobs = BookingJobs(booking, app.state.db)
        jobs.start()
        try:
            yield
        finally:
            await jobs.stop()
            await app.state.schedules.stop()
            await engine.stop()
