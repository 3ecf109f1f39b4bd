"""The end-of-run audit of the database: what a load run must never leave behind.

- no two active appointments (held, booked, arrived) of one doctor overlap;
- every appointment a confirm answered with exists, was booked (not a hold, not
  expired), and is not cancelled unless the run itself cancelled or moved it;
- no hold outlives its expiry by more than the sweeper's grace;
- the outbox is drained (every event published).

Each check gives a count of offending rows and a few examples; the run passes when
every count is zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import asyncpg

HOLD_GRACE_SECONDS = 120  # the hold sweeper runs every few seconds; this is well beyond

SQL_OVERLAPS = """
SELECT a.clinic_id, a.doctor_id, a.id AS first, b.id AS second
  FROM appointments a
  JOIN appointments b
    ON b.clinic_id = a.clinic_id AND b.doctor_id = a.doctor_id AND b.id > a.id
   AND b.starts_at < a.ends_at AND a.starts_at < b.ends_at
 WHERE a.status IN ('held', 'booked', 'arrived')
   AND b.status IN ('held', 'booked', 'arrived')
   AND (a.status <> 'held' OR a.hold_expires_at > now())
   AND (b.status <> 'held' OR b.hold_expires_at > now())
 LIMIT 20
"""
SQL_STALE_HOLDS = """
SELECT id, hold_expires_at
  FROM appointments
 WHERE status = 'held' AND hold_expires_at < now() - make_interval(secs => $1)
 LIMIT 20
"""
SQL_CONFIRMED = """
SELECT id, status FROM appointments WHERE id = ANY($1::bigint[])
"""
SQL_OUTBOX = """
SELECT count(*) AS pending, min(id) AS first FROM event_outbox WHERE published_at IS NULL
"""
BOOKED_STATES = ("booked", "arrived", "completed", "no_show", "cancelled")


async def audit(
    database_url: str, confirmed: Iterable[int] = (), released: Iterable[int] = ()
) -> dict[str, Any]:
    """The checks' results: ``{"passed": bool, "checks": {name: {...}}}``.
    ``confirmed``: ids a confirm (or booking) answered with; ``released``: those of them
    the run cancelled or rescheduled away, or asked to and stopped before the answer."""
    confirmed_ids = sorted(set(confirmed))
    released_ids = set(released)
    conn = await asyncpg.connect(database_url)
    try:
        overlaps = await conn.fetch(SQL_OVERLAPS)
        stale = await conn.fetch(SQL_STALE_HOLDS, HOLD_GRACE_SECONDS)
        found = {r["id"]: r["status"] for r in await conn.fetch(SQL_CONFIRMED, confirmed_ids)}
        outbox = await conn.fetchrow(SQL_OUTBOX)
        assert outbox is not None  # count(*) without GROUP BY returns one row
    finally:
        await conn.close()
    missing = [i for i in confirmed_ids if i not in found]
    not_booked = [i for i, status in found.items() if status not in BOOKED_STATES]
    lost = [i for i, s in found.items() if s == "cancelled" and i not in released_ids]
    bad_confirms = missing + not_booked + lost
    checks = {
        "no_overlaps": {
            "count": len(overlaps),
            "examples": [dict(r) for r in overlaps[:5]],
        },
        "confirmed_are_booked": {
            "count": len(bad_confirms),
            "checked": len(confirmed_ids),
            "missing": missing[:5],
            "not_booked": not_booked[:5],
            "cancelled_by_nobody": lost[:5],
        },
        "no_stale_holds": {
            "count": len(stale),
            "examples": [r["id"] for r in stale[:5]],
        },
        "outbox_drained": {"count": outbox["pending"], "first": outbox["first"]},
    }
    return {"passed": all(c["count"] == 0 for c in checks.values()), "checks": checks}


async def wait_for_outbox(database_url: str, patience: float = 20.0) -> int:
    """Give the outbox relay a moment after the load stops; the events still pending."""
    import asyncio
    import time

    deadline = time.monotonic() + patience
    conn = await asyncpg.connect(database_url)
    try:
        while True:
            row = await conn.fetchrow(SQL_OUTBOX)
            assert row is not None  # count(*) without GROUP BY returns one row
            pending: int = row["pending"]
            if pending == 0 or time.monotonic() > deadline:
                return pending
            await asyncio.sleep(0.5)
    finally:
        await conn.close()
