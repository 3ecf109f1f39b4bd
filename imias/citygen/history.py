"""Past appointments for ``imias seed --history-days N``: tables of a realistic size.

For the ``N`` days before the first schedule day every doctor's working time (the
templates and exceptions of those days, expanded by :func:`schedules.expand` as the
engine expands the coming days) is cut into the doctor's slots, and most slots
(70-92 % per doctor) get a patient. Whom a doctor sees follows the booking rules that
make sense afterwards: the specialty's age (on the day of the visit) and sex; a
therapist, general practitioner or paediatrician sees the patients attached to the
clinic; a doctor in a children's clinic sees children, one in an adult clinic adults; a
referral-only specialty is booked with a referral, issued by a primary-care doctor of
the patient's clinic and used up by the visit.

Statuses are final, never ``booked``: about 85 % ``completed``, 10 % ``cancelled``
(before the visit; half of those times were booked again by another patient) and 5 %
``no_show``. None of them owns time units (booking migration 0002: only held, booked and arrived
do), so history writes no ``appointment_units``, the engine (which loads the active
appointments of its window) never sees it, and the no-show and reminder jobs (which
look for ``booked``) leave it alone. The timestamps tell the story: created a few
minutes to two weeks before the visit (kiosk and urgent bookings the same day), reminded
a day ahead, cancelled between booking and visit, completed or marked a no-show after
the slot's end.

Pure and deterministic: the same seed, start and days give the same rows, whatever the
batch size. Rows are generated doctor by doctor in batches, with little Python per row
(times are looked up in a table of minutes, not computed).
"""

from __future__ import annotations

import random
from array import array
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, TypedDict
from zoneinfo import ZoneInfo

from imias.booking import ScheduleException, Template, expand, to_utc
from imias.citygen import catalogue as cat
from imias.citygen import city as citygen

APPOINTMENT_COLUMNS = (
    "clinic_id",
    "id",
    "doctor_id",
    "patient_id",
    "specialty_id",
    "starts_at",
    "ends_at",
    "status",
    "channel",
    "referral_clinic_id",
    "referral_id",
    "created_at",
    "updated_at",
    "cancelled_at",
    "reminded_at",
)
REFERRAL_COLUMNS = (
    "clinic_id",
    "id",
    "patient_id",
    "specialty_id",
    "issued_by",
    "issued_at",
    "valid_until",
    "status",
)

FILL = (0.70, 0.92)  # share of a doctor's slots that were booked, drawn per doctor
CANCELLED = 0.10  # of the bookings; the rest ...
NO_SHOW = 0.05  # ... are completed
REBOOKED = 0.5  # share of cancelled times booked again by another patient
REFERRAL_DAYS = 30  # as BookingService.issue_referral
MAX_LEAD_DAYS = 14  # the booking window
MAX_REFERRAL_AGE_DAYS = 7  # a referral is issued up to a week before it is booked
DRAWS = 8  # tries to find a patient the rules admit before a slot is left empty
CHILD_AGES, ADULT_AGES, ANY_AGE = (0, cat.ADULT_AGE - 1), (cat.ADULT_AGE, 150), (0, 150)
KIND_AGES = {cat.CHILDREN: CHILD_AGES, cat.ADULT: ADULT_AGES, cat.DENTAL: ANY_AGE}

# Channels a hundredth at a time: the open blocks are booked mostly online, the blocks
# kept for the desk (phone and registrar) at the desk.
_OPEN: tuple[str, ...] = ("web",) * 30 + ("app",) * 35 + ("phone",) * 12 + ("kiosk",) * 8
_OPEN += ("registrar",) * (100 - len(_OPEN))
_DESK_CHANNELS: tuple[str, ...] = ("phone",) * 55 + ("registrar",) * 45
_DAY = 1440  # minutes


class TypeCodec(TypedDict):
    """Keyword arguments of asyncpg's ``Connection.set_type_codec``."""

    typename: str
    schema: str
    encoder: Callable[[Any], Any]
    decoder: Callable[[Any], Any]
    format: str


# Connection.set_type_codec arguments under which asyncpg takes the wire times as they are.
WIRE_CODEC: TypeCodec = {
    "typename": "timestamptz",
    "schema": "pg_catalog",
    "encoder": tuple,  # a tuple of the tuple is itself: no Python call per value
    "decoder": tuple,
    "format": "tuple",
}


