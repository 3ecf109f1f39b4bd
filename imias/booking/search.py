"""Search answered by the engine: free slots, and the nearest clinics with free time.

The engine works in local wall time (day ordinal, unit); answers leave here as UTC
instants plus the clinic's local time. A slot that has already begun today is never
offered. Patient channels search without entitlements: referral-only and urgent
slots are for those who hold a referral or are sent by the registrar.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import msgspec

from imias.booking.engine import Engine
from imias.booking.model import CHANNEL_BITS, Channel
from imias.booking.schedules import to_utc
from imias.platform.bounds import day_param
from imias.platform.db import Executor
from imias.platform.problems import ProblemError
from imias.registry import Clinic, Directory, Specialty, patients
from scheduler_core import Calendar, Slot
from scheduler_core.flags import REFERRAL_BIT

NEAR_CLINICS = 10  # a search "near me" looks at this many nearest clinics
#: What a patient with a referral for the specialty may also see (``entitled``).
ENTITLED_BY_REFERRAL: int = REFERRAL_BIT


class FreeSlot(msgspec.Struct, frozen=True):
    doctor_id: int
    doctor_name: str
    clinic_id: int
    clinic_name: str
    specialty: str
    room: str | None
    starts_at: datetime
    ends_at: datetime
    local_start: str  # the clinic's wall time, e.g. "2026-11-30T08:15"


class ClinicWithTime(msgspec.Struct, frozen=True):
    id: int
    name: str
    address: str
    district: str
    kind: str
    lat: float
    lon: float
    distance_km: float
    earliest: FreeSlot | None


def ready(engine: Engine) -> Calendar:
    """The engine's calendar; 503 ``engine_loading`` while it loads."""
    if engine.calendar is None:
        raise ProblemError(
            503,
            "engine_loading",
            "The schedule is being loaded; try again in a few seconds.",
            headers={"Retry-After": "2"},
        )
    return engine.calendar


def window(engine: Engine, first: date | None, last: date | None) -> tuple[date, date]:
    """The requested days clamped to the engine's window; 400 when nothing is left."""
    assert engine.first_day is not None
    day_param(first, "from")
    day_param(last, "to")
    today = engine.today()
    begin = max(first or today, today, engine.first_day)
    end = min(last or date.max, engine.first_day + timedelta(days=engine.geometry.days - 1))
    if first and last and last < first:
        raise ProblemError(400, "invalid_range", "'to' is before 'from'.")
    if begin > end:
        raise ProblemError(
            400,
            "outside_window",
            f"Appointments can be searched from {today.isoformat()} to {end.isoformat()}.",
        )
    return begin, end


def to_free_slot(engine: Engine, slot: Slot) -> FreeSlot:
    card = engine.directory.card(slot.doctor_id)
    g = engine.geometry
    minute = g.day_begins + slot.start * g.unit_minutes
    starts, local_start = slot_instant(slot.day, minute, card.time_zone)
    ends = starts + timedelta(minutes=slot.length * g.unit_minutes)
    return FreeSlot(
        doctor_id=card.doctor_id,
        doctor_name=card.doctor_name,
        clinic_id=card.clinic_id,
        clinic_name=card.clinic_name,
        specialty=card.specialty,
        room=card.room,
        starts_at=starts,
        ends_at=ends,
        local_start=local_start,
    )


@functools.lru_cache(maxsize=1 << 16)
def slot_instant(day: int, minute: int, time_zone: str) -> tuple[datetime, str]:
    """The UTC instant and the local "YYYY-MM-DDTHH:MM" of local day (ordinal) + minute;
    a few thousand distinct ones a fortnight, so remembered."""
    zone = ZoneInfo(time_zone)
    starts = to_utc(date.fromordinal(day), minute, zone)
    return starts, starts.astimezone(zone).strftime("%Y-%m-%dT%H:%M")


def earliest(
    engine: Engine,
    k: int,
    *,
    specialty_id: int | None,
    clinic_ids: Sequence[int] | None,
    first: date,
    last: date,
    channel: int,
    now: datetime | None = None,
    entitled: int = 0,
) -> list[FreeSlot]:
    """The ``k`` earliest free slots, none of which has begun. ``entitled``: the
    restricted slots (referral, urgent) the caller may see."""
    cal = ready(engine)
    now = now or datetime.now(UTC)
    raw = cal.earliest(
        k,
        specialty_id=specialty_id,
        clinic_ids=clinic_ids,
        first_day=first.toordinal(),
        last_day=last.toordinal(),
        length=None,
        channel=channel,
        entitled=entitled,
        first_unit=first_unit(engine, first, now),
    )
    # first_unit is computed in the city's zone; a clinic in another zone could still
    # have a slot that has begun: never offer one.
    return [s for s in map(lambda r: to_free_slot(engine, r), raw) if s.starts_at > now]


