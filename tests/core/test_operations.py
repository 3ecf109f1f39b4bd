"""Example tests of every operation, run against both implementations (fixture ``impl``)."""

from __future__ import annotations

import math

import pytest

from scheduler_core import (
    BOOKED,
    CLOSED,
    FREE,
    HELD,
    Channel,
    DayOutsideWindow,
    DuplicateDoctor,
    DuplicateHold,
    InvalidArgument,
    InvalidLength,
    InvalidUnit,
    OverlappingOpen,
    Reason,
    Refused,
    SchedulerError,
    Slot,
    SlotFlag,
    SplitSlot,
    UnknownDoctor,
)

DAY0 = 739_000  # the fixture calendar's first day (see conftest.py)

WEB, APP, PHONE, REG = Channel.WEB, Channel.APP, Channel.PHONE, Channel.REGISTRAR


def refused(reason: Reason):
    return pytest.raises(Refused, match=f"^{reason.value}")


# -- construction and doctors -------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs",
    [
        {"days": 0},
        {"unit_minutes": 0},
        {"day_begins": 1440},
        {"units_per_day": 0},
        {"day_begins": 600, "units_per_day": 200},  # runs past midnight
    ],
)
def test_bad_geometry_is_refused(impl, kwargs):
    with pytest.raises(InvalidArgument):
        impl(DAY0, **kwargs)


def test_shape_and_default_units(impl):
    c = impl(DAY0)
    assert (c.start_day, c.days, c.unit_minutes, c.units_per_day, c.last_day) == (
        DAY0,
        14,
        5,
        288,
        DAY0 + 13,
    )
    assert c.clock == -math.inf and c.doctor_count == 0


def test_doctors(cal):
    assert cal.doctors() == [1, 2, 3] and cal.doctor(3) == (11, 200)
    assert cal.has_doctor(2) and not cal.has_doctor(4)
    with pytest.raises(DuplicateDoctor):
        cal.add_doctor(1, 10, 100)
    with pytest.raises(InvalidArgument):
        cal.add_doctor(2**63, 1, 1)
    with pytest.raises(UnknownDoctor):
        cal.doctor(99)
    with pytest.raises(SchedulerError):
        cal.find(99, DAY0, channel=WEB)


# -- building -----------------------------------------------------------------------------
def test_open_marks_slots(cal):
    flags = cal.day_flags(1, DAY0)
    assert flags[:4] == bytes([0x93, 0x13, 0x13, 0x93]) and flags[12] == 0
    assert cal.day_states(1, DAY0)[:13] == bytes([FREE] * 12 + [CLOSED])


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((1, DAY0, 3, 3, 1), OverlappingOpen),
        ((1, DAY0, 12, 0, 1), InvalidLength),
        ((1, DAY0, 12, -3, 1), InvalidLength),
        ((1, DAY0, 22, 3, 1), InvalidUnit),
        ((1, DAY0, -1, 3, 1), InvalidUnit),
        ((1, DAY0 + 3, 0, 3, 1), DayOutsideWindow),
        ((1, DAY0 - 1, 0, 3, 1), DayOutsideWindow),
        ((1, DAY0, 12, 3, SlotFlag.REFERRAL), InvalidArgument),  # no channel
        ((1, DAY0, 12, 3, 0x80 | 1), InvalidArgument),  # unknown bit
        ((9, DAY0, 12, 3, 1), UnknownDoctor),
    ],
)
def test_open_bad_arguments(cal, args, error):
    before = cal.snapshot()
    with pytest.raises(error):
        cal.open(*args)
    assert cal.snapshot() == before


def test_open_count_and_overrun(cal):
    with pytest.raises(InvalidArgument):
        cal.open(3, DAY0, 0, 3, 1, count=0)
    with pytest.raises(InvalidUnit):
        cal.open(3, DAY0, 0, 3, 1, count=9)  # 27 units in a 24-unit day


def test_close(cal):
    with pytest.raises(SplitSlot):
        cal.close(1, DAY0, 1, 2)
    with pytest.raises(SplitSlot):
        cal.close(1, DAY0, 0, 4)
    cal.book(1, DAY0, 3, 3, channel=WEB)
    with refused(Reason.TAKEN):
        cal.close(1, DAY0, 0, 12)
    cal.close(1, DAY0, 6, 6)
    assert cal.count_free(doctor_id=1, first_day=DAY0, last_day=DAY0) == [1]
    assert cal.day_states(1, DAY0)[6:12] == bytes(6)
    with pytest.raises(DayOutsideWindow):
        cal.close(1, DAY0 + 5, 0, 3)


