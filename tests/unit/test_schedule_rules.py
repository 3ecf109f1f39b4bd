"""The rules of a clinic's schedule edits, the holidays in the expansion, and the plan of
engine operations an edit makes (pure: no database, no engine)."""

from datetime import date, time

import msgspec
import pytest

from imias.booking.schedule_model import ExceptionRequest, TemplateRequest
from imias.booking.schedule_rules import (
    check_no_overlap,
    exception_of,
    split_at,
    template_of,
)
from imias.booking.schedules import ScheduleException, Template, expand
from imias.booking.slot_layout import Booked, Geometry, layout, plan_day
from imias.platform.problems import ProblemError
from scheduler_core import SlotFlag

MONDAY = date(2026, 11, 30)
G = Geometry()
ALL = int(SlotFlag.ALL_CHANNELS)


def code_of(call) -> str:
    with pytest.raises(ProblemError) as caught:
        call()
    assert caught.value.detail  # a sentence, not only a code
    return caught.value.code


def request(**fields) -> TemplateRequest:
    return msgspec.convert({"weekday": 1, "starts": "08:00", "ends": "12:00"} | fields,
                           TemplateRequest)  # fmt: skip


def test_a_template_is_checked_on_its_own():
    t = template_of(7, request(slot_minutes=20, channels=["web", "registrar"]), MONDAY, 15, G)
    assert (t.starts, t.ends, t.slot_minutes, t.channels, t.valid_from) == (
        time(8), time(12), 20, 17, MONDAY,
    )  # fmt: skip
    assert code_of(lambda: template_of(7, request(slot_minutes=25), MONDAY, 15, G)) == (
        "bad_visit_length"
    )
    assert code_of(lambda: template_of(7, request(ends="12:10"), MONDAY, 15, G)) == (
        "bad_visit_length"  # the doctor's 15 minutes do not fill 4 h 10 min
    )
    assert code_of(lambda: template_of(7, request(starts="07:00"), MONDAY, 15, G)) == "bad_hours"
    assert code_of(lambda: template_of(7, request(ends="20:30"), MONDAY, 15, G)) == "bad_hours"
    assert code_of(
        lambda: template_of(7, request(starts="12:00", ends="08:00"), MONDAY, 15, G)
    ) == ("bad_hours")
    assert code_of(lambda: template_of(7, request(starts="08:03"), MONDAY, 15, G)) == "bad_hours"
    late = request(valid_from="2026-12-10", valid_to="2026-12-01")
    assert code_of(lambda: template_of(7, late, MONDAY, 15, G)) == "bad_dates"


def test_the_clock_format_and_unknown_fields_are_the_decoders():
    with pytest.raises(msgspec.ValidationError):
        request(starts="8:00")
    with pytest.raises(msgspec.ValidationError):
        request(colour="red")
    with pytest.raises(msgspec.ValidationError):
        request(channels=[])


def test_templates_of_a_doctor_never_overlap():
    monday = Template(7, 1, time(8), time(12), valid_from=MONDAY)
    check_no_overlap(Template(7, 1, time(12), time(14)), [monday])  # touching is fine
    check_no_overlap(Template(7, 2, time(8), time(12)), [monday])  # another weekday
    ended = Template(7, 1, time(8), time(12), valid_to=date(2026, 11, 29))
    check_no_overlap(Template(7, 1, time(9), time(10), valid_from=MONDAY), [ended])
    assert code_of(lambda: check_no_overlap(Template(7, 1, time(11), time(13)), [monday])) == (
        "template_overlap"
    )


def test_exceptions_are_not_in_the_past_and_an_extra_shift_has_hours():
    def exc(**fields):
        return msgspec.convert({"day": "2026-12-01", "kind": "sick"} | fields, ExceptionRequest)

    whole = exception_of(7, exc(), MONDAY, G)
    assert (whole.starts, whole.ends, whole.kind) == (None, None, "sick")
    assert code_of(lambda: exception_of(7, exc(day="2026-11-29"), MONDAY, G)) == "in_the_past"
    assert code_of(lambda: exception_of(7, exc(kind="extra"), MONDAY, G)) == "bad_hours"
    assert code_of(lambda: exception_of(7, exc(starts="10:00"), MONDAY, G)) == "bad_hours"
    today = exception_of(7, exc(day="2026-11-30", starts="10:00", ends="11:00"), MONDAY, G)
    assert today.starts == time(10)


