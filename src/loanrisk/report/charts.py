"""Inline SVG charts drawn in Python: bar chart, multi-series line chart, heatmap.

No JavaScript, fonts or images: every chart is an ``<svg data-chart="name">`` with a ``<title>``
(its accessible name) and a ``<title>`` on each mark, which browsers show as a tooltip. Axes
start at zero when the data allow, domains widen to "nice" ticks, and empty, single-point,
zero and negative data all draw without dividing by zero. Coordinates are rounded to 0.1 px so
the same figures always give the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from loanrisk.report.fmt import esc

Formatter = Callable[[float], str]

# Colour-blind-safe qualitative palette (Okabe-Ito, darkened for text contrast on white).
PALETTE = ("#1f4e79", "#d55e00", "#009e73", "#cc79a7", "#0072b2", "#e69f00", "#56b4e9", "#555555")
AXIS = "#6b7280"
GRID = "#e5e7eb"


@dataclass(frozen=True)
class Series:
    """One line: ``points`` are (x, y); a None y breaks the line; ``dash`` (an SVG
    dasharray) marks a reference line, drawn without dots."""

    name: str
    points: tuple[tuple[float, float | None], ...]
    color: str
    dash: str = ""


def _n(value: float) -> str:
    """A coordinate with one decimal, never ``-0.0``."""
    text = f"{value:.1f}"
    return "0.0" if text == "-0.0" else text


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Round tick values covering [low, high] with a 1/2/2.5/5 x 10^k step."""
    if not (math.isfinite(low) and math.isfinite(high)):
        low, high = 0.0, 1.0
    low, high = min(low, high), max(low, high)
    if high == low:
        high = low + (abs(low) or 1.0)
    raw = (high - low) / max(target, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw * (1 - 1e-9))
    start = math.floor(low / step + 1e-9) * step
    stop = math.ceil(high / step - 1e-9) * step
    steps = round((stop - start) / step)
    return [round(start + i * step, 12) + 0.0 for i in range(steps + 1)]


def _scale(domain: tuple[float, float], pixels: tuple[float, float]) -> Callable[[float], float]:
    d0, d1 = domain
    p0, p1 = pixels
    span = (d1 - d0) or 1.0
    return lambda v: p0 + (v - d0) / span * (p1 - p0)


def _open(name: str, title: str, width: int, height: int) -> str:
    ident = esc(f"chart-{name}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" data-chart="{esc(name)}" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-labelledby="{ident}"><title id="{ident}">{esc(title)}</title>'
    )


def empty_chart(name: str, title: str, message: str = "No data", width: int = 480) -> str:
    """A placeholder chart: the same frame, with the message in the middle."""
    return (
        _open(name, title, width, 80)
        + f'<text x="{width // 2}" y="44" text-anchor="middle" fill="{AXIS}">{esc(message)}</text>'
        + "</svg>"
    )


def _y_axis(ticks: list[float], y: Callable, x0: float, x1: float, fmt: Formatter) -> list[str]:
    parts = []
    for tick in ticks:
        py = _n(y(tick))
        parts.append(f'<line x1="{_n(x0)}" x2="{_n(x1)}" y1="{py}" y2="{py}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{_n(x0 - 6)}" y="{py}" dy="0.32em" text-anchor="end" '
            f'class="tick">{esc(fmt(tick))}</text>'
        )
    return parts


def bar_chart(
    name: str,
    title: str,
    labels: Sequence[str],
    values: Sequence[float],
    fmt: Formatter,
    color: str = PALETTE[0],
    size: tuple[int, int] = (520, 260),
) -> str:
    """Vertical bars, one per label, value printed above each bar (below when negative)."""
    if not labels:
        return empty_chart(name, title, width=size[0])
    width, height = size
    left, right, top, bottom = 58, 12, 22, 30
    ticks = nice_ticks(min(0.0, *values), max(0.0, *values))
    y = _scale((ticks[0], ticks[-1]), (height - bottom, top))
    band = (width - left - right) / len(labels)
    parts = [_open(name, title, width, height), *_y_axis(ticks, y, left, width - right, fmt)]
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        x = left + band * i + band * 0.15
        parts.append(_bar(x, band * 0.7, y, (label, value), fmt, color, height - bottom + 16))
    zero = _n(y(0.0))
    parts.append(
        f'<line x1="{left}" x2="{width - right}" y1="{zero}" y2="{zero}" stroke="{AXIS}"/></svg>'
    )
    return "".join(parts)


