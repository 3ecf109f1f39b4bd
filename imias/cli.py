"""The ``imias`` command: the composition root's ``serve``, ``migrate`` and ``version``,
and the commands each part of IMIAS adds (its plugin's ``commands``): ``seed``,
``token``, ``staff``, ``audit``, ``phone``; and the measuring room's ``bench`` and
``loadtest`` (:mod:`loadtest.commands`, never imported by the product).

Settings come from ``IMIAS_*`` variables, read when a command runs. A bad value
stops the command with one line naming the variable (exit status 2).
"""

from __future__ import annotations

import logging
import os
import platform
from pathlib import Path

import click

from imias import __version__, domains
from imias.citygen.commands import seed
from imias.identity import resolve_secret
from imias.platform import commands
from imias.platform.embedded import RedisWatch, Servers
from imias.platform.ports import port_taken

log = logging.getLogger("imias.cli")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="imias")
@click.pass_context
def main(ctx: click.Context) -> None:
    """IMIAS: integrated medical information system for a city's outpatient care.

    Configure with IMIAS_* environment variables (see docs/operations.md). Without
    IMIAS_DATABASE_URL and IMIAS_REDIS_URL an embedded PostgreSQL and Redis run
    with their data under IMIAS_DATA_DIR (default ./.imias).
    """
    ctx.obj = commands.Root(migrate=domains.migrate_url)


@main.command()
def version() -> None:
    """Print the version of IMIAS, its engine and Python."""
    try:
        import scheduler_core

        engine: str = scheduler_core.IMPLEMENTATION
    except ImportError as exc:
        engine = f"unavailable ({exc})"
    click.echo(f"imias {__version__}")
    click.echo(f"engine {engine}")
    click.echo(f"python {platform.python_version()}")


@main.command()
def migrate() -> None:
    """Apply the database migrations that are missing (safe to run twice or at once)."""
    settings = commands.settings()

    def body(servers: Servers) -> None:
        applied = commands.migrate(servers.database_url)
        if applied:
            click.echo(f"applied migrations: {', '.join(applied)}")
        else:
            click.echo("database schema is up to date")

    commands.run_with_servers(settings, body)


@main.command()
@click.option("--host", default=None, help="Address to bind (IMIAS_HOST, default 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Port (IMIAS_PORT, default 8000).")
@click.option("--workers", type=int, default=None, help="Worker processes (IMIAS_WORKERS).")
@click.option(
    "--with-simulators",
    is_flag=True,
    help="The demo's other side: start the simulators (imias simulate ...) on their local "
    "ports and register them as partners (make demo does).",
)
def serve(host: str | None, port: int | None, workers: int | None, with_simulators: bool) -> None:
    """Migrate the database, then serve the API and pages with granian."""
    settings = commands.settings(host=host, port=port, workers=workers)
    if port_taken(settings.host, settings.port):
        raise click.ClickException(
            f"{settings.host}:{settings.port} is in use already (another imias serve?):"
            " stop that one, or serve on another port (--port, IMIAS_PORT)."
        )

    def body(servers: Servers) -> None:
        commands.migrate(servers.database_url)
        # Made (or found) and announced here once; the workers read the same key file.
        secret = resolve_secret(settings.secret_key, settings.data_dir)
        simulators = None
        if with_simulators:
            from integrations.demo import DemoSimulators

            simulators = DemoSimulators(
                servers.database_url,
                secret,
                Path(settings.data_dir),
                f"http://{settings.host}:{settings.port}",
            )
            for line in simulators.start():
                click.echo(line)
        # Workers are separate processes: they find the servers through the environment.
        os.environ["IMIAS_DATABASE_URL"] = servers.database_url
        os.environ["IMIAS_APP_DATABASE_URL"] = servers.app_database_url
        os.environ["IMIAS_REDIS_URL"] = servers.redis_url
        # The embedded Redis is kept running by its process (a real one is the operator's).
        watchdog = RedisWatch(servers.redis) if servers.redis is not None else None
        if watchdog is not None:
            watchdog.start()
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
                watchdog.stop()
            if simulators is not None:
                simulators.stop()

    commands.run_with_servers(settings, body)


for plugin in domains.PLUGINS:
    for command in plugin.commands:
        main.add_command(command)
main.add_command(seed)


def _measuring_room() -> None:
    """The benches and the load test, from loadtest/ (a tool beside the product)."""
    from loadtest.commands import bench, loadtest

    main.add_command(bench)
    main.add_command(loadtest)


_measuring_room()

if __name__ == "__main__":  # pragma: no cover
    main()
