"""Numbered SQL migrations, one folder per domain, applied in dependency order, each
file in one transaction.

Each domain keeps ``migrations/NNNN_name.sql`` beside its code, numbered 1, 2, 3 ...
without gaps. The composition root (:mod:`imias.domains`) lists the domains in
dependency order (the platform first, then the registry, identity, booking...), and
:func:`migrate` applies what is missing in that order. Each applied file is recorded
in ``schema_migrations`` under its domain and number with a checksum; a recorded file
whose text has changed stops the run, because the database no longer matches the code.
A session-level advisory lock serialises concurrent runs: the second process waits,
then finds nothing left to do.

Databases made before the folders (one sequence, 0001-0012, in the platform's folder)
are moved forward once by :func:`migrate` given the :class:`SingleSequence` map: each
applied file of the old sequence, checked against its checksum, is recorded as the
files it became, and nothing is run again.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources

import asyncpg

from imias.platform.db import Connection

log = logging.getLogger("imias.migrations")

# pg_advisory_lock key: a fixed 64-bit number ("IMIAS" + "MIGR" in ASCII, trimmed).
LOCK_KEY = 0x494D4941_534D4947 & 0x7FFFFFFFFFFFFFFF
_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")

# The domain column comes last, where a database of the single sequence gets it too, so
# that a database moved forward and a new one have the same table.
CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     NOT NULL,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now(),
    domain      text        NOT NULL,
    PRIMARY KEY (domain, version)
)
"""

_HAS_DOMAIN = """
SELECT EXISTS (SELECT 1 FROM information_schema.columns
                WHERE table_schema = current_schema() AND table_name = 'schema_migrations'
                  AND column_name = 'domain')
"""


class MigrationError(RuntimeError):
    """The migrations cannot be applied as they stand."""


@dataclass(frozen=True)
class Migration:
    domain: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.domain}/{self.version:04d}_{self.name}"


@dataclass(frozen=True)
class SingleSequence:
    """The migrations of the single sequence, before the folders: for each number, the
    checksum of the file as applied and the (domain, number) of the files it became."""

    became: Mapping[int, tuple[str, Sequence[tuple[str, int]]]]


def discover(package: str, domain: str) -> list[Migration]:
    """The migration files of ``package`` for ``domain``, ordered by version; gaps or
    twins fail."""
    found: list[Migration] = []
    for entry in resources.files(package).iterdir():
        match = _NAME.match(entry.name)
        if match is None:
            if entry.name.endswith(".sql"):
                raise MigrationError(f"migration file {entry.name!r} is not named NNNN_name.sql")
            continue
        found.append(
            Migration(domain, int(match.group(1)), match.group(2), entry.read_text("utf-8"))
        )
    found.sort(key=lambda m: m.version)
    for expected, migration in enumerate(found, start=1):
        if migration.version != expected:
            raise MigrationError(
                f"{domain} migration versions must run 1, 2, 3 ... without gaps or twins; "
                f"found {migration.version:04d} where {expected:04d} was expected"
            )
    return found


async def migrate(
    conn: Connection,
    migrations: Sequence[Migration],
    single: SingleSequence | None = None,
) -> list[str]:
    """Apply what is missing, in the order given; return the labels applied by this call
    (``domain/NNNN_name``). ``single`` moves a database of the single sequence forward."""
    applied_now: list[str] = []
    await conn.execute("SELECT pg_advisory_lock($1)", LOCK_KEY)
    try:
        if single is not None:
            await _from_single_sequence(conn, migrations, single)
        await conn.execute(CREATE_TABLE)
        rows = await conn.fetch("SELECT domain, version, checksum FROM schema_migrations")
        recorded = {(r["domain"], r["version"]): r["checksum"] for r in rows}
        for migration in migrations:
            checksum = recorded.get((migration.domain, migration.version))
            if checksum is not None:
                if checksum != migration.checksum:
                    raise MigrationError(
                        f"migration {migration.label} was changed after it was applied; "
                        "add a new migration instead"
                    )
                continue
            async with conn.transaction():
                await conn.execute(migration.sql)
                await conn.execute(
                    "INSERT INTO schema_migrations (domain, version, name, checksum) "
                    "VALUES ($1, $2, $3, $4)",
                    migration.domain,
                    migration.version,
                    migration.name,
                    migration.checksum,
                )
            log.info("applied migration %s", migration.label)
            applied_now.append(migration.label)
        unknown = set(recorded) - {(m.domain, m.version) for m in migrations}
        if unknown:
            names = ", ".join(f"{d}/{v:04d}" for d, v in sorted(unknown))
            raise MigrationError(
                f"the database has migrations this code does not know: {names}; "
                "is an older IMIAS running against a newer database?"
            )
    finally:
        await conn.execute("SELECT pg_advisory_unlock($1)", LOCK_KEY)
    return applied_now


async def _from_single_sequence(
    conn: Connection, migrations: Sequence[Migration], single: SingleSequence
) -> None:
    """Record the files of a database made by the single sequence as the files they
    became, once, in one transaction (nothing is run again). The table keeps its rights:
    it gains a column instead of being made anew."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return
    if await conn.fetchval(_HAS_DOMAIN):
        return
    by_key = {(m.domain, m.version): m for m in migrations}
    async with conn.transaction():
        rows = await conn.fetch(
            "SELECT version, name, checksum, applied_at FROM schema_migrations ORDER BY version"
        )
        moved: list[tuple[Migration, object]] = []
        for row in rows:
            known = single.became.get(row["version"])
            if known is None:
                raise MigrationError(
                    f"the database has migration {row['version']:04d}_{row['name']}, which "
                    "no IMIAS released: is a newer IMIAS running against this database?"
                )
            checksum, became = known
            if row["checksum"] != checksum:
                raise MigrationError(
                    f"migration {row['version']:04d}_{row['name']} was changed after it was "
                    "applied; this database cannot be moved to the per-domain migrations"
                )
            for key in became:
                if key not in by_key:
                    raise MigrationError(f"migration {key[0]}/{key[1]:04d} is missing")
                moved.append((by_key[key], row["applied_at"]))
        await conn.execute("ALTER TABLE schema_migrations ADD COLUMN domain text")
        await conn.execute("DELETE FROM schema_migrations")
        await conn.execute("ALTER TABLE schema_migrations ALTER COLUMN domain SET NOT NULL")
        await conn.execute("ALTER TABLE schema_migrations DROP CONSTRAINT schema_migrations_pkey")
        await conn.execute("ALTER TABLE schema_migrations ADD PRIMARY KEY (domain, version)")
        await conn.executemany(
            "INSERT INTO schema_migrations (domain, version, name, checksum, applied_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            [(m.domain, m.version, m.name, m.checksum, at) for m, at in moved],
        )
    log.info(
        "moved %d migrations of the single sequence to the per-domain folders (%d files)",
        len(rows),
        len(moved),
    )


async def migrate_url(
    url: str, migrations: Sequence[Migration], single: SingleSequence | None = None
) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        return await migrate(conn, migrations, single)
    finally:
        await conn.close()
