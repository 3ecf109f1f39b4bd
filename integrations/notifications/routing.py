"""From a notice (outbox topic ``notice``) to one SMS or e-mail: the router's handler.

For each :class:`~imias.platform.notices.Notice` it reads the patient's preference and
phone, chooses the channel (:func:`~integrations.notifications.rules.channel_for`),
renders the text in the patient's language with the doctor's, specialty's and clinic's
names read by their ids (in the relay's snapshot), and, for a notice that is not urgent
made in the patient's quiet hours (the clinic's local time), defers its first attempt
to their end. The message goes to every enabled partner of audience ``notice.sms`` or
``notice.email`` (an SMS gateway, an SMTP server), unordered among the patient's
messages: a deferred reminder never holds back a sign-in code.

A notice of a kind with no text raises: the router keeps it in ``routing_failures``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from imias.platform.db import Connection
from imias.platform.notices import Notice, decode
from imias.platform.settings import Settings
from integrations.model import Message
from integrations.notifications import repository as repo
from integrations.notifications import templates
from integrations.notifications.model import Language, Preference
from integrations.notifications.rules import channel_for, parse_hours, quiet_until
from integrations.routing import Event

log = logging.getLogger("imias.integrations.notifications")

SMS_AUDIENCE = "notice.sms"
EMAIL_AUDIENCE = "notice.email"

#: The portal's page a notice of each kind links to (after the public url).
PAGES = {
    "reminder": "/appointments",
    "waitlist_offer": "/appointments",
    "cancelled_by_clinic": "/book",
    "move_offered": "/appointments",
    "move_confirmed": "/appointments",
    "move_cancelled": "/book",
}
_encoder = msgspec.json.Encoder()


def public_url(settings: Settings) -> str:
    """Where patients reach the portal (``IMIAS_PUBLIC_URL``; default: where it serves)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return f"http://{settings.host}:{settings.port}"


class NoticeRouter:
    """The handler of topic ``notice`` (``clock``: UTC now, settable in tests)."""

    def __init__(self, settings: Settings, clock: Callable[[], datetime] | None = None) -> None:
        self.url = public_url(settings)
        self.zone = ZoneInfo(settings.time_zone)
        self.clock = clock or (lambda: datetime.now(UTC))
        self.dropped = 0  # notices nobody is to receive (channel none, no phone)

    async def __call__(self, conn: Connection, event: Event) -> list[Message]:
        notice = decode(event.payload)
        if not templates.known(notice.kind):
            raise ValueError(f"no text for notices of kind {notice.kind!r}")
        preference, phone = None, notice.phone
        if notice.patient_id is not None:
            found = await repo.contact(conn, notice.patient_id)
            if found is not None:
                preference, phone = found.preference, notice.phone or found.phone
        route = channel_for(
            notice.kind,
            preference.channel if preference else None,
            preference.email if preference else None,
            phone,
        )
        if route is None:
            self.dropped += 1
            log.debug("notice %s (%s): nobody to send it to", event.outbox_id, notice.kind)
            return []
        channel, address = route
        language = await self._language(conn, notice, preference)
        clinic_id = _int(notice.params.get("offer_clinic_id") or notice.params.get("clinic_id"))
        values, zone = await self._values(conn, notice, clinic_id or event.clinic_id, language)
        kind = notice.kind
        if kind == "sign_in_code" and notice.params.get("purpose") == "proxy":
            kind = "proxy_code"
        rendered = templates.render(kind, language, values)
        not_before = None
        if not notice.urgent:
            hours = parse_hours(preference.quiet_hours if preference else None)
            not_before = quiet_until(self.clock(), zone, *hours)
        if channel == "sms":
            body = _encoder.encode({"to": address, "text": rendered.text})
        else:
            body = _encoder.encode(
                {"to": address, "subject": rendered.subject, "text": rendered.text}
            )
        return [
            Message(
                audience=SMS_AUDIENCE if channel == "sms" else EMAIL_AUDIENCE,
                kind=notice.kind,
                content_type="application/json",
                body=body,
                patient_id=notice.patient_id,
                not_before=not_before,
                ordered=False,
            )
        ]

    async def _language(
        self, conn: Connection, notice: Notice, preference: Preference | None
    ) -> Language:
        if preference is not None:
            return preference.language
        if notice.phone:
            found = await repo.language_by_phone(conn, notice.phone)
            if found == "en":
                return "en"
        return "ru"

    async def _values(
        self, conn: Connection, notice: Notice, clinic_id: int, language: Language
    ) -> tuple[dict[str, str], ZoneInfo]:
        """The text's values, and the zone quiet hours are kept in (the clinic's)."""
        params: dict[str, Any] = notice.params
        values = {k: str(v) for k, v in params.items() if isinstance(v, str | int)}
        zone = self.zone
        clinic = await repo.clinic(conn, clinic_id) if clinic_id else None
        if clinic is not None:
            zone = _zone(clinic["time_zone"], self.zone)
            values |= {"clinic": clinic["name"], "address": clinic["address"]}
        doctor_id = _int(params.get("offer_doctor_id") or params.get("doctor_id"))
        doctor = await repo.doctor(conn, clinic_id, doctor_id) if clinic_id and doctor_id else None
        if doctor is not None:
            values["doctor"] = " ".join(
                part
                for part in (doctor["family_name"], doctor["given_name"], doctor["patronymic"])
                if part
            )
            values["specialty"] = doctor["name_en" if language == "en" else "name_ru"]
            if doctor["room"]:
                values["room"] = templates.ROOM[language].format(room=doctor["room"])
        if params.get("room") and notice.kind == "walk_in_called":
            values["room"] = templates.ROOM[language].format(room=params["room"])
        when = templates.WHEN[language]
        moved = notice.kind == "move_offered"
        for name, key in (
            ("when", "offer_starts_at" if moved else "starts_at"),
            ("old_when", "starts_at" if moved else ""),
            ("expires", "expires_at"),
            ("deadline", "deadline"),
        ):
            at = _instant(params.get(key))
            if at is not None:
                values[name] = at.astimezone(zone).strftime(when)
        page = PAGES.get(notice.kind)
        values["url"] = self.url + page if page else self.url
        return values, zone


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _instant(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        return None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _zone(name: str | None, default: ZoneInfo) -> ZoneInfo:
    try:
        return ZoneInfo(name) if name else default
    except (KeyError, ValueError):
        return default
