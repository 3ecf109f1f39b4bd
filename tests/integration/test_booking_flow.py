"""The booking flow against real PostgreSQL: every rule's refusal, holds that expire
on a controllable clock, idempotent confirmation, cancel and reschedule."""

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import Clock

from imias.booking import search
from imias.booking.engine import Engine
from imias.booking.service import BookingService
from imias.platform.db import create_pool
from imias.platform.problems import ProblemError
from scheduler_core import BOOKED, FREE, HELD


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_flow_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=4000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def engine(city):
    pool = await create_pool(city, 4)
    engine = Engine()
    await engine.load(pool)
    yield engine, pool
    await pool.close()


@pytest.fixture(scope="module")
def clock():
    """One clock for the module: the engine's clock only moves forward, like time."""
    return Clock(datetime.now(UTC))


@pytest.fixture
def service(engine, clock):
    eng, pool = engine
    return BookingService(pool, eng, clock=clock, apply_locally=True)


def first_slots(service, specialty: str, n: int = 1, clinic: int | None = None, channel=1):
    """The earliest free slots that start at least an hour from the clock's now, so that
    a test that moves the clock past a hold's expiry still has them in the future."""
    eng = service.engine
    spec = eng.directory.by_code[specialty]
    first, last = search.window(eng, None, None)
    later = service.clock() + timedelta(hours=1)
    found = search.earliest(
        eng,
        n + 400,
        specialty_id=spec.id,
        clinic_ids=[clinic] if clinic else None,
        first=first,
        last=last,
        channel=channel,
        now=later,
    )
    return found[:n]


async def adults_attached_to(pool, clinic: int | None, n: int, sex: str | None = None) -> list[int]:
    """Adults without appointments, attached to ``clinic`` (None: anywhere)."""
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            """
            SELECT p.id FROM patients p
             WHERE ($1::bigint IS NULL OR p.attached_clinic_id = $1)
               AND p.birth_date < now() - interval '20 years'
               AND ($3::text IS NULL OR p.sex = $3)
               AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.patient_id = p.id)
             ORDER BY random() LIMIT $2
            """,
            clinic,
            n,
            sex,
        )
    ids = [r["id"] for r in rows]
    assert len(ids) == n, f"not enough patients attached to clinic {clinic}"
    return ids


def engine_state(service, slot) -> int:
    p = service.placement.place(slot.doctor_id, slot.starts_at)
    return service.engine.calendar.day_states(slot.doctor_id, p.day)[p.unit]


async def refused(code: str, awaitable) -> ProblemError:
    with pytest.raises(ProblemError) as caught:
        await awaitable
    assert caught.value.code == code, caught.value
    return caught.value


async def test_hold_then_confirm_books_and_nobody_else_gets_the_slot(service):
    slot = first_slots(service, "therapist")[0]
    alice, bob = await adults_attached_to(service.pool, slot.clinic_id, 2)
    hold = await service.hold(alice, slot.doctor_id, slot.starts_at, "web")
    assert engine_state(service, slot) == HELD
    await refused("slot_taken", service.hold(bob, slot.doctor_id, slot.starts_at, "web"))
    booked = await service.confirm(alice, hold.token, "key-alice-0001")
    assert booked.status == "booked" and booked.id == hold.appointment_id
    assert engine_state(service, slot) == BOOKED
    again = await service.confirm(alice, hold.token, "key-alice-0001")
    assert again == booked, "the same Idempotency-Key returns the same appointment"
    async with service.pool.acquire() as conn:
        rows = await conn.fetch("SELECT status FROM appointments WHERE patient_id = $1", alice)
    assert [r["status"] for r in rows] == ["booked"]
    await refused(
        "idempotency_key_reused",
        service.book(alice, slot.doctor_id, slot.starts_at, "registrar", "key-alice-0001"),
    )


