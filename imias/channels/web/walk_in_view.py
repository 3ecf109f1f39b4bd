"""What the registrar's and the doctor's walk-in pages share: the queue's states and
waits as a person reads them, and the refusals of :mod:`imias.booking.walk_ins` in the
pages' words."""

from __future__ import annotations

from typing import Any

from litestar import Request

from imias.channels.web.errors import sentence
from imias.channels.web.i18n import N_
from imias.channels.web.pages import say
from imias.platform.problems import ProblemError

STATES = {
    "waiting": N_("ждёт"),
    "called": N_("вызван"),
    "seen": N_("принят"),
    "left": N_("ушёл"),
}
REFUSALS = {
    "already_queued": N_("Этот пациент уже в очереди без записи на сегодня."),
    "unknown_patient": N_("Такого пациента нет."),
    "not_waiting": N_("Этот пациент уже не ждёт в очереди."),
    "queue_empty": N_("В очереди никого нет."),
    "not_duty_doctor": N_(
        "Пациентов без записи вызывают врачи, к которым приходят без направления "
        "(терапевт, врач общей практики, педиатр, стоматолог…)."
    ),
    "not_found": N_("Такой записи в очереди нет."),
    "forbidden": N_("Этого пациента вызвал другой врач."),
}


def refusal(request: Request[Any, Any, Any], exc: ProblemError) -> str:
    known = REFUSALS.get(exc.code)
    return say(request, known) if known else sentence(exc, request)


def walk_in_helpers(request: Request[Any, Any, Any]) -> dict[str, Any]:
    def waited(seconds: int | None) -> str:
        if seconds is None:
            return "—"
        return say(request, "{n} мин").format(n=seconds // 60)

    return {"states": STATES, "waited": waited}
