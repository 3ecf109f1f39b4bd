"""The waitlist on a controllable clock: a freed slot goes first to the earliest
eligible waiting patient as a 15-minute hold; declined or expired, to the next; then to
everyone."""

import json
from datetime import UTC, datetime, timedelta

import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import Clock

from imias.booking import search
from imias.booking.engine import Engine
from imias.booking.service import BookingService
from imias.platform.db import create_pool
from imias.platform.problems import ProblemError
from scheduler_core import FREE, HELD


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_waitlist_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=3000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def clock():
    return Clock(datetime.now(UTC))


@pytest.fixture(scope="module")
async def service(city, clock):
    pool = await create_pool(city, 4)
    engine = Engine()
    await engine.load(pool)
    yield BookingService(pool, engine, clock=clock, apply_locally=True)
    await pool.close()


def a_slot(service, n: int, specialty: str = "ophthalmologist"):
    eng = service.engine
    first, last = search.window(eng, None, None)
    slots = search.earliest(
        eng,
        n + 1,
        specialty_id=eng.directory.by_code[specialty].id,
        clinic_ids=None,
        first=first,
        last=last,
        channel=1,
        now=service.clock() + timedelta(hours=2),
    )
    return slots[n]


async def adults(service, n: int) -> list[int]:
    async with service.pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT id FROM patients WHERE birth_date < now() - interval '20 years' "
            "AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.patient_id = patients.id) "
            "AND NOT EXISTS (SELECT 1 FROM waitlist_entries w WHERE w.patient_id = patients.id) "
            "ORDER BY random() LIMIT $1",
            n,
        )
    return [r["id"] for r in rows]


def state(service, slot) -> int:
    p = service.placement.place(slot.doctor_id, slot.starts_at)
    return service.engine.calendar.day_states(slot.doctor_id, p.day)[p.unit]


async def join(service, patient, slot, **where):
    day = slot.starts_at.astimezone(service.engine.zone).date()
    return await service.waitlist.join(
        patient,
        "ophthalmologist",
        where.get("clinic"),
        where.get("doctor"),
        service.engine.today(),
        day + timedelta(days=1),
    )


async def notices_to(service, patient: int) -> list[dict]:
    """The notices to the patient in the outbox (the notification service sends them)."""
    rows = await service.pool.fetch("SELECT payload FROM event_outbox WHERE topic = 'notice'")
    return [n for n in (json.loads(bytes(r["payload"])) for r in rows)
            if n["patient_id"] == patient]  # fmt: skip


async def offer_of(service, patient):
    entries = await service.waitlist.entries(patient)
    assert len(entries) == 1
    return entries[0]


async def test_a_cancelled_slot_is_offered_to_the_waiting_patient_first(service):
    slot = a_slot(service, 0)
    holder, waiter, someone = await adults(service, 3)
    booked = await service.book(
        holder, slot.doctor_id, slot.starts_at, "registrar", "wl-key-000001"
    )
    entry = await join(service, waiter, slot, doctor=slot.doctor_id)
    assert entry.status == "waiting"
    await service.cancel(holder, booked.id)
    offer = await offer_of(service, waiter)
    assert offer.status == "offered" and offer.offer_token is not None
    assert offer.offer_expires_at == service.clock() + timedelta(minutes=15)
    assert offer.offer_starts_at == slot.starts_at
    assert state(service, slot) == HELD, "search does not show it to anyone else"
    notices = await notices_to(service, waiter)
    assert [n["kind"] for n in notices] == ["waitlist_offer"], "the waiter is told at once"
    assert notices[0]["urgent"] and notices[0]["params"] == {
        "appointment_id": notices[0]["params"]["appointment_id"],
        "clinic_id": slot.clinic_id, "doctor_id": slot.doctor_id,
        "starts_at": slot.starts_at.isoformat(),
        "expires_at": offer.offer_expires_at.isoformat(),
    }  # fmt: skip
    assert not await notices_to(service, holder), "her own cancellation: nobody tells her"
    with pytest.raises(ProblemError) as caught:
        await service.hold(someone, slot.doctor_id, slot.starts_at, "web")
    assert caught.value.code == "slot_taken"
    appointment = await service.confirm(waiter, offer.offer_token, "wl-key-000002")
    assert appointment.status == "booked"
    assert (await offer_of(service, waiter)).status == "booked"


