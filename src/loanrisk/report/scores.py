"""The "Scores" section (score distribution against the scorecard's reference, PSI with its
verdict and 90-day trend, CSI per characteristic; ``score_monitoring``) and the "Risk actions"
section (borrowers per action and per pricing tier; ``risk_actions``)."""

from __future__ import annotations

import re

from loanrisk.domain.scorecard import Stability
from loanrisk.report import bars, charts, fmt
from loanrisk.report.data import TREND_DAYS, ReportData
from loanrisk.report.fmt import esc
from loanrisk.report.risk_data import Band, Scores
from loanrisk.report.sections import date_ticks
from loanrisk.report.tables import figure, not_available, ordered, section, table

TONES = {"stable": "ok", "watch": "warn", "shifted": "bad"}
ACTIONS = {
    "FREEZE_LINE": "credit lines frozen",
    "REDUCE_LIMIT": "limit reduced",
    "WATCHLIST": "on the watchlist",
    "BLACKLIST": "blacklisted",
    "PRICING_TIER": "priced (one tier each)",
}
TIERS = ("A", "B", "C", "D", "E")
_BAND = re.compile(r"^\[(-inf|[-\d.e+]+), (inf|[-\d.e+]+)\)$")


def verdict(index: float | None, stability: Stability) -> str:
    """How a PSI or CSI reads by the scorecard's ``stability`` policy; n/a without one."""
    return stability.reading(index) or fmt.NOT_AVAILABLE


def verdict_pill(index: float | None, stability: Stability) -> str:
    word = verdict(index, stability)
    return f'<span class="pill {TONES.get(word, "warn")}">{esc(word)}</span>'


def index(value: float | None) -> str:
    return fmt.NOT_AVAILABLE if value is None else f"{value:.3f}"


def axis(value: float) -> str:
    return f"{value:.2f}"


def band_label(label: str) -> str:
    """``[580, 600)`` -> ``580–600``, ``[-inf, 480)`` -> ``<480``, ``[640, inf)`` -> ``≥640``."""
    match = _BAND.match(label)
    if not match:
        return label
    low, high = match.groups()
    if low == "-inf":
        return "any" if high == "inf" else f"<{high}"
    return f"≥{low}" if high == "inf" else f"{low}–{high}"


def _distribution(scores: Scores, stability: Stability) -> str:
    shown = [b for b in scores.bands if b.bin_no >= 0 or b.count or b.reference_share]
    labels = [band_label(b.label) if b.bin_no >= 0 else "missing" for b in shown]
    groups = [
        bars.Bars("Reference", tuple(b.reference_share for b in shown), charts.PALETTE[7]),
        bars.Bars("Actual", tuple(b.actual_share for b in shown), charts.PALETTE[0]),
    ]
    svg = bars.grouped_bar_chart(
        "score_distribution",
        f"Score distribution of ACTIVE loans vs reference ({scores.scorecard_version})",
        labels,
        groups,
        fmt.pct_axis,
        size=(600, 270),
        show_values=len(shown) <= 6,
    )
    caption = (
        f"Share of ACTIVE loans per score band. PSI {index(scores.psi)}: "
        f"{verdict(scores.psi, stability)} ({stability.legend()})."
    )
    return figure(svg, caption)


def _csi_table(scores: Scores, stability: Stability) -> str:
    if not scores.csi:
        return '<p class="na">No characteristic rows for this date.</p>'
    rows = [
        [f"<code>{esc(name)}</code>", index(csi), verdict_pill(csi, stability), fmt.count(bins)]
        for name, csi, bins in scores.csi
    ]
    headers = ["Characteristic", "CSI", "Verdict", "Bins"]
    caption = "Characteristic stability (CSI), highest first"
    return table(headers, rows, [False, True, False, True], caption=caption)


def _reference_line(name: str, level: float, days: list, color: str) -> charts.Series:
    ends = (days[0].toordinal(), days[-1].toordinal())
    return charts.Series(name, tuple((x, level) for x in ends), color, dash="5 4")


def _trend(scores: Scores, stability: Stability) -> str:
    days = [d for d, _ in scores.trend]
    psi = [v for _, v in scores.trend]
    series = [charts.Series("PSI", tuple((d.toordinal(), v) for d, v in scores.trend), "#1f4e79")]
    watch, shift = stability.watch, stability.shift
    series.append(_reference_line(f"watch {watch:.2f}", watch, days, charts.PALETTE[5]))
    if max(psi) > watch:
        series.append(_reference_line(f"shift {shift:.2f}", shift, days, charts.PALETTE[1]))
    title = f"Score PSI, last {TREND_DAYS} days"
    svg = charts.line_chart("psi_trend", title, series, date_ticks(days), axis, size=(1040, 240))
    return figure(svg, f"Daily PSI of the score against the reference; {stability.legend()}.")


def _headline(scores: Scores, bands: list[Band], stability: Stability) -> str:
    scored = sum(b.count for b in bands)
    return (
        f'<p class="verdict">PSI <strong>{esc(index(scores.psi))}</strong> '
        f"{verdict_pill(scores.psi, stability)} · {esc(fmt.count(scored))} scored ACTIVE loans · "
        f"scorecard <code>{esc(scores.scorecard_version)}</code></p>"
    )


def scores(data: ReportData) -> str:
    """Score distribution vs reference with the day's PSI and verdict, CSI per characteristic,
    and the PSI over the last 90 days."""
    title = "Scores"
    found = data.scores
    if found is None:
        return section("scores", title, not_available("score_monitoring", data.views))
    stability = data.stability
    body = (
        _headline(found, found.bands, stability)
        + f'<div class="row">{_distribution(found, stability)}{_csi_table(found, stability)}</div>'
        + _trend(found, stability)
    )
    lead = (
        "Behaviour scores of the day's ACTIVE loans against the scorecard's reference "
        f"population; population stability index (PSI) and characteristic stability (CSI): "
        f"{stability.legend()}."
    )
    return section("scores", title, body, lead)


def _count_rows(counts: dict[str, int], order: tuple, total: int, notes: dict) -> list:
    return [
        [
            f"<code>{esc(name)}</code>"
            + (f' <span class="muted">{esc(notes[name])}</span>' if name in notes else ""),
            fmt.count(counts.get(name, 0)),
            fmt.pct(fmt.share(counts.get(name, 0), total), 1),
        ]
        for name in ordered({*order, *counts}, order)
    ]


def risk_actions(data: ReportData) -> str:
    """Borrowers per action and per pricing tier on the day."""
    title = "Risk actions"
    found = data.actions
    if found is None:
        return section("risk-actions", title, not_available("risk_actions", data.views))
    total = found.borrowers
    headers = ["Borrowers", "Share"]
    actions = table(
        ["Action", *headers],
        _count_rows(dict(found.by_action), tuple(ACTIONS), total, ACTIONS),
        [False, True, True],
        caption="Borrowers by action",
    )
    tiers = table(
        ["Pricing tier", *headers],
        _count_rows(dict(found.by_tier), TIERS, total, {"A": "best", "E": "worst"}),
        [False, True, True],
        caption="Borrowers by pricing tier",
    )
    lead = (
        f"What risk asks the lending platform to do today, for the {esc(fmt.count(total))} "
        "borrowers with an ACTIVE loan; a borrower can have several actions. Share of those "
        "borrowers."
    )
    return section("risk-actions", title, f'<div class="row">{actions}{tiers}</div>', lead)
