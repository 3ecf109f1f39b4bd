"""How a message reaches a partner: an HTTP POST signed with the partner's secret
(:mod:`integrations.signing`; mutual TLS when the partner gives certificates), an
HL7 v2 message over MLLP (framing by ``hl7.mllp``, the ACK read by ``hl7apy``), a text
to an HTTP SMS gateway (:mod:`integrations.notifications.gateways`: SMS.ru's kind of
API) or an e-mail over SMTP (``aiosmtplib``).

A transport's answer is :class:`Sent`: delivered, or failed with whether the failure is
the partner's (it is down, slow, or overloaded: the partner as a whole backs off) or
the message's (it was refused: retrying the same bytes will not help, so it goes to
the dead letters at once).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import httpx
from hl7.mllp import open_hl7_connection

from integrations.model import Delivery, Partner
from integrations.signing import signed_headers

#: HTTP statuses that say the partner, not the message, is in trouble: try again later.
TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True, slots=True)
class Sent:
    ok: bool
    error: str | None = None
    partner_down: bool = False  # the partner failed (retry later), not the message
    rejected: bool = False  # the partner refused the message for good


class Transport(Protocol):
    async def send(self, delivery: Delivery) -> Sent: ...

    async def close(self) -> None: ...


def tls_context(partner: Partner) -> ssl.SSLContext | None:
    """Mutual TLS when the partner has a client certificate, or its own CA."""
    if partner.tls_cert is None and partner.tls_ca is None:
        return None
    context = ssl.create_default_context(cafile=partner.tls_ca)
    if partner.tls_cert is not None:
        context.load_cert_chain(partner.tls_cert, partner.tls_key)
    return context


class HttpTransport:
    def __init__(self, partner: Partner, secret: str) -> None:
        assert partner.url is not None
        self.partner, self.secret, self.url = partner, secret, partner.url
        context = tls_context(partner)
        self.client = httpx.AsyncClient(
            timeout=partner.timeout_ms / 1000,
            verify=context if context is not None else True,
            limits=httpx.Limits(max_connections=partner.concurrency),
        )

    async def send(self, delivery: Delivery) -> Sent:
        headers = signed_headers(self.secret, delivery.message_id, delivery.body)
        headers["content-type"] = delivery.content_type
        headers["x-imias-kind"] = delivery.kind
        headers["x-imias-sequence"] = str(delivery.id)
        if delivery.patient_id is not None:
            headers["x-imias-order-key"] = str(delivery.patient_id)
        try:
            response = await self.client.post(self.url, content=delivery.body, headers=headers)
        except httpx.TimeoutException:
            return Sent(False, "timed out", partner_down=True)
        except httpx.HTTPError as exc:
            return Sent(False, f"{type(exc).__name__}: {exc}"[:500] or "connection failed", True)
        if 200 <= response.status_code < 300:
            return Sent(True)
        error = f"HTTP {response.status_code}: {response.text[:300]}"
        if response.status_code in TRANSIENT or response.status_code >= 500:
            return Sent(False, error, partner_down=True)
        return Sent(False, error, rejected=True)

    async def close(self) -> None:
        await self.client.aclose()


class MllpTransport:
    """One connection, one message at a time (MLLP has no request ids: an ACK answers
    the message before it), kept open between messages."""

    def __init__(self, partner: Partner) -> None:
        assert partner.url is not None
        where = urlsplit(partner.url)
        if where.scheme not in ("mllp", "mllps") or where.hostname is None or where.port is None:
            raise ValueError(f"an MLLP partner's url is mllp://host:port, not {partner.url!r}")
        self.host, self.port = where.hostname, where.port
        self.context = tls_context(partner) if where.scheme == "mllps" else None
        if where.scheme == "mllps" and self.context is None:
            self.context = ssl.create_default_context()
        self.timeout = partner.timeout_ms / 1000
        self.lock = asyncio.Lock()
        self.streams: tuple[Any, Any] | None = None  # hl7.mllp's reader and writer

    async def send(self, delivery: Delivery) -> Sent:
        from integrations.hl7 import ack_code  # hl7apy: loaded with the first message

        async with self.lock:
            try:
                if self.streams is None:
                    opened: Any = await asyncio.wait_for(
                        open_hl7_connection(self.host, self.port, ssl=self.context), self.timeout
                    )
                    self.streams = opened
                reader, writer = self.streams or opened
                writer.writeblock(delivery.body)
                await writer.drain()
                answer = await asyncio.wait_for(reader.readblock(), self.timeout)
            except (TimeoutError, OSError, EOFError, asyncio.IncompleteReadError) as exc:
                await self.close()
                return Sent(False, f"{type(exc).__name__}: {exc}"[:500], partner_down=True)
        try:
            code, text = ack_code(answer)
        except ValueError as exc:
            await self.close()
            return Sent(False, f"not an ACK: {exc}"[:500], partner_down=True)
        if code in ("AA", "CA"):
            return Sent(True)
        if code in ("AR", "CR"):
            return Sent(False, f"{code}: {text}"[:500], rejected=True)
        return Sent(False, f"{code}: {text}"[:500], partner_down=True)  # AE/CE: try again

    async def close(self) -> None:
        streams, self.streams = self.streams, None
        if streams is not None:
            streams[1].close()
            with contextlib.suppress(Exception):
                await streams[1].wait_closed()


def transport_for(partner: Partner, secret: str) -> Transport:
    if partner.transport == "mllp":
        return MllpTransport(partner)
    if partner.transport in ("sms", "smtp"):
        from integrations.notifications import gateways

        if partner.transport == "sms":
            return gateways.SmsGateway(partner, gateways.credential(partner, secret))
        return gateways.SmtpTransport(partner, gateways.credential(partner, secret))
    return HttpTransport(partner, secret)