def test_shift_window(cal):
    cal.open(1, DAY0 + 1, 0, 3, 1)
    cal.hold(1, DAY0, 0, 3, "a", 50, channel=WEB, now=0)
    cal.hold(1, DAY0 + 1, 0, 3, "b", 50, channel=WEB)
    cal.shift_window()
    assert (cal.start_day, cal.last_day) == (DAY0 + 1, DAY0 + 3)
    assert [h.token for h in cal.holds()] == ["b"]
    assert cal.day_states(1, DAY0 + 3) == bytes(24)  # the new day starts closed
    with pytest.raises(DayOutsideWindow):
        cal.day_states(1, DAY0)
    with refused(Reason.OUTSIDE_WINDOW):
        cal.book(1, DAY0, 3, 3, channel=WEB)
    with pytest.raises(InvalidArgument):
        cal.shift_window(0)
    cal.shift_window(10)
    assert cal.holds() == [] and cal.find(1, cal.start_day, channel=WEB) is None


# -- queries ------------------------------------------------------------------------------
def test_find(cal):
    assert cal.find(1, DAY0, channel=WEB) == Slot(DAY0, 0, 1, 3)
    assert cal.find(1, DAY0, 1, channel=WEB) == Slot(DAY0, 3, 1, 3)
    assert cal.find(1, DAY0, length=6, channel=WEB) == Slot(DAY0, 0, 1, 6)
    assert cal.find(1, DAY0, length=4, channel=WEB) is None  # would cut a slot
    assert cal.find(2, DAY0, channel=APP) is None
    assert cal.find(1, DAY0 - 5, channel=WEB) == Slot(DAY0, 0, 1, 3)  # clipped to window
    cal.book(1, DAY0, 0, 9, channel=WEB)
    assert cal.find(1, DAY0, channel=WEB) == Slot(DAY0, 9, 1, 3)
    cal.open(1, DAY0 + 2, 0, 3, 1)
    cal.book(1, DAY0, 9, 3, channel=WEB)
    assert cal.find(1, DAY0, channel=WEB) == Slot(DAY0 + 2, 0, 1, 3)
    with pytest.raises(InvalidUnit):
        cal.find(1, DAY0, 24, channel=WEB)
    with pytest.raises(InvalidLength):
        cal.find(1, DAY0, length=0, channel=WEB)
    with pytest.raises(InvalidArgument):
        cal.find(1, DAY0, channel=0)
    with pytest.raises(InvalidArgument):
        cal.find(1, DAY0, channel=WEB, entitled=1)


def test_earliest_orders_by_time_then_doctor(cal):
    got = cal.earliest(4, specialty_id=100, channel=WEB)
    assert got == [
        Slot(DAY0, 0, 1, 3),
        Slot(DAY0, 3, 1, 3),
        Slot(DAY0, 3, 2, 3),
        Slot(DAY0, 6, 1, 3),
    ]
    assert cal.earliest(10, clinic_ids=[10], channel=APP) == [
        Slot(DAY0, s, 1, 3) for s in (0, 3, 6, 9)
    ]
    assert cal.earliest(3, clinic_ids=[10], specialty_id=100, channel=WEB, length=6) == [
        Slot(DAY0, 0, 1, 6),
        Slot(DAY0, 3, 1, 6),
        Slot(DAY0, 3, 2, 6),
    ]
    assert cal.earliest(5, channel=WEB) == cal.earliest(5, specialty_id=100, channel=WEB)
    assert cal.earliest(5, specialty_id=200, channel=WEB) == []
    assert cal.earliest(5, specialty_id=999, channel=WEB) == []
    assert cal.earliest(5, clinic_ids=[], channel=WEB) == []
    assert cal.earliest(5, clinic_ids=[10], specialty_id=200, channel=WEB) == []
    assert cal.earliest(5, specialty_id=100, first_day=DAY0 + 1, channel=WEB) == []
    with pytest.raises(InvalidArgument):
        cal.earliest(0, channel=WEB)


