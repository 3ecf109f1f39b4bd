"""What the prescriptions' pages (the doctor's visit, the portal, the kiosk, the pharmacy)
share in their templates: the labels of states, schedules and checks, a refusal's
sentence in the page language and the QR code drawn inline (SVG, server-side)."""

from __future__ import annotations

import re
from typing import Any, Literal

from litestar import Request
from markupsafe import Markup

from imias.channels.web.i18n import N_
from imias.channels.web.pages import lang_of, say
from imias.platform import qr
from imias.platform.problems import ProblemError
from prescriptions import REFUSALS

LABELS = {
    "active": N_("действует"),
    "dispensed": N_("отпущен"),
    "expired": N_("истёк"),
    "cancelled": N_("аннулирован"),
    "once": N_("однократный"),
    "monthly": N_("ежемесячно"),
    "quarterly": N_("ежеквартально"),
    "contraindicated": N_("противопоказано"),
    "major": N_("серьёзно"),
    "moderate": N_("умеренно"),
    "allergy": N_("аллергия"),
    "interaction": N_("взаимодействие"),
    "duplicate": N_("дублирование"),
    "max_daily_dose": N_("суточная доза"),
    "age": N_("возраст"),
}
#: States in the order the patient's page lists them.
STATES = ("active", "dispensed", "expired", "cancelled")


def rx_lang(request: Request[Any, Any, Any]) -> Literal["ru", "en"]:
    """The page language as the prescriptions' service takes it."""
    return "en" if lang_of(request) == "en" else "ru"


def refusal_text(code: str, lang: str) -> str:
    """A refusal of prescriptions by its stable code, in ``lang``."""
    found = REFUSALS.get(code)
    if found is None:
        return code
    return found[2] if lang == "en" else found[1]


def rx_sentence(exc: ProblemError, request: Request[Any, Any, Any]) -> str:
    """What a person reads of a prescriptions' refusal (both sentences are in the problem
    document); another refusal as its detail."""
    lang = lang_of(request)
    found = exc.extra.get("en" if lang == "en" else "ru")
    if isinstance(found, str):
        return found
    if exc.code in REFUSALS:
        return refusal_text(exc.code, lang)
    return exc.detail or exc.title


def qr_markup(code: str, label: str, *, scale: int = 4) -> Markup:
    """The QR code of ``code`` as inline SVG, an image named ``label``."""
    drawn = qr.svg(code, scale=scale, title=label)
    named = re.sub(r"<svg\b", '<svg role="img" focusable="false"', drawn, count=1)
    return Markup(named)  # noqa: S704 (segno's own drawing; the label is escaped by it)


def dose(value: float) -> str:
    return f"{value:g}".replace(".", ",")


def rx_helpers(request: Request[Any, Any, Any]) -> dict[str, Any]:
    lang = lang_of(request)
    return {
        "rx_label": lambda v: say(request, LABELS[v]) if v in LABELS else v,
        "refusal_text": lambda c: refusal_text(c, lang),
        "qr": qr_markup,
        "dose": dose,
        "rx_labels": {k: say(request, v) for k, v in LABELS.items()},
    }
