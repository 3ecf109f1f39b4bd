"""The load issue's targets as a run reports them (loadtest.profiles.target_met)."""

import pytest

from loadtest.profiles import Ramp, target_met


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


class _Total:
    def __init__(self, p99: float, rps: float, fail_ratio: float = 0.0) -> None:
        self.p99, self.current_rps, self.fail_ratio = p99, rps, fail_ratio

    def get_current_response_time_percentile(self, q: float) -> float:
        assert q == 0.99
        return self.p99


class _Runner:
    def __init__(self) -> None:
        self.stats = type("Stats", (), {})()

    def now(self, p99: float, rps: float, fail_ratio: float = 0.0) -> "_Runner":
        self.stats.total = _Total(p99, rps, fail_ratio)
        return self


def test_the_stress_ramp_reports_the_highest_load_held_and_its_rate():
    ramp = Ramp(step=10, step_seconds=2.0, seconds=60)
    runner = _Runner()
    assert ramp.tick(0.0, runner.now(5.0, 0.0)) == (10, 5.0)
    assert ramp.tick(2.1, runner.now(40.0, 95.5)) == (20, 5.0)  # 10 users held
    assert ramp.tick(4.1, runner.now(150.0, 180.0)) == (30, 5.0)  # 20 users held
    assert ramp.tick(6.1, runner.now(250.0, 210.0)) is None  # the p99 passed 200 ms
    report = ramp.report()
    assert report["highest_users_held"] == 20
    assert report["per_second_at_highest"] == 180.0
    assert report["stopped_by"] == "p99"
    assert [s["per_second"] for s in report["steps"]] == [95.5, 180.0, 210.0]


def test_the_stress_ramp_stops_on_failures():
    ramp = Ramp(step=10, step_seconds=2.0, seconds=60)
    runner = _Runner()
    ramp.tick(0.0, runner.now(5.0, 0.0))
    assert ramp.tick(2.1, runner.now(40.0, 90.0, fail_ratio=0.01)) is None
    assert ramp.report()["stopped_by"] == "failures"
    assert ramp.report()["highest_users_held"] == 0
