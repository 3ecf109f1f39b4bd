"""Small value types returned by both implementations."""

from __future__ import annotations

from typing import NamedTuple


class Slot(NamedTuple):
    """A bookable span: ``day`` (ordinal), ``start`` unit, ``doctor_id``, ``length`` units.

    Tuples order by (day, start, doctor_id): the order of ``earliest``.
    """

    day: int
    start: int
    doctor_id: int
    length: int


class HoldInfo(NamedTuple):
    token: str
    doctor_id: int
    day: int
    start: int
    length: int
    expires_at: float
