"""The ``imias`` command: serve, migrate, seed, token, staff, audit, phone, version, bench,
loadtest.

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
from imias.domains import migrate_url
from imias.identity.keys import resolve_secret
from imias.identity.model import CLINIC_ROLES, ROLES
from imias.platform.embedded import EmbeddedServerError, Servers, start_servers
from imias.platform.logs import configure_logging
from imias.platform.migrator import MigrationError
from imias.platform.settings import Settings, SettingsError, load_settings
from loadtest.served import port_taken

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
            click.echo(f"applied migrations: {', '.join(applied)}")
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
    if port_taken(settings.host, settings.port):
        raise click.ClickException(
            f"{settings.host}:{settings.port} is in use already (another imias serve?):"
            " stop that one, or serve on another port (--port, IMIAS_PORT)."
        )

    def body(servers: Servers) -> None:
        asyncio.run(migrate_url(servers.database_url))
        # Made (or found) and announced here once; the workers read the same key file.
        resolve_secret(settings.secret_key, settings.data_dir)
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
    "--history-days",
    type=click.IntRange(0, 366),  # imias.citygen.seed.MAX_HISTORY_DAYS
    default=0,
    show_default=True,
    help="Past appointments (completed, cancelled, no-show) over this many days before "
    "the schedules.",
)
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
    history_days: int,
    seed_value: int,
    replace: bool,
    if_empty: bool,
) -> None:
    """Generate a synthetic city (default: 678 clinics, 21,500 doctors, 100,000
    patients; --patients 9500000 loads the full city) with COPY and a progress bar;
    --history-days N adds the past N days' appointments."""
    from imias.citygen.seed import CityAlreadySeeded, city_is_seeded, run_seed

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
                history_days=history_days,
                seed=seed_value,
                replace=replace,
                progress=True,
            )
        except (CityAlreadySeeded, ValueError) as exc:
            _fail(str(exc), 1)

    _run_with_servers(settings, body)


@main.command()
@click.option("--role", type=click.Choice(ROLES), required=True, help="The caller's role.")
@click.option(
    "--subject",
    type=click.IntRange(1),
    required=True,
    help="The patient's id (role patient) or the staff account's id.",
)
@click.option(
    "--org",
    type=click.IntRange(1),
    default=None,
    help="The organisation: the clinic of a registrar or a doctor.",
)
@click.option(
    "--doctor", type=click.IntRange(1), default=None, help="A doctor's doctors row (role doctor)."
)
@click.option(
    "--acting-for",
    type=click.IntRange(1),
    default=None,
    help="A patient's token that also acts for this adult patient.",
)
@click.option(
    "--ttl",
    type=click.IntRange(1, 86_400),
    default=900,
    show_default=True,
    help="Seconds the token is valid.",
)
def token(
    role: str, subject: int, org: int | None, doctor: int | None, acting_for: int | None, ttl: int
) -> None:
    """Print a token signed with the server's key (IMIAS_SECRET_KEY, or the key file
    under IMIAS_DATA_DIR), for operators and tests: curl -H "Authorization: Bearer $T"."""
    from imias.identity import tokens

    settings = _settings()
    if role in CLINIC_ROLES and org is None:
        _fail(f"a {role} works in a clinic: give --org CLINIC_ID")
    if role == "doctor" and doctor is None:
        _fail("a doctor's token names her doctors row: give --doctor DOCTOR_ID")
    if acting_for is not None and role != "patient":
        _fail("--acting-for is for a patient's token")
    from imias.identity.keys import Keys

    secret = resolve_secret(settings.secret_key, settings.data_dir, announce=False)
    claims = tokens.claims(
        role,  # type: ignore[arg-type]
        subject,
        org=org,
        doctor=doctor,
        acting_for=acting_for,
        ttl=ttl,
    )
    click.echo(tokens.mint(Keys.from_secret(secret).token, claims))


