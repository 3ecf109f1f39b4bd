"""The engine's state digest is for operators, and no request may hold a worker's event
loop for long: a city's snapshot is hashed in a thread, once per change of the engine,
however many ask at once."""

import asyncio
import time
from datetime import date

import asyncpg
import bearer
import pytest
from litestar.testing import AsyncTestClient

from imias.app import create_app
from imias.citygen.seed import seed_city
from imias.domains import migrate_url
from imias.platform.settings import load_settings


@pytest.fixture
async def served(fresh_database_url, redis_url):
    await migrate_url(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await seed_city(conn, clinics=6, doctors=60, patients=50, start=date(2031, 3, 3))
    finally:
        await conn.close()
    settings = load_settings(
        {}, database_url=fresh_database_url, redis_url=redis_url, secret_key=bearer.TEST_SECRET
    )
    app = create_app(settings)
    async with AsyncTestClient(app) as client:
        await app.state.engine.wait_loaded()
        yield app, client


async def test_only_an_operator_reads_the_engines_state(served):
    app, client = served
    assert (await client.get("/api/v1/engine/state")).status_code == 401
    patient = await client.get("/api/v1/engine/state", headers=bearer.patient(1))
    assert patient.status_code == 403
    answer = await client.get("/api/v1/engine/state", headers=bearer.administrator())
    assert answer.status_code == 200, answer.text
    state = answer.json()
    assert len(state["digest"]) == 64 and state["applied_events"] == 0


async def test_many_asking_at_once_cost_one_snapshot_hashed_off_the_loop(served):
    app, _ = served
    engine = app.state.engine
    calendar = engine.calendar
    taken = []
    real_snapshot = calendar.snapshot

    class Counting:
        """The calendar, counting its snapshots (the engine's own is untouched)."""

        def __getattr__(self, name):
            return getattr(calendar, name)

        def snapshot(self):
            taken.append(time.monotonic())
            return real_snapshot()

    engine.calendar = Counting()
    try:
        answers = await asyncio.gather(*(engine.state_digest() for _ in range(20)))
        assert len(taken) == 1 and len(set(answers)) == 1
        assert await engine.state_digest() == answers[0]  # nothing changed: no new one
        assert len(taken) == 1
        engine.applied_events += 1  # a change reached the engine
        again = await engine.state_digest()
        assert len(taken) == 2 and again[0] == answers[0][0] and again[1] == answers[0][1] + 1
    finally:
        engine.calendar = calendar
