"""The risk report's scorecard and IFRS 9 figures for one business date: ECL by product and
stage (``loan_risk``), score distribution, PSI and CSI (``score_monitoring``) and the day's risk
actions (``risk_actions``).

Same rules as ``data.py``: read-only connection, parameterised SQL, every query ordered; a view
that is absent leaves its figures ``None`` and the section says "not available".
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

RISK_VIEWS = ("loan_risk", "score_monitoring", "risk_actions")


@dataclass(frozen=True)
class Ecl:
    """Loss allowance of the day's non-closed loans (``ecl_stage`` set)."""

    loans: int
    ead: Decimal
    ecl: Decimal


@dataclass(frozen=True)
class EclCell:
    product: str
    stage: int
    loans: int
    ead: Decimal
    ecl: Decimal


@dataclass(frozen=True)
class Band:
    """One score band (or feature bin) of the day against the scorecard's reference."""

    bin_no: int
    label: str
    count: int
    reference_share: float
    actual_share: float
    contribution: float


@dataclass(frozen=True)
class Scores:
    scorecard_version: str
    psi: float
    bands: list[Band]
    csi: list[tuple[str, float, int]]  # characteristic, CSI, bins; highest CSI first
    trend: list[tuple[dt.date, float]]


@dataclass(frozen=True)
class Actions:
    by_action: list[tuple[str, int]]
    by_tier: list[tuple[str, int]]
    borrowers: int


# The loss allowance of the loans on the book (DESIGN.md §5 v2: a written-off loan has none).
ECL_SQL = """
SELECT count(*), coalesce(sum(ead), 0), coalesce(sum(ecl), 0)
FROM loan_risk WHERE snapshot_date = ? AND ecl_stage IS NOT NULL AND account_status = 'ACTIVE'
"""
ECL_CELLS_SQL = """
SELECT product_code, ecl_stage, count(*), coalesce(sum(ead), 0), coalesce(sum(ecl), 0)
FROM loan_risk WHERE snapshot_date = ? AND ecl_stage IS NOT NULL AND account_status = 'ACTIVE'
GROUP BY product_code, ecl_stage ORDER BY product_code, ecl_stage
"""
BANDS_SQL = """
SELECT scorecard_version, stability_index, bin_no, bin, count, reference_share, actual_share,
       contribution
FROM score_monitoring WHERE snapshot_date = ? AND characteristic = 'score'
ORDER BY bin_no, scorecard_version
"""
CSI_SQL = """
SELECT characteristic, max(stability_index), count(*)
FROM score_monitoring WHERE snapshot_date = ? AND characteristic <> 'score'
GROUP BY characteristic ORDER BY 2 DESC, 1
"""
PSI_TREND_SQL = """
SELECT snapshot_date, max(stability_index)
FROM score_monitoring WHERE characteristic = 'score' AND snapshot_date BETWEEN ? AND ?
GROUP BY snapshot_date ORDER BY snapshot_date
"""
ACTIONS_SQL = """
SELECT action, count(DISTINCT borrower_id)
FROM risk_actions WHERE snapshot_date = ? GROUP BY action ORDER BY action
"""
TIERS_SQL = """
SELECT coalesce(action_value, '?'), count(DISTINCT borrower_id)
FROM risk_actions WHERE snapshot_date = ? AND action = 'PRICING_TIER'
GROUP BY 1 ORDER BY 1
"""
BORROWERS_SQL = "SELECT count(DISTINCT borrower_id) FROM risk_actions WHERE snapshot_date = ?"


def ecl_total(con, day: dt.date) -> Ecl | None:
    row = con.execute(ECL_SQL, [day]).fetchall()[0]
    return Ecl(*row) if row[0] else None


def ecl_cells(con, day: dt.date) -> list[EclCell] | None:
    rows = con.execute(ECL_CELLS_SQL, [day]).fetchall()
    return [EclCell(*row) for row in rows] or None


def scores(con, day: dt.date, trend_days: int) -> Scores | None:
    """The day's score bands, PSI and CSIs, and the PSI of the trend_days ending ``day``."""
    rows = con.execute(BANDS_SQL, [day]).fetchall()
    if not rows:
        return None
    csi = con.execute(CSI_SQL, [day]).fetchall()
    start = day - dt.timedelta(days=trend_days - 1)
    trend = con.execute(PSI_TREND_SQL, [start, day]).fetchall()
    bands = [Band(*row[2:]) for row in rows]
    return Scores(rows[0][0], rows[0][1], bands, csi, trend)


def actions(con, day: dt.date) -> Actions | None:
    by_action = con.execute(ACTIONS_SQL, [day]).fetchall()
    if not by_action:
        return None
    by_tier = con.execute(TIERS_SQL, [day]).fetchall()
    (borrowers,) = con.execute(BORROWERS_SQL, [day]).fetchall()[0]
    return Actions(by_action, by_tier, borrowers)
