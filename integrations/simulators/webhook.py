"""``imias simulate webhook``: a generic receiver of IMIAS's signed HTTP messages (any
partner kind), to try a partner's configuration before the real system is connected,
and the other side in the delivery tests and ``imias bench deliveries``."""

from __future__ import annotations

import asyncio

import click


@click.command("webhook")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8570, show_default=True)
@click.option("--path", default="/messages", show_default=True, help="Where messages are posted.")
@click.option(
    "--secret",
    envvar="IMIAS_SIMULATE_SECRET",
    default=None,
    help="The partner's secret (imias partners secret ID; or IMIAS_SIMULATE_SECRET): each "
    "message's Standard Webhooks signature is verified with it (401 when wrong). Without "
    "it, signatures are not checked.",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False),
    default=None,
    help="Keep what was received in this file (JSON lines), read back at start: a "
    "restarted receiver remembers and dedups what it had.",
)
def simulate_webhook(
    host: str, port: int, path: str, secret: str | None, journal: str | None
) -> None:
    """A receiver of signed messages over HTTP: checks the signature, keeps each message
    once by its webhook-id, shows them at / (JSON at /_received), and fails, answers
    slowly or drops connections when told (POST /_control)."""
    from integrations.simulators.base import HttpReceiver, serve_forever

    receiver = HttpReceiver(host=host, port=port, path=path, secret=secret, journal=journal)
    receiver.title = "IMIAS webhook receiver"
    click.echo(
        f"webhook receiver at http://{host}:{port}{path}"
        f" ({'signatures checked' if secret else 'signatures NOT checked'});"
        f" page and control at http://{host}:{port}/"
    )
    try:
        asyncio.run(serve_forever(receiver))
    except KeyboardInterrupt:
        pass
