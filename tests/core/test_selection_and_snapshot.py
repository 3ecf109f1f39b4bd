"""Which implementation is loaded, snapshots across implementations, events, the benchmark."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from hypothesis import given
from hypothesis import strategies as st

import scheduler_core
from scheduler_core import Channel, SnapshotError, compiled_calendar, events, reference

DAY0 = 739_000
WEB = Channel.WEB


@pytest.mark.skipif(os.environ.get("IMIAS_NO_EXTENSIONS") == "1", reason="reference forced")
def test_compiled_engine_is_loaded_when_extensions_are_expected():
    assert scheduler_core.IMPLEMENTATION == "cython"
    assert scheduler_core.Calendar is compiled_calendar()
    assert scheduler_core.Calendar.__module__ == "scheduler_core._engine"
    assert scheduler_core._engine.__file__.endswith((".so", ".pyd"))


def test_switch_selects_reference_and_missing_build_raises():
    code = "import scheduler_core as s; print(s.IMPLEMENTATION, s.Calendar.__module__)"
    env = {**os.environ, "IMIAS_NO_EXTENSIONS": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == ["python", "scheduler_core.reference"]
    blocked = "import sys; sys.modules['scheduler_core._engine'] = None\nimport scheduler_core"
    env = {k: v for k, v in os.environ.items() if k != "IMIAS_NO_EXTENSIONS"}
    run = subprocess.run([sys.executable, "-c", blocked], env=env, capture_output=True, text=True)
    assert run.returncode != 0
    assert "ImportError" in run.stderr and "IMIAS_NO_EXTENSIONS=1" in run.stderr
    assert "pip install -e ." in run.stderr


@pytest.mark.parametrize("source", ["reference", "cython"])
def test_snapshot_restores_into_either_implementation(cal, source):
    cal.book(1, DAY0, 0, 3, channel=WEB)
    cal.hold(2, DAY0, 3, 3, "tok", 99.5, channel=WEB, now=1)
    data = cal.snapshot()
    for cls in (reference.Calendar, compiled_calendar()):
        other = cls.restore(data)
        assert other.snapshot() == data
        assert other.holds() == cal.holds() and other.clock == 1
        assert other.appointments(1, DAY0) == [(0, 3)]
        assert other.earliest(3, channel=WEB) == cal.earliest(3, channel=WEB)
        assert other.confirm(2, DAY0, 3, "tok") == 3  # holds survive the round trip


@pytest.mark.parametrize("damage", [b"", b"XXXX", "truncate", "trailing", "version"])
def test_corrupt_snapshots_are_refused(impl, cal, damage):
    data = cal.snapshot()
    if damage == "truncate":
        data = data[:-5]
    elif damage == "trailing":
        data = data + b"\0"
    elif damage == "version":
        data = data[:4] + b"\x09\x00" + data[6:]
    else:
        data = damage + data[len(damage) :] if damage else b""
    with pytest.raises(SnapshotError):
        impl.restore(data)


@given(
    ops=st.lists(
        st.tuples(st.sampled_from([1, 2]), st.integers(0, 11), st.booleans(), st.floats(2, 50)),
        max_size=12,
    ),
    shift=st.integers(0, 3),
)
def test_snapshot_round_trip_property(ops, shift):
    """Any state: snapshot -> restore (either way) -> snapshot gives the same bytes."""
    cals = [
        cls(DAY0, days=3, unit_minutes=5, day_begins=480, units_per_day=24)
        for cls in (reference.Calendar, compiled_calendar())
    ]
    for c in cals:
        c.add_doctor(1, 10, 100)
        c.add_doctor(2, 10, 100)
        for day in range(DAY0, DAY0 + 3):
            c.open(1, day, 0, 3, 31, count=4)
            c.open(2, day, 0, 4, 3, count=3)
        for i, (doctor, unit, hold, expires) in enumerate(ops):
            slot = c.find(doctor, DAY0 + i % 3, unit, channel=WEB, now=1)
            if slot is None:
                continue
            if hold:
                c.hold(
                    slot.doctor_id, slot.day, slot.start, slot.length, f"t{i}", expires, channel=WEB
                )
            else:
                c.book(slot.doctor_id, slot.day, slot.start, slot.length, channel=WEB)
        if shift:
            c.shift_window(shift)
    a, b = cals[0].snapshot(), cals[1].snapshot()
    assert a == b
    for cls in (reference.Calendar, compiled_calendar()):
        assert cls.restore(a).snapshot() == a


def test_apply_events_and_idempotence(cal):
    stream = [
        events.DoctorAdded(4, 12, 100),
        events.SlotsOpened(4, DAY0, 0, 3, 1, count=2),
        events.SlotHeld("h", 4, DAY0, 0, 3, 50.0),
        events.HoldConfirmed("h", 4, DAY0, 0, 3),
        events.SlotBooked(4, DAY0, 3, 3),
        events.SlotReleased(4, DAY0, 3),
        events.SlotHeld("g", 4, DAY0, 3, 3, 60.0),
        events.HoldReleased("g"),
        events.SlotsClosed(4, DAY0, 3, 3),
        events.WindowShifted(DAY0 + 1),
    ]
    for event in stream:
        decoded = events.decode_event(events.encode_event(event))
        assert decoded == event
        assert cal.apply(decoded) is True, event
        assert cal.apply(decoded) is False, f"re-applying {event} changed the state"
    assert cal.start_day == DAY0 + 1 and cal.doctor(4) == (12, 100)
    # a booking decided by the database wins over a stale local hold
    cal.open(4, DAY0 + 1, 0, 3, 1)
    cal.hold(4, DAY0 + 1, 0, 3, "stale", 80.0, channel=WEB)
    assert cal.apply(events.SlotBooked(4, DAY0 + 1, 0, 3)) is True
    assert cal.holds() == [] and cal.appointments(4, DAY0 + 1) == [(0, 3)]
    assert cal.apply(events.SlotBooked(4, DAY0 + 5, 0, 3)) is False  # outside the window
    with pytest.raises(scheduler_core.UnknownDoctor):
        cal.apply(events.SlotBooked(77, DAY0 + 1, 0, 3))
    with pytest.raises(scheduler_core.Refused):
        cal.apply(events.SlotBooked(4, DAY0 + 1, 3, 3))  # closed time: replica out of step
    assert json.loads(events.encode_event(events.WindowShifted(5)))["type"] == "window_shifted"


def test_benchmark_quick_prints_json_lines(capsys):
    from loadtest.bench import core as bench

    assert bench.main(["--quick", "--seed", "7"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    workloads = {json.loads(line)["workload"]: json.loads(line) for line in lines}
    assert set(workloads) == {
        "find_hold_confirm",
        "book_call",
        "hold_call",
        "apply_hold",
        "earliest_specialty",
        "earliest_specialty_midday",
        "earliest_none_match",
        "earliest_city",
        "count_free_clinic",
        "snapshot",
        "restore",
        "memory",
    }
    for line in workloads.values():
        assert line["ratio"] > 0
        assert "engine_median_us" in line or "engine_bytes" in line
    keys = set(workloads["earliest_specialty"])
    assert set(workloads["earliest_none_match"]) == keys
    for name in ("book_call", "hold_call"):
        assert 0 < workloads[name]["loop_us"] < workloads[name]["loop_empty_call_us"]
    assert workloads["apply_hold"]["live_holds"] > 100  # a replica among many live holds
