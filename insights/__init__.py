"""The city's dashboard: how long patients wait for a doctor and in the clinic, how the
doctors' time is used, how patients book and what they are refused, kept in small
aggregate tables by a job and the workers' counters (docs/dashboard.md); and the
workers' ``/metrics`` for operators.

Other packages use the names below and nothing else of this package: the use cases
(:class:`Insights`), the figures' values, the metrics and the plugin.
"""

from insights.metrics import Metrics
from insights.model import (
    MAX_PERIOD_DAYS,
    WAIT_MARK_MINUTES,
    ChannelShare,
    ClinicOnMap,
    Dashboard,
    EarliestBySpecialty,
    EarliestDay,
    Freshness,
    LoadDay,
    LoadRow,
    RefusalRow,
    Scope,
    ServedDay,
    WaitRow,
)
from insights.plugin import InsightsPlugin
from insights.service import Insights

__all__ = [
    "MAX_PERIOD_DAYS",
    "WAIT_MARK_MINUTES",
    "ChannelShare",
    "ClinicOnMap",
    "Dashboard",
    "EarliestBySpecialty",
    "EarliestDay",
    "Freshness",
    "Insights",
    "InsightsPlugin",
    "LoadDay",
    "LoadRow",
    "Metrics",
    "RefusalRow",
    "Scope",
    "ServedDay",
    "WaitRow",
]
