"""The audit log: a record for every read or change of a patient's data, written with
the change (or not at all), chained by the sealer, append-only, and a removed or
altered record found by verify; a patient's access log and the administrator's search."""

import asyncio
import time

import asyncpg
import bearer
import pytest
from citydb import build_city_database, drop_database, worker_id
from litestar.datastructures import State
from signin import adults, app_client, fetch, guardian_and_child, key

from imias.citygen.seed import DEMO_PASSWORD
from imias.domains import migrate_url
from imias.platform import db
from imias.platform.audit import Access, AuditSealer, check_audit, record, seal_all, verify_chain
from imias.platform.audit.sealer import SEALER_LOCK_KEY


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_audit_{worker_id()}"
    url = await build_city_database(pg_admin_url, name, clinics=16, doctors=260, patients=2000)
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
async def client(city, redis_url):
    async with app_client(city, redis_url) as test_client:
        yield test_client


async def ophthalmology(client, n: int = 1, offset: int = 0) -> list[dict]:
    found = (
        await client.get("/api/v1/slots", params={"specialty": "ophthalmologist", "limit": 40})
    ).json()
    return found[offset : offset + n]


async def records_of(city: str, patient: int) -> list[asyncpg.Record]:
    return await fetch(city, "SELECT * FROM audit_log WHERE patient_id = $1 ORDER BY id", patient)


async def test_a_change_writes_one_record_with_who_for_whom_what_when_and_where(client, city):
    (patient,) = await adults(city, 1)
    (slot,) = await ophthalmology(client)
    desk = bearer.registrar(slot["clinic_id"], staff_id=5001)
    booked = await client.post(
        "/api/v1/appointments",
        json={
            "patient_id": patient["id"],
            "doctor_id": slot["doctor_id"],
            "starts_at": slot["starts_at"],
        },
        headers=key() | desk | {"X-Request-ID": "desk-call-00000001"},
    )
    assert booked.status_code == 201, booked.text
    (row,) = await records_of(city, patient["id"])
    assert (row["actor_id"], row["actor_role"], row["actor_org"]) == (
        5001,
        "registrar",
        slot["clinic_id"],
    )
    assert (row["action"], row["resource"], row["resource_id"]) == (
        "book",
        "appointment",
        str(booked.json()["id"]),
    )
    assert (row["acting_for"], row["patient_id"]) == (patient["id"], patient["id"])
    assert row["request_id"] == "desk-call-00000001" and row["client_addr"] == "testclient"
    assert row["at"] is not None and row["break_glass"] is False


async def test_a_refused_change_leaves_no_record(client, city):
    first, second = await adults(city, 2, offset=1)
    (slot,) = await ophthalmology(client, offset=1)
    body = {"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]}
    ok = await client.post(
        "/api/v1/appointments", json=body, headers=key() | bearer.patient(first["id"])
    )
    assert ok.status_code == 201
    taken = await client.post(
        "/api/v1/appointments", json=body, headers=key() | bearer.patient(second["id"])
    )
    assert taken.status_code == 409
    assert await records_of(city, second["id"]) == [], "rolled back with the booking"


async def test_reads_are_recorded_one_per_patient_shown(client, city):
    patients = await adults(city, 2, offset=3)
    slots = await ophthalmology(client, 40, offset=2)
    doctor_id = slots[0]["doctor_id"]
    same_doctor = [s for s in slots if s["doctor_id"] == doctor_id][:2]
    for patient, slot in zip(patients, same_doctor, strict=False):
        await client.post(
            "/api/v1/appointments",
            json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]},
            headers=key() | bearer.patient(patient["id"]),
        )
    doctor = bearer.doctor(doctor_id, slots[0]["clinic_id"], staff_id=5002)
    day = await client.get(
        f"/api/v1/doctors/{doctor_id}/day",
        params={"date": same_doctor[0]["local_start"][:10]},
        headers=doctor,
    )
    shown = {e["appointment"]["patient_id"] for e in day.json()}
    assert shown
    reads = await fetch(
        city,
        "SELECT patient_id FROM audit_log WHERE actor_id = 5002 AND resource = 'doctor_day'",
    )
    assert {r["patient_id"] for r in reads} == shown and len(reads) == len(shown)
    listed = await client.get(f"/api/v1/patients/{patients[0]['id']}/appointments", headers=doctor)
    assert listed.status_code == 200
    last = (await records_of(city, patients[0]["id"]))[-1]
    assert (last["action"], last["resource"], last["actor_role"]) == (
        "read",
        "appointments",
        "doctor",
    )


