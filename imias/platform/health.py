"""``GET /health``: the state of every part a worker depends on.

Each check is an async callable registered under a name (``database``, ``redis``,
``engine``, ...) that returns a dict of details or raises. The route answers 200
with ``"<name>": "ok"`` for every part, or 503 as a problem document whose
``failing`` member names the parts that are down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, get, head
from litestar.datastructures import State
from litestar.response import Response

from imias.platform.db import role_escapes
from imias.platform.policy import PUBLIC
from imias.platform.problems import problem_response

Check = Callable[[State], Awaitable[dict[str, Any] | None]]

log = logging.getLogger("imias.health")


async def check_database(state: State) -> dict[str, Any] | None:
    """The database answers, and the application's login cannot leave its rights (a
    superuser, or a member of another role, is reported as a failure)."""
    async with state.db.acquire() as conn:
        problem = await role_escapes(conn)
    if problem is not None:
        raise RuntimeError(problem)
    return None


async def check_redis(state: State) -> dict[str, Any] | None:
    await state.redis.ping()
    return None


async def run_checks(
    state: State,
    checks: dict[str, Check],
    timeout: float,  # noqa: ASYNC109
) -> tuple[dict[str, Any], list[str]]:
    async def one(name: str, check: Check) -> tuple[str, str, dict[str, Any] | None]:
        started = time.perf_counter()
        try:
            details = await asyncio.wait_for(check(state), timeout)
        except TimeoutError:
            return name, f"down: no answer within {timeout:g}s", None
        except Exception as exc:  # a failing part is reported, not raised
            reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
            return name, f"down: {reason}", None
        details = dict(details or {})
        details["latency_ms"] = round((time.perf_counter() - started) * 1000, 2)
        return name, "ok", details

    results = await asyncio.gather(*(one(n, c) for n, c in checks.items()))
    report: dict[str, Any] = {}
    failing: list[str] = []
    for name, status, details in results:
        report[name] = "ok" if status == "ok" else "down"
        if status != "ok":
            failing.append(name)
            report[f"{name}_error"] = status.removeprefix("down: ")
        elif details:
            report[f"{name}_details"] = details
    return report, failing


@get(
    "/health",
    operation_id="getHealth",
    tags=["operations"],
    summary="Health of the service",
    opt=PUBLIC,
)
async def health(request: Request[Any, Any, Any]) -> Response[Any]:
    app = request.app
    checks: dict[str, Check] = app.state.health_checks
    report, failing = await run_checks(app.state, checks, app.state.settings.health_timeout)
    if failing:
        log.warning("health check failing: %s", ", ".join(failing), extra={"failing": failing})
        return problem_response(
            503,
            "unhealthy",
            title="Service unavailable",
            detail="Failing: " + ", ".join(failing),
            extra={"status_text": "down", "failing": failing, **report},
        )
    return Response({"status": "ok", **report}, status_code=200)


@head(
    "/health",
    operation_id="headHealth",
    tags=["operations"],
    summary="Health of the service, status only (load balancers check with HEAD)",
    opt=PUBLIC,
)
async def health_head(request: Request[Any, Any, Any]) -> Response[None]:
    app = request.app
    checks: dict[str, Check] = app.state.health_checks
    _, failing = await run_checks(app.state, checks, app.state.settings.health_timeout)
    return Response(content=None, status_code=503 if failing else 200)
