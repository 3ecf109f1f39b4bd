"""``Calendar.apply``: the replica path, written once over the public API of either
implementation (it is not on the hot path: a handful of events per second per worker).

An event states a fact the database has already decided, so apply() brings the core in
line with it rather than re-deciding:

* re-applying an event that is already reflected is a no-op and returns False
  (at-least-once delivery from the Redis stream is fine);
* channel and entitlement checks are skipped (the primary made them);
* a hold or booking over units held under another token drops that hold (the database
  chose this one); a day no longer in the window is ignored (returns False);
* a contradiction that cannot be reconciled (units closed or booked by another
  appointment, an unknown doctor) raises as the operation would: the replica is out of
  step and should rebuild from the database or a snapshot.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import events as ev
from .errors import DuplicateDoctor, InvalidArgument
from .flags import CHANNEL_MASK, ENTITLED_ALL, SLOT_START

if TYPE_CHECKING:
    # Either implementation is passed; the checker sees the reference, the specification
    # (as everywhere: see scheduler_core/__init__.py).
    from .reference import Calendar


def apply_event(cal: Calendar, event: object) -> bool:
    match event:
        case ev.DoctorAdded(doctor_id, clinic_id, specialty_id):
            if cal.has_doctor(doctor_id):
                if cal.doctor(doctor_id) == (clinic_id, specialty_id):
                    return False
                raise DuplicateDoctor(f"doctor {doctor_id} exists with other attributes")
            cal.add_doctor(doctor_id, clinic_id, specialty_id)
            return True
        case ev.SlotsOpened(doctor_id, day, start, length, flags, count):
            if not _in_window(cal, day) or not cal.has_doctor(doctor_id):
                return _absent(cal, doctor_id)
            if count >= 1 and length >= 1 and start >= 0:
                current = cal.day_flags(doctor_id, day)[start : start + length * count]
                wanted = bytes(
                    flags | (SLOT_START if i % length == 0 else 0) for i in range(length * count)
                )
                if current == wanted:
                    return False
            cal.open(doctor_id, day, start, length, flags, count)
            return True
        case ev.SlotsClosed(doctor_id, day, start, length):
            if not _in_window(cal, day) or not cal.has_doctor(doctor_id):
                return _absent(cal, doctor_id)
            if (
                length >= 1
                and start >= 0
                and not any(cal.day_flags(doctor_id, day)[start : start + length])
            ):
                return False
            cal.close(doctor_id, day, start, length)
            return True
        case ev.SlotHeld(token, doctor_id, day, start, length, expires_at):
            held = cal.hold_info(token)
            if held is not None and held[1:5] == (doctor_id, day, start, length):
                return False
            if expires_at <= cal.clock or not _in_window(cal, day):
                return _absent(cal, doctor_id)
            if held is not None:
                cal.release_hold(token)
            _drop_holds(cal, doctor_id, day, start, length)
            cal.hold(
                doctor_id,
                day,
                start,
                length,
                token,
                expires_at,
                channel=CHANNEL_MASK,
                entitled=ENTITLED_ALL,
            )
            return True
        case ev.HoldConfirmed(token, doctor_id, day, start, length):
            held = cal.hold_info(token)
            if held is not None and held[1:5] == (doctor_id, day, start, length):
                cal.confirm(doctor_id, day, start, token)
                return True
            if held is not None:
                cal.release_hold(token)
            return _book(cal, doctor_id, day, start, length) or held is not None
        case ev.SlotBooked(doctor_id, day, start, length):
            return _book(cal, doctor_id, day, start, length)
        case ev.SlotReleased(doctor_id, day, start):
            if not _in_window(cal, day) or not cal.has_doctor(doctor_id):
                return _absent(cal, doctor_id)
            if not any(s == start for s, _ in cal.appointments(doctor_id, day)):
                return False
            cal.release(doctor_id, day, start)
            return True
        case ev.HoldReleased(token):
            if cal.hold_info(token) is None:
                return False
            cal.release_hold(token)
            return True
        case ev.WindowShifted(start_day):
            if start_day <= cal.start_day:
                return False
            cal.shift_window(start_day - cal.start_day)
            return True
    raise InvalidArgument(f"not a scheduler_core event: {event!r}")


def _in_window(cal: Calendar, day: int) -> bool:
    return cal.start_day <= day <= cal.last_day


def _absent(cal: Calendar, doctor_id: int) -> bool:
    """Nothing to do for an event outside the window; an unknown doctor still raises."""
    cal.doctor(doctor_id)
    return False


def _drop_holds(cal: Calendar, doctor_id: int, day: int, start: int, length: int) -> None:
    for unit in range(max(start, 0), min(start + length, cal.units_per_day)):
        token = cal.holder(doctor_id, day, unit)
        if token is not None:
            cal.release_hold(token)


def _book(cal: Calendar, doctor_id: int, day: int, start: int, length: int) -> bool:
    if not _in_window(cal, day):
        return _absent(cal, doctor_id)
    if (start, length) in cal.appointments(doctor_id, day):
        return False
    _drop_holds(cal, doctor_id, day, start, length)
    cal.book(doctor_id, day, start, length, channel=CHANNEL_MASK, entitled=ENTITLED_ALL)
    return True
