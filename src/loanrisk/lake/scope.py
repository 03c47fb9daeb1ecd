"""Bound the history each report section reads to what it shows, so a day's report stops
costing more with every day kept.

The warehouse's views read every day kept: ``pipeline_runs`` parses every run manifest, and the
marts computed when queried (flow and cure rates, and the SQL behind the stored roll rates,
portfolio summary and vintage curves) compute over all of ``loan_aging`` and ``loan_state``. A
report, or one day's stored marts (``marts_stage.py``), needs a few months at most. Within a
read-only connection they therefore create temporary objects under the same names, which DuckDB
binds before the warehouse's own (the temp schema comes first in its search path):

* ``pipeline_runs``: a table of each run day's status (and the report's day in full), read once
  instead of a parse of every manifest per query;
* ``loan_aging`` and ``loan_state``: views of the warehouse's, limited to the dates a section
  shows. The mart views then compute over those rows only; their SQL stays the one in
  ``loanrisk.domain.marts``;
* for vintages and cure rates, the per-loan and per-event views the marts read
  (``vintage_loans``, ``delinquency_entries``, ``delinquency_cures``): tables combining stored
  month extracts with the current month (``cache.py``).

Nothing is written to the warehouse: the temporary objects die with the connection.
"""

from __future__ import annotations

import datetime as dt

from loanrisk.domain.sql import quote
from loanrisk.lake.storage import Lake, literal_glob

#: Tables pointed at the days a section reads, and the lake zone of their daily files.
BOUNDED = {"loan_aging": "curated", "loan_state": "curated"}
#: The per-day tables of the report's risk and portfolio sections (the day, or its trends).
DAY_TABLES = {"loan_risk": "curated", "risk_actions": "curated", "roll_rates": "marts"}
DAY_TABLES |= {"reg_write_offs": "curated"}
TREND_TABLES = {"score_monitoring": "curated", "portfolio_summary": "marts"}


def month_start(day: dt.date, months_back: int = 0) -> dt.date:
    """First day of the month ``months_back`` calendar months before ``day``'s."""
    index = day.year * 12 + day.month - 1 - months_back
    return dt.date(index // 12, index % 12 + 1, 1)


def run_ddl(con, statement: str) -> None:
    """Execute a statement to completion (DuckDB refuses new work while a result is open)."""
    con.execute(statement).fetchall()


def warehouse_view(con, view: str) -> str:
    """The warehouse's own ``view`` (``main`` alone would name the temp schema's)."""
    ((catalog,),) = con.execute("SELECT current_database()").fetchall()
    return '"' + catalog.replace('"', '""') + f'".main.{view}'


def relations(con) -> set[str]:
    """Names of the connection's views and tables."""
    rows = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE NOT internal "
        "UNION SELECT table_name FROM duckdb_tables() ORDER BY 1"
    ).fetchall()
    return {name for (name,) in rows}


def _insert_statuses(con, statuses: dict[dt.date, str | None]) -> None:
    """Add (snapshot_date, status) rows to the temporary ``pipeline_runs``, in one statement
    (``executemany`` costs a round trip per row)."""
    rows = [
        f"(DATE '{day.isoformat()}', {'NULL' if status is None else quote(status)})"
        for day, status in sorted(statuses.items())
    ]
    if rows:
        run_ddl(con, f"INSERT INTO pipeline_runs (snapshot_date, status) VALUES {', '.join(rows)}")


