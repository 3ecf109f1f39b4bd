"""The two transports of notices (``partners.transport``): ``sms``, an HTTP SMS gateway of
the kind Russian providers offer, and ``smtp``, e-mail through an SMTP server.

A notice's delivery body is JSON: ``{"to": "+79161234567", "text": "..."}`` for an SMS,
``{"to": "a@example.org", "subject": "...", "text": "..."}`` for an e-mail
(:mod:`integrations.notifications.routing` makes them).

**SMS gateway** (SMS.ru's API; SMSC and most others differ only in field names): a form
POST to the partner's url with ``api_id`` (or ``login`` and ``password`` when the url
names a user: ``https://login@gateway/sms/send``), ``to`` (digits), ``msg``, ``json=1``
and every parameter of the url's query as it is (``?from=CLINIC&test=1``). The answer is
JSON: ``{"status": "OK"|"ERROR", "status_code": N, "sms": {"<number>": {"status": ...,
"status_code": N, "status_text": ...}}}``. Accepted (status OK for the number) is
delivered, as far as IMIAS can know; a bad number, a number in the stop list, an empty
or too long text is the message's fault (dead at once); anything else (no balance, the
account's limits, a wrong api_id, overload, HTTP 5xx, a time-out, an answer that is not
JSON) is the partner's: it backs off and the message waits.

**SMTP**: ``smtp://host:port`` (STARTTLS when the server offers it; ``?starttls=require``
insists, ``?starttls=no`` never tries) or ``smtps://host:port`` (TLS from the start);
``smtp://user@host:587`` logs in as ``user``. ``?from=`` is the From address (default
``IMIAS <noreply@localhost>``). A 5xx answer is permanent (dead at once); a 4xx, a
refused connection or a time-out is the partner's.

The credential (api_id, SMTP password) is read from the environment variable named in
``partners.secret_env`` (``imias partners add --secret-env SMSRU_API_ID``); without one,
the partner's derived secret (:func:`integrations.signing.partner_secret`) is used,
which is what the simulators check.
"""

from __future__ import annotations

import os
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import aiosmtplib
import httpx
import msgspec

from integrations.model import Delivery, Partner
from integrations.transports import Sent, tls_context

#: SMS.ru's status codes that are the message's fault: retrying will not help.
REJECTED_CODES = frozenset({202, 203, 205, 207, 209, 212, 230, 232})
#: Accepted by the gateway (queued, sent to the operator, being sent).
ACCEPTED_CODES = frozenset({100, 101, 102, 103})


class SmsBody(msgspec.Struct, frozen=True):
    to: str
    text: str


class MailBody(msgspec.Struct, frozen=True):
    to: str
    subject: str
    text: str


def credential(partner: Partner, secret: str) -> str | None:
    """The partner's credential: its environment variable's value (None when unset: every
    send then fails as the partner's, with the variable named), else the derived secret."""
    if partner.secret_env:
        return os.environ.get(partner.secret_env) or None
    return secret


def _missing(partner: Partner) -> Sent:
    return Sent(False, f"the environment variable {partner.secret_env} is not set", True)


class SmsGateway:
    """An HTTP SMS gateway (SMS.ru's API)."""

    def __init__(self, partner: Partner, credential: str | None) -> None:
        assert partner.url is not None
        where = urlsplit(partner.url)
        self.partner, self.credential = partner, credential
        self.login = unquote(where.username) if where.username else None
        self.extra = dict(parse_qsl(where.query))
        netloc = where.hostname or ""
        if where.port:
            netloc += f":{where.port}"
        self.url = urlunsplit((where.scheme, netloc, where.path, "", ""))
        context = tls_context(partner)
        self.client = httpx.AsyncClient(
            timeout=partner.timeout_ms / 1000,
            verify=context if context is not None else True,
            limits=httpx.Limits(max_connections=partner.concurrency),
        )

    def form(self, sms: SmsBody) -> dict[str, str]:
        """The POST's fields (a subclass for another provider changes this and
        :meth:`verdict`)."""
        assert self.credential is not None
        fields = {**self.extra, "to": sms.to.lstrip("+"), "msg": sms.text, "json": "1"}
        if self.login is not None:
            fields |= {"login": self.login, "password": self.credential}
        else:
            fields["api_id"] = self.credential
        return fields

    def verdict(self, number: str, answer: Any) -> Sent:
        """The gateway's JSON answer for one number, as a delivery's outcome."""
        if not isinstance(answer, dict):
            return Sent(False, "the gateway's answer is not a JSON object", partner_down=True)
        if answer.get("status") != "OK":
            return _by_code(answer)
        per_number = (answer.get("sms") or {}).get(number)
        if not isinstance(per_number, dict):
            return Sent(False, f"the gateway's answer has no status for {number}", True)
        if per_number.get("status") == "OK" and _code(per_number) in ACCEPTED_CODES:
            return Sent(True)
        return _by_code(per_number)

    async def send(self, delivery: Delivery) -> Sent:
        try:
            sms = msgspec.json.decode(delivery.body, type=SmsBody)
        except msgspec.DecodeError as exc:  # e.g. a redacted code sent again
            return Sent(False, f"not an SMS: {exc}"[:300], rejected=True)
        if self.credential is None:
            return _missing(self.partner)
        try:
            response = await self.client.post(self.url, data=self.form(sms))
        except httpx.TimeoutException:
            return Sent(False, "timed out", partner_down=True)
        except httpx.HTTPError as exc:
            return Sent(False, f"{type(exc).__name__}: {exc}"[:500] or "connection failed", True)
        if response.status_code >= 400:
            return Sent(False, f"HTTP {response.status_code}: {response.text[:300]}", True)
        try:
            answer = response.json()
        except ValueError:
            return Sent(False, f"not JSON: {response.text[:300]}", partner_down=True)
        return self.verdict(sms.to.lstrip("+"), answer)

    async def close(self) -> None:
        await self.client.aclose()


