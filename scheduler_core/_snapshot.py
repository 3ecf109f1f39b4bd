"""The snapshot format, shared by both implementations (so either restores the other's).

Little-endian, one contiguous buffer::

    header   magic "IMSC", u16 version, u16 reserved, i64 start_day, u32 days,
             u32 units_per_day, u32 unit_minutes, u32 day_begins, u32 n_doctors,
             u32 n_holds, f64 clock
    doctors  i64[n] doctor ids, i64[n] clinic ids, i64[n] specialty ids (insertion order)
    flags    u8[n][days][units]      slot flags per unit, 0 = closed (see flags.py)
    busy     u8[n][days][bytes]      bitmap: held or booked      (bytes = ceil(units/8),
    held     u8[n][days][bytes]      bitmap: held                 bit u = byte u>>3,
    starts   u8[n][days][bytes]      bitmap: first unit of a hold or appointment  bit u&7)
    holds    n_holds x (u32 doctor index, i64 day, u16 start, u16 length, f64 expires_at,
             u16 token length, token utf-8), sorted by token

Rows are stored by ring position ``day % days``, so the bytes are canonical: two
calendars with the same observable state give equal snapshots.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import SnapshotError

MAGIC = b"IMSC"
VERSION = 1
HEADER = struct.Struct("<4sHHqIIIIIId")
HOLD = struct.Struct("<IqHHdH")


@dataclass(frozen=True, slots=True)
class Layout:
    n: int
    days: int
    units: int

    @property
    def row_bytes(self) -> int:
        return (self.units + 7) // 8

    @property
    def doctors_at(self) -> int:
        return HEADER.size

    @property
    def flags_at(self) -> int:
        return HEADER.size + 24 * self.n

    @property
    def busy_at(self) -> int:
        return self.flags_at + self.n * self.days * self.units

    @property
    def held_at(self) -> int:
        return self.busy_at + self.n * self.days * self.row_bytes

    @property
    def starts_at(self) -> int:
        return self.held_at + self.n * self.days * self.row_bytes

    @property
    def holds_at(self) -> int:
        return self.starts_at + self.n * self.days * self.row_bytes


@dataclass(frozen=True, slots=True)
class Header:
    start_day: int
    days: int
    units_per_day: int
    unit_minutes: int
    day_begins: int
    n_doctors: int
    n_holds: int
    clock: float


def pack_header(h: Header) -> bytes:
    return HEADER.pack(
        MAGIC,
        VERSION,
        0,
        h.start_day,
        h.days,
        h.units_per_day,
        h.unit_minutes,
        h.day_begins,
        h.n_doctors,
        h.n_holds,
        h.clock,
    )


def pack_holds(holds: list[tuple[str, int, int, int, int, float]]) -> bytes:
    """``holds``: (token, doctor index, day, start, length, expires_at) in any order."""
    out = []
    for token, idx, day, start, length, expires in sorted(holds):
        raw = token.encode()
        out.append(HOLD.pack(idx, day, start, length, expires, len(raw)))
        out.append(raw)
    return b"".join(out)


def parse(data: bytes) -> tuple[Header, Layout, list[tuple[str, int, int, int, int, float]]]:
    """Check ``data`` and return its header, layout and holds; raise SnapshotError."""
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SnapshotError("a snapshot is bytes")
    data = bytes(data) if not isinstance(data, bytes) else data
    if len(data) < HEADER.size:
        raise SnapshotError("snapshot too short")
    magic, version, _, start_day, days, units, minutes, begins, n, n_holds, clock = (
        HEADER.unpack_from(data, 0)
    )
    if magic != MAGIC:
        raise SnapshotError("not a scheduler_core snapshot")
    if version != VERSION:
        raise SnapshotError(f"snapshot version {version}, this engine reads {VERSION}")
    header = Header(start_day, days, units, minutes, begins, n, n_holds, clock)
    if not (1 <= days <= 366 and 1 <= units <= 4096 and minutes >= 1):
        raise SnapshotError("snapshot header out of range")
    layout = Layout(n, days, units)
    pos = layout.holds_at
    if len(data) < pos:
        raise SnapshotError("snapshot truncated")
    holds = []
    try:
        for _ in range(n_holds):
            idx, day, start, length, expires, size = HOLD.unpack_from(data, pos)
            pos += HOLD.size
            token = data[pos : pos + size].decode()
            if len(token.encode()) != size:
                raise SnapshotError("snapshot truncated in holds")
            pos += size
            if not (
                idx < n
                and start_day <= day < start_day + days
                and length >= 1
                and start + length <= units
            ):
                raise SnapshotError(f"hold {token!r} out of range")
            holds.append((token, idx, day, start, length, expires))
    except (struct.error, UnicodeDecodeError) as exc:
        raise SnapshotError(f"snapshot holds unreadable: {exc}") from None
    if pos != len(data):
        raise SnapshotError("trailing bytes after snapshot")
    if len({h[0] for h in holds}) != len(holds):
        raise SnapshotError("duplicate hold token in snapshot")
    return header, layout, holds


def state_digest(snapshot: bytes) -> str:
    """A digest of what a snapshot holds, leaving out the header's clock (the last field):
    replicas that hold the same state differ only in when they last looked at the time."""
    import hashlib

    return hashlib.sha256(snapshot[: HEADER.size - 8] + snapshot[HEADER.size :]).hexdigest()
