"""The language an API answer's titles and sentences are in: Russian unless the caller's
``Accept-Language`` asks for English first (the pages keep their own choice: a cookie)."""

from __future__ import annotations

from typing import Any, Literal

from litestar import Request


def api_language(request: Request[Any, Any, Any]) -> Literal["ru", "en"]:
    accept = request.headers.get("accept-language", "").lower()
    return "en" if accept.startswith("en") else "ru"
