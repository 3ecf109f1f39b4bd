"""A worker builds its engine from the database and says so in /health."""

from datetime import date

import asyncpg
from litestar.testing import AsyncTestClient

from imias.app import create_app
from imias.citygen.seed import seed_city
from imias.domains import migrate_url
from imias.platform.settings import load_settings


async def test_health_reports_the_engine_loaded_from_the_city(fresh_database_url, redis_url):
    await migrate_url(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await seed_city(conn, clinics=12, doctors=90, patients=100, start=date.today())
    finally:
        await conn.close()
    settings = load_settings({}, database_url=fresh_database_url, redis_url=redis_url)
    app = create_app(settings)
    async with AsyncTestClient(app) as client:
        await app.state.engine.wait_loaded()
        response = await client.get("/health")
    assert response.status_code == 200, response.text
    engine = response.json()["engine_details"]
    assert engine["doctors"] == 90
    assert engine["slots"] > 0
    assert engine["days"] == 14 and engine["first_day"] is not None
