"""Every route of the app declares who may call it; the public ones are exactly the ones
that hold no personal data."""

import pytest
from litestar import Controller, WebSocket, get, websocket

from imias.app import create_app
from imias.identity import (
    PUBLIC,
    allow,
    route_policies,
    unchecked_routes,
    undeclared_routes,
)
from imias.platform.settings import load_settings

# Routes anyone may call: health, the API document, the catalogue and search, sign-in.
PUBLIC_ROUTES = {
    "GET /health",
    "GET /api/v1/specialties",
    "GET /api/v1/clinics",
    "GET /api/v1/clinics/{clinic_id:int}/doctors",
    "GET /api/v1/slots",
    # FHIR scheduling's Schedule and Slot: the same public time as /api/v1/slots.
    "GET /fhir/R4/Schedule",
    "GET /fhir/R4/Schedule/{key:str}",
    "GET /fhir/R4/Slot",
    "GET /fhir/R4/Slot/{key:str}",
    # The record's catalogues: ICD-10 type-ahead and the protocol templates (no patient).
    "GET /api/v1/diagnoses",
    "GET /api/v1/protocol-templates/{specialty:str}",
    # The drug catalogue's type-ahead (no patient).
    "GET /api/v1/drugs",
    "GET /.well-known/imias/trust-list",
    "GET /.well-known/imias/revocations",
    "GET /.well-known/imias/anchor",
    "POST /api/v1/auth/patient/code",
    "POST /api/v1/auth/patient/token",
    "POST /api/v1/auth/staff/token",
    "POST /api/v1/auth/staff/password",  # a temporary password changed (it checks it itself)
    # The IVR webhook: the gateway has no token; the call identifies its patient with the
    # policy number, birth date and SMS code, like the sign-in routes above.
    "POST /phone",
    # The workers' metrics: no token of a role; the route checks IMIAS_METRICS_TOKEN (or
    # loopback) itself, and holds no personal data (insights.metrics).
    "GET /metrics",
    # A partner's messages in: no token, the Standard Webhooks signature with the
    # partner's secret authenticates them (integrations.inbound), checked first.
    "POST /api/v1/integrations/ambulance/{partner_id:str}/calls",
    # The kiosk's start screen and its sign-in and sign-out (no personal data shown).
    "GET /kiosk",
    "POST /kiosk/code",
    "POST /kiosk/token",
    "POST /kiosk/sign-out",
    # The staff pages' sign-in forms and sign-out (no personal data shown).
    "GET /registrar",
    "POST /registrar/sign-in",
    "POST /registrar/sign-out",
    "GET /doctor",
    "POST /doctor/sign-in",
    "POST /doctor/sign-out",
    "GET /pharmacy",
    "POST /pharmacy/sign-in",
    "POST /pharmacy/sign-out",
    "GET /school",
    "POST /school/sign-in",
    "POST /school/sign-out",
    "GET /admin/sign-in",
    "POST /admin/sign-in",
    "POST /admin/sign-out",
    "GET /verify/sign-in",
    "POST /verify/sign-in",
    "POST /verify/sign-out",
    # The pages' language switch (a cookie, no personal data).
    "GET /lang/{lang:str}",
    # The portal's sign-in page, its sign-in steps and sign-out (no personal data shown).
    "GET /",
    "POST /sign-in/code",
    "POST /sign-in/token",
    "POST /sign-out",
    # The portal as an installable app: its manifest, service worker and icons.
    "GET /manifest.webmanifest",
    "GET /sw.js",
    "GET /icons/{name:str}",
    # The officer's page's service worker, its script and the QR decoder it loads.
    "GET /verify/sw.js",
    "GET /verify/verify.js",
    "GET /verify/jsqr.js",
    # FHIR's CapabilityStatement: what the server does, no data.
    "GET /fhir/R4/metadata",
}


@pytest.fixture(scope="module")
def app():
    return create_app(load_settings({}))  # nothing connects before the lifespan runs


def test_every_route_declares_a_policy(app):
    routes = route_policies(app)
    assert len(routes) > 30
    assert undeclared_routes(app) == []


def test_the_public_routes_are_the_ones_without_personal_data(app):
    public = {
        f"{method} {path}"
        for method, path, policy in route_policies(app)
        if policy is not None and policy.public and not path.startswith("/schema")
    }
    assert public == PUBLIC_ROUTES


def test_every_non_public_route_says_whose_data_it_reaches(app):
    for method, path, policy in route_policies(app):
        if policy is not None and not policy.public:
            assert policy.roles, (method, path)
            assert policy.data, f"{method} {path} does not say whose data it reaches"


def test_a_route_added_without_a_policy_is_found():
    @get("/api/v1/forgotten", operation_id="forgotten")
    async def forgotten() -> None:
        return None

    app = create_app(load_settings({}))
    app.register(forgotten)
    assert undeclared_routes(app) == ["GET /api/v1/forgotten"]


def test_the_check_runs_before_every_route(app):
    assert unchecked_routes(app) == []


def test_a_route_kept_from_the_check_is_found():
    async def own_hook(request) -> None:
        return None

    class Bypassing(Controller):
        path = "/api/v1/bypassing"
        before_request = own_hook  # would replace the app's hook for its routes

        @get(opt=PUBLIC, operation_id="bypassing")
        async def bypassing(self) -> None:
            return None

    @websocket("/api/v1/socket", opt=PUBLIC)
    async def socket(socket: WebSocket) -> None:
        await socket.close()

    app = create_app(load_settings({}))
    app.register(Bypassing)
    app.register(socket)
    assert unchecked_routes(app) == [
        "GET /api/v1/bypassing",
        "OPTIONS /api/v1/bypassing",  # the handler Litestar adds answers under the same hook
        "WebsocketRouteHandler /api/v1/socket",
    ]


def test_allow_takes_known_roles_only():
    assert allow("doctor", data="x")["policy"].roles == ("doctor",)
    with pytest.raises(ValueError):
        allow("surgeon", data="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        allow()
    assert PUBLIC["policy"].public


def test_the_openapi_document_asks_for_the_bearer_token_where_it_is_needed(app):
    document = app.openapi_schema.to_schema()
    assert document["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    hold = document["paths"]["/api/v1/holds"]["post"]
    assert hold["security"] == [{"bearer": []}]
    assert "security" not in document["paths"]["/api/v1/slots"]["get"]
