"""The synthetic city, planned in memory: name pools, clinics, doctors, schedules, patients.

Pure functions of (size, seed, start date): no I/O. :mod:`imias.citygen.seed` loads
what they plan. Names come from pools built once with Faker's ``ru_RU`` locale and
combined with a seeded ``random.Random``, never from Faker per row, so that millions
of patients take seconds and the same seed gives the same city. Nothing describes a
real person: policy numbers and phones are synthetic.
"""

from __future__ import annotations

import bisect
import collections
import functools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from datetime import time as clock
from typing import Any

from imias.citygen import catalogue as cat

TIME_ZONE = "Europe/Moscow"

# Booking channels (schedule_templates.channels): a bit set.
WEB, APP, PHONE, KIOSK, REGISTRAR = 1, 2, 4, 8, 16
ALL_CHANNELS = WEB | APP | PHONE | KIOSK | REGISTRAR
DESK_CHANNELS = PHONE | REGISTRAR  # time kept for the call centre and the clinic desk


# ---------------------------------------------------------------------------
# Name pools (Faker ru_RU, built once)


@dataclass(frozen=True)
class NamePools:
    family: dict[str, tuple[str, ...]]  # by sex: 'M', 'F'
    given: dict[str, tuple[str, ...]]
    patronymic: dict[str, tuple[str, ...]]
    streets: tuple[str, ...]


def _distinct(make: Callable[[], str], draws: int) -> tuple[str, ...]:
    return tuple(sorted({make() for _ in range(draws)}))


@functools.cache
def name_pools() -> NamePools:
    """Every family name, given name, patronymic and street Faker's ru_RU offers.

    Faker is called a few thousand times here, never per row; sorted so that the
    pools do not depend on the order Faker happens to produce them in.
    """
    from faker import Faker  # imported on use: heavy, and only the generator needs it

    fake = Faker("ru_RU")
    fake.seed_instance(0)
    return NamePools(
        family={
            "M": _distinct(fake.last_name_male, 5000),
            "F": _distinct(fake.last_name_female, 5000),
        },
        given={
            "M": _distinct(fake.first_name_male, 5000),
            "F": _distinct(fake.first_name_female, 5000),
        },
        patronymic={
            "M": _distinct(fake.middle_name_male, 5000),
            "F": _distinct(fake.middle_name_female, 5000),
        },
        streets=_distinct(fake.street_name, 5000),
    )


# ---------------------------------------------------------------------------
# Planning: pure functions of (size, seed, start)


@dataclass(frozen=True, slots=True)
class Clinic:
    id: int
    name: str
    address: str
    district: cat.District
    lat: float
    lon: float
    kind: str
    weight: float  # relative size: bigger clinics get more doctors

    def row(self) -> tuple[Any, ...]:
        return (
            self.id,
            self.name,
            self.address,
            self.district.code,
            self.lat,
            self.lon,
            TIME_ZONE,
            self.kind,
        )


@dataclass(frozen=True, slots=True)
class Doctor:
    clinic_id: int
    id: int
    specialty: cat.Specialty
    family_name: str
    given_name: str
    patronymic: str
    room: str

    def row(self) -> tuple[Any, ...]:
        return (
            self.clinic_id,
            self.id,
            self.specialty.id,
            self.family_name,
            self.given_name,
            self.patronymic,
            self.room,
            self.specialty.slot_minutes,
        )


