"""The ``imias`` command: serve, migrate, version, bench (later: seed, phone, token).

Settings come from ``IMIAS_*`` variables, read when a command runs. A bad value
stops the command with one line naming the variable (exit status 2).
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import sys
import threading
from collections.abc import Callable
from typing import Any

import asyncpg
import click

from imias import __version__
from imias.platform.embedded import EmbeddedServerError, Servers, start_servers
from imias.platform.logs import configure_logging
from imias.platform.migrator import MigrationError, migrate_url
from imias.settings import Settings, SettingsError, load_settings

log = logging.getLogger("imias.cli")


def _fail(message: str, status: int = 2) -> None:
    click.echo(f"imias: error: {message}", err=True)
    sys.exit(status)


def _settings(**overrides: Any) -> Settings:
    try:
        settings = load_settings(**overrides)
    except SettingsError as exc:
        _fail(str(exc))
        raise  # unreachable, for type checkers
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _run_with_servers(settings: Settings, body: Callable[[Servers], None]) -> None:
    """Start (embedded) servers, run ``body``, stop the embedded servers after."""
    try:
        servers = start_servers(settings)
    except EmbeddedServerError as exc:
        _fail(str(exc), 1)
        raise
    try:
        body(servers)
    except MigrationError as exc:
        _fail(f"migration failed: {exc}", 1)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        where = "the embedded PostgreSQL" if servers.postgres else "IMIAS_DATABASE_URL"
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _fail(f"cannot use the database at {where}: {reason}", 1)
    finally:
        servers.stop()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imias")
def main() -> None:
    """IMIAS: integrated medical information system for a city's outpatient care.

    Configure with IMIAS_* environment variables (see the README). Without
    IMIAS_DATABASE_URL and IMIAS_REDIS_URL an embedded PostgreSQL and Redis run
    with their data under IMIAS_DATA_DIR (default ./.imias).
    """


@main.command()
def version() -> None:
    """Print the version of IMIAS, its engine and Python."""
    try:
        import scheduler_core

        engine = scheduler_core.IMPLEMENTATION
    except ImportError as exc:
        engine = f"unavailable ({exc})"
    click.echo(f"imias {__version__}")
    click.echo(f"engine {engine}")
    click.echo(f"python {platform.python_version()}")


@main.command()
def migrate() -> None:
    """Apply the database migrations that are missing (safe to run twice or at once)."""
    settings = _settings()

    def body(servers: Servers) -> None:
        applied = asyncio.run(migrate_url(servers.database_url))
        if applied:
            click.echo(f"applied migrations: {', '.join(f'{v:04d}' for v in applied)}")
        else:
            click.echo("database schema is up to date")

    _run_with_servers(settings, body)


@main.command()
@click.option("--host", default=None, help="Address to bind (IMIAS_HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (IMIAS_PORT, default 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (IMIAS_WORKERS).")
def serve(host: str | None, port: int | None, workers: int | None) -> None:
    """Migrate the database, then serve the API and pages with granian."""
    settings = _settings(host=host, port=port, workers=workers)

    def body(servers: Servers) -> None:
        asyncio.run(migrate_url(servers.database_url))
        # Workers are separate processes: they find the servers through the environment.
        os.environ["IMIAS_DATABASE_URL"] = servers.database_url
        os.environ["IMIAS_REDIS_URL"] = servers.redis_url
        watchdog = _watch_embedded_redis(servers)
        from granian import Granian
        from granian.constants import Interfaces

        log.info(
            "serving on http://%s:%d with %d worker(s)",
            settings.host,
            settings.port,
            settings.workers,
        )
        try:
            Granian(
                "imias.asgi:app",
                factory=True,
                address=settings.host,
                port=settings.port,
                workers=settings.workers,
                interface=Interfaces.ASGI,
                log_enabled=True,
                respawn_failed_workers=True,
                workers_kill_timeout=30,
            ).serve()
        finally:
            if watchdog is not None:
                watchdog.set()

    _run_with_servers(settings, body)


def _watch_embedded_redis(servers: Servers, interval: float = 2.0) -> threading.Event | None:
    """Restart the embedded Redis if it dies while serving (a real one is the
    operator's to run). Returns the event that stops the watch."""
    embedded = servers.redis
    if embedded is None:
        return None
    stop = threading.Event()

    def watch() -> None:
        while not stop.wait(interval):
            if not embedded.ping():
                log.warning("embedded Redis is not answering; restarting it")
                try:
                    embedded.start()
                    log.info("embedded Redis is back")
                except EmbeddedServerError as exc:
                    log.error("embedded Redis did not restart: %s", exc)

    threading.Thread(target=watch, name="imias-redis-watch", daemon=True).start()
    return stop


@main.command()
@click.option("--patients", type=click.IntRange(0), default=100_000, show_default=True)
@click.option("--clinics", type=click.IntRange(1), default=678, show_default=True)
@click.option("--doctors", type=click.IntRange(1), default=21_500, show_default=True)
@click.option("--days", type=click.IntRange(1, 62), default=14, show_default=True)
@click.option(
    "--seed",
    "seed_value",
    type=int,
    default=1,
    show_default=True,
    help="Random seed: the same seed gives the same city.",
)
@click.option("--replace", is_flag=True, help="Empty the booking tables first.")
@click.option("--if-empty", is_flag=True, help="Do nothing when a city is already loaded.")
def seed(
    patients: int,
    clinics: int,
    doctors: int,
    days: int,
    seed_value: int,
    replace: bool,
    if_empty: bool,
) -> None:
    """Generate a synthetic city (default: 678 clinics, 21,500 doctors, 100,000
    patients; --patients 9500000 loads the full city) with COPY and a progress bar."""
    from imias.booking.seed import CityAlreadySeeded, city_is_seeded, run_seed

    settings = _settings()

    def body(servers: Servers) -> None:
        asyncio.run(migrate_url(servers.database_url))
        if if_empty and not replace:

            async def seeded() -> bool:
                conn = await asyncpg.connect(servers.database_url)
                try:
                    return await city_is_seeded(conn)
                finally:
                    await conn.close()

            if asyncio.run(seeded()):
                click.echo("a city is already loaded; nothing to do")
                return
        try:
            run_seed(
                servers.database_url,
                clinics=clinics,
                doctors=doctors,
                patients=patients,
                days=days,
                seed=seed_value,
                replace=replace,
                progress=True,
            )
        except (CityAlreadySeeded, ValueError) as exc:
            _fail(str(exc), 1)

    _run_with_servers(settings, body)


@main.group()
def bench() -> None:
    """Benchmarks that print JSON lines with figures and ratios."""


@bench.command("core", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_core(args: tuple[str, ...]) -> None:
    """The scheduler_core engine against its reference (options: --quick, --seed N)."""
    from scheduler_core import bench as core_bench

    sys.exit(core_bench.main(list(args)))


@bench.command("booking", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_booking(args: tuple[str, ...]) -> None:
    """Concurrent search, hold and confirm against a served instance, and the same search
    in SQL (options: --url, --concurrency, --duration, --specialty, --quick, --help)."""
    from imias.booking import bench as booking_bench

    sys.exit(booking_bench.main(list(args)))


if __name__ == "__main__":  # pragma: no cover
    main()