def first_unit(engine: Engine, day: date, now: datetime) -> int:
    """The first unit of ``day`` whose slots have not begun at ``now``."""
    g = engine.geometry
    local = now.astimezone(engine.zone)
    if local.date() < day:
        return 0
    if local.date() > day:
        return g.units_per_day
    minutes = local.hour * 60 + local.minute + (local.second + local.microsecond / 1e6) / 60
    unit = math.floor((minutes - g.day_begins) / g.unit_minutes) + 1
    return min(max(unit, 0), g.units_per_day)


def nearest_clinics(
    engine: Engine,
    lat: float,
    lon: float,
    *,
    specialty_id: int,
    limit: int,
    first: date,
    last: date,
    channel: int,
    entitled: int = 0,
) -> list[ClinicWithTime]:
    """The ``limit`` nearest clinics that have doctors of the specialty, each with its
    earliest free slot (or none in the window); ``entitled`` as for :func:`earliest`."""
    directory: Directory = engine.directory
    answer: list[ClinicWithTime] = []
    for distance, clinic in directory.nearest_offering(lat, lon, specialty_id, limit):
        slots = earliest(
            engine,
            1,
            specialty_id=specialty_id,
            clinic_ids=[clinic.id],
            first=first,
            last=last,
            channel=channel,
            entitled=entitled,
        )
        answer.append(_with_time(clinic, distance, slots[0] if slots else None))
    return answer


def _with_time(clinic: Clinic, distance: float, slot: FreeSlot | None) -> ClinicWithTime:
    return ClinicWithTime(
        id=clinic.id,
        name=clinic.name,
        address=clinic.address,
        district=clinic.district,
        kind=clinic.kind,
        lat=clinic.lat,
        lon=clinic.lon,
        distance_km=round(distance, 2),
        earliest=slot,
    )


def doctor_slots(
    engine: Engine,
    doctor_id: int,
    k: int,
    *,
    first: date,
    last: date,
    channel: int,
    now: datetime | None = None,
    entitled: int = 0,
) -> list[FreeSlot]:
    """The ``k`` earliest free slots of one doctor, none of which has begun; ``entitled``
    as for :func:`earliest`."""
    cal = ready(engine)
    if doctor_id not in engine.directory.doctors or not cal.has_doctor(doctor_id):
        raise ProblemError(404, "unknown_doctor", f"There is no doctor {doctor_id}.")
    now = now or datetime.now(UTC)
    found: list[FreeSlot] = []
    day, units = first.toordinal(), engine.geometry.units_per_day
    start = first_unit(engine, first, now)
    while len(found) < k:
        if start >= units:
            day, start = day + 1, 0
        if day > last.toordinal():
            break
        slot = cal.find(doctor_id, day, start, None, channel=channel, entitled=entitled)
        if slot is None or slot.day > last.toordinal():
            break
        day, start = slot.day, slot.start + slot.length
        free = to_free_slot(engine, slot)
        if free.starts_at > now:
            found.append(free)
    return found


async def bookable_clinics(
    conn: Executor, engine: Engine, patient: int, specialty: Specialty
) -> list[int] | None:
    """Where the patient may book the specialty: at the attached clinic for primary care,
    else at the clinics offering it nearest to the attached one (None: anywhere)."""
    attached = await patients.attached_clinic(conn, patient)
    clinic = engine.directory.clinics.get(attached) if attached else None
    if specialty.attached_only:
        return [clinic.id] if clinic else []
    if clinic is None:
        return None
    near = engine.directory.nearest_offering(clinic.lat, clinic.lon, specialty.id, NEAR_CLINICS)
    return [c.id for _, c in near]


async def earliest_for(
    conn: Executor,
    engine: Engine,
    patient: int,
    specialty: Specialty,
    k: int,
    channel: Channel,
) -> list[FreeSlot]:
    """The earliest free slots the patient can book from a channel (see
    :func:`bookable_clinics`)."""
    clinics = await bookable_clinics(conn, engine, patient, specialty)
    if clinics is not None and not clinics:
        return []
    first, last = window(engine, None, None)
    return earliest(
        engine,
        k,
        specialty_id=specialty.id,
        clinic_ids=clinics,
        first=first,
        last=last,
        channel=CHANNEL_BITS[channel],
    )
