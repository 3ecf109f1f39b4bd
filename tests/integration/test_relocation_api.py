"""Moved patients over HTTP: the patient's offers, her answers (idempotent, refusals as
problem documents), and a clinic's list with the count of each state, each listed
patient's read written to the audit log."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import app_client, fetch, key

from imias.booking import BookingService, Engine, search
from imias.platform.db import create_pool
from scheduler_core import events as ev


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_relocation_api_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=8, doctors=160, patients=1000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    async with app_client(city, redis_url) as test_client:
        yield test_client


@pytest.fixture(scope="module")
async def mover(city):
    """The schedule's editing, played in the test's loop: its own engine and service."""
    pool = await create_pool(city, 2)
    engine = Engine()
    await engine.load(pool)
    yield BookingService(pool, engine, apply_locally=True)
    await pool.close()


def with_colleague(mover, n):
    """The ``n``-th doctor (of a plain specialty) with a colleague free the same day."""
    engine = mover.engine
    day = engine.first_day + timedelta(days=2)
    while day.isoweekday() > 5:
        day += timedelta(days=1)
    found = []
    for doctors in engine.directory.doctors_of_clinic.values():
        for d in doctors:
            spec = engine.directory.specialties[d.specialty_id]
            if spec.attached_only or not spec.self_referral or spec.sex or spec.max_age < 90:
                continue
            mine = search.doctor_slots(engine, d.id, 3, first=day, last=day, channel=1)
            others = [
                c
                for c in doctors
                if c.id != d.id
                and c.specialty_id == spec.id
                and search.doctor_slots(engine, c.id, 1, first=day, last=day, channel=1)
            ]
            if len(mine) == 3 and others:
                found.append((d, mine[-1], day))
    return found[n]


async def moved(client, mover, city, n):
    """A fresh adult booked with a doctor who is then sick for the day; the relocation."""
    doctor, slot, day = with_colleague(mover, n)
    (patient,) = await fetch(
        city,
        "SELECT id FROM patients WHERE birth_date < now() - interval '25 years' "
        "AND birth_date > now() - interval '60 years' AND NOT EXISTS "
        "(SELECT 1 FROM appointments a WHERE a.patient_id = patients.id) ORDER BY id LIMIT 1",
    )
    booked = await client.post(
        "/api/v1/appointments",
        json={
            "patient_id": patient["id"],
            "doctor_id": doctor.id,
            "starts_at": slot.starts_at.isoformat(),
        },
        headers=key() | bearer.registrar(doctor.clinic_id),
    )
    assert booked.status_code == 201, booked.text
    zone = ZoneInfo(mover.engine.directory.clinics[doctor.clinic_id].time_zone)
    since = datetime.combine(day, time(0), tzinfo=zone)
    writes = mover.writes()
    async with mover.pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO schedule_exceptions (clinic_id, doctor_id, day, kind) "
            "VALUES ($1, $2, $3, 'sick')",
            doctor.clinic_id,
            doctor.id,
            day,
        )
        rows = await conn.fetch(
            "SELECT * FROM appointments WHERE clinic_id = $1 AND doctor_id = $2 "
            "AND starts_at >= $3 AND starts_at < $4 AND status IN ('held', 'booked') FOR UPDATE",
            doctor.clinic_id,
            doctor.id,
            since,
            since + timedelta(days=1),
        )
        await mover.relocations.displace(
            conn, rows, now=mover.clock(), writes=writes, reason="sick", by=77
        )
        units = mover.engine.geometry.units_per_day
        await writes.emit(
            conn, ev.SlotsClosed(doctor.id, day.toordinal(), 0, units), doctor.clinic_id
        )
        rid = await conn.fetchval(
            "SELECT id FROM relocations WHERE appointment_id = $1", booked.json()["id"]
        )
    writes.applied()
    return patient["id"], doctor.clinic_id, rid


async def test_the_patient_sees_the_offer_and_confirms_it_once(client, mover, city):
    patient, clinic, rid = await moved(client, mover, city, 0)
    me = bearer.patient(patient)
    listed = await client.get(f"/api/v1/patients/{patient}/relocations", headers=me)
    assert listed.status_code == 200, listed.text
    (offer,) = listed.json()
    assert offer["id"] == rid and offer["state"] == "offered" and offer["reason"] == "sick"
    assert offer["old"]["status"] == "cancelled" and offer["offer"]["status"] == "held"
    assert offer["offer"]["clinic_id"] == clinic and offer["deadline"] and offer["deadline_local"]
    confirmed = await client.post(f"/api/v1/relocations/{rid}/confirm", headers=me)
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["state"] == "confirmed"
    assert confirmed.json()["offer"]["status"] == "booked"
    again = await client.post(f"/api/v1/relocations/{rid}/confirm", headers=me)
    assert again.status_code == 200 and again.json() == confirmed.json()
    declined = await client.post(f"/api/v1/relocations/{rid}/decline", headers=me)
    assert declined.status_code == 409
    assert declined.headers["content-type"].startswith("application/problem+json")
    assert declined.json()["code"] == "already_settled"
    assert declined.json()["state"] == "confirmed"
    mine = await client.get(f"/api/v1/patients/{patient}/appointments", headers=me)
    assert [a["id"] for a in mine.json() if a["status"] == "booked"] == [
        confirmed.json()["offer"]["id"]
    ]


async def test_a_registrar_declines_for_the_patient(client, mover, city):
    patient, clinic, rid = await moved(client, mover, city, 1)
    desk = bearer.registrar(clinic)
    declined = await client.post(f"/api/v1/relocations/{rid}/decline", headers=desk)
    assert declined.status_code == 200, declined.text
    assert declined.json()["state"] == "cancelled" and not declined.json()["deadline_passed"]
    again = await client.post(f"/api/v1/relocations/{rid}/decline", headers=desk)
    assert again.status_code == 200 and again.json()["state"] == "cancelled"
    late = await client.post(f"/api/v1/relocations/{rid}/confirm", headers=bearer.patient(patient))
    assert late.status_code == 409 and late.json()["code"] == "already_settled"
    other = bearer.registrar(next(c for c in range(1, 9) if c != clinic))
    assert (
        await client.post(f"/api/v1/relocations/{rid}/decline", headers=other)
    ).status_code == 404
    missing = await client.post("/api/v1/relocations/999999999/confirm", headers=desk)
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"


async def test_the_clinic_list_counts_states_and_audits_each_patient(client, mover, city):
    patient, clinic, rid = await moved(client, mover, city, 2)
    head = bearer.bearer("clinic_admin", 300_000 + clinic, org=clinic)
    answer = await client.get(f"/api/v1/clinics/{clinic}/relocations", headers=head)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert set(body["counts"]) == {"offered", "confirmed", "rebooked", "cancelled", "no_offer"}
    assert body["counts"]["offered"] >= 1
    mine = next(r for r in body["relocations"] if r["id"] == rid)
    assert mine["patient_name"] and mine["patient_id"] == patient
    only = await client.get(
        f"/api/v1/clinics/{clinic}/relocations", params={"state": "confirmed"}, headers=head
    )
    assert all(r["state"] == "confirmed" for r in only.json()["relocations"])
    bad = await client.get(
        f"/api/v1/clinics/{clinic}/relocations", params={"state": "lost"}, headers=head
    )
    assert bad.status_code == 400
    conn = await asyncpg.connect(city)
    try:
        read = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE actor_id = $1 AND resource = 'relocations' "
            "AND action = 'read' AND patient_id = $2",
            300_000 + clinic,
            patient,
        )
        by = await conn.fetchval("SELECT created_by FROM relocations WHERE id = $1", rid)
    finally:
        await conn.close()
    assert read >= 1 and by == 77
    other = next(c for c in range(1, 9) if c != clinic)
    refused = await client.get(f"/api/v1/clinics/{other}/relocations", headers=head)
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"


async def test_the_city_administrator_chooses_a_clinic_on_the_page(client, mover, city):
    patient, clinic, rid = await moved(client, mover, city, 3)
    admin = bearer.administrator()
    first = await client.get("/admin/relocations", headers=admin)
    assert first.status_code == 200
    assert '<select id="clinic" name="clinic">' in first.text
    assert f'data-relocation="{rid}"' not in first.text  # nothing listed before a choice
    chosen = await client.get(f"/admin/relocations?clinic={clinic}", headers=admin)
    assert chosen.status_code == 200
    assert f'data-relocation="{rid}"' in chosen.text
    only = await client.get(f"/admin/relocations?clinic={clinic}&state=no_offer", headers=admin)
    assert f'data-relocation="{rid}"' not in only.text
