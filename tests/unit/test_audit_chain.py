"""The audit chain's hash covers every field of a record and its place; the sign-in
backoff doubles up to its ceiling."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from imias.identity.ratelimit import ACCOUNT, Limit, lock_seconds
from imias.platform.audit.chain import FIELDS, GENESIS, canonical, record_hash

RECORD = {
    "id": 7,
    "at": datetime(2026, 11, 27, 9, 30, 0, 123456, tzinfo=UTC),
    "actor_id": 12,
    "actor_role": "registrar",
    "actor_org": 3,
    "acting_for": 1001,
    "action": "book",
    "resource": "appointment",
    "resource_id": "55",
    "patient_id": 1001,
    "break_glass": False,
    "reason": None,
    "request_id": "req-00000001",
    "client_addr": "10.0.0.7",
}


def test_the_hash_changes_with_any_field_and_with_the_place():
    base = record_hash(GENESIS, RECORD, 1)
    assert len(base) == 32
    for field in FIELDS:
        if field == "at":
            changed = RECORD[field] + timedelta(microseconds=1)
        elif isinstance(RECORD[field], bool):
            changed = not RECORD[field]
        elif isinstance(RECORD[field], int):
            changed = RECORD[field] + 1
        else:
            changed = (RECORD[field] or "") + "x"
        assert record_hash(GENESIS, {**RECORD, field: changed}, 1) != base, field
    assert record_hash(GENESIS, RECORD, 2) != base
    assert record_hash(base, RECORD, 1) != base


def test_the_same_instant_in_another_zone_hashes_the_same():
    moscow = RECORD["at"].astimezone(timezone(timedelta(hours=3)))
    assert canonical({**RECORD, "at": moscow}, 1) == canonical(RECORD, 1)


@pytest.mark.parametrize(
    ("failures", "seconds"),
    [(1, 0), (5, 0), (6, 30), (7, 60), (8, 120), (9, 240), (10, 480), (11, 900), (40, 900)],
    ids=lambda v: str(v),
)
def test_locks_begin_after_the_free_failures_and_double_up_to_the_ceiling(failures, seconds):
    assert ACCOUNT == Limit(free=5, window=900, base=30, most=900)
    assert lock_seconds(failures, ACCOUNT) == seconds