def test_a_change_from_a_day_splits_a_template():
    t = Template(7, 1, time(8), time(12), valid_from=date(2026, 11, 1))
    before, after = split_at(t, MONDAY)
    assert before is not None and before.valid_to == date(2026, 11, 29)
    assert after is not None and after.valid_from == MONDAY
    assert split_at(Template(7, 1, time(8), time(12), valid_from=MONDAY), MONDAY)[0] is None


def test_a_holiday_closes_the_templates_but_not_an_extra_shift():
    t = Template(7, 2, time(8), time(12))
    tuesday = date(2026, 12, 1)
    assert expand([t], [], MONDAY, 7, {tuesday}) == {}
    extra = ScheduleException(7, tuesday, "extra", time(10), time(11))
    blocks = expand([t], [extra], MONDAY, 7, {tuesday})[7]
    assert [(b.start, b.end) for b in blocks] == [(600, 660)]
    training = ScheduleException(7, tuesday, "training")
    assert expand([t], [training], MONDAY, 7) == {}


def test_a_template_keeps_its_own_visit_length_and_referral_time():
    t = Template(7, 1, time(8), time(9), slot_minutes=20, referral=True, channels=16)
    slots = layout(expand([t], [], MONDAY, 1)[7], 15, G, needs_referral=False)
    assert slots == {MONDAY.toordinal(): {(0, 4, 16 | 32), (4, 4, 16 | 32), (8, 4, 16 | 32)}}


def booked(start: int, length: int, status: str = "booked", begun: bool = False) -> Booked:
    return Booked(row={"start": start}, start=start, length=length, status=status, begun=begun)


def slots(start: int, length: int, count: int, flags: int = ALL) -> set:
    return {(start + i * length, length, flags) for i in range(count)}


def test_time_taken_away_displaces_its_bookings_and_lets_its_holds_go():
    before, after = slots(0, 3, 8), slots(0, 3, 4)  # 2 hours of 15 minutes, then 1 hour
    plan = plan_day(1, before, after, [booked(3, 3), booked(15, 3), booked(18, 3, "held")])
    assert [b.start for b in plan.displace] == [15] and [b.start for b in plan.holds] == [18]
    assert plan.rebook == [] and plan.opens == []
    assert plan.closes == [(12, 12)]  # the four slots taken away, as one span


def test_new_channels_under_a_booking_keep_it_let_go_and_booked_again():
    before, after = slots(0, 3, 4), slots(0, 3, 4, flags=16)
    plan = plan_day(1, before, after, [booked(3, 3)])
    assert [b.start for b in plan.rebook] == [3] and plan.displace == []
    assert plan.closes == [(0, 12)]
    assert [(r.start, r.length, r.flags, r.count) for r in plan.opens] == [(0, 3, 16, 4)]


def test_a_new_visit_length_under_a_booking_is_a_misfit_and_an_arrival_a_conflict():
    before, after = slots(0, 3, 4), slots(0, 4, 3)  # 15 minutes, then 20
    plan = plan_day(1, before, after, [booked(3, 3)])
    assert [b.start for b in plan.misfits] == [3]
    gone = plan_day(1, before, set(), [booked(3, 3, "arrived")])
    assert [b.start for b in gone.arrived] == [3] and gone.displace == []


def test_a_visit_that_has_begun_is_left_with_its_slot():
    before = slots(0, 3, 4)
    plan = plan_day(1, before, set(), [booked(0, 3, begun=True)])
    assert plan.displace == [] and plan.closes == [(3, 9)]


def test_an_unchanged_day_plans_nothing():
    plan = plan_day(1, slots(0, 3, 4), slots(0, 3, 4), [booked(0, 3)])
    assert not plan.changes and plan.rebook == []


def test_strays_are_the_bookings_off_the_slots_that_have_not_begun():
    from imias.booking.slot_layout import strays

    day = slots(0, 3, 4)
    found = [booked(3, 3), booked(12, 3), booked(15, 3, "held"), booked(18, 3, begun=True)]
    plan = strays(1, day, found, doctor_id=7)
    assert [b.start for b in plan.displace] == [12] and [b.start for b in plan.holds] == [15]
    assert plan.doctor_id == 7 and not plan.changes
