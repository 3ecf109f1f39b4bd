"""The notification service: every notice a domain writes (:mod:`imias.platform.notices`,
outbox topic ``notice``) becomes one SMS or e-mail, in the patient's language and by
the channel she chose, deferred past her quiet hours unless urgent, and delivered by
the integrations' workers (retries, backoff, dead letters) through an HTTP SMS gateway
or an SMTP server (:mod:`.gateways`). ``docs/notifications.md`` is the guide."""

from __future__ import annotations

from imias.platform.notices import NOTICE_TOPIC
from imias.platform.settings import Settings
from integrations.notifications.api import NotificationPreferenceController
from integrations.notifications.model import Preference, PreferenceIn, QuietHours
from integrations.notifications.routing import (
    EMAIL_AUDIENCE,
    SMS_AUDIENCE,
    NoticeRouter,
    public_url,
)
from integrations.notifications.service import NotificationPreferences
from integrations.routing import Router


def register(router: Router, settings: Settings) -> None:
    """The notices' handler on the router (:func:`integrations.routes.build_router`)."""
    router.route(NOTICE_TOPIC, NoticeRouter(settings))


__all__ = [
    "EMAIL_AUDIENCE",
    "SMS_AUDIENCE",
    "NotificationPreferenceController",
    "NotificationPreferences",
    "NoticeRouter",
    "Preference",
    "PreferenceIn",
    "QuietHours",
    "public_url",
    "register",
]
