"""A server that answers at once, for measuring the clients of the measuring room: ``GET
/answer`` and ``POST /answer`` give the same JSON body (``ECHO_BYTES`` long, a search
answer's size by default), read no database and do no work."""

from __future__ import annotations

import os
from typing import Any

import msgspec

_BODY = msgspec.json.encode(
    [
        {"slot": i, "padding": "x" * 200}
        for i in range(int(os.environ.get("ECHO_BYTES", "2600")) // 230)
    ]
)
_HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(_BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    more = True
    while more:  # read the request's body, as a server must
        message = await receive()
        more = message.get("more_body", False)
    status = 200 if scope["path"] == "/answer" else 404
    await send({"type": "http.response.start", "status": status, "headers": _HEADERS})
    await send({"type": "http.response.body", "body": _BODY})