async def test_only_a_hold_commits_without_waiting_for_the_disk(city, engine, clock):
    """A hold's transaction turns synchronous_commit off for itself; a confirmation and a
    registrar's booking keep durable commits (the session stays at the server's
    setting)."""
    eng, _ = engine
    pool = await create_pool(city, 1)  # one connection: every statement passes its logger
    try:
        service = BookingService(pool, eng, clock=clock, apply_locally=True)
        seen: list[str] = []
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: seen.append(record.query))
            durable = await conn.fetchval("SHOW synchronous_commit")
        assert durable == "on"
        seen.clear()
        # Both at one clinic: a district therapist books only the patients attached to hers.
        clinic = first_slots(service, "therapist")[0].clinic_id
        one, two = first_slots(service, "therapist", 2, clinic=clinic)
        alice, bob = await adults_attached_to(pool, one.clinic_id, 2)

        def relaxed() -> bool:
            took = any("synchronous_commit" in q for q in seen)
            seen.clear()
            return took

        hold = await service.hold(alice, one.doctor_id, one.starts_at, "web")
        assert relaxed()
        await service.confirm(alice, hold.token, "key-durable-0001")
        assert not relaxed()
        await service.book(bob, two.doctor_id, two.starts_at, "registrar", "key-durable-0002")
        assert not relaxed()
        async with pool.acquire() as conn:
            assert await conn.fetchval("SHOW synchronous_commit") == durable
    finally:
        await pool.close()


async def test_a_hold_on_time_the_engine_knows_taken_never_reaches_the_database(
    city, engine, clock
):
    eng, _ = engine
    pool = await create_pool(city, 1)  # one connection: every statement passes its logger
    try:
        service = BookingService(pool, eng, clock=clock, apply_locally=True)
        (slot,) = first_slots(service, "therapist")
        alice, bob = await adults_attached_to(pool, slot.clinic_id, 2)
        await service.hold(alice, slot.doctor_id, slot.starts_at, "web")
        seen: list[str] = []
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: seen.append(record.query))
        await refused("slot_taken", service.hold(bob, slot.doctor_id, slot.starts_at, "web"))
        assert seen == [], "refused from the engine, before any transaction"
    finally:
        await pool.close()


async def test_an_expired_hold_cannot_be_confirmed_and_never_blocks(service, clock):
    slot = first_slots(service, "therapist", 3)[2]
    alice, bob = await adults_attached_to(service.pool, slot.clinic_id, 2)
    hold = await service.hold(alice, slot.doctor_id, slot.starts_at, "web")
    clock.now += timedelta(seconds=service.hold_seconds + 1)
    await refused("hold_expired", service.confirm(alice, hold.token, "key-late-00001"))
    other = await service.hold(bob, slot.doctor_id, slot.starts_at, "web")
    confirmed = await service.confirm(bob, other.token, "key-bob-000001")
    assert confirmed.patient_id == bob


async def test_someone_elses_hold_answers_as_an_unknown_one(service):
    slot = first_slots(service, "therapist", 5)[4]
    alice, bob = await adults_attached_to(service.pool, slot.clinic_id, 2)
    hold = await service.hold(alice, slot.doctor_id, slot.starts_at, "web")
    unknown = str(uuid.uuid4())
    # The same answer, code and words for a live hold of Alice's and a token of no one's.
    theirs = await refused("hold_expired", service.confirm(bob, hold.token, "key-bob-wrong1"))
    nobodys = await refused("hold_expired", service.confirm(bob, unknown, "key-bob-wrong2"))
    assert (theirs.status, theirs.detail) == (nobodys.status, nobodys.detail)
    await service.release_hold(alice, hold.token)
    assert engine_state(service, slot) == FREE


async def test_a_patient_holds_at_most_two_slots(service):
    slots = first_slots(service, "ophthalmologist", 3)
    (alice,) = await adults_attached_to(service.pool, None, 1)
    for slot in slots[:2]:
        await service.hold(alice, slot.doctor_id, slot.starts_at, "web")
    await refused("hold_limit", service.hold(alice, slots[2].doctor_id, slots[2].starts_at, "web"))