def test_earliest_crosses_days_and_respects_entitlement(cal):
    cal.open(3, DAY0 + 1, 0, 6, SlotFlag.WEB | SlotFlag.REFERRAL)
    cal.open(3, DAY0 + 2, 0, 3, SlotFlag.WEB | SlotFlag.URGENT)
    cal.open(3, DAY0 + 2, 3, 3, SlotFlag.WEB)
    assert cal.earliest(5, specialty_id=200, channel=WEB) == [Slot(DAY0 + 2, 3, 3, 3)]
    ref = SlotFlag.REFERRAL
    assert cal.earliest(5, specialty_id=200, channel=WEB, entitled=ref)[0] == Slot(
        DAY0 + 1, 0, 3, 6
    )
    urgent = SlotFlag.URGENT
    assert cal.earliest(
        1, specialty_id=200, channel=WEB | APP, entitled=urgent, first_day=DAY0 + 2
    ) == [Slot(DAY0 + 2, 0, 3, 3)]


def test_count_free(cal):
    assert cal.count_free(doctor_id=1) == [4, 0, 0]
    assert cal.count_free(clinic_id=10) == [6, 0, 0]
    assert cal.count_free(clinic_id=10, channel=APP) == [4, 0, 0]
    assert cal.count_free(clinic_id=99, first_day=DAY0, last_day=DAY0) == [0]
    cal.hold(2, DAY0, 3, 3, "t", 10, channel=WEB, now=0)
    assert cal.count_free(clinic_id=10, last_day=DAY0) == [5]
    assert cal.count_free(clinic_id=10, last_day=DAY0, now=10) == [6]
    for kwargs, error in [
        ({}, InvalidArgument),
        ({"doctor_id": 1, "clinic_id": 10}, InvalidArgument),
        ({"doctor_id": 1, "first_day": DAY0 - 1}, DayOutsideWindow),
        ({"doctor_id": 1, "last_day": DAY0 + 3}, DayOutsideWindow),
        ({"doctor_id": 1, "first_day": DAY0 + 1, "last_day": DAY0}, InvalidArgument),
        ({"doctor_id": 7}, UnknownDoctor),
    ]:
        with pytest.raises(error):
            cal.count_free(**kwargs)


@pytest.mark.parametrize(
    ("first_unit", "starts_1", "starts_2"),
    [
        (0, [0, 3, 6, 9], [3, 6]),  # the default: the whole day
        (3, [3, 6, 9], [3, 6]),  # exactly at a slot start: that slot counts
        (4, [6, 9], [6]),  # inside a slot (begun): it does not
        (12, [], []),  # mid-day, after every open slot
        (24, [], []),  # units_per_day: nothing on first_day
    ],
)
def test_first_unit_on_first_day(cal, first_unit, starts_1, starts_2):
    got = cal.earliest(10, clinic_ids=[10], channel=WEB, first_unit=first_unit)
    expected = sorted(
        [Slot(DAY0, s, 1, 3) for s in starts_1] + [Slot(DAY0, s, 2, 3) for s in starts_2]
    )
    assert got == expected
    assert cal.count_free(doctor_id=1, first_unit=first_unit) == [len(starts_1), 0, 0]
    assert cal.count_free(clinic_id=10, first_unit=first_unit) == [
        len(starts_1) + len(starts_2),
        0,
        0,
    ]
    # only through the summary's filters (channel, entitlement) too
    assert cal.count_free(clinic_id=10, channel=APP, entitled=0, first_unit=first_unit) == [
        len(starts_1),
        0,
        0,
    ]
    # an explicit first_day, and a length spanning two slots
    assert cal.earliest(
        10, specialty_id=100, first_day=DAY0, length=6, channel=WEB, first_unit=first_unit
    ) == sorted(
        [Slot(DAY0, s, 1, 6) for s in starts_1 if s <= 6]
        + [Slot(DAY0, s, 2, 6) for s in starts_2 if s <= 3]
    )


