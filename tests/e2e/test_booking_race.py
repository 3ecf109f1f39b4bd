"""The race, over real connections: `imias serve` with two workers, hundreds of
concurrent requests for the same slots (registrars of the slots' clinics booking for
patients, patients moving their own appointments); exactly one wins each slot, every
other request is refused with slot_taken, and both workers' engines end up agreeing."""

import asyncio
import time
import uuid

import asyncpg
import bearer
import httpx
import pytest
from citydb import build_city_database, drop_database, worker_id
from serving import serve

from imias.platform.audit import verify_chain

pytestmark = pytest.mark.slow

SLOTS = 20
PER_SLOT = 10  # 200 requests in the first burst


@pytest.fixture(scope="module")
async def city(pg_admin_url):
    name = f"imias_test_race_{worker_id()}"
    # No seeded certificates: every appointment of this city is the race's (its audit
    # records are counted against the table).
    url = await build_city_database(
        pg_admin_url, name, clinics=16, doctors=300, patients=3000, with_certificates=False
    )
    yield url
    await drop_database(pg_admin_url, name)


@pytest.fixture(scope="module")
def server(city, redis_url, tmp_path_factory):
    log = tmp_path_factory.mktemp("race") / "serve.log"
    with serve(city, redis_url, log, db_pool_size="20", secret_key=bearer.TEST_SECRET) as url:
        yield url


async def adults(url: str, n: int) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT id FROM patients WHERE birth_date < now() - interval '20 years' "
            "AND NOT EXISTS (SELECT 1 FROM appointments a WHERE a.patient_id = patients.id) "
            "ORDER BY id LIMIT $1",
            n,
        )
    finally:
        await conn.close()
    assert len(rows) == n
    return [r["id"] for r in rows]


async def book(client, patient: int, slot: dict) -> httpx.Response:
    """The registrar of the slot's clinic books it for the patient."""
    return await client.post(
        "/api/v1/appointments",
        json={
            "patient_id": patient,
            "doctor_id": slot["doctor_id"],
            "starts_at": slot["starts_at"],
            "channel": "registrar",
        },
        headers={"Idempotency-Key": uuid.uuid4().hex} | bearer.registrar(slot["clinic_id"]),
    )


async def active_per_slot(url: str, slots: list[dict]) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [
            await conn.fetchval(
                "SELECT count(*) FROM appointments WHERE doctor_id = $1 AND starts_at = $2 "
                "AND status IN ('booked', 'arrived')",
                s["doctor_id"],
                __import__("datetime").datetime.fromisoformat(s["starts_at"]),
            )
            for s in slots
        ]
    finally:
        await conn.close()


async def engines_agree(url: str, timeout: float = 20) -> set[str]:  # noqa: ASYNC109
    """Ask until both workers have answered with the same digest."""
    deadline = time.monotonic() + timeout
    # A new connection per request, so that the requests reach both workers.
    fresh = httpx.Limits(max_keepalive_connections=0)
    # The engine's state is for operators: an administrator asks.
    admin = bearer.administrator()
    async with httpx.AsyncClient(base_url=url, limits=fresh, headers=admin) as client:
        while time.monotonic() < deadline:
            seen: dict[int, str] = {}
            for _ in range(40):
                state = (await client.get("/api/v1/engine/state")).json()
                seen[state["pid"]] = state["digest"]
            if len(seen) == 2 and len(set(seen.values())) == 1:
                return set(seen.values())
            await asyncio.sleep(0.2)
    raise AssertionError(f"workers disagree: {seen}")


async def test_two_hundred_requests_for_twenty_slots(server, city):
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    async with httpx.AsyncClient(base_url=server, limits=limits, timeout=60) as client:
        found = (
            await client.get(
                "/api/v1/slots",
                params={"specialty": "ophthalmologist", "limit": SLOTS, "channel": "registrar"},
            )
        ).json()
        assert len(found) == SLOTS
        patients = await adults(city, SLOTS * PER_SLOT)
        requests = [book(client, patient, found[i % SLOTS]) for i, patient in enumerate(patients)]
        responses = await asyncio.gather(*requests)
    won = [r for r in responses if r.status_code == 201]
    lost = [r for r in responses if r.status_code != 201]
    assert len(won) == SLOTS, [r.text for r in lost if r.status_code != 409][:3]
    assert {r.status_code for r in lost} == {409}
    assert {r.json()["code"] for r in lost} == {"slot_taken"}
    assert await active_per_slot(city, found) == [1] * SLOTS
    await engines_agree(server)


