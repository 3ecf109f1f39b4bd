"""The measuring room's commands, which ``imias`` registers (the product never imports
this package): ``imias bench core|booking|cities|floor|records|prescriptions|certificates|
deliveries|insights`` and ``imias loadtest``."""

from __future__ import annotations

import sys

import click

from imias.identity import Keys, resolve_secret
from imias.platform import commands
from imias.platform.embedded import Servers


@click.group()
def bench() -> None:
    """Benchmarks that print JSON lines with figures and ratios."""


@bench.command("core", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_core(args: tuple[str, ...]) -> None:
    """The scheduler_core engine against its reference (options: --quick, --seed N)."""
    from loadtest.bench import core as core_bench

    sys.exit(core_bench.main(list(args)))


@bench.command("client", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_client(args: tuple[str, ...]) -> None:
    """The benches' own HTTP client against aiohttp's, in one run (options: --concurrency,
    --duration, --rounds, --quick, --help)."""
    from loadtest.bench import client as client_bench

    sys.exit(client_bench.main(list(args)))


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


@bench.command("records", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_records(args: tuple[str, ...]) -> None:
    """The patient's card, a measure's search and visit sign-offs against a served
    instance on a city seeded with history (options: --url, --database-url, --requests,
    --concurrency, --duration, --search-path, --quick, --help)."""
    from loadtest.bench import records as records_bench

    sys.exit(records_bench.main(list(args)))


@bench.command("insights", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_insights(args: tuple[str, ...]) -> None:
    """The dashboard's page and JSON routes against a served instance on a seeded city
    (options: --url, --database-url, --requests, --days, --quick, --help)."""
    from loadtest.bench import insights as insights_bench

    sys.exit(insights_bench.main(list(args)))


@click.command()
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
    import importlib.util
    import json
    from contextlib import nullcontext
    from pathlib import Path

    from loadtest.run import run

    if importlib.util.find_spec("locust") is None:
        commands.fail(
            "imias loadtest needs locust, which the loadtest extra installs: "
            "pip install -e '.[loadtest]' (in the project's .venv)",
            1,
        )
    from loadtest.served import ServeError, served

    settings = commands.settings(workers=workers)

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
            commands.fail(str(exc), 1)
            return
        shown = {k: summary[k] for k in ("requests", "failures", "per_second", "p50_ms")}
        shown |= {k: summary[k] for k in ("p95_ms", "p99_ms", "refusals_total", "passed")}
        shown |= {"target": summary["target"], "folder": summary["folder"]}
        click.echo(json.dumps(shown))
        if not summary["audit"]["passed"]:
            click.echo(json.dumps(summary["audit"], indent=2, default=str), err=True)
        if not summary["passed"]:
            sys.exit(1)

    commands.run_with_servers(settings, body)


@bench.command(
    "prescriptions", context_settings={"ignore_unknown_options": True}, add_help_option=False
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_prescriptions(args: tuple[str, ...]) -> None:
    """The prescription's checks, signing and verifying in process, and the pharmacy's
    scan-to-dispense against a served instance on a city seeded with history (options:
    --url, --database-url, --city, --rounds, --concurrency, --duration, --quick, --help)."""
    from loadtest.bench import prescriptions as prescriptions_bench

    sys.exit(prescriptions_bench.main(list(args)))


@bench.command(
    "certificates", context_settings={"ignore_unknown_options": True}, add_help_option=False
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_certificates(args: tuple[str, ...]) -> None:
    """A certificate's QR checked offline in process (one core), an officer's check and
    the chair's issue over HTTP against a served instance (started here without --url),
    on a city seeded with certificates (options: --url, --database-url, --redis-url,
    --rounds, --concurrency, --duration, --rate, --issue-seconds, --quick, --help)."""
    from loadtest.bench import certificates as certificates_bench

    sys.exit(certificates_bench.main(list(args)))


@bench.command(
    "deliveries", context_settings={"ignore_unknown_options": True}, add_help_option=False
)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_deliveries(args: tuple[str, ...]) -> None:
    """Messages a second through one partner's delivery worker to a simulator process
    (a backlog drained, a flow), the lag from commit to arrival at --rate, and with
    --outage SECONDS the receiver down under a steady flow: the time to drain, and that
    nothing was lost, doubled or reordered (options: --database-url, --redis-url,
    --backlog, --patients, --concurrency, --flow-seconds, --rate, --lag-seconds,
    --outage, --outage-rate, --backoff-ms, --backoff-cap-ms, --quick, --help)."""
    from loadtest.bench import deliveries as deliveries_bench

    sys.exit(deliveries_bench.main(list(args)))


@bench.command("notices", context_settings={"ignore_unknown_options": True}, add_help_option=False)
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def bench_notices(args: tuple[str, ...]) -> None:
    """Patients' notices a second through the notification service: routed (preference,
    text, queue) and sent by one SMS gateway partner's worker to `imias simulate sms`
    (options: --database-url, --redis-url, --count, --concurrency, --quick, --help)."""
    from loadtest.bench import notices as notices_bench

    sys.exit(notices_bench.main(list(args)))
