"""The hash chain: what a record's hash covers, and how it is computed.

``hash = SHA-256(prev_hash || canonical(record, seal_seq))`` where ``canonical`` is the
JSON array of the record's fields in a fixed order (times as UTC ISO 8601 with
microseconds). The first record's ``prev_hash`` is 32 zero bytes. The sealer and
``imias audit verify`` both use :func:`record_hash`, so they cannot disagree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC
from typing import Any

import asyncpg
import msgspec

GENESIS = bytes(32)

FIELDS = (
    "id",
    "at",
    "actor_id",
    "actor_role",
    "actor_org",
    "acting_for",
    "action",
    "resource",
    "resource_id",
    "patient_id",
    "break_glass",
    "reason",
    "request_id",
    "client_addr",
)

_encode = msgspec.json.Encoder()

#: A record's fields by name: a database row, or a mapping of the same names.
Row = Mapping[str, Any] | asyncpg.Record


def canonical(row: Row, seal_seq: int) -> bytes:
    values: list[Any] = [seal_seq]
    for name in FIELDS:
        value = row[name]
        if name == "at":
            value = value.astimezone(UTC).isoformat(timespec="microseconds")
        values.append(value)
    return _encode.encode(values)


def record_hash(prev_hash: bytes, row: Row, seal_seq: int) -> bytes:
    return hashlib.sha256(prev_hash + canonical(row, seal_seq)).digest()
