"""The city's pharmacies as the other domains read them (a pharmacist's account names
its pharmacy by id)."""

from __future__ import annotations

import msgspec

from imias.platform.db import Executor

PHARMACY = "SELECT id, name, address, district, subsidised FROM pharmacies WHERE id = $1"


class Pharmacy(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    name: str
    address: str
    district: str
    subsidised: bool  # a city pharmacy: may dispense drugs given free under a benefit


async def pharmacy(pool: Executor, pharmacy_id: int) -> Pharmacy | None:
    row = await pool.fetchrow(PHARMACY, pharmacy_id)
    return None if row is None else Pharmacy(**dict(row))
