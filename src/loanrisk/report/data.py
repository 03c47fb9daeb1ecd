"""The risk report's figures for one business date, read from ``warehouse.duckdb``.

Read-only connection, parameterised SQL, every query ordered, so the same warehouse gives the
same figures. A section whose view is absent (first day, mart not built yet) is ``None`` and the
report says "not available" for it; the scorecard and ECL views (``risk_data.py``) likewise.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import Decimal

from loanrisk.domain.classification import ClassificationConfig
from loanrisk.domain.scorecard import Stability
from loanrisk.domain.sql import quote
from loanrisk.errors import InputFileError
from loanrisk.lake import scope, vintage_cache
from loanrisk.lake.storage import Lake, literal_glob
from loanrisk.lake.warehouse import connect_warehouse
from loanrisk.report import risk_data, write_offs
from loanrisk.report.risk_data import Actions, Ecl, EclCell, Scores

TREND_DAYS = 90
MAX_VINTAGES = 12
CURE_MONTHS = 6
FLOW_MONTHS = 3


@dataclass(frozen=True)
class Headline:
    active_loans: int
    active_balance: Decimal
    loans: int
    written_off: int
    closed: int


@dataclass(frozen=True)
class Portfolio:
    active_outstanding: Decimal | None
    npl_outstanding: Decimal | None
    npl_ratio: float | None
    par1: float | None
    par30: float | None
    par90: float | None


@dataclass(frozen=True)
class Run:
    status: str
    rows_in: int | None
    rows_valid: int | None
    rows_quarantined: int | None
    warnings: dict
    gates: list
    failure: dict | None


@dataclass(frozen=True)
class BucketOrder:
    """The aging buckets as the report lists them (the classification policy): ``chain``, in
    roll order ending with written-off (``ClassificationConfig.roll_chain``), then ``closed``."""

    chain: tuple[str, ...]
    closed: str

    @classmethod
    def of(cls, policy: ClassificationConfig) -> BucketOrder:
        return cls(policy.roll_chain, policy.closed_bucket)

    @property
    def names(self) -> tuple[str, ...]:
        return (*self.chain, self.closed)


@dataclass
class ReportData:
    """Everything the page shows; a None (or missing key) section is "not available"."""

    business_date: dt.date
    stability: Stability  # how the score's PSI and the CSIs read (the scorecard's policy)
    bucket_order: BucketOrder  # how the aging buckets are listed (the classification policy)
    headline: Headline | None = None
    portfolio: Portfolio | None = None
    ecl: Ecl | None = None
    ecl_cells: list[EclCell] | None = None
    scores: Scores | None = None
    actions: Actions | None = None
    buckets: list[tuple[str, int, Decimal]] | None = None
    five_category: list[tuple[str, int, Decimal]] | None = None
    probation: tuple[int, int] | None = None  # loans held by npl / stage-3 probation on the day
    roll_rates: list[tuple] | None = None
    par_trend: list[tuple[dt.date, float | None, float | None, float | None]] | None = None
    vintages: list[tuple[dt.date, int, float | None]] | None = None
    cure_rates: list[tuple] | None = None
    flow_rates: list[tuple] | None = None
    write_offs: list[tuple] | None = None  # reg_write_offs of the day (report/write_offs.py)
    run: Run | None = None
    views: set[str] = field(default_factory=set)


def _columns(con, view: str) -> set[str]:
    rows = con.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY 1", [view]
    ).fetchall()
    return {name for (name,) in rows}


def _headline(con, day: dt.date) -> Headline | None:
    row = con.execute(
        """
        SELECT count(*) FILTER (WHERE account_status = 'ACTIVE'),
               coalesce(sum(outstanding_principal) FILTER (WHERE account_status = 'ACTIVE'), 0),
               count(*),
               count(*) FILTER (WHERE account_status = 'WRITTEN_OFF'),
               count(*) FILTER (WHERE account_status = 'CLOSED')
        FROM loan_aging WHERE snapshot_date = ?
        """,
        [day],
    ).fetchall()[0]
    return Headline(*row) if row[2] else None


def _portfolio(con, day: dt.date) -> Portfolio | None:
    rows = con.execute(
        "SELECT active_outstanding, npl_outstanding, npl_ratio, par1, par30, par90 "
        "FROM portfolio_summary "
        "WHERE snapshot_date = ? AND product_code = 'ALL' AND aging_bucket = 'ALL'",
        [day],
    ).fetchall()
    return Portfolio(*rows[0]) if rows else None


def _rows(con, sql: str, params: list) -> list[tuple] | None:
    """All rows of an ordered query; None when there are none (the section is not available)."""
    rows = con.execute(sql, params).fetchall()
    return rows or None


BUCKETS_SQL = """
SELECT aging_bucket, count(*), coalesce(sum(outstanding_principal), 0)
FROM loan_aging WHERE snapshot_date = ? GROUP BY aging_bucket ORDER BY aging_bucket
"""
# A balance-sheet figure: the loans on the book only (DESIGN.md §5 v2; a written-off loan keeps
# its LOSS label in loan_aging but is derecognised).
FIVE_CATEGORY_SQL = """
SELECT five_category, count(*), coalesce(sum(outstanding_principal), 0)
FROM loan_aging WHERE snapshot_date = ? AND five_category IS NOT NULL
  AND account_status = 'ACTIVE'
