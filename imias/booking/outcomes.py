"""What the booking use cases end in, counted in this worker's memory: each booking made
(its clinic, specialty, channel and how many days ahead of the booking's day it is) and
each refusal (its :class:`~imias.booking.model.RefusalCode` and channel).

Counting is a dictionary increment on the request's path, nothing more: no extra write.
Whoever wants the counts takes them: :meth:`Outcomes.drain` hands over (and forgets) the
counts since the last drain, for a job that adds them to a table every few seconds (the
dashboard's, :mod:`insights`); :attr:`Outcomes.booked_total` and
:attr:`Outcomes.refused_total` only grow, for ``/metrics``. A worker that dies loses at
most the counts since the last drain.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import date, datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar
from zoneinfo import ZoneInfo

import msgspec

from imias.booking.model import RefusalCode
from imias.booking.views import Appointment
from imias.platform.problems import ProblemError

#: A booking made: (the day it was made, clinic, specialty code, channel, days ahead).
BookedKey = tuple[date, int, str, str, int]
#: A refusal: (the day, code, channel).
RefusedKey = tuple[date, str, str]


class Drained(msgspec.Struct, frozen=True):
    """The counts since the previous drain."""

    booked: dict[BookedKey, int]
    refused: dict[RefusedKey, int]


class Outcomes:
    """This worker's counts of bookings made and refused (see the module)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._booked: Counter[BookedKey] = Counter()
        self._refused: Counter[RefusedKey] = Counter()
        self.booked_total: Counter[str] = Counter()  # by channel
        self.refused_total: Counter[str] = Counter()  # by code

    def booked(
        self, clinic_id: int, specialty: str, channel: str, starts_at: datetime, now: datetime
    ) -> None:
        made = now.astimezone(self.zone).date()
        ahead = (starts_at.astimezone(self.zone).date() - made).days
        self._booked[(made, clinic_id, specialty, channel, max(0, ahead))] += 1
        self.booked_total[channel] += 1

    def refused(self, code: str, channel: str, now: datetime) -> None:
        self._refused[(now.astimezone(self.zone).date(), code, channel)] += 1
        self.refused_total[code] += 1

    def drain(self) -> Drained:
        booked, refused = dict(self._booked), dict(self._refused)
        self._booked.clear()
        self._refused.clear()
        return Drained(booked=booked, refused=refused)

    def restore(self, drained: Drained) -> None:
        """Put drained counts back (their write failed; the next drain tries again)."""
        self._booked.update(drained.booked)
        self._refused.update(drained.refused)


class _Counting(Protocol):
    outcomes: Outcomes

    def clock(self) -> datetime: ...


_REFUSAL_CODES = frozenset(code.value for code in RefusalCode)
_P = ParamSpec("_P")
_T = TypeVar("_T")
_S = TypeVar("_S", bound=_Counting)


def counted(
    channel_at: int | None,
) -> Callable[
    [Callable[Concatenate[_S, _P], Awaitable[_T]]], Callable[Concatenate[_S, _P], Awaitable[_T]]
]:
    """Count a booking use case's outcome in its service's ``outcomes``: an appointment
    booked, or a refusal by its code (the channel: the positional argument ``channel_at``
    after ``self``, or the keyword ``channel``; None: the booked appointment's own). An
    idempotent replay is counted again (rare: a client's retry)."""

    def wrap(
        use_case: Callable[Concatenate[_S, _P], Awaitable[_T]],
    ) -> Callable[Concatenate[_S, _P], Awaitable[_T]]:
        @functools.wraps(use_case)
        async def counting(service: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _T:
            try:
                result = await use_case(service, *args, **kwargs)
            except ProblemError as exc:
                if exc.code in _REFUSAL_CODES:
                    channel: Any = kwargs.get("channel")
                    if channel is None and channel_at is not None and len(args) > channel_at:
                        channel = args[channel_at]
                    service.outcomes.refused(exc.code, str(channel or "unknown"), service.clock())
                raise
            if isinstance(result, Appointment):
                service.outcomes.booked(
                    result.clinic_id,
                    result.specialty,
                    result.channel,
                    result.starts_at,
                    service.clock(),
                )
            return result

        return counting

    return wrap
