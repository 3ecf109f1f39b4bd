"""A measure's trend as a small server-rendered SVG: the values as a polyline over the
reference band, scaled to a fixed viewBox (the page stretches it to its width). No
script: the card reads the same on a phone, in print and with JavaScript off; the page
gives the chart a text alternative and the values as a table."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from imias.channels.web.i18n import N_

WIDTH = 320
HEIGHT = 110
PAD_X = 10
PAD_Y = 10

#: UCUM units as a reader writes them (msgids: translated on the page).
UNITS = {
    "mm[Hg]": N_("мм рт. ст."),
    "/min": N_("в мин"),
    "Cel": "°C",
    "%": "%",
    "kg": N_("кг"),
    "cm": N_("см"),
    "kg/m2": N_("кг/м²"),
    "mmol/L": N_("ммоль/л"),
    "umol/L": N_("мкмоль/л"),
    "g/L": N_("г/л"),
    "10*9/L": "×10⁹/л",
    "mm/h": N_("мм/ч"),
    "m[IU]/L": N_("мМЕ/л"),
}


def unit_label(unit: str | None) -> str:
    """The msgid of a unit (the page translates it), or the UCUM code itself."""
    return UNITS.get(unit or "", unit or "")


def number(value: float | None) -> str:
    """A value as a reader writes it: no trailing zeros, a decimal comma is not used
    (the values are also typed back into forms)."""
    if value is None:
        return "—"
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True, slots=True)
class Point:
    x: float
    y: float
    at: datetime
    value: float


@dataclass(frozen=True, slots=True)
class Chart:
    width: int
    height: int
    points: list[Point]
    band: tuple[float, float] | None  # (y of the top, height) of the reference range
    lowest: float
    highest: float

    @property
    def polyline(self) -> str:
        return " ".join(f"{p.x:.1f},{p.y:.1f}" for p in self.points)


def chart(
    points: Sequence[tuple[datetime, float]], low: float | None, high: float | None
) -> Chart | None:
    """The chart of a measure's values (oldest first), or None for fewer than two."""
    if len(points) < 2:
        return None
    values = [v for _, v in points]
    bounds = values + [b for b in (low, high) if b is not None]
    lowest, highest = min(bounds), max(bounds)
    span = highest - lowest or abs(highest) or 1.0
    lowest, highest = lowest - span * 0.1, highest + span * 0.1
    first, last = points[0][0], points[-1][0]
    seconds = (last - first).total_seconds()
    inner_w, inner_h = WIDTH - 2 * PAD_X, HEIGHT - 2 * PAD_Y

    def y(value: float) -> float:
        return PAD_Y + inner_h * (highest - value) / (highest - lowest)

    out = []
    for i, (at, value) in enumerate(points):
        if seconds > 0:
            share = (at - first).total_seconds() / seconds
        else:  # all at one instant: evenly spaced
            share = i / (len(points) - 1)
        out.append(Point(PAD_X + inner_w * share, y(value), at, value))
    band = None
    if low is not None or high is not None:
        top = y(high if high is not None else highest)
        bottom = y(low if low is not None else lowest)
        band = (top, max(bottom - top, 0.0))
    return Chart(WIDTH, HEIGHT, out, band, lowest, highest)
