"""HTML building blocks of the risk report: sections, tables, cards, "not available" notes.

Every value placed in the page passes through ``esc``; numbers are right-aligned with tabular
figures (class ``num``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from loanrisk.report.fmt import esc

# China's five categories (正常, 关注, 次级, 可疑, 损失) in order of severity, as displayed.
FIVE_CATEGORIES = {
    "NORMAL": "Normal",
    "SPECIAL_MENTION": "Special mention",
    "SUBSTANDARD": "Substandard",
    "DOUBTFUL": "Doubtful",
    "LOSS": "Loss",
}


def ordered(names: Iterable[str], order: Sequence[str]) -> list[str]:
    """Distinct names in the given order, names outside it after, alphabetically."""
    present = set(names)
    return [n for n in order if n in present] + sorted(present - set(order))


def section(ident: str, title: str, body: str, lead: str = "") -> str:
    lead_html = f'<p class="lead">{lead}</p>' if lead else ""
    return f'<section id="{esc(ident)}"><h2>{esc(title)}</h2>{lead_html}{body}</section>'


def not_available(view: str, views: set[str], what: str = "") -> str:
    """Why a section is empty: the view is missing, or it has no rows for the day."""
    reason = (
        f"the <code>{esc(view)}</code> view has no rows for this date"
        if view in views
        else f"the <code>{esc(view)}</code> view is not in the warehouse"
    )
    return f'<p class="na">{esc(what) or "Not available"}: {reason}.</p>'


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[str]],
    numeric: Sequence[bool],
    foot: Sequence[str] | None = None,
    caption: str = "",
    narrow: bool = False,
) -> str:
    """A data table; cells are already-escaped HTML; ``numeric`` columns are right-aligned;
    a ``narrow`` table is as wide as its content (at least half the section)."""

    def cells(values: Sequence[str], tag: str) -> str:
        return "".join(
            f'<{tag} class="num">{v}</{tag}>' if num else f"<{tag}>{v}</{tag}>"
            for v, num in zip(values, numeric, strict=True)
        )

    head = "<thead><tr>" + cells([esc(h) for h in headers], "th") + "</tr></thead>"
    body = "<tbody>" + "".join(f"<tr>{cells(r, 'td')}</tr>" for r in rows) + "</tbody>"
    tfoot = f"<tfoot><tr>{cells(foot, 'td')}</tr></tfoot>" if foot else ""
    cap = f"<caption>{esc(caption)}</caption>" if caption else ""
    classes = "data narrow" if narrow else "data"
    return f'<table class="{classes}">{cap}{head}{body}{tfoot}</table>'


def card(label: str, value: str, sub: str = "", tone: str = "") -> str:
    """A headline figure; ``value`` and ``sub`` are already-escaped HTML."""
    tone_class = f" {tone}" if tone else ""
    sub_html = f'<div class="sub">{sub}</div>' if sub else ""
    return (
        f'<div class="card{tone_class}"><div class="label">{esc(label)}</div>'
        f'<div class="value">{value}</div>{sub_html}</div>'
    )


def pill(status: str) -> str:
    tone = {"published": "ok", "failed": "bad", "passed": "ok", "accepted": "warn"}.get(
        status, "warn"
    )
    return f'<span class="pill {tone}">{esc(status)}</span>'


def figure(svg: str, caption: str = "") -> str:
    cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
    return f'<figure class="chart-box">{svg}{cap}</figure>'