async def test_the_sealer_chains_every_record_and_the_chain_verifies(client, city):
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        (left,) = await fetch(city, "SELECT count(*) AS n FROM audit_log WHERE seal_seq IS NULL")
        if left["n"] == 0:
            break
        await asyncio.sleep(0.2)
    conn = await asyncpg.connect(city)
    try:
        report = await verify_chain(conn)
        total = await conn.fetchval("SELECT count(*) FROM audit_log")
    finally:
        await conn.close()
    assert report.ok, report.problems
    assert report.sealed == total > 0 and report.unsealed == 0
    assert client.app_state.audit_sealer.status()["role"] == "active"
    health = (await client.get("/health")).json()
    assert health["audit"] == "ok"


async def test_the_log_is_append_only_even_for_its_owner(db):
    await db.execute(
        "INSERT INTO audit_log (actor_id, actor_role, action, resource) "
        "VALUES (1, 'doctor', 'read', 'x')"
    )
    for statement in (
        "UPDATE audit_log SET action = 'nothing'",
        "DELETE FROM audit_log",
        "TRUNCATE audit_log",
        "UPDATE audit_chain_head SET seal_seq = -1",
        "DELETE FROM audit_chain_head",
        # The sealer's update, with one more column changed (NULL to a value, too).
        "UPDATE audit_log SET seal_seq = 1, prev_hash = '\\x00', hash = '\\x01', action = 'x'",
        "UPDATE audit_log SET seal_seq = 1, prev_hash = '\\x00', hash = '\\x01', reason = 'x'",
    ):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with db.transaction():
                await db.execute(statement)
    assert await seal_all(db) >= 1
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        async with db.transaction():  # a sealed record keeps its place
            await db.execute("UPDATE audit_log SET seal_seq = seal_seq + 1000")


WHO = Access(
    actor_id=9, actor_role="registrar", actor_org=1, request_id="r-000001", client_addr="10.0.0.1"
)


