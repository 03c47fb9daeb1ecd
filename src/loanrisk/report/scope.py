"""Bound the history each report section reads, so a day's report costs the same on day 400 as
on day 40.

The warehouse's views read every day kept: ``pipeline_runs`` parses every run manifest, and the
marts (roll, flow, cure rates, vintage curves, portfolio summary) compute over all of
``loan_aging`` and ``loan_state``. A report shows a few months at most. Within its read-only
connection the report therefore creates temporary objects under the same names, which DuckDB
binds before the warehouse's own (the temp schema comes first in its search path):

* ``pipeline_runs``: a table holding the run manifests once, instead of a parse per query;
* ``loan_aging`` and ``loan_state``: views of the warehouse's, limited to the dates a section
  shows (and for vintages, to the loans originated in its months). The mart views then compute
  over those rows only; their SQL stays the one in ``loanrisk.marts``.

Nothing is written: the temporary objects die with the connection.
"""

from __future__ import annotations

import datetime as dt

BOUNDED = ("loan_aging", "loan_state")


def month_start(day: dt.date, months_back: int = 0) -> dt.date:
    """First day of the month ``months_back`` calendar months before ``day``'s."""
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def _warehouse(con, view: str) -> str:
    """The warehouse's own ``view`` (``main`` alone would name the temp schema's)."""
    (catalog,) = con.execute("SELECT current_database()").fetchone()
    return '"' + catalog.replace('"', '""') + f'".main.{view}'


def snapshot_runs(con, views: set[str]) -> None:
    """Read the run manifests once for the whole report."""
    if "pipeline_runs" in views:
        source = _warehouse(con, "pipeline_runs")
        con.execute(f"CREATE TEMP TABLE pipeline_runs AS SELECT * FROM {source}")


def limit_history(
    con, views: set[str], first: dt.date, last: dt.date, originated_from: dt.date | None = None
) -> None:
    """Point ``loan_aging`` and ``loan_state`` at snapshot dates ``first``..``last`` (and, when
    given, ``loan_aging`` at loans originated on or after ``originated_from``)."""
    for view in BOUNDED:
        if view not in views:
            continue
        where = f"snapshot_date BETWEEN DATE '{first.isoformat()}' AND DATE '{last.isoformat()}'"
        if originated_from is not None and view == "loan_aging":
            where += f" AND origination_date >= DATE '{originated_from.isoformat()}'"
        source = _warehouse(con, view)
        con.execute(f"CREATE OR REPLACE TEMP VIEW {view} AS SELECT * FROM {source} WHERE {where}")


def previous_published(con, views: set[str], day: dt.date) -> dt.date:
    """The published day before ``day`` (``day`` itself when there is none)."""
    if "pipeline_runs" not in views:
        return day
    (previous,) = con.execute(
        "SELECT max(snapshot_date) FROM pipeline_runs "
        "WHERE status = 'published' AND snapshot_date < ?",
        [day],
    ).fetchone()
    return previous or day