def _bar(
    x: float,
    width: float,
    y: Callable,
    item: tuple[str, float],
    fmt: Formatter,
    color: str,
    label_y: float,
) -> str:
    """One bar from the zero line, its value above (below when negative), its label under."""
    label, value = item
    y0, y1 = sorted((y(0.0), y(value)))
    bar_height = max(y1 - y0, 0.5 if value else 0.0)
    cx = _n(x + width / 2)
    value_y = y0 - 4 if value >= 0 else y1 + 12
    return (
        f'<rect x="{_n(x)}" y="{_n(y0)}" width="{_n(width)}" height="{_n(bar_height)}" '
        f'fill="{color}" rx="1.5"><title>{esc(label)}: {esc(fmt(value))}</title></rect>'
        f'<text x="{cx}" y="{_n(value_y)}" text-anchor="middle" class="value">'
        f"{esc(fmt(value))}</text>"
        f'<text x="{cx}" y="{_n(label_y)}" text-anchor="middle" class="label">{esc(label)}</text>'
    )


def _segments(points: Sequence[tuple[float, float | None]]) -> list[list[tuple[float, float]]]:
    """Split a series at missing values."""
    runs: list[list[tuple[float, float]]] = [[]]
    for x, value in points:
        if value is None:
            runs.append([])
        else:
            runs[-1].append((x, value))
    return [run for run in runs if run]


def _legend(series: Sequence[Series], x: float, top: float) -> list[str]:
    parts = []
    for i, line in enumerate(series):
        py = top + 16 * i
        parts.append(
            f'<line x1="{_n(x)}" x2="{_n(x + 16)}" y1="{_n(py)}" y2="{_n(py)}" '
            f'stroke="{line.color}" stroke-width="2.5"{_dash(line)}/>'
            f'<text x="{_n(x + 22)}" y="{_n(py)}" dy="0.32em" class="legend">'
            f"{esc(line.name)}</text>"
        )
    return parts


def _dash(line: Series) -> str:
    return f' stroke-dasharray="{esc(line.dash)}"' if line.dash else ""


def _line_marks(line: Series, x: Callable, y: Callable, dots: bool) -> list[str]:
    parts = []
    for run in _segments(line.points):
        coords = " ".join(f"{_n(x(px))},{_n(y(py))}" for px, py in run)
        if len(run) > 1:
            parts.append(
                f'<polyline points="{coords}" fill="none" stroke="{line.color}" '
                f'stroke-width="2" stroke-linejoin="round"{_dash(line)}>'
                f"<title>{esc(line.name)}</title></polyline>"
            )
        if (dots and not line.dash) or len(run) == 1:
            parts.extend(
                f'<circle cx="{_n(x(px))}" cy="{_n(y(py))}" r="{3 if len(run) == 1 else 2}" '
                f'fill="{line.color}"><title>{esc(line.name)}</title></circle>'
                for px, py in run
            )
    return parts


