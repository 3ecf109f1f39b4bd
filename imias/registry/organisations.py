"""The schools (and clubs) and the ambulance stations, as the other domains read them: a
school nurse's account names her school by id, an ambulance crew's its station."""

from __future__ import annotations

from typing import Literal

import msgspec

from imias.platform.db import Executor

SCHOOL = "SELECT id, name, kind, address, district FROM schools WHERE id = $1"
SCHOOLS = """
SELECT id, name, kind, address, district FROM schools
 WHERE ($1::text IS NULL OR name ILIKE '%' || $1 || '%' OR district ILIKE '%' || $1 || '%')
 ORDER BY id LIMIT $2
"""
STATION = "SELECT id, name, address, district FROM ambulance_stations WHERE id = $1"


class School(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    kind: Literal["school", "club"]
    address: str
    district: str


class AmbulanceStation(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    address: str
    district: str


async def school(pool: Executor, school_id: int) -> School | None:
    row = await pool.fetchrow(SCHOOL, school_id)
    return None if row is None else School(**dict(row))


async def schools(pool: Executor, query: str | None = None, limit: int = 50) -> list[School]:
    """Schools and clubs whose name or district holds ``query`` (all, without one)."""
    rows = await pool.fetch(SCHOOLS, query or None, limit)
    return [School(**dict(r)) for r in rows]


async def station(pool: Executor, station_id: int) -> AmbulanceStation | None:
    row = await pool.fetchrow(STATION, station_id)
    return None if row is None else AmbulanceStation(**dict(row))
