"""The dashboard's charts, drawn on the server as SVG by pygal (no script reaches the
browser: each chart is an ``<img>`` of a ``data:`` URI, with its figures beside it as a
table for screen readers and for copying)."""

from __future__ import annotations

import base64
from collections.abc import Callable, Sequence
from typing import Any

import pygal
from pygal.style import Style

from imias.channels.web.i18n import N_
from insights import ChannelShare, ClinicOnMap, EarliestDay, LoadRow, RefusalRow, ServedDay, WaitRow

Say = Callable[[str], str]

#: Colours of the page (base.html's accent and the bad/ok colours), darkened for contrast.
STYLE = Style(
    background="#ffffff",
    plot_background="#ffffff",
    foreground="#1f2937",
    foreground_strong="#111827",
    foreground_subtle="#6b7280",
    colors=("#1d4ed8", "#b45309", "#047857", "#b91c1c", "#6d28d9", "#0e7490", "#4b5563"),
    font_family="system-ui, sans-serif",
    title_font_size=16,
    label_font_size=12,
    major_label_font_size=12,
    legend_font_size=12,
)
#: The map's bands of days to the earliest slot, and their colours (no figure: grey).
BANDS: tuple[tuple[float, str, str], ...] = (
    (1.0, "#047857", N_("до 1 дня")),
    (3.0, "#ca8a04", N_("2–3 дня")),
    (7.0, "#c2410c", N_("4–7 дней")),
    (float("inf"), "#b91c1c", N_("больше недели")),
)


def _formatted(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.1f}"


def _config(**extra: Any) -> dict[str, Any]:
    return {
        "no_data_text": "—",
        "style": STYLE,
        "js": [],  # pygal's tooltips come from a CDN: none
        "disable_xml_declaration": True,
        "width": 760,
        "height": 360,
        "explicit_size": True,
        "show_minor_x_labels": True,
        "truncate_label": -1,
        "truncate_legend": -1,
        "include_x_axis": True,
        "value_formatter": _formatted,
        **extra,
    }


def data_uri(chart: Any) -> str:
    svg: str = chart.render(is_unicode=True)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode("ascii")


def _days(days: Sequence[Any]) -> list[str]:
    return [d.day.strftime("%d.%m") for d in days]


def earliest(days: Sequence[EarliestDay], say: Say) -> str:
    chart = pygal.Line(**_config(x_label_rotation=45, show_legend=False))
    chart.title = say(N_("Дней до ближайшего свободного времени"))
    chart.x_labels = _days(days)
    chart.add(say(N_("дней")), [d.mean_days for d in days])
    return data_uri(chart)


def served(days: Sequence[ServedDay], say: Say) -> str:
    chart = pygal.Line(**_config(x_label_rotation=45, range=(0, 100), show_legend=False))
    chart.title = say(N_("Записи на тот же или следующий день, %"))
    chart.x_labels = _days(days)
    chart.add(say(N_("доля записей")), [None if d.share is None else 100 * d.share for d in days])
    return data_uri(chart)


def load(rows: Sequence[LoadRow], names: dict[str, str], say: Say) -> str:
    chart = pygal.HorizontalBar(**_config(height=max(240, 28 * len(rows) + 80)))
    chart.title = say(N_("Занятость расписания и неявки, %"))
    chart.x_labels = [names.get(r.specialty or "", r.specialty or "") for r in rows]
    chart.add(say(N_("занято")), [None if r.load is None else 100 * r.load for r in rows])
    chart.add(
        say(N_("неявки")),
        [None if r.no_show_share is None else 100 * r.no_show_share for r in rows],
    )
    return data_uri(chart)


def channels(rows: Sequence[ChannelShare], names: dict[str, str], say: Say) -> str:
    chart = pygal.Pie(**_config(inner_radius=0.45))
    chart.title = say(N_("Каналы записи"))
    for r in rows:
        chart.add(names.get(r.channel, r.channel), r.made)
    return data_uri(chart)


def waits(rows: Sequence[WaitRow], say: Say) -> str:
    chart = pygal.HorizontalBar(**_config(height=max(240, 28 * len(rows) + 80), range=(0, 100)))
    chart.title = say(N_("Приняты в пределах 20 минут, %"))
    chart.x_labels = [r.clinic_name or "" for r in rows]
    chart.add(
        say(N_("в пределах 20 минут")),
        [None if r.within_mark_share is None else 100 * r.within_mark_share for r in rows],
    )
    return data_uri(chart)


def refusals(rows: Sequence[RefusalRow], names: dict[str, str], say: Say) -> str:
    chart = pygal.HorizontalBar(**_config(height=max(240, 28 * len(rows) + 80), show_legend=False))
    chart.title = say(N_("Отказы в записи по причинам"))
    chart.x_labels = [names.get(r.code, r.code) for r in rows]
    chart.add(say(N_("отказов")), [r.refused for r in rows])
    return data_uri(chart)


def band_of(mean_days: float | None) -> int | None:
    if mean_days is None:
        return None
    return next(i for i, (limit, _, _) in enumerate(BANDS) if mean_days <= limit)


def city_map(clinics: Sequence[ClinicOnMap], say: Say) -> str:
    """The clinics at their coordinates (longitude across, latitude up), coloured by the
    mean days to the earliest slot."""
    colours = tuple(colour for _, colour, _ in BANDS) + ("#9ca3af",)
    style = Style(**{**STYLE.to_dict(), "colors": colours})
    chart = pygal.XY(
        **_config(
            style=style,
            stroke=False,
            height=560,
            dots_size=3,
            show_x_labels=False,
            show_y_labels=False,
            show_x_guides=False,
            show_y_guides=False,
            include_x_axis=False,  # the city's own extent, not from the equator
        )
    )
    chart.title = say(N_("Поликлиники на плане города: дней до ближайшего времени"))
    groups: list[list[tuple[float, float]]] = [[] for _ in range(len(BANDS) + 1)]
    for c in clinics:
        band = band_of(c.mean_days)
        groups[len(BANDS) if band is None else band].append((c.lon, c.lat))
    for (_, _, label), points in zip(BANDS, groups, strict=False):
        chart.add(say(label), points)
    chart.add(say(N_("нет данных")), groups[-1])
    return data_uri(chart)
