"""A child's illness episode in the doctor's visit (the school's absence note): open one
from a day, close an open one on a day. Plain forms (no script needed); every call goes
through :class:`ehr.illness.IllnessEpisodes` (its access rule, audited there); a refusal
comes back to the visit's section with its sentence."""

from __future__ import annotations

from datetime import date
from typing import Any

from litestar import Controller, MediaType, Request, post
from litestar.params import FromPath

from ehr import Encounter, illness
from imias.channels.doctor.pages import COOKIE, PATH
from imias.channels.doctor.visit import own_encounter, visit_url
from imias.channels.web.errors import PAGE_ERRORS
from imias.channels.web.i18n import N_
from imias.channels.web.pages import form_of, redirect
from imias.identity import allow, principal_of
from imias.platform.problems import ProblemError
from imias.registry import patients

ILLNESS = allow(
    "doctor",
    data="doctor: a child's illness episode opened in her own visit, closed for a patient "
    "whose record she may read",
    cookie=COOKIE,
    sign_in=PATH,
)
#: A refusal's code -> its sentence on the visit page.
REFUSALS: dict[str, str] = {
    "starts_in_future": N_("Болезнь начинается сегодня или раньше."),
    "starts_too_early": N_("Болезнь начинается не раньше чем за 30 дней до сегодня."),
    "ends_before_start": N_("Последний день болезни не раньше первого."),
    "ends_in_future": N_("Последний день болезни — сегодня или раньше."),
    "already_closed": N_("Этот случай болезни уже закрыт."),
    "episode_open": N_("У ребёнка уже есть открытый случай болезни: сначала закройте его."),
    "not_a_child": N_("Справка для школы ведётся только для детей до 18 лет."),
    "bad_date": N_("Укажите дату."),
}


def illness_of(request: Request[Any, Any, Any]) -> illness.IllnessEpisodes:
    service: illness.IllnessEpisodes = request.app.state.illness
    return service


async def illness_section(request: Request[Any, Any, Any], encounter: Encounter) -> dict[str, Any]:
    """What the visit's illness section shows: a child's episodes (an audited read); for
    an adult, nothing (the section is not shown)."""
    service = illness_of(request)
    if not await patients.minors(service.pool, [encounter.patient_id], service.today()):
        return {"illness_shown": False}
    episodes = await service.of_patient(principal_of(request), encounter.patient_id)
    code = request.query_params.get("illness", "")
    return {
        "illness_shown": True,
        "episodes": episodes,
        "illness_error": REFUSALS.get(code),
        "illness_done": code in ("opened", "closed"),
    }


def _day(form: dict[str, str], name: str) -> date | None:
    try:
        return date.fromisoformat(form.get(name, "").strip())
    except ValueError:
        return None


def _back(encounter: Encounter, code: str) -> Any:
    return redirect(visit_url(encounter) + f"?illness={code}#illness")


class DoctorIllnessController(Controller):
    path = PATH
    tags = ["doctor"]
    include_in_schema = False
    exception_handlers = PAGE_ERRORS

    @post(
        "/visits/{encounter_id:int}/illness",
        opt=ILLNESS,
        operation_id="doctorOpenIllness",
        media_type=MediaType.HTML,
        status_code=303,
    )
    async def open_episode(
        self, request: Request[Any, Any, Any], encounter_id: FromPath[int]
    ) -> Any:
        form = await form_of(request)
        encounter = await own_encounter(request, encounter_id)
        day = _day(form, "starts_on")
        if day is None:
            return _back(encounter, "bad_date")
        try:
            await illness_of(request).open(
                principal_of(request), encounter_id, illness.EpisodeOpen(starts_on=day)
            )
        except ProblemError as exc:
            if exc.code not in REFUSALS:
                raise
            return _back(encounter, exc.code)
        return _back(encounter, "opened")

    @post(
        "/visits/{encounter_id:int}/illness/{episode_id:int}/close",
        opt=ILLNESS,
        operation_id="doctorCloseIllness",
        media_type=MediaType.HTML,
        status_code=303,
    )
    async def close_episode(
        self,
        request: Request[Any, Any, Any],
        encounter_id: FromPath[int],
        episode_id: FromPath[int],
    ) -> Any:
        form = await form_of(request)
        encounter = await own_encounter(request, encounter_id)
        day = _day(form, "ends_on")
        if day is None:
            return _back(encounter, "bad_date")
        try:
            await illness_of(request).close(
                principal_of(request), encounter.patient_id, episode_id,
                illness.EpisodeClose(ends_on=day),
            )  # fmt: skip
        except ProblemError as exc:
            if exc.code not in REFUSALS:
                raise
            return _back(encounter, exc.code)
        return _back(encounter, "closed")
