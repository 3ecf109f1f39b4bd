"""The ambulance service, connected: the crew's emergency summary (an International
Patient Summary at ``/fhir/R4/Patient/$summary``), the dispatch system's finished calls
in (a signed FHIR transaction Bundle over HTTP, or an HL7 v2 ADT over the MLLP listener),
each written once in the patient's record as an ambulance encounter, and the active
visit a call left at home asks of the attached clinic (booked by a worker, or shown on
the registrar's page); ``imias simulate ambulance`` plays the dispatch system.
See docs/ambulance.md."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from litestar import Litestar
from litestar.types import ControllerRouterHandler

from imias.platform.settings import Settings
from integrations.ambulance.api import CallController, SummaryController
from integrations.ambulance.model import ActiveVisit
from integrations.ambulance.service import ActiveVisits, Ambulance

__all__ = ["ActiveVisit", "ActiveVisits", "Ambulance", "route_handlers", "running"]


def route_handlers() -> Sequence[ControllerRouterHandler]:
    return [SummaryController, CallController]


@asynccontextmanager
async def running(app: Litestar, settings: Settings, dsn: str) -> AsyncIterator[None]:
    """The adapter in a worker: its services on ``app.state`` (``ambulance``,
    ``active_visits``), the active visits' worker, and the MLLP listener when
    ``IMIAS_MLLP_PORT`` is set."""
    from integrations.ambulance.mllp import MllpListener, server_tls

    state = app.state
    state.ambulance = ambulance = Ambulance(state.db, state.records, settings.time_zone)
    state.active_visits = visits = ActiveVisits(state.db, state.booking)
    visits.start(dsn)
    listener = None
    try:
        if settings.mllp_port is not None:
            listener = MllpListener(
                state.inbound,
                ambulance,
                host=settings.mllp_host,
                port=settings.mllp_port,
                time_zone=settings.time_zone,
                tls=server_tls(settings.mllp_tls_cert, settings.mllp_tls_key, settings.mllp_tls_ca),
            )
            await listener.start()
        state.mllp = listener
        yield
    finally:
        if listener is not None:
            await listener.stop()
        await visits.stop()
