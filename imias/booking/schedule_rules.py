"""The rules of a clinic's schedule edits. Pure: they read values and raise the problem
a caller gets (a 4xx with a stable code and a sentence), before anything is written.

- Hours lie within the engine's day (08:00-20:00, :class:`Geometry`) on its 5-minute
  grid, and end after they start (``bad_hours``).
- A visit length is on the 5-minute grid and divides the template's hours
  (``bad_visit_length``).
- A doctor's templates never overlap (same weekday, crossing hours, crossing
  validity: ``template_overlap``).
- Nothing is changed in the past (``in_the_past``: the clinic's today); a holiday is
  set once (``holiday_exists``, checked by the database's key).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import date, time, timedelta

from imias.booking.schedule_model import ExceptionRequest, TemplateRequest, channel_bits
from imias.booking.schedules import CLOSING_KINDS, ScheduleException, Template
from imias.booking.slot_layout import Geometry
from imias.platform.problems import ProblemError

FAR = date(9999, 12, 31)


def bad(code: str, detail: str, status: int = 422) -> ProblemError:
    return ProblemError(status, code, detail)


def clock(value: str) -> time:
    hours, minutes = value.split(":")
    return time(int(hours), int(minutes))


def hhmm(value: time | None) -> str | None:
    return None if value is None else value.strftime("%H:%M")


def minutes(value: time) -> int:
    return value.hour * 60 + value.minute


def check_hours(starts: time, ends: time, geometry: Geometry) -> None:
    begins, closes = geometry.day_begins, geometry.day_ends
    if minutes(ends) <= minutes(starts):
        raise bad("bad_hours", "The hours must end after they start.")
    if minutes(starts) < begins or minutes(ends) > closes:
        raise bad(
            "bad_hours",
            f"Working hours lie between {begins // 60:02d}:{begins % 60:02d} and "
            f"{closes // 60:02d}:{closes % 60:02d}.",
        )
    unit = geometry.unit_minutes
    if minutes(starts) % unit or minutes(ends) % unit:
        raise bad("bad_hours", f"Hours start and end on a {unit}-minute mark.")


def check_visit_length(length: int, starts: time, ends: time, geometry: Geometry) -> None:
    unit = geometry.unit_minutes
    if length % unit:
        raise bad("bad_visit_length", f"A visit lasts a multiple of {unit} minutes.")
    span = minutes(ends) - minutes(starts)
    if span % length:
        raise bad(
            "bad_visit_length",
            f"{length}-minute visits do not fill the hours {hhmm(starts)}-{hhmm(ends)} "
            f"({span} minutes) exactly.",
        )


def check_not_past(day: date, today: date, what: str = "The day") -> None:
    if day < today:
        raise bad("in_the_past", f"{what} {day.isoformat()} is in the past (today is {today}).")


def template_of(
    doctor_id: int, data: TemplateRequest, today: date, default_minutes: int, geometry: Geometry
) -> Template:
    """The template a request describes, checked on its own."""
    starts, ends = clock(data.starts), clock(data.ends)
    check_hours(starts, ends, geometry)
    check_visit_length(data.slot_minutes or default_minutes, starts, ends, geometry)
    valid_from = data.valid_from or today
    if data.valid_to is not None:
        if data.valid_to < valid_from:
            raise bad("bad_dates", "valid_to comes before valid_from.")
        check_not_past(data.valid_to, today, "valid_to")
    return Template(
        doctor_id=doctor_id,
        weekday=data.weekday,
        starts=starts,
        ends=ends,
        channels=channel_bits(data.channels),
        urgent=data.urgent,
        valid_from=valid_from,
        valid_to=data.valid_to,
        slot_minutes=data.slot_minutes,
        referral=data.referral,
    )


def check_no_overlap(new: Template, others: Iterable[Template]) -> None:
    """A template crossing another of the doctor's (same weekday, hours and validity)."""
    for other in others:
        if (
            other.weekday == new.weekday
            and other.starts < new.ends
            and new.starts < other.ends
            and other.valid_from <= (new.valid_to or FAR)
            and new.valid_from <= (other.valid_to or FAR)
        ):
            raise bad(
                "template_overlap",
                f"The hours {hhmm(new.starts)}-{hhmm(new.ends)} cross the doctor's "
                f"{hhmm(other.starts)}-{hhmm(other.ends)} on the same weekday "
                f"(valid from {other.valid_from}).",
                409,
            )


def exception_of(
    doctor_id: int, data: ExceptionRequest, today: date, geometry: Geometry
) -> ScheduleException:
    check_not_past(data.day, today)
    if (data.starts is None) != (data.ends is None):
        raise bad("bad_hours", "Give both hours (from and to), or neither for the whole day.")
    starts = clock(data.starts) if data.starts is not None else None
    ends = clock(data.ends) if data.ends is not None else None
    if starts is not None and ends is not None:
        check_hours(starts, ends, geometry)
    elif data.kind not in CLOSING_KINDS:
        raise bad("bad_hours", "An extra shift needs its hours.")
    return ScheduleException(
        doctor_id=doctor_id,
        day=data.day,
        kind=data.kind,
        starts=starts,
        ends=ends,
        channels=channel_bits(data.channels),
    )


def split_at(template: Template, day: date) -> tuple[Template | None, Template | None]:
    """A template cut at ``day``: the part before it (None: none) and from it (None)."""
    before = after = None
    if template.valid_from < day:
        before = replace(template, valid_to=min(template.valid_to or FAR, day - timedelta(days=1)))
    if template.valid_to is None or template.valid_to >= day:
        after = replace(template, valid_from=max(template.valid_from, day))
    return before, after
