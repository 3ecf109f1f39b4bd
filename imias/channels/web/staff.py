"""Staff sign-in on a page: username and password, the session in a cookie of the page's
own path, and only the page's role let in (any other staff account's fresh token is
revoked at once, so a doctor's password typed on the registrar's page opens nothing).

A temporary password (a new account's, a reset's) opens nothing by itself: the page
asks for it again with a new password typed twice, and signs in with the new one."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response

from imias.channels.web.errors import sentence
from imias.channels.web.i18n import N_
from imias.channels.web.pages import end_session, form_of, page, redirect, say, set_session
from imias.identity import PasswordChange, StaffTokenRequest
from imias.platform.policy import POLICY, Policy
from imias.platform.problems import ProblemError
from imias.platform.requests import client_address

CHANGE_REQUIRED = N_(
    "Этот пароль временный. Задайте свой: введите временный пароль ещё раз и новый пароль дважды."
)
WEAK = N_(
    "Новый пароль слишком простой: не короче 10 знаков, из разных символов, без имени "
    "пользователя и не такой, как прежний."
)


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
    new_password = form.get("new_password")
    changing = new_password is not None  # the second step: a temporary password replaced
    try:
        data = msgspec.convert(
            {"username": username, "password": form.get("password", "")}, StaffTokenRequest
        )
    except msgspec.ValidationError:
        error = say(request, "Введите имя пользователя и пароль.")
        return page(
            request, template, status_code=400, error=error, username=username, change=changing
        )
    identity = request.app.state.identity
    try:
        if changing:
            if new_password != form.get("new_password_again"):
                error = say(request, "Новый пароль и его повтор не совпадают.")
                return page(
                    request, template, status_code=422, error=error, username=username, change=True
                )
            change = PasswordChange(data.username, data.password, new_password or "")
            out = await identity.sign_in.change_staff_password(change, client_address(request))
        else:
            out = await identity.sign_in.staff_token(data, client_address(request))
    except ProblemError as exc:
        if exc.code == "password_change_required":  # first set her own: the second step
            notice = say(request, CHANGE_REQUIRED)
            return page(request, template, notice=notice, username=username, change=True)
        error = say(request, WEAK) if exc.code == "weak_password" else sentence(exc, request)
        return page(
            request,
            template,
            status_code=exc.status,
            error=error,
            username=username,
            change=changing and exc.code == "weak_password",
        )
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
