"""scheduler_core: the city's bookable time in memory, and slot allocation in microseconds.

No I/O, no asyncio, no wall clock, no database types: the booking service feeds it from
PostgreSQL and Redis (see DESIGN.md, "the hot path").

Model
    A :class:`Calendar` covers ``days`` days (default 14) from ``start_day``, an ordinal day
    number (``date.toordinal()``), in units of ``unit_minutes`` (default 5); unit 0 of a
    day starts at minute ``day_begins``; a day has ``units_per_day`` units. Doctors (int
    ids) carry a clinic id and a specialty id. Working time is opened as slots (start
    unit, length in units, :class:`SlotFlag` flags: channels that may book, REFERRAL,
    URGENT). Each unit is closed, free, held or booked.

API (identical on both implementations)
    build     ``add_doctor(id, clinic, specialty)``, ``open(doctor, day, start, length,
              flags, count=1)``, ``close(doctor, day, start, length)``, ``shift_window(n=1)``
    query     ``find(doctor, day, start=0, length=None, *, channel, entitled=0)`` -> Slot|None,
              ``earliest(k, *, specialty_id, clinic_ids, first_day, last_day, length,
              channel, entitled, now, first_unit=0)`` -> list[Slot] ordered by (day,
              start, doctor_id), ``count_free(*, doctor_id | clinic_id, first_day,
              last_day, channel, entitled, now, first_unit=0)`` -> list[int], one count
              per day; ``first_unit`` (0..units_per_day, else InvalidUnit): on
              ``first_day`` (default the window's first day) only slots starting at or
              after it, e.g. "not begun yet today"; later days are whole
    allocate  ``hold(doctor, day, start, length, token, expires_at, *, channel, entitled)``,
              ``confirm(doctor, day, start, token)`` -> length, ``book(...)`` (registrar,
              straight to booked), ``release(doctor, day, start)`` -> length (cancel),
              ``release_hold(token)`` -> HoldInfo, ``expire(now)`` -> holds freed
    replicas  ``apply(event)`` -> bool changed (events in :mod:`scheduler_core.events`;
              re-applying is a no-op, see ``scheduler_core._replica``)
    snapshot  ``snapshot()`` -> bytes, ``Calendar.restore(bytes)``; either implementation
              restores the other's snapshot, and equal states give equal bytes;
              :func:`state_digest` of a snapshot is equal for equal states, whatever
              the clock
    inspect   ``day_states``, ``day_flags``, ``appointments``, ``holds``, ``hold_info``,
              ``holder``, ``doctor``, ``doctors``, ``clock``

    ``length=None`` in queries means one whole slot; an explicit length books from a slot
    start to a slot boundary (it may span consecutive slots). ``channel`` is a
    :class:`Channel` (any-of bits); ``entitled`` a mask of ``SlotFlag.REFERRAL`` and
    ``SlotFlag.URGENT`` the caller holds.

Time
    Calls that take ``now`` (seconds, the caller's clock) advance the engine's ``clock``
    (the largest ``now`` seen) and first free every hold with ``expires_at <= clock``; so
    an expired hold never blocks. An earlier ``now`` does not revive anything.

Errors (:mod:`scheduler_core.errors`)
    Bad arguments raise :class:`InvalidArgument` subclasses or :class:`UnknownDoctor`; a
    valid request the state does not allow raises :class:`Refused` whose ``reason`` is a
    stable :class:`Reason` string ("taken", "closed", "misaligned", "outside_window",
    "channel_not_allowed", "referral_required", "urgent_only", "wrong_token",
    "hold_expired", "not_held", "not_booked"). All derive from :class:`SchedulerError`.

Implementations
    ``scheduler_core.reference.Calendar`` (pure Python, the specification) and
    ``scheduler_core._engine.Calendar`` (Cython). :data:`Calendar` is the compiled one
    unless ``IMIAS_NO_EXTENSIONS=1`` (read once, at import: it is a build switch); a
    missing build raises ImportError rather than running the slow path silently.
    :data:`IMPLEMENTATION` says which ("cython" or "python"). Type checkers always see
    the reference (as yarl and frozenlist do), so callers are checked against the
    specification's signatures; ``_engine.pyi``, the compiled module's stub, repeats them
    (tests/core/test_stub.py keeps the two equal).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal

from . import reference
from ._snapshot import state_digest
from .errors import (
    DayOutsideWindow,
    DuplicateDoctor,
    DuplicateHold,
    InvalidArgument,
    InvalidLength,
    InvalidUnit,
    OverlappingOpen,
    Reason,
    Refused,
    SchedulerError,
    SnapshotError,
    SplitSlot,
    UnknownDoctor,
)
from .events import Event, decode_event, encode_event
from .flags import BOOKED, CLOSED, FREE, HELD, Channel, SlotFlag
from .values import HoldInfo, Slot

if TYPE_CHECKING:
    from . import _engine

__all__ = [
    "BOOKED",
    "CLOSED",
    "FREE",
    "HELD",
    "IMPLEMENTATION",
    "Calendar",
    "Channel",
    "DayOutsideWindow",
    "DuplicateDoctor",
    "DuplicateHold",
    "Event",
    "HoldInfo",
    "InvalidArgument",
    "InvalidLength",
    "InvalidUnit",
    "OverlappingOpen",
    "Reason",
    "Refused",
    "SchedulerError",
    "Slot",
    "SlotFlag",
    "SnapshotError",
    "SplitSlot",
    "UnknownDoctor",
    "compiled_calendar",
    "decode_event",
    "encode_event",
    "reference",
    "reference_calendar",
    "state_digest",
]

_BUILD_HINT = (
    "the compiled scheduler_core engine (scheduler_core._engine) is not built: "
    "run `pip install -e .` or `make build` (or `python setup.py build_ext --inplace`), "
    "or set IMIAS_NO_EXTENSIONS=1 to run the pure-Python reference on purpose"
)


def compiled_calendar() -> type[_engine.Calendar]:
    """The Cython Calendar class, whatever the switch says; ImportError if not built."""
    try:
        from ._engine import Calendar as compiled
    except ImportError as exc:
        raise ImportError(f"{_BUILD_HINT} ({exc})") from exc
    return compiled


def reference_calendar() -> type[reference.Calendar]:
    """The pure-Python reference Calendar class."""
    return reference.Calendar


_NO_EXTENSIONS = os.environ.get("IMIAS_NO_EXTENSIONS") == "1"

IMPLEMENTATION: Literal["cython", "python"]
# As yarl and frozenlist do: the type checker always sees the pure-Python reference (the
# specification), so every caller is checked against its signatures; at run time the
# compiled engine unless IMIAS_NO_EXTENSIONS=1, and a missing build raises ImportError.
if TYPE_CHECKING or _NO_EXTENSIONS:
    from .reference import Calendar

    IMPLEMENTATION = "python"
else:
    Calendar = compiled_calendar()
    IMPLEMENTATION = "cython"
