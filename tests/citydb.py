"""Helpers for tests that need their own databases: names per xdist worker, URLs,
and a small seeded city. Imported by tests as ``citydb`` (tests/ is on sys.path)."""

from __future__ import annotations

import os
import re
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from bearer import TEST_SECRET


def worker_id() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def worker_index() -> int:
    match = re.search(r"(\d+)$", worker_id())
    return int(match.group(1)) + 1 if match else 0


def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + database))


async def build_city_database(
    pg_admin_url: str, name: str, *, secret: str = TEST_SECRET, **sizes: int | bool
) -> str:
    """A migrated database holding a small seeded city whose schedules start today;
    with history, its prescriptions signed with ``secret`` (the key a test server is
    given: bearer.TEST_SECRET), so that its counter verifies them; and its driver's
    certificates signed with keys sealed with it (``with_certificates=False``: none)."""
    from imias.booking.engine import Engine
    from imias.citygen.seed import seed_city
    from imias.domains import migrate_url

    url = with_database(pg_admin_url, name)
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        # One migration at a time in the cluster, as the template's (conftest): two
        # migrations granting the cluster's role at once fail ("tuple concurrently
        # updated").
        await admin.execute("SELECT pg_advisory_lock(7461)")
        try:
            await migrate_url(url)
        finally:
            await admin.execute("SELECT pg_advisory_unlock(7461)")
    finally:
        await admin.close()
    conn = await asyncpg.connect(url)
    try:
        await seed_city(conn, start=Engine().today(), secret=secret, **sizes)
    finally:
        await conn.close()
    return url


async def drop_database(pg_admin_url: str, name: str) -> None:
    admin = await asyncpg.connect(pg_admin_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()