@pytest.fixture
async def sealed(fresh_database_url):
    """A database whose audit log holds 10 sealed records."""
    await migrate_url(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    for i in range(10):
        await record(conn, "read", "appointments", i, 1000 + i, access=WHO)
    assert await seal_all(conn, batch_size=4) == 10  # in several batches
    try:
        yield conn
    finally:
        await conn.close()


async def _tamper(conn, sql: str) -> None:
    # What someone who can switch the triggers off could do (a superuser, here).
    await conn.execute("SET session_replication_role = replica")
    await conn.execute(sql)
    await conn.execute("SET session_replication_role = DEFAULT")


@pytest.mark.parametrize(
    ("tampering", "found"),
    [
        (
            "UPDATE audit_log SET patient_id = 1 WHERE seal_seq = 3",
            "record 3 (id 3) does not match its hash",
        ),
        (
            "UPDATE audit_log SET at = at - interval '1 day' WHERE seal_seq = 7",
            "record 7 (id 7) does not match",
        ),
        ("DELETE FROM audit_log WHERE seal_seq = 5", "record(s) 5 of the chain are missing"),
        (
            "DELETE FROM audit_log WHERE seal_seq IN (4, 5, 6)",
            "record(s) 4-6 of the chain are missing",
        ),
        ("DELETE FROM audit_log WHERE seal_seq = 10", "the newest records were removed"),
        (
            "UPDATE audit_log SET prev_hash = hash, hash = sha256(hash) WHERE seal_seq = 2",
            "record 2 (id 2) does not follow record 1",
        ),
    ],
    ids=[
        "altered-patient",
        "altered-time",
        "removed",
        "removed-three",
        "removed-newest",
        "replaced",
    ],
)
async def test_verify_finds_a_removed_or_altered_record(sealed, tampering, found):
    assert (await verify_chain(sealed)).ok
    await _tamper(sealed, tampering)
    report = await verify_chain(sealed)
    assert not report.ok
    assert any(found in problem for problem in report.problems), report.problems


async def test_an_anchor_noted_earlier_catches_a_chain_rebuilt_from_scratch(sealed):
    head = await sealed.fetchrow("SELECT seal_seq, hash FROM audit_chain_head")
    anchor = (head["seal_seq"], bytes(head["hash"]))
    assert (await verify_chain(sealed, anchor=anchor)).ok
    # Rewrite a record and re-seal everything after it with fresh hashes: whole again,
    # except against the anchor.
    await _tamper(
        sealed,
        "UPDATE audit_log SET patient_id = 1, seal_seq = NULL, prev_hash = NULL, hash = NULL;"
        "UPDATE audit_chain_head SET seal_seq = 0, hash = decode(repeat('00', 32), 'hex')",
    )
    await seal_all(sealed)
    assert (await verify_chain(sealed)).ok
    report = await verify_chain(sealed, anchor=anchor)
    assert not report.ok and "rewritten" in report.problems[0]


async def test_records_written_meanwhile_are_reported_unsealed_not_broken(sealed):
    await record(sealed, "read", "appointments", 99, 2000, access=WHO)
    report = await verify_chain(sealed)
    assert report.ok and report.unsealed == 1 and report.sealed == 10


async def test_a_patient_sees_who_else_looked_at_their_data(client, city):
    (patient,) = await adults(city, 1, offset=10)
    (slot,) = await ophthalmology(client, offset=5)
    signed = await client.post(
        "/api/v1/auth/staff/token",
        json={"username": f"registrar.{slot['clinic_id']}", "password": DEMO_PASSWORD},
    )
    desk = {"Authorization": "Bearer " + signed.json()["access_token"]}
    me = bearer.patient(patient["id"])
    await client.post(
        "/api/v1/appointments",
        json={"doctor_id": slot["doctor_id"], "starts_at": slot["starts_at"]},
        headers=key() | me,
    )
    await client.get(f"/api/v1/patients/{patient['id']}/appointments", headers=me)
    await client.get(f"/api/v1/patients/{patient['id']}/appointments", headers=desk)
    log = await client.get("/api/v1/me/access-log", headers=me)
    assert log.status_code == 200
    entries = log.json()
    assert len(entries) == 1, "the patient's own reads and changes are not listed"
    (entry,) = entries
    assert (entry["actor_role"], entry["action"], entry["resource"]) == (
        "registrar",
        "read",
        "appointments",
    )
    assert entry["actor_name"] and entry["organisation_id"] == slot["clinic_id"]
    assert entry["organisation_name"] == slot["clinic_name"]
    # Nothing is recorded for reading one's own access log.
    assert len((await client.get("/api/v1/me/access-log", headers=me)).json()) == 1


async def test_a_guardian_reads_a_childs_access_log(client, city):
    guardian, child = await guardian_and_child(city, offset=3)
    desk = bearer.registrar(child["attached_clinic_id"] or 1, staff_id=5003)
    await client.get(f"/api/v1/patients/{child['id']}/appointments", headers=desk)
    log = await client.get(
        f"/api/v1/me/access-log?patient_id={child['id']}", headers=bearer.patient(guardian["id"])
    )
    assert log.status_code == 200
    assert [e["actor_id"] for e in log.json()] == [5003]


async def test_an_administrator_searches_the_log_and_the_search_is_recorded(client, city):
    (patient,) = await adults(city, 1, offset=12)
    nurse_desk = bearer.registrar(3, staff_id=5004)
    await client.get(f"/api/v1/patients/{patient['id']}/appointments", headers=nurse_desk)
    admin = bearer.administrator(5005)
    by_patient = (
        await client.get(f"/api/v1/audit/records?patient={patient['id']}", headers=admin)
    ).json()
    assert [(r["actor_id"], r["action"]) for r in by_patient] == [(5004, "read")]
    by_actor = (
        await client.get("/api/v1/audit/records?actor=5004&role=registrar", headers=admin)
    ).json()
    assert {r["patient_id"] for r in by_actor} == {patient["id"]}
    nul = await client.get("/api/v1/audit/records?role=regis%00trar", headers=admin)
    assert nul.status_code == 400 and nul.json()["code"] == "invalid_value", nul.text
    when = by_patient[0]["at"]
    in_range = await client.get(
        "/api/v1/audit/records",
        params={"actor": 5004, "from": when, "to": "2199-01-01T00:00:00Z"},
        headers=admin,
    )
    before = await client.get(
        "/api/v1/audit/records", params={"actor": 5004, "to": when}, headers=admin
    )
    assert len(in_range.json()) == 1 and before.json() == []
    flagged = (await client.get("/api/v1/audit/records?break_glass=true", headers=admin)).json()
    assert all(r["break_glass"] for r in flagged)
    searches = await fetch(
        city, "SELECT patient_id FROM audit_log WHERE actor_id = 5005 AND action = 'search'"
    )
    assert patient["id"] in {r["patient_id"] for r in searches}
    assert (await client.get("/api/v1/audit/records", headers=nurse_desk)).status_code == 403


async def test_the_applications_role_cannot_rewrite_the_log_or_switch_its_guards_off(
    sealed, fresh_database_url
):
    """The workers log in as imias_app (platform migrations 0003 and 0005): append and
    seal, nothing else."""
    app = await db.connect(db.app_url(fresh_database_url))  # the database of `sealed`
    try:
        assert await app.fetchval("SELECT current_user") == db.APP_ROLE
        await record(app, "read", "appointments", 1, 3000, access=WHO)
        assert await seal_all(app) == 1  # the sealer, as the application, seals
        for statement in (
            "UPDATE audit_log SET action = 'nothing' WHERE seal_seq = 1",
            "DELETE FROM audit_log WHERE seal_seq = 11",
            "TRUNCATE audit_log",
            "ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only",
            "SET session_replication_role = replica",
            "UPDATE audit_chain_head SET seal_seq = 1",
            "INSERT INTO audit_log (actor_id, actor_role, action, resource, seal_seq, "
            "prev_hash, hash) VALUES (1, 'doctor', 'read', 'x', 99, '\\x00', '\\x00')",
        ):
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                async with app.transaction():
                    await app.execute(statement)
    finally:
        await app.close()
    assert (await verify_chain(sealed)).ok


async def test_health_fails_when_records_wait_too_long_for_their_seal(sealed, fresh_database_url):
    """A sealer that cannot seal (here: another holds its lock and never seals) leaves
    records waiting; /health's audit check fails once the oldest waited a minute."""
    url = fresh_database_url  # the database of `sealed`
    holder = await asyncpg.connect(url)
    await holder.execute("SELECT pg_advisory_lock($1)", SEALER_LOCK_KEY)
    sealer = AuditSealer(url, lock_retry=0.1)
    pool = await db.create_pool(url, 2)
    try:
        sealer.start()
        await record(sealed, "read", "appointments", 1, 3001, access=WHO)
        state = State({"audit_sealer": sealer, "db": pool})
        assert (await check_audit(state))["unsealed"] == 1
        await sealed.execute(
            "INSERT INTO audit_log (at, actor_id, actor_role, action, resource) "
            "VALUES (now() - interval '5 minutes', 1, 'doctor', 'read', 'x')"
        )
        with pytest.raises(RuntimeError, match="unsealed"):
            await check_audit(state)
    finally:
        await sealer.stop()
        await pool.close()
        await holder.close()