def apportion(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """Split ``total`` in proportion to ``weights`` (largest remainder), giving each
    part at least ``minimum`` first when the total allows it."""
    if minimum and total >= minimum * len(weights):
        base = [minimum] * len(weights)
        total -= minimum * len(weights)
    else:
        base = [0] * len(weights)
    whole = sum(weights)
    exact = [total * w / whole for w in weights]
    parts = [int(x) for x in exact]
    order = sorted(range(len(weights)), key=lambda i: (parts[i] - exact[i], i))
    for i in order[: total - sum(parts)]:
        parts[i] += 1
    return [b + p for b, p in zip(base, parts, strict=True)]


def _clinic_kinds(n: int) -> list[str]:
    counts = apportion(n, [cat.CLINIC_KIND_PERMILLE[k] for k in cat.CLINIC_KINDS])
    if n >= len(cat.CLINIC_KINDS):  # a small city still has one clinic of each kind
        for i, count in enumerate(counts):
            if count == 0:
                counts[counts.index(max(counts))] -= 1
                counts[i] = 1
    return [k for k, c in zip(cat.CLINIC_KINDS, counts, strict=True) for _ in range(c)]


def _address(district: cat.District, rng: random.Random, streets: Sequence[str]) -> str:
    if district.code == "ЗелАО":  # Zelenograd numbers its buildings, not its streets
        return f"г. Москва, г. Зеленоград, корп. {rng.randint(100, 2050)}"
    where = f"{district.locality}, " if district.locality else ""
    house = f"д. {rng.randint(1, 60)}"
    if rng.random() < 0.3:
        house += f", корп. {rng.randint(1, 5)}"
    return f"г. Москва, {where}{rng.choice(streets)}, {house}"


def plan_clinics(n: int, rng: random.Random, pools: NamePools) -> list[Clinic]:
    """``n`` clinics over the okrugs by population (each okrug gets one first when
    there are enough), of the three kinds in realistic proportions."""
    per_district = apportion(n, [d.population for d in cat.DISTRICTS], minimum=1)
    kinds = _clinic_kinds(n)
    rng.shuffle(kinds)
    numbers = {k: list(range(1, kinds.count(k) + 1)) for k in cat.CLINIC_KINDS}
    for pool in numbers.values():
        rng.shuffle(pool)
    clinics: list[Clinic] = []
    for district, count in zip(cat.DISTRICTS, per_district, strict=True):
        for _ in range(count):
            kind = kinds[len(clinics)]
            lat = rng.triangular(*district.lat_range, district.lat)
            lon = rng.triangular(*district.lon_range, district.lon)
            clinics.append(
                Clinic(
                    id=len(clinics) + 1,
                    name=cat.CLINIC_NAMES[kind].format(number=numbers[kind].pop()),
                    address=_address(district, rng, pools.streets),
                    district=district,
                    lat=round(lat, 6),
                    lon=round(lon, 6),
                    kind=kind,
                    weight=rng.uniform(0.6, 1.6),
                )
            )
    return clinics


def plan_doctors(
    clinics: Sequence[Clinic], n: int, rng: random.Random, pools: NamePools
) -> list[Doctor]:
    """``n`` doctors: one anchor per clinic (a therapist, a paediatrician or a
    dentist), the rest over the specialties in the catalogue's shares, each in a
    clinic of a kind the specialty works in, bigger clinics getting more.

    Every specialty a clinic of the city can have gets at least two doctors, taken
    from the most numerous, in two clinics where there are two (at least one when the
    city has too few doctors for two of each), so that even a small city has its
    psychiatrist and its narcologist."""
    staffed: list[tuple[Clinic, cat.Specialty]] = []
    for clinic in clinics[:n]:
        staffed.append((clinic, cat.SPECIALTY_BY_CODE[cat.ANCHOR_SPECIALTY[clinic.kind]]))
    kinds_present = {c.kind for c in clinics}
    available = [s for s in cat.SPECIALTIES if kinds_present.intersection(s.kinds)]
    counts = apportion(max(0, n - len(clinics)), [s.permille for s in available])
    least = next((m for m in (2, 1) if sum(counts) >= m * len(available)), 0)
    for i in range(len(counts)):
        while counts[i] < least:  # taken from the most numerous (the total stays)
            counts[counts.index(max(counts))] -= 1
            counts[i] += 1
    for specialty, count in zip(available, counts, strict=True):
        if not count:
            continue
        eligible = [c for c in clinics if c.kind in specialty.kinds]
        # Specialists serving both ages mostly sit in adult clinics.
        weights = [
            c.weight * (0.5 if c.kind == cat.CHILDREN and len(specialty.kinds) > 1 else 1.0)
            for c in eligible
        ]
        places = rng.choices(eligible, weights=weights, k=count)
        if count > 1 and len({c.id for c in places}) == 1 < len(eligible):
            # Two clinics, not one: a doctor on leave leaves another elsewhere.
            others = [i for i, c in enumerate(eligible) if c.id != places[0].id]
            places[-1] = eligible[rng.choices(others, weights=[weights[i] for i in others])[0]]
        for clinic in places:
            staffed.append((clinic, specialty))
    staffed.sort(key=lambda cs: (cs[0].id, cs[1].id))
    doctors: list[Doctor] = []
    in_clinic: dict[int, int] = {}
    for clinic, specialty in staffed:
        sex = "F" if rng.randrange(1000) < specialty.female_permille else "M"
        index = in_clinic.get(clinic.id, 0)
        in_clinic[clinic.id] = index + 1
        doctors.append(
            Doctor(
                clinic_id=clinic.id,
                id=len(doctors) + 1,
                specialty=specialty,
                family_name=rng.choice(pools.family[sex]),
                given_name=rng.choice(pools.given[sex]),
                patronymic=rng.choice(pools.patronymic[sex]),
                room=f"{1 + index // 20}{index % 20 + 1:02d}",
            )
        )
    return doctors


#: The demo city's staff who are not of a clinic: (username, role, organisation id).
OTHER_STAFF = (
    ("admin", "administrator", None),
    ("pharmacist.1", "pharmacist", 1),  # a subsidised city pharmacy
    ("pharmacist.2", "pharmacist", 2),  # a commercial one (imias.citygen.prescribing)
    ("police.1", "police_officer", 1),  # two officers of two police units, of no clinic
    ("police.2", "police_officer", 2),
    ("ambulance.1", "ambulance_crew", 1),
    ("nurse.1", "school_nurse", 1),
)


def plan_staff(
    clinics: Sequence[Clinic], doctors: Sequence[Doctor], rng: random.Random, pools: NamePools
) -> list[tuple[Any, ...]]:
    """Staff accounts of the demo city, rows (username, role, full_name, clinic_id,
    doctor_id, organisation_id): an administrator and the other organisations' staff
    (:data:`OTHER_STAFF`), a registrar per clinic (``registrar.<clinic id>``), a
    login for each doctor (``doctor.<doctor id>``) and each clinic's administrator
    (``head.<clinic id>``, named by a generator of its own, so that adding her changed
    nothing else the seed draws)."""

    def person(rng: random.Random = rng) -> str:
        sex = rng.choice("MF")
        return " ".join(
            rng.choice(pool[sex]) for pool in (pools.family, pools.given, pools.patronymic)
        )

    rows: list[tuple[Any, ...]] = [
        (username, role, person(), None, None, org) for username, role, org in OTHER_STAFF
    ]
    rows += [(f"registrar.{c.id}", "registrar", person(), c.id, None, None) for c in clinics]
    rows += [
        (
            f"doctor.{d.id}",
            "doctor",
            f"{d.family_name} {d.given_name} {d.patronymic}",
            d.clinic_id,
            d.id,
            None,
        )
        for d in doctors
    ]
    rows += [
        (f"head.{c.id}", "clinic_admin", person(random.Random(7919 * c.id)), c.id, None, None)
        for c in clinics
    ]
    return rows


MORNING = (clock(8), clock(14))
EVENING = (clock(14), clock(20))
SATURDAY = (clock(9), clock(15))
_HOUR = timedelta(hours=1)


def _shift_blocks(
    shift: tuple[clock, clock], urgent: bool, desk: bool
) -> list[tuple[clock, clock, int, bool]]:
    """A shift cut into blocks (starts, ends, channels, urgent): the first hour kept
    for urgent same-day care, the last hour kept for phone and desk, the rest open
    to every channel."""
    start, end = shift  # whole hours
    blocks = []
    if urgent:
        blocks.append((start, clock(start.hour + 1), DESK_CHANNELS, True))
        start = clock(start.hour + 1)
    if desk:
        blocks.append((clock(end.hour - 1), end, DESK_CHANNELS, False))
        end = clock(end.hour - 1)
    blocks.append((start, end, ALL_CHANNELS, False))
    return sorted(blocks)


def plan_schedules(
    doctors: Sequence[Doctor],
    start: date,
    days: int,
    rng: random.Random,
    past_days: int = 0,
    past_rng: random.Random | None = None,
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Weekly templates (rows in TEMPLATE_COLUMNS order) and exceptions over
    ``days`` days from ``start`` (rows in EXCEPTION_COLUMNS order).

    With ``past_days`` the templates are valid from that many days before ``start``
    and the past days get their own leave, sick days and extra shifts, drawn from
    ``past_rng`` a fortnight at a time back from ``start``: the days from ``start`` on
    are the same with or without a past. A leave that began before ``start`` goes on in the past."""
    templates: list[tuple[Any, ...]] = []
    exceptions: list[tuple[Any, ...]] = []
    window = [start + timedelta(days=i) for i in range(days)]
    first_day = start - timedelta(days=past_days)
    past = [first_day + timedelta(days=i) for i in range(past_days)]
    if past and past_rng is None:
        raise ValueError("past days need their own random generator")
    for doctor in doctors:
        # Alternate mornings and evenings so that patients who work can come.
        odd, even = (MORNING, EVENING) if rng.random() < 0.5 else (EVENING, MORNING)
        week = {1: odd, 2: even, 3: odd, 4: even, 5: odd}
        if not doctor.specialty.attached_only and rng.random() < 0.2:  # part-time
            for weekday in rng.sample(sorted(week), 2):
                del week[weekday]
        if rng.random() < 0.2:
            week[6] = SATURDAY
        urgent = doctor.specialty.attached_only and rng.random() < 0.1
        desk = rng.random() < 0.3
        key = (doctor.clinic_id, doctor.id)
        for weekday, shift in sorted(week.items()):
            for starts, ends, channels, is_urgent in _shift_blocks(shift, urgent, desk):
                templates.append((*key, weekday, starts, ends, channels, is_urgent, first_day))
        if not window:
            continue
        rows, leave = _absences(key, week, window, rng)
        exceptions.extend(rows)
        if not past:
            continue
        assert past_rng is not None
        closed = {d for d in past if d in leave and d.isoweekday() in week}
        past_rows = [(*key, day, "leave", None, None, ALL_CHANNELS) for day in sorted(closed)]
        for fortnight in range(0, past_days, 14):  # back from start, whole fortnights
            first = start - timedelta(days=fortnight + 14)
            days_of = [first + timedelta(days=i) for i in range(14)]
            for row in _absences(key, week, days_of, past_rng)[0]:
                if row[2] >= first_day and row[2] not in closed:
                    past_rows.append(row)
        exceptions.extend(sorted(past_rows, key=lambda r: r[2]))
    return templates, exceptions


def _absences(
    key: tuple[int, int],
    week: dict[int, tuple[clock, clock]],
    window: Sequence[date],
    rng: random.Random,
) -> tuple[list[tuple[Any, ...]], set[date]]:
    """A doctor's exceptions over ``window`` (consecutive days): now and then annual
    leave or a few sick days, a couple of hours off, or an extra shift on a day off.
    Also the days of a leave, which may begin before the window."""
    start, days = window[0], len(window)
    rows: list[tuple[Any, ...]] = []
    working = [d for d in window if d.isoweekday() in week]
    off: set[date] = set()
    leave: set[date] = set()
    roll = rng.random()
    if roll < 0.04:  # annual leave, maybe begun before the window
        first = start + timedelta(days=rng.randrange(-days, days))
        off = leave = {first + timedelta(days=i) for i in range(rng.randint(7, 14))}
        kind = "leave"
    elif roll < 0.09:  # off sick for a few days
        first = rng.choice(window)
        off = {first + timedelta(days=i) for i in range(rng.randint(2, 7))}
        kind = "sick"
    for day in working:
        if day in off:
            rows.append((*key, day, kind, None, None, ALL_CHANNELS))
    roll = rng.random()
    if roll < 0.03 and working:  # a couple of hours off (training, a meeting)
        day = rng.choice(working)
        if day not in off:
            begin = datetime.combine(day, week[day.isoweekday()][0]) + 2 * _HOUR
            rows.append(
                (*key, day, "leave", begin.time(), (begin + 2 * _HOUR).time(), ALL_CHANNELS)
            )
    elif roll < 0.06:  # an extra shift on a day off
        free = [d for d in window if d.isoweekday() not in week and d.isoweekday() != 7]
        if free:
            day = rng.choice(free)
            rows.append((*key, day, "extra", clock(9), clock(13), ALL_CHANNELS))
    return rows, leave


def years_before(day: date, years: int) -> date:
    """The same day ``years`` earlier (28 February for 29 February in a common year):
    a person born on it or before is at least ``years`` old on ``day``."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


class PatientStream:
    """Patients generated in order, batch by batch, in bounded memory.

    Each row: a name of the patient's sex, a birth date from the age pyramid
    (children attach to children's clinics, adults to adult ones, in the okrug they
    are drawn in when it has one), a synthetic phone, and a 16-digit policy number
    that grows with the id (so it is unique, and the index takes it in order).
    """

    def __init__(self, clinics: Sequence[Clinic], start: date, seed: int, pools: NamePools) -> None:
        self._rng = random.Random(f"imias-patients-{seed}")
        # Guardians are drawn with their own generator, so the patients stay as they were.
        self._family_rng = random.Random(f"imias-guardians-{seed}")
        self._parents: collections.deque[int] = collections.deque(maxlen=2000)
        self._child_after = years_before(start, cat.ADULT_AGE)
        self._parent_ages = (years_before(start, 55), years_before(start, 20))
        self._pools = pools
        self.next_id = 1
        self._stride = 997
        self._policy_base = self._rng.randrange(10**12, 5 * 10**12)
        oldest = years_before(start, cat.AGE_BANDS[-1][1]).toordinal() + 1
        self._dates = [date.fromordinal(o) for o in range(oldest, start.toordinal() + 1)]
        self._bands: list[tuple[int, int, float, bool]] = []
        for low, high, _, male in cat.AGE_BANDS:
            first = years_before(start, high).toordinal() + 1 - oldest
            last = years_before(start, low).toordinal() - oldest
            self._bands.append((first, last - first + 1, male / 1000, low < cat.ADULT_AGE))
        self._band_cum = list(_cumulative([b[2] for b in cat.AGE_BANDS]))
        self._district_cum = list(_cumulative([d.population for d in cat.DISTRICTS]))
        self._attach: dict[bool, list[tuple[int | None, ...]]] = {}
        for child, kind in ((True, cat.CHILDREN), (False, cat.ADULT)):
            citywide = tuple(c.id for c in clinics if c.kind == kind) or (None,)
            self._attach[child] = [
                tuple(c.id for c in clinics if c.kind == kind and c.district is d) or citywide
                for d in cat.DISTRICTS
            ]

    def batch(self, count: int) -> list[tuple[Any, ...]]:
        rnd = self._rng.random
        dates, bands, attach = self._dates, self._bands, self._attach
        band_cum, district_cum = self._band_cum, self._district_cum
        band_total, district_total = band_cum[-1], district_cum[-1]
        pools = self._pools
        names = {sex: (pools.family[sex], pools.given[sex], pools.patronymic[sex]) for sex in "MF"}
        sizes = {sex: tuple(len(p) for p in names[sex]) for sex in "MF"}
        stride, base = self._stride, self._policy_base
        rows = []
        first_id = self.next_id
        for pid in range(first_id, first_id + count):
            first, span, male, child = bands[bisect.bisect_right(band_cum, rnd() * band_total)]
            sex = "M" if rnd() < male else "F"
            family, given, patronymic = names[sex]
            nf, ng, np = sizes[sex]
            clinics = attach[child][bisect.bisect_right(district_cum, rnd() * district_total)]
            rows.append(
                (
                    pid,
                    f"77{base + pid * stride + int(rnd() * stride):014d}",
                    family[int(rnd() * nf)],
                    given[int(rnd() * ng)],
                    patronymic[int(rnd() * np)],
                    dates[first + int(rnd() * span)],
                    sex,
                    f"+79{int(rnd() * 1_000_000_000):09d}",
                    clinics[int(rnd() * len(clinics))],
                )
            )
        self.next_id = first_id + count
        return rows

    def guardians(self, rows: Sequence[tuple[Any, ...]]) -> list[tuple[int, int, str]]:
        """Guardian links (guardian_id, child_id, relation) for the children among
        ``rows``, a batch from :meth:`batch`; call it for every batch, in order. Most
        children get one or two parents (a few a guardian), drawn among the adults of
        parents' age generated before them, so the links are the same whatever the
        batch size."""
        rnd = self._family_rng.random
        parents, child_after = self._parents, self._child_after
        oldest, youngest = self._parent_ages
        links: list[tuple[int, int, str]] = []
        for row in rows:
            patient_id, birth = row[0], row[5]
            if birth > child_after:
                roll = rnd()
                wanted = 0 if roll < 0.08 else 1 if roll < 0.5 else 2
                chosen: list[int] = []
                for _ in range(wanted):
                    if len(parents) <= len(chosen):
                        break
                    candidate = parents[int(rnd() * len(parents))]
                    if candidate not in chosen:
                        chosen.append(candidate)
                for guardian in chosen:
                    links.append((guardian, patient_id, "guardian" if rnd() < 0.05 else "parent"))
            elif oldest < birth <= youngest:
                parents.append(patient_id)
        return links


def _cumulative(weights: Sequence[float]) -> list[float]:
    out, total = [], 0.0
    for w in weights:
        total += w
        out.append(total)
    return out