@main.group()
def staff() -> None:
    """Staff accounts (the demo city has its own; see the README)."""


@staff.command("add")
@click.option("--username", required=True)
@click.option("--role", type=click.Choice(ROLES[1:]), required=True)
@click.option(
    "--clinic", type=click.IntRange(1), default=None, help="A registrar's or doctor's clinic."
)
@click.option("--doctor", type=click.IntRange(1), default=None, help="A doctor's doctors row.")
@click.option(
    "--organisation",
    type=click.IntRange(1),
    default=None,
    help="Another organisation's id (pharmacy, police, ambulance, school).",
)
@click.option("--name", "full_name", default=None, help="The person's full name.")
@click.password_option(
    help="Asked for when not given (or IMIAS_STAFF_PASSWORD).", envvar="IMIAS_STAFF_PASSWORD"
)
def staff_add(
    username: str,
    role: str,
    clinic: int | None,
    doctor: int | None,
    organisation: int | None,
    full_name: str | None,
    password: str,
) -> None:
    """Create a staff account with an Argon2-hashed password (e.g. the first administrator)."""
    from imias.identity.accounts import Accounts
    from imias.identity.passwords import Passwords

    settings = _settings()
    if len(password) < 10:
        _fail("a password has at least 10 characters")

    def body(servers: Servers) -> None:
        async def add() -> int:
            await migrate_url(servers.database_url)
            pool = await asyncpg.create_pool(servers.database_url, min_size=1, max_size=1)
            try:
                accounts = Accounts(pool, None, Passwords())  # type: ignore[arg-type]
                return await accounts.create_staff(
                    username,
                    password,
                    role,  # type: ignore[arg-type]
                    clinic_id=clinic,
                    doctor_id=doctor,
                    organisation_id=organisation,
                    full_name=full_name,
                )
            finally:
                await pool.close()

        try:
            staff_id = asyncio.run(add())
        except (ValueError, asyncpg.IntegrityConstraintViolationError) as exc:
            _fail(str(exc).splitlines()[0], 1)
            return
        click.echo(f"staff account {staff_id}: {username} ({role})")

    _run_with_servers(settings, body)


@main.group()
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

    settings = _settings()
    pinned: tuple[int, bytes] | None = None
    if anchor is not None:
        try:
            seq_text, hash_text = anchor.split(":", 1)
            pinned = (int(seq_text), bytes.fromhex(hash_text))
        except ValueError:
            _fail("--anchor is SEQ:HASH, e.g. 1200:9f86d081...")
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

        asyncio.run(migrate_url(servers.database_url))
        asyncio.run(check())

    _run_with_servers(settings, body)
    if not outcome.get("ok"):
        sys.exit(1)


@main.command()
@click.option("--url", default="http://127.0.0.1:8000", show_default=True, help="The server.")
@click.option(
    "--from", "caller", default="+70000000000", show_default=True, help="The calling number."
)
@click.option(
    "--secret",
    envvar="IMIAS_PHONE_WEBHOOK_SECRET",
    default=None,
    help="Sign requests as the gateway would (IMIAS_PHONE_WEBHOOK_SECRET).",
)
def phone(url: str, caller: str, secret: str | None) -> None:
    """Play a phone call in the terminal: prompts are printed, digits typed (Enter alone
    is silence; end of input hangs up)."""
    from imias.channels.phone.simulator import play

    def read() -> str | None:
        try:
            return input("> ")
        except EOFError:
            return None

    sys.exit(play(url, caller, read=read, write=click.echo, secret=secret))


@main.group()
def bench() -> None:
    """Benchmarks that print JSON lines with figures and ratios."""


