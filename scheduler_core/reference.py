"""The pure-Python reference implementation: the specification of the engine.

Written to be read first; the Cython engine (``_engine.pyx``) must behave identically,
which the differential state machine in ``tests/core`` checks after every step.

State, per doctor and per day of the window, is a row of ``units_per_day`` units:

* ``flags[u]``  the slot flags of the opened slot covering ``u`` (0 = closed), with
  ``SLOT_START`` on the first unit of each slot;
* ``state[u]``  FREE, BOOKED or HELD;
* ``starts[u]`` 1 on the first unit of each hold or appointment.

Rows live at ring position ``day % days``, so shifting the window clears the dropped
day's row and reuses it as the new last day.

Rules (both implementations):

* A hold or booking covers ``length`` units from a slot start to a slot boundary (it may
  span consecutive slots); every unit must be open, allowed for the caller's channel and
  entitlement, and free. Checks run in this order and the first failure is the refusal:
  outside_window, closed, misaligned, channel_not_allowed, referral_required, urgent_only,
  taken. Slots are therefore always wholly free or wholly taken.
* Time: the engine keeps ``clock``, the largest ``now`` it has been given (it never reads
  a wall clock). Every call taking ``now`` first advances the clock and frees every hold
  with ``expires_at <= clock``; an earlier ``now`` never revives a hold. So an expired
  hold never blocks and is never reported.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable

from . import _checks as chk
from . import _snapshot
from .errors import (
    DayOutsideWindow,
    DuplicateDoctor,
    DuplicateHold,
    InvalidArgument,
    OverlappingOpen,
    Reason,
    Refused,
    SnapshotError,
    SplitSlot,
    UnknownDoctor,
)
from .flags import CHANNEL_MASK, ENTITLED_ALL, REFERRAL_BIT, SLOT_START, URGENT_BIT
from .values import HoldInfo, Slot

FREE, BOOKED, HELD = 0, 1, 2  # FREE + busy bit + held bit, see restore()
_VIEW = bytes.maketrans(b"\x00\x01\x02", b"\x01\x03\x02")  # state -> flags.FREE/BOOKED/HELD
_BUSY = bytes.maketrans(b"\x00\x01\x02", b"011")
_HELD = bytes.maketrans(b"\x00\x01\x02", b"001")
_START = bytes.maketrans(b"\x00\x01", b"01")
_DIGITS = bytes.maketrans(b"01", b"\x00\x01")


class _Row:
    __slots__ = ("flags", "state", "starts")

    def __init__(self, units: int) -> None:
        self.flags = bytearray(units)
        self.state = bytearray(units)
        self.starts = bytearray(units)


class _Doctor:
    __slots__ = ("doctor_id", "clinic_id", "specialty_id", "rows")

    def __init__(self, doctor_id: int, clinic_id: int, specialty_id: int, rows: list[_Row]):
        self.doctor_id = doctor_id
        self.clinic_id = clinic_id
        self.specialty_id = specialty_id
        self.rows = rows


class Calendar:
    """A window of ``days`` days from ordinal ``start_day``, in units of ``unit_minutes``.

    Unit 0 of a day starts at minute ``day_begins`` after midnight; a day has
    ``units_per_day`` units (default: up to midnight).
    """

    def __init__(
        self,
        start_day: int,
        days: int = 14,
        unit_minutes: int = 5,
        day_begins: int = 0,
        units_per_day: int | None = None,
    ) -> None:
        units = chk.check_geometry(start_day, days, unit_minutes, day_begins, units_per_day)
        self._start_day = start_day
        self._days = days
        self._units = units
        self._unit_minutes = unit_minutes
        self._day_begins = day_begins
        self._clock = -math.inf
        self._doctors: dict[int, _Doctor] = {}  # insertion order is the internal order
        self._holds: dict[str, HoldInfo] = {}
        self._expiries: list[tuple[float, str]] = []  # min-heap; stale entries skipped

    # -- shape -------------------------------------------------------------------------
    @property
    def start_day(self) -> int:
        return self._start_day

    @property
    def days(self) -> int:
        return self._days

    @property
    def units_per_day(self) -> int:
        return self._units

    @property
    def unit_minutes(self) -> int:
        return self._unit_minutes

    @property
    def day_begins(self) -> int:
        return self._day_begins

    @property
    def clock(self) -> float:
        return self._clock

    @property
    def last_day(self) -> int:
        return self._start_day + self._days - 1

    @property
    def doctor_count(self) -> int:
        return len(self._doctors)

    # -- doctors -----------------------------------------------------------------------
    def add_doctor(self, doctor_id: int, clinic_id: int, specialty_id: int) -> None:
        for name, value in (
            ("doctor_id", doctor_id),
            ("clinic_id", clinic_id),
            ("specialty_id", specialty_id),
        ):
            chk.check_id(name, value)
        if doctor_id in self._doctors:
            raise DuplicateDoctor(f"doctor {doctor_id} is already in the calendar")
        rows = [_Row(self._units) for _ in range(self._days)]
        self._doctors[doctor_id] = _Doctor(doctor_id, clinic_id, specialty_id, rows)

    def has_doctor(self, doctor_id: int) -> bool:
        return doctor_id in self._doctors

    def doctor(self, doctor_id: int) -> tuple[int, int]:
        """(clinic_id, specialty_id) of a doctor."""
        doc = self._doctor(doctor_id)
        return doc.clinic_id, doc.specialty_id

    def doctors(self) -> list[int]:
        return list(self._doctors)

    # -- building ----------------------------------------------------------------------
    def open(
        self, doctor_id: int, day: int, start: int, length: int, flags: int, count: int = 1
    ) -> None:
        """Open ``count`` consecutive slots of ``length`` units from ``start``."""
        doc = self._doctor(doctor_id)
        if count < 1:
            raise InvalidArgument(f"count must be at least 1, got {count}")
        chk.check_span(start, length, self._units)
        chk.check_span(start, length * count, self._units)
        chk.check_slot_flags(flags)
        row = self._build_row(doc, day)
        end = start + length * count
        if any(row.flags[start:end]):
            raise OverlappingOpen(f"units {start}..{end} of day {day} overlap open time")
        for u in range(start, end):
            row.flags[u] = flags | (SLOT_START if (u - start) % length == 0 else 0)

    def close(
        self, doctor_id: int, day: int, start: int, length: int, now: float | None = None
    ) -> None:
        """Close units ``start..start+length``: whole slots only, none held or booked."""
        doc = self._doctor(doctor_id)
        chk.check_span(start, length, self._units)
        row = self._build_row(doc, day)
        self._advance(now)
        end = start + length
        if self._mid_slot(row, start) or self._mid_slot(row, end):
            raise SplitSlot(f"closing units {start}..{end} would cut a slot in two")
        if any(row.state[start:end]):
            raise Refused(Reason.TAKEN, f"units {start}..{end} hold appointments")
        row.flags[start:end] = bytes(length)

    def shift_window(self, days: int = 1) -> None:
        """Move the window ``days`` days forward; the new days start closed."""
        if days < 1:
            raise InvalidArgument(f"the window moves forward by at least 1 day, got {days}")
        for day in range(self._start_day, self._start_day + min(days, self._days)):
            for doc in self._doctors.values():
                doc.rows[day % self._days] = _Row(self._units)
        self._start_day += days
        for token, hold in list(self._holds.items()):
            if hold.day < self._start_day:
                del self._holds[token]

    # -- queries -----------------------------------------------------------------------
    def find(
        self,
        doctor_id: int,
        day: int,
        start: int = 0,
        length: int | None = None,
        *,
        channel: int,
        entitled: int = 0,
        now: float | None = None,
    ) -> Slot | None:
        """The first slot of a doctor at or after (day, start) that the caller may take.

        ``length`` None: one whole slot, whatever its length; otherwise exactly ``length``
        units from a slot start to a slot boundary. A day before the window searches
        from the window's first day.
        """
        doc = self._doctor(doctor_id)
        chk.check_unit(start, self._units)
        self._check_query(length, channel, entitled)
        self._advance(now)
        for d in range(max(day, self._start_day), self._start_day + self._days):
            row = doc.rows[d % self._days]
            for s in range(start if d == day else 0, self._units):
                taken_len = self._candidate(row, s, length, channel, entitled)
                if taken_len:
                    return Slot(d, s, doctor_id, taken_len)
        return None

    def earliest(
        self,
        k: int,
        *,
        specialty_id: int | None = None,
        clinic_ids: Iterable[int] | None = None,
        first_day: int | None = None,
        last_day: int | None = None,
        length: int | None = None,
        channel: int,
        entitled: int = 0,
        now: float | None = None,
        first_unit: int = 0,
    ) -> list[Slot]:
        """The ``k`` earliest slots over the doctors of a specialty and/or clinics.

        Ordered by (day, start, doctor_id). Days are clipped to the window.

        ``first_unit`` (0..``units_per_day``, else InvalidUnit): on ``first_day`` (the
        window's first day when None) only slots starting at or after that unit count,
        e.g. the unit of "now" so that no slot already begun today is offered; later days
        are whole. ``units_per_day`` leaves nothing on ``first_day``. Like ``find``'s
        ``start``, it applies to the day asked for: a ``first_day`` before the window
        is not in it, so then it has no effect.
        """
        if k < 1:
            raise InvalidArgument(f"k must be at least 1, got {k}")
        self._check_query(length, channel, entitled)
        chk.check_first_unit(first_unit, self._units)
        clinics = None if clinic_ids is None else set(clinic_ids)
        self._advance(now)
        doctors = [
            doc
            for doc in self._doctors.values()
            if (specialty_id is None or doc.specialty_id == specialty_id)
            and (clinics is None or doc.clinic_id in clinics)
        ]
        first = self._start_day if first_day is None else max(first_day, self._start_day)
        last = self.last_day if last_day is None else min(last_day, self.last_day)
        from_day = self._start_day if first_day is None else first_day  # first_unit's day
        found: list[Slot] = []
        for d in range(first, last + 1):
            today = []
            for doc in doctors:
                row = doc.rows[d % self._days]
                for s in range(first_unit if d == from_day else 0, self._units):
                    taken_len = self._candidate(row, s, length, channel, entitled)
                    if taken_len:
                        today.append(Slot(d, s, doc.doctor_id, taken_len))
            found.extend(sorted(today))
            if len(found) >= k:
                break
        return found[:k]

    def count_free(
        self,
        *,
        doctor_id: int | None = None,
        clinic_id: int | None = None,
        first_day: int | None = None,
        last_day: int | None = None,
        channel: int = CHANNEL_MASK,
        entitled: int = ENTITLED_ALL,
        now: float | None = None,
        first_unit: int = 0,
    ) -> list[int]:
        """Free slots (as ``find`` with length None counts them) per day, first..last.

        On ``first_day`` (the window's first day when None) only slots starting at or
        after ``first_unit`` (0..``units_per_day``, else InvalidUnit) count.
        """
        if (doctor_id is None) == (clinic_id is None):
            raise InvalidArgument("count_free takes exactly one of doctor_id, clinic_id")
        if doctor_id is not None:
            doctors = [self._doctor(doctor_id)]
        else:
            doctors = [doc for doc in self._doctors.values() if doc.clinic_id == clinic_id]
        first = self._start_day if first_day is None else first_day
        last = self.last_day if last_day is None else last_day
        self._check_day(first)
        self._check_day(last)
        if first > last:
            raise InvalidArgument(f"first_day {first} is after last_day {last}")
        self._check_query(None, channel, entitled)
        chk.check_first_unit(first_unit, self._units)
        self._advance(now)
        return [
            sum(
                1
                for doc in doctors
                for s in range(first_unit if d == first else 0, self._units)
                if self._candidate(doc.rows[d % self._days], s, None, channel, entitled)
            )
            for d in range(first, last + 1)
        ]

    # -- allocation --------------------------------------------------------------------
    def hold(
        self,
        doctor_id: int,
        day: int,
        start: int,
        length: int,
        token: str,
        expires_at: float,
        *,
        channel: int,
        entitled: int = 0,
        now: float | None = None,
    ) -> None:
        """Hold units for a booking in progress, until ``expires_at`` (caller's seconds)."""
        doc = self._doctor(doctor_id)
        chk.check_span(start, length, self._units)
        self._check_query(length, channel, entitled)
        chk.check_token(token)
        expires_at = chk.check_time("expires_at", expires_at)
        self._advance(now)
        if expires_at <= self._clock:
            raise InvalidArgument(f"expires_at {expires_at} is not after clock {self._clock}")
        if token in self._holds:
            raise DuplicateHold(f"token {token!r} already holds a slot")
        self._take(doc, day, start, length, channel, entitled, HELD)
        self._holds[token] = HoldInfo(token, doctor_id, day, start, length, expires_at)
        heapq.heappush(self._expiries, (expires_at, token))

    def book(
        self,
        doctor_id: int,
        day: int,
        start: int,
        length: int,
        *,
        channel: int,
        entitled: int = 0,
        now: float | None = None,
    ) -> None:
        """Book units straight away (the registrar's path, or a rebuild from the database)."""
        doc = self._doctor(doctor_id)
        chk.check_span(start, length, self._units)
        self._check_query(length, channel, entitled)
        self._advance(now)
        self._take(doc, day, start, length, channel, entitled, BOOKED)

    def confirm(
        self, doctor_id: int, day: int, start: int, token: str, now: float | None = None
    ) -> int:
        """Turn the hold ``token`` on (doctor, day, start) into a booking; return its length."""
        doc = self._doctor(doctor_id)
        chk.check_unit(start, self._units)
        hold = self._live_hold(token, now)
        if not self._in_window(day):
            raise Refused(Reason.OUTSIDE_WINDOW, f"day {day}")
        row = doc.rows[day % self._days]
        if hold is None:
            if row.state[start] == HELD:
                raise Refused(Reason.WRONG_TOKEN, "the slot is held under another token")
            raise Refused(Reason.NOT_HELD, f"no hold {token!r}")
        if (hold.doctor_id, hold.day, hold.start) != (doctor_id, day, start):
            raise Refused(Reason.WRONG_TOKEN, f"token {token!r} holds another slot")
        del self._holds[token]
        row.state[start : start + hold.length] = bytes([BOOKED]) * hold.length
        return hold.length

    def release_hold(self, token: str, now: float | None = None) -> HoldInfo:
        """Cancel a live hold and free its units."""
        hold = self._live_hold(token, now)
        if hold is None:
            raise Refused(Reason.NOT_HELD, f"no hold {token!r}")
        self._free_hold(hold)
        return hold

    def release(self, doctor_id: int, day: int, start: int, now: float | None = None) -> int:
        """Cancel the appointment that starts at (day, start); return its length."""
        doc = self._doctor(doctor_id)
        chk.check_unit(start, self._units)
        self._advance(now)
        if not self._in_window(day):
            raise Refused(Reason.OUTSIDE_WINDOW, f"day {day}")
        row = doc.rows[day % self._days]
        if row.state[start] != BOOKED or not row.starts[start]:
            raise Refused(Reason.NOT_BOOKED, f"no appointment starts at unit {start}")
        end = start + 1
        while end < self._units and row.state[end] == BOOKED and not row.starts[end]:
            end += 1
        row.state[start:end] = bytes(end - start)
        row.starts[start] = 0
        return end - start

    def expire(self, now: float) -> int:
        """Advance the clock to ``now`` and free expired holds; return how many."""
        return self._advance(chk.check_time("now", now))

    def apply(self, event: object) -> bool:
        """Apply a replica event (see ``scheduler_core.events``); True if state changed."""
        from ._replica import apply_event

        return apply_event(self, event)

    # -- inspection --------------------------------------------------------------------
    def day_states(self, doctor_id: int, day: int) -> bytes:
        """Per unit: flags.CLOSED, FREE, HELD or BOOKED."""
        row = self._build_row(self._doctor(doctor_id), day)
        view = bytes(row.state).translate(_VIEW)
        return bytes(0 if f == 0 else v for f, v in zip(row.flags, view, strict=True))

    def day_flags(self, doctor_id: int, day: int) -> bytes:
        """Per unit: the slot flags byte (0 closed; SLOT_START marks a slot's first unit)."""
        return bytes(self._build_row(self._doctor(doctor_id), day).flags)

    def appointments(self, doctor_id: int, day: int) -> list[tuple[int, int]]:
        """Booked appointments of a doctor-day as (start, length)."""
        row = self._build_row(self._doctor(doctor_id), day)
        out: list[tuple[int, int]] = []
        for u in range(self._units):
            if row.state[u] == BOOKED:
                if row.starts[u] or not out or out[-1][0] + out[-1][1] != u:
                    out.append((u, 1))
                else:
                    out[-1] = (out[-1][0], out[-1][1] + 1)
        return out

    def holds(self) -> list[HoldInfo]:
        return [self._holds[t] for t in sorted(self._holds)]

    def hold_info(self, token: str) -> HoldInfo | None:
        return self._holds.get(token)

    def holder(self, doctor_id: int, day: int, unit: int) -> str | None:
        """The token of the hold covering a unit, if any."""
        for hold in self._holds.values():
            if (
                hold.doctor_id == doctor_id
                and hold.day == day
                and hold.start <= unit < hold.start + hold.length
            ):
                return hold.token
        return None

    # -- snapshot ----------------------------------------------------------------------
    def snapshot(self) -> bytes:
        docs = list(self._doctors.values())
        rows = [row for doc in docs for row in doc.rows]
        nbytes = (self._units + 7) // 8
        header = _snapshot.Header(
            self._start_day,
            self._days,
            self._units,
            self._unit_minutes,
            self._day_begins,
            len(docs),
            len(self._holds),
            self._clock,
        )
        index = {doc.doctor_id: i for i, doc in enumerate(docs)}
        holds = [
            (h.token, index[h.doctor_id], h.day, h.start, h.length, h.expires_at)
            for h in self._holds.values()
        ]
        parts: list[bytes | bytearray] = [_snapshot.pack_header(header)]
        for attr in ("doctor_id", "clinic_id", "specialty_id"):
            parts += [getattr(doc, attr).to_bytes(8, "little", signed=True) for doc in docs]
        parts += [row.flags for row in rows]
        for table, source in ((_BUSY, "state"), (_HELD, "state"), (_START, "starts")):
            parts += [_pack_bits(getattr(row, source).translate(table), nbytes) for row in rows]
        parts.append(_snapshot.pack_holds(holds))
        return b"".join(parts)

    @classmethod
    def restore(cls, data: bytes) -> Calendar:
        header, layout, holds = _snapshot.parse(data)
        cal = cls(
            header.start_day,
            header.days,
            header.unit_minutes,
            header.day_begins,
            header.units_per_day,
        )
        cal._clock = header.clock
        n, units, nbytes = layout.n, layout.units, layout.row_bytes
        ids = [
            int.from_bytes(
                data[layout.doctors_at + 8 * i : layout.doctors_at + 8 * i + 8],
                "little",
                signed=True,
            )
            for i in range(3 * n)
        ]
        nrows = n * header.days

        def bits(at: int, r: int) -> bytes:
            return _unpack_bits(data[at + r * nbytes : at + (r + 1) * nbytes], units)

        for i in range(n):
            if ids[i] in cal._doctors:
                raise SnapshotError(f"duplicate doctor {ids[i]} in snapshot")
            rows = []
            for p in range(header.days):
                r = i * header.days + p
                row = _Row(units)
                row.flags[:] = data[layout.flags_at + r * units : layout.flags_at + (r + 1) * units]
                busy, held = bits(layout.busy_at, r), bits(layout.held_at, r)
                # FREE=0, BOOKED=1, HELD=2 is exactly busy + held (bytes of 0/1, no carry)
                row.state[:] = (int.from_bytes(busy, "big") + int.from_bytes(held, "big")).to_bytes(
                    units, "big"
                )
                row.starts[:] = bits(layout.starts_at, r)
                rows.append(row)
            cal._doctors[ids[i]] = _Doctor(ids[i], ids[n + i], ids[2 * n + i], rows)
        assert nrows == n * header.days
        docs = list(cal._doctors.values())
        for token, idx, day, start, length, expires in holds:
            cal._holds[token] = HoldInfo(token, docs[idx].doctor_id, day, start, length, expires)
            heapq.heappush(cal._expiries, (expires, token))
        return cal

    # -- internals ---------------------------------------------------------------------
    def _doctor(self, doctor_id: int) -> _Doctor:
        doc = self._doctors.get(doctor_id)
        if doc is None:
            raise UnknownDoctor(doctor_id)
        return doc

    def _in_window(self, day: int) -> bool:
        return self._start_day <= day < self._start_day + self._days

    def _check_day(self, day: int) -> None:
        if not self._in_window(day):
            raise DayOutsideWindow(
                f"day {day} is outside the window {self._start_day}..{self.last_day}"
            )

    def _build_row(self, doc: _Doctor, day: int) -> _Row:
        self._check_day(day)
        return doc.rows[day % self._days]

    def _check_query(self, length: int | None, channel: int, entitled: int) -> None:
        if length is not None:
            chk.check_span(0, length, self._units)
        chk.check_channel(channel)
        chk.check_entitled(entitled)

    def _mid_slot(self, row: _Row, u: int) -> bool:
        """True if unit ``u`` is open but not the first unit of its slot."""
        return u < self._units and row.flags[u] != 0 and not row.flags[u] & SLOT_START

    def _slot_length(self, row: _Row, s: int) -> int:
        end = s + 1
        while end < self._units and row.flags[end] and not row.flags[end] & SLOT_START:
            end += 1
        return end - s

    def _refusal(
        self, row: _Row, start: int, length: int, channel: int, entitled: int
    ) -> Reason | None:
        units = range(start, start + length)
        flags = [row.flags[u] for u in units]
        if not all(flags):
            return Reason.CLOSED
        if not flags[0] & SLOT_START or self._mid_slot(row, start + length):
            return Reason.MISALIGNED
        if not all(f & channel for f in flags):
            return Reason.CHANNEL_NOT_ALLOWED
        if any(f & REFERRAL_BIT for f in flags) and not entitled & REFERRAL_BIT:
            return Reason.REFERRAL_REQUIRED
        if any(f & URGENT_BIT for f in flags) and not entitled & URGENT_BIT:
            return Reason.URGENT_ONLY
        if any(row.state[u] != FREE for u in units):
            return Reason.TAKEN
        return None

    def _candidate(self, row: _Row, s: int, length: int | None, channel: int, entitled: int) -> int:
        """The length the caller could take from ``s`` (0: nothing starts there)."""
        if not row.flags[s] & SLOT_START or row.state[s] != FREE:
            return 0
        n = self._slot_length(row, s) if length is None else length
        if s + n > self._units or self._refusal(row, s, n, channel, entitled) is not None:
            return 0
        return n

    def _take(
        self,
        doc: _Doctor,
        day: int,
        start: int,
        length: int,
        channel: int,
        entitled: int,
        state: int,
    ) -> None:
        if not self._in_window(day):
            raise Refused(Reason.OUTSIDE_WINDOW, f"day {day}")
        row = doc.rows[day % self._days]
        reason = self._refusal(row, start, length, channel, entitled)
        if reason is not None:
            raise Refused(reason, f"doctor {doc.doctor_id} day {day} units {start}+{length}")
        row.state[start : start + length] = bytes([state]) * length
        row.starts[start] = 1

    def _live_hold(self, token: str, now: float | None) -> HoldInfo | None:
        """Advance the clock; the hold ``token`` if live, Refused(hold_expired) if it was."""
        chk.check_token(token)
        hold = self._holds.get(token)
        self._advance(now)
        if hold is not None and token not in self._holds:
            raise Refused(Reason.HOLD_EXPIRED, f"hold {token!r} expired at {hold.expires_at}")
        return hold

    def _advance(self, now: float | None) -> int:
        if now is not None:
            now = chk.check_time("now", now)
            if now > self._clock:
                self._clock = now
        freed = 0
        while self._expiries and self._expiries[0][0] <= self._clock:
            _, token = heapq.heappop(self._expiries)
            hold = self._holds.get(token)
            if hold is not None and hold.expires_at <= self._clock:
                self._free_hold(hold)
                freed += 1
        return freed

    def _free_hold(self, hold: HoldInfo) -> None:
        del self._holds[hold.token]
        row = self._doctors[hold.doctor_id].rows[hold.day % self._days]
        row.state[hold.start : hold.start + hold.length] = bytes(hold.length)
        row.starts[hold.start] = 0


def _pack_bits(digits: bytes, nbytes: int) -> bytes:
    """b"0110..." (one ASCII digit per unit) -> bitmap, unit u at byte u>>3 bit u&7."""
    return int(digits[::-1], 2).to_bytes(nbytes, "little") if digits else b""


def _unpack_bits(bitmap: bytes, units: int) -> bytes:
    """Bitmap -> one byte 0/1 per unit."""
    digits = format(int.from_bytes(bitmap, "little"), f"0{len(bitmap) * 8}b")[::-1]
    return digits[:units].encode().translate(_DIGITS)
