"""The earliest free slots a patient can book from a channel: at the attached clinic
for primary care, else at the clinics offering the specialty nearest to it."""

from __future__ import annotations

import asyncpg

from imias.booking import search
from imias.registry import Specialty
from imias.booking.engine import Engine
from imias.booking.model import CHANNEL_BITS, Channel

NEAR_CLINICS = 10
ATTACHED_CLINIC = "SELECT attached_clinic_id FROM patients WHERE id = $1"


async def bookable_clinics(
    pool: asyncpg.Pool, engine: Engine, patient: int, specialty: Specialty
) -> list[int] | None:
    """Where the patient may book the specialty (None: anywhere in the city)."""
    attached = await pool.fetchval(ATTACHED_CLINIC, patient)
    clinic = engine.directory.clinics.get(attached) if attached else None
    if specialty.attached_only:
        return [clinic.id] if clinic else []
    if clinic is None:
        return None
    near = engine.directory.nearest_offering(clinic.lat, clinic.lon, specialty.id, NEAR_CLINICS)
    return [c.id for _, c in near]


async def earliest_for(
    pool: asyncpg.Pool,
    engine: Engine,
    patient: int,
    specialty: Specialty,
    k: int,
    channel: Channel,
) -> list[search.FreeSlot]:
    clinics = await bookable_clinics(pool, engine, patient, specialty)
    if clinics is not None and not clinics:
        return []
    first, last = search.window(engine, None, None)
    return search.earliest(
        engine,
        k,
        specialty_id=specialty.id,
        clinic_ids=clinics,
        first=first,
        last=last,
        channel=CHANNEL_BITS[channel],
    )
