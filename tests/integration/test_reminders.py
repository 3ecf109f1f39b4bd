"""Reminders go out once, a day ahead: a ``reminder`` notice each, and the pluggable
sender."""

import json
from datetime import UTC, datetime, timedelta

import asyncpg

from imias.booking.reminders import Reminder, send_due_reminders
from imias.platform.db import create_pool


class Collecting:
    def __init__(self) -> None:
        self.sent: list[Reminder] = []

    async def send(self, reminder: Reminder) -> None:
        self.sent.append(reminder)


async def test_reminders_go_out_once_a_day_ahead(database_url):
    now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute(
            "TRUNCATE appointments, patients, doctors, clinics, specialties, event_outbox CASCADE"
        )
        await conn.execute(
            """
            INSERT INTO specialties (id, code, name_ru, name_en, self_referral, slot_minutes)
            VALUES (1, 'therapist', 'Терапевт', 'Therapist', true, 15);
            INSERT INTO clinics (id, name, address, district, lat, lon, kind)
            VALUES (10, 'Поликлиника № 1', 'ул. Тверская, 1', 'ЦАО', 55.76, 37.61, 'adult');
            INSERT INTO doctors (clinic_id, id, specialty_id, family_name, given_name,
                                 slot_minutes) VALUES (10, 100, 1, 'Иванова', 'Мария', 15);
            INSERT INTO patients (id, policy_number, family_name, given_name, birth_date, sex)
            VALUES (1000, '7700000000000001', 'Смирнов', 'Иван', '1980-05-01', 'M');
            """
        )
        for hours, status in ((2, "booked"), (23, "booked"), (25, "booked"), (3, "cancelled")):
            start = now + timedelta(hours=hours)
            await conn.execute(
                "INSERT INTO appointments (clinic_id, doctor_id, patient_id, specialty_id,"
                " starts_at, ends_at, status, channel) VALUES (10, 100, 1000, 1, $1, $2, $3,"
                " 'web')",
                start,
                start + timedelta(minutes=15),
                status,
            )
        pool = await create_pool(database_url, 2)
        sender = Collecting()
        try:
            assert await send_due_reminders(pool, sender, lambda: now) == 2
            assert sorted(r.starts_at for r in sender.sent) == [
                now + timedelta(hours=2),
                now + timedelta(hours=23),
            ]
            assert await send_due_reminders(pool, sender, lambda: now) == 0, "once only"
            later = now + timedelta(hours=2)
            assert await send_due_reminders(pool, sender, lambda: later) == 1
        finally:
            await pool.close()
        rows = await conn.fetch("SELECT topic, payload FROM event_outbox ORDER BY id")
        assert [r["topic"] for r in rows] == ["notice"] * 3
        notices = [json.loads(bytes(r["payload"])) for r in rows]
        assert {n["kind"] for n in notices} == {"reminder"}
        assert {n["patient_id"] for n in notices} == {1000}
        assert not any(n["urgent"] for n in notices), "reminders wait out quiet hours"
        assert sorted(n["params"]["starts_at"] for n in notices) == sorted(
            (now + timedelta(hours=h)).isoformat() for h in (2, 23, 25)
        )
    finally:
        await conn.execute(
            "TRUNCATE appointments, patients, doctors, clinics, specialties, event_outbox CASCADE"
        )
        await conn.close()