def test_first_unit_only_limits_first_day(cal):
    cal.open(1, DAY0 + 1, 0, 3, SlotFlag.WEB, count=2)
    cal.open(3, DAY0 + 1, 12, 3, SlotFlag.WEB)
    assert cal.earliest(3, channel=WEB, first_unit=24) == [
        Slot(DAY0 + 1, 0, 1, 3),
        Slot(DAY0 + 1, 3, 1, 3),
        Slot(DAY0 + 1, 12, 3, 3),
    ]
    assert cal.earliest(2, channel=WEB, first_unit=9) == [
        Slot(DAY0, 9, 1, 3),
        Slot(DAY0 + 1, 0, 1, 3),
    ]
    # first_day sets the day first_unit is about; earlier window days are not searched
    assert cal.earliest(1, channel=WEB, first_day=DAY0 + 1, first_unit=1) == [
        Slot(DAY0 + 1, 3, 1, 3)
    ]
    assert cal.count_free(doctor_id=1, first_day=DAY0 + 1, first_unit=1) == [1, 0]
    assert cal.count_free(doctor_id=1, first_unit=6) == [2, 2, 0]
    # a first_day before the window: the window has none of that day, nothing is cut
    assert cal.earliest(1, channel=WEB, first_day=DAY0 - 1, first_unit=24) == [Slot(DAY0, 0, 1, 3)]
    # taken slots stay out, and a hold that expires frees its slot again
    cal.hold(1, DAY0, 6, 3, "t", 10, channel=WEB, now=0)
    assert cal.earliest(1, specialty_id=100, channel=APP, first_unit=4) == [Slot(DAY0, 9, 1, 3)]
    assert cal.count_free(doctor_id=1, first_unit=4) == [1, 2, 0]
    assert cal.count_free(doctor_id=1, first_unit=4, now=10) == [2, 2, 0]


@pytest.mark.parametrize("first_unit", [-1, 25, 2**70, -(2**70), 1.5, "3", None, True])
def test_first_unit_must_be_a_unit_of_the_day(cal, first_unit):
    before = cal.snapshot()
    with pytest.raises(InvalidUnit):
        cal.earliest(1, channel=WEB, first_unit=first_unit)
    with pytest.raises(InvalidUnit):
        cal.count_free(doctor_id=1, first_unit=first_unit)
    with pytest.raises(InvalidUnit):  # checked even when no day is left to search
        cal.earliest(1, channel=WEB, first_day=DAY0 + 5, first_unit=first_unit)
    assert cal.snapshot() == before


def test_first_unit_is_checked_after_the_other_arguments(cal):
    with pytest.raises(InvalidArgument) as exc:
        cal.earliest(0, channel=WEB, first_unit=-1)
    assert not isinstance(exc.value, InvalidUnit)
    with pytest.raises(DayOutsideWindow):
        cal.count_free(doctor_id=1, first_day=DAY0 - 1, first_unit=-1)
    with pytest.raises(InvalidArgument) as exc:
        cal.count_free(doctor_id=1, channel=0, first_unit=-1)
    assert not isinstance(exc.value, InvalidUnit)


# -- allocation ---------------------------------------------------------------------------
def test_hold_confirm_release(cal):
    cal.hold(1, DAY0, 0, 3, "tok", 100.0, channel=WEB, now=10)
    assert cal.day_states(1, DAY0)[:4] == bytes([HELD] * 3 + [FREE])
    assert cal.hold_info("tok").expires_at == 100.0 and cal.holder(1, DAY0, 2) == "tok"
    assert cal.confirm(1, DAY0, 0, "tok", now=20) == 3
    assert cal.day_states(1, DAY0)[:3] == bytes([BOOKED] * 3)
    assert cal.appointments(1, DAY0) == [(0, 3)] and cal.holds() == []
    assert cal.release(1, DAY0, 0) == 3
    assert cal.day_states(1, DAY0)[:3] == bytes([FREE] * 3)
    with refused(Reason.NOT_BOOKED):
        cal.release(1, DAY0, 0)


def test_the_holder_of_each_unit(cal):
    cal.open(1, DAY0 + 1, 0, 3, 0b10011, count=4)
    cal.hold(1, DAY0, 3, 3, "a", 100.0, channel=WEB, now=10)
    cal.hold(1, DAY0, 9, 3, "b", 100.0, channel=WEB, now=10)
    cal.hold(2, DAY0, 3, 3, "c", 100.0, channel=WEB, now=10)
    cal.hold(1, DAY0 + 1, 3, 3, "d", 100.0, channel=WEB, now=10)
    cal.book(1, DAY0, 0, 3, channel=WEB, now=10)  # booked, not held: no holder
    expected = {u: "a" for u in (3, 4, 5)} | {u: "b" for u in (9, 10, 11)}
    assert [cal.holder(1, DAY0, u) for u in range(24)] == [expected.get(u) for u in range(24)]
    assert [cal.holder(2, DAY0, u) for u in (2, 3, 5, 6)] == [None, "c", "c", None]
    assert cal.holder(1, DAY0 + 1, 4) == "d" and cal.holder(1, DAY0 + 2, 4) is None
    # outside the window (DAY0 + 3 would share DAY0's row), the day, or the directory
    assert cal.holder(1, DAY0 + 3, 4) is None and cal.holder(1, DAY0 - 1, 4) is None
    assert cal.holder(1, DAY0, -1) is None and cal.holder(1, DAY0, 24) is None
    assert cal.holder(99, DAY0, 4) is None
    cal.release_hold("a", now=20)
    cal.confirm(1, DAY0, 9, "b", now=20)
    assert cal.holder(1, DAY0, 4) is None and cal.holder(1, DAY0, 10) is None
    assert cal.holder(2, DAY0, 4) == "c"


