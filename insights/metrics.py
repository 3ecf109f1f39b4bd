"""``/metrics``: the worker's figures in the Prometheus text format (prometheus-client).

One :class:`Metrics` per app (a registry of its own: tests make many apps, none shares
the library's global registry). Requests are counted by the platform's request
middleware (:meth:`Metrics.observe_request`: method, route template, status) and
timed; the rest is read at scrape time from what the worker already holds, never by a
query per scrape: the booking outcomes (:class:`imias.booking.Outcomes`' totals), the
engine's applied events and the stream's lag, and the outbox and delivery backlogs,
which :class:`~insights.jobs.OutcomeFlusher` reads every few seconds.

Who may read it (docs/dashboard.md): with ``IMIAS_METRICS_TOKEN`` set, a caller that
sends it as a bearer token; without it, a caller on the loopback address that came
through no proxy (no ``X-Forwarded-For``). Anyone else gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Iterator
from typing import Any

from litestar import Request, Response, get
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from imias.platform.policy import POLICY, Policy
from imias.platform.problems import ProblemError

#: The route label of a request that matched no route (a 404 or 405 of the router).
UNMATCHED = "(unmatched)"

METRICS_POLICY: dict[str, Any] = {
    POLICY: Policy(
        public=True,
        data="operators: the workers' counters, no personal data; a bearer "
        "IMIAS_METRICS_TOKEN, or (none set) loopback callers only",
    )
}


class Metrics:
    """The app's registry and what it counts itself."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "imias_http_requests",
            "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.seconds = Histogram(
            "imias_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
        )
        self.state: Any = None  # the app's state, once its lifespan starts
        # Read every few seconds by the worker's flusher (insights.jobs).
        self.outbox_backlog: int | None = None
        self.outbox_oldest_seconds: float | None = None
        self.deliveries: dict[str, tuple[int, int]] = {}  # partner -> (pending, dead)
        self.registry.register(_WorkerCollector(self))

    def observe_request(self, scope: Any, status: int, seconds: float) -> None:
        route = scope.get("path_template") or UNMATCHED
        method = str(scope.get("method", ""))
        self.requests.labels(method, route, str(status)).inc()
        self.seconds.labels(method, route).observe(seconds)

    def text(self) -> bytes:
        return generate_latest(self.registry)


class _WorkerCollector(Collector):
    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Metric]:
        return []  # collected at scrape time only

    def collect(self) -> Iterator[Metric]:
        m, state = self.metrics, self.metrics.state
        booking = getattr(state, "booking", None) if state is not None else None
        if booking is not None:
            booked = CounterMetricFamily(
                "imias_bookings",
                "Appointments booked by this worker, by channel",
                labels=["channel"],
            )
            for channel, n in sorted(booking.outcomes.booked_total.items()):
                booked.add_metric([channel], n)
            yield booked
            refused = CounterMetricFamily(
                "imias_booking_refusals",
                "Bookings this worker refused, by refusal code",
                labels=["code"],
            )
            for code, n in sorted(booking.outcomes.refused_total.items()):
                refused.add_metric([code], n)
            yield refused
        engine = getattr(state, "engine", None) if state is not None else None
        if engine is not None:
            yield CounterMetricFamily(
                "imias_engine_events_applied",
                "Stream events this worker's engine has applied",
                value=engine.applied_events,
            )
            yield GaugeMetricFamily(
                "imias_engine_loaded",
                "1 when the worker's engine serves",
                value=int(engine.calendar is not None),
            )
        consumer = getattr(state, "stream_consumer", None) if state is not None else None
        if consumer is not None:
            yield CounterMetricFamily(
                "imias_stream_entries_received",
                "Stream entries this worker has read",
                value=consumer.received,
            )
            yield GaugeMetricFamily(
                "imias_stream_lag_seconds",
                "Age of the last stream entry this worker applied (0 when caught up)",
                value=(getattr(consumer, "lag_ms", None) or 0) / 1000,
            )
        if m.outbox_backlog is not None:
            yield GaugeMetricFamily(
                "imias_outbox_backlog",
                "Events committed and not yet published to the stream",
                value=m.outbox_backlog,
            )
            yield GaugeMetricFamily(
                "imias_outbox_oldest_seconds",
                "Age of the oldest event not yet published",
                value=m.outbox_oldest_seconds or 0.0,
            )
        pending = GaugeMetricFamily(
            "imias_deliveries_pending",
            "Messages waiting for delivery, by partner",
            labels=["partner"],
        )
        dead = GaugeMetricFamily(
            "imias_deliveries_dead", "Messages given up, by partner", labels=["partner"]
        )
        for partner, (p, d) in sorted(m.deliveries.items()):
            pending.add_metric([partner], p)
            dead.add_metric([partner], d)
        yield pending
        yield dead


def _allowed(request: Request[Any, Any, Any], token: str | None) -> bool:
    if token:
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)
    if request.headers.get("x-forwarded-for") is not None or request.client is None:
        return False
    try:
        return ipaddress.ip_address(request.client.host).is_loopback
    except ValueError:
        return False


@get("/metrics", opt=METRICS_POLICY, operation_id="metrics", include_in_schema=False)
async def metrics_route(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The worker's metrics (operators only: see the module)."""
    settings = request.app.state.settings
    if not _allowed(request, settings.metrics_token):
        raise ProblemError(
            403,
            "forbidden",
            "Metrics are for operators: send IMIAS_METRICS_TOKEN as a bearer token"
            " (or, with none set, ask from this machine).",
        )
    metrics: Metrics = request.app.state.metrics
    return Response(metrics.text(), media_type=CONTENT_TYPE_LATEST)