class PatientIndex:
    """What history needs of each seeded patient, in compact arrays indexed by id (ids
    are dense from 1): the birth date's ordinal, the sex, the attached clinic; and the
    ids of each clinic's attached patients, of the children and of the adults (age on
    the start day). About 13 bytes a patient: the full city in some 130 MB."""

    def __init__(self, start: date) -> None:
        self.birth = array("i", [0])
        self.sex = bytearray(b"-")
        self.clinic = array("i", [0])
        self.by_clinic: dict[int, array[int]] = {}
        self.children: array[int] = array("i")
        self.adults: array[int] = array("i")
        self._child_after = citygen.years_before(start, cat.ADULT_AGE).toordinal()

    def __len__(self) -> int:
        return len(self.birth) - 1

    def add(self, rows: Sequence[tuple[Any, ...]]) -> None:
        """Take a batch of patient rows (citygen's PATIENT_COLUMNS order), in id order."""
        if not rows:
            return
        if rows[0][0] != len(self.birth):
            raise ValueError(f"patients out of order: {rows[0][0]} after {len(self)}")
        births = [r[5].toordinal() for r in rows]
        clinics = [r[8] or 0 for r in rows]
        self.birth.extend(births)
        self.sex.extend("".join(r[6] for r in rows).encode())
        self.clinic.extend(clinics)
        by_clinic, child_after = self.by_clinic, self._child_after
        children, adults = self.children.append, self.adults.append
        for pid, clinic, birth in zip(
            range(rows[0][0], rows[-1][0] + 1), clinics, births, strict=True
        ):
            if clinic:
                pool = by_clinic.get(clinic)
                if pool is None:
                    pool = by_clinic[clinic] = array("i")
                pool.append(pid)
            (children if birth > child_after else adults)(pid)


