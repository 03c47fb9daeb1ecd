"""Month extracts of the history behind the vintage curves (``marts_stage.py``) and the
report's cure rates, kept between days so each day reads one month of detail instead of up to
a year.

A section's rows are a warehouse view (``vintage_loans``, ``delinquency_entries``,
``delinquency_cures``) computed over each month apart, then combined: a complete month's extract
is stored under ``lake/marts/<view>/month=YYYY-MM`` beside the fingerprint of the published
days it was computed from (their loan_aging and loan_state sha256, from the run manifests) and
recomputed only when that changes (a day of the month rerun or published late); the current
month is computed live. The view's SQL stays the one in ``loanrisk.domain.marts``: a month is that
view with ``loan_aging`` and ``loan_state`` limited to the month (``scope.py``).

The vintage curves read every month since history began, so their complete months are also
kept combined: ``lake/marts/vintage_loans_to_date/month=YYYY-MM`` holds one row per loan over
all complete months up to that one (``combine_vintage_loans_sql``), recomputed when any of
those months' fingerprints changes. The live month's rows of every view are carried from one
published day to the next (``lake/marts/<view>_month_to_date``): a day reads one day of detail.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import polars as pl

from loanrisk.domain.cohort_marts import combine_vintage_loans_sql
from loanrisk.domain.sql import quote
from loanrisk.lake import scope
from loanrisk.lake.storage import (
    PARQUET_FILE,
    Lake,
    folder_files,
    literal_glob,
    read_json,
    write_json_atomic,
    write_partition,
)


def published_months(con, first: dt.date, last: dt.date) -> dict[dt.date, list[dt.date]]:
    """Month start -> the published days of that month between ``first`` and ``last``."""
    rows = con.execute(
        "SELECT snapshot_date FROM pipeline_runs WHERE status = 'published' "
        "AND snapshot_date BETWEEN ? AND ? ORDER BY snapshot_date",
        [first, last],
    ).fetchall()
    months: dict[dt.date, list[dt.date]] = {}
    for (day,) in rows:
        months.setdefault(scope.month_start(day), []).append(day)
    return months


def fingerprint(lake: Lake, days: list[dt.date]) -> dict:
    """What a month's extract depends on: each published day's loan_aging and loan_state."""
    tables = ("curated/loan_aging", "curated/loan_state")
    entries = []
    for day in days:
        outputs = read_json(lake.run_manifest(day)).get("outputs", {})
        entries.append([day.isoformat(), *(outputs.get(t, {}).get("sha256") for t in tables)])
    return {"days": entries}


def _extract(
    con, views: set[str], lake: Lake, view: str, first: dt.date, last: dt.date
) -> pl.DataFrame:
    scope.limit_history(con, views, lake, first, last)
    source = scope.warehouse_view(con, view)
    return pl.from_arrow(con.sql(f"SELECT * FROM {source} ORDER BY ALL").to_arrow_table())


def _stored_month(con, views: set[str], lake: Lake, view: str, days: list[dt.date]) -> str:
    """Path of a complete month's extract, written first when missing or stale."""
    month = scope.month_start(days[0])
    folder, recorded = lake.month_extract(view, month), lake.month_extract_inputs(view, month)
    inputs = fingerprint(lake, days)
    part = folder / PARQUET_FILE
    if not (part.exists() and recorded.exists() and read_json(recorded) == inputs):
        part = write_partition(
            _extract(con, views, lake, view, month, days[-1]), folder, lake.scratch
        )
        write_json_atomic(inputs, recorded)
    return part.parent.as_posix()


VINTAGES, VINTAGES_TO_DATE = "vintage_loans", "vintage_loans_to_date"


def _parquet(folder: str) -> str:
    """A stored partition's files read by DuckDB, their paths never taken as globs
    (``literal_glob``)."""
    listed = ", ".join(quote(literal_glob(f)) for f in folder_files(Path(folder)))
    return f"SELECT * FROM read_parquet([{listed}], hive_partitioning = false)"


def _frame(con, sql: str) -> pl.DataFrame:
    return pl.from_arrow(con.sql(f"SELECT * FROM ({sql}) ORDER BY ALL").to_arrow_table())


