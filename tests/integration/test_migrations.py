import asyncio
import os
import subprocess
import sys

import asyncpg
import pytest

from imias.platform.migrator import Migration, MigrationError, discover, migrate, migrate_url


async def _schema(url: str) -> list[tuple]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            """
            SELECT table_name, column_name, data_type, is_nullable
            FROM information_schema.columns
            WHERE table_schema = 'public'
            ORDER BY table_name, ordinal_position
            """
        )
        versions = await conn.fetch("SELECT version, name FROM schema_migrations ORDER BY version")
    finally:
        await conn.close()
    return [tuple(r) for r in rows] + [tuple(v) for v in versions]


async def test_migrate_builds_the_schema_and_records_every_file(fresh_database_url):
    applied = await migrate_url(fresh_database_url)
    assert applied == [m.version for m in discover()]
    schema = await _schema(fresh_database_url)
    assert ("event_outbox", "topic", "text", "NO") in schema
    assert (1, "outbox") in schema


async def test_migrating_twice_changes_nothing(fresh_database_url):
    await migrate_url(fresh_database_url)
    before = await _schema(fresh_database_url)
    assert await migrate_url(fresh_database_url) == []
    assert await _schema(fresh_database_url) == before


async def test_concurrent_migrations_leave_one_correct_schema(fresh_database_url, database_url):
    results = await asyncio.gather(*(migrate_url(fresh_database_url) for _ in range(4)))
    applied = sorted(v for r in results for v in r)
    assert applied == [m.version for m in discover()], "each migration applied exactly once"
    assert await _schema(fresh_database_url) == await _schema(database_url)


def test_two_imias_migrate_processes_at_once(fresh_database_url, tmp_path):
    env = {
        **os.environ,
        "IMIAS_DATABASE_URL": fresh_database_url,
        "IMIAS_REDIS_URL": "redis://127.0.0.1:1/0",  # not used by migrate
        "IMIAS_DATA_DIR": str(tmp_path),
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "imias.cli", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    said = sorted(out.strip() for out, _ in outputs)
    assert said[0].startswith("applied migrations: 0001")
    assert said[1] == "database schema is up to date"


async def test_a_failing_migration_is_rolled_back_whole(fresh_database_url):
    good = discover()
    bad = Migration(
        len(good) + 1,
        "broken",
        "CREATE TABLE half_done (id int); SELECT * FROM no_such_table;",
    )
    with pytest.raises(asyncpg.UndefinedTableError):
        conn = await asyncpg.connect(fresh_database_url)
        try:
            await migrate(conn, [*good, bad])
        finally:
            await conn.close()
    conn = await asyncpg.connect(fresh_database_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
        versions = [r[0] for r in await conn.fetch("SELECT version FROM schema_migrations")]
        assert sorted(versions) == [m.version for m in good]
        assert await conn.fetchval("SELECT pg_try_advisory_lock(0)") is True
    finally:
        await conn.close()


async def test_an_applied_migration_that_changed_is_refused(fresh_database_url):
    await migrate_url(fresh_database_url)
    changed = [Migration(m.version, m.name, m.sql + "\n-- edited") for m in discover()]
    conn = await asyncpg.connect(fresh_database_url)
    try:
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(conn, changed)
    finally:
        await conn.close()
