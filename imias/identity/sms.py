"""Sending one-time codes (and short notices to patients) by SMS: a pluggable sender.

The default, :class:`NoticeSmsSender`, writes each code as a ``sign_in_code`` notice
(:mod:`imias.platform.notices`) in a transaction of its own; the notification service
(``integrations.notifications``) sends it through the SMS gateway registered as a
partner (docs/notifications.md), with retries and a delivery state, and redacts it
once sent. With ``IMIAS_DEMO=1`` the default is :class:`LogSmsSender` instead, which
sends nothing and writes the code to the log so that a demo can be signed into without
a gateway (demo only: the one log line that carries a code). Tests inject their own
:class:`SmsSender`. Phones are masked in logs.
"""

from __future__ import annotations

import logging
from typing import Any, Literal, Protocol

from imias.platform.notices import Notice, write_notice

log = logging.getLogger("imias.identity.sms")

Purpose = Literal["sign_in", "proxy"]


def mask_phone(phone: str | None) -> str:
    """``+79161234567`` -> ``+7*******67``: enough for a person to recognise their own."""
    if not phone or len(phone) < 6:
        return "***"
    return phone[:2] + "*" * (len(phone) - 4) + phone[-2:]


class SmsSender(Protocol):
    async def send_code(self, phone: str, code: str, purpose: Purpose) -> None: ...

    async def send_text(self, phone: str, text: str) -> None:
        """A notice to a patient (an appointment booked for them), not a code."""
        ...


class LogSmsSender:
    """No SMS gateway: the code goes to the log in a demo, nowhere otherwise."""

    def __init__(self, demo: bool) -> None:
        self.demo = demo

    async def send_code(self, phone: str, code: str, purpose: Purpose) -> None:
        if self.demo:
            log.info(
                "demo SMS to %s: IMIAS code %s (IMIAS_DEMO=1; never in production)",
                mask_phone(phone),
                code,
                extra={"purpose": purpose},
            )
        else:
            log.warning(
                "no SMS gateway is configured: a %s code for %s was not sent",
                purpose,
                mask_phone(phone),
            )

    async def send_text(self, phone: str, text: str) -> None:
        if self.demo:
            log.info("demo SMS to %s: %s (IMIAS_DEMO=1)", mask_phone(phone), text)
        else:
            log.warning("no SMS gateway is configured: a notice to %s was not sent",
                        mask_phone(phone))  # fmt: skip


class NoticeSmsSender:
    """Codes (and texts) as notices in the outbox: the notification service sends them.

    A code is written in its own transaction, beside the request that asked for it (the
    sign-in sends it in a task of its own, so the answer does not wait)."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool

    async def send_code(self, phone: str, code: str, purpose: Purpose) -> None:
        await self._write(
            Notice(
                kind="sign_in_code",
                phone=phone,
                params={"code": code, "purpose": purpose},
                urgent=True,
            )
        )

    async def send_text(self, phone: str, text: str) -> None:
        await self._write(Notice(kind="text", phone=phone, params={"text": text}, urgent=True))

    async def _write(self, notice: Notice) -> None:
        async with self.pool.acquire() as conn, conn.transaction():
            await write_notice(conn, notice)
