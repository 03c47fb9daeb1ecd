"""The published day's marts in ``lake/marts/<table>/snapshot_date=D`` (DESIGN.md §3
and §6): ``roll_rates`` (D against the previous published day), ``portfolio_summary`` (D) and
``vintage_curves`` (every vintage, as known on D). The BI views of the same names read these
files.

Each is the SQL of ``loanrisk.domain.marts`` over only the history it needs: within a read-only
connection to the warehouse, ``loan_aging`` and ``loan_state`` are pointed at those days
(``lake/scope.py``), and the per-loan vintage rows of complete months come from their stored
extract, combined to date (``lake/vintage_cache.py``). So a day's marts read at most a month of
loan-level detail however long the history, and a past day's marts show what was known that day.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from loanrisk.config import Settings
from loanrisk.domain.classification import ClassificationConfig
from loanrisk.domain.cohort_marts import combine_vintage_loans_sql, vintage_curves_sql
from loanrisk.domain.marts import portfolio_summary_sql, roll_rates_sql
from loanrisk.lake import scope
from loanrisk.lake import vintage_cache as cache
from loanrisk.lake.storage import Lake, write_table
from loanrisk.lake.tables import conformed
from loanrisk.lake.warehouse import connect_warehouse


def _frame(con, sql: str) -> pl.DataFrame:
    return pl.from_arrow(con.sql(f"SELECT * FROM ({sql}) ORDER BY ALL").to_arrow_table())


def _day(day: dt.date) -> str:
    return f"DATE '{day.isoformat()}'"


def _roll_rates(con, views: set[str], lake: Lake, day: dt.date) -> pl.DataFrame:
    scope.limit_history(con, views, lake, scope.previous_published(con, views, day), day)
    return _frame(con, f"SELECT * FROM ({roll_rates_sql()}) WHERE snapshot_date = {_day(day)}")


def _portfolio_summary(
    con, views: set[str], lake: Lake, day: dt.date, policy: ClassificationConfig
) -> pl.DataFrame:
    scope.limit_history(con, views, lake, day, day)
    return _frame(con, portfolio_summary_sql(policy))


def _vintage_curves(con, views: set[str], lake: Lake, day: dt.date) -> pl.DataFrame:
    ((first_day,),) = con.execute(
        "SELECT min(snapshot_date) FROM pipeline_runs WHERE status = 'published'"
    ).fetchall()
    first = scope.month_start(first_day or day)
    parts = cache.vintage_rows(con, views, lake, first, day)
    combined = combine_vintage_loans_sql(parts)
    scope.run_ddl(con, f"CREATE OR REPLACE TEMP TABLE vintage_loans AS {combined}")
    scope.published_days_only(con, first, day)  # the months the curves reach
    curves = vintage_curves_sql("vintage_loans")
    return _frame(con, f"SELECT {_day(day)} AS snapshot_date, * FROM ({curves})")


def mart_frames(lake: Lake, settings: Settings, day: dt.date) -> dict[str, pl.DataFrame]:
    """The published ``day``'s rows of every materialized mart, typed by its contract."""
    with connect_warehouse(lake) as con:
        views = scope.relations(con)
        scope.snapshot_statuses(con, lake)
        frames = {
            "roll_rates": _roll_rates(con, views, lake, day),
            "portfolio_summary": _portfolio_summary(con, views, lake, day, settings.classification),
            "vintage_curves": _vintage_curves(con, views, lake, day),
        }
    return {  # the in-memory engine keeps the sorted order
        name: conformed(settings.contracts_dir, name, frame.lazy()).collect(engine="in-memory")
        for name, frame in frames.items()
    }


def publish_marts(lake: Lake, settings: Settings, day: dt.date) -> dict[str, dict]:
    """Write the published ``day``'s marts; their {path, rows, sha256} entries by table."""
    frames = mart_frames(lake, settings, day)
    return {name: write_table(lake, "marts", name, day, frame) for name, frame in frames.items()}