async def test_one_patients_concurrent_requests_see_each_others_commits(service):
    """Six holds of one patient at once, on four connections: the patient's lock
    serialises them and each reads the facts after the one before committed, so exactly
    two are held. Then three confirms of one hold with one key give one appointment."""
    slots = first_slots(service, "ophthalmologist", 6)
    (alice,) = await adults_attached_to(service.pool, None, 1)
    results = await asyncio.gather(
        *(service.hold(alice, s.doctor_id, s.starts_at, "web") for s in slots),
        return_exceptions=True,
    )
    holds = [r for r in results if not isinstance(r, BaseException)]
    codes = sorted(r.code for r in results if isinstance(r, ProblemError))
    assert len(holds) == 2
    assert codes == ["hold_limit"] * 4
    confirms = await asyncio.gather(
        *(service.confirm(alice, holds[0].token, "key-same-000001") for _ in range(3))
    )
    assert {c.id for c in confirms} == {holds[0].appointment_id}
    async with service.pool.acquire() as conn:
        booked = await conn.fetchval(
            "SELECT count(*) FROM appointments WHERE patient_id = $1 AND status = 'booked'",
            alice,
        )
    assert booked == 1


async def test_one_future_appointment_per_specialty(service):
    a = first_slots(service, "therapist", 12)[10]
    b = first_slots(service, "therapist", 12, clinic=a.clinic_id)[-1]
    (alice,) = await adults_attached_to(service.pool, a.clinic_id, 1)
    await service.book(alice, a.doctor_id, a.starts_at, "registrar", "key-dup-000001")
    await refused("duplicate_appointment", service.hold(alice, b.doctor_id, b.starts_at, "web"))


async def test_therapists_are_booked_at_the_attached_clinic_only(service):
    slot = first_slots(service, "therapist")[0]
    async with service.pool.acquire() as conn:
        stranger = await conn.fetchval(
            "SELECT id FROM patients WHERE attached_clinic_id <> $1 AND "
            "birth_date < now() - interval '20 years' LIMIT 1",
            slot.clinic_id,
        )
    await refused("not_attached", service.hold(stranger, slot.doctor_id, slot.starts_at, "web"))


async def test_age_limits_send_children_to_paediatricians(service):
    slot = first_slots(service, "therapist")[0]
    async with service.pool.acquire() as conn:
        child = await conn.fetchval(
            "SELECT id FROM patients WHERE birth_date > now() - interval '10 years' LIMIT 1"
        )
    await refused("age_not_allowed", service.hold(child, slot.doctor_id, slot.starts_at, "web"))
    paed = first_slots(service, "paediatrician")[0]
    (adult,) = await adults_attached_to(service.pool, slot.clinic_id, 1)
    await refused("age_not_allowed", service.hold(adult, paed.doctor_id, paed.starts_at, "web"))


async def test_referral_only_specialists_need_a_referral_which_a_cancel_gives_back(service):
    eng = service.engine
    spec = eng.directory.by_code["cardiologist"]
    first, last = search.window(eng, None, None)
    slot = search.earliest(
        eng,
        1,
        specialty_id=spec.id,
        clinic_ids=None,
        first=first,
        last=last,
        channel=1,
        now=service.clock(),
        entitled=32,
    )[0]
    (alice,) = await adults_attached_to(service.pool, slot.clinic_id, 1)
    await refused("referral_required", service.hold(alice, slot.doctor_id, slot.starts_at, "web"))
    therapist = first_slots(service, "therapist")[0]
    referral = await service.issue_referral(alice, "cardiologist", therapist.doctor_id)
    hold = await service.hold(alice, slot.doctor_id, slot.starts_at, "web")
    booked = await service.confirm(alice, hold.token, "key-cardio-0001")
    async with service.pool.acquire() as conn:
        status = "SELECT status FROM referrals WHERE id = $1"
        assert await conn.fetchval(status, referral) == "used"
        await service.cancel(alice, booked.id)
        assert await conn.fetchval(status, referral) == "active"


