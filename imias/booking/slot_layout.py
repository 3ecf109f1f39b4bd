"""How a doctor's working blocks sit in the engine as slots, and what an edit of a
schedule changes there. Pure: no I/O.

The engine's shape is its :class:`Geometry`. A working block is opened as consecutive
slots of its visit length from its start (:func:`run_of`; the loader does exactly this);
time left at the block's end shorter than a visit stays closed.

An edit of a schedule is the difference of two layouts of the same days (before and
after the edit), turned into the engine's own operations (:func:`plan_day`): the slots
that went are closed, the new ones opened. ``close()`` refuses time that holds a hold or
a booking, so the appointments in changed slots are dealt with first:

* a booking whose time is still worked and sits on the new slots exactly (same start,
  ends on a slot boundary) is kept: the engine lets it go before the close and books it
  again after the open (``rebook``), so the engine's slots match a freshly loaded one;
* a booking whose time is still worked but does not fit the new slots (a visit length or
  a start moved under it) is a conflict: the edit is refused, never moves or cuts it;
* a booking in time taken away is displaced (cancelled and offered another time by
  :mod:`imias.booking.relocation`); a patient who has arrived is a conflict;
* a hold on changed time is let go (the patient picks again);
* an appointment that has begun (today's, before now) is left as it is, and so are the
  slots under it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from imias.booking.schedules import Block, slot_flags

#: A slot of a layout: (start unit, length in units, flags).
Slot = tuple[int, int, int]


@dataclass(frozen=True)
class Geometry:
    """The engine's shape: days in the window and the hours a day covers."""

    days: int = 14
    unit_minutes: int = 5
    day_begins: int = 8 * 60  # 08:00 local
    day_ends: int = 20 * 60  # 20:00 local

    @property
    def units_per_day(self) -> int:
        return (self.day_ends - self.day_begins) // self.unit_minutes

    def unit_of(self, minute: int) -> int:
        return (minute - self.day_begins) // self.unit_minutes


@dataclass(frozen=True, slots=True)
class Run:
    """``count`` consecutive slots of ``length`` units from ``start`` on engine ``day``."""

    day: int
    start: int
    length: int
    flags: int
    count: int


def run_of(
    block: Block, default_minutes: int, geometry: Geometry, needs_referral: bool
) -> tuple[Run | None, bool]:
    """The slots a block opens (None: not one whole visit fits), and whether the block
    was clipped to the engine's hours."""
    start = max(block.start, geometry.day_begins)
    end = min(block.end, geometry.day_ends)
    clipped = (start, end) != (block.start, block.end)
    minutes = block.slot_minutes or default_minutes
    count = (end - start) // minutes if end > start else 0
    if count < 1:
        return None, clipped
    run = Run(
        block.day.toordinal(),
        geometry.unit_of(start),
        minutes // geometry.unit_minutes,
        slot_flags(block, needs_referral),
        count,
    )
    return run, clipped


def layout(
    blocks: Iterable[Block], default_minutes: int, geometry: Geometry, needs_referral: bool
) -> dict[int, set[Slot]]:
    """Per engine day, the slots of the blocks."""
    days: dict[int, set[Slot]] = {}
    for block in blocks:
        run, _ = run_of(block, default_minutes, geometry, needs_referral)
        if run is None:
            continue
        slots = days.setdefault(run.day, set())
        for i in range(run.count):
            slots.add((run.start + i * run.length, run.length, run.flags))
    return days


@dataclass(frozen=True, slots=True)
class Booked:
    """An active appointment (or hold) in engine terms, with its row."""

    row: Any
    start: int
    length: int
    status: str  # held, booked, arrived
    begun: bool


@dataclass
class DayPlan:
    """What one edit does to one doctor's day in the engine, in this order: release the
    rebooked ones, let holds go and displace (the caller), close, open, book again."""

    day: int
    doctor_id: int = 0
    closes: list[tuple[int, int]] = field(default_factory=list)  # (start, length)
    opens: list[Run] = field(default_factory=list)
    rebook: list[Booked] = field(default_factory=list)
    displace: list[Booked] = field(default_factory=list)
    holds: list[Booked] = field(default_factory=list)
    misfits: list[Booked] = field(default_factory=list)
    arrived: list[Booked] = field(default_factory=list)

    @property
    def changes(self) -> bool:
        return bool(self.closes or self.opens)


def _overlaps(a_start: int, a_len: int, b_start: int, b_len: int) -> bool:
    return a_start < b_start + b_len and b_start < a_start + a_len


def _fits(starts: dict[int, int], start: int, length: int) -> bool:
    """The time [start, start+length) is whole slots of the layout."""
    unit = start
    while unit < start + length:
        step = starts.get(unit)
        if step is None:
            return False
        unit += step
    return unit == start + length


def plan_day(
    day: int,
    before: set[Slot],
    after: set[Slot],
    appointments: Sequence[Booked],
    doctor_id: int = 0,
) -> DayPlan:
    """The engine operations that turn the ``before`` layout of a day into ``after``,
    around the day's active appointments (see the module's notes)."""
    plan = DayPlan(day, doctor_id)
    removed = sorted(before - after)
    added = sorted(after - before)
    if not removed and not added:
        return plan
    after_starts = {start: length for start, length, _ in after}
    worked = bytearray(max((s + n for s, n, _ in after), default=0))
    for start, length, _ in after:
        worked[start : start + length] = b"\x01" * length
    kept: list[Slot] = []  # removed slots under a begun appointment stay open
    for a in appointments:
        touched = [s for s in removed if _overlaps(a.start, a.length, s[0], s[1])]
        if not touched:
            continue
        if a.begun:
            kept.extend(touched)
        elif a.status == "held":
            plan.holds.append(a)
        elif _fits(after_starts, a.start, a.length):
            plan.rebook.append(a)
        elif all(u < len(worked) and worked[u] for u in range(a.start, a.start + a.length)):
            plan.misfits.append(a)
        elif a.status == "arrived":
            plan.arrived.append(a)
        else:
            plan.displace.append(a)
    closing = [s for s in removed if s not in kept]
    opening = [s for s in added if not any(_overlaps(s[0], s[1], k[0], k[1]) for k in kept)]
    for start, length, _ in closing:  # adjacent slots close as one span
        if plan.closes and sum(plan.closes[-1]) == start:
            first, total = plan.closes[-1]
            plan.closes[-1] = (first, total + length)
        else:
            plan.closes.append((start, length))
    for start, length, flags in opening:  # adjacent slots alike open as one run
        last = plan.opens[-1] if plan.opens else None
        if (
            last is not None
            and (last.length, last.flags) == (length, flags)
            and last.start + last.length * last.count == start
        ):
            plan.opens[-1] = Run(day, last.start, length, flags, last.count + 1)
        else:
            plan.opens.append(Run(day, start, length, flags, 1))
    return plan


def strays(
    day: int, slots: set[Slot], appointments: Sequence[Booked], doctor_id: int = 0
) -> DayPlan:
    """A day's appointments that have not begun and do not sit on its slots (a booking
    placed by an engine that had not yet applied an edit, in the moment after its
    commit), as a plan that displaces them and lets their holds go."""
    plan = DayPlan(day, doctor_id)
    starts = {start: length for start, length, _ in slots}
    for a in appointments:
        if a.begun or _fits(starts, a.start, a.length):
            continue
        if a.status == "held":
            plan.holds.append(a)
        elif a.status == "booked":
            plan.displace.append(a)
    return plan
