"""Number formatting and escaping for the risk report: one place decides how a figure looks.

Rules: counts with thousands separators, money with two decimals and thousands separators,
rates as percentages; every text that comes from data goes through ``esc``. Formatting is pure
(no locale), so the same figures always give the same bytes.
"""

from __future__ import annotations

import html
from decimal import Decimal

NOT_AVAILABLE = "n/a"


def esc(value: object) -> str:
    """HTML-escape any value (quotes included, so it is safe inside attributes too)."""
    return html.escape("" if value is None else str(value), quote=True)


def count(value: int | None) -> str:
    """A count: ``12,345``."""
    return NOT_AVAILABLE if value is None else f"{int(value):,}"


def money(value: Decimal | float | int | None) -> str:
    """An amount: ``1,234,567.89`` (exact for Decimal, two decimals always)."""
    if value is None:
        return NOT_AVAILABLE
    return f"{Decimal(value) if isinstance(value, int) else value:,.2f}"


def money_short(value: float) -> str:
    """A compact amount for chart axes and labels: ``1.2M``, ``350K``, ``12``."""
    magnitude = abs(value)
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if magnitude >= limit:
            return f"{value / limit:.3g}{suffix}"
    return f"{value:.3g}" if magnitude >= 1 or value == 0 else f"{value:.2f}"


def count_short(value: float) -> str:
    """A compact count for chart axes: ``1.2K``, ``45``."""
    return money_short(value) if abs(value) >= 1000 else f"{value:.0f}"


def pct(value: float | None, digits: int = 2) -> str:
    """A rate as a percentage: ``0.01234`` -> ``1.23%``."""
    if value is None:
        return NOT_AVAILABLE
    return f"{float(value) * 100:.{digits}f}%"


def pct_axis(value: float) -> str:
    """Percent axis tick: as few decimals as the tick needs."""
    text = f"{value * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def share(part: Decimal | int | None, whole: Decimal | int | None) -> float | None:
    """``part / whole`` as a float, None when the whole is zero or missing."""
    if part is None or not whole:
        return None
    return float(Decimal(part) / Decimal(whole))