# PostgreSQL's epoch: asyncpg's "tuple" format of a timestamptz is (microseconds since it,).
PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class _Minutes:
    """Every UTC minute from a day before the earliest time history needs up to a day
    after ``start``, made once; a time is an index into this table. The times are
    datetimes, or with ``wire`` asyncpg's tuple format of a timestamptz, which COPY
    writes without converting a datetime per value (that conversion was most of the
    loader's own time)."""

    def __init__(self, first_day: date, start: date, zone: ZoneInfo, wire: bool) -> None:
        self.origin_day = first_day - timedelta(days=MAX_LEAD_DAYS + MAX_REFERRAL_AGE_DAYS + 1)
        self.origin = to_utc(self.origin_day, 0, zone)
        self.zone = zone
        count = ((start - self.origin_day).days + 2) * _DAY
        self.at: list[Any]
        if wire:
            first = (self.origin - PG_EPOCH) // timedelta(microseconds=1)
            self.at = [(first + i * 60_000_000,) for i in range(count)]
        else:
            minute = timedelta(minutes=1)
            self.at = [self.origin + i * minute for i in range(count)]
        # The last day of a referral issued at a time, by the time's day (the city's
        # zone keeps no summer time: a day is 1,440 of these minutes).
        self.valid_until = [
            self.origin_day + timedelta(days=i + REFERRAL_DAYS) for i in range(count // _DAY)
        ]

    def midnight(self, day: date) -> int:
        """The index of local midnight of ``day``."""
        return int((to_utc(day, 0, self.zone) - self.origin).total_seconds()) // 60


def plan_size(
    doctors: Sequence[citygen.Doctor],
    templates: Sequence[tuple[Any, ...]],
    start: date,
    days: int,
) -> tuple[int, int]:
    """About how many appointments and referrals :class:`HistoryStream` will make (for
    the progress bars): the templates' slots over the past days at the mean fill, with
    the times booked again; a referral for each appointment of a referral-only doctor."""
    doctor_of = {d.id: d for d in doctors}
    slots: dict[tuple[bool, int], int] = {}  # (referral-only, weekday): slots
    for row in templates:
        doctor, weekday, starts, ends = doctor_of[row[1]], row[2], row[3], row[4]
        span = (ends.hour * 60 + ends.minute) - (starts.hour * 60 + starts.minute)
        key = (not doctor.specialty.self_referral, weekday)
        slots[key] = slots.get(key, 0) + span // doctor.specialty.slot_minutes
    weekdays = [(start - timedelta(days=i)).isoweekday() for i in range(1, days + 1)]
    booked = sum(FILL) / 2 * (1 + CANCELLED * REBOOKED)
    total = {False: 0.0, True: 0.0}
    for (referred, weekday), n in slots.items():
        total[referred] += n * weekdays.count(weekday) * booked
    return int(total[False] + total[True]), int(total[True])


class HistoryStream:
    """The past appointments (and their referrals) of a planned city, in batches."""

    def __init__(
        self,
        clinics: Sequence[citygen.Clinic],
        doctors: Sequence[citygen.Doctor],
        templates: Sequence[tuple[Any, ...]],
        exceptions: Sequence[tuple[Any, ...]],
        patients: PatientIndex,
        start: date,
        days: int,
        seed: int,
        wire: bool = False,
    ) -> None:
        """``wire``: times in asyncpg's tuple format (see :class:`_Minutes`), for a
        connection that encodes timestamptz with :data:`WIRE_CODEC`."""
        self._clinics = {c.id: c for c in clinics}
        self._doctors = doctors
        self._patients = patients
        self._start = start
        self._days = days
        self._first_day = start - timedelta(days=days)
        self._rng = random.Random(f"imias-history-{seed}")
        self._templates: dict[int, list[Template]] = {}
        for row in templates:
            t = Template(*row[1:8])
            self._templates.setdefault(t.doctor_id, []).append(t)
        self._exceptions: dict[int, list[ScheduleException]] = {}
        for row in exceptions:
            if self._first_day <= row[2] < start:
                e = ScheduleException(*row[1:7])
                self._exceptions.setdefault(e.doctor_id, []).append(e)
        # Who may issue a referral to a patient: the primary-care doctors of a clinic.
        self._primary: dict[int, list[int]] = {}
        for d in doctors:
            if d.specialty.attached_only:
                self._primary.setdefault(d.clinic_id, []).append(d.id)
        zone = ZoneInfo(citygen.TIME_ZONE)  # every clinic of the generated city
        self._minutes = _Minutes(self._first_day, start, zone, wire)
        self._age_bounds: dict[tuple[date, int], int] = {}
        self.appointments = 0
        self.referrals = 0

    def batches(
        self, batch_rows: int
    ) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
        """(appointments, referrals) of whole doctors, about ``batch_rows`` appointments a
        batch; the referrals of a batch are those its appointments refer to."""
        appointments: list[tuple[Any, ...]] = []
        referrals: list[tuple[Any, ...]] = []
        for doctor in self._doctors:
            self._doctor(doctor, appointments, referrals)
            if len(appointments) >= batch_rows:
                yield appointments, referrals
                appointments, referrals = [], []
        if appointments:
            yield appointments, referrals

    def _bound(self, day: date, years: int) -> int:
        """The ordinal of the last birth date of a patient ``years`` old on ``day``."""
        key = (day, years)
        bound = self._age_bounds.get(key)
        if bound is None:
            bound = self._age_bounds[key] = citygen.years_before(day, years).toordinal()
        return bound

    def _whom(self, doctor: citygen.Doctor) -> tuple[Sequence[int] | None, int, int, int]:
        """Whom a doctor sees: the pool drawn from (None: every patient), the youngest
        and oldest age, and the sex (0: any)."""
        spec = doctor.specialty
        sex = ord(spec.sex) if spec.sex else 0
        if spec.attached_only:
            return (
                self._patients.by_clinic.get(doctor.clinic_id, ()),
                spec.min_age,
                spec.max_age,
                sex,
            )
        low, high = KIND_AGES[self._clinics[doctor.clinic_id].kind]
        young, old = max(spec.min_age, low), min(spec.max_age, high)
        if young > old:  # a specialty outside its clinic's ages: the specialty decides
            young, old = spec.min_age, spec.max_age
        if old < cat.ADULT_AGE:
            return self._patients.children, young, old, sex
        if young >= cat.ADULT_AGE:
            return self._patients.adults, young, old, sex
        return None, young, old, sex

    def _doctor(
        self,
        doctor: citygen.Doctor,
        appointments: list[tuple[Any, ...]],
        referrals: list[tuple[Any, ...]],
    ) -> None:
        """Append the doctor's past appointments (and their referrals). The hot loop of
        the history: everything it needs is a local, and a time is a minute's index."""
        pool, young, old, sex = self._whom(doctor)
        size = len(pool) if pool is not None else len(self._patients)
        if not size:
            return
        blocks = expand(
            self._templates.get(doctor.id, ()),
            self._exceptions.get(doctor.id, ()),
            self._first_day,
            self._days,
        ).get(doctor.id, ())
        rnd = self._rng.random
        fill = FILL[0] + rnd() * (FILL[1] - FILL[0])
        births, sexes, attached = self._patients.birth, self._patients.sex, self._patients.clinic
        primary = self._primary if not doctor.specialty.self_referral else None
        at, valid_until, minutes = self._minutes.at, self._minutes.valid_until, self._minutes
        start = self._start
        slot = doctor.specialty.slot_minutes
        clinic_id, doctor_id, specialty_id = doctor.clinic_id, doctor.id, doctor.specialty.id
        next_id, next_referral = self.appointments, self.referrals
        day = None
        midnight = oldest = youngest = 0
        for block in blocks:
            if block.day != day:
                day = block.day
                midnight = minutes.midnight(day)
                youngest = self._bound(day, young)  # born on or before: old enough
                oldest = self._bound(day, old + 1)  # born after: not too old
            channels = _DESK_CHANNELS if block.channels == citygen.DESK_CHANNELS else _OPEN
            for begin in range(block.start, block.end - slot + 1, slot):
                if rnd() >= fill:
                    continue
                starts = midnight + begin
                ends = starts + slot
                freed = 0  # when a cancellation freed the time: it may be booked again
                while True:
                    for _ in range(DRAWS):  # a patient the rules admit, with a referrer
                        pid = pool[int(rnd() * size)] if pool is not None else 1 + int(rnd() * size)
                        if oldest < births[pid] <= youngest and (not sex or sexes[pid] == sex):
                            issuers = primary.get(attached[pid], ()) if primary else ()
                            if primary is None or issuers:
                                break
                    else:
                        break  # nobody: the time stays free
                    channel = channels[int(rnd() * 100)]
                    # Booked the same day at the kiosk and for urgent care, else up to two
                    # weeks ahead (more often days than weeks); again after a cancellation.
                    if freed:
                        created = freed + 1 + int(rnd() * (starts - freed - 1))
                    elif block.urgent:
                        created = starts - 5 - int(rnd() * min(175, begin - 5))
                    elif channel == "kiosk":
                        created = starts - 5 - int(rnd() * 85)
                    else:
                        created = starts - 30 - int(rnd() * rnd() * (MAX_LEAD_DAYS * _DAY - 30))
                    # The reminder job (every minute) takes what starts within a day.
                    reminded = created + 1 if created > starts - _DAY else starts - _DAY + 1
                    roll = CANCELLED + rnd() * (1 - CANCELLED) if freed else rnd()
                    if roll < CANCELLED:  # cancelled before the visit, maybe after a reminder
                        status, cancelled = "cancelled", created + int(rnd() * (starts - created))
                        updated = cancelled_at = at[cancelled]
                        reminded_at = at[reminded] if reminded < cancelled else None
                    else:
                        if roll < CANCELLED + NO_SHOW:  # marked after the slot's end
                            status, updated = "no_show", at[ends + 1 + int(rnd() * 10)]
                        else:  # the doctor closes the visit at its end
                            status, updated = "completed", at[ends + int(rnd() * 10)]
                        cancelled, cancelled_at = 0, None
                        reminded_at = at[reminded] if reminded < starts else None
                    referral_id = referral_clinic = None
                    if primary is not None:  # issued up to a week before the booking
                        next_referral += 1
                        referral_id, referral_clinic = next_referral, attached[pid]
                        issued = created - 1 - int(rnd() * MAX_REFERRAL_AGE_DAYS * _DAY)
                        until = valid_until[issued // _DAY]
                        if not cancelled:
                            state = "used"
                        else:  # a cancelled booking gives its referral back
                            state = "active" if until >= start else "expired"
                        referrals.append(
                            (
                                referral_clinic,
                                referral_id,
                                pid,
                                specialty_id,
                                issuers[int(rnd() * len(issuers))],
                                at[issued],
                                until,
                                state,
                            )
                        )
                    next_id += 1
                    appointments.append(
                        (
                            clinic_id,
                            next_id,
                            doctor_id,
                            pid,
                            specialty_id,
                            at[starts],
                            at[ends],
                            status,
                            channel,
                            referral_clinic,
                            referral_id,
                            at[created],
                            updated,
                            cancelled_at,
                            reminded_at,
                        )
                    )
                    # Half the cancelled times were booked again by someone else.
                    if not cancelled or freed or starts - cancelled < 2 or rnd() >= REBOOKED:
                        break
                    freed = cancelled
        self.appointments, self.referrals = next_id, next_referral
