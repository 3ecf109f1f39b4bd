"""Errors as ``application/problem+json`` (RFC 9457) with a stable ``code``.

Domain code raises :class:`ProblemError` (or a subclass) with a machine-readable
``code``; the handlers registered by the app turn it, Litestar's own HTTP errors,
validation errors and any unexpected exception into a problem document. A client
branches on ``code``, never on ``title`` or ``detail``, which are for people.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import asyncpg
import msgspec
import redis
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.types import ExceptionHandlersMap

from imias.platform.logs import request_id_var

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://imias.dev/problems/"

log = logging.getLogger("imias.errors")

# Stable codes for errors raised by the framework itself, by HTTP status.
CODE_OF_STATUS = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_attempts",
    500: "internal_error",
    503: "service_unavailable",
}


class Problem(msgspec.Struct, omit_defaults=True):
    """The problem document (RFC 9457) plus IMIAS's ``code`` and ``request_id``."""

    type: str
    title: str
    status: int
    code: str
    detail: str | None = None
    instance: str | None = None
    request_id: str | None = None
    errors: list[dict[str, Any]] | None = None


class ProblemError(Exception):
    """Raise to answer with a problem document. ``code`` is the stable contract."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str | None = None,
        *,
        title: str | None = None,
        extra: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(f"{code}: {detail or self.title}")


def problem_response(
    status: int,
    code: str,
    *,
    title: str | None = None,
    detail: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[Any]:
    body = msgspec.to_builtins(
        Problem(
            type=TYPE_BASE + code,
            title=title or HTTPStatus(status).phrase,
            status=status,
            code=code,
            detail=detail,
            instance=instance,
            request_id=request_id_var.get(),
            errors=errors,
        )
    )
    if extra:
        body.update({k: v for k, v in extra.items() if k not in body})
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def handle_problem(request: Request[Any, Any, Any], exc: ProblemError) -> Response[Any]:
    return problem_response(
        exc.status,
        exc.code,
        title=exc.title,
        detail=exc.detail,
        instance=request.url.path,
        extra=exc.extra,
        headers=exc.headers,
    )


def handle_validation(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    errors = exc.extra if isinstance(exc.extra, list) else None
    return problem_response(
        400,
        "validation_error",
        title="Invalid request",
        detail=exc.detail,
        instance=request.url.path,
        errors=errors,
    )


def handle_http(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    code = CODE_OF_STATUS.get(status, "http_" + str(status))
    detail = exc.detail if exc.detail and exc.detail != HTTPStatus(status).phrase else None
    headers = dict(exc.headers or {})
    return problem_response(
        status, code, detail=detail, instance=request.url.path, headers=headers or None
    )


def handle_unavailable(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The database or Redis cannot be reached right now: 503, try again shortly."""
    log.warning("a server is unreachable: %s: %s", type(exc).__name__, exc)
    return problem_response(
        503,
        "service_unavailable",
        detail="A server IMIAS depends on is unreachable; please try again in a moment.",
        instance=request.url.path,
        headers={"Retry-After": "5"},
    )


def handle_bad_value(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A value the database refused (out of range, a NUL character, a broken CHECK): the
    request's fault, caught late; logged so that the validation can move to the door."""
    log.warning("the database refused a value: %s", type(exc).__name__)
    return problem_response(
        400,
        "invalid_value",
        detail="A value in the request is not acceptable (out of range, malformed or "
        "containing characters that cannot be stored).",
        instance=request.url.path,
    )


def handle_conflict(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A uniqueness or reference the database enforces, met by a racing request."""
    log.warning("the database refused a change: %s", type(exc).__name__)
    return problem_response(
        409,
        "conflict",
        detail="The change conflicts with the current data; reload and try again.",
        instance=request.url.path,
    )


def handle_too_deep(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """JSON nested deeper than the decoder follows (msgspec's RecursionError while
    deserializing): the request's fault. Any other recursion is a bug, and a 500."""
    if "deserializ" not in str(exc):
        return handle_unexpected(request, exc)
    return problem_response(
        400,
        "invalid_json",
        detail="The request's JSON is nested too deeply.",
        instance=request.url.path,
    )


def handle_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled error", extra={"path": request.url.path})
    return problem_response(
        500,
        "internal_error",
        detail="An unexpected error occurred; it has been logged with this request's id.",
        instance=request.url.path,
    )


# Losing the database or Redis mid-request is an outage, not a bug.
UNAVAILABLE: tuple[type[Exception], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    asyncpg.ConnectionDoesNotExistError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)

EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ProblemError: handle_problem,
    ValidationException: handle_validation,
    HTTPException: handle_http,
    **{kind: handle_unavailable for kind in UNAVAILABLE},
    asyncpg.DataError: handle_bad_value,
    asyncpg.CheckViolationError: handle_bad_value,
    asyncpg.NotNullViolationError: handle_bad_value,
    asyncpg.IntegrityConstraintViolationError: handle_conflict,
    RecursionError: handle_too_deep,
    Exception: handle_unexpected,
}
