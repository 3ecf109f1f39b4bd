"""The application factory: ``create_app(settings)`` assembles the Litestar app from
the plugins of :mod:`imias.domains`, in their order.

Each plugin brings its domain's routes, dependencies, health checks and the work it
runs beside requests; servers are connected in the plugins' lifespans, never here.
"""

from __future__ import annotations

from litestar import Litestar, Router
from litestar.datastructures import State
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from imias import __version__
from imias.domains import PLUGINS
from imias.identity import BEARER, IdentityPlugin, SmsSender
from imias.platform.openapi import ProblemResponses, StrictStructSchemaPlugin
from imias.platform.plugin import DomainPlugin
from imias.platform.policy import PUBLIC
from imias.platform.requests import request_id_middleware
from imias.platform.settings import Settings


def create_app(settings: Settings, *, sms: SmsSender | None = None) -> Litestar:
    """Build the app. ``sms`` sends one-time codes (default: the log sender, see
    imias.identity.sms)."""
    plugins: list[DomainPlugin] = [
        IdentityPlugin(settings, sms=sms) if plugin is IdentityPlugin else plugin(settings)
        for plugin in PLUGINS
    ]
    app = Litestar(
        # The document says what Litestar cannot infer: problem responses, strict bodies.
        plugins=[*plugins, ProblemResponses(), StrictStructSchemaPlugin()],
        state=State({"settings": settings, "health_checks": {}}),
        openapi_config=OpenAPIConfig(
            title="IMIAS",
            version=__version__,
            description="Integrated medical information system for a city's outpatient "
            "care: the directory of clinics and doctors, search, booking, the waitlist, "
            "sign-in and the audit log.",
            components=Components(
                security_schemes={
                    BEARER: SecurityScheme(
                        type="http",
                        scheme="bearer",
                        bearer_format="JWT",
                        description="A token from /api/v1/auth/... (or `imias token`)",
                    )
                }
            ),
            # The OpenAPI document and its viewers are public, like /health.
            openapi_router=Router(
                "/schema", route_handlers=[], include_in_schema=False, opt=PUBLIC
            ),
        ),
        logging_config=None,
    )
    # Outermost, so that unmatched routes (404, 405) also get an id and a log line.
    # The metrics (insights.metrics) count every request, by its route's template.
    app.asgi_handler = request_id_middleware(
        app.asgi_handler, observe=app.state.metrics.observe_request
    )
    return app
