"""``imias simulate ambulance``: the dispatch simulator as a command (registered on
:data:`integrations.commands.simulate`)."""

from __future__ import annotations

import asyncio

import click


@click.command("ambulance")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8590, show_default=True)
@click.option(
    "--imias-url",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Where IMIAS serves (calls are posted there).",
)
@click.option(
    "--partner",
    "partner_id",
    default="dispatch",
    show_default=True,
    help="The partner id IMIAS knows this system by (imias partners add).",
)
@click.option(
    "--secret",
    envvar="IMIAS_SIMULATE_SECRET",
    default=None,
    help="The partner's secret (imias partners secret ID): signs the calls and "
    "checks IMIAS's notices.",
)
@click.option("--mllp", default=None, help="host:port of IMIAS's MLLP listener (via=mllp).")
@click.option(
    "--mllp-partner",
    default=None,
    help="The partner id of the MLLP sender (MSH-4; default: --partner).",
)
def simulate_ambulance(
    host: str, port: int, imias_url: str, partner_id: str, secret: str | None,
    mllp: str | None, mllp_partner: str | None,
) -> None:  # fmt: skip
    """The ambulance dispatch system: receives the active-visit notices at /messages
    (its page at /), and sends finished calls to IMIAS (the form at /call, or POST
    /_send-call with JSON: policy, outcome, via fhir|mllp, ...)."""
    from integrations.ambulance.simulator import DispatchSimulator
    from integrations.simulators.base import serve_forever

    simulator = DispatchSimulator(
        host=host, port=port, imias_url=imias_url, partner_id=partner_id, secret=secret,
        mllp=mllp, mllp_partner_id=mllp_partner,
    )  # fmt: skip
    click.echo(
        f"ambulance dispatch simulator: notices at http://{host}:{port}/messages, page at "
        f"http://{host}:{port}/, calls sent to {imias_url} as partner {partner_id}"
    )
    try:
        asyncio.run(serve_forever(simulator))
    except KeyboardInterrupt:
        pass
