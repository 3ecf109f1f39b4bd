"""The administrator's pages. The session is the administrator's token in the
``imias_admin`` cookie (path ``/admin``). What they show comes from
:mod:`integrations.admin` (a partner's messages are audited there); a retry is a form
posted with the CSRF value, answered with a redirect to the overview (no resend on a
reload)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Controller, Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.i18n import N_
from imias.channels.web.pages import form_of, page, redirect, say
from imias.channels.web.staff import sign_in_policy, staff_sign_in, staff_sign_out
from imias.identity import allow
from imias.platform.problems import ProblemError
from integrations import admin

COOKIE = "imias_admin"
PATH = "/admin"
SIGN_IN_PATH = f"{PATH}/sign-in"
ADMIN = allow(
    "administrator",
    data="administrator: each partner's delivery state; a partner's newest messages "
    "(kind, patient, status, tries, error; never a body), audited",
    cookie=COOKIE,
    sign_in=SIGN_IN_PATH,
)
#: Pages for the city's administrator and a clinic's administrator (the dashboard, the
#: clinic's schedules, staff, moved patients): each page limits a clinic administrator
#: to her own clinic (the token's ``org``).
MANAGERS = allow(
    "administrator",
    "clinic_admin",
    data="administrator: the city; clinic_admin: her own clinic only",
    cookie=COOKIE,
    sign_in=SIGN_IN_PATH,
)
SIGN_IN = sign_in_policy("administrator's page")
LATEST = 50


def _age(seconds: float | None, request: Request[Any, Any, Any]) -> str:
    """How long ago, in the largest unit that fits: 45 с, 12 мин, 3 ч, 2 дн."""
    if seconds is None:
        return "—"
    if seconds >= 86400:
        return say(request, "{n} дн").format(n=int(seconds // 86400))
    if seconds >= 3600:
        return say(request, "{n} ч").format(n=int(seconds // 3600))
    if seconds >= 60:
        return say(request, "{n} мин").format(n=int(seconds // 60))
    return say(request, "{n} с").format(n=int(seconds))


def _when(at: datetime | None) -> str:
    """A time as UTC, to the second (the operators' and the logs' clock)."""
    return "—" if at is None else at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _since(at: datetime | None, now: datetime) -> float | None:
    return None if at is None else max(0.0, (now - at) / timedelta(seconds=1))


#: What a partner's kind (integrations.model.KIND_TOPICS) is called.
KINDS = {
    "school_journal": N_("электронный журнал школы"),
    "ambulance_dispatch": N_("диспетчерская скорой помощи"),
    "hl7_feed": N_("получатель HL7 v2"),
}
STATUSES = {
    "pending": N_("ждёт отправки"),
    "delivered": N_("доставлено"),
    "dead": N_("не доставлено"),
}


def _helpers(request: Request[Any, Any, Any]) -> dict[str, Any]:
    return {
        "age": lambda s: _age(s, request),
        "when": _when,
        "since": _since,
        "kinds": KINDS,
        "statuses": STATUSES,
    }


class AdminController(Controller):
    path = PATH
    tags = ["admin"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    # The home, /admin, is the dashboard (imias.channels.admin.dashboard).

    @get("/sign-in", opt=SIGN_IN, operation_id="adminSignInPage")
    async def sign_in_page(self, request: Request[Any, Any, Any]) -> Template:
        return page(request, "admin/sign_in.html")

    @post("/sign-in", opt=SIGN_IN, operation_id="adminSignIn", status_code=200)
    async def sign_in(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return await staff_sign_in(
            request,
            role=("administrator", "clinic_admin"),
            cookie=COOKIE,
            path=PATH,
            template="admin/sign_in.html",
            home=PATH,
            wrong_role=say(request, "Эта страница для администраторов."),
        )

    @post("/sign-out", opt=SIGN_IN, operation_id="adminSignOut", status_code=303)
    async def sign_out(self, request: Request[Any, Any, Any]) -> Response[Any]:
        return await staff_sign_out(request, cookie=COOKIE, path=SIGN_IN_PATH)

    @get("/integrations", opt=ADMIN, operation_id="adminIntegrations")
    async def integrations(
        self,
        request: Request[Any, Any, Any],
        retried: FromQuery[str | None] = None,
        n: FromQuery[int | None] = None,
    ) -> Template:
        seen = await admin.overview(request.app.state.db)
        notice = None
        if retried and n is not None and any(p.id == retried for p in seen.partners):
            notice = say(request, "{partner}: снова в очереди сообщений: {n}.").format(
                partner=retried, n=n
            )
        return page(
            request, "admin/integrations.html", seen=seen, notice=notice, **_helpers(request)
        )

    @get("/integrations/{partner_id:str}", opt=ADMIN, operation_id="adminPartnerMessages")
    async def partner(self, request: Request[Any, Any, Any], partner_id: FromPath[str]) -> Template:
        db = request.app.state.db
        try:
            lines = await admin.latest(db, partner_id, LATEST)
        except ProblemError as exc:
            raise self._page_problem(request, exc) from None
        seen = await admin.overview(db)
        state = next(p for p in seen.partners if p.id == partner_id)
        return page(
            request,
            "admin/partner.html",
            state=state,
            lines=lines,
            shown=LATEST,
            now=seen.at,
            **_helpers(request),
        )

    @post(
        "/integrations/{partner_id:str}/retry",
        opt=ADMIN,
        operation_id="adminRetryDead",
        status_code=303,
    )
    async def retry(
        self, request: Request[Any, Any, Any], partner_id: FromPath[str]
    ) -> Response[Any]:
        await form_of(request)  # the CSRF check
        try:
            count = await admin.retry_dead(request.app.state.db, partner_id)
        except ProblemError as exc:
            raise self._page_problem(request, exc) from None
        return redirect(f"{PATH}/integrations?" + urlencode({"retried": partner_id, "n": count}))

    @staticmethod
    def _page_problem(request: Request[Any, Any, Any], exc: ProblemError) -> ProblemError:
        if exc.code == "unknown_partner":
            return ProblemError(404, exc.code, say(request, "Такой внешней системы нет."))
        return exc
