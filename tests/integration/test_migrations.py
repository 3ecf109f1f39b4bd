import asyncio
import hashlib
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import asyncpg
import pytest

from imias.citygen import seed_city
from imias.domains import MIGRATION_FOLDERS, SINGLE_SEQUENCE, migrate_url, migrations
from imias.platform.migrator import Migration, MigrationError, migrate

SINGLE = Path(__file__).resolve().parent.parent / "fixtures" / "single_sequence"


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
        versions = await conn.fetch(
            "SELECT domain, version, name, checksum FROM schema_migrations ORDER BY domain, version"
        )
    finally:
        await conn.close()
    return [tuple(r) for r in rows] + [tuple(v) for v in versions]


async def _catalogue(url: str) -> dict[str, list[tuple]]:
    """Everything the schema is made of: columns, indexes, constraints, functions,
    triggers and the application role's rights."""
    conn = await asyncpg.connect(url)
    queries = {
        "columns": """
            SELECT table_name, ordinal_position, column_name, data_type, is_nullable,
                   column_default, is_identity
              FROM information_schema.columns WHERE table_schema = 'public'
             ORDER BY 1, 2""",
        "indexes": "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' "
        "ORDER BY 1",
        "constraints": """
            SELECT c.conrelid::regclass::text, c.conname, pg_get_constraintdef(c.oid)
              FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
             WHERE n.nspname = 'public' ORDER BY 1, 2""",
        "functions": """
            SELECT p.proname, pg_get_function_identity_arguments(p.oid), p.prosrc
              FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
             WHERE n.nspname = 'public' ORDER BY 1, 2""",
        "triggers": "SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) "
        "FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2",
        "grants": """
            SELECT table_name, privilege_type FROM information_schema.role_table_grants
             WHERE grantee = 'imias_app' ORDER BY 1, 2""",
        "column_grants": """
            SELECT table_name, column_name, privilege_type
              FROM information_schema.column_privileges
             WHERE grantee = 'imias_app' ORDER BY 1, 2, 3""",
    }
    try:
        return {name: [tuple(r) for r in await conn.fetch(sql)] for name, sql in queries.items()}
    finally:
        await conn.close()


