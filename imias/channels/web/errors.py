"""Refusals on pages: a sentence, never a code; a page that needs a session sends the
browser to its sign-in page."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.types import ExceptionHandlersMap

from imias.channels.web.pages import lang_of, page, redirect, say
from imias.identity import SignInRequired
from imias.platform.problems import ProblemError

# Identity's and the routes' scoping refusals carry no ``message_ru``: the common ones,
# by their English sentence where one code has several, else by code.
SIGN_IN_RU_BY_DETAIL = {
    "The username or the password is wrong.": "Неверное имя пользователя или пароль.",
    "The code is wrong or has expired; ask for a new one.": "Код неверен или устарел; "
    "запросите новый.",
    # the booking routes' scoping (imias.booking.caller)
    "There is no such appointment.": "Такой записи нет.",
    "There is no such patient.": "Такого пациента нет.",
    "That doctor works in another clinic.": "Этот врач работает в другой поликлинике.",
    "This account is not bound to a clinic.": "Эта учётная запись не привязана к поликлинике.",
    "A registrar works for her own clinic.": "Регистратор работает только со своей поликлиникой.",
}
SIGN_IN_RU = {
    "too_many_attempts": "Слишком много попыток. Подождите и попробуйте снова.",
    "account_disabled": "Эта учётная запись отключена.",
    "break_glass_required": "Этот пациент не записан в вашу поликлинику. Открыть его данные "
    "можно только через экстренный доступ с указанием причины (он попадает в журнал).",
    "wrong_status": "Запись сейчас в другом состоянии, это действие к ней неприменимо.",
    "csrf_failed": "Форма устарела: откройте страницу снова и повторите.",
}


def sentence(exc: ProblemError, request: Request[Any, Any, Any] | None = None) -> str:
    """What a person reads of a refusal, in the page language: the rule's Russian
    message (or a known one of sign-in) on a Russian page, its English detail else."""
    if request is None or lang_of(request) == "ru":
        russian = (
            exc.extra.get("message_ru")
            or SIGN_IN_RU_BY_DETAIL.get(exc.detail or "")
            or SIGN_IN_RU.get(exc.code)
        )
        if russian:
            return str(russian)
    if request is not None and exc.detail:
        return say(request, exc.detail)  # a page's own refusal is a msgid; others stay as are
    return exc.detail or exc.title


def sign_in_again(request: Request[Any, Any, Any], exc: SignInRequired) -> Response[Any]:
    return redirect(exc.sign_in)


def refusal_page(request: Request[Any, Any, Any], exc: ProblemError) -> Response[Any]:
    back = request.headers.get("referer") or "/"
    return page(
        request, "error.html", status_code=exc.status, message=sentence(exc, request), back=back
    )


PAGE_ERRORS: ExceptionHandlersMap = {SignInRequired: sign_in_again, ProblemError: refusal_page}