def line_chart(
    name: str,
    title: str,
    series: Sequence[Series],
    x_ticks: Sequence[tuple[float, str]],
    y_fmt: Formatter,
    size: tuple[int, int] = (1040, 300),
    legend_width: int = 120,
) -> str:
    """Several lines on shared axes, a legend on the right; single points draw as dots."""
    drawn = [s for s in series if any(v is not None for _, v in s.points)]
    if not drawn:
        return empty_chart(name, title, width=size[0])
    width, height = size
    left, right, top, bottom = 58, 12 + legend_width, 14, 30
    xs = [px for s in drawn for px, v in s.points if v is not None]
    ys = [v for s in drawn for _, v in s.points if v is not None]
    ticks = nice_ticks(min(0.0, *ys), max(0.0, *ys))
    x_low, x_high = min(xs), max(xs)
    if x_low == x_high:
        x_low, x_high = x_low - 1, x_high + 1
    x = _scale((x_low, x_high), (left + 6, width - right - 6))
    y = _scale((ticks[0], ticks[-1]), (height - bottom, top))
    parts = [_open(name, title, width, height), *_y_axis(ticks, y, left, width - right, y_fmt)]
    for tick, label in x_ticks:
        if x_low <= tick <= x_high:
            parts.append(
                f'<text x="{_n(x(tick))}" y="{height - bottom + 16}" text-anchor="middle" '
                f'class="tick">{esc(label)}</text>'
            )
    dots = max(len(s.points) for s in drawn) <= 40
    for line in drawn:
        parts.extend(_line_marks(line, x, y, dots))
    parts.extend(_legend(drawn, width - legend_width + 4, top + 6))
    return "".join(parts) + "</svg>"


def heat_color(value: float) -> str:
    """White (0) to deep blue (1), clamped; a perceptually even ramp."""
    t = min(max(value, 0.0), 1.0) ** 0.6
    low, high = (247, 251, 255), (8, 48, 107)
    rgb = (round(a + (b - a) * t) for a, b in zip(low, high, strict=True))
    return "#" + "".join(f"{c:02x}" for c in rgb)


def heatmap(
    name: str,
    title: str,
    rows: Sequence[str],
    cols: Sequence[str],
    cells: dict[tuple[str, str], float],
    fmt: Formatter,
    axis_titles: tuple[str, str] = ("from", "to"),
) -> str:
    """A rows x cols grid coloured by value in [0, 1]; empty cells grey with a dash."""
    if not rows or not cols:
        return empty_chart(name, title)
    cell_w, cell_h, left, top = 64, 30, 150, 50
    width, height = left + cell_w * len(cols) + 8, top + cell_h * len(rows) + 8
    parts = [
        _open(name, title, width, height),
        f'<text x="{left}" y="14" class="axis-title">{esc(axis_titles[1])} →</text>',
        f'<text x="{left - 10}" y="{top - 10}" text-anchor="end" class="axis-title">'
        f"{esc(axis_titles[0])} ↓</text>",
    ]
    for j, col in enumerate(cols):
        parts.append(
            f'<text x="{_n(left + cell_w * (j + 0.5))}" y="{top - 10}" text-anchor="middle" '
            f'class="label">{esc(col)}</text>'
        )
    for i, row in enumerate(rows):
        py = top + cell_h * i
        parts.append(
            f'<text x="{left - 8}" y="{_n(py + cell_h / 2)}" dy="0.32em" text-anchor="end" '
            f'class="label">{esc(row)}</text>'
        )
        for j, col in enumerate(cols):
            parts.append(_cell(left + cell_w * j, py, (cell_w, cell_h), (row, col), cells, fmt))
    return "".join(parts) + "</svg>"


def _cell(
    px: float,
    py: float,
    size: tuple[int, int],
    key: tuple[str, str],
    cells: dict[tuple[str, str], float],
    fmt: Formatter,
) -> str:
    value = cells.get(key)
    fill = "#f3f4f6" if value is None else heat_color(value)
    ink = "#ffffff" if value is not None and value > 0.45 else "#1f2937"
    text = "–" if value is None else fmt(value)
    tip = f"{key[0]} → {key[1]}: {text}"
    return (
        f'<rect x="{_n(px)}" y="{_n(py)}" width="{size[0] - 2}" height="{size[1] - 2}" '
        f'fill="{fill}"><title>{esc(tip)}</title></rect>'
        f'<text x="{_n(px + size[0] / 2 - 1)}" y="{_n(py + size[1] / 2 - 1)}" dy="0.32em" '
        f'text-anchor="middle" class="cell" fill="{ink}">{esc(text)}</text>'
    )
