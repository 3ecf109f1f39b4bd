"""Request ids and the access log, as one pure ASGI middleware.

A client's ``X-Request-ID`` is kept when it is a short token of safe characters;
otherwise a new one is made. It is set in the logging context for the request,
returned in the response's ``X-Request-ID`` header and written to problem
documents, so a user's complaint, a log line and a response can be matched.
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Callable
from typing import Any

from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from imias.platform.logs import request_id_var

HEADER = b"x-request-id"
_SAFE = re.compile(rb"^[A-Za-z0-9._:-]{8,128}$")

access_log = logging.getLogger("imias.access")


# Path segments that are secrets of their own (a hold token lets its holder confirm):
# logged as the route's parameter name, never in clear.
_SECRET_SEGMENT = re.compile(r"(/holds/)[^/]+")


def loggable_path(path: str) -> str:
    return _SECRET_SEGMENT.sub(r"\1{token}", path)


def _incoming_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == HEADER and _SAFE.match(value):
            return value.decode("ascii")
    return uuid.uuid4().hex


#: Told of every answered request: its scope (after routing: ``path_template`` set when a
#: route matched), the status and the seconds it took (e.g. the metrics' counters).
RequestObserver = Callable[[Scope, int, float], None]


def request_id_middleware(app: ASGIApp, observe: RequestObserver | None = None) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        request_id = _incoming_id(scope)
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = list(message.get("headers", []))
                headers.append((HEADER, request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            if observe is not None:
                observe(scope, status["code"], time.perf_counter() - started)
            access_log.info(
                "%s %s %s",
                scope.get("method"),
                loggable_path(scope.get("path", "")),
                status["code"],
                extra={
                    "request_id": request_id,
                    "status": status["code"],
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                },
            )
            request_id_var.reset(token)

    return middleware


def client_address(connection: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The client's address: the connection's, or, when the connection comes from a
    trusted reverse proxy (IMIAS_TRUSTED_PROXIES), the nearest address in
    X-Forwarded-For that is not one of the trusted proxies (the rest can be forged)."""
    client = connection.client
    host = client.host if client else None
    settings = connection.app.state.get("settings")
    proxies = settings.proxy_networks if settings is not None else ()
    if host is None or not proxies or not _among(host, proxies):
        return host
    hops = [h.strip() for h in connection.headers.get("x-forwarded-for", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if not _among(hop, proxies):
            return hop
    return host


def _among(address: str, networks: tuple[Any, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)
