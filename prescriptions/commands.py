"""``imias catalogue``: the drug catalogue a deployment prescribes from."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import click

from imias.platform import commands
from imias.platform.embedded import Servers


@click.group()
def catalogue() -> None:
    """The drug catalogue (the bundled one is imported on first start)."""


@catalogue.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def catalogue_import(file: Path) -> None:
    """Check FILE (the shape of prescriptions/catalogue/drugs.json) and store it as the
    catalogue that every server prescribes from (running servers take it within a
    minute). The same version with other content is refused."""
    from prescriptions import repository as repo
    from prescriptions.formulary import Catalogue, CatalogueError

    body = file.read_bytes()
    try:
        found = Catalogue.decode(body)
    except CatalogueError as exc:
        commands.fail(f"{file}: {exc}")
        return
    settings = commands.settings()

    def run(servers: Servers) -> None:
        async def store() -> bool:
            conn = await asyncpg.connect(servers.database_url)
            try:
                return await repo.store_catalogue(
                    conn, found.version, found.data.published, body, datetime.now(UTC)
                )
            finally:
                await conn.close()

        commands.migrate(servers.database_url)
        try:
            stored = asyncio.run(store())
        except ValueError as exc:
            commands.fail(str(exc), 1)
            return
        click.echo(
            f"catalogue {found.version}: {len(found.drugs)} drugs, "
            f"{len(found.data.interactions)} interactions, {len(found.benefits)} benefit "
            f"categories {'imported' if stored else 'was imported already'}"
        )

    commands.run_with_servers(settings, run)
