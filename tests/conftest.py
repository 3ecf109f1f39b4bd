"""Fixtures for real servers (never mocks).

With ``IMIAS_TEST_DATABASE_URL`` / ``IMIAS_TEST_REDIS_URL`` set, tests use those
servers; otherwise an embedded PostgreSQL and Redis under ``.imias/test``. Each
pytest-xdist worker gets its own database, copied from a template database that
the migrations built (so the migrations are what is tested), and its own Redis
database number (or its own embedded Redis).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis
from citydb import with_database, worker_id, worker_index

from imias.domains import migrate, migrations
from imias.platform.cache import with_redis_db
from imias.platform.embedded import EmbeddedPostgres, EmbeddedRedis

ROOT = Path(__file__).resolve().parent.parent
TEST_DATA = ROOT / ".imias" / "test"


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """URL of a database on the test server with rights to create databases."""
    external = os.environ.get("IMIAS_TEST_DATABASE_URL")
    if external:
        yield external
        return
    TEST_DATA.mkdir(parents=True, exist_ok=True)
    server = EmbeddedPostgres(TEST_DATA)
    # Workers start together: on a fresh checkout two of them making the data directory
    # at once made one fail ("File exists"); one at a time, the second joins the first's.
    with open(TEST_DATA / "pg.start.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        server.start()
    try:
        yield server.admin_url()
    finally:
        server.stop()


async def _create_database_from(admin: asyncpg.Connection, name: str, template: str) -> None:
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')


async def _template(admin_url: str) -> str:
    """A template database built by the migrations, made once per migration set."""
    digest = hashlib.sha256("".join(m.checksum for m in migrations()).encode()).hexdigest()[:12]
    name = f"imias_test_template_{digest}"
    admin = await asyncpg.connect(admin_url)
    try:
        # Workers start together: one builds the template, the others wait for it.
        await admin.execute("SELECT pg_advisory_lock(7461)")
        try:
            exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
            if not exists:
                building = name + "_building"
                await admin.execute(f'DROP DATABASE IF EXISTS "{building}" WITH (FORCE)')
                await admin.execute(f'CREATE DATABASE "{building}"')
                conn = await asyncpg.connect(with_database(admin_url, building))
                try:
                    await migrate(conn)
                finally:
                    await conn.close()
                await admin.execute(f'ALTER DATABASE "{building}" RENAME TO "{name}"')
        finally:
            await admin.execute("SELECT pg_advisory_unlock(7461)")
    finally:
        await admin.close()
    return name


@pytest.fixture(scope="session")
def database_url(pg_admin_url: str) -> str:
    """This worker's database, migrated (a fresh copy of the template each session)."""

    async def make() -> str:
        template = await _template(pg_admin_url)
        name = f"imias_test_{worker_id()}"
        admin = await asyncpg.connect(pg_admin_url)
        try:
            await _create_database_from(admin, name, template)
        finally:
            await admin.close()
        return with_database(pg_admin_url, name)

    return asyncio.run(make())


@pytest.fixture
async def fresh_database_url(pg_admin_url: str) -> AsyncIterator[str]:
    """An empty database (no migrations) for tests of the migrations themselves."""
    name = f"imias_test_empty_{worker_id()}"
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        yield with_database(pg_admin_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to the worker's database; the test runs in a transaction that
    is rolled back afterwards."""
    conn = await asyncpg.connect(database_url)
    tx = conn.transaction()
    await tx.start()
    try:
        yield conn
    finally:
        await tx.rollback()
        await conn.close()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """This worker's Redis database (flushed at the start of the session)."""
    external = os.environ.get("IMIAS_TEST_REDIS_URL")
    server = None
    if external:
        url = with_redis_db(external, worker_index())
    else:
        server = EmbeddedRedis(TEST_DATA / worker_id())
        url = server.start()
    import redis as syncredis

    client = syncredis.Redis.from_url(url)
    client.flushdb()
    client.close()
    try:
        yield url
    finally:
        if server is not None:
            server.stop()


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    client = aioredis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.flushdb()
        await client.aclose()
