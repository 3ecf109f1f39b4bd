"""What the record's pages (the doctor's visit, the patient's card) share in their
templates: the trend chart, units and numbers as a reader writes them, specialties'
names, the protocol's section titles and the labels of coded choices, in the page
language."""

from __future__ import annotations

from typing import Any

from litestar import Request

from ehr import SECTION_TITLES, SECTIONS
from imias.channels.web.chart import chart, number, unit_label
from imias.channels.web.i18n import N_
from imias.channels.web.pages import lang_of, say

# The labels of a diagnosis's choices.
LABELS = {
    "primary": N_("основной"),
    "secondary": N_("сопутствующий"),
    "acute": N_("острое"),
    "chronic": N_("хроническое"),
    "confirmed": N_("подтверждён"),
    "provisional": N_("предварительный"),
    "mild": N_("лёгкая"),
    "moderate": N_("средняя"),
    "severe": N_("тяжёлая"),
    "low": N_("низкий"),
    "high": N_("высокий"),
    "unable-to-assess": N_("не оценить"),
}


def record_helpers(request: Request[Any, Any, Any]) -> dict[str, Any]:
    """What the record's templates use: the chart, units, numbers, specialties' names,
    the sections' titles and the labels, in the page language."""
    lang = lang_of(request)
    directory = request.app.state.engine.directory

    def specialty(code: str | None) -> str:
        found = directory.by_code.get(code or "")
        if found is None:
            return code or ""
        return str(found.name_ru if lang == "ru" else found.name_en)

    return {
        "chart": chart,
        "zone": request.app.state.engine.zone,
        "num": number,
        "unit": lambda u: say(request, unit_label(u)) if unit_label(u) else "",
        "specialty": specialty,
        "sections": [(s, SECTION_TITLES[s][0 if lang == "ru" else 1]) for s in SECTIONS],
        "label": lambda v: say(request, LABELS[v]) if v in LABELS else v,
    }
