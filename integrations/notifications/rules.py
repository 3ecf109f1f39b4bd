"""The notification service's pure decisions (no I/O): which channel a notice takes, when
quiet hours end, and whether a preference as given is valid."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from imias.platform.problems import ProblemError
from integrations.notifications.model import (
    DEFAULT_QUIET_FROM,
    DEFAULT_QUIET_TO,
    PreferenceIn,
    QuietHours,
)

Route = Literal["sms", "email"]

#: Kinds that go whatever the patient chose (``none`` included): without them one cannot
#: sign in. They go by SMS, to the number they were asked for.
MUST_GO = frozenset({"sign_in_code"})

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
HOUR_MINUTE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


def channel_for(
    kind: str, preferred: str | None, email: str | None, phone: str | None
) -> tuple[Route, str] | None:
    """The channel and address of a notice, or None when it goes nowhere (the patient
    chose none, or has no phone for an SMS)."""
    if kind in MUST_GO:
        return ("sms", phone) if phone else None
    if preferred == "none":
        return None
    if preferred == "email" and email:
        return "email", email
    return ("sms", phone) if phone else None


def parse_hours(hours: QuietHours | None) -> tuple[time, time]:
    hours = hours or QuietHours(DEFAULT_QUIET_FROM, DEFAULT_QUIET_TO)
    return time.fromisoformat(hours.start), time.fromisoformat(hours.end)


def quiet_until(now: datetime, zone: ZoneInfo, start: time, end: time) -> datetime | None:
    """When the quiet hours around ``now`` end (UTC), in the zone's local time; None when
    ``now`` is outside them (or there are none: ``start == end``)."""
    if start == end:
        return None
    local = now.astimezone(zone)
    t = local.time().replace(tzinfo=None)
    inside = start <= t < end if start < end else (t >= start or t < end)
    if not inside:
        return None
    day = local.date() if t < end else local.date() + timedelta(days=1)
    # the local end, through the zone (a DST day is handled by zoneinfo's fold=0)
    ends = datetime.combine(day, end, tzinfo=zone)
    return ends.astimezone(now.tzinfo)


def check_preference(data: PreferenceIn) -> PreferenceIn:
    """The preference as given, checked (422 with a code), the e-mail address trimmed."""
    email = data.email.strip() if data.email is not None else None
    if email == "":
        email = None
    if email is not None and (len(email) > 254 or not EMAIL.match(email)):
        raise ProblemError(422, "invalid_email", "This is not an e-mail address.")
    if data.channel == "email" and email is None:
        raise ProblemError(422, "email_required", "Give an e-mail address to be told by e-mail.")
    if data.quiet_hours is not None:
        for value in (data.quiet_hours.start, data.quiet_hours.end):
            if not HOUR_MINUTE.match(value):
                raise ProblemError(
                    422,
                    "invalid_quiet_hours",
                    "Quiet hours are two local times as HH:MM, e.g. 22:00 and 08:00.",
                )
    return PreferenceIn(
        channel=data.channel, email=email, language=data.language, quiet_hours=data.quiet_hours
    )
