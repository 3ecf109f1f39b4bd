"""ASGI entry point for servers: ``granian --factory imias.asgi:app``.

Settings are read when the server calls the factory, never at import.
"""

from __future__ import annotations

from litestar import Litestar

from imias.app import create_app
from imias.platform.logs import configure_logging
from imias.platform.settings import load_settings


def app() -> Litestar:
    settings = load_settings()
    configure_logging(settings.log_level, settings.log_format)
    return create_app(settings)
