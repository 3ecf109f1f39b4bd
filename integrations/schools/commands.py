"""``imias partners bind-school``, ``unbind-school``, ``school-journals``: which journal
system (a partner of kind school_journal) serves which school. A school bound to none
is sent to every partner whose topics take the message (the city's journal)."""

from __future__ import annotations

import asyncpg
import click

from imias.platform import commands
from imias.registry import school
from integrations import repository as integrations_repo
from integrations.schools import repository as repo


def _run(body: object) -> None:
    from integrations.commands import _run as run

    run(body)  # type: ignore[arg-type]


@click.command("bind-school")
@click.argument("partner_id")
@click.argument("school_id", type=click.IntRange(1))
def bind_school(partner_id: str, school_id: int) -> None:
    """Send SCHOOL_ID's absences and certificates to PARTNER_ID only."""

    async def body(pool: asyncpg.Pool) -> None:
        if await integrations_repo.partner(pool, partner_id) is None:
            commands.fail(f"no partner {partner_id!r}", 1)
        found = await school(pool, school_id)
        if found is None:
            commands.fail(f"no school {school_id}", 1)
        await repo.bind_journal(pool, school_id, partner_id)
        click.echo(f"school {school_id} ({found.name}) -> {partner_id}")

    _run(body)


@click.command("unbind-school")
@click.argument("partner_id")
@click.argument("school_id", type=click.IntRange(1))
def unbind_school(partner_id: str, school_id: int) -> None:
    """Stop sending SCHOOL_ID's messages to PARTNER_ID."""

    async def body(pool: asyncpg.Pool) -> None:
        if not await repo.unbind_journal(pool, school_id, partner_id):
            commands.fail(f"school {school_id} is not bound to {partner_id!r}", 1)
        click.echo(f"school {school_id} -/-> {partner_id}")

    _run(body)


@click.command("school-journals")
def school_journals() -> None:
    """Which schools are bound to which partners (the rest: every school journal)."""

    async def body(pool: asyncpg.Pool) -> None:
        bound = await repo.journals(pool)
        if not bound:
            click.echo("no school is bound: every school journal partner gets every school")
        for school_id, partner_id in bound:
            click.echo(f"{school_id:>8}  {partner_id}")

    _run(body)
