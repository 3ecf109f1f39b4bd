"""Where a requested slot sits: a doctor and an instant placed against the directory and
this worker's engine (the day, the unit, the slot's flags), the facts the rules read of
it, and the engine's fast refusal of time it already knows taken. No SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from imias.booking.engine import Engine
from imias.booking.model import (
    CHANNEL_BITS,
    Channel,
    DoctorFacts,
    RefusalCode,
    SlotFacts,
    SpecialtyFacts,
    refuse,
)
from imias.booking.schedules import to_local
from imias.platform.problems import ProblemError
from imias.registry import Clinic, Doctor
from scheduler_core import SchedulerError
from scheduler_core.flags import CHANNEL_MASK, REFERRAL_BIT, SLOT_START, URGENT_BIT


def slot_units(flags: bytes, unit: int) -> int:
    """The length in units of the slot that starts at ``unit`` of a day's flags: up to the
    next slot's start or closed time (a template may carry its own visit length, so the
    engine's slots, not the doctor's default, say how long a visit is)."""
    end = unit + 1
    while end < len(flags) and flags[end] and not flags[end] & SLOT_START:
        end += 1
    return end - unit


@dataclass(frozen=True)
class Placed:
    """A slot request resolved against the directory and the engine."""

    doctor: Doctor
    clinic: Clinic
    specialty: SpecialtyFacts
    zone: ZoneInfo
    starts_at: datetime
    ends_at: datetime
    day: int  # engine day (local date ordinal)
    unit: int
    length: int
    flags: int


class Placement:
    """Places slot requests with this worker's engine and its directory."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def place(self, doctor_id: int, starts_at: datetime) -> Placed:
        """A new booking's slot: refused when the doctor or the time is not bookable."""
        cal = self.engine.calendar
        directory = self.engine.directory
        if cal is None:
            raise ProblemError(
                503, "engine_loading", "The schedule is being loaded.", headers={"Retry-After": "2"}
            )
        doctor = directory.doctors.get(doctor_id)
        if doctor is None or not cal.has_doctor(doctor_id):
            raise refuse(RefusalCode.NOT_FOUND, f"There is no doctor {doctor_id}.")
        clinic = directory.clinics[doctor.clinic_id]
        spec = directory.specialties[doctor.specialty_id]
        specialty = SpecialtyFacts(
            id=spec.id,
            code=spec.code,
            self_referral=spec.self_referral,
            attached_only=spec.attached_only,
            min_age=spec.min_age,
            max_age=spec.max_age,
            sex=spec.sex,
        )
        zone = ZoneInfo(clinic.time_zone)
        if starts_at.second or starts_at.microsecond:
            raise refuse(RefusalCode.OUTSIDE_SCHEDULE, "Slots start on whole minutes.")
        if starts_at.tzinfo is None:
            raise ProblemError(400, "validation_error", "starts_at needs a time zone offset.")
        local_day, minute = to_local(starts_at, zone)
        g = self.engine.geometry
        day = local_day.toordinal()
        unit, rest = divmod(minute - g.day_begins, g.unit_minutes)
        if not cal.start_day <= day <= cal.last_day:
            raise refuse(RefusalCode.OUTSIDE_SCHEDULE, "That day is outside the booking window.")
        flags = length = 0
        if rest == 0 and 0 <= unit < g.units_per_day:
            row = cal.day_flags(doctor_id, day)
            flags, length = row[unit], slot_units(row, unit)
        if not flags & SLOT_START:
            raise refuse(RefusalCode.OUTSIDE_SCHEDULE)
        starts = starts_at.astimezone(UTC)
        return Placed(
            doctor,
            clinic,
            specialty,
            zone,
            starts,
            starts + timedelta(minutes=length * g.unit_minutes),
            day,
            unit,
            length,
            flags,
        )

    def existing(self, row: Any) -> Placed | None:
        """Where an existing appointment row sits in the engine; None when its doctor is
        no longer in the directory (deactivated): then there is no engine slot to free."""
        directory = self.engine.directory
        doctor = directory.doctors.get(row["doctor_id"])
        if doctor is None:
            return None
        clinic = directory.clinics[doctor.clinic_id]
        zone = ZoneInfo(clinic.time_zone)
        local_day, minute = to_local(row["starts_at"], zone)
        g = self.engine.geometry
        spec = directory.specialties[doctor.specialty_id]
        specialty = SpecialtyFacts(id=spec.id, code=spec.code, self_referral=spec.self_referral)
        return Placed(
            doctor,
            clinic,
            specialty,
            zone,
            row["starts_at"],
            row["ends_at"],
            local_day.toordinal(),
            (minute - g.day_begins) // g.unit_minutes,
            int((row["ends_at"] - row["starts_at"]).total_seconds()) // 60 // g.unit_minutes,
            0,
        )

    @staticmethod
    def slot_facts(p: Placed) -> SlotFacts:
        return SlotFacts(
            doctor=DoctorFacts(id=p.doctor.id, clinic_id=p.clinic.id, specialty_id=p.specialty.id),
            starts_at=p.starts_at,
            ends_at=p.ends_at,
            time_zone=p.clinic.time_zone,
            channel_flags=(p.flags & CHANNEL_MASK) or 1,
            needs_referral=bool(p.flags & REFERRAL_BIT),
            urgent=bool(p.flags & URGENT_BIT),
        )

    def check_free(self, p: Placed, channel: Channel | None, now: datetime) -> None:
        """The fast refusal: this worker's engine already knows the time is taken.

        The engine is only asked, never changed, before the database decides: it holds
        committed state only (this worker's commits, applied right after them, and the
        other workers' through the stream), so a refused attempt leaves nothing behind.
        The slot's channels and entitlements are the rules' to refuse (with their own
        codes): the engine is asked with the slot's own, so only taken time is refused
        here; ``channel`` narrows it to a channel the rules have allowed.
        """
        cal = self.engine.calendar
        assert cal is not None  # placed, so loaded
        entitled = p.flags & (REFERRAL_BIT | URGENT_BIT)
        channels = CHANNEL_BITS[channel] if channel else (p.flags & CHANNEL_MASK) or 1
        try:
            slot = cal.find(
                p.doctor.id,
                p.day,
                p.unit,
                p.length,
                channel=channels,
                entitled=entitled,
                now=now.timestamp(),
            )
        except SchedulerError as exc:
            raise refuse(RefusalCode.OUTSIDE_SCHEDULE, str(exc)) from None
        if slot is None or (slot.day, slot.start) != (p.day, p.unit):
            raise refuse(RefusalCode.SLOT_TAKEN)
