"""Patients moved when the clinic takes a doctor's day away (a sick day), on real
PostgreSQL with the engine kept by the events: each appointment is cancelled and its
patient offered a held slot (the same day with a colleague, else the earliest nearby,
else nothing and a message), then confirms, declines, books herself, or lets the
deadline pass."""

import asyncio
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import Clock

from imias.booking import search
from imias.booking.engine import Engine
from imias.booking.relocation import deadline_for
from imias.booking.service import BookingService
from imias.platform.db import create_pool
from imias.platform.notices import decode as decode_notice
from imias.platform.problems import ProblemError
from scheduler_core import CLOSED, FREE, HELD
from scheduler_core import events as ev


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_relocations_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=12, doctors=260, patients=3000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def clock():
    return Clock(datetime.now(UTC))


@pytest.fixture(scope="module")
async def service(city, clock):
    pool = await create_pool(city, 6)
    engine = Engine()
    await engine.load(pool)
    yield BookingService(pool, engine, clock=clock, apply_locally=True)
    await pool.close()


# -- the city's pieces ------------------------------------------------------------------

used_doctors: set[int] = set()


def plain_specialties(service):
    """Specialties anyone may book: no referral, no attachment, no age or sex limits."""
    return [
        s
        for s in service.engine.directory.specialties.values()
        if s.self_referral
        and not s.attached_only
        and s.sex is None
        and s.min_age <= 18
        and s.max_age >= 90
    ]


def free_slots(service, doctor_id, day, n=50):
    return search.doctor_slots(
        service.engine, doctor_id, n, first=day, last=day, channel=1, now=service.clock()
    )


def a_day(service, n) -> date:
    """The ``n``-th weekday after tomorrow (each test its own, so doctors serve again)."""
    return working_days(service)[n]


def working_days(service) -> list[date]:
    first = service.engine.first_day
    days = (first + timedelta(days=d) for d in range(2, service.engine.geometry.days))
    return [d for d in days if d.isoweekday() <= 5]


def next_working_day(service, day) -> date:
    return next(d for d in working_days(service) if d > day)


def doctors_with_colleague(service, day):
    """A doctor (not used by another test) and the clinic's colleagues of her specialty,
    each with free time on ``day``."""
    directory = service.engine.directory
    for spec in plain_specialties(service):
        for doctors in directory.doctors_of_clinic.values():
            same = [
                d.id
                for d in doctors
                if d.specialty_id == spec.id
                and d.id not in used_doctors
                and len(free_slots(service, d.id, day, 4)) >= 4
            ]
            if len(same) >= 2:
                used_doctors.add(same[0])  # the days differ: colleagues may serve again
                return same[0], same[1:]
    raise AssertionError("the test city has no clinic with two doctors of a specialty")


def doctor_alone(service, day):
    """A doctor who is the only one of her specialty at her clinic, with free time."""
    directory = service.engine.directory
    for spec in plain_specialties(service):
        for doctors in directory.doctors_of_clinic.values():
            same = [d.id for d in doctors if d.specialty_id == spec.id]
            if len(same) == 1 and same[0] not in used_doctors:
                if len(free_slots(service, same[0], day, 4)) >= 4:
                    used_doctors.add(same[0])
                    return same[0]
    raise AssertionError("the test city has no doctor alone in her specialty at a clinic")


async def adults(service, n, sex=None):
    async with service.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id FROM patients WHERE birth_date < now() - interval '25 years' "
            "AND birth_date > now() - interval '60 years' AND ($2::text IS NULL OR sex = $2) "
            "AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.patient_id = patients.id) "
            "AND NOT EXISTS (SELECT 1 FROM waitlist_entries w WHERE w.patient_id = patients.id) "
            "ORDER BY random() LIMIT $1",
            n,
            sex,
        )
    return [r["id"] for r in rows]


keys = iter(range(10**6))


def key() -> str:
    return f"reloc-key-{next(keys):08d}"


async def book_first(service, patient, doctor, day):
    slot = free_slots(service, doctor, day)[0]
    return await service.book(patient, doctor, slot.starts_at, "web", key())


