"""The load issue's targets as a run reports them (loadtest.profiles.target_met)."""

import pytest

from loadtest.profiles import target_met


def summary(**figures):
    base = {"users": 1000, "per_second": 900.0, "p99_ms": 80.0, "failures": 0}
    return base | {"audit": {"passed": True}} | figures


def test_an_emias_day_at_the_rate_and_under_the_p99_meets_its_target():
    result = target_met("emias-day", summary())
    assert result == {
        "asked": {"per_second_at_least": 833.0, "p99_ms_under": 100.0},
        "met": True,
    }


@pytest.mark.parametrize(
    "figures",
    [
        {"per_second": 700.0},
        {"p99_ms": 100.0},
        {"p99_ms": None},
        {"failures": 1},
        {"audit": {"passed": False}},
    ],
    ids=["too-slow", "p99-at-the-limit", "no-p99", "a-failure", "audit-failed"],
)
def test_an_emias_day_short_of_any_part_misses_it(figures):
    assert target_met("emias-day", summary(**figures))["met"] is False


def test_a_monday_opening_needs_its_thousand_patients():
    assert target_met("monday-opening", summary(p99_ms=200.0))["met"] is True
    assert target_met("monday-opening", summary(p99_ms=200.0, users=8))["met"] is False
    assert target_met("monday-opening", summary(p99_ms=260.0))["met"] is False


def test_the_stress_ramp_has_no_target_but_its_highest_load():
    assert target_met("stress", summary()) is None