def test_book_spans_slots_and_adjacent_appointments_stay_apart(cal):
    cal.book(1, DAY0, 0, 6, channel=REG)
    cal.book(1, DAY0, 6, 3, channel=REG)
    assert cal.appointments(1, DAY0) == [(0, 6), (6, 3)]
    with refused(Reason.NOT_BOOKED):
        cal.release(1, DAY0, 3)  # inside an appointment, not its start
    assert cal.release(1, DAY0, 0) == 6
    assert cal.appointments(1, DAY0) == [(6, 3)]


@pytest.mark.parametrize(
    ("args", "kwargs", "reason"),
    [
        ((1, DAY0 + 3, 0, 3), {}, Reason.OUTSIDE_WINDOW),
        ((1, DAY0 - 1, 0, 3), {}, Reason.OUTSIDE_WINDOW),
        ((1, DAY0, 12, 3), {}, Reason.CLOSED),
        ((1, DAY0, 9, 6), {}, Reason.CLOSED),  # runs past the last slot
        ((1, DAY0, 1, 3), {}, Reason.MISALIGNED),
        ((1, DAY0, 0, 4), {}, Reason.MISALIGNED),
        ((2, DAY0, 3, 3), {"channel": APP}, Reason.CHANNEL_NOT_ALLOWED),
        ((3, DAY0, 0, 3), {}, Reason.REFERRAL_REQUIRED),
        ((3, DAY0, 3, 3), {"entitled": SlotFlag.REFERRAL}, Reason.URGENT_ONLY),
        ((1, DAY0, 3, 3), {}, Reason.TAKEN),
    ],
)
@pytest.mark.parametrize("operation", ["hold", "book"])
def test_allocation_refusals(cal, operation, args, kwargs, reason):
    cal.open(3, DAY0, 0, 3, SlotFlag.WEB | SlotFlag.REFERRAL)
    cal.open(3, DAY0, 3, 3, SlotFlag.WEB | SlotFlag.REFERRAL | SlotFlag.URGENT)
    cal.book(1, DAY0, 3, 3, channel=REG)
    before = cal.snapshot()
    kwargs = {"channel": WEB, **kwargs}
    with refused(reason) as info:
        if operation == "hold":
            cal.hold(*args, "t", 1e9, **kwargs)
        else:
            cal.book(*args, **kwargs)
    assert info.value.reason == reason and isinstance(info.value.reason, str)
    assert cal.snapshot() == before


def test_entitled_caller_takes_restricted_slots(cal):
    cal.open(3, DAY0, 0, 3, SlotFlag.WEB | SlotFlag.REFERRAL | SlotFlag.URGENT)
    cal.book(3, DAY0, 0, 3, channel=WEB, entitled=SlotFlag.REFERRAL | SlotFlag.URGENT)
    assert cal.appointments(3, DAY0) == [(0, 3)]


@pytest.mark.parametrize(
    ("args", "error"),
    [
        ((9, DAY0, 0, 3, "t", 5.0), UnknownDoctor),
        ((1, DAY0, 0, 0, "t", 5.0), InvalidLength),
        ((1, DAY0, 0, -1, "t", 5.0), InvalidLength),
        ((1, DAY0, 22, 3, "t", 5.0), InvalidUnit),
        ((1, DAY0, -3, 3, "t", 5.0), InvalidUnit),
        ((1, DAY0, 0, 3, "", 5.0), InvalidArgument),
        ((1, DAY0, 0, 3, "t", 0.5), InvalidArgument),  # already expired at clock 1
        ((1, DAY0, 0, 3, "t", math.nan), InvalidArgument),
    ],
)
def test_hold_bad_arguments(cal, args, error):
    cal.expire(1)
    with pytest.raises(error):
        cal.hold(*args, channel=WEB)
    with pytest.raises(InvalidArgument):
        cal.hold(1, DAY0, 0, 3, "t", 5.0, channel=64)