async def test_declined_then_expired_offers_go_on_then_to_everyone(service, clock):
    slot = a_slot(service, 3)
    holder, first, second = await adults(service, 3)
    booked = await service.book(
        holder, slot.doctor_id, slot.starts_at, "registrar", "wl-key-000003"
    )
    await join(service, first, slot)
    clock.now += timedelta(seconds=1)
    await join(service, second, slot)
    await service.cancel(holder, booked.id)
    assert (await offer_of(service, first)).status == "offered"
    assert (await offer_of(service, second)).status == "waiting"
    await service.release_hold(first, (await offer_of(service, first)).offer_token)
    assert (await offer_of(service, first)).status == "cancelled"
    offer = await offer_of(service, second)
    assert offer.status == "offered"
    clock.now += timedelta(minutes=16)
    assert await service.expire_holds() >= 1
    assert (await offer_of(service, second)).status == "expired"
    assert state(service, slot) == FREE, "nobody else waits: the slot is everyone's"


async def test_an_ineligible_waiter_is_passed_over(service, clock):
    slot = a_slot(service, 6)
    holder, adult = await adults(service, 2)
    async with service.pool.acquire() as conn:
        child = await conn.fetchval(
            "SELECT id FROM patients WHERE birth_date > now() - interval '10 years' "
            "AND NOT EXISTS (SELECT 1 FROM waitlist_entries w WHERE w.patient_id = patients.id) "
            "LIMIT 1"
        )
    booked = await service.book(
        holder, slot.doctor_id, slot.starts_at, "registrar", "wl-key-000004"
    )
    # The child already has a future ophthalmologist appointment, so a second one would
    # be a duplicate: the child is passed over and keeps waiting.
    other = a_slot(service, 7)
    await service.book(child, other.doctor_id, other.starts_at, "registrar", "wl-key-000005")
    await join(service, child, slot)
    clock.now += timedelta(seconds=1)
    await join(service, adult, slot)
    await service.cancel(holder, booked.id)
    assert (await offer_of(service, child)).status == "waiting"
    assert (await offer_of(service, adult)).status == "offered"


async def test_joining_twice_or_with_a_bad_window_is_refused(service):
    slot = a_slot(service, 9)
    (patient,) = await adults(service, 1)
    await join(service, patient, slot)
    with pytest.raises(ProblemError) as caught:
        await join(service, patient, slot)
    assert caught.value.code == "already_waiting"
    today = service.engine.today()
    with pytest.raises(ProblemError) as caught:
        await service.waitlist.join(
            patient, "therapist", None, None, today, today - timedelta(days=1)
        )
    assert caught.value.code == "invalid_range"
    await service.waitlist.leave(patient, (await offer_of(service, patient)).id)
    assert (await offer_of(service, patient)).status == "cancelled"


async def test_an_expired_offer_taken_before_the_sweep_does_not_leave_the_waiter_stuck(
    service, clock
):
    slot = a_slot(service, 12)
    holder, waiter, someone = await adults(service, 3)
    booked = await service.book(
        holder, slot.doctor_id, slot.starts_at, "registrar", "wl-key-000006"
    )
    await join(service, waiter, slot)
    await service.cancel(holder, booked.id)
    assert (await offer_of(service, waiter)).status == "offered"
    clock.now += timedelta(minutes=16)  # the offer runs out; no sweep has run yet
    hold = await service.hold(someone, slot.doctor_id, slot.starts_at, "web")
    assert hold.slot.patient_id == someone
    entry = await offer_of(service, waiter)
    assert entry.status == "expired" and entry.offer_token is None
