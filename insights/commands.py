"""``imias insights rebuild [--days N]``: the dashboard's aggregates made again from the
appointments, encounters and schedules of the last N days (an existing city, its
history, or after a fault), and the load of the booking window's coming days, with a
progress bar. One transaction: a rebuild that stops
half-way changes nothing.

The earliest free slot cannot be rebuilt: it is what the engine answered at the time,
sampled by the running job; its history starts when the job first ran."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg
import click
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from imias.platform import commands
from imias.platform.embedded import Servers
from insights import refresh
from insights import repository as repo
from insights.jobs import AHEAD_DAYS


@click.group("insights")
def insights() -> None:
    """The dashboard's aggregates (docs/dashboard.md)."""


@insights.command("rebuild")
@click.option(
    "--days",
    type=click.IntRange(1, 366),
    default=30,
    show_default=True,
    help="How many local days back from today (today included).",
)
def rebuild(days: int) -> None:
    """Make the dashboard's aggregates again from the records of the last DAYS days."""
    settings = commands.settings()
    zone = ZoneInfo(settings.time_zone)
    console = Console(stderr=True)

    def run(servers: Servers) -> None:
        commands.migrate(servers.database_url)
        started = time.perf_counter()
        counts = asyncio.run(rebuild_days(servers.database_url, zone, days, console))
        console.print(
            f"[bold]insights rebuilt[/bold] for {days} days in "
            f"{time.perf_counter() - started:.1f} s: "
            + ", ".join(f"{k} {v:,} rows" for k, v in counts.items())
        )

    commands.run_with_servers(settings, run)


async def rebuild_days(
    database_url: str, zone: ZoneInfo, days: int, console: Console | None = None
) -> dict[str, int]:
    """The rebuild itself (the command's, and a bench's or a test's)."""
    today = datetime.now(UTC).astimezone(zone).date()
    first = today - timedelta(days=days - 1)
    conn = await asyncpg.connect(database_url)
    counts: dict[str, int] = {}
    try:
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TextColumn("{task.completed}/{task.total}"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
            disable=console is None,
        ) as progress:
            visits = progress.add_task("visits and waits (days)", total=days)
            made = progress.add_task(
                "bookings made (days of visits)", total=days + refresh.BOOKING_HORIZON_DAYS
            )
            async with conn.transaction():
                counts["load"] = counts["waits"] = 0
                day = first
                while day <= today:
                    # One day at a time: the deletes are per day too, so nothing is lost.
                    counts["load"] += await refresh.refresh_visits(conn, day, day, zone)
                    counts["waits"] += await refresh.refresh_waits(conn, day, day, zone)
                    progress.advance(visits)
                    day += timedelta(days=1)

                def advanced(_: date) -> None:
                    progress.advance(made)

                # the booking window's coming days: their load so far
                counts["load"] += await refresh.refresh_visits(
                    conn, today + timedelta(days=1), today + timedelta(days=AHEAD_DAYS), zone
                )
                counts["bookings"] = await refresh.rebuild_bookings(
                    conn, first, today, zone, advanced
                )
                await repo.ran(conn, "visits", datetime.now(UTC), f"rebuilt {first}..{today}")
    finally:
        await conn.close()
    return counts