def test_duplicate_token(cal):
    cal.hold(1, DAY0, 0, 3, "t", 5.0, channel=WEB, now=0)
    with pytest.raises(DuplicateHold):
        cal.hold(1, DAY0, 3, 3, "t", 5.0, channel=WEB)
    cal.hold(1, DAY0, 3, 3, "t", 9.0, channel=WEB, now=5)  # the first one expired
    assert [(h.start, h.expires_at) for h in cal.holds()] == [(3, 9.0)]


def test_confirm_refusals(cal):
    cal.hold(1, DAY0, 0, 3, "a", 100, channel=WEB, now=0)
    cal.hold(1, DAY0, 3, 3, "b", 50, channel=WEB)
    with refused(Reason.WRONG_TOKEN):
        cal.confirm(1, DAY0, 0, "b")  # b holds another slot
    with refused(Reason.WRONG_TOKEN):
        cal.confirm(1, DAY0, 0, "zzz")  # the slot is held under another token
    with refused(Reason.NOT_HELD):
        cal.confirm(1, DAY0, 6, "zzz")
    with refused(Reason.OUTSIDE_WINDOW):
        cal.confirm(1, DAY0 + 7, 0, "a")
    with refused(Reason.HOLD_EXPIRED):
        cal.confirm(1, DAY0, 3, "b", now=50)
    assert cal.day_states(1, DAY0)[3] == FREE
    with refused(Reason.NOT_HELD):
        cal.confirm(1, DAY0, 3, "b")  # already swept: now simply unknown
    with pytest.raises(UnknownDoctor):
        cal.confirm(8, DAY0, 0, "a")
    with pytest.raises(InvalidUnit):
        cal.confirm(1, DAY0, 99, "a")
    assert cal.confirm(1, DAY0, 0, "a") == 3


def test_release_hold(cal):
    cal.hold(1, DAY0, 0, 3, "a", 100, channel=WEB, now=0)
    cal.hold(1, DAY0, 3, 3, "b", 50, channel=WEB)
    assert cal.release_hold("a").start == 0
    with refused(Reason.NOT_HELD):
        cal.release_hold("a")
    with refused(Reason.HOLD_EXPIRED):
        cal.release_hold("b", now=60)
    assert cal.day_states(1, DAY0)[:6] == bytes([FREE] * 6)


def test_release_refusals(cal):
    cal.hold(1, DAY0, 0, 3, "a", 100, channel=WEB, now=0)
    with refused(Reason.NOT_BOOKED):
        cal.release(1, DAY0, 0)  # held, not booked
    with refused(Reason.OUTSIDE_WINDOW):
        cal.release(1, DAY0 + 3, 0)
    with pytest.raises(InvalidUnit):
        cal.release(1, DAY0, -1)


def test_expired_hold_never_blocks(cal):
    cal.hold(1, DAY0, 0, 3, "a", 100, channel=WEB, now=0)
    assert cal.find(1, DAY0, channel=WEB, now=99) == Slot(DAY0, 3, 1, 3)
    assert cal.find(1, DAY0, channel=WEB, now=100) == Slot(DAY0, 0, 1, 3)
    assert cal.holds() == [] and cal.clock == 100
    cal.hold(1, DAY0, 0, 3, "b", 200, channel=WEB)
    cal.book(1, DAY0, 0, 3, channel=WEB, now=250)  # b expired: the booking goes through
    assert cal.appointments(1, DAY0) == [(0, 3)]


def test_expire_and_monotonic_clock(cal):
    cal.hold(1, DAY0, 0, 3, "a", 100, channel=WEB, now=0)
    cal.hold(1, DAY0, 3, 3, "b", 200, channel=WEB)
    assert cal.expire(150) == 1 and [h.token for h in cal.holds()] == ["b"]
    assert cal.expire(20) == 0 and cal.clock == 150  # time never goes back
    assert cal.expire(200) == 1 and cal.holds() == []
    with pytest.raises(InvalidArgument):
        cal.expire(math.nan)
