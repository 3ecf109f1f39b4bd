"""A worker's engine loaded while the relay lags (Redis away, a relay taking over): the
events its snapshot already holds come on the stream afterwards, and must not be applied
over the loaded state. Here a slot was booked, cancelled and booked anew, none of it
published yet; the engine loads it booked, then the three events arrive: the slot stays
booked throughout (a stale cancellation would free it until the new booking's event came,
and the stale first booking would flag the engine for a needless reload), and a change
committed after the load is applied as ever."""

from __future__ import annotations

from datetime import datetime, timedelta

import asyncpg

import scheduler_core
from imias.booking.engine import ENGINE_TOPIC, Engine
from imias.booking.search import to_free_slot
from imias.citygen.seed import moscow_today, seed_city
from imias.domains import migrate_url
from imias.platform.outbox import write_event
from scheduler_core import Channel
from scheduler_core import events as ev
from scheduler_core.flags import ENTITLED_ALL

INSERT = """
INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id, starts_at, ends_at,
                          status, channel, created_at, updated_at)
VALUES ($1, $2, $3, $4, $5, $6, 'booked', 'registrar', now(), now()) RETURNING id
"""
CANCEL = "UPDATE appointments SET status = 'cancelled', updated_at = now() WHERE id = $1"


async def test_events_the_loaded_snapshot_holds_are_not_applied_again(fresh_database_url):
    await migrate_url(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await seed_city(conn, clinics=3, doctors=20, patients=20, start=moscow_today())
    finally:
        await conn.close()
    pool = await asyncpg.create_pool(fresh_database_url, min_size=1, max_size=2)
    try:
        first = Engine()
        await first.load(pool)
        assert first.calendar is not None
        tomorrow = (datetime.now(first.zone) + timedelta(days=1)).date().toordinal()
        doctor = next(iter(sorted(first.directory.doctors.values(), key=lambda d: d.id)))
        slot = first.calendar.find(
            doctor.id, tomorrow, 0, None, channel=int(Channel.ANY), entitled=ENTITLED_ALL
        )
        assert slot is not None
        free = to_free_slot(first, slot)
        where = (doctor.id, slot.day, slot.start, slot.length)
        row = (doctor.clinic_id, doctor.id, 1, doctor.specialty_id, free.starts_at, free.ends_at)

        async def change(sql: str, *args: object, event: ev.Event) -> object:
            async with pool.acquire() as c, c.transaction():
                found = await c.fetchval(sql, *args)
                await write_event(
                    c, topic=ENGINE_TOPIC, payload=scheduler_core.encode_event(event),
                    clinic_id=doctor.clinic_id, notify=False,
                )  # fmt: skip
                return found

        # booked, cancelled, booked anew by another patient: nothing published (no relay)
        a = await change(INSERT, *row, event=ev.SlotBooked(*where))
        await change(CANCEL, a, event=ev.SlotReleased(*where[:3]))
        b = await change(INSERT, *row[:2], 2, *row[3:], event=ev.SlotBooked(*where))
        stale = await pool.fetch(
            "SELECT id, payload FROM event_outbox WHERE published_at IS NULL AND topic = $1"
            " ORDER BY id",
            ENGINE_TOPIC,
        )
        assert len(stale) == 3

        engine = Engine()
        await engine.load(pool)
        assert engine.calendar is not None

        def is_free() -> bool:
            assert engine.calendar is not None
            found = engine.calendar.find(
                doctor.id, slot.day, slot.start, None, channel=int(Channel.ANY),
                entitled=ENTITLED_ALL,
            )  # fmt: skip
            return found is not None and found.start == slot.start and found.day == slot.day

        assert not is_free()  # the snapshot has B's booking
        for event in stale:  # the relay catches up; the stream brings them
            await engine.apply_event(ENGINE_TOPIC, bytes(event["payload"]), event["id"])
            assert not is_free()
        assert engine.applied_events == 0 and not engine.reload_needed
        # a change committed after the load is applied as ever
        after = await change(CANCEL, b, event=ev.SlotReleased(*where[:3]))
        assert after is None  # (an UPDATE's fetchval)
        (late,) = await pool.fetch(
            "SELECT id, payload FROM event_outbox WHERE published_at IS NULL ORDER BY id DESC"
            " LIMIT 1"
        )
        await engine.apply_event(ENGINE_TOPIC, bytes(late["payload"]), late["id"])
        assert is_free() and engine.applied_events == 1
    finally:
        await pool.close()
