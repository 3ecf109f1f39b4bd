"""Numbered SQL migrations, applied in order, each in one transaction.

Files are ``migrations/NNNN_name.sql`` inside this package (domain packages add
their own files here in their issues, numbered after the last). Each applied file
is recorded in ``schema_migrations`` with a checksum; a recorded file whose text
has changed stops the run, because the database no longer matches the code.
A session-level advisory lock serialises concurrent runs: the second process
waits, then finds nothing left to do.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources

import asyncpg

log = logging.getLogger("imias.migrations")

# pg_advisory_lock key: a fixed 64-bit number ("IMIAS" + "MIGR" in ASCII, trimmed).
LOCK_KEY = 0x494D4941_534D4947 & 0x7FFFFFFFFFFFFFFF
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """The migrations cannot be applied as they stand."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def discover(package: str = "imias.platform.migrations") -> list[Migration]:
    """The migration files of ``package``, ordered by version; gaps or twins fail."""
    found: list[Migration] = []
    for entry in resources.files(package).iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            if entry.name.endswith(".sql"):
                raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
            continue
        found.append(Migration(int(match.group(1)), match.group(2), entry.read_text("utf-8")))
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"migration versions must run 1, 2, 3 ... without gaps or twins; "
                f"found {migration.version:04d} where {expected:04d} was expected"
            )
    return found


async def migrate(conn: asyncpg.Connection, migrations: list[Migration] | None = None) -> list[int]:
    """Apply what is missing; return the versions applied by this call."""
    migrations = discover() if migrations is None else migrations
    applied_now: list[int] = []
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        await conn.execute(CREATE_TABLE)
        rows = await conn.fetch("SELECT version, checksum FROM schema_migrations")
        recorded = {r["version"]: r["checksum"] for r in rows}
        for migration in migrations:
            checksum = recorded.get(migration.version)
            if checksum is not None:
                if checksum != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.version:04d}_{migration.name} was changed "
                        "after it was applied; add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("applied migration %04d_%s", migration.version, migration.name)
            applied_now.append(migration.version)
        unknown = set(recorded) - {m.version for m in migrations}
        if unknown:
            raise MigrationError(
                f"the database has migrations this code does not know: {sorted(unknown)}; "
                "is an older IMIAS running against a newer database?"
            )
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    return applied_now


async def migrate_url(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return await migrate(conn)
    finally:
        await conn.close()
