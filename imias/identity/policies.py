"""Every route declares its policy; one check enforces it.

A route handler says who may call it with ``opt=allow("patient", "registrar", data=...)``
(roles, and in ``data`` whose data each role reaches, which the domain then checks) or
``opt=PUBLIC`` (health, the catalogue, search, sign-in: no personal data). The app
runs :func:`authorize` before every request (:func:`before_request`, its one hook): it
reads the policy, authenticates the bearer token of every non-public route
(:meth:`Sessions.authenticate`), refuses a role the policy does not name (403
``forbidden``), and leaves the principal for the handler (:func:`principal_of`) and the
audit log (:data:`~imias.platform.audit.writer.access_var`).
A route without a policy is refused (fail closed) and :func:`undeclared_routes` lets a
test fail on it first; a route that a hook of its own would keep from the check (a
controller's or router's ``before_request`` replaces the app's) or that is not an HTTP
route at all is found by :func:`unchecked_routes`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from litestar import Litestar, Request
from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler, HTTPRouteHandler
from litestar.routes import HTTPRoute

from imias.identity.model import ROLES, Principal, Role
from imias.platform.audit.writer import Access, access_var
from imias.platform.logs import request_id_var
from imias.platform.policy import POLICY, Policy
from imias.platform.problems import ProblemError
from imias.platform.requests import client_address

log = logging.getLogger("imias.identity")


def allow(
    *roles: Role, data: str = "", cookie: str | None = None, sign_in: str | None = None
) -> dict[str, Any]:
    """``opt`` of a route that these roles may call (a page: with its session cookie and
    its sign-in page)."""
    unknown = set(roles) - set(ROLES)
    if not roles or unknown:
        raise ValueError(f"allow() needs known roles, got {roles}")
    return {POLICY: Policy(tuple(roles), data=data, cookie=cookie, sign_in=sign_in)}


class SignInRequired(ProblemError):
    """A page needs a signed-in session: pages answer it by sending the browser to
    ``sign_in``."""

    def __init__(self, sign_in: str) -> None:
        super().__init__(401, "unauthenticated", "Sign in first.")
        self.sign_in = sign_in


SIGNED_IN: dict[str, Any] = {POLICY: Policy(ROLES, data="the caller's own session")}


async def authorize(
    connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler
) -> None:
    """The app's guard: the route's policy, the caller's token, the caller's role."""
    policy = handler.opt.get(POLICY)
    if not isinstance(policy, Policy) and _answers_options(handler):
        access_var.set(None)  # the route's Allow header: no data, no one to check
        return
    if not isinstance(policy, Policy):
        log.error("a route has no declared policy and is refused: %s", connection.url.path)
        raise ProblemError(403, "forbidden", "This route declares no access policy.")
    access_var.set(None)
    if policy.public:
        return
    identity = connection.app.state.identity
    authorization = connection.headers.get("authorization")
    if authorization is None and policy.cookie:
        token = connection.cookies.get(policy.cookie)
        authorization = f"Bearer {token}" if token else None
    try:
        principal: Principal = await identity.authenticate(authorization)
    except ProblemError as exc:
        if policy.sign_in and exc.status == 401:
            raise SignInRequired(policy.sign_in) from None
        raise
    if principal.role not in policy.roles:
        log.info(
            "role refused by a route's policy",
            extra={"role": principal.role, "subject": principal.sub, "path": connection.url.path},
        )
        raise ProblemError(403, "forbidden", f"A {principal.role} may not do this.")
    connection.scope["user"] = principal  # Litestar's place for the authenticated caller
    access_var.set(
        Access(
            actor_id=principal.subject,
            actor_role=principal.role,
            actor_org=principal.org,
            request_id=request_id_var.get(),
            client_addr=client_address(connection),
        )
    )


def _answers_options(handler: BaseRouteHandler) -> bool:
    """Litestar's own OPTIONS handler of a route (204 with the Allow header), which it
    adds to every path: the methods of a route are public in the API's document too."""
    return (
        isinstance(handler, HTTPRouteHandler)
        and handler.http_methods == {"OPTIONS"}
        and getattr(handler.fn, "__name__", "") == "options_handler"
    )


async def before_request(request: Request[Any, Any, Any]) -> None:
    """:func:`authorize` as the app's before-request hook, run before the handler's
    arguments are read. Not a Litestar guard: for every guard call Litestar copies the
    route handler, which cost more than the token's check (about 0.1 ms a request)."""
    await authorize(request, request.route_handler)


def principal_of(request: Request[Any, Any, Any]) -> Principal:
    """The signed-in caller of a non-public route (set by :func:`authorize`)."""
    principal: Principal | None = request.scope.get("user")
    if principal is None:
        raise ProblemError(401, "unauthenticated", "Sign in first.")
    return principal


def route_policies(app: Litestar) -> list[tuple[str, str, Policy | None]]:
    """(method, path, policy) of every HTTP route of ``app``; None: no policy."""
    found = []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            if not isinstance(handler, HTTPRouteHandler):
                continue
            policy = handler.opt.get(POLICY)
            for method in sorted(handler.http_methods):
                if method in ("HEAD", "OPTIONS"):
                    continue
                found.append((method, route.path, policy if isinstance(policy, Policy) else None))
    return sorted(found, key=lambda r: (r[1], r[0]))


BEARER = "bearer"


def undeclared_routes(app: Litestar) -> list[str]:
    return [f"{m} {p}" for m, p, policy in route_policies(app) if policy is None]


def unchecked_routes(app: Litestar) -> list[str]:
    """Routes that :func:`before_request` does not run before: handlers that are not
    HTTP route handlers (websocket, ASGI: a before-request hook never runs for them), and
    HTTP handlers whose own layer replaced the app's hook."""
    found = []
    for route in app.routes:
        handlers: Sequence[BaseRouteHandler]
        if isinstance(route, HTTPRoute):  # an HTTP route's handlers, one a method
            handlers = route.route_handlers
        else:  # a websocket or ASGI route has one handler
            handlers = [route.route_handler]
        for handler in handlers:
            if not isinstance(handler, HTTPRouteHandler):
                found.append(f"{type(handler).__name__} {route.path}")
            elif handler.resolve_before_request() is not before_request:
                found.append(f"{','.join(sorted(handler.http_methods))} {route.path}")
    return sorted(found)
