"""The language switch: ``/lang/en`` or ``/lang/ru`` remembers the choice in the ``lang``
cookie and returns to the page (``?back=``, a path of this site only). Any page also
takes ``?lang=`` and remembers it the same way."""

from __future__ import annotations

from typing import Any

from litestar import Request, get
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect

from imias.channels.web.pages import LANGUAGES, redirect, set_lang_cookie
from imias.platform.policy import POLICY, Policy

SWITCH = {POLICY: Policy(public=True, data="no personal data (the page language)")}


def local_path(back: str | None) -> str:
    """Only a path of this site: never another host (``//host``, ``/\\host``, a scheme)."""
    if not back or not back.startswith("/") or back.startswith(("//", "/\\")):
        return "/"
    return back


@get("/lang/{lang:str}", opt=SWITCH, operation_id="switchLanguage", include_in_schema=False)
async def switch_language(
    request: Request[Any, Any, Any], lang: FromPath[str], back: FromQuery[str | None] = None
) -> Redirect:
    response = redirect(local_path(back))
    if lang in LANGUAGES:
        set_lang_cookie(response, request, lang)
    return response
