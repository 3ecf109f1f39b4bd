"""Which events become which messages: every handler of the integrations, by the outbox
topic it takes. The plugin gives this router to the outbox relay; ``imias deliveries
reroute`` uses the same one. An adapter adds its handlers here."""

from __future__ import annotations

from imias.platform.settings import Settings
from integrations import feeds, notifications, schools
from integrations.routing import Router


def build_router(settings: Settings) -> Router:
    router = Router()
    schools.register(router, settings)
    feeds.register(router, settings)
    notifications.register(router, settings)
    return router
