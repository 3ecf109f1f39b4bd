"""What the dashboard answers with: each figure as a Struct (the page draws them, the
JSON API returns them as they are). No figure names a patient."""

from __future__ import annotations

from datetime import date, datetime

import msgspec

#: The 20-minute mark of the wait in the clinic (EMIAS's figure: 89 % seen within it).
WAIT_MARK_MINUTES = 20
#: Buckets of the wait histogram: whole minutes 0..59, and 60 or more.
WAIT_BUCKETS = 61
#: The longest period a figure is asked for (days).
MAX_PERIOD_DAYS = 92


class Scope(msgspec.Struct, frozen=True):
    """What is asked: the days (both included), and optionally one clinic, one district,
    one specialty (its id)."""

    first: date
    last: date
    clinic_id: int | None = None
    district: str | None = None
    specialty_id: int | None = None

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


class EarliestDay(msgspec.Struct, frozen=True):
    """Days to the earliest free slot on a day: the mean of the day's samples that found
    one, and the share of samples that found none in the booking window."""

    day: date
    mean_days: float | None
    samples: int
    none_found_share: float | None


class EarliestBySpecialty(msgspec.Struct, frozen=True):
    specialty: str
    mean_days: float | None
    samples: int
    none_found_share: float | None


class ServedDay(msgspec.Struct, frozen=True):
    """Bookings made on a day, and the share of them for the same or the next day."""

    day: date
    made: int
    same_or_next: int
    share: float | None


class LoadRow(msgspec.Struct, frozen=True):
    """Booked against offered time (minutes) of a clinic and specialty over the period;
    ``clinic_id`` None: every clinic in scope (a specialty's row, or the city's)."""

    clinic_id: int | None
    clinic_name: str | None
    specialty: str | None
    offered_minutes: int
    booked_minutes: int
    load: float | None
    appointments: int
    no_shows: int
    no_show_share: float | None
    cancelled: int


class LoadDay(msgspec.Struct, frozen=True):
    day: date
    offered_minutes: int
    booked_minutes: int
    load: float | None
    appointments: int
    no_shows: int


class ChannelShare(msgspec.Struct, frozen=True):
    channel: str
    made: int
    share: float | None


class WaitRow(msgspec.Struct, frozen=True):
    """The wait in the clinic (check-in, or the appointed time when the patient came
    early, to the visit's start); ``clinic_id`` None: every clinic in scope."""

    clinic_id: int | None
    clinic_name: str | None
    visits: int
    within_mark: int
    within_mark_share: float | None
    median_minutes: int | None
    p90_minutes: int | None


class RefusalRow(msgspec.Struct, frozen=True):
    code: str
    refused: int
    share: float | None


class Moves(msgspec.Struct, frozen=True):
    """Patients whose appointment the clinic cancelled by taking a doctor's time away,
    by what became of the other time offered them."""

    offered: int = 0  # held for them, not answered yet
    confirmed: int = 0
    rebooked: int = 0  # they chose another time themselves
    cancelled: int = 0  # declined, or the deadline passed
    no_offer: int = 0  # nothing could be offered

    @property
    def total(self) -> int:
        return self.offered + self.confirmed + self.rebooked + self.cancelled + self.no_offer


class ClinicOnMap(msgspec.Struct, frozen=True):
    """A clinic on the plan of the city, with its mean days to the earliest slot of the
    specialty and its wait in the clinic over the period."""

    clinic_id: int
    name: str
    district: str
    lat: float
    lon: float
    mean_days: float | None
    wait_within_mark_share: float | None


class Freshness(msgspec.Struct, frozen=True):
    """When the job last did each kind of work (None: never)."""

    load: datetime | None
    earliest: datetime | None


class Dashboard(msgspec.Struct, frozen=True):
    """Every figure of a scope at once (the page's)."""

    first: date
    last: date
    clinic_id: int | None
    district: str | None
    specialty: str | None
    earliest: list[EarliestDay]
    earliest_by_specialty: list[EarliestBySpecialty]
    served: list[ServedDay]
    served_total: ServedDay | None
    load_by_specialty: list[LoadRow]
    load_total: LoadRow
    load_days: list[LoadDay]
    channels: list[ChannelShare]
    waits: list[WaitRow]
    waits_total: WaitRow
    refusals: list[RefusalRow]
    freshness: Freshness
    moves: Moves = msgspec.field(default_factory=Moves)
