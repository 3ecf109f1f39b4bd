"""The values of a clinic's schedules as the API takes and gives them: a doctor's weekly
templates, exceptions (leave, sick, training, an extra shift), the city's public
holidays, and what a change did. Times of day are the clinic's local wall time, "HH:MM".
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

import msgspec
from msgspec import Meta

from imias.booking.model import Id
from imias.platform.bounds import check_day

ClockTime = Annotated[str, Meta(pattern=r"^([01]\d|2[0-3]):[0-5]\d$", examples=["08:00"])]
VisitMinutes = Annotated[int, Meta(ge=5, le=240)]
Weekday = Annotated[int, Meta(ge=1, le=7, description="ISO: Monday is 1")]
ScheduleChannel = Literal["web", "app", "phone", "kiosk", "registrar"]
ExceptionKind = Literal["leave", "sick", "training", "extra"]
HolidayName = Annotated[str, Meta(min_length=1, max_length=200)]

#: The bits of ``channels`` (schedule_templates, schedule_exceptions; SlotFlag's).
CHANNEL_BIT: dict[str, int] = {"web": 1, "app": 2, "phone": 4, "kiosk": 8, "registrar": 16}


def channel_bits(channels: list[ScheduleChannel] | None) -> int:
    """The bit set of channels (None: every channel)."""
    if channels is None:
        return 31
    return sum(CHANNEL_BIT[c] for c in set(channels))


def channel_names(bits: int) -> list[str]:
    return [name for name, bit in CHANNEL_BIT.items() if bits & bit]


class TemplateRequest(
    msgspec.Struct,
    frozen=True,
    forbid_unknown_fields=True,
    rename={"from_day": "from"},
):
    """A weekly template: a weekday's working hours, from ``valid_from`` (default: the
    clinic's today) to ``valid_to`` (none: open). ``slot_minutes``: the visit length
    (default: the doctor's); ``channels``: who may book (default: all); ``referral``: kept
    for patients with a referral; ``urgent``: kept for same-day urgent care. On a change,
    ``from`` is the first day the change applies to (default: the clinic's today); the
    days before keep the template as it was, and ``valid_from`` / ``valid_to`` left out
    keep the template's own."""

    weekday: Weekday
    starts: ClockTime
    ends: ClockTime
    slot_minutes: VisitMinutes | None = None
    channels: list[ScheduleChannel] | None = None
    referral: bool = False
    urgent: bool = False
    valid_from: date | None = None
    valid_to: date | None = None
    from_day: date | None = None

    def __post_init__(self) -> None:
        for name, day in (
            ("valid_from", self.valid_from),
            ("valid_to", self.valid_to),
            ("from", self.from_day),
        ):
            if day is not None:
                check_day(day, name)
        if self.channels is not None and not self.channels:
            raise ValueError("channels must name at least one channel (or be left out: all)")


class ExceptionRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """A day off the template: leave, sick, training (closing the whole day, or the hours
    from ``starts`` to ``ends``), or an extra shift (its hours open time, on a holiday
    too)."""

    day: date
    kind: ExceptionKind
    starts: ClockTime | None = None
    ends: ClockTime | None = None
    channels: list[ScheduleChannel] | None = None

    def __post_init__(self) -> None:
        check_day(self.day, "day")
        if self.channels is not None and not self.channels:
            raise ValueError("channels must name at least one channel (or be left out: all)")


class HolidayRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    day: date
    name: HolidayName

    def __post_init__(self) -> None:
        check_day(self.day, "day")


class ScheduleTemplate(msgspec.Struct, frozen=True):
    id: int
    doctor_id: int
    weekday: int
    starts: str
    ends: str
    slot_minutes: int | None  # None: the doctor's
    channels: list[str]
    referral: bool
    urgent: bool
    valid_from: date
    valid_to: date | None


class ScheduleExceptionView(msgspec.Struct, frozen=True):
    id: int
    doctor_id: int
    day: date
    kind: str
    starts: str | None
    ends: str | None
    channels: list[str]


class Holiday(msgspec.Struct, frozen=True):
    day: date
    name: str


class ClinicDoctor(msgspec.Struct, frozen=True):
    id: int
    clinic_id: int
    name: str
    specialty: str
    room: str | None
    slot_minutes: int


class DoctorSchedule(msgspec.Struct, frozen=True):
    """A doctor's templates (every version) and exceptions from the clinic's today."""

    doctor: ClinicDoctor
    today: date
    templates: list[ScheduleTemplate]
    exceptions: list[ScheduleExceptionView]


class ScheduleChange(msgspec.Struct, frozen=True):
    """What a change did: the row it made (``id``, or the holiday's ``day``), the
    appointments displaced from time taken away (their patients are told and offered
    another time), the holds let go, and the engine events sent to every worker."""

    id: Id | None = None
    day: date | None = None
    displaced: int = 0
    holds_released: int = 0
    engine_events: int = 0
