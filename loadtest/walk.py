"""One booking as a client walks it over the HTTP API, and the reading of an answer,
shared by the benches (asyncio, :mod:`loadtest.client`) and the locust scenarios
(gevent, locust's client).

A walk is a generator that yields the :class:`Request` it wants sent and is sent back
the :class:`Answer`; it returns the :class:`Outcome`. It does no I/O itself, so each
load generator drives it with its own client and counts the answers its own way.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from loadtest.client import Connection, TransportError
from loadtest.report import Stat

Verdict = Literal["ok", "refused", "failed"]


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    name: str  # the step, as the figures name it: search, hold, confirm
    params: dict[str, Any] | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    code: str | None = None  # the problem's code, or http_NNN, of a refusal or a failure
    body: Any = None  # the decoded JSON of a success


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    code: str | None = None
    appointment: dict[str, Any] | None = None  # the booked appointment


Walk = Generator[Request, Answer, Outcome]


def problem_code(status: int, body: Callable[[], Any]) -> str:
    """The stable ``code`` of a problem document (RFC 9457), else ``http_<status>``;
    ``body`` decodes the answer's JSON (it may raise)."""
    try:
        document = body()
    except Exception:  # not JSON: the status is all there is
        return f"http_{status}"
    code = document.get("code") if isinstance(document, dict) else None
    return code if isinstance(code, str) else f"http_{status}"


async def timed(stat: Stat, client: Connection, method: str, path: str, **kwargs: Any) -> Any:
    """One request of a bench, timed and counted in ``stat`` (4xx refused, 5xx or a
    transport error failed); the body when it succeeded, else None."""
    began = time.perf_counter()
    try:
        response = await client.request(method, path, **kwargs)
    except TransportError as exc:
        stat.failed += 1
        stat.errors[type(exc).__name__] += 1
        return None
    took = time.perf_counter() - began
    verdict = verdict_of(response.status_code)
    if verdict == "ok":
        stat.ok += 1
        stat.latencies.append(took)
        return response.json() if response.content else {}
    code = problem_code(response.status_code, response.json)
    if verdict == "refused":
        stat.refused += 1
        stat.codes[code] += 1
        stat.latencies.append(took)
    else:
        stat.failed += 1
        stat.errors[f"{response.status_code} {code}"] += 1
    return None


def verdict_of(status: int) -> Verdict:
    """A 2xx is ok, a 4xx a refusal, anything else (a 5xx, no answer) a failure."""
    if 200 <= status < 300:
        return "ok"
    if 400 <= status < 500:
        return "refused"
    return "failed"


def book(
    patient_id: int,
    headers: dict[str, str],
    searches: Callable[[], Sequence[Request]],
    pick: Callable[[list[dict[str, Any]]], dict[str, Any]],
    *,
    attempts: int = 1,
    channel: str = "web",
) -> Walk:
    """Search, hold one of the slots found (``pick``), confirm with a fresh
    Idempotency-Key. ``searches`` gives the searches of one attempt, the last of which
    offers the slots (the ones before it: a patient looking around first). A slot taken
    meanwhile (409 ``slot_taken``) is searched for again, at most ``attempts`` times."""
    outcome = Outcome("refused", "no_free_slot")
    for _ in range(attempts):
        answer = Answer("failed")
        for request in searches():
            answer = yield request
        if answer.verdict != "ok":
            return Outcome(answer.verdict, "search_" + answer.verdict)
        if not answer.body:
            return Outcome("refused", "no_free_slot")
        slot = pick(answer.body)
        body = {
            "patient_id": patient_id,
            "doctor_id": slot["doctor_id"],
            "starts_at": slot["starts_at"],
            "channel": channel,
        }
        answer = yield Request("POST", "/api/v1/holds", "hold", json=body, headers=headers)
        if answer.verdict == "refused" and answer.code == "slot_taken":
            outcome = Outcome("refused", "slot_taken")
            continue  # someone was faster: look again
        if answer.verdict != "ok":
            return Outcome(answer.verdict, answer.code)
        answer = yield Request(
            "POST",
            f"/api/v1/holds/{answer.body['token']}/confirm",
            "confirm",
            json={"patient_id": patient_id},
            headers={"Idempotency-Key": uuid.uuid4().hex, **headers},
        )
        if answer.verdict != "ok":
            return Outcome(answer.verdict, answer.code)
        return Outcome("ok", appointment=answer.body)
    return outcome
