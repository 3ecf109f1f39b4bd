"""Fixtures for the engine's tests: both implementations, and the hypothesis profiles."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

from scheduler_core import compiled_calendar, reference

settings.register_profile(
    "dev",
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "ci",
    max_examples=400,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

IMPLEMENTATIONS = {"reference": reference.Calendar, "cython": compiled_calendar()}

DAY0 = 739_000  # an ordinal day number; the window is DAY0 .. DAY0 + 2


@pytest.fixture(params=sorted(IMPLEMENTATIONS))
def impl(request):
    """The Calendar class of one implementation; every example test runs on both."""
    return IMPLEMENTATIONS[request.param]


@pytest.fixture
def cal(impl):
    """Three days of 08:00-10:00 in 5-minute units (24 units), three doctors.

    Doctor 1 (clinic 10, specialty 100): day 0, four 15-minute slots from 08:00, web+app+registrar.
    Doctor 2 (clinic 10, specialty 100): day 0, two 15-minute slots from 08:15, web only.
    Doctor 3 (clinic 11, specialty 200): nothing open.
    """
    c = impl(DAY0, days=3, unit_minutes=5, day_begins=8 * 60, units_per_day=24)
    c.add_doctor(1, 10, 100)
    c.add_doctor(2, 10, 100)
    c.add_doctor(3, 11, 200)
    c.open(1, DAY0, 0, 3, 0b10011, count=4)
    c.open(2, DAY0, 3, 3, 0b00001, count=2)
    return c
