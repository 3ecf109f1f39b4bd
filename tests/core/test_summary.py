"""The engine's per doctor-day summary (skip a day with nothing the caller may take).

The compiled engine keeps, per doctor-day, the channel bits of its free slot starts by
restriction class and skips a day in O(1) when none of them is allowed for the caller; the
reference scans. After every kind of operation both must give the same answers for every
filter, including the filters nothing satisfies; and looking a doctor id up (a C hash
table in the engine, a dict in the reference) must keep dict semantics.
"""

from __future__ import annotations

import itertools

import pytest

from scheduler_core import (
    Channel,
    DuplicateDoctor,
    Refused,
    SlotFlag,
    UnknownDoctor,
    compiled_calendar,
    events,
    reference,
)

Engine, Reference = compiled_calendar(), reference.Calendar
DAY0 = 739_000
WEB, APP, PHONE, KIOSK, REG = 1, 2, 4, 8, 16
REF, URG = int(SlotFlag.REFERRAL), int(SlotFlag.URGENT)
FILTERS = list(
    itertools.product([WEB, APP, PHONE, KIOSK, REG, WEB | PHONE, 31], [0, REF, URG, REF | URG])
)


def answers(cal):
    """Everything the summary can change, for every filter (k large: every day scanned)."""
    out = []
    for channel, entitled in FILTERS:
        out.append(cal.earliest(1_000, channel=channel, entitled=entitled))
        out.append(cal.earliest(1_000, length=6, channel=channel, entitled=entitled))
        out.append(cal.earliest(3, specialty_id=7, channel=channel, entitled=entitled))
        out.append(cal.count_free(clinic_id=1, channel=channel, entitled=entitled))
        for first_unit in (4, 13, 20):  # inside a slot, at a slot start, after the mornings
            kwargs = {"channel": channel, "entitled": entitled, "first_unit": first_unit}
            out.append(cal.earliest(1_000, **kwargs))
            out.append(cal.earliest(3, specialty_id=7, **kwargs))
            out.append(cal.count_free(clinic_id=1, **kwargs))
            out.append(cal.count_free(doctor_id=3, first_day=cal.start_day + 1, **kwargs))
        out.extend(cal.find(d, DAY0, channel=channel, entitled=entitled) for d in (1, 2, 3))
    return out


def build(cls):
    cal = cls(DAY0, days=3, unit_minutes=5, day_begins=480, units_per_day=40)
    cal.add_doctor(1, 1, 7)
    cal.add_doctor(2, 1, 7)
    cal.add_doctor(3, 2, 8)
    for day in range(DAY0, DAY0 + 3):
        cal.open(1, day, 0, 3, WEB | APP | KIOSK | REF, 4)  # referral only
        cal.open(1, day, 12, 3, PHONE | REG | URG, 2)  # urgent only
        cal.open(2, day, 3, 3, REG | REF | URG, 2)  # needs both
        cal.open(3, day, 0, 6, 31, 3)
    return cal


def step(cal, op):
    """Apply one operation; its outcome (value or refusal) is part of the comparison."""
    name, args, kwargs = op
    try:
        return ("ok", getattr(cal, name)(*args, **kwargs))
    except Refused as exc:
        return ("refused", exc.reason)


OPERATIONS = [
    ("book", (1, DAY0, 0, 3), {"channel": WEB, "entitled": REF}),
    ("book", (1, DAY0, 3, 6), {"channel": APP, "entitled": REF}),  # two slots at once
    ("hold", (1, DAY0, 9, 3, "a", 50.0), {"channel": KIOSK, "entitled": REF}),
    ("hold", (1, DAY0, 12, 3, "b", 20.0), {"channel": PHONE, "entitled": URG}),
    ("hold", (1, DAY0, 15, 3, "c", 30.0), {"channel": REG, "entitled": URG}),
    ("confirm", (1, DAY0, 12, "b"), {}),
    ("release", (1, DAY0, 0), {}),
    ("release_hold", ("a",), {}),
    ("book", (2, DAY0, 3, 3), {"channel": REG, "entitled": REF | URG}),
    ("book", (2, DAY0, 6, 3), {"channel": REG, "entitled": REF | URG}),
    ("expire", (30.0,), {}),  # frees hold c
    ("hold", (3, DAY0, 0, 6, "d", 40.0), {"channel": WEB}),
    ("find", (3, DAY0), {"channel": WEB, "now": 41.0}),  # expires d on the way
    ("close", (1, DAY0 + 1, 0, 12), {}),  # the referral slots of day 1
    ("close", (2, DAY0 + 1, 3, 6), {}),
    ("open", (2, DAY0 + 1, 20, 4, WEB | KIOSK), {"count": 2}),
    ("book", (2, DAY0 + 1, 20, 4), {"channel": KIOSK}),
    ("book", (2, DAY0 + 1, 24, 4), {"channel": WEB}),  # day 1 of doctor 2: nothing free
    ("release", (2, DAY0 + 1, 24), {}),
    ("apply", (events.SlotBooked(3, DAY0 + 2, 6, 6),), {}),
    ("apply", (events.SlotHeld("e", 3, DAY0 + 2, 0, 6, 100.0),), {}),
    ("apply", (events.HoldReleased("e"),), {}),
    ("apply", (events.SlotsOpened(3, DAY0 + 2, 30, 2, PHONE | REF, 3),), {}),
    ("apply", (events.SlotsClosed(1, DAY0 + 2, 12, 6),), {}),
    ("apply", (events.SlotReleased(3, DAY0 + 2, 6),), {}),
    ("shift_window", (1,), {}),
    ("open", (1, DAY0 + 3, 0, 3, WEB | REF), {"count": 2}),
    ("apply", (events.WindowShifted(DAY0 + 2),), {}),
]