def _code(answer: dict[str, Any]) -> int:
    try:
        return int(answer.get("status_code", 0))
    except (TypeError, ValueError):
        return 0


def _by_code(answer: dict[str, Any]) -> Sent:
    code = _code(answer)
    error = f"gateway {code}: {answer.get('status_text') or answer.get('status') or ''}"[:300]
    if code in REJECTED_CODES:
        return Sent(False, error, rejected=True)
    return Sent(False, error, partner_down=True)


class SmtpTransport:
    """E-mail through an SMTP server, a connection per message (``aiosmtplib``)."""

    def __init__(self, partner: Partner, credential: str | None) -> None:
        assert partner.url is not None
        where = urlsplit(partner.url)
        if where.scheme not in ("smtp", "smtps") or where.hostname is None:
            raise ValueError(f"an SMTP partner's url is smtp(s)://host:port, not {partner.url!r}")
        query = dict(parse_qsl(where.query))
        self.partner, self.credential = partner, credential
        self.host = where.hostname
        self.port = where.port or (465 if where.scheme == "smtps" else 25)
        self.user = unquote(where.username) if where.username else None
        self.sender = query.get("from", "IMIAS <noreply@localhost>")
        self.tls = where.scheme == "smtps"
        starttls = query.get("starttls", "auto")
        self.start_tls: bool | None = {"require": True, "no": False}.get(starttls)
        self.context = tls_context(partner)

    def message(self, delivery: Delivery, mail: MailBody) -> EmailMessage:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = mail.to
        message["Subject"] = mail.subject
        message["Date"] = formatdate(localtime=False)
        message["Message-ID"] = make_msgid(idstring=delivery.message_id, domain="imias")
        message["X-IMIAS-Kind"] = delivery.kind
        message.set_content(mail.text)
        return message

    async def send(self, delivery: Delivery) -> Sent:
        try:
            mail = msgspec.json.decode(delivery.body, type=MailBody)
        except msgspec.DecodeError as exc:
            return Sent(False, f"not an e-mail: {exc}"[:300], rejected=True)
        password = None
        if self.user is not None:
            if self.credential is None:
                return _missing(self.partner)
            password = self.credential
        try:
            await aiosmtplib.send(
                self.message(delivery, mail),
                hostname=self.host,
                port=self.port,
                username=self.user,
                password=password,
                use_tls=self.tls,
                start_tls=self.start_tls,
                tls_context=self.context,
                timeout=self.partner.timeout_ms / 1000,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [e.code for e in exc.recipients]
            error = "; ".join(f"{e.code} {e.message}" for e in exc.recipients)[:500]
            return Sent(False, error, partner_down=any(c < 500 for c in codes),
                        rejected=all(c >= 500 for c in codes))  # fmt: skip
        except aiosmtplib.SMTPAuthenticationError as exc:  # the partner's configuration
            return Sent(False, f"{exc.code} {exc.message}"[:500], partner_down=True)
        except aiosmtplib.SMTPResponseException as exc:
            error = f"{exc.code} {exc.message}"[:500]
            if exc.code >= 500:
                return Sent(False, error, rejected=True)
            return Sent(False, error, partner_down=True)
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            return Sent(False, f"{type(exc).__name__}: {exc}"[:500], partner_down=True)
        return Sent(True)

    async def close(self) -> None:
        return None