GROUP BY five_category ORDER BY five_category
"""
# DESIGN.md §5 v2 upgrade probation: loans whose class or stage is held after their arrears cleared
PROBATION_SQL = """
SELECT count(*) FILTER (WHERE npl_probation), count(*) FILTER (WHERE stage3_probation)
FROM loan_aging WHERE snapshot_date = ? AND account_status = 'ACTIVE'
"""
ROLL_SQL = """
SELECT from_bucket, to_bucket, previous_date, loans, balance, loans_share, balance_share
FROM roll_rates WHERE snapshot_date = ? ORDER BY from_bucket, to_bucket
"""
TREND_SQL = """
SELECT snapshot_date, par1, par30, par90 FROM portfolio_summary
WHERE product_code = 'ALL' AND aging_bucket = 'ALL' AND snapshot_date BETWEEN ? AND ?
ORDER BY snapshot_date
"""
# A vintage's point at months_on_book m is observable by the business date only when the
# origination month plus m months has started by then, so a rebuilt past report shows the past.
VINTAGE_SQL = """
WITH curves AS (
    SELECT CAST(vintage_month AS DATE) AS vintage_month, months_on_book, ever_30_rate
    FROM vintage_curves)
SELECT vintage_month, months_on_book, ever_30_rate FROM curves
WHERE vintage_month + to_months(months_on_book) <= ? AND vintage_month IN (
    SELECT DISTINCT vintage_month FROM curves WHERE vintage_month <= ?
    ORDER BY vintage_month DESC LIMIT ?)
ORDER BY vintage_month, months_on_book
"""
CURE_SQL = """
WITH cures AS (
    SELECT CAST(entry_month AS DATE) AS entry_month, product_code, cure_window_days,
           loans_entered, loans_observed, loans_cured, cure_rate
    FROM cure_rates)
SELECT * FROM cures WHERE entry_month IN (
    SELECT DISTINCT entry_month FROM cures WHERE entry_month <= ?
    ORDER BY entry_month DESC LIMIT ?)
ORDER BY entry_month DESC, product_code
"""
FLOW_SQL = """
WITH flows AS (
    SELECT CAST(month_end AS DATE) AS month_end, from_bucket, to_bucket, from_balance,
           rolled_balance, roll_rate, loss_rate
    FROM flow_rates)
SELECT * FROM flows WHERE month_end IN (
    SELECT DISTINCT month_end FROM flows WHERE month_end <= ?
    ORDER BY month_end DESC LIMIT ?)
