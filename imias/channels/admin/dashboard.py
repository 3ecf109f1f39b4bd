"""The dashboard, ``/admin``: the city's figures for the health department
(``administrator``: any district, specialty, clinic and period) and a clinic's for its
head (``clinic_admin``: her clinic, with the city's totals beside them; never another
clinic's rows). The figures come from :mod:`insights` (aggregates, no patient), the
charts from :mod:`.charts`; each chart has its figures as a table beside it."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.params import FromQuery, Parameter
from litestar.response import Template

from imias.channels.admin import charts
from imias.channels.admin.pages import COOKIE, MANAGERS, PATH
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.i18n import N_
from imias.channels.web.pages import lang_of, page, say
from imias.identity import principal_of
from imias.platform.problems import ProblemError
from insights import WAIT_MARK_MINUTES, Insights, Scope, WaitRow

#: The clinics with the lowest share seen within the mark, shown on the city's page (the
#: JSON twin has every clinic).
WORST_CLINICS = 15
CHANNELS = {
    "web": N_("сайт"),
    "app": N_("приложение"),
    "phone": N_("телефон"),
    "kiosk": N_("инфомат"),
    "registrar": N_("регистратура"),
    "fhir": N_("внешние приложения (FHIR)"),
    "unknown": N_("не указан"),
}
REFUSALS = {
    "age_not_allowed": N_("возраст не подходит"),
    "sex_not_allowed": N_("пол не подходит"),
    "not_attached": N_("не прикреплён к поликлинике"),
    "referral_required": N_("нужно направление"),
    "duplicate_appointment": N_("уже записан к этому специалисту"),
    "hold_limit": N_("слишком много отложенных записей"),
    "slot_in_past": N_("время уже прошло"),
    "channel_not_allowed": N_("время не для этого канала"),
    "urgent_same_day_only": N_("неотложное время — только в тот же день"),
    "wrong_hold": N_("не та бронь"),
    "hold_expired": N_("бронь истекла"),
    "slot_taken": N_("время уже занято"),
    "outside_schedule": N_("вне расписания"),
    "not_found": N_("не найдено"),
}


def _day(text: str | None) -> date | None:
    """A form's day (YYYY-MM-DD; empty: none), or a page's 400."""
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ProblemError(
            400,
            "invalid_date",
            f"{text!r} is not a day (YYYY-MM-DD).",
            extra={"message_ru": "Дата должна быть в виде ГГГГ-ММ-ДД."},
        ) from None


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f} %"


def _number(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


class DashboardController(Controller):
    path = PATH
    tags = ["admin"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @get(opt=MANAGERS, operation_id="adminHome")
    async def home(
        self,
        request: Request[Any, Any, Any],
        first: Annotated[str | None, Parameter(query="from")] = None,
        last: Annotated[str | None, Parameter(query="to")] = None,
        district: FromQuery[str | None] = None,
        specialty: FromQuery[str | None] = None,
        clinic: FromQuery[int | None] = None,
    ) -> Template:
        insights: Insights = request.app.state.insights
        principal = principal_of(request)
        head = principal.role == "clinic_admin"
        bound = (principal.org or -1) if head else None
        scope = await insights.scope(
            first=_day(first),
            last=_day(last),
            clinic_id=clinic,
            district=district or None,
            specialty=specialty or None,
            bound_to=bound,
        )
        figures = await insights.dashboard(scope)
        names = await insights.names()
        lang = lang_of(request)

        def tr(message: str) -> str:
            return say(request, message)

        specialty_names = {code: n[lang] for code, n in names.specialty_names.items()}
        channel_names = {k: tr(v) for k, v in CHANNELS.items()}
        refusal_names = {k: tr(v) for k, v in REFUSALS.items()}
        city = None
        if head:
            city = await self._city(insights, scope)
        worst: list[WaitRow] = sorted(
            (w for w in figures.waits if w.within_mark_share is not None),
            key=lambda w: (w.within_mark_share or 0.0, -w.visits),
        )[:WORST_CLINICS]
        on_map = [] if head else await insights.map(scope)
        drawn = {
            "earliest": charts.earliest(figures.earliest, tr),
            "served": charts.served(figures.served, tr),
            "load": charts.load(figures.load_by_specialty, specialty_names, tr),
            "channels": charts.channels(figures.channels, channel_names, tr),
            "waits": charts.waits(worst if not head else figures.waits, tr),
            "refusals": charts.refusals(figures.refusals, refusal_names, tr),
            "map": charts.city_map(on_map, tr) if on_map else None,
        }
        clinic_name = names.clinics[scope.clinic_id]["name"] if scope.clinic_id else None
        return page(
            request,
            "admin/dashboard.html",
            figures=figures,
            scope=scope,
            head=head,
            city=city,
            worst=worst,
            on_map=on_map,
            bands=charts.BANDS,
            band_of=charts.band_of,
            drawn=drawn,
            clinic_name=clinic_name,
            districts=sorted(names.districts),
            specialties=sorted(specialty_names.items(), key=lambda kv: kv[1]),
            specialty_names=specialty_names,
            channel_names=channel_names,
            refusal_names=refusal_names,
            chosen={
                "district": district or "",
                "specialty": specialty or "",
                "clinic": scope.clinic_id if not head else None,
            },
            mark=WAIT_MARK_MINUTES,
            percent=_percent,
            number=_number,
            signed_in_as=COOKIE,
        )

    @staticmethod
    async def _city(insights: Insights, scope: Scope) -> dict[str, Any]:
        """The city's totals over the same days and specialty, for comparison (sums over
        every clinic: no other clinic's row)."""
        city = Scope(scope.first, scope.last, None, None, scope.specialty_id)
        served = await insights.served(city)
        made = sum(d.made for d in served)
        soon = sum(d.same_or_next for d in served)
        by_specialty = await insights.load_by_specialty(city)
        offered = sum(r.offered_minutes for r in by_specialty)
        booked = sum(r.booked_minutes for r in by_specialty)
        appointments = sum(r.appointments for r in by_specialty)
        no_shows = sum(r.no_shows for r in by_specialty)
        _, waits = await insights.waits(city)
        return {
            "served_share": soon / made if made else None,
            "load": booked / offered if offered else None,
            "no_show_share": no_shows / appointments if appointments else None,
            "waits": waits,
        }