def _vintages_to_date(con, views: set[str], lake: Lake, months: dict) -> str:
    """Path of the combined ``vintage_loans`` of the complete ``months`` (month start ->
    published days), written first when missing or when a month's fingerprint changed."""
    last = max(months)
    folder = lake.month_extract(VINTAGES_TO_DATE, last)
    recorded = lake.month_extract_inputs(VINTAGES_TO_DATE, last)
    inputs = {
        "months": [[m.isoformat(), fingerprint(lake, days)] for m, days in sorted(months.items())]
    }
    part = folder / PARQUET_FILE
    if not (part.exists() and recorded.exists() and read_json(recorded) == inputs):
        paths = [_stored_month(con, views, lake, VINTAGES, days) for days in months.values()]
        parts = " UNION ALL ".join(_parquet(p) for p in paths)
        frame = _frame(con, combine_vintage_loans_sql(f"({parts})"))
        part = write_partition(frame, folder, lake.scratch)
        write_json_atomic(inputs, recorded)
    return part.parent.as_posix()


def _month_to_date(lake: Lake, table: str, days: list[dt.date]) -> str | None:
    """Path of the live month's rows of ``table`` kept for ``days[-1]``, if computed from
    ``days`` (the month's published days up to it) as they are now."""
    if not days:
        return None
    part = lake.partition_file("marts", table, days[-1])
    recorded = lake.partition_inputs("marts", table, days[-1])
    if part.exists() and recorded.exists() and read_json(recorded) == fingerprint(lake, days):
        return part.parent.as_posix()
    return None


def _drop_earlier_months(lake: Lake, table: str, day: dt.date) -> None:
    """The kept month-to-date rows of months before ``day``'s (their months are complete)."""
    for kept in lake.partition_dates("marts", table):
        if kept < scope.month_start(day):
            shutil.rmtree(lake.partition("marts", table, kept))
            lake.partition_inputs("marts", table, kept).unlink(missing_ok=True)


def _live_rows(
    con, views: set[str], lake: Lake, view: str, days: list[dt.date], day: dt.date, combine=None
) -> str:
    """SQL of the live month's ``view`` rows up to ``day`` (``days``: the month's published days
    to ``day``): the previous published day's kept rows with the day's (merged by ``combine``,
    SQL of a relation, when a loan's rows must be combined) when they still hold, else the
    month's; kept for the next day (``lake/marts/<view>_month_to_date``), so late in a month a
    day reads one day of loan_aging and loan_state, not the month's."""
    live = f"SELECT * FROM {scope.warehouse_view(con, view)}"
    if not days or days[-1] != day:  # not a published day: nothing to keep
        scope.limit_history(con, views, lake, scope.month_start(day), day)
        return live
    table = f"{view}_month_to_date"
    previous = _month_to_date(lake, table, days[:-1])
    scope.limit_history(con, views, lake, day if previous else days[0], day)
    rows = live
    if previous:
        rows = f"{_parquet(previous)} UNION ALL {live}"
        rows = combine(f"({rows})") if combine else rows
    kept = write_partition(_frame(con, rows), lake.partition("marts", table, day), lake.scratch)
    write_json_atomic(fingerprint(lake, days), lake.partition_inputs("marts", table, day))
    _drop_earlier_months(lake, table, day)
    return _parquet(kept.parent.as_posix())


def _by_month(con, view: str, selects: list[str]) -> str:
    """A temp table ``<view>_by_month`` of the rows of ``selects``; returns its name."""
    table = f"{view}_by_month"
    scope.run_ddl(con, f"CREATE OR REPLACE TEMP TABLE {table} AS {' UNION ALL '.join(selects)}")
    return table


def vintage_rows(con, views: set[str], lake: Lake, first: dt.date, day: dt.date) -> str:
    """A temp table of ``vintage_loans`` rows from ``first`` (a month start) to ``day``: the
    complete months' combined extract and the live month's rows; returns its name (combine
    its rows with ``combine_vintage_loans_sql``)."""
    current = scope.month_start(day)
    months = published_months(con, first, day)
    complete = {m: days for m, days in months.items() if m < current}
    stored = [_parquet(_vintages_to_date(con, views, lake, complete))] if complete else []
    days = months.get(current, [])
    live = _live_rows(con, views, lake, VINTAGES, days, day, combine_vintage_loans_sql)
    return _by_month(con, VINTAGES, [*stored, live])


def month_rows(con, views: set[str], lake: Lake, view: str, first: dt.date, day: dt.date) -> str:
    """A temp table of the warehouse ``view`` over each month from ``first`` (a month start) to
    ``day``'s, month by month; returns its name."""
    current = scope.month_start(day)
    months = published_months(con, first, day)
    paths = [_stored_month(con, views, lake, view, d) for m, d in months.items() if m < current]
    stored = [_parquet(p) for p in paths]
    live = _live_rows(con, views, lake, view, months.get(current, []), day)
    return _by_month(con, view, [*stored, live])
