"""The span of time the API accepts: days and instants from 1900 to 2199.

A date or an instant near year 1 or 9999 is no one's appointment or birthday, and one
with an offset cannot even be turned into UTC (year 0, year 10000). Requests carrying one
are refused at the door with a 400 problem document, never an ``OverflowError`` deep in
a computation. Structs call :func:`check_day` and :func:`check_instant` in
``__post_init__`` (msgspec makes the ``ValueError`` a validation error); handlers check
their query parameters with :func:`day_param` and :func:`instant_param`.
"""

from __future__ import annotations

from datetime import date, datetime

from imias.platform.problems import ProblemError

FIRST_DAY = date(1900, 1, 1)
LAST_DAY = date(2199, 12, 31)
SPAN = f"between {FIRST_DAY.isoformat()} and {LAST_DAY.isoformat()}"


def check_day(value: date, name: str) -> None:
    """A day of the span; ``ValueError`` otherwise (for a Struct's ``__post_init__``)."""
    if not FIRST_DAY <= value <= LAST_DAY:
        raise ValueError(f"{name} must be a day {SPAN}")


def check_instant(value: datetime, name: str) -> None:
    """An instant with a time zone offset, within the span in its own wall time (so that
    it has a UTC equivalent whatever the offset); ``ValueError`` otherwise."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} needs a time zone offset")
    if not FIRST_DAY <= value.date() <= LAST_DAY:
        raise ValueError(f"{name} must be an instant {SPAN}")


def day_param(value: date | None, name: str) -> date | None:
    """A query parameter's day, or a 400 ``out_of_range`` problem."""
    if value is not None and not FIRST_DAY <= value <= LAST_DAY:
        raise ProblemError(400, "out_of_range", f"'{name}' must be a day {SPAN}.")
    return value


def instant_param(value: datetime | None, name: str) -> datetime | None:
    """A query parameter's instant, or a 400 ``out_of_range`` problem."""
    if value is None:
        return None
    try:
        check_instant(value, f"'{name}'")
    except ValueError as exc:
        raise ProblemError(400, "out_of_range", f"{exc}.") from None
    return value
