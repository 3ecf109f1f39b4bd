"""``imias catalogue`` (the drug catalogue a deployment prescribes from) and
``imias signing-keys revoke`` (a doctor's signing key)."""

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


REVOKE = """
UPDATE signing_keys SET revoked_at = $3
 WHERE clinic_id = $1 AND doctor_id = $2 AND revoked_at IS NULL
RETURNING id
"""


@click.group("signing-keys")
def signing_keys() -> None:
    """Doctors' prescription signing keys, issued by the system's authority."""


@signing_keys.command("revoke")
@click.option("--clinic", type=click.IntRange(1), required=True, help="The doctor's clinic.")
@click.option("--doctor", type=click.IntRange(1), required=True, help="The doctor's doctors row.")
def signing_keys_revoke(clinic: int, doctor: int) -> None:
    """Revoke the doctor's signing key (she left, or her key is in doubt): every server
    refuses the prescriptions it signed within a minute, and her next signature is made
    with a new key. Exit 1 when she has no key in use."""
    settings = commands.settings()

    def run(servers: Servers) -> None:
        async def revoke() -> str | None:
            conn = await asyncpg.connect(servers.database_url)
            try:
                value = await conn.fetchval(REVOKE, clinic, doctor, datetime.now(UTC))
                return None if value is None else str(value)
            finally:
                await conn.close()

        commands.migrate(servers.database_url)
        revoked = asyncio.run(revoke())
        if revoked is None:
            commands.fail(f"doctor {doctor} of clinic {clinic} has no signing key in use", 1)
            return
        click.echo(f"signing key {revoked} revoked; her prescriptions signed with it are refused")

    commands.run_with_servers(settings, run)
