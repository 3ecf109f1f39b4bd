"""``imias partners`` (the outside systems), ``imias deliveries`` (what was sent to them,
what waits and what is dead: list, retry, replay, reroute) and ``imias simulate`` (the
other side, as small real servers)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import click

from imias.identity import resolve_secret
from imias.platform import commands
from imias.platform.embedded import Servers
from integrations import repository as repo
from integrations.ambulance.cli import simulate_ambulance
from integrations.model import KIND_TOPICS, Partner, Transport
from integrations.signing import partner_secret
from integrations.simulators.webhook import simulate_webhook

Work = Callable[[asyncpg.Pool], Awaitable[None]]


def _run(body: Work) -> None:
    settings = commands.settings()

    def run(servers: Servers) -> None:
        async def work() -> None:
            pool = await asyncpg.create_pool(servers.database_url, min_size=1, max_size=2)
            try:
                await body(pool)
            finally:
                await pool.close()

        commands.migrate(servers.database_url)
        asyncio.run(work())

    commands.run_with_servers(settings, run)


def _when(at: datetime | None) -> str:
    return "-" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


# -- partners --------------------------------------------------------------------------------


@click.group("partners")
def partners() -> None:
    """The outside systems IMIAS sends messages to and takes messages from."""


@partners.command("add")
@click.argument("partner_id")
@click.option("--kind", type=click.Choice(sorted(KIND_TOPICS)), required=True)
@click.option("--name", default=None, help="What the admin page calls it.")
@click.option(
    "--url",
    default=None,
    help="Where its messages go: https://..., mllp://host:port, an SMS gateway's "
    "https://[login@]host/path[?from=NAME], smtp(s)://[user@]host:port[?from=ADDRESS].",
)
@click.option(
    "--transport",
    type=click.Choice(["http", "mllp", "sms", "smtp"]),
    default=None,
    help="How it is sent to (default: its url's, or its kind's: sms for an sms_gateway; "
    "http without one). A sending-only HL7 v2 system: --transport mllp and no --url "
    "(its MSH-4 is this id).",
)
@click.option(
    "--secret-env",
    default=None,
    help="The environment variable holding its credential (an SMS gateway's api_id or "
    "password, an SMTP password; not IMIAS_*): the value is never stored. Default: the "
    "partner's derived secret (imias partners secret).",
)
@click.option("--topic", "topics", multiple=True, help="What it is sent (default: its kind's).")
@click.option("--tls-cert", default=None, help="Mutual TLS: our client certificate (PEM file).")
@click.option("--tls-key", default=None, help="Mutual TLS: its private key (PEM file).")
@click.option("--tls-ca", default=None, help="The CA of the partner's server certificate.")
@click.option("--max-attempts", type=click.IntRange(1, 1000), default=25, show_default=True)
@click.option("--backoff-ms", type=click.IntRange(1, 3_600_000), default=1000, show_default=True)
@click.option("--backoff-cap-ms", type=click.IntRange(1), default=300_000, show_default=True)
@click.option("--timeout-ms", type=click.IntRange(10, 600_000), default=10_000, show_default=True)
@click.option("--concurrency", type=click.IntRange(1, 256), default=8, show_default=True)
def partners_add(
    partner_id: str, kind: str, name: str | None, url: str | None, **options: Any
) -> None:
    """Add a partner, or change one (the same id). Its secret: ``imias partners secret``."""
    defaults: dict[str, Transport] = {"sms_gateway": "sms", "smtp_relay": "smtp"}
    transport: Transport = defaults.get(kind, "http")
    if url and url.startswith(("mllp://", "mllps://")):
        transport = "mllp"
    elif url and url.startswith(("smtp://", "smtps://")):
        transport = "smtp"
    chosen = options.pop("transport")
    if (
        chosen is not None
        and url
        and chosen != transport
        and {chosen, transport} != {"http", "sms"}
    ):
        commands.fail(f"--transport {chosen} does not match --url {url}")
    transport = chosen or transport
    if url and transport in ("http", "sms") and not url.startswith(("http://", "https://")):
        commands.fail("--url is http(s)://..., mllp(s)://host:port or smtp(s)://host:port")
    secret_env = options.get("secret_env")
    if secret_env and (secret_env.upper().startswith("IMIAS_") or not secret_env.isidentifier()):
        commands.fail("--secret-env names a variable (letters, digits, _), not an IMIAS_* one")
    if options["backoff_cap_ms"] < options["backoff_ms"]:
        commands.fail("--backoff-cap-ms is at least --backoff-ms")
    topics = list(options.pop("topics")) or list(KIND_TOPICS[kind])
    try:
        partner = Partner(
            id=partner_id, kind=kind, name=name or partner_id, transport=transport, url=url,
            topics=topics, **options,
        )  # fmt: skip
    except TypeError as exc:
        commands.fail(str(exc))

    async def body(pool: asyncpg.Pool) -> None:
        try:
            await repo.save_partner(pool, partner)
        except asyncpg.CheckViolationError:
            commands.fail("a partner's id is 2-63 of a-z, 0-9, '.', '_', '-'")
        click.echo(
            f"partner {partner_id}: {kind}, {url or 'sends only'}, topics {', '.join(topics)}"
        )

    _run(body)


@partners.command("list")
def partners_list() -> None:
    """Every partner and its deliveries: delivered, pending, dead, failing since."""

    async def body(pool: asyncpg.Pool) -> None:
        states = await repo.states(pool)
        if not states:
            click.echo("no partners (imias partners add ...)")
            return
        click.echo(
            f"{'partner':<20} {'kind':<18} {'delivered':>9} {'pending':>7} {'dead':>5}  "
            f"{'failing since':<19}  url"
        )
        for s in states:
            p = s.partner
            state = "disabled" if not p.enabled else _when(p.failing_since)
            click.echo(
                f"{p.id:<20} {p.kind:<18} {s.delivered:>9} {s.pending:>7} {s.dead:>5}  "
                f"{state:<19}  {p.url or '(sends only)'}"
            )
            if p.failing_since and p.last_error:
                click.echo(f"{'':<20} last error: {p.last_error}")

    _run(body)


@partners.command("secret")
@click.argument("partner_id")
def partners_secret(partner_id: str) -> None:
    """The shared secret to give the partner (Standard Webhooks' whsec_... form)."""
    settings = commands.settings()
    secret = resolve_secret(settings.secret_key, settings.data_dir, announce=False)

    async def body(pool: asyncpg.Pool) -> None:
        partner = await repo.partner(pool, partner_id)
        if partner is None:
            commands.fail(f"no partner {partner_id!r}", 1)
        click.echo(partner_secret(secret, partner.id, partner.secret_version))

    _run(body)


@partners.command("rotate-secret")
@click.argument("partner_id")
def partners_rotate(partner_id: str) -> None:
    """Move the partner to a new secret (the old one stops working at once)."""

    async def body(pool: asyncpg.Pool) -> None:
        if await pool.execute(repo.ROTATE_SECRET, partner_id) == "UPDATE 0":
            commands.fail(f"no partner {partner_id!r}", 1)
        click.echo(f"partner {partner_id}: new secret (imias partners secret {partner_id})")

    _run(body)


@partners.command("disable")
@click.argument("partner_id")
def partners_disable(partner_id: str) -> None:
    """Stop sending to it and taking its messages (what is queued stays queued)."""
    _set_enabled(partner_id, False)


@partners.command("enable")
@click.argument("partner_id")
def partners_enable(partner_id: str) -> None:
    _set_enabled(partner_id, True)


def _set_enabled(partner_id: str, enabled: bool) -> None:
    async def body(pool: asyncpg.Pool) -> None:
        if await pool.execute(repo.SET_ENABLED, partner_id, enabled) == "UPDATE 0":
            commands.fail(f"no partner {partner_id!r}", 1)
        click.echo(f"partner {partner_id}: {'enabled' if enabled else 'disabled'}")

    _run(body)


# -- deliveries ------------------------------------------------------------------------------


@click.group("deliveries")
def deliveries() -> None:
    """Messages to the partners: list them, retry the dead ones, replay, reroute."""


@deliveries.command("list")
@click.option("--partner", default=None)
@click.option("--status", type=click.Choice(["pending", "delivered", "dead"]), default=None)
@click.option("--patient", type=click.IntRange(1), default=None)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
def deliveries_list(
    partner: str | None, status: str | None, patient: int | None, limit: int
) -> None:
    """The newest messages first, with their state, tries and last error; then how many
    are pending and dead per partner, and events the router could not route."""

    async def body(pool: asyncpg.Pool) -> None:
        found = await repo.listed(pool, partner, status, patient, limit)
        click.echo(
            f"{'id':>8}  {'partner':<18} {'kind':<20} {'patient':>8}  {'status':<9} "
            f"{'tries':>5}  {'made':<19}  last error"
        )
        for d in found:
            click.echo(
                f"{d.id:>8}  {d.partner_id:<18} {d.kind:<20} {d.patient_id or '-':>8}  "
                f"{d.status:<9} {d.attempts:>5}  {_when(d.created_at):<19}  {d.last_error or ''}"
            )
        for s in await repo.states(pool):
            if partner is None or s.partner.id == partner:
                click.echo(f"{s.partner.id}: {s.pending} pending, {s.dead} dead")
        failures = await pool.fetch(repo.ROUTING_FAILURES)
        if failures:
            click.echo(f"{len(failures)} events could not be routed (imias deliveries reroute)")

    _run(body)


@deliveries.command("retry")
@click.option("--partner", required=True)
@click.option(
    "--id", "ids", type=click.IntRange(1), multiple=True, help="Only these (default: all dead)."
)
def deliveries_retry(partner: str, ids: tuple[int, ...]) -> None:
    """Send dead messages again (they keep their idempotency ids)."""

    async def body(pool: asyncpg.Pool) -> None:
        found = await repo.retry(pool, partner, datetime.now(UTC), ids=list(ids) or None)
        click.echo(f"{len(found)} dead messages to {partner} are pending again")

    _run(body)


@deliveries.command("replay")
@click.option("--partner", required=True)
@click.option("--since", required=True, help="ISO time (2026-12-04T10:00Z) or an age: 30m, 6h, 2d.")
def deliveries_replay(partner: str, since: str) -> None:
    """Send again everything delivered to a partner since a time (the partner lost it):
    same idempotency ids, in the same order per patient; dead ones too."""
    try:
        start = _since(since)
    except ValueError as exc:
        commands.fail(str(exc))

    async def body(pool: asyncpg.Pool) -> None:
        now = datetime.now(UTC)
        found = await repo.retry(pool, partner, now, delivered_since=start)
        click.echo(f"{len(found)} messages to {partner} since {_when(start)} are pending again")

    _run(body)


@deliveries.command("reroute")
def deliveries_reroute() -> None:
    """Route again the events whose routing failed (after the fix is deployed)."""
    from integrations.routes import build_router

    settings = commands.settings()
    router = build_router(settings)

    async def body(pool: asyncpg.Pool) -> None:
        done = 0
        async with pool.acquire() as conn:
            for failure in await conn.fetch(repo.ROUTING_FAILURES):
                try:
                    await router.reroute(conn, failure)
                    done += 1
                except Exception as exc:  # still failing: kept as it was
                    click.echo(f"event {failure['outbox_id']} ({failure['topic']}): {exc}")
        click.echo(f"{done} events routed")

    _run(body)


def _since(text: str) -> datetime:
    units = {"m": 60, "h": 3600, "d": 86400}
    if text[-1:] in units and text[:-1].isdigit():
        return datetime.now(UTC) - timedelta(seconds=int(text[:-1]) * units[text[-1]])
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"--since {text!r}: an ISO time or an age like 30m, 6h, 2d") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


