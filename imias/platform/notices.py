"""Notices to people: what a domain wants a patient told (a sign-in code, a reminder, a
slot offered, an appointment cancelled or moved by the clinic), written to the outbox in
the transaction of the change that calls for it (topic :data:`NOTICE_TOPIC`).

A domain says *what* happened and to *whom*; the notification service
(:mod:`integrations.notifications`) decides how and when: the patient's preferred
channel (SMS or e-mail), the text in their language, quiet hours in the city's time,
retries and the delivery's state. So no domain knows a gateway, and a notice exists
exactly when its change committed.

``kind`` names the template (stable: a rename would strand queued notices); ``params``
are the template's values, plain JSON (ids, ISO instants, short strings). ``urgent``
notices ignore quiet hours (a code, an offer held for minutes). A notice names a
patient; ``phone`` is set only when there is none to name (a code to a number).
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from imias.platform.db import Connection
from imias.platform.outbox import write_event

#: The outbox topic of notices.
NOTICE_TOPIC: Final = "notice"


class Notice(msgspec.Struct, frozen=True, kw_only=True):
    kind: str
    patient_id: int | None = None
    phone: str | None = None
    params: dict[str, Any] = msgspec.field(default_factory=dict)
    urgent: bool = False


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(Notice)


def encode(notice: Notice) -> bytes:
    return _encoder.encode(notice)


def decode(payload: bytes) -> Notice:
    return _decoder.decode(payload)


async def write_notice(conn: Connection, notice: Notice, *, clinic_id: int = 0) -> int:
    """Queue ``notice`` in the caller's transaction (the outbox); its outbox id."""
    return await write_event(conn, topic=NOTICE_TOPIC, payload=encode(notice), clinic_id=clinic_id)