async def _single_sequence_database(url: str) -> None:
    """A database as IMIAS made it before the per-domain folders: the twelve files of the
    single sequence applied in order and recorded the way the old migrator did."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            """
            CREATE TABLE schema_migrations (
                version     integer PRIMARY KEY,
                name        text        NOT NULL,
                checksum    text        NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )"""
        )
        for path in sorted(SINGLE.glob("*.sql")):
            sql = path.read_text("utf-8")
            version, name = path.stem.split("_", 1)
            async with conn.transaction():
                await conn.execute(sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    int(version),
                    name,
                    hashlib.sha256(sql.encode()).hexdigest(),
                )
    finally:
        await conn.close()


async def test_migrate_builds_the_schema_and_records_every_file(fresh_database_url):
    applied = await migrate_url(fresh_database_url)
    assert applied == [m.label for m in migrations()]
    assert applied[0] == "platform/0001_outbox"
    schema = await _schema(fresh_database_url)
    assert ("event_outbox", "topic", "text", "NO") in schema
    assert ("platform", 1, "outbox", migrations()[0].checksum) in schema


def test_each_domain_applies_its_own_folder_in_dependency_order():
    order = [m.domain for m in migrations()]
    domains = [domain for domain, _ in MIGRATION_FOLDERS]
    # All of a domain's files before the next domain's, in the listed order.
    assert sorted(order, key=domains.index) == order
    assert set(order) == {
        "platform",
        "registry",
        "identity",
        "booking",
        "ehr",
        "prescriptions",
        "integrations",
        "insights",
    }
    for domain in domains:
        numbers = [m.version for m in migrations() if m.domain == domain]
        assert numbers == list(range(1, len(numbers) + 1)), domain


async def test_migrating_twice_changes_nothing(fresh_database_url):
    await migrate_url(fresh_database_url)
    before = await _schema(fresh_database_url)
    assert await migrate_url(fresh_database_url) == []
    assert await _schema(fresh_database_url) == before


async def test_concurrent_migrations_leave_one_correct_schema(fresh_database_url, database_url):
    results = await asyncio.gather(*(migrate_url(fresh_database_url) for _ in range(4)))
    applied = sorted(v for r in results for v in r)
    assert applied == sorted(m.label for m in migrations()), "each migration applied once"
    assert await _schema(fresh_database_url) == await _schema(database_url)


async def test_a_database_of_the_single_sequence_moves_forward_with_its_data(
    fresh_database_url, database_url
):
    await _single_sequence_database(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        # A city as it stood then: nothing of the domains that came after the sequence.
        await seed_city(
            conn,
            clinics=3,
            doctors=12,
            patients=40,
            days=7,
            start=date(2026, 11, 30),
            with_prescriptions=False,
            with_clinic_admins=False,
        )
        counts = {
            table: await conn.fetchval(f"SELECT count(*) FROM {table}")  # noqa: S608
            for table in ("clinics", "doctors", "patients", "schedule_templates", "staff_accounts")
        }
        applied_at = await conn.fetchval("SELECT min(applied_at) FROM schema_migrations")
    finally:
        await conn.close()
    assert all(counts.values()), counts

    # Nothing runs again: the twelve files are recorded as the fifteen they became; only
    # the files written after the folders are applied, once.
    became = {key for _, keys in SINGLE_SEQUENCE.became.values() for key in keys}
    later = [m.label for m in migrations() if (m.domain, m.version) not in became]
    assert await migrate_url(fresh_database_url) == later
    assert await migrate_url(fresh_database_url) == []
    conn = await asyncpg.connect(fresh_database_url)
    try:
        for table, count in counts.items():
            assert await conn.fetchval(f"SELECT count(*) FROM {table}") == count, table  # noqa: S608
        assert await conn.fetchval("SELECT min(applied_at) FROM schema_migrations") == applied_at
    finally:
        await conn.close()
    # The database is then the one the folders make from nothing, to the last right.
    assert await _catalogue(fresh_database_url) == await _catalogue(database_url)
    assert await _schema(fresh_database_url) == await _schema(database_url)


async def test_a_changed_file_of_the_single_sequence_is_refused(fresh_database_url):
    await _single_sequence_database(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await conn.execute("UPDATE schema_migrations SET checksum = 'edited' WHERE version = 7")
        with pytest.raises(MigrationError, match="0007_booking_context was changed"):
            await migrate(conn, migrations(), SINGLE_SEQUENCE)
        # Refused whole: the table is as it was.
        assert await conn.fetchval("SELECT count(*) FROM schema_migrations") == 12
    finally:
        await conn.close()


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
    assert said[0].startswith("applied migrations: platform/0001_outbox"), said
    assert said[1] == "database schema is up to date"


async def test_a_failing_migration_is_rolled_back_whole(fresh_database_url):
    good = migrations()
    bad = Migration(
        "booking",
        max(m.version for m in good if m.domain == "booking") + 1,
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
        versions = await conn.fetch("SELECT domain, version FROM schema_migrations")
        assert sorted(tuple(r) for r in versions) == sorted((m.domain, m.version) for m in good)
        assert await conn.fetchval("SELECT pg_try_advisory_lock(0)") is True
    finally:
        await conn.close()


async def test_an_applied_migration_that_changed_is_refused(fresh_database_url):
    await migrate_url(fresh_database_url)
    changed = [Migration(m.domain, m.version, m.name, m.sql + "\n-- edited") for m in migrations()]
    conn = await asyncpg.connect(fresh_database_url)
    try:
        with pytest.raises(MigrationError, match="platform/0001_outbox was changed"):
            await migrate(conn, changed)
    finally:
        await conn.close()


async def test_a_migration_the_code_does_not_know_is_refused(fresh_database_url):
    await migrate_url(fresh_database_url)
    conn = await asyncpg.connect(fresh_database_url)
    try:
        with pytest.raises(MigrationError, match="does not know: booking/0006"):
            await migrate(conn, [m for m in migrations() if m.label != "booking/0006_time_indexes"])
    finally:
        await conn.close()
