"""Values of the notification service: a patient's preference as stored and as given,
and what a rendered notice is. No I/O."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

Channel = Literal["sms", "email", "none"]
Language = Literal["ru", "en"]

#: Quiet hours when a patient chose none of their own (the clinic's local time).
DEFAULT_QUIET_FROM = "22:00"
DEFAULT_QUIET_TO = "08:00"


class QuietHours(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """From ``start`` to ``end`` (local ``HH:MM``; across midnight when start > end; none
    when they are equal), non-urgent notices wait."""

    start: str
    end: str


class PreferenceIn(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """``PUT /api/v1/patients/{id}/notifications``: the whole preference."""

    channel: Channel = "sms"
    email: str | None = None
    language: Language = "ru"
    quiet_hours: QuietHours | None = None  # None: the default (22:00-08:00)


class Preference(msgspec.Struct, frozen=True, kw_only=True):
    """A patient's preference as stored (the defaults when none is); ``phone_masked`` is
    where SMS go, as much of it as a person needs to recognise it."""

    channel: Channel = "sms"
    email: str | None = None
    language: Language = "ru"
    quiet_hours: QuietHours | None = None
    default_quiet_hours: QuietHours = QuietHours(DEFAULT_QUIET_FROM, DEFAULT_QUIET_TO)
    phone_masked: str | None = None
    updated_at: datetime | None = None


class Rendered(msgspec.Struct, frozen=True):
    """A notice's text in the patient's language (``subject`` for an e-mail)."""

    subject: str
    text: str