async def take_day(service, doctor_id, day, reason="sick"):
    """What the schedule's editing does when a doctor is sick for ``day``: the exception
    written, the day's appointments locked and displaced, the time closed in the engine."""
    eng = service.engine
    doctor = eng.directory.doctors[doctor_id]
    zone = ZoneInfo(eng.directory.clinics[doctor.clinic_id].time_zone)
    since = datetime.combine(day, time(0), tzinfo=zone)
    writes = service.writes()
    async with service.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO schedule_exceptions (clinic_id, doctor_id, day, kind) "
            "VALUES ($1, $2, $3, 'sick')",
            doctor.clinic_id,
            doctor_id,
            day,
        )
        rows = await conn.fetch(
            "SELECT * FROM appointments WHERE clinic_id = $1 AND doctor_id = $2 "
            "AND starts_at >= $3 AND starts_at < $4 AND status IN ('held', 'booked', 'arrived') "
            "ORDER BY starts_at FOR UPDATE",
            doctor.clinic_id,
            doctor_id,
            since,
            since + timedelta(days=1),
        )
        moved = await service.relocations.displace(
            conn, rows, now=service.clock(), writes=writes, reason=reason, by=None
        )
        units = eng.geometry.units_per_day
        await writes.emit(
            conn, ev.SlotsClosed(doctor_id, day.toordinal(), 0, units), doctor.clinic_id
        )
    writes.applied()
    return moved


async def relocation_of(service, appointment_id):
    async with service.pool.acquire() as conn:
        rid = await conn.fetchval(
            "SELECT id FROM relocations WHERE appointment_id = $1", appointment_id
        )
    assert rid is not None, "the displaced appointment has a relocation"
    return await service.relocations.get(rid)


async def notices(service, relocation_id):
    async with service.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT payload FROM event_outbox WHERE topic = 'notice' ORDER BY id"
        )
    found = [decode_notice(r["payload"]) for r in rows]
    return [n for n in found if n.params.get("relocation_id") == relocation_id]


async def appointment(service, appointment_id):
    async with service.pool.acquire() as conn:
        return await conn.fetchrow("SELECT * FROM appointments WHERE id = $1", appointment_id)


def state(service, doctor_id, starts_at) -> int:
    eng = service.engine
    zone = ZoneInfo(eng.directory.clinics[eng.directory.doctors[doctor_id].clinic_id].time_zone)
    local = starts_at.astimezone(zone)
    g = eng.geometry
    unit = (local.hour * 60 + local.minute - g.day_begins) // g.unit_minutes
    return eng.calendar.day_states(doctor_id, local.date().toordinal())[unit]


async def consistent(service):
    """The engine kept by the events holds what a fresh load from the database holds."""
    fresh = Engine()
    await fresh.load(service.pool)
    assert (await fresh.state_digest())[0] == (await service.engine.state_digest())[0]


# -- the tests --------------------------------------------------------------------------


async def test_a_colleague_free_the_same_day_is_offered_and_confirmed(service):
    day = a_day(service, 0)
    sick, colleagues = doctors_with_colleague(service, day)
    (patient,) = await adults(service, 1)
    slot = free_slots(service, sick, day)[1]
    old = await service.book(patient, sick, slot.starts_at, "web", key())
    now = service.clock()
    expected = min(
        (s for c in colleagues for s in free_slots(service, c, day) if s.starts_at > now),
        key=lambda s: (s.starts_at, s.doctor_id),
    )
    assert await take_day(service, sick, day) >= 1
    moved = await relocation_of(service, old.id)
    assert moved.state == "offered" and moved.reason == "sick"
    assert moved.old.status == "cancelled" and moved.old.doctor_id == sick
    offer = moved.offer
    assert offer is not None and offer.status == "held"
    assert (offer.doctor_id, offer.starts_at) == (expected.doctor_id, expected.starts_at)
    assert offer.clinic_id == old.clinic_id
    assert moved.deadline == deadline_for(now, offer.starts_at)
    assert state(service, sick, slot.starts_at) == CLOSED
    assert state(service, offer.doctor_id, offer.starts_at) == HELD
    (told,) = await notices(service, moved.id)
    assert told.kind == "move_offered" and told.urgent and told.patient_id == patient
    assert told.params["offer_doctor_id"] == offer.doctor_id
    assert told.params["appointment_id"] == old.id
    assert datetime.fromisoformat(told.params["offer_starts_at"]) == offer.starts_at
    assert datetime.fromisoformat(told.params["deadline"]) == moved.deadline
    await consistent(service)

    confirmed = await service.relocations.confirm(moved.id)
    assert confirmed.state == "confirmed" and confirmed.offer.status == "booked"
    again = await service.relocations.confirm(moved.id)  # idempotent
    assert again.state == "confirmed"
    kinds = [n.kind for n in await notices(service, moved.id)]
    assert kinds == ["move_offered", "move_confirmed"]
    mine = [a for a in await service.patient_appointments(patient) if a.status == "booked"]
    assert [a.id for a in mine] == [offer.id]
    with pytest.raises(ProblemError) as caught:
        await service.relocations.decline(moved.id)
    assert caught.value.code == "already_settled"
    await consistent(service)


