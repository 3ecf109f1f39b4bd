"""Aggregates made again from the sources for some days: the visits' load and no-shows,
the waits in the clinic (the job, for today and yesterday, every few minutes; the
rebuild, for the history), the bookings made and their channels (the rebuild only: the
workers count today's as they happen, :class:`imias.booking.Outcomes`), and one sample
of the earliest free slots from a worker's engine (the job).

Each function writes in the caller's transaction and returns how many rows it wrote."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from imias.booking import CHANNEL_BITS, ENTITLED_BY_REFERRAL, Engine, expand_each, search
from imias.platform.db import Connection
from insights import aggregate
from insights import repository as repo
from insights.model import WAIT_BUCKETS

#: Instants around local days: a clinic in another zone than the city's is still read
#: (the statements keep the clinic's own local day).
_MARGIN = timedelta(hours=14)
#: How far ahead of the day it was made a booking may be (the rebuild reads the visits of
#: the days up to this far after the last day made).
BOOKING_HORIZON_DAYS = 62


def bounds(first: date, last: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    """Instants covering the local days ``first``..``last`` in any zone near ``zone``."""
    since = datetime.combine(first, time(0), tzinfo=zone).astimezone(UTC) - _MARGIN
    until = datetime.combine(last + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return since, until + _MARGIN


async def refresh_visits(conn: Connection, first: date, last: date, zone: ZoneInfo) -> int:
    """The days' load rows: offered (the schedules expanded) and booked minutes,
    appointments, no-shows and cancellations per clinic and specialty."""
    since, until = bounds(first, last, zone)
    templates, exceptions, doctors = await repo.schedules(conn, first, last)
    days = (last - first).days + 1
    # Expanding the city's schedules is a second or two of Python: on the loop in slices,
    # so that the worker's requests go on meanwhile (imias.platform.slices).
    offered: Counter[tuple[date, int, int]] = Counter()
    async for doctor, blocks in expand_each(templates, exceptions, first, days):
        offered.update(aggregate.offered_minutes({doctor: blocks}, doctors))
    rows: dict[tuple[date, int, int], list[int]] = {
        key: [minutes, 0, 0, 0, 0] for key, minutes in offered.items()
    }
    for r in await repo.visits(conn, since, until, first, last):
        row = rows.setdefault((r["day"], r["clinic_id"], r["specialty_id"]), [0, 0, 0, 0, 0])
        row[1:] = [r["booked_minutes"], r["appointments"], r["no_shows"], r["cancelled"]]
    records = [(*key, *values) for key, values in rows.items()]
    await repo.replace_load(conn, first, last, records)
    return len(records)


async def refresh_waits(conn: Connection, first: date, last: date, zone: ZoneInfo) -> int:
    """The days' wait histograms per clinic."""
    since, until = bounds(first, last, zone)
    histograms: dict[tuple[date, int], list[int]] = {}
    for r in await repo.waits(conn, since, until, first, last):
        h = histograms.setdefault((r["day"], r["clinic_id"]), [0] * WAIT_BUCKETS)
        h[r["minute"]] += r["visits"]
    records = [(day, clinic, sum(h), h) for (day, clinic), h in histograms.items()]
    await repo.replace_waits(conn, first, last, records)
    return len(records)


async def rebuild_bookings(
    conn: Connection,
    first: date,
    last: date,
    zone: ZoneInfo,
    progress: object | None = None,
) -> int:
    """The bookings made on the days (and their channels), counted from the appointments
    made then, read one day of visits at a time (``progress(day)`` after each)."""
    made_since, made_until = bounds(first, last, zone)
    bookings: Counter[tuple[date, int, int]] = Counter()
    soon: Counter[tuple[date, int, int]] = Counter()
    channels: Counter[tuple[date, int, str]] = Counter()
    end = last + timedelta(days=BOOKING_HORIZON_DAYS)
    day = first
    while day <= end:
        # One local day of visits; the first and the last take the margins too (a clinic
        # in another zone), so that every visit is read once.
        since = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
        until = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
        if day == first:
            since -= _MARGIN
        if day == end:
            until += _MARGIN
        for r in await repo.bookings_made(conn, since, until, made_since, made_until, first, last):
            key = (r["day"], r["clinic_id"], r["specialty_id"])
            bookings[key] += r["made"]
            if r["soon"]:
                soon[key] += r["made"]
            channels[(r["day"], r["clinic_id"], r["channel"])] += r["made"]
        if callable(progress):
            progress(day)
        day += timedelta(days=1)
    await repo.replace_bookings(
        conn,
        first,
        last,
        [(*key, n, soon[key]) for key, n in bookings.items()],
        [(*key, n) for key, n in channels.items()],
    )
    return len(bookings) + len(channels)


async def sample_earliest(conn: Connection, engine: Engine, now: datetime | None = None) -> int:
    """One sample: for every clinic and specialty it offers, the days from today to the
    earliest free slot a patient could book on the web (with a referral where the
    specialty needs one); the districts' from their clinics'. Yields to the event loop
    between clinics (the engine answers in microseconds, but there are thousands)."""
    now = now or datetime.now(UTC)
    today = engine.today()
    first, last = search.window(engine, None, None)
    directory = engine.directory
    web = CHANNEL_BITS["web"]
    found: dict[tuple[int, int], int | None] = {}
    for i, (clinic_id, doctors) in enumerate(sorted(directory.doctors_of_clinic.items())):
        for specialty_id in sorted({d.specialty_id for d in doctors}):
            specialty = directory.specialties[specialty_id]
            slots = search.earliest(
                engine,
                1,
                specialty_id=specialty_id,
                clinic_ids=[clinic_id],
                first=first,
                last=last,
                channel=web,
                now=now,
                entitled=0 if specialty.self_referral else ENTITLED_BY_REFERRAL,
            )
            found[(clinic_id, specialty_id)] = (
                aggregate.days_ahead(slots[0].starts_at.astimezone(engine.zone).date(), today)
                if slots
                else None
            )
        if i % 50 == 49:
            await asyncio.sleep(0)
    districts = {c.id: c.district for c in directory.clinics.values()}
    await repo.add_earliest(conn, today, found, aggregate.district_earliest(found, districts))
    return len(found)
