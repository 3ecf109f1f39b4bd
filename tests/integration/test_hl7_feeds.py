"""The HL7 v2 feeds over real sockets: an MLLP receiver subscribed as an ``hl7_feed``
partner gets S12, S13, S15 and S26 for a booking, a reschedule, a cancellation and a
no-show, in the patient's order, and A28 / A31 for a patient registered and updated;
each parsed back with hl7apy and checked field by field. The app runs as served: the
booking's use cases write the events, the relay routes them, the partner's worker
delivers them."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import asyncpg
import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from signin import adults, app_client, key
from test_outbox import eventually

from imias.booking import BookingService
from imias.registry import patients
from integrations import hl7
from integrations import repository as repo
from integrations.model import Partner
from integrations.simulators import MllpReceiver


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_hl7_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=8, doctors=120, patients=800)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    async with app_client(city, redis_url) as c:
        c.city = city
        yield c


@pytest.fixture(scope="module")
async def pool(city):
    p = await asyncpg.create_pool(city, min_size=1, max_size=3)
    yield p
    await p.close()


@pytest.fixture
async def receiver(client, pool):
    sim = MllpReceiver()
    await sim.start()
    partner = Partner(
        id=f"feed-{uuid.uuid4().hex[:8]}", kind="hl7_feed", name="HIS", transport="mllp",
        url=sim.url, topics=["hl7.siu", "hl7.adt"], backoff_ms=50, backoff_cap_ms=500,
    )  # fmt: skip
    await repo.save_partner(pool, partner)
    try:
        yield sim
    finally:
        await repo.save_partner(
            pool,
            Partner(
                **{**{f: getattr(partner, f) for f in partner.__struct_fields__}, "enabled": False}
            ),
        )
        await sim.stop()


def of_patient(sim: MllpReceiver, policy: str) -> list:
    return [hl7.parse(m.body.encode()) for m in sim.store.snapshot() if m.order_key == policy]


def triggers(messages: list) -> list[str]:
    return [str(m.msh.msh_9.msh_9_2.value) for m in messages]


async def slots(client, specialty: str, clinic: int | None = None) -> list[dict]:
    params: dict = {"specialty": specialty, "limit": 40}
    if clinic is not None:
        params["clinic"] = clinic
    return (await client.get("/api/v1/slots", params=params)).json()


async def test_siu_for_booking_reschedule_cancel_and_no_show_in_order(client, pool, receiver):
    person = dict((await adults(client.city, 1, offset=5))[0])
    me = bearer.patient(person["id"])
    found = await slots(client, "ophthalmologist")
    first = await client.post(
        "/api/v1/appointments",
        json={"doctor_id": found[0]["doctor_id"], "starts_at": found[0]["starts_at"]},
        headers=me | key(),
    )
    assert first.status_code == 201, first.text
    booked = first.json()
    later = next(s for s in found[1:] if s["starts_at"] != booked["starts_at"])
    moved = await client.post(
        f"/api/v1/appointments/{booked['id']}/reschedule",
        json={"doctor_id": later["doctor_id"], "starts_at": later["starts_at"]},
        headers=me | key(),
    )
    assert moved.status_code == 201, moved.text
    new = moved.json()
    cancelled = await client.post(f"/api/v1/appointments/{new['id']}/cancel", headers=me)
    assert cancelled.status_code == 200, cancelled.text
    # a fourth booking that the patient misses: the doctor marks it once it has begun
    again = await client.post(
        "/api/v1/appointments",
        json={"doctor_id": found[-1]["doctor_id"], "starts_at": found[-1]["starts_at"]},
        headers=me | key(),
    )
    assert again.status_code == 201, again.text
    missed = again.json()
    state = client.app_state
    start = state.booking.clock()
    late = BookingService(
        pool,
        state.booking.engine,
        clock=lambda: start + (missed_start(missed) - start) + timedelta(minutes=1),
    )
    await late.mark_no_show(missed["id"])

    policy = person["policy_number"]
    await eventually(lambda: len(of_patient(receiver, policy)) >= 5, 20, "five SIU messages")
    got = of_patient(receiver, policy)
    assert triggers(got) == ["S12", "S13", "S15", "S12", "S26"]
    s12, s13, s15, s12b, s26 = got
    for m in got:
        assert m.msh.msh_9.value.startswith("SIU^")
        assert m.msh.msh_9.msh_9_3.value == "SIU_S12"
        assert m.msh.msh_12.value == "2.5"
        pid = [c for c in m.children if c.name == "PID"][0]
        ids = [x.value for x in pid.pid_3]
        assert ids == [f"{policy}^^^OMS^NH", f"{person['id']}^^^IMIAS^PI"]
        assert pid.pid_5.pid_5_1.value == person["family_name"]
        assert pid.pid_5.pid_5_2.value == person["given_name"]
        assert pid.pid_7.value == person["birth_date"].strftime("%Y%m%d")
    # MSH-10 is the message id the receiver dedups on, one per message
    assert len({hl7.control_id(m) for m in got}) == 5
    assert s12.sch.sch_2.value == f"{booked['id']}^IMIAS"
    assert s12.sch.sch_25.value == "Booked"
    assert s12.sch.sch_11.value.split("^")[3] == hl7.timestamp(parse_at(booked["starts_at"]))
    assert s12.sch.sch_20.value.split("^")[0] == "web"
    ais = [c for c in s12.children if c.name == "AIS"][0]
    assert ais.ais_3.value.split("^")[0] == "ophthalmologist"
    aip = [c for c in s12.children if c.name == "AIP"][0]
    assert aip.aip_3.value.split("^")[0] == f"{booked['clinic_id']}-{booked['doctor_id']}"
    ail = [c for c in s12.children if c.name == "AIL"][0]
    assert ail.ail_3.value.split("^")[0] == str(booked["clinic_id"])
    # S13: the new appointment, and the one it replaces as the placer's id
    assert s13.sch.sch_1.value == f"{booked['id']}^IMIAS"
    assert s13.sch.sch_2.value == f"{new['id']}^IMIAS"
    assert s13.sch.sch_11.value.split("^")[3] == hl7.timestamp(parse_at(new["starts_at"]))
    assert [c.name for c in s13.children if c.name == "RGS"] and s13.rgs.rgs_2.value == "U"
    assert s15.sch.sch_2.value == f"{new['id']}^IMIAS"
    assert s15.sch.sch_25.value == "Cancelled"
    assert s12b.sch.sch_2.value == f"{missed['id']}^IMIAS"
    assert s26.sch.sch_2.value == f"{missed['id']}^IMIAS"
    assert s26.sch.sch_25.value == "Noshow"
    assert receiver.store.stats["duplicates"] == 0


def parse_at(text: str):
    from datetime import datetime

    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def missed_start(appointment: dict):
    return parse_at(appointment["starts_at"])


async def test_a_hold_sends_nothing_until_it_is_confirmed(client, pool, receiver):
    person = dict((await adults(client.city, 1, offset=9))[0])
    me = bearer.patient(person["id"])
    found = await slots(client, "ophthalmologist")
    held = await client.post(
        "/api/v1/holds",
        json={"doctor_id": found[2]["doctor_id"], "starts_at": found[2]["starts_at"]},
        headers=me,
    )
    assert held.status_code == 201, held.text
    token = held.json()["token"]
    policy = person["policy_number"]
    before = await pool.fetchval(
        "SELECT count(*) FROM event_outbox WHERE topic = 'booking.appointment'"
        " AND convert_from(payload, 'UTF8') LIKE $1",
        f'%"patient_id":{person["id"]},%',
    )
    confirmed = await client.post(f"/api/v1/holds/{token}/confirm", headers=me | key())
    assert confirmed.status_code == 201, confirmed.text
    await eventually(lambda: len(of_patient(receiver, policy)) >= 1, 20, "the S12")
    got = of_patient(receiver, policy)
    assert triggers(got) == ["S12"]
    assert got[0].sch.sch_2.value == f"{confirmed.json()['id']}^IMIAS"
    assert before == 0  # the hold wrote no appointment event


async def test_adt_a28_and_a31_for_a_patient_registered_and_updated(client, pool, receiver):
    policy = str(7_700_000_000_000_000 + uuid.uuid4().int % 10**15)
    clinic = await pool.fetchval("SELECT min(id) FROM clinics")
    async with pool.acquire() as conn, conn.transaction():
        patient_id = await patients.register(
            conn,
            policy_number=policy,
            family_name="Смирнова",
            given_name="Анна",
            patronymic="Сергеевна",
            birth_date=date(1990, 3, 14),
            sex="F",
            phone="+79990001122",
            attached_clinic_id=clinic,
        )
    # (a message tells the patient's data as it is when the message is made: the
    # latest; here the A28 is made before the update)
    await eventually(lambda: len(of_patient(receiver, policy)) >= 1, 20, "A28")
    async with pool.acquire() as conn, conn.transaction():
        assert await patients.update(
            conn, patient_id, phone="+79990003344", family_name="Кузнецова"
        )
    async with pool.acquire() as conn, conn.transaction():
        assert not await patients.update(conn, 999_999_999, phone="+79990003344")
    await eventually(lambda: len(of_patient(receiver, policy)) >= 2, 20, "A28 and A31")
    a28, a31 = of_patient(receiver, policy)
    assert triggers([a28, a31]) == ["A28", "A31"]
    assert a28.msh.msh_9.value == "ADT^A28^ADT_A05" and a31.msh.msh_9.value == "ADT^A31^ADT_A05"
    assert a28.evn.evn_1.value == "A28"
    assert [x.value for x in a28.pid.pid_3] == [f"{policy}^^^OMS^NH", f"{patient_id}^^^IMIAS^PI"]
    assert a28.pid.pid_5.value == "Смирнова^Анна^Сергеевна"
    assert a28.pid.pid_7.value == "19900314" and a28.pid.pid_8.value == "F"
    assert a28.pid.pid_13.value.split("^")[0] == "+79990001122"
    assert a28.pv1.pv1_3.value.split("^")[0] == str(clinic)
    assert a31.pid.pid_5.value == "Кузнецова^Анна^Сергеевна"
    assert a31.pid.pid_13.value.split("^")[0] == "+79990003344"


async def test_a_partner_without_the_siu_topic_gets_no_siu(client, pool, receiver):
    other = MllpReceiver()
    await other.start()
    partner = Partner(
        id=f"adt-{uuid.uuid4().hex[:8]}", kind="ambulance_dispatch", name="dispatch",
        transport="mllp", url=other.url, topics=["hl7.adt"], backoff_ms=50,
    )  # fmt: skip
    await repo.save_partner(pool, partner)
    try:
        person = dict((await adults(client.city, 1, offset=13))[0])
        found = await slots(client, "ophthalmologist")
        answer = await client.post(
            "/api/v1/appointments",
            json={"doctor_id": found[3]["doctor_id"], "starts_at": found[3]["starts_at"]},
            headers=bearer.patient(person["id"]) | key(),
        )
        assert answer.status_code == 201, answer.text
        policy = person["policy_number"]
        await eventually(lambda: len(of_patient(receiver, policy)) >= 1, 20, "the S12")
        assert of_patient(other, policy) == []
        assert await pool.fetchval(
            "SELECT count(*) FROM deliveries WHERE partner_id = $1", partner.id
        ) == 0  # fmt: skip
    finally:
        await repo.save_partner(
            pool,
            Partner(
                **{**{f: getattr(partner, f) for f in partner.__struct_fields__}, "enabled": False}
            ),
        )
        await other.stop()


async def test_a_registrar_registers_and_changes_a_patient_and_subscribers_hear(
    client, pool, receiver
):
    """The registrar's API (imias.identity.registration): a newcomer registered at her
    clinic, then a new phone and surname: A28 then A31 reach the subscriber; a second
    registration of the policy, a birth date ahead, an unknown field and an empty change
    are refused, and another role may not register."""
    clinic = await pool.fetchval("SELECT min(id) FROM clinics")
    desk = bearer.registrar(clinic)
    policy = str(7_800_000_000_000_000 + uuid.uuid4().int % 10**15)
    newcomer = {
        "policy_number": policy, "family_name": "Орлова", "given_name": "Вера",
        "patronymic": "Павловна", "birth_date": "1985-06-02", "sex": "F",
        "phone": "+79990005566",
    }  # fmt: skip
    made = await client.post("/api/v1/patients", json=newcomer, headers=desk)
    assert made.status_code == 201, made.text
    patient_id = made.json()["id"]
    assert made.json()["attached_clinic_id"] == clinic
    again = await client.post("/api/v1/patients", json=newcomer, headers=desk)
    assert (again.status_code, again.json()["code"]) == (409, "policy_registered")
    ahead = {**newcomer, "policy_number": policy[:-1] + "0", "birth_date": "2199-01-01"}
    refused = await client.post("/api/v1/patients", json=ahead, headers=desk)
    assert (refused.status_code, refused.json()["code"]) == (422, "invalid_birth_date")
    typo = await client.post("/api/v1/patients", json={**newcomer, "name": "x"}, headers=desk)
    assert typo.status_code == 400
    as_patient = await client.post(
        "/api/v1/patients", json=newcomer, headers=bearer.patient(patient_id)
    )
    assert as_patient.status_code == 403
    await eventually(lambda: len(of_patient(receiver, policy)) >= 1, 20, "A28")

    changed = await client.patch(
        f"/api/v1/patients/{patient_id}",
        json={"phone": "+79990007788", "family_name": "Соколова"},
        headers=desk,
    )
    assert changed.status_code == 200, changed.text
    nothing = await client.patch(f"/api/v1/patients/{patient_id}", json={}, headers=desk)
    assert (nothing.status_code, nothing.json()["code"]) == (422, "nothing_to_change")
    missing = await client.patch("/api/v1/patients/999999999", json={"phone": "+79990007788"},
                                 headers=desk)  # fmt: skip
    assert missing.status_code == 404
    await eventually(lambda: len(of_patient(receiver, policy)) >= 2, 20, "A28 and A31")
    a28, a31 = of_patient(receiver, policy)[:2]
    assert triggers([a28, a31]) == ["A28", "A31"]
    assert a31.pid.pid_5.value == "Соколова^Вера^Павловна"
    assert a31.pid.pid_13.value.split("^")[0] == "+79990007788"
    audited = await pool.fetch(
        "SELECT action FROM audit_log WHERE patient_id = $1 AND resource = 'patient' ORDER BY id",
        patient_id,
    )
    assert [a["action"] for a in audited][:2] == ["register", "update"]
