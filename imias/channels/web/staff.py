"""Staff sign-in on a page: username and password, the session in a cookie of the page's
own path, and only the page's role let in (any other staff account's fresh token is
revoked at once, so a doctor's password typed on the registrar's page opens nothing)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response

from imias.channels.web.errors import sentence
from imias.channels.web.pages import end_session, form_of, page, redirect, say, set_session
from imias.identity import StaffTokenRequest
from imias.platform.policy import POLICY, Policy
from imias.platform.problems import ProblemError
from imias.platform.requests import client_address


def sign_in_policy(what: str) -> dict[str, Any]:
    return {POLICY: Policy(public=True, data=f"no personal data (the {what}'s sign-in)")}


async def staff_sign_in(
    request: Request[Any, Any, Any],
    *,
    role: str | tuple[str, ...],
    cookie: str,
    path: str,
    template: str,
    home: str,
    wrong_role: str,
) -> Response[Any]:
    """Check the posted username and password; a session of ``role`` (or one of the
    roles) only."""
    form = await form_of(request)
    username = form.get("username", "").strip()
    try:
        data = msgspec.convert(
            {"username": username, "password": form.get("password", "")}, StaffTokenRequest
        )
    except msgspec.ValidationError:
        error = say(request, "Введите имя пользователя и пароль.")
        return page(request, template, status_code=400, error=error, username=username)
    identity = request.app.state.identity
    try:
        out = await identity.sign_in.staff_token(data, client_address(request))
    except ProblemError as exc:
        error = sentence(exc, request)
        return page(request, template, status_code=exc.status, error=error, username=username)
    if out.role not in ((role,) if isinstance(role, str) else role):
        principal = await identity.authenticate("Bearer " + out.access_token)
        await identity.sessions.sign_out(principal, False)
        return page(request, template, status_code=403, error=wrong_role, username=username)
    response = redirect(home)
    set_session(response, request, cookie, out.access_token, path)
    return response


async def staff_sign_out(
    request: Request[Any, Any, Any], *, cookie: str, path: str
) -> Response[Any]:
    """Revoke the page's session (if it is still valid) and forget its cookie."""
    await form_of(request)
    return await end_session(request, cookie, path)
