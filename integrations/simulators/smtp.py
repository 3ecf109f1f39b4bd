"""``imias simulate smtp``: a local SMTP sink (``aiosmtpd``), the other side of the
``smtp`` transport: accepts every mail, keeps it once (by its Message-ID) and shows the
mails at ``/`` of its HTTP control port (newest first) and as JSON at ``/_received``.

It refuses, as a real server does, a recipient at ``invalid.example`` (550: no such
mailbox). The control knobs are the other simulators' (:mod:`.base`), said in SMTP:
``fail`` with an HTTP-like ``status`` of 500 or more answers ``451`` (try later), under
500 answers ``550`` (refused for good); ``drop`` closes the connection; ``delay_ms``
answers late.
"""

from __future__ import annotations

import asyncio
import html
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import click
from aiosmtpd.smtp import SMTP, Envelope, Session

from integrations.simulators.base import Control, HttpReceiver, Received, Store, _now, serve_forever


class MailPage(HttpReceiver):
    title = "IMIAS SMTP sink"

    async def _page(self, request: Any) -> Any:
        from aiohttp import web

        rows = "".join(
            f"<tr><td>{html.escape(m.received_at)}</td>"
            f"<td>{html.escape(str(m.extra.get('to', '')))}</td>"
            f"<td>{html.escape(str(m.extra.get('subject', '')))}</td>"
            f"<td>{html.escape(m.body)}</td></tr>"
            for m in reversed(self.store.snapshot()[-500:])
        )
        stats = ", ".join(f"{k} {v}" for k, v in self.store.stats.items())
        body = (
            "<!doctype html><html lang='ru'><head><meta charset='utf-8'>"
            "<meta http-equiv='refresh' content='5'>"
            f"<title>{self.title}</title></head><body><main><h1>{self.title}</h1>"
            f"<p>{stats}; mode {html.escape(self.control.mode)}</p>"
            "<table><caption>Письма, новые сверху</caption><thead><tr>"
            "<th scope='col'>получено</th><th scope='col'>кому</th><th scope='col'>тема</th>"
            "<th scope='col'>текст</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></main></body></html>"
        )
        return web.Response(text=body, content_type="text/html")


class SmtpSink:
    """An SMTP server that keeps what it gets; its page and control over HTTP."""

    def __init__(
        self, *, host: str = "127.0.0.1", port: int = 0, control_port: int = 0,
        journal: str | None = None,
    ) -> None:  # fmt: skip
        self.host, self.port = host, port
        self.control = Control()
        self.store = Store(journal)
        self.web = MailPage(host=host, port=control_port, path="/_unused")
        self.web.store, self.web.control = self.store, self.control
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: SMTP(self, hostname="imias-smtp-sink", enable_SMTPUTF8=True),
            self.host,
            self.port,
            reuse_address=True,
        )
        self.port = self._server.sockets[0].getsockname()[1]
        await self.web.start()

    async def stop(self) -> None:
        await self.web.stop()
        server, self._server = self._server, None
        if server is not None:
            server.close()
            await server.wait_closed()

    # -- aiosmtpd's handler hooks ---------------------------------------------------------
    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if address.lower().endswith("@invalid.example"):
            self.store.count("refused")
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        mode = self.control.next_mode()
        if self.control.delay_ms:
            await asyncio.sleep(self.control.delay_ms / 1000)
        if mode == "drop":
            self.store.count("dropped")
            if server.transport is not None:
                server.transport.close()
            return "421 4.3.0 closing"
        if mode == "fail":
            self.store.count("failed")
            if self.control.status >= 500:
                return "451 4.3.0 told to fail, try later"
            return "550 5.7.1 told to refuse"
        raw = envelope.original_content or envelope.content or b""
        data = raw.encode() if isinstance(raw, str) else bytes(raw)
        mail: EmailMessage = message_from_bytes(data, policy=policy.default)
        part = mail.get_body(("plain",))
        text = part.get_content() if part is not None else ""
        self.store.keep(
            Received(
                message_id=str(mail.get("Message-ID", "")) or _now(),
                kind=str(mail.get("X-IMIAS-Kind", "")),
                content_type="message/rfc822",
                body=str(text).strip(),
                received_at=_now(),
                order_key=", ".join(envelope.rcpt_tos),
                extra={
                    "to": ", ".join(envelope.rcpt_tos),
                    "from": str(mail.get("From", "")),
                    "subject": str(mail.get("Subject", "")),
                },
            )
        )
        return "250 OK queued"


@click.command("smtp")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", type=click.IntRange(0, 65535), default=2525, show_default=True)
@click.option("--control-port", type=click.IntRange(0, 65535), default=8565, show_default=True)
@click.option(
    "--journal",
    type=click.Path(dir_okay=False),
    default=None,
    help="Keep what was received in this file (JSON lines), read back at start.",
)
def simulate_smtp(host: str, port: int, control_port: int, journal: str | None) -> None:
    """A local SMTP sink: takes every mail at smtp://host:port, shows them at the control
    port's / (JSON at /_received), fails when told (POST /_control)."""
    sink = SmtpSink(host=host, port=port, control_port=control_port, journal=journal)
    click.echo(f"SMTP sink at smtp://{host}:{port}; page and control at "
               f"http://{host}:{control_port}/")  # fmt: skip
    try:
        asyncio.run(serve_forever(sink))
    except KeyboardInterrupt:
        pass