# -- simulators ------------------------------------------------------------------------------


@click.group("simulate")
def simulate() -> None:
    """Play an outside system: a small real server that takes what IMIAS sends, stores it
    and shows it (its page at /), and can be told to fail (POST /_control)."""


@simulate.command("hl7")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=2575, show_default=True)
@click.option("--control-port", type=click.IntRange(0, 65535), default=8575, show_default=True)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False),
    default=None,
    help="Keep what was received in this file (JSON lines), read back at start.",
)
def simulate_hl7(host: str, port: int, control_port: int, journal: str | None) -> None:
    """An HL7 v2 receiver over MLLP (the SIU and ADT feeds): ACKs each message, keeps it
    once by MSH-10; its page and control over HTTP on the control port."""
    from integrations.simulators.base import serve_forever
    from integrations.simulators.hl7feed import Hl7FeedReceiver

    receiver = Hl7FeedReceiver(host=host, port=port, control_port=control_port, journal=journal)
    click.echo(f"HL7 v2 receiver at mllp://{host}:{port}; page and control at "
               f"http://{host}:{control_port}/")  # fmt: skip
    try:
        asyncio.run(serve_forever(receiver))
    except KeyboardInterrupt:
        pass


def _school_commands() -> None:
    from integrations.schools.commands import bind_school, school_journals, unbind_school
    from integrations.schools.simulator import simulate_school

    simulate.add_command(simulate_school)
    partners.add_command(bind_school)
    partners.add_command(unbind_school)
    partners.add_command(school_journals)


_school_commands()
simulate.add_command(simulate_ambulance)
simulate.add_command(simulate_webhook)


def _notice_simulators() -> None:
    from integrations.simulators.sms import simulate_sms
    from integrations.simulators.smtp import simulate_smtp

    simulate.add_command(simulate_sms)
    simulate.add_command(simulate_smtp)


_notice_simulators()
