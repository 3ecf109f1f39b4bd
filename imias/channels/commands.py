"""The command the channels add to ``imias``: ``phone``, a call played in the terminal."""

from __future__ import annotations

import sys

import click


@click.command()
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
