"""``imias simulate sms``: an HTTP SMS gateway of SMS.ru's kind, the other side of the
``sms`` transport (:mod:`integrations.notifications.gateways`): takes ``POST
/sms/send`` (a form: ``api_id`` or ``login`` + ``password``, ``to``, ``msg``,
``json=1``), answers JSON with a status and a status per number, keeps every text it
accepted and shows them at ``/`` (newest first, numbers masked) and as JSON at
``/_received`` (numbers in full, for tests).

What it refuses, as a gateway does: a wrong api_id or password (status code 301: the
partner's configuration; only checked when it was given the partner's secret), a number
that is not 11-15 digits or ends in ``0000`` (202: not a mobile number, the message's
fault), an empty text (203). The control knobs are the other simulators'
(:mod:`integrations.simulators.base`); ``{"mode": "fail", "status": 503}`` answers HTTP
503, a status under 400 answers HTTP 200 with that gateway error code for the whole
request (``201``: out of balance, ``220``: the service is busy).
"""

from __future__ import annotations

import asyncio
import html
import re
import uuid
from typing import Any

import click
from aiohttp import web

from integrations.simulators.base import HttpReceiver, Received, _now, serve_forever

NUMBER = re.compile(r"^[0-9]{11,15}$")


class SmsGatewaySimulator(HttpReceiver):
    title = "IMIAS SMS gateway simulator"
    balance = 1000.0

    def __init__(self, **options: Any) -> None:
        options.setdefault("path", "/sms/send")
        super().__init__(**options)

    async def _receive(self, request: web.Request) -> web.StreamResponse:
        mode = self.control.next_mode()
        if self.control.delay_ms:
            await asyncio.sleep(self.control.delay_ms / 1000)
        if mode == "drop":
            self.store.count("dropped")
            if request.transport is not None:
                request.transport.abort()
            raise web.HTTPServiceUnavailable()
        if mode == "fail":
            self.store.count("failed")
            if self.control.status >= 400:
                return web.Response(status=self.control.status, text="told to fail")
            return _error(self.control.status, "told to fail")
        form = await request.post()
        given = form.get("api_id") or form.get("password")
        if self.secret is not None and given != self.secret:
            self.store.count("refused")
            return _error(301, "wrong api_id or password")
        to, text = str(form.get("to", "")), str(form.get("msg", ""))
        answers: dict[str, Any] = {}
        for number in [n.strip() for n in to.split(",") if n.strip()]:
            if not NUMBER.match(number) or number.endswith("0000"):
                self.store.count("refused")
                answers[number] = {"status": "ERROR", "status_code": 202,
                                   "status_text": "not a mobile number"}  # fmt: skip
                continue
            if not text.strip():
                self.store.count("refused")
                answers[number] = {"status": "ERROR", "status_code": 203, "status_text": "no text"}
                continue
            sms_id = uuid.uuid4().hex[:16]
            self.store.keep(
                Received(
                    message_id=sms_id, kind="sms", content_type="text/plain", body=text,
                    received_at=_now(), order_key="+" + number,
                    extra={"to": "+" + number, "from": str(form.get("from", ""))},
                )
            )  # fmt: skip
            answers[number] = {"status": "OK", "status_code": 100, "sms_id": sms_id}
        if not answers:
            return _error(202, "no recipients")
        return web.json_response(
            {"status": "OK", "status_code": 100, "sms": answers, "balance": self.balance}
        )

    async def _page(self, request: web.Request) -> web.Response:
        rows = "".join(
            f"<tr><td>{html.escape(m.received_at)}</td>"
            f"<td>{html.escape(mask_phone(m.order_key))}</td>"
            f"<td>{html.escape(m.body)}</td></tr>"
            for m in reversed(self.store.snapshot()[-500:])
        )
        stats = ", ".join(f"{k} {v}" for k, v in self.store.stats.items())
        body = (
            "<!doctype html><html lang='ru'><head><meta charset='utf-8'>"
            "<meta http-equiv='refresh' content='5'>"
            f"<title>{self.title}</title></head><body><main><h1>{self.title}</h1>"
            f"<p>{stats}; mode {html.escape(self.control.mode)}</p>"
            "<table><caption>SMS, новые сверху</caption><thead><tr><th scope='col'>получено"
            "</th><th scope='col'>номер</th><th scope='col'>текст</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></main></body></html>"
        )
        return web.Response(text=body, content_type="text/html")


def mask_phone(phone: str | None) -> str:
    """``+79161234567`` -> ``+7*******67`` (the page; the JSON view has numbers in full)."""
    if not phone or len(phone) < 6:
        return "***"
    return phone[:2] + "*" * (len(phone) - 4) + phone[-2:]


def _error(code: int, text: str) -> web.Response:
    return web.json_response({"status": "ERROR", "status_code": code, "status_text": text})


@click.command("sms")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=8560, show_default=True)
@click.option(
    "--secret",
    envvar="IMIAS_SIMULATE_SECRET",
    default=None,
    help="The api_id (or password) it accepts: the partner's secret (imias partners secret "
    "ID; or IMIAS_SIMULATE_SECRET). Without it, any.",
)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False),
    default=None,
    help="Keep what was received in this file (JSON lines), read back at start.",
)
def simulate_sms(host: str, port: int, secret: str | None, journal: str | None) -> None:
    """An HTTP SMS gateway (SMS.ru's API): takes texts at /sms/send, shows them at /
    (JSON at /_received), fails when told (POST /_control)."""
    gateway = SmsGatewaySimulator(host=host, port=port, secret=secret, journal=journal)
    click.echo(f"SMS gateway at {gateway.url}; page and control at http://{host}:{port}/")
    try:
        asyncio.run(serve_forever(gateway))
    except KeyboardInterrupt:
        pass