async def test_the_race_with_cancels_and_reschedules_mixed_in(server, city):
    limits = httpx.Limits(max_connections=250, max_keepalive_connections=250)
    async with httpx.AsyncClient(base_url=server, limits=limits, timeout=60) as client:
        # Time open to the phone channel: registrars book it, and patients move to it.
        pool = (
            await client.get(
                "/api/v1/slots",
                params={"specialty": "ophthalmologist", "limit": 2 * SLOTS, "channel": "phone"},
            )
        ).json()
        first, second = pool[:SLOTS], pool[SLOTS:]
        patients = await adults(city, SLOTS + 150)
        holders, others = patients[:SLOTS], patients[SLOTS:]
        booked = [(await book(client, p, s)).json() for p, s in zip(holders, first, strict=True)]
        assert all("id" in b for b in booked), booked[:2]
        moves = [  # each patient moves their own appointment
            client.post(
                f"/api/v1/appointments/{b['id']}/reschedule",
                json={"doctor_id": s["doctor_id"], "starts_at": s["starts_at"], "channel": "phone"},
                headers={"Idempotency-Key": uuid.uuid4().hex} | bearer.patient(b["patient_id"]),
            )
            for b, s in zip(booked[: SLOTS // 2], second, strict=False)
        ]
        cancels = [  # the clinic's registrar cancels
            client.post(
                f"/api/v1/appointments/{b['id']}/cancel",
                json={"patient_id": b["patient_id"]},
                headers=bearer.registrar(b["clinic_id"]),
            )
            for b in booked[SLOTS // 2 :]
        ]
        grabs = [book(client, p, (first + second)[i % (2 * SLOTS)]) for i, p in enumerate(others)]
        responses = await asyncio.gather(*moves, *cancels, *grabs)
    bad = [r for r in responses if r.status_code not in (200, 201, 409)]
    assert not bad, [r.text for r in bad][:3]
    refusals = {r.json()["code"] for r in responses if r.status_code == 409}
    assert refusals <= {"slot_taken"}
    counts = await active_per_slot(city, first + second)
    assert max(counts) == 1, "never two active appointments on one slot"
    half = SLOTS // 2
    cancelled = sum(1 for r in responses[half:SLOTS] if r.status_code == 200)
    grabbed = sum(1 for r in responses[SLOTS:] if r.status_code == 201)
    assert cancelled == SLOTS - half
    # A move keeps the count; every confirmed answer is in the database, nothing else.
    assert sum(counts) == SLOTS - cancelled + grabbed
    await engines_agree(server)
    await audit_chain_is_whole(city)


async def audit_chain_is_whole(url: str, timeout: float = 30) -> None:  # noqa: ASYNC109
    """Every booking, move and cancel wrote its record, committed in whatever order the
    race made; one of the two workers' sealers chained them all, and the chain verifies."""
    conn = await asyncpg.connect(url)
    try:
        deadline = time.monotonic() + timeout
        while await conn.fetchval("SELECT count(*) FROM audit_log WHERE seal_seq IS NULL"):
            assert time.monotonic() < deadline, "records left unsealed"
            await asyncio.sleep(0.2)
        report = await verify_chain(conn)
        assert report.ok, report.problems
        assert report.sealed == await conn.fetchval("SELECT count(*) FROM audit_log")
        booked = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'book'")
        moved = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'reschedule'")
        rows = await conn.fetchval("SELECT count(*) FROM appointments")
        assert booked + moved == rows, "one record per appointment written"
        cancels = await conn.fetchval("SELECT count(*) FROM audit_log WHERE action = 'cancel'")
        assert cancels == await conn.fetchval(
            "SELECT count(*) FROM appointments "
            "WHERE status = 'cancelled' AND rescheduled_to IS NULL"
        )
    finally:
        await conn.close()