async def test_no_colleague_the_earliest_elsewhere_is_offered(service):
    day = a_day(service, 1)
    sick = doctor_alone(service, day)
    (patient,) = await adults(service, 1)
    slot = free_slots(service, sick, day)[0]
    old = await service.book(patient, sick, slot.starts_at, "web", key())
    await take_day(service, sick, day)
    moved = await relocation_of(service, old.id)
    assert moved.state == "offered"
    offer = moved.offer
    assert offer.doctor_id != sick
    assert offer.specialty == old.specialty
    # The earliest of the clinics she may book now (the sick doctor's time is closed).
    spec = service.engine.directory.by_code[old.specialty]
    async with service.pool.acquire() as conn:
        clinics = await search.bookable_clinics(conn, service.engine, patient, spec)
    assert offer.clinic_id in (clinics or [offer.clinic_id])
    first, last = search.window(service.engine, None, None)
    earlier = search.earliest(
        service.engine,
        1,
        specialty_id=spec.id,
        clinic_ids=clinics,
        first=first,
        last=last,
        channel=1 | 16,
        now=service.clock() + timedelta(minutes=30),
    )
    # Nothing earlier is free (the offered slot itself is held now).
    assert not earlier or earlier[0].starts_at >= offer.starts_at
    await consistent(service)


async def test_nothing_to_offer_cancels_and_tells_the_patient(service):
    day = a_day(service, 2)
    directory = service.engine.directory
    spec = next(s for s in directory.specialties.values() if s.sex == "F" and s.self_referral)
    doctor = next(
        d.id
        for d in directory.doctors.values()
        if d.specialty_id == spec.id and d.id not in used_doctors and free_slots(service, d.id, day)
    )
    used_doctors.add(doctor)
    (patient,) = await adults(service, 1, sex="F")
    slot = free_slots(service, doctor, day)[0]
    old = await service.book(patient, doctor, slot.starts_at, "registrar", key())
    async with service.pool.acquire() as conn:  # her record is corrected: no doctor fits
        await conn.execute("UPDATE patients SET sex = 'M' WHERE id = $1", patient)
    await take_day(service, doctor, day)
    moved = await relocation_of(service, old.id)
    assert moved.state == "no_offer" and moved.offer is None and moved.deadline is None
    assert moved.old.status == "cancelled"
    (told,) = await notices(service, moved.id)
    assert told.kind == "move_cancelled" and told.params["appointment_id"] == old.id
    assert told.params["doctor_id"] == doctor
    with pytest.raises(ProblemError) as caught:
        await service.relocations.confirm(moved.id)
    assert caught.value.code == "already_settled"
    await consistent(service)


async def test_declined_the_slot_is_let_go(service):
    day = a_day(service, 3)
    sick, _ = doctors_with_colleague(service, day)
    (patient,) = await adults(service, 1)
    old = await service.book(
        patient, sick, free_slots(service, sick, day)[0].starts_at, "web", key()
    )
    await take_day(service, sick, day)
    moved = await relocation_of(service, old.id)
    declined = await service.relocations.decline(moved.id)
    assert declined.state == "cancelled" and not declined.deadline_passed
    assert declined.offer.status == "expired"
    assert state(service, moved.offer.doctor_id, moved.offer.starts_at) == FREE
    assert (await service.relocations.decline(moved.id)).state == "cancelled"  # idempotent
    with pytest.raises(ProblemError) as caught:
        await service.relocations.confirm(moved.id)
    assert caught.value.code == "already_settled"
    assert [n.kind for n in await notices(service, moved.id)] == ["move_offered"]
    await consistent(service)


async def test_past_the_deadline_the_slot_goes_to_a_waiting_patient(service, clock):
    day = a_day(service, 4)
    sick, _ = doctors_with_colleague(service, day)
    patient, waiter = await adults(service, 2)
    old = await service.book(
        patient, sick, free_slots(service, sick, day)[0].starts_at, "web", key()
    )
    await take_day(service, sick, day)
    moved = await relocation_of(service, old.id)
    offer = moved.offer
    entry = await service.waitlist.join(
        waiter,
        offer.specialty,
        offer.clinic_id,
        offer.doctor_id,
        service.engine.today(),
        day + timedelta(days=1),
    )
    saved = clock.now
    try:
        clock.now = moved.deadline + timedelta(seconds=1)
        with pytest.raises(ProblemError) as caught:
            await service.relocations.confirm(moved.id)
        assert caught.value.code == "offer_expired"
        assert await service.expire_holds() >= 1
        ended = await service.relocations.get(moved.id)
        assert ended.state == "cancelled" and ended.deadline_passed
        kinds = [n.kind for n in await notices(service, moved.id)]
        assert kinds == ["move_offered", "move_cancelled"]
        (waiting,) = await service.waitlist.entries(waiter)
        assert waiting.id == entry.id and waiting.status == "offered"
        assert (waiting.offer_doctor_id, waiting.offer_starts_at) == (
            offer.doctor_id,
            offer.starts_at,
        )
        with pytest.raises(ProblemError) as caught:
            await service.relocations.confirm(moved.id)
        assert caught.value.code == "offer_expired"
    finally:
        clock.now = saved


