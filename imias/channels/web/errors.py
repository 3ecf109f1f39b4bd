"""Refusals on pages: a sentence, never a code; a page that needs a session sends the
browser to its sign-in page."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response

from imias.channels.web.pages import page, redirect
from imias.platform.identity.policies import SignInRequired
from imias.platform.problems import ProblemError


def sentence(exc: ProblemError, lang: str = "ru") -> str:
    """What a person reads of a refusal: the Russian message when the rule has one."""
    if lang == "ru" and exc.extra.get("message_ru"):
        return str(exc.extra["message_ru"])
    return exc.detail or exc.title


def sign_in_again(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    return redirect(exc.sign_in)  # type: ignore[return-value]


def refusal_page(request: Request[Any, Any, Any], exc: ProblemError) -> Response[Any]:
    back = request.headers.get("referer") or "/"
    return page(  # type: ignore[return-value]
        request, "error.html", status_code=exc.status, message=sentence(exc), back=back
    )


PAGE_ERRORS: dict[Any, Any] = {SignInRequired: sign_in_again, ProblemError: refusal_page}
