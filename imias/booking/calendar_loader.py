"""Build a worker's engine from the database: schedules (less the public holidays) minus
active appointments.

This is the start-up path of DESIGN.md ("at start a worker rebuilds its core from
the database"). The engine works in each clinic's local wall time: day = the local
date's ordinal, unit = (local minute - ``day_begins``) / ``unit_minutes``. Working
time outside the calendar's hours and appointments that do not sit on the engine's
slots are counted in the report, not silently dropped: the database stays the
arbiter for them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg

import scheduler_core
from imias.booking import repository
from imias.booking.schedules import ScheduleException, Template, expand_each, to_local
from imias.booking.slot_layout import Geometry, run_of
from imias.platform.db import Connection
from imias.platform.slices import Slices
from imias.registry import Directory
from scheduler_core import Channel, SchedulerError
from scheduler_core.flags import ENTITLED_ALL

__all__ = ["Geometry", "LoadReport", "load_calendar"]

log = logging.getLogger("imias.booking.calendar")


@dataclass
class LoadReport:
    doctors: int = 0
    slots: int = 0
    appointments: int = 0
    clipped_blocks: int = 0
    unplaced_appointments: int = 0
    seconds: float = 0.0


async def load_calendar(
    conn: Connection,
    first_day: date,
    geometry: Geometry | None = None,
    calendar_class: type[scheduler_core.Calendar] | None = None,
    directory: Directory | None = None,
) -> tuple[scheduler_core.Calendar, LoadReport]:
    """A calendar of ``geometry.days`` local days from ``first_day``, with every active
    doctor's working time opened as slots and every active appointment booked.

    The rows are read here; the calendar is built on the event loop a few milliseconds
    at a time (:mod:`imias.platform.slices`; in a thread it held the GIL against the
    worker's requests), so that a worker keeps answering while a city-sized engine is
    built at midnight."""
    geometry = geometry or Geometry()
    began = time.perf_counter()
    last_day = first_day + timedelta(days=geometry.days - 1)
    if directory is None:
        directory = await Directory.load(conn)
    doctors = [
        {
            "id": d.id,
            "clinic_id": d.clinic_id,
            "specialty_id": d.specialty_id,
            "slot_minutes": d.slot_minutes,
            "self_referral": directory.specialties[d.specialty_id].self_referral,
            "time_zone": directory.clinics[d.clinic_id].time_zone,
        }
        for d in sorted(directory.doctors.values(), key=lambda d: d.id)
    ]
    templates = await repository.templates_in_window(conn, first_day, last_day)
    exceptions = await repository.exceptions_in_window(conn, first_day, last_day)
    holidays = await repository.holidays_between(conn, first_day, last_day)
    since = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC) - timedelta(days=1)
    until = since + timedelta(days=geometry.days + 2)
    appointments = await repository.active_appointments_between(conn, since, until)
    cal, report = await _build(
        first_day,
        geometry,
        calendar_class or scheduler_core.Calendar,
        doctors,
        templates,
        exceptions,
        appointments,
        holidays,
    )
    report.seconds = time.perf_counter() - began
    log.info(
        "engine loaded: %d doctors, %d slots, %d appointments in %.2fs",
        report.doctors,
        report.slots,
        report.appointments,
        report.seconds,
        extra={
            "clipped_blocks": report.clipped_blocks,
            "unplaced_appointments": report.unplaced_appointments,
        },
    )
    return cal, report


async def _build(
    first_day: date,
    geometry: Geometry,
    cls: type[scheduler_core.Calendar],
    doctors: list[dict[str, Any]],
    template_rows: list[asyncpg.Record],
    exception_rows: list[asyncpg.Record],
    appointments: list[asyncpg.Record],
    holidays: set[date] | None = None,
) -> tuple[scheduler_core.Calendar, LoadReport]:
    last_day = first_day + timedelta(days=geometry.days - 1)
    cal = cls(
        first_day.toordinal(),
        days=geometry.days,
        unit_minutes=geometry.unit_minutes,
        day_begins=geometry.day_begins,
        units_per_day=geometry.units_per_day,
    )
    report = LoadReport()
    slices = Slices()  # built on the loop, a few ms at a time (see imias.platform.slices)
    templates = []
    for r in template_rows:
        templates.append(Template(**dict(r)))
        await slices.pause()
    exceptions = [ScheduleException(**dict(r)) for r in exception_rows]
    days, off = geometry.days, holidays or set()
    blocks = {d: b async for d, b in expand_each(templates, exceptions, first_day, days, off)}
    zones: dict[int, ZoneInfo] = {}
    for doctor in doctors:
        await slices.pause()
        doctor_id = doctor["id"]
        cal.add_doctor(doctor_id, doctor["clinic_id"], doctor["specialty_id"])
        zones[doctor_id] = ZoneInfo(doctor["time_zone"])  # instances are cached by key
        report.doctors += 1
        needs_referral = not doctor["self_referral"]
        for block in blocks.get(doctor_id, ()):
            run, clipped = run_of(block, doctor["slot_minutes"], geometry, needs_referral)
            report.clipped_blocks += clipped
            if run is None:
                continue
            cal.open(doctor_id, run.day, run.start, run.length, run.flags, run.count)
            report.slots += run.count
    now = time.time()
    for row in appointments:
        await slices.pause()
        zone = zones.get(row["doctor_id"])
        if zone is None:
            report.unplaced_appointments += 1
            continue
        day, minute = to_local(row["starts_at"], zone)
        if not first_day <= day <= last_day:
            continue
        minutes = int((row["ends_at"] - row["starts_at"]).total_seconds() // 60)
        where = (
            row["doctor_id"],
            day.toordinal(),
            geometry.unit_of(minute),
            minutes // geometry.unit_minutes,
        )
        try:
            if row["status"] == "held":  # a live hold stays a hold, under its token
                expires = row["hold_expires_at"].timestamp()
                if expires <= now:
                    continue
                cal.hold(
                    *where,
                    str(row["hold_token"]),
                    expires,
                    channel=int(Channel.ANY),
                    entitled=ENTITLED_ALL,
                    now=now,
                )
            else:
                cal.book(*where, channel=int(Channel.ANY), entitled=ENTITLED_ALL)
            report.appointments += 1
        except SchedulerError as exc:
            report.unplaced_appointments += 1
            log.warning("appointment %s not placed in the engine: %s", row["id"], exc)
    return cal, report
