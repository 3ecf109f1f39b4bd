"""The Monday opening: the newest day of the schedule, the popular doctors who work it,
and the check that the race took every one of their times exactly once.

A new day of slots opens (the last day of the engine's window) and patients race for
the times of the popular doctors on that day. The race is over when none of those
doctors has a free web time left on it. At the end:

- every time taken exactly once: none of the raced doctors has a free web time left on
  the day (so each time was taken at least once), and the audit's overlap check finds
  no two active appointments on one time (so none was taken twice);
- what was taken is counted: booked (confirmed) and still held (a hold whose patient
  was stopped between hold and confirm when the run ended).
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request
from datetime import date, timedelta
from typing import Any

import asyncpg

from loadtest.served import ServeError

WEB = 1  # the web channel's bit (imias.booking.model.CHANNEL_BITS)

# The specialty any adult may book at any clinic with the most doctors (the therapist
# is booked at one's own clinic only, so a city-wide race is for such a specialty), and
# its doctors who work ``$1`` with web times: a weekly template on its weekday open to
# the web, and no whole-day leave or sick day.
SQL_WORKING = """
WITH open AS (
    SELECT s.id
      FROM specialties s JOIN doctors d ON d.specialty_id = s.id AND d.active
     WHERE s.self_referral AND NOT s.attached_only AND s.sex IS NULL
       AND s.min_age <= 18 AND s.max_age >= 120
     GROUP BY s.id
     ORDER BY count(*) DESC, s.id
     LIMIT 1
)
SELECT d.id, d.clinic_id
  FROM doctors d JOIN open ON open.id = d.specialty_id
 WHERE d.active
   AND EXISTS (
        SELECT 1 FROM schedule_templates t
         WHERE t.clinic_id = d.clinic_id AND t.doctor_id = d.id
           AND t.weekday = extract(isodow FROM $1::date)
           AND t.channels & $3 <> 0
           AND t.valid_from <= $1 AND (t.valid_to IS NULL OR t.valid_to >= $1))
   AND NOT EXISTS (
        SELECT 1 FROM schedule_exceptions x
         WHERE x.clinic_id = d.clinic_id AND x.doctor_id = d.id AND x.day = $1
           AND x.kind IN ('leave', 'sick') AND x.starts IS NULL)
 ORDER BY d.id
 LIMIT $2
"""

# What the race left on the day, by status (held or booked; appointments are in local
# days of their clinic's zone).
SQL_TAKEN = """
SELECT a.status, count(*) AS n
  FROM appointments a JOIN clinics c ON c.id = a.clinic_id
 WHERE a.doctor_id = ANY($1::bigint[])
   AND (a.starts_at AT TIME ZONE c.time_zone)::date = $2
   AND a.status IN ('held', 'booked', 'arrived')
 GROUP BY a.status
"""


def _get(url: str, timeout: float = 10.0) -> Any:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def newest_day(url: str) -> date:
    """The last day of the served engine's window: the day that has just opened.
    :class:`ServeError` when the server does not answer that it is healthy."""
    try:
        engine = _get(url.rstrip("/") + "/health")["engine_details"]
    except (OSError, ValueError, KeyError) as exc:  # refused, 503, not IMIAS's answer
        raise ServeError(f"the server at {url} does not say it is healthy ({exc})") from None
    return date.fromisoformat(engine["first_day"]) + timedelta(days=int(engine["days"]) - 1)


async def _choose(database_url: str, last: date, count: int) -> tuple[date, list[int]]:
    best: tuple[date, list[int]] = (last, [])
    conn = await asyncpg.connect(database_url)
    try:
        for back in range(7):
            day = last - timedelta(days=back)
            doctors = [r["id"] for r in await conn.fetch(SQL_WORKING, day, count, WEB)]
            if len(doctors) > len(best[1]):
                best = (day, doctors)
            if len(doctors) >= count:
                break
    finally:
        await conn.close()
    return best


def choose(url: str, database_url: str, count: int) -> tuple[date, list[int]]:
    """The opening day and its popular doctors (up to ``count`` of the open specialty
    who work it with web times): the newest day of the window, or the latest day before
    it on which most of the doctors asked for work (a Sunday opens with few)."""
    import asyncio

    return asyncio.run(_choose(database_url, newest_day(url), count))


def slots_query(doctor: int, day: date, limit: int) -> dict[str, Any]:
    """The search a racing patient makes: one doctor's web times on the opening day."""
    day_text = day.isoformat()
    return {"doctor": doctor, "from": day_text, "to": day_text, "channel": "web", "limit": limit}


def free_times(url: str, doctor: int, day: date) -> list[dict[str, Any]]:
    query = urllib.parse.urlencode(slots_query(doctor, day, 50))
    times: list[dict[str, Any]] = _get(f"{url.rstrip('/')}/api/v1/slots?{query}")
    return times


async def check(url: str, database_url: str, day: date, doctors: list[int]) -> dict[str, Any]:
    """``count`` is the number of raced doctors with a free web time left on the day
    (0 when every time was taken; the overlap check of the audit says none twice)."""
    import asyncio

    left = {}
    for doctor in doctors:
        free = await asyncio.to_thread(free_times, url, doctor, day)
        if free:
            left[doctor] = len(free)
    conn = await asyncpg.connect(database_url)
    try:
        taken = {r["status"]: r["n"] for r in await conn.fetch(SQL_TAKEN, doctors, day)}
    finally:
        await conn.close()
    return {
        "count": len(left),
        "day": day.isoformat(),
        "doctors": len(doctors),
        "times_taken": sum(taken.values()),
        "booked": taken.get("booked", 0) + taken.get("arrived", 0),
        "held": taken.get("held", 0),
        "doctors_with_free_times": dict(list(left.items())[:5]),
    }
