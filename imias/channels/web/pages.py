"""Server-rendered pages: Jinja2 templates under ``imias/channels/templates``, the
signed-in session in an HttpOnly cookie, and CSRF protection of every form.

A page's session cookie carries the same token as the API's ``Authorization`` header
(the route's policy names the cookie, so the one guard checks it the same way); it is
HttpOnly, ``SameSite=Strict`` and ``Secure`` unless the page is served to localhost.
Every form carries the value of a random ``imias_csrf`` cookie (double submit) and a
post without it is refused, so another site cannot post a form as the signed-in user.
"""

from __future__ import annotations

import gettext
import hmac
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from imias.channels.web import i18n
from imias.platform.problems import ProblemError

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
CSRF_COOKIE = "imias_csrf"
CSRF_FIELD = "csrf"
LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "testserver.local"})


def _with_i18n(engine: JinjaTemplateEngine) -> None:
    """Jinja2's i18n extension; each page passes its request's translations."""
    engine.engine.add_extension("jinja2.ext.i18n")
    # The i18n extension adds this method to the Environment at run time: no type has it.
    engine.engine.install_null_translations()  # type: ignore[attr-defined]


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    return TemplateConfig(
        directory=TEMPLATES, engine=JinjaTemplateEngine, engine_callback=_with_i18n
    )


def secure(request: Request[Any, Any, Any]) -> bool:
    """Cookies are Secure except on a page served to this machine (development)."""
    return request.url.scheme == "https" or request.url.hostname not in LOCAL_HOSTS


def csrf_value(request: Request[Any, Any, Any]) -> tuple[str, bool]:
    """The request's CSRF value and whether it is new (then set the cookie)."""
    value = request.cookies.get(CSRF_COOKIE)
    if value and 20 <= len(value) <= 64:
        return value, False
    return secrets.token_urlsafe(24), True


async def form_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    """A posted form, after its CSRF value was checked against the cookie."""
    form = {k: str(v) for k, v in (await request.form()).items()}
    cookie = request.cookies.get(CSRF_COOKIE, "")
    if not cookie or not hmac.compare_digest(cookie, form.get(CSRF_FIELD, "")):
        raise ProblemError(
            403, "csrf_failed", "The form has expired; open the page again and repeat."
        )
    return form


LANGUAGES = i18n.LANGUAGES
LANG_COOKIE = "lang"


def lang_of(request: Request[Any, Any, Any]) -> str:
    """The page language: ``?lang=``, else the ``lang`` cookie, else Russian."""
    for chosen in (request.query_params.get("lang"), request.cookies.get(LANG_COOKIE)):
        if chosen in LANGUAGES:
            return chosen
    return "ru"


def translations(request: Request[Any, Any, Any]) -> gettext.NullTranslations:
    return i18n.translations(lang_of(request))


def set_lang_cookie(response: Response[Any], request: Request[Any, Any, Any], lang: str) -> None:
    response.set_cookie(
        LANG_COOKIE, lang, httponly=True, samesite="strict", secure=secure(request), path="/"
    )


def here(request: Request[Any, Any, Any]) -> str:
    """Where the language switch returns to: this page (a GET), else its section's start."""
    if request.method == "GET":
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
        return request.url.path + ("?" + urlencode(kept) if kept else "")
    return "/" + request.url.path.strip("/").split("/")[0]


def say(request: Request[Any, Any, Any], message: str) -> str:
    """A sentence of the code (a Russian msgid) in the page language."""
    return translations(request).gettext(message)


def page(
    request: Request[Any, Any, Any],
    name: str,
    status_code: int = 200,
    **context: Any,
) -> Template:
    """Render a page with what every page needs: the CSRF value, the language and its
    gettext ``_``, the language switch's way back."""
    csrf, new = csrf_value(request)
    tr = translations(request)
    lang = lang_of(request)
    response = Template(
        template_name=name,
        context={
            "csrf": csrf,
            "_": tr.gettext,
            "gettext": tr.gettext,
            "ngettext": tr.ngettext,
            "lang": lang,
            "here": here(request),
            # the signed-in caller's role (None on public pages): what a menu offers
            "viewer_role": getattr(request.scope.get("user"), "role", None),
            **context,
        },
        status_code=status_code,
    )
    if new:
        response.set_cookie(
            CSRF_COOKIE, csrf, httponly=True, samesite="strict", secure=secure(request), path="/"
        )
    if request.query_params.get("lang") in LANGUAGES and request.cookies.get(LANG_COOKIE) != lang:
        set_lang_cookie(response, request, lang)  # ?lang= is remembered
    return response


def set_session(
    response: Response[Any], request: Request[Any, Any, Any], cookie: str, token: str, path: str
) -> None:
    response.set_cookie(
        cookie, token, httponly=True, samesite="strict", secure=secure(request), path=path
    )


async def end_session(
    request: Request[Any, Any, Any], cookie: str, path: str, to: str | None = None
) -> Redirect:
    """Sign out: revoke the page's session (if it is still valid), forget its cookie and
    go to ``to`` (default: the page's ``path``)."""
    token = request.cookies.get(cookie)
    if token:
        identity = request.app.state.identity
        try:
            principal = await identity.authenticate("Bearer " + token)
            await identity.sessions.sign_out(principal, False)
        except ProblemError:
            pass  # already expired or revoked: nothing to end
    response = redirect(to or path)
    response.delete_cookie(cookie, path=path)
    return response


def redirect(path: str) -> Redirect:
    return Redirect(path, status_code=303)
