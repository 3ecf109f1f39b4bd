"""Exceptions raised by both implementations of the engine.

Two families:

* :class:`InvalidArgument` (and :class:`UnknownDoctor`): the caller broke the contract
  (unknown doctor, length < 1, a unit outside the day, building on a day outside the
  window, opening over open time...). A programming or data error; never silently
  accepted, never a crash.
* :class:`Refused`: a valid request that the current state does not allow. ``.reason`` is
  one of the stable strings of :class:`Reason`, meant for clients (problem+json ``code``).
"""

from __future__ import annotations

from enum import StrEnum


class Reason(StrEnum):
    TAKEN = "taken"  # a unit is held or booked
    CLOSED = "closed"  # a unit is outside opened working time
    MISALIGNED = "misaligned"  # start is not a slot start, or the end cuts a slot
    OUTSIDE_WINDOW = "outside_window"  # the day is not in the calendar's window
    CHANNEL_NOT_ALLOWED = "channel_not_allowed"
    REFERRAL_REQUIRED = "referral_required"
    URGENT_ONLY = "urgent_only"  # kept for urgent same-day care
    WRONG_TOKEN = "wrong_token"  # held, but under another token
    HOLD_EXPIRED = "hold_expired"
    NOT_HELD = "not_held"
    NOT_BOOKED = "not_booked"


class SchedulerError(Exception):
    """Base of every error the engine raises."""


class InvalidArgument(SchedulerError, ValueError):
    """An argument breaks the contract of the call."""


class UnknownDoctor(SchedulerError, LookupError):
    def __init__(self, doctor_id: object) -> None:
        super().__init__(f"unknown doctor {doctor_id!r}")
        self.doctor_id = doctor_id


class InvalidLength(InvalidArgument):
    """A length (or count) below 1."""


class InvalidUnit(InvalidArgument):
    """A unit range that does not lie inside the day."""


class DayOutsideWindow(InvalidArgument):
    """Building (open, close, count) on a day outside the calendar's window."""


class OverlappingOpen(InvalidArgument):
    """Opening slots over units that are already open."""


class SplitSlot(InvalidArgument):
    """Closing a range that would cut an opened slot in two."""


class DuplicateDoctor(InvalidArgument):
    """Adding a doctor id that is already there (with other attributes, for apply)."""


class DuplicateHold(InvalidArgument):
    """Holding with a token that names a live hold."""


class SnapshotError(InvalidArgument):
    """Bytes that are not a snapshot this version can restore."""


class Refused(SchedulerError):
    """The request is valid but the state refuses it; ``reason`` says why."""

    def __init__(self, reason: Reason, detail: str = "") -> None:
        self.reason = Reason(reason)
        self.detail = detail
        super().__init__(f"{self.reason.value}: {detail}" if detail else self.reason.value)
