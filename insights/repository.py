"""The only place that runs the dashboard's SQL (:mod:`insights.queries`): reading the
sources by time range, writing the aggregates, reading the figures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date, datetime
from typing import Any

import asyncpg

from imias.booking import Drained, ScheduleException, Template
from imias.platform.db import Connection
from insights import queries as q

Executor = Connection | asyncpg.Pool
Row = asyncpg.Record


# -- the sources --------------------------------------------------------------------------


async def visits(
    conn: Executor, since: datetime, until: datetime, first: date, last: date
) -> list[Row]:
    return await conn.fetch(q.VISITS, since, until, first, last)


async def waits(
    conn: Executor, since: datetime, until: datetime, first: date, last: date
) -> list[Row]:
    return await conn.fetch(q.WAITS, since, until, first, last)


async def bookings_made(
    conn: Executor,
    visits_since: datetime,
    visits_until: datetime,
    made_since: datetime,
    made_until: datetime,
    first: date,
    last: date,
) -> list[Row]:
    return await conn.fetch(
        q.BOOKINGS_MADE, visits_since, visits_until, made_since, made_until, first, last
    )


async def schedules(
    conn: Executor, first: date, last: date
) -> tuple[list[Template], list[ScheduleException], dict[int, tuple[int, int]]]:
    """The templates and exceptions of the days, and each active doctor's (clinic,
    specialty)."""
    templates = [Template(**dict(r)) for r in await conn.fetch(q.TEMPLATES, first, last)]
    exceptions = [ScheduleException(**dict(r)) for r in await conn.fetch(q.EXCEPTIONS, first, last)]
    doctors = {r["id"]: (r["clinic_id"], r["specialty_id"]) for r in await conn.fetch(q.DOCTORS)}
    return templates, exceptions, doctors


async def clinics(conn: Executor) -> list[Row]:
    return await conn.fetch(q.CLINICS)


async def specialties(conn: Executor) -> list[Row]:
    return await conn.fetch(q.SPECIALTIES)


# -- the aggregates -----------------------------------------------------------------------

#: pg_advisory_xact_lock key of a replacement of days' rows: the job and a rebuild (or two
#: rebuilds) replace them one after the other, never both at once.
REPLACE_LOCK_KEY = 0x1A1A5_1D5B1


async def _serialised(conn: Connection) -> None:
    await conn.execute(q.REPLACE_LOCK, REPLACE_LOCK_KEY)


async def replace_load(
    conn: Connection, first: date, last: date, rows: Sequence[tuple[Any, ...]]
) -> None:
    """The days' load rows, instead of those there were (in the caller's transaction)."""
    await _serialised(conn)
    await conn.execute(q.DELETE_LOAD, first, last)
    await conn.copy_records_to_table(
        "insight_load",
        records=rows,
        columns=(
            "day",
            "clinic_id",
            "specialty_id",
            "offered_minutes",
            "booked_minutes",
            "appointments",
            "no_shows",
            "cancelled",
        ),
    )


async def replace_waits(
    conn: Connection, first: date, last: date, rows: Sequence[tuple[date, int, int, list[int]]]
) -> None:
    await _serialised(conn)
    await conn.execute(q.DELETE_WAITS, first, last)
    await conn.copy_records_to_table(
        "insight_waits", records=rows, columns=("day", "clinic_id", "visits", "minutes")
    )


async def replace_bookings(
    conn: Connection,
    first: date,
    last: date,
    bookings: Sequence[tuple[date, int, int, int, int]],
    channels: Sequence[tuple[date, int, str, int]],
) -> None:
    await _serialised(conn)
    await conn.execute(q.DELETE_BOOKINGS, first, last)
    await conn.execute(q.DELETE_CHANNELS, first, last)
    await conn.copy_records_to_table(
        "insight_bookings",
        records=bookings,
        columns=("day", "clinic_id", "specialty_id", "made", "same_or_next"),
    )
    await conn.copy_records_to_table(
        "insight_channels", records=channels, columns=("day", "clinic_id", "channel", "made")
    )


async def add_outcomes(conn: Connection, drained: Drained) -> None:
    """Add a worker's counts (:class:`imias.booking.Outcomes`) to the days' rows."""
    bookings: dict[tuple[date, int, str], list[int]] = {}
    channels: dict[tuple[date, int, str], int] = {}
    for (day, clinic, specialty, channel, ahead), n in drained.booked.items():
        counts = bookings.setdefault((day, clinic, specialty), [0, 0])
        counts[0] += n
        if ahead <= 1:
            counts[1] += n
        channels[(day, clinic, channel)] = channels.get((day, clinic, channel), 0) + n
    if bookings:
        keys = list(bookings)
        await conn.execute(
            q.ADD_BOOKINGS,
            [k[0] for k in keys],
            [k[1] for k in keys],
            [k[2] for k in keys],
            [bookings[k][0] for k in keys],
            [bookings[k][1] for k in keys],
        )
        ckeys = list(channels)
        await conn.execute(
            q.ADD_CHANNELS,
            [k[0] for k in ckeys],
            [k[1] for k in ckeys],
            [k[2] for k in ckeys],
            [channels[k] for k in ckeys],
        )
    if drained.refused:
        rkeys = list(drained.refused)
        await conn.execute(
            q.ADD_REFUSALS,
            [k[0] for k in rkeys],
            [k[1] for k in rkeys],
            [k[2] for k in rkeys],
            [drained.refused[k] for k in rkeys],
        )


async def add_earliest(
    conn: Connection,
    day: date,
    clinics: dict[tuple[int, int], int | None],
    districts: dict[tuple[str, int], int | None],
) -> None:
    """One sample of the earliest free slot (days ahead, None: none in the window)."""
    ck = list(clinics)
    await conn.execute(
        q.ADD_EARLIEST, day, [k[0] for k in ck], [k[1] for k in ck], [clinics[k] for k in ck]
    )
    dk = list(districts)
    await conn.execute(
        q.ADD_DISTRICT_EARLIEST,
        day,
        [k[0] for k in dk],
        [k[1] for k in dk],
        [districts[k] for k in dk],
    )


async def ran(conn: Executor, kind: str, at: datetime, detail: str = "") -> None:
    await conn.execute(q.RAN, kind, at, detail)


async def runs(conn: Executor) -> dict[str, datetime]:
    return {r["kind"]: r["ran_at"] for r in await conn.fetch(q.RUNS)}


# -- the figures --------------------------------------------------------------------------


@asynccontextmanager
async def reading(pool: asyncpg.Pool) -> AsyncIterator[Connection]:
    """A connection for reading figures, in a read-only transaction whose statements are
    planned for their values. The figures' statements have optional filters
    (``$3 IS NULL OR clinic_id = $3``): the generic plan a prepared statement falls back
    to after five runs cannot know which are given, and its join of the whole city's rows
    took seconds instead of tens of milliseconds."""
    async with pool.acquire() as conn, conn.transaction(readonly=True):
        await conn.execute(q.CUSTOM_PLANS)
        yield conn


async def figure(conn: Executor, query: str, scope: tuple[Any, ...]) -> list[Row]:
    """One figure's rows: ``query`` is one of the reading queries of :mod:`.queries`,
    ``scope`` (first, last, clinic, district, specialty)."""
    return await conn.fetch(query, *scope)
