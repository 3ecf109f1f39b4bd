"""The command the city generator adds to ``imias``: ``seed``."""

from __future__ import annotations

import asyncio

import asyncpg
import click

from imias.identity import resolve_secret
from imias.platform import commands
from imias.platform.embedded import Servers


@click.command()
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
    "the schedules, and the medical records of the completed visits.",
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
    --history-days N adds the past N days' appointments and their medical records."""
    from imias.citygen.seed import CityAlreadySeeded, city_is_seeded, run_seed

    settings = commands.settings()

    def body(servers: Servers) -> None:
        commands.migrate(servers.database_url)
        if if_empty and not replace:

            async def seeded() -> bool:
                conn = await asyncpg.connect(servers.database_url)
                try:
                    return await city_is_seeded(conn)
                finally:
                    await conn.close()

            if asyncio.run(seeded()):
                click.echo("a city is already loaded; nothing to do")
                _say_who_to_sign_in_as(servers.database_url)
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
                # The prescriptions of the history are signed with the key the server
                # will check them with: its secret, resolved as the server resolves it.
                secret=resolve_secret(settings.secret_key, settings.data_dir, announce=False),
                city_code=settings.city_code,
            )
        except (CityAlreadySeeded, ValueError) as exc:
            commands.fail(str(exc), 1)
        _say_who_to_sign_in_as(servers.database_url)

    commands.run_with_servers(settings, body)


def _say_who_to_sign_in_as(database_url: str) -> None:
    """A few of the synthetic city's patients to sign in as on the demo (adults with a
    phone, where the code goes: in ``make demo``, the SMS simulator's page)."""
    from imias.citygen.seed import sample_patients

    async def sample() -> list[tuple[str, str]]:
        conn = await asyncpg.connect(database_url)
        try:
            return await sample_patients(conn)
        finally:
            await conn.close()

    shown = asyncio.run(sample())
    if shown:
        click.echo(
            "sign in on the demo as a patient of the city, e.g. (the code comes by SMS: in"
            " make demo, on the SMS simulator's page http://127.0.0.1:8560/):"
        )
        for policy, born in shown:
            click.echo(f"  policy number {policy}, born {born}")
