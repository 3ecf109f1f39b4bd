"""Events for ``Calendar.apply``: the replica path.

Each event states a fact the database has already decided. They are frozen msgspec
Structs in a tagged union (field ``"type"``) with explicit, stable tags: renaming a
class never breaks a queued or stored message. New fields must get defaults.
"""

from __future__ import annotations

from typing import Union

import msgspec


class DoctorAdded(msgspec.Struct, frozen=True, tag="doctor_added"):
    doctor_id: int
    clinic_id: int
    specialty_id: int


class SlotsOpened(msgspec.Struct, frozen=True, tag="slots_opened"):
    doctor_id: int
    day: int
    start: int
    length: int
    flags: int
    count: int = 1


class SlotsClosed(msgspec.Struct, frozen=True, tag="slots_closed"):
    doctor_id: int
    day: int
    start: int
    length: int


class SlotHeld(msgspec.Struct, frozen=True, tag="slot_held"):
    token: str
    doctor_id: int
    day: int
    start: int
    length: int
    expires_at: float


class HoldConfirmed(msgspec.Struct, frozen=True, tag="hold_confirmed"):
    token: str
    doctor_id: int
    day: int
    start: int
    length: int


class HoldReleased(msgspec.Struct, frozen=True, tag="hold_released"):
    token: str


class SlotBooked(msgspec.Struct, frozen=True, tag="slot_booked"):
    doctor_id: int
    day: int
    start: int
    length: int


class SlotReleased(msgspec.Struct, frozen=True, tag="slot_released"):
    doctor_id: int
    day: int
    start: int


class WindowShifted(msgspec.Struct, frozen=True, tag="window_shifted"):
    start_day: int


Event = Union[  # noqa: UP007 - msgspec wants a typing Union object here
    DoctorAdded,
    SlotsOpened,
    SlotsClosed,
    SlotHeld,
    HoldConfirmed,
    HoldReleased,
    SlotBooked,
    SlotReleased,
    WindowShifted,
]

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Event)


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(data: bytes | str) -> Event:
    return _decoder.decode(data)
