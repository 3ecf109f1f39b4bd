import asyncio
from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

from imias.booking.schedules import (
    Block,
    ScheduleException,
    Template,
    expand,
    expand_each,
    slot_flags,
    to_local,
    to_utc,
)
from imias.platform.slices import Slices
from scheduler_core import SlotFlag

MONDAY = date(2026, 11, 30)
MOSCOW = ZoneInfo("Europe/Moscow")


def spans(blocks):
    return [(b.day.isoformat(), b.start, b.end) for b in blocks]


def test_templates_open_their_weekday_only():
    t = Template(7, 1, time(8), time(14))
    assert spans(expand([t], [], MONDAY, 8)[7]) == [
        ("2026-11-30", 480, 840),
        ("2026-12-07", 480, 840),
    ]


def test_validity_limits_a_template():
    t = Template(7, 1, time(8), time(14), valid_from=date(2026, 12, 1))
    assert spans(expand([t], [], MONDAY, 8)[7]) == [("2026-12-07", 480, 840)]
    t = Template(7, 1, time(8), time(14), valid_to=date(2026, 12, 1))
    assert spans(expand([t], [], MONDAY, 8)[7]) == [("2026-11-30", 480, 840)]


def test_leave_closes_a_whole_day_and_sickness_part_of_it():
    templates = [Template(7, 1, time(8), time(14)), Template(7, 2, time(14), time(20))]
    exceptions = [
        ScheduleException(7, MONDAY, "leave"),
        ScheduleException(7, date(2026, 12, 1), "sick", time(15), time(17)),
    ]
    assert spans(expand(templates, exceptions, MONDAY, 2)[7]) == [
        ("2026-12-01", 840, 900),
        ("2026-12-01", 1020, 1200),
    ]


def test_an_extra_shift_adds_time_and_wins_over_what_it_overlaps():
    templates = [Template(7, 1, time(8), time(12), channels=int(SlotFlag.REGISTRAR))]
    exceptions = [
        ScheduleException(7, MONDAY, "extra", time(11), time(13), channels=31),
        ScheduleException(7, date(2026, 12, 5), "extra", time(9), time(13)),
    ]
    blocks = expand(templates, exceptions, MONDAY, 7)[7]
    assert spans(blocks) == [
        ("2026-11-30", 480, 660),
        ("2026-11-30", 660, 780),
        ("2026-12-05", 540, 780),
    ]
    assert [b.channels for b in blocks[:2]] == [int(SlotFlag.REGISTRAR), 31]


def test_overlapping_templates_never_overlap_in_the_result():
    templates = [Template(7, 1, time(8), time(12)), Template(7, 1, time(10), time(14))]
    assert spans(expand(templates, [], MONDAY, 1)[7]) == [
        ("2026-11-30", 480, 720),
        ("2026-11-30", 720, 840),
    ]


def test_slot_flags_carry_channels_referral_and_urgency():
    block = Block(7, MONDAY, 480, 540, channels=int(SlotFlag.PHONE), urgent=True)
    flags = slot_flags(block, needs_referral=True)
    assert flags == int(SlotFlag.PHONE | SlotFlag.REFERRAL | SlotFlag.URGENT)
    assert slot_flags(Block(7, MONDAY, 0, 5, 31), needs_referral=False) == 31


def test_local_times_convert_with_the_clinic_zone():
    instant = to_utc(MONDAY, 8 * 60 + 15, MOSCOW)
    assert instant == datetime(2026, 11, 30, 5, 15, tzinfo=UTC)
    assert to_local(instant, MOSCOW) == (MONDAY, 495)
    # A zone with summer time: 08:00 in Berlin is 07:00 UTC in winter, 06:00 in summer.
    berlin = ZoneInfo("Europe/Berlin")
    assert to_utc(date(2026, 1, 5), 480, berlin).hour == 7
    assert to_utc(date(2026, 7, 6), 480, berlin).hour == 6


async def test_expanding_a_doctor_at_a_time_gives_what_expand_gives_and_lets_others_run():
    templates = [
        Template(doctor, weekday, time(8 + doctor % 3), time(14 + doctor % 5))
        for doctor in range(1, 40)
        for weekday in (1, 3, 5)
    ]
    exceptions = [
        ScheduleException(5, MONDAY, "leave"),
        ScheduleException(6, date(2026, 12, 2), "sick", time(9), time(10)),
        ScheduleException(99, date(2026, 12, 3), "extra", time(9), time(13)),
    ]
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0)

    other = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    slices = Slices(seconds=0)  # a pause after every doctor
    each = {d: b async for d, b in expand_each(templates, exceptions, MONDAY, 14, (), slices)}
    other.cancel()
    assert each == expand(templates, exceptions, MONDAY, 14)
    assert 99 in each and 5 in each
    assert slices.pauses == 41  # once before the doctors, once after each of the 40
    assert ticks >= slices.pauses  # the other task ran at every pause