ORDER BY month_end DESC, from_bucket, to_bucket NULLS LAST
"""


def _json(value: object, default: object) -> object:
    if value is None:
        return default
    return json.loads(value) if isinstance(value, str) else value


def _run(con, day: dt.date) -> Run | None:
    has_failure = "failure" in _columns(con, "pipeline_runs")
    failure = "failure" if has_failure else "NULL"
    rows = con.execute(
        "SELECT status, rows_in, rows_valid, rows_quarantined, warnings, gates, "
        f"{failure} FROM pipeline_runs WHERE snapshot_date = ? ORDER BY status",
        [day],
    ).fetchall()
    if not rows:
        return None
    status, rows_in, valid, quarantined, warnings, gates, failed = rows[0]
    return Run(
        status,
        rows_in,
        valid,
        quarantined,
        dict(sorted(_json(warnings, {}).items())),
        list(_json(gates, [])),
        _json(failed, None),
    )


def load_report_data(
    lake: Lake, day: dt.date, stability: Stability, classification: ClassificationConfig
) -> ReportData:
    """Read every section that the warehouse can answer for ``day``, each from only the history
    it shows (``loanrisk.lake.scope``), past months from their stored extracts
    (``loanrisk.lake.vintage_cache``); the buckets listed in ``classification``'s order."""
    warehouse = lake.warehouse
    if not warehouse.exists():
        raise InputFileError(f"{warehouse}: warehouse not found; run the pipeline first")
    with connect_warehouse(lake) as con:
        views = scope.relations(con)
        order = BucketOrder.of(classification)
        data = ReportData(business_date=day, stability=stability, bucket_order=order, views=views)
        scope.snapshot_runs(con, views, lake, day)
        scope.limit_history(con, views, lake, day, day, scope.DAY_TABLES)
        trend_start = day - dt.timedelta(days=TREND_DAYS - 1)
        scope.limit_history(con, views, lake, trend_start, day, scope.TREND_TABLES)
        if "loan_aging" in views:
            scope.limit_history(con, views, lake, day, day)
            data.headline = _headline(con, day)
            data.buckets = _rows(con, BUCKETS_SQL, [day])
            data.five_category = _rows(con, FIVE_CATEGORY_SQL, [day])
            if {"npl_probation", "stage3_probation"} <= _columns(con, "loan_aging"):
                data.probation = con.execute(PROBATION_SQL, [day]).fetchone()
        if "portfolio_summary" in views:
            data.portfolio = _portfolio(con, day)
            data.par_trend = _rows(con, TREND_SQL, [trend_start, day])
        _load_marts(con, data, views, day, lake)
        _load_history(con, data, views, day, lake)
        _load_risk(con, data, views, day)
    return data


def _load_risk(con, data: ReportData, views: set[str], day: dt.date) -> None:
    if "loan_risk" in views:
        data.ecl = risk_data.ecl_total(con, day)
        data.ecl_cells = risk_data.ecl_cells(con, day)
    if "score_monitoring" in views:
        data.scores = risk_data.scores(con, day, TREND_DAYS)
    if "risk_actions" in views:
        data.actions = risk_data.actions(con, day)


def _load_history(con, data: ReportData, views: set[str], day: dt.date, lake: Lake) -> None:
    """Vintages: the curves stored for the day (as known that day,
    ``loanrisk.pipeline.marts_stage``). Cure rates: the mart over month extracts
    (``loanrisk.lake.vintage_cache``) when the warehouse has their per-month views, else over
    the bounded history."""
    if "vintage_curves" in views:
        stored = lake.partition_files("marts", "vintage_curves", day)
        if stored:  # the curves as known on the day; the view shows the latest day's
            listed = ", ".join(quote(literal_glob(f)) for f in stored)
            source = f"read_parquet([{listed}], hive_partitioning = false)"
            scope.run_ddl(con, f"CREATE OR REPLACE TEMP VIEW vintage_curves AS FROM {source}")
        data.vintages = _rows(con, VINTAGE_SQL, [day, day, MAX_VINTAGES])
    if "cure_rates" in views:
        first = scope.month_start(day, CURE_MONTHS - 1)
        if "delinquency_entries" in views:
            for view in ("delinquency_entries", "delinquency_cures"):
                parts = vintage_cache.month_rows(con, views, lake, view, first, day)
                scope.run_ddl(con, f"CREATE OR REPLACE TEMP TABLE {view} AS SELECT * FROM {parts}")
            first = day  # the mart reads only the last day of loan_state then
        scope.limit_history(con, views, lake, first, day)
        data.cure_rates = _rows(con, CURE_SQL, [day, CURE_MONTHS])


def _load_marts(con, data: ReportData, views: set[str], day: dt.date, lake: Lake) -> None:
    if "roll_rates" in views:
        data.roll_rates = _rows(con, ROLL_SQL, [day])
    if "flow_rates" in views:
        # the earliest flow shown starts from the month end before its own
        scope.limit_history(con, views, lake, scope.month_start(day, FLOW_MONTHS + 1), day)
        data.flow_rates = _rows(con, FLOW_SQL, [day, FLOW_MONTHS])
    if "pipeline_runs" in views:
        data.run = _run(con, day)
    data.write_offs = write_offs.load(con, views, day)
