"""The commands identity adds to ``imias``: ``token`` (mint a token with the server's
key) and ``staff add`` (a staff account)."""

from __future__ import annotations

import asyncio

import asyncpg
import click

from imias.identity.keys import resolve_secret
from imias.identity.model import CLINIC_ROLES, ROLES, Role
from imias.platform import commands
from imias.platform.embedded import Servers


@click.command()
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
    role: Role, subject: int, org: int | None, doctor: int | None, acting_for: int | None, ttl: int
) -> None:
    """Print a token signed with the server's key (IMIAS_SECRET_KEY, or the key file
    under IMIAS_DATA_DIR), for operators and tests: curl -H "Authorization: Bearer $T"."""
    from imias.identity import tokens

    settings = commands.settings()
    if role in CLINIC_ROLES and org is None:
        commands.fail(f"a {role} works in a clinic: give --org CLINIC_ID")
    if role == "doctor" and doctor is None:
        commands.fail("a doctor's token names her doctors row: give --doctor DOCTOR_ID")
    if acting_for is not None and role != "patient":
        commands.fail("--acting-for is for a patient's token")
    from imias.identity.keys import Keys

    secret = resolve_secret(settings.secret_key, settings.data_dir, announce=False)
    claims = tokens.claims(
        role,
        subject,
        org=org,
        doctor=doctor,
        acting_for=acting_for,
        ttl=ttl,
    )
    click.echo(tokens.mint(Keys.from_secret(secret).token, claims))


@click.group()
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
    role: Role,
    clinic: int | None,
    doctor: int | None,
    organisation: int | None,
    full_name: str | None,
    password: str,
) -> None:
    """Create a staff account with an Argon2-hashed password (e.g. the first administrator)."""
    from imias.identity.accounts import Accounts
    from imias.identity.passwords import Passwords

    settings = commands.settings()
    if len(password) < 10:
        commands.fail("a password has at least 10 characters")

    def body(servers: Servers) -> None:
        async def add() -> int:
            pool = await asyncpg.create_pool(servers.database_url, min_size=1, max_size=1)
            try:
                # Creating an account revokes no session: this tool has no Sessions.
                accounts = Accounts(pool, None, Passwords())  # type: ignore[arg-type]
                return await accounts.create_staff(
                    username,
                    password,
                    role,
                    clinic_id=clinic,
                    doctor_id=doctor,
                    organisation_id=organisation,
                    full_name=full_name,
                )
            finally:
                await pool.close()

        commands.migrate(servers.database_url)
        try:
            staff_id = asyncio.run(add())
        except (ValueError, asyncpg.IntegrityConstraintViolationError) as exc:
            commands.fail(str(exc).splitlines()[0], 1)
            return
        click.echo(f"staff account {staff_id}: {username} ({role})")

    commands.run_with_servers(settings, body)
