"""Argument checks shared by both implementations (the boundary of the engine)."""

from __future__ import annotations

import math

from .errors import InvalidArgument, InvalidLength, InvalidUnit
from .flags import CHANNEL_MASK, RESTRICTION_MASK, SLOT_FLAGS_MASK

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_TOKEN_BYTES = 1024


def check_geometry(
    start_day: int, days: int, unit_minutes: int, day_begins: int, units_per_day: int | None
) -> int:
    """Validate a calendar's shape; return units_per_day (defaulting to the rest of the day)."""
    check_id("start_day", start_day)
    if not 1 <= days <= 366:
        raise InvalidArgument(f"days must be in 1..366, got {days}")
    if not 1 <= unit_minutes <= 1440:
        raise InvalidArgument(f"unit_minutes must be in 1..1440, got {unit_minutes}")
    if not 0 <= day_begins < 1440:
        raise InvalidArgument(f"day_begins must be a minute in 0..1439, got {day_begins}")
    if units_per_day is None:
        units_per_day = (1440 - day_begins) // unit_minutes
    if units_per_day < 1 or day_begins + units_per_day * unit_minutes > 1440:
        raise InvalidArgument(
            f"units_per_day {units_per_day} of {unit_minutes} min from minute {day_begins} "
            "does not fit in one day"
        )
    return units_per_day


def check_id(name: str, value: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidArgument(f"{name} must be an int, got {value!r}")
    if not INT64_MIN <= value <= INT64_MAX:
        raise InvalidArgument(f"{name} {value} does not fit in 64 bits")


def check_span(start: int, length: int, units: int) -> None:
    if length < 1:
        raise InvalidLength(f"length must be at least 1 unit, got {length}")
    if start < 0 or start + length > units:
        raise InvalidUnit(f"units {start}..{start + length} are not inside a day of {units}")


def check_unit(start: int, units: int) -> None:
    if not 0 <= start < units:
        raise InvalidUnit(f"unit {start} is not inside a day of {units}")


def check_first_unit(first_unit: int, units: int) -> None:
    """A query's first unit on its first day: 0..units (units: nothing that day)."""
    if not isinstance(first_unit, int) or isinstance(first_unit, bool):
        raise InvalidUnit(f"first_unit must be an int, got {first_unit!r}")
    if not 0 <= first_unit <= units:
        raise InvalidUnit(f"first_unit {first_unit} is not in 0..{units}")


def check_channel(channel: int) -> None:
    if not 1 <= channel <= CHANNEL_MASK:
        raise InvalidArgument(f"channel must be one or more channel bits, got {channel!r}")


def check_entitled(entitled: int) -> None:
    if entitled & ~RESTRICTION_MASK or entitled < 0:
        raise InvalidArgument(f"entitled may only hold REFERRAL and URGENT, got {entitled!r}")


def check_slot_flags(flags: int) -> None:
    if flags < 0 or flags & ~SLOT_FLAGS_MASK or not flags & CHANNEL_MASK:
        raise InvalidArgument(
            f"slot flags must name at least one channel and no unknown bit, got {flags!r}"
        )


def check_token(token: str) -> None:
    if not isinstance(token, str) or not token:
        raise InvalidArgument(f"a hold token is a non-empty str, got {token!r}")
    if len(token.encode()) > MAX_TOKEN_BYTES:
        raise InvalidArgument(f"a hold token is at most {MAX_TOKEN_BYTES} bytes")


def check_time(name: str, value: float) -> float:
    value = float(value)
    if math.isnan(value):
        raise InvalidArgument(f"{name} is NaN")
    return value
