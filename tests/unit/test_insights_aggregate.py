"""The dashboard's arithmetic: shares, the wait histogram's quantiles and 20-minute mark,
the offered time of expanded schedules, a district's earliest slot from its clinics',
and who may read /metrics."""

from __future__ import annotations

from datetime import date, time
from types import SimpleNamespace

from imias.booking import ScheduleException, Template, expand
from insights import aggregate
from insights.metrics import _allowed
from insights.model import WAIT_BUCKETS


def histogram(waits: dict[int, int]) -> list[int]:
    h = [0] * WAIT_BUCKETS
    for minute, n in waits.items():
        h[minute] += n
    return h


def test_share_without_a_whole_is_no_figure():
    assert aggregate.share(3, 4) == 0.75
    assert aggregate.share(0, 0) is None


def test_quantiles_of_the_wait():
    # 10 visits: 5 waited 2 minutes, 4 waited 15, 1 waited 40
    h = histogram({2: 5, 15: 4, 40: 1})
    assert aggregate.quantile(h, 0.5) == 2
    assert aggregate.quantile(h, 0.9) == 15
    assert aggregate.quantile(h, 0.91) == 40
    assert aggregate.within_mark(h) == 9
    assert aggregate.quantile([0] * WAIT_BUCKETS, 0.5) is None


def test_the_mark_counts_twenty_whole_minutes_in():
    assert aggregate.within_mark(histogram({20: 1, 21: 1})) == 1


def test_histograms_merge_bucket_by_bucket():
    merged = aggregate.merge([histogram({1: 2}), histogram({1: 1, 60: 3}), []])
    assert merged[1] == 3 and merged[60] == 3 and sum(merged) == 6


def test_offered_time_follows_the_schedule_and_its_exceptions():
    monday, tuesday = date(2026, 3, 2), date(2026, 3, 3)
    templates = [
        Template(doctor_id=1, weekday=1, starts=time(8), ends=time(14)),
        Template(doctor_id=1, weekday=2, starts=time(8), ends=time(12)),
        Template(doctor_id=2, weekday=1, starts=time(14), ends=time(20)),
        Template(doctor_id=9, weekday=1, starts=time(8), ends=time(9)),  # not a known doctor
    ]
    exceptions = [
        ScheduleException(doctor_id=1, day=tuesday, kind="sick"),
        ScheduleException(doctor_id=2, day=monday, kind="leave", starts=time(18), ends=time(20)),
    ]
    blocks = expand(templates, exceptions, monday, 2)
    offered = aggregate.offered_minutes(blocks, {1: (10, 5), 2: (10, 5)})
    assert offered == {(monday, 10, 5): 6 * 60 + 4 * 60}


def test_a_district_has_its_best_clinics_earliest():
    found = {(1, 5): 3, (2, 5): None, (3, 5): 1, (3, 6): None, (4, 6): None}
    districts = {1: "Север", 2: "Север", 3: "Юг", 4: "Юг"}
    assert aggregate.district_earliest(found, districts) == {
        ("Север", 5): 3,
        ("Юг", 5): 1,
        ("Юг", 6): None,
    }


def request(host: str | None, headers: dict[str, str]) -> object:
    client = SimpleNamespace(host=host) if host is not None else None
    return SimpleNamespace(client=client, headers=headers)


def test_metrics_are_for_the_token_or_loopback_without_a_proxy():
    assert _allowed(request("127.0.0.1", {}), None)  # type: ignore[arg-type]
    assert _allowed(request("::1", {}), None)  # type: ignore[arg-type]
    assert not _allowed(request("10.1.2.3", {}), None)  # type: ignore[arg-type]
    proxied = request("127.0.0.1", {"x-forwarded-for": "203.0.113.9"})
    assert not _allowed(proxied, None)  # type: ignore[arg-type]
    token = "t" * 20
    assert _allowed(request("10.1.2.3", {"authorization": f"Bearer {token}"}), token)  # type: ignore[arg-type]
    assert not _allowed(request("127.0.0.1", {}), token)  # type: ignore[arg-type]


def test_outcomes_count_in_the_citys_day_and_drain_once():
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    from imias.booking import Outcomes

    outcomes = Outcomes(ZoneInfo("Europe/Moscow"))
    # 22:30 UTC is already the next day in Moscow: booked on the 3rd for the 4th (next day)
    now = datetime(2026, 3, 2, 22, 30, tzinfo=UTC)
    outcomes.booked(7, "therapist", "web", datetime(2026, 3, 4, 6, 0, tzinfo=UTC), now)
    outcomes.booked(7, "therapist", "web", datetime(2026, 3, 10, 6, 0, tzinfo=UTC), now)
    outcomes.refused("slot_taken", "app", now)
    drained = outcomes.drain()
    assert drained.booked == {
        (date(2026, 3, 3), 7, "therapist", "web", 1): 1,
        (date(2026, 3, 3), 7, "therapist", "web", 7): 1,
    }
    assert drained.refused == {(date(2026, 3, 3), "slot_taken", "app"): 1}
    assert outcomes.drain().booked == {}  # drained once
    outcomes.restore(drained)  # a failed write puts them back
    assert outcomes.drain() == drained
    assert outcomes.booked_total == {"web": 2} and outcomes.refused_total == {"slot_taken": 1}
