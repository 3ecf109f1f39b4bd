"""Weekly schedule templates and their exceptions, expanded into working blocks.

Pure: no I/O. Schedules are written in the clinic's local time (DESIGN.md); a block
is a doctor's stretch of working time on one local day, with the channels that may
book it. Leave, sick and training days remove time (a whole day, or part of it); the
city's public holidays remove every template's time of the day; an extra shift adds
time, taking precedence over what it overlaps (on a holiday too). A template may carry
its own visit length (``slot_minutes``; None: the doctor's) and keep its time for
referred patients (``referral``) or urgent care (``urgent``). The engine is fed in
local wall time too: day = the local date's ordinal, unit = minutes since the
calendar's ``day_begins`` divided by its unit; :func:`to_utc` and :func:`to_local`
convert at the edges with ``zoneinfo``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from imias.platform.slices import Slices
from scheduler_core import SlotFlag

CLOSING_KINDS = frozenset({"leave", "sick", "training"})
KINDS = ("leave", "sick", "training", "extra")


@dataclass(frozen=True, slots=True)
class Template:
    doctor_id: int
    weekday: int  # ISO: Monday is 1
    starts: time
    ends: time
    channels: int = int(SlotFlag.ALL_CHANNELS)
    urgent: bool = False
    valid_from: date = date(2000, 1, 1)
    valid_to: date | None = None
    slot_minutes: int | None = None  # None: the doctor's visit length
    referral: bool = False  # kept for patients with a referral

    def applies(self, day: date) -> bool:
        return (
            day.isoweekday() == self.weekday
            and day >= self.valid_from
            and (self.valid_to is None or day <= self.valid_to)
        )


@dataclass(frozen=True, slots=True)
class ScheduleException:
    doctor_id: int
    day: date
    kind: str  # leave, sick, training, extra
    starts: time | None = None  # None with ends None: the whole day
    ends: time | None = None
    channels: int = int(SlotFlag.ALL_CHANNELS)


@dataclass(frozen=True, slots=True)
class Block:
    """Working time of a doctor on a local day: minutes after midnight, [start, end)."""

    doctor_id: int
    day: date
    start: int
    end: int
    channels: int
    urgent: bool = False
    slot_minutes: int | None = None
    referral: bool = False

    def cut(self, start: int, end: int) -> Block:
        return Block(
            self.doctor_id,
            self.day,
            start,
            end,
            self.channels,
            self.urgent,
            self.slot_minutes,
            self.referral,
        )


def _minutes(t: time) -> int:
    return t.hour * 60 + t.minute


def _subtract(blocks: list[Block], start: int, end: int) -> list[Block]:
    out: list[Block] = []
    for b in blocks:
        if b.end <= start or b.start >= end:
            out.append(b)
            continue
        if b.start < start:
            out.append(b.cut(b.start, start))
        if b.end > end:
            out.append(b.cut(end, b.end))
    return out


def expand(
    templates: Iterable[Template],
    exceptions: Iterable[ScheduleException],
    first_day: date,
    days: int,
    holidays: Collection[date] = (),
) -> dict[int, list[Block]]:
    """Working blocks per doctor over ``days`` local days from ``first_day``, sorted and
    never overlapping. On a public holiday only extra shifts work."""
    by_doctor, changes = _grouped(templates, exceptions)
    result: dict[int, list[Block]] = {}
    for doctor in sorted(set(by_doctor) | {doctor for doctor, _ in changes}):
        blocks = _doctor_blocks(doctor, by_doctor, changes, first_day, days, holidays)
        if blocks:
            result[doctor] = blocks
    return result


async def expand_each(
    templates: Iterable[Template],
    exceptions: Iterable[ScheduleException],
    first_day: date,
    days: int,
    holidays: Collection[date] = (),
    slices: Slices | None = None,
) -> AsyncIterator[tuple[int, list[Block]]]:
    """As :func:`expand`, a doctor at a time, on the event loop in slices (a city's
    schedules are seconds of pure Python: see :mod:`imias.platform.slices`)."""
    slices = slices or Slices()
    by_doctor, changes = _grouped(templates, exceptions)
    await slices.pause()
    for doctor in sorted(set(by_doctor) | {doctor for doctor, _ in changes}):
        blocks = _doctor_blocks(doctor, by_doctor, changes, first_day, days, holidays)
        if blocks:
            yield doctor, blocks
        await slices.pause()


def _grouped(
    templates: Iterable[Template], exceptions: Iterable[ScheduleException]
) -> tuple[dict[int, list[Template]], dict[tuple[int, date], list[ScheduleException]]]:
    by_doctor: dict[int, list[Template]] = {}
    for t in templates:
        by_doctor.setdefault(t.doctor_id, []).append(t)
    changes: dict[tuple[int, date], list[ScheduleException]] = {}
    for e in exceptions:
        changes.setdefault((e.doctor_id, e.day), []).append(e)
    return by_doctor, changes


def _doctor_blocks(
    doctor: int,
    by_doctor: dict[int, list[Template]],
    changes: dict[tuple[int, date], list[ScheduleException]],
    first_day: date,
    days: int,
    holidays: Collection[date],
) -> list[Block]:
    blocks_of_doctor: list[Block] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        blocks = [
            Block(
                doctor,
                day,
                _minutes(t.starts),
                _minutes(t.ends),
                t.channels,
                t.urgent,
                t.slot_minutes,
                t.referral,
            )
            for t in by_doctor.get(doctor, ())
            if t.applies(day) and day not in holidays
        ]
        blocks = _merge_overlaps(blocks)
        day_changes = changes.get((doctor, day), [])
        for e in day_changes:  # closings first, then extra shifts on top
            if e.kind in CLOSING_KINDS:
                if e.starts is None or e.ends is None:
                    blocks = []
                else:
                    blocks = _subtract(blocks, _minutes(e.starts), _minutes(e.ends))
        for e in day_changes:
            if e.kind == "extra" and e.starts is not None and e.ends is not None:
                start, end = _minutes(e.starts), _minutes(e.ends)
                blocks = _subtract(blocks, start, end)
                blocks.append(Block(doctor, day, start, end, e.channels))
        blocks_of_doctor.extend(sorted(blocks, key=lambda b: b.start))
    return blocks_of_doctor


def _merge_overlaps(blocks: list[Block]) -> list[Block]:
    """Two templates of one weekday that overlap: the earlier one keeps the overlap."""
    out: list[Block] = []
    for b in sorted(blocks, key=lambda b: (b.start, b.end)):
        if out and b.start < out[-1].end:
            if b.end <= out[-1].end:
                continue
            b = b.cut(out[-1].end, b.end)
        out.append(b)
    return out


def slot_flags(block: Block, needs_referral: bool) -> int:
    flags = block.channels & int(SlotFlag.ALL_CHANNELS)
    if needs_referral or block.referral:
        flags |= int(SlotFlag.REFERRAL)
    if block.urgent:
        flags |= int(SlotFlag.URGENT)
    return flags


def to_utc(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of local ``day`` + ``minute`` minutes after midnight."""
    local = datetime.combine(day, time(0), tzinfo=zone) + timedelta(minutes=minute)
    return local.astimezone(UTC)


def to_local(instant: datetime, zone: ZoneInfo) -> tuple[date, int]:
    """(local day, minutes after local midnight) of an aware instant."""
    local = instant.astimezone(zone)
    return local.date(), local.hour * 60 + local.minute