def snapshot_runs(con, views: set[str], lake: Lake, day: dt.date) -> None:
    """``pipeline_runs`` for a day's report: the day's own manifest in full, with the view's
    columns and types, and every other run day's date and status, read in Python (what the
    bounded views and marts ask): the view parses every manifest, more with each day. Without
    the day's manifest (a warehouse not built from this lake), the view in full."""
    from loanrisk.lake.runs import run_statuses

    if "pipeline_runs" not in views:
        return
    manifest = lake.run_manifest(day)
    if not manifest.exists():
        source = warehouse_view(con, "pipeline_runs")
        run_ddl(con, f"CREATE TEMP TABLE pipeline_runs AS SELECT * FROM {source}")
        return
    # The view's columns and types as DuckDB stored them with it (binding the view would glob
    # and open the manifests).
    types = con.execute(
        "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = "
        "current_database() AND schema_name = 'main' AND table_name = 'pipeline_runs' "
        "ORDER BY column_index"
    ).fetchall()
    listed = ", ".join(f'"{name}" {kind}' for name, kind in types)
    run_ddl(con, f"CREATE TEMP TABLE pipeline_runs ({listed})")
    columns = ", ".join(f"{quote(name)}: {quote(kind)}" for name, kind in types)
    read = f"read_json({quote(literal_glob(manifest))}, columns = {{{columns}}})"
    run_ddl(con, f"INSERT INTO pipeline_runs FROM {read}")
    _insert_statuses(con, {d: s for d, s in run_statuses(lake).items() if d != day})


def snapshot_statuses(con, lake: Lake) -> None:
    """``pipeline_runs`` as each run day's date and status only, read from the manifests in
    Python (far cheaper than the view's ``read_json`` of them all): what
    the marts and the bounded views ask of it."""
    from loanrisk.lake.runs import run_statuses

    run_ddl(con, "CREATE TEMP TABLE pipeline_runs (snapshot_date DATE, status VARCHAR)")
    _insert_statuses(con, run_statuses(lake))


def limit_history(
    con,
    views: set[str],
    lake: Lake,
    first: dt.date,
    last: dt.date,
    tables: dict[str, str] = BOUNDED,
) -> None:
    """Point ``tables`` (view -> lake zone; by default ``loan_aging`` and ``loan_state``) at the
    published days ``first``..``last``.

    They read those days' partition files only: binding the warehouse's view reads the footer
    of every day's file (a cost growing with the days kept, paid several times a day). Without
    the files (a warehouse not built from this lake), the warehouse's view limited to those dates.
    """
    days = _published_days(con, views, first, last)
    for view, zone in tables.items():
        if view not in views:
            continue
        files = [f for d in days for f in lake.partition_files(zone, view, d)]
        if files:
            listed = ", ".join(quote(literal_glob(f)) for f in files)
            source = f"SELECT * FROM read_parquet([{listed}], union_by_name = true)"
        else:
            where = f"snapshot_date BETWEEN DATE '{first}' AND DATE '{last}'"
            source = f"SELECT * FROM {warehouse_view(con, view)} WHERE {where}"
        run_ddl(con, f"CREATE OR REPLACE TEMP VIEW {view} AS {source}")


def _published_days(con, views: set[str], first: dt.date, last: dt.date) -> list[dt.date]:
    if "pipeline_runs" not in views:
        return []
    rows = con.execute(
        "SELECT snapshot_date FROM pipeline_runs WHERE status = 'published' "
        "AND snapshot_date BETWEEN ? AND ? ORDER BY snapshot_date",
        [first, last],
    ).fetchall()
    return [day for (day,) in rows]


def published_days_only(con, first: dt.date, last: dt.date) -> None:
    """Point ``loan_aging`` at its published days from ``first`` to ``last``, their dates only:
    for a mart that reads nothing else of it once its per-loan rows come from month extracts
    (a view reading another column fails to bind rather than reading wrong rows)."""
    run_ddl(
        con,
        "CREATE OR REPLACE TEMP VIEW loan_aging AS SELECT snapshot_date FROM pipeline_runs "
        f"WHERE status = 'published' AND snapshot_date BETWEEN DATE '{first.isoformat()}' "
        f"AND DATE '{last.isoformat()}'",
    )


def previous_published(con, views: set[str], day: dt.date) -> dt.date:
    """The published day before ``day`` (``day`` itself when there is none)."""
    if "pipeline_runs" not in views:
        return day
    ((previous,),) = con.execute(
        "SELECT max(snapshot_date) FROM pipeline_runs "
        "WHERE status = 'published' AND snapshot_date < ?",
        [day],
    ).fetchall()
    return previous or day