async def test_slots_kept_for_the_phone_are_not_for_the_web(service):
    async with service.pool.acquire() as conn:
        row = await conn.fetchrow(
            "SELECT t.doctor_id FROM schedule_templates t JOIN doctors d ON d.id = t.doctor_id "
            "JOIN specialties s ON s.id = d.specialty_id "
            "WHERE t.channels = 20 AND s.code = 'ophthalmologist' LIMIT 1"
        )
    assert row is not None
    doctor = row["doctor_id"]
    first, last = search.window(service.engine, None, None)
    phone = search.doctor_slots(
        service.engine, doctor, 200, first=first, last=last, channel=4, now=service.clock()
    )
    web = {
        s.starts_at
        for s in search.doctor_slots(
            service.engine, doctor, 200, first=first, last=last, channel=1, now=service.clock()
        )
    }
    only_phone = next(s for s in phone if s.starts_at not in web)
    (alice,) = await adults_attached_to(service.pool, None, 1)
    await refused("channel_not_allowed", service.hold(alice, doctor, only_phone.starts_at, "web"))
    hold = await service.hold(alice, doctor, only_phone.starts_at, "phone")
    assert hold.slot.channel == "phone"


async def test_cancel_frees_the_time_and_others_cannot_cancel(service):
    slot = first_slots(service, "ophthalmologist", 8)[7]
    alice, bob = await adults_attached_to(service.pool, None, 2)
    booked = await service.book(
        alice, slot.doctor_id, slot.starts_at, "registrar", "key-cancel-0001"
    )
    await refused("not_found", service.cancel(bob, booked.id))
    cancelled = await service.cancel(alice, booked.id)
    assert cancelled.status == "cancelled" and engine_state(service, slot) == FREE
    await service.book(bob, slot.doctor_id, slot.starts_at, "registrar", "key-cancel-0002")


async def test_reschedule_moves_atomically_or_changes_nothing(service):
    a, b, c = first_slots(service, "ophthalmologist", 12)[9:12]
    alice, bob = await adults_attached_to(service.pool, None, 2)
    old = await service.book(alice, a.doctor_id, a.starts_at, "registrar", "key-move-00001")
    await service.book(bob, c.doctor_id, c.starts_at, "registrar", "key-move-00002")
    await refused(
        "slot_taken",
        service.reschedule(alice, old.id, c.doctor_id, c.starts_at, "web", "key-move-00003"),
    )
    async with service.pool.acquire() as conn:
        assert (
            await conn.fetchval("SELECT status FROM appointments WHERE id = $1", old.id) == "booked"
        )
    new = await service.reschedule(alice, old.id, b.doctor_id, b.starts_at, "web", "key-move-00004")
    async with service.pool.acquire() as conn:
        statuses = dict(
            await conn.fetch("SELECT id, status FROM appointments WHERE patient_id = $1", alice)
        )
    assert statuses == {old.id: "cancelled", new.id: "booked"}
    assert engine_state(service, a) == FREE and engine_state(service, b) == BOOKED


async def test_a_time_off_the_schedule_is_outside_schedule(service):
    slot = first_slots(service, "therapist")[0]
    (alice,) = await adults_attached_to(service.pool, slot.clinic_id, 1)
    await refused(
        "outside_schedule",
        service.hold(alice, slot.doctor_id, slot.starts_at + timedelta(minutes=5), "web"),
    )
    await refused(
        "outside_schedule",
        service.hold(
            alice,
            slot.doctor_id,
            datetime.combine(date.today() + timedelta(days=60), slot.starts_at.timetz()),
            "web",
        ),
    )