def test_summary_after_every_kind_of_operation():
    ref, eng = build(Reference), build(Engine)
    assert answers(ref) == answers(eng)
    for i, op in enumerate(OPERATIONS):
        assert step(ref, op) == step(eng, op), op
        assert ref.snapshot() == eng.snapshot(), op
        assert answers(ref) == answers(eng), op
        if i % 5 == 4:  # restore rebuilds the summaries from the snapshot
            eng = Engine.restore(eng.snapshot())
            assert answers(ref) == answers(eng), op


@pytest.mark.parametrize("cls", [Reference, Engine], ids=["reference", "cython"])
def test_nothing_matches(cls):
    cal = build(cls)
    # doctor 1: web slots need a referral, its urgent ones are phone/registrar only
    assert cal.earliest(10, specialty_id=7, channel=WEB) == []
    assert cal.earliest(10, channel=Channel.WEB, entitled=URG, clinic_ids=[1]) == []
    assert cal.earliest(10, specialty_id=7, channel=REG, entitled=REF) == []  # needs both
    assert [s.start for s in cal.earliest(2, specialty_id=7, channel=REG, entitled=REF | URG)] == [
        3,
        6,
    ]
    assert cal.find(1, DAY0, channel=WEB) is None
    assert cal.count_free(doctor_id=1, channel=WEB, entitled=0) == [0, 0, 0]
    assert cal.count_free(doctor_id=1, channel=WEB, entitled=REF) == [4, 4, 4]
    # the last referral slot taken and given back: the day is skipped, then offered again
    for start in (0, 3, 6, 9):
        cal.book(1, DAY0, start, 3, channel=WEB, entitled=REF)
    assert cal.earliest(1, specialty_id=7, channel=WEB, entitled=REF)[0].day == DAY0 + 1
    cal.release(1, DAY0, 6)
    assert cal.earliest(1, specialty_id=7, channel=WEB, entitled=REF)[0].start == 6


@pytest.mark.parametrize("cls", [Reference, Engine], ids=["reference", "cython"])
def test_doctor_ids_keep_dict_semantics(cls):
    cal = cls(DAY0, days=1, units_per_day=12)
    ids = [0, 1, -1, -2, 2**62, -(2**63), 2**63 - 1, 2**61 - 1, 2**61, -(2**61) + 1, 123456789]
    for i, doctor_id in enumerate(ids):
        cal.add_doctor(doctor_id, 1, i)
    for doctor_id in ids:
        assert cal.has_doctor(doctor_id)
        assert cal.doctor(doctor_id)[1] == ids.index(doctor_id)
        assert cal.has_doctor(float(doctor_id)) == any(float(doctor_id) == d for d in ids)
    assert cal.doctor(True) == cal.doctor(1) and cal.doctor(0.0) == cal.doctor(0)
    assert cal.doctor(-2.0) == cal.doctor(-2) and cal.doctor(-1.0) == cal.doctor(-1)
    for missing in (3, -3, 2**63, -(2**63) - 1, 2**64 + 1, 1.5, "1", None, b"1", (1,)):
        assert not cal.has_doctor(missing)
        with pytest.raises(UnknownDoctor):
            cal.doctor(missing)
    with pytest.raises(TypeError):
        cal.has_doctor([1])
    with pytest.raises(DuplicateDoctor):
        cal.add_doctor(2**63 - 1, 1, 1)
    assert cal.doctors() == ids
    again = cls.restore(cal.snapshot())
    assert all(again.has_doctor(d) for d in ids) and not again.has_doctor(3)


def test_many_doctors_grow_the_id_table():
    ref, eng = Reference(DAY0, days=1, units_per_day=12), Engine(DAY0, days=1, units_per_day=12)
    ids = [(i * 7_919) ** 3 % (2**63) - 2**62 for i in range(3_000)]
    for cal in (ref, eng):
        for doctor_id in ids:
            cal.add_doctor(doctor_id, doctor_id % 5, 1)
    assert all(eng.has_doctor(d) for d in ids)
    assert not any(eng.has_doctor(d + 1) for d in ids[:200] if d + 1 not in set(ids))
    assert eng.snapshot() == ref.snapshot()
    assert Engine.restore(eng.snapshot()).doctors() == ids
