"""What every ``imias`` command shares: settings read once with one-line errors, the
servers (embedded or given) around the command's work, the schema migrated first; and
the platform's own command, ``imias audit``.

The composition root (:mod:`imias.cli`) gives its commands the whole schema's
migration through the click context (:class:`Root`), so a domain's command migrates
every domain without knowing them.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, NoReturn

import asyncpg
import click

from imias.platform.embedded import EmbeddedServerError, Servers, start_servers
from imias.platform.logs import configure_logging
from imias.platform.migrator import MigrationError
from imias.platform.settings import Settings, SettingsError, load_settings


@dataclass(frozen=True)
class Root:
    """What the ``imias`` group hands its commands (``ctx.obj``)."""

    migrate: Callable[[str], Coroutine[Any, Any, list[str]]]  # asyncio.run() runs it


def fail(message: str, status: int = 2) -> NoReturn:
    click.echo(f"imias: error: {message}", err=True)
    sys.exit(status)


def settings(**overrides: Any) -> Settings:
    """The settings (``IMIAS_*`` and the command's options), logging configured; a bad
    value stops the command with one line naming the variable (status 2)."""
    try:
        loaded = load_settings(**overrides)
    except SettingsError as exc:
        fail(str(exc))
    configure_logging(loaded.log_level, loaded.log_format)
    return loaded


def migrate(database_url: str) -> list[str]:
    """Apply every domain's missing migrations (the root's)."""
    root = click.get_current_context().find_root().obj
    if not isinstance(root, Root):
        raise RuntimeError("an imias command runs under the imias group (imias.cli.main)")
    return asyncio.run(root.migrate(database_url))


def run_with_servers(settings: Settings, body: Callable[[Servers], None]) -> None:
    """Start (embedded) servers, run ``body``, stop the embedded servers after; a failing
    database or migration is one line, never a traceback."""
    try:
        servers = start_servers(settings)
    except EmbeddedServerError as exc:
        fail(str(exc), 1)
    try:
        body(servers)
    except MigrationError as exc:
        fail(f"migration failed: {exc}", 1)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = "the embedded PostgreSQL" if servers.postgres else "IMIAS_DATABASE_URL"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        fail(f"cannot use the database at {where}: {reason}", 1)
    finally:
        servers.stop()


@click.group()
def audit() -> None:
    """The audit log."""


@audit.command("verify")
@click.option("--seal", is_flag=True, help="Seal the records not sealed yet, first.")
@click.option(
    "--anchor",
    default=None,
    metavar="SEQ:HASH",
    help="A head noted earlier (the sealer logs it): it must be on the chain.",
)
def audit_verify(seal: bool, anchor: str | None) -> None:
    """Check the audit log's hash chain: a removed or altered record is reported and the
    exit status is 1."""
    from imias.platform.audit import seal_all, verify_chain

    loaded = settings()
    pinned: tuple[int, bytes] | None = None
    if anchor is not None:
        try:
            seq_text, hash_text = anchor.split(":", 1)
            pinned = (int(seq_text), bytes.fromhex(hash_text))
        except ValueError:
            fail("--anchor is SEQ:HASH, e.g. 1200:9f86d081...")
    outcome: dict[str, bool] = {}

    def body(servers: Servers) -> None:
        async def check() -> None:
            conn = await asyncpg.connect(servers.database_url)
            try:
                if seal:
                    sealed = await seal_all(conn)
                    click.echo(f"sealed {sealed} records")
                report = await verify_chain(conn, anchor=pinned)
            finally:
                await conn.close()
            for line in report.lines():
                click.echo(line)
            outcome["ok"] = report.ok

        migrate(servers.database_url)
        asyncio.run(check())

    run_with_servers(loaded, body)
    if not outcome.get("ok"):
        sys.exit(1)