async def test_every_change_writes_its_event_to_the_outbox(service):
    slot = first_slots(service, "ophthalmologist", 15)[14]
    (alice,) = await adults_attached_to(service.pool, None, 1)
    async with service.pool.acquire() as conn:
        before = await conn.fetchval("SELECT coalesce(max(id), 0) FROM event_outbox")
        hold = await service.hold(alice, slot.doctor_id, slot.starts_at, "web")
        booked = await service.confirm(alice, hold.token, "key-outbox-001")
        await service.cancel(alice, booked.id)
        rows = await conn.fetch(
            "SELECT topic, payload FROM event_outbox WHERE id > $1 ORDER BY id", before
        )
    from imias.booking import decode_appointment_change
    from scheduler_core import decode_event

    engine = [r for r in rows if r["topic"] == "engine"]
    kinds = [type(decode_event(r["payload"])).__name__ for r in engine]
    assert kinds == ["SlotHeld", "HoldConfirmed", "SlotReleased"]
    # and the appointment's own events (the HL7 feeds'), none for the hold
    changes = [decode_appointment_change(r["payload"]) for r in rows if r not in engine]
    assert [(type(c).__name__, c.appointment_id, c.patient_id) for c in changes] == [
        ("AppointmentBooked", booked.id, alice),
        ("AppointmentCancelled", booked.id, alice),
    ]
    assert {r["topic"] for r in rows} == {"engine", "booking.appointment"}


async def test_appointments_not_attended_become_no_shows_after_their_end(service, clock):
    slot = first_slots(service, "ophthalmologist", 20)[19]
    alice, bob = await adults_attached_to(service.pool, None, 2)
    missed = await service.book(
        alice, slot.doctor_id, slot.starts_at, "registrar", "key-noshow-001"
    )
    other = first_slots(service, "ophthalmologist", 21)[20]
    came = await service.book(bob, other.doctor_id, other.starts_at, "registrar", "key-noshow-002")
    await service.set_visit_status(came.id, "arrived", ("booked",))
    assert await service.mark_no_shows() == 0, "nothing has ended yet"
    saved = clock.now
    clock.now = max(missed.ends_at, came.ends_at) + timedelta(minutes=1)
    try:
        assert await service.mark_no_shows() >= 1  # (other tests here booked earlier times)
    finally:
        clock.now = saved
    async with service.pool.acquire() as conn:
        statuses = dict(
            await conn.fetch(
                "SELECT id, status FROM appointments WHERE id = ANY($1::bigint[])",
                [missed.id, came.id],
            )
        )
    assert statuses == {missed.id: "no_show", came.id: "arrived"}


async def test_two_holds_of_one_specialty_cannot_both_be_confirmed(service):
    a, b = first_slots(service, "ophthalmologist", 25)[23:25]
    (alice,) = await adults_attached_to(service.pool, None, 1)
    first = await service.hold(alice, a.doctor_id, a.starts_at, "web")
    second = await service.hold(alice, b.doctor_id, b.starts_at, "web")
    await service.confirm(alice, first.token, "key-twice-0001")
    await refused("duplicate_appointment", service.confirm(alice, second.token, "key-twice-0002"))


async def test_a_start_time_with_seconds_is_refused_not_a_500(service):
    slot = first_slots(service, "ophthalmologist", 27)[26]
    (alice,) = await adults_attached_to(service.pool, None, 1)
    await refused(
        "outside_schedule",
        service.hold(alice, slot.doctor_id, slot.starts_at + timedelta(seconds=30), "web"),
    )


async def test_events_arriving_during_a_rebuild_reach_the_new_engine(service, monkeypatch):
    from imias.booking import engine as engine_module
    from scheduler_core import encode_event
    from scheduler_core import events as ev

    eng = service.engine
    slot = first_slots(service, "ophthalmologist", 29)[28]
    p = service.placement.place(slot.doctor_id, slot.starts_at)
    real = engine_module.load_calendar
    event = ev.SlotBooked(slot.doctor_id, p.day, p.unit, p.length)

    async def load_while_a_change_arrives(*args, **kwargs):
        built = await real(*args, **kwargs)
        await eng.apply_event("engine", encode_event(event), 999_999)  # from the stream
        return built

    monkeypatch.setattr(engine_module, "load_calendar", load_while_a_change_arrives)
    await eng.load(service.pool)
    assert engine_state(service, slot) == BOOKED, "the change is not lost by the rebuild"
    eng.calendar.release(slot.doctor_id, p.day, p.unit)  # leave the engine as the database
