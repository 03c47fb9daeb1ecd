"""Grouped bar chart for the risk report: several series side by side per category (ECL by stage
and product, actual vs reference share per score band).

Same conventions as ``charts.py``: an ``<svg data-chart="name">`` with a ``<title>``, a
``<title>`` tooltip on every bar, axes from zero, coordinates rounded to 0.1 px.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from loanrisk.report.charts import (
    AXIS,
    Formatter,
    _n,
    _open,
    _scale,
    _y_axis,
    empty_chart,
    nice_ticks,
)
from loanrisk.report.fmt import esc

LEGEND_CHAR = 6.6  # px per character of legend text, to place the next legend entry


@dataclass(frozen=True)
class Bars:
    """One series: a value per category (same order as the chart's labels)."""

    name: str
    values: tuple[float, ...]
    color: str


def _legend(groups: Sequence[Bars], x: float, y: float) -> list[str]:
    parts = []
    for group in groups:
        parts.append(
            f'<rect x="{_n(x)}" y="{_n(y - 5)}" width="10" height="10" fill="{group.color}"/>'
            f'<text x="{_n(x + 14)}" y="{_n(y)}" dy="0.32em" class="legend">'
            f"{esc(group.name)}</text>"
        )
        x += 28 + LEGEND_CHAR * len(group.name)
    return parts


def _mark(x: float, width: float, y, tip: str, value: float, color: str, fmt: Formatter) -> str:
    """One bar from the zero line with its tooltip."""
    y0, y1 = sorted((y(0.0), y(value)))
    height = max(y1 - y0, 0.5 if value else 0.0)
    return (
        f'<rect x="{_n(x)}" y="{_n(y0)}" width="{_n(width)}" height="{_n(height)}" '
        f'fill="{color}" rx="1"><title>{esc(tip)}: {esc(fmt(value))}</title></rect>'
    )


def _value(x: float, y, value: float, fmt: Formatter) -> str:
    above = y(max(value, 0.0)) - 4 if value >= 0 else y(value) + 12
    return (
        f'<text x="{_n(x)}" y="{_n(above)}" text-anchor="middle" class="value">'
        f"{esc(fmt(value))}</text>"
    )


def grouped_bar_chart(
    name: str,
    title: str,
    labels: Sequence[str],
    groups: Sequence[Bars],
    fmt: Formatter,
    size: tuple[int, int] = (520, 260),
    show_values: bool = True,
) -> str:
    """Per label, one bar per group side by side; a legend on top; values above the bars
    unless ``show_values`` is off (many narrow bars: the tooltips carry them)."""
    values = [v for g in groups for v in g.values]
    if not labels or not values:
        return empty_chart(name, title, width=size[0])
    width, height = size
    left, right, top, bottom = 58, 12, 36, 30
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values))
    y = _scale((ticks[0], ticks[-1]), (height - bottom, top))
    band = (width - left - right) / len(labels)
    bar = band * 0.8 / len(groups)
    parts = [_open(name, title, width, height), *_y_axis(ticks, y, left, width - right, fmt)]
    parts += _legend(groups, left, 12)
    for i, label in enumerate(labels):
        start = left + band * (i + 0.1)
        for j, group in enumerate(groups):
            value = group.values[i]
            tip = f"{group.name}, {label}"
            parts.append(_mark(start + bar * j, bar, y, tip, value, group.color, fmt))
            if show_values:
                parts.append(_value(start + bar * (j + 0.5), y, value, fmt))
        parts.append(
            f'<text x="{_n(left + band * (i + 0.5))}" y="{height - bottom + 16}" '
            f'text-anchor="middle" class="label">{esc(label)}</text>'
        )
    zero = _n(y(0.0))
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{zero}" y2="{zero}" stroke="{AXIS}"/>'
    )
    return "".join(parts) + "</svg>"
