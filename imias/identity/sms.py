"""Sending one-time codes (and short notices to patients) by SMS: a pluggable sender.

A deployment plugs in its SMS gateway as an :class:`SmsSender`. The default,
:class:`LogSmsSender`, sends nothing: with ``IMIAS_DEMO=1`` it writes the code to the
log so that a demo can be signed into (demo only: the one log line that carries a
code), and otherwise it logs that no gateway is configured. Phones are masked in both.
"""

from __future__ import annotations

import logging
from typing import Literal, Protocol

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
