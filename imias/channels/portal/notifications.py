"""How I am told, on the portal ``/notifications`` (``?patient_id=`` for a linked child):
SMS, e-mail or only what must go (sign-in codes), the language of the messages, and the
quiet hours in which nothing but urgent messages comes. A plain form; every call goes
through :class:`integrations.NotificationPreferences` (audited there)."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post
from litestar.enums import MediaType
from litestar.params import FromQuery
from litestar.response import Template

from imias.channels.portal.common import PORTAL, claimed_patient, portal_page
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.i18n import N_
from imias.channels.web.pages import form_of, redirect, say
from imias.identity import principal_of
from imias.platform.problems import ProblemError
from integrations import NotificationPreferences, Preference, PreferenceIn, QuietHours

#: What a refusal of the preferences' service reads as on the page.
REFUSALS = {
    "invalid_email": N_("Это не адрес электронной почты."),
    "email_required": N_("Укажите адрес электронной почты, чтобы получать письма."),
    "invalid_quiet_hours": N_("Тихие часы — два времени вида ЧЧ:ММ, например 22:00 и 08:00."),
    "bad_request": N_("Выберите, как вас извещать, и язык сообщений."),
}


def _service(request: Request[Any, Any, Any]) -> NotificationPreferences:
    service: NotificationPreferences = request.app.state.notification_preferences
    return service


def _with(patient_id: int | None) -> str:
    return f"?patient_id={patient_id}" if patient_id else ""


class PortalNotificationsController(Controller):
    path = "/notifications"
    tags = ["portal"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    def _page(
        self,
        request: Request[Any, Any, Any],
        preference: Preference,
        claimed: int | None,
        *,
        saved: bool = False,
        error: str | None = None,
        status_code: int = 200,
    ) -> Template:
        quiet = preference.quiet_hours or preference.default_quiet_hours
        return portal_page(
            request,
            "portal/notifications.html",
            status_code=status_code,
            preference=preference,
            quiet=quiet,
            claimed=claimed,
            saved=saved,
            error=error,
        )

    @get(opt=PORTAL, operation_id="portalNotifications", media_type=MediaType.HTML)
    async def notifications_page(
        self,
        request: Request[Any, Any, Any],
        patient_id: FromQuery[int | None] = None,
        saved: FromQuery[int | None] = None,
    ) -> Template:
        whose = patient_id or principal_of(request).subject
        preference = await _service(request).get(principal_of(request), whose)
        return self._page(request, preference, patient_id, saved=bool(saved))

    @post(
        opt=PORTAL,
        operation_id="portalSetNotifications",
        status_code=303,
        media_type=MediaType.HTML,
    )
    async def set_notifications(self, request: Request[Any, Any, Any]) -> Any:
        form = await form_of(request)
        claimed = claimed_patient(form)
        whose = claimed or principal_of(request).subject
        service = _service(request)
        start, end = form.get("quiet_start", ""), form.get("quiet_end", "")
        given = Preference(
            channel=form.get("channel", "sms"),  # type: ignore[arg-type]
            email=form.get("email", "").strip() or None,
            language=form.get("language", "ru"),  # type: ignore[arg-type]
            quiet_hours=QuietHours(start, end),
        )
        try:
            data = msgspec.convert(
                {"channel": given.channel, "email": given.email, "language": given.language,
                 "quiet_hours": {"start": start, "end": end}},
                PreferenceIn,
            )  # fmt: skip
            if data.quiet_hours == given.default_quiet_hours:  # the default: follow it
                data = msgspec.structs.replace(data, quiet_hours=None)
            await service.put(principal_of(request), whose, data)
        except (ProblemError, msgspec.ValidationError) as exc:
            code = exc.code if isinstance(exc, ProblemError) else "bad_request"
            if isinstance(exc, ProblemError) and code not in REFUSALS:
                raise
            return self._page(
                request, given, claimed, error=say(request, REFUSALS[code]), status_code=422
            )
        return redirect("/notifications" + _with(claimed) + ("&" if claimed else "?") + "saved=1")