async def test_moved_twice_the_offer_follows(service):
    day = a_day(service, 5)
    sick, _ = doctors_with_colleague(service, day)
    (patient,) = await adults(service, 1)
    old = await service.book(
        patient, sick, free_slots(service, sick, day)[0].starts_at, "web", key()
    )
    await take_day(service, sick, day)
    first = await relocation_of(service, old.id)
    colleague = first.offer.doctor_id
    await take_day(service, colleague, day)  # the colleague falls sick too
    second = await service.relocations.get(first.id)
    assert second.state == "offered"
    assert second.offer.id != first.offer.id
    assert second.offer.doctor_id not in (sick, colleague)
    assert (await appointment(service, first.offer.id))["status"] == "expired"
    kinds = [n.kind for n in await notices(service, first.id)]
    assert kinds == ["move_offered", "move_offered"]
    confirmed = await service.relocations.confirm(first.id)
    assert confirmed.state == "confirmed" and confirmed.offer.id == second.offer.id
    await consistent(service)


async def test_booking_another_time_herself_settles_the_move(service):
    day = a_day(service, 6)
    sick, colleagues = doctors_with_colleague(service, day)
    (patient,) = await adults(service, 1)
    old = await service.book(
        patient, sick, free_slots(service, sick, day)[0].starts_at, "web", key()
    )
    await take_day(service, sick, day)
    moved = await relocation_of(service, old.id)
    other = next(
        s
        for c in colleagues
        for s in free_slots(service, c, next_working_day(service, day))
        if s.starts_at != moved.offer.starts_at
    )
    hold = await service.hold(patient, other.doctor_id, other.starts_at, "web")
    mine = await service.confirm(patient, hold.token, key())
    settled = await service.relocations.get(moved.id)
    assert settled.state == "rebooked" and settled.offer.status == "expired"
    assert mine.status == "booked"
    with pytest.raises(ProblemError) as caught:
        await service.relocations.confirm(moved.id)
    assert caught.value.code == "already_settled"
    await consistent(service)


async def test_the_race_confirm_and_book_never_leave_two_bookings(service):
    day = a_day(service, 7)
    sick, colleagues = doctors_with_colleague(service, day)
    patients = await adults(service, 6)
    moves = []
    taken = set()
    for n, patient in enumerate(patients):
        slot = free_slots(service, sick, day)[n]
        old = await service.book(patient, sick, slot.starts_at, "web", key())
        moves.append(old)
    await take_day(service, sick, day)
    for old in moves:
        taken.add((await relocation_of(service, old.id)).offer.starts_at)
    spare = [
        s
        for c in colleagues
        for s in free_slots(service, c, next_working_day(service, day))
        if s.starts_at not in taken
    ]
    for old, other in zip(moves, spare, strict=False):
        moved = await relocation_of(service, old.id)
        results = await asyncio.gather(
            service.relocations.confirm(moved.id),
            service.book(old.patient_id, other.doctor_id, other.starts_at, "web", key()),
            return_exceptions=True,
        )
        for r in results:
            assert not isinstance(r, Exception) or isinstance(r, ProblemError), r
        booked = [
            a
            for a in await service.patient_appointments(old.patient_id)
            if a.status == "booked" and a.specialty == old.specialty
        ]
        assert len(booked) == 1, results
        assert (await service.relocations.get(moved.id)).state in ("confirmed", "rebooked")
    await consistent(service)


async def test_on_a_holiday_no_clinic_is_offered_that_day(service):
    day = a_day(service, 1)  # shared with another test: other doctors
    sick, colleagues = doctors_with_colleague(service, day)
    (patient,) = await adults(service, 1)
    old = await book_first(service, patient, sick, day)
    assert any(free_slots(service, c, day) for c in colleagues), "a colleague is free that day"
    await take_day(service, sick, day, reason="holiday")
    moved = await relocation_of(service, old.id)
    assert moved.state == "offered" and moved.reason == "holiday"
    assert moved.offer.local_start[:10] != day.isoformat()
