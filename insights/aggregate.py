"""The dashboard's arithmetic, pure (no I/O): shares, the wait histogram's quantiles, the
offered time of expanded schedules, the districts' earliest slot from their clinics'.

The wait's minute of a visit is counted in SQL (insights.queries.WAITS): whole minutes,
0 for a visit begun before the check-in, the last bucket for an hour or more."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import date

from imias.booking import Block
from insights.model import WAIT_BUCKETS, WAIT_MARK_MINUTES


def share(part: int, whole: int) -> float | None:
    """``part / whole``, None when there is no whole (nothing to divide: no figure)."""
    return part / whole if whole else None


def merge(histograms: Iterable[Sequence[int]]) -> list[int]:
    total = [0] * WAIT_BUCKETS
    for h in histograms:
        if len(h) == WAIT_BUCKETS:
            total = [a + b for a, b in zip(total, h, strict=True)]
        else:  # a shorter one (none is kept so, but a sum must not fail on it)
            total = [
                a + b for a, b in zip(total, [*h[:WAIT_BUCKETS], *[0] * WAIT_BUCKETS], strict=False)
            ]
    return total


def quantile(histogram: Sequence[int], q: float) -> int | None:
    """The smallest whole minute m such that at least ``q`` of the visits waited m
    minutes or less (the last bucket: 60, "an hour or more"); None without visits."""
    visits = sum(histogram)
    if not visits:
        return None
    need = math.ceil(q * visits)
    seen = 0
    for minute, n in enumerate(histogram):
        seen += n
        if seen >= max(need, 1):
            return minute
    return len(histogram) - 1


def within_mark(histogram: Sequence[int], mark: int = WAIT_MARK_MINUTES) -> int:
    """Visits that waited at most ``mark`` minutes (whole minutes: 20 min 59 s is 20)."""
    return sum(histogram[: mark + 1])


def offered_minutes(
    blocks: Mapping[int, Sequence[Block]], doctors: Mapping[int, tuple[int, int]]
) -> dict[tuple[date, int, int], int]:
    """Working minutes per (day, clinic, specialty) of the doctors' expanded schedules
    (``doctors``: doctor -> (clinic, specialty); a doctor not in it is not counted)."""
    out: Counter[tuple[date, int, int]] = Counter()
    for doctor, doctor_blocks in blocks.items():
        where = doctors.get(doctor)
        if where is None:
            continue
        for b in doctor_blocks:
            out[(b.day, where[0], where[1])] += b.end - b.start
    return dict(out)


def days_ahead(slot_day: date, today: date) -> int:
    return max(0, (slot_day - today).days)


def district_earliest(
    clinic_days: Mapping[tuple[int, int], int | None], districts: Mapping[int, str]
) -> dict[tuple[str, int], int | None]:
    """One sample's earliest per (district, specialty): the least of its clinics' days
    (None: no clinic of the district had a free slot of the specialty)."""
    out: dict[tuple[str, int], int | None] = {}
    for (clinic, specialty), days in clinic_days.items():
        district = districts.get(clinic)
        if district is None:
            continue
        key = (district, specialty)
        if key not in out or out[key] is None:
            out[key] = days
        elif days is not None:
            current = out[key]
            out[key] = days if current is None else min(current, days)
    return out