@bench.command("core", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_core(args: tuple[str, ...]) -> None:
    """The scheduler_core engine against its reference (options: --quick, --seed N)."""
    from loadtest.bench import core as core_bench

    sys.exit(core_bench.main(list(args)))


@bench.command("booking", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_booking(args: tuple[str, ...]) -> None:
    """Concurrent search, hold and confirm against a served instance, and the same search
    in SQL (options: --url, --concurrency, --duration, --specialty, --quick, --help)."""
    from loadtest.bench import booking as booking_bench

    sys.exit(booking_bench.main(list(args)))


@bench.command("cities", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_cities(args: tuple[str, ...]) -> None:
    """The booking bench on each seeded city given, each served in turn, side by side
    (options: --database-url NAME=URL, once per city; --redis-url, --workers and the
    booking bench's; --help)."""
    from loadtest.bench import cities as cities_bench

    sys.exit(cities_bench.main(list(args)))


@bench.command("floor", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_floor(args: tuple[str, ...]) -> None:
    """The most bookings/s this machine gives a bare Python server on asyncpg and
    PostgreSQL, for each shape of the writes (options: --database-url, --concurrency,
    --duration, --shape, --quick, --help)."""
    from loadtest.bench import floor as floor_bench

    sys.exit(floor_bench.main(list(args)))


@main.command()
@click.argument("profile", type=click.Choice(["emias-day", "monday-opening", "stress"]))
@click.option("--url", default=None, help="A running server (default: start one here).")
@click.option("--duration", type=click.IntRange(1), default=None, help="Seconds of load.")
@click.option("--users", type=click.IntRange(1), default=None, help="Simulated users.")
@click.option(
    "--report",
    "report",
    type=click.Path(file_okay=False),
    default="reports/load",
    show_default=True,
    help="Where the run's folder (PROFILE-TIMESTAMP) goes.",
)
@click.option(
    "--workers", type=int, default=None, help="Workers of the server started (IMIAS_WORKERS)."
)
@click.option(
    "--popular",
    type=click.IntRange(1),
    default=100,
    show_default=True,
    help="monday-opening: the popular doctors whose new day is raced for.",
)
def loadtest(
    profile: str,
    url: str | None,
    duration: int | None,
    users: int | None,
    report: str,
    workers: int | None,
    popular: int,
) -> None:
    """Run a locust profile headless against the city in the database (IMIAS_DATABASE_URL
    or the embedded one), audit the database after, and write the report folder. Exit 1
    when a request failed unexpectedly or the audit found something."""
    import json
    from contextlib import nullcontext
    from pathlib import Path

    from imias.identity.keys import Keys
    from loadtest.run import run
    from loadtest.served import ServeError, served

    settings = _settings(workers=workers)

    def body(servers: Servers) -> None:
        key = Keys.from_secret(resolve_secret(settings.secret_key, settings.data_dir)).token
        server = (
            served(
                servers.database_url,
                servers.redis_url,
                log_path=Path(report) / "serve.log",
                workers=settings.workers,
                host=settings.host,
                port=settings.port,
                # the IVR speaks its SMS codes: phone callers sign in
                settings={"IMIAS_DEMO": "1"},
            )
            if url is None
            else nullcontext(url)
        )
        try:
            with server as target:
                summary = run(
                    profile,
                    url=target,
                    database_url=servers.database_url,
                    token_key=key,
                    report_base=Path(report),
                    duration=duration,
                    users=users,
                    popular=popular,
                    log=lambda m: click.echo(f"[loadtest] {m}", err=True),
                )
        except ServeError as exc:
            _fail(str(exc), 1)
            return
        shown = {k: summary[k] for k in ("requests", "failures", "per_second", "p50_ms")}
        shown |= {k: summary[k] for k in ("p95_ms", "p99_ms", "refusals_total", "passed")}
        shown |= {"target": summary["target"], "folder": summary["folder"]}
        click.echo(json.dumps(shown))
        if not summary["audit"]["passed"]:
            click.echo(json.dumps(summary["audit"], indent=2, default=str), err=True)
        if not summary["passed"]:
            sys.exit(1)

    _run_with_servers(settings, body)


if __name__ == "__main__":  # pragma: no cover
    main()
