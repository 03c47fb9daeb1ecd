"""The result tables of the shared core work in one canonical form, and their comparison.

Canonical form: Polars frames with the columns of ``RESULT_COLUMNS``, text for ids, buckets,
categories and dates (ISO), Int64 for counts, dpd and stages, and money as exact text with two
decimals; rows sorted by every column. Two results are equal when every table is equal row for
row."""

from __future__ import annotations

import polars as pl

from benchmarks.baselines import RESULT_COLUMNS

MONEY = ("overdue_amount", "balance", "borrower_overdue")
INTEGERS = ("dpd", "ifrs9_stage", "episodes_12m", "loans", "borrower_dpd")


def _money(column: str, dtype: pl.DataType, in_cents: bool) -> pl.Expr:
    value = pl.col(column)
    if in_cents:  # non-negative integer cents (amounts in these tables are never negative)
        cents = value.cast(pl.Int64)
        return pl.format("{}.{}", cents // 100, (cents % 100).cast(pl.String).str.zfill(2))
    if isinstance(dtype, pl.Decimal):
        return value.cast(pl.Decimal(38, 2)).cast(pl.String)
    raise TypeError(f"{column}: money must be Decimal or integer cents, not {dtype}")


def _date_text(column: str, dtype: pl.DataType) -> pl.Expr:
    value = pl.col(column)
    if dtype == pl.String:
        return value
    return value.cast(pl.Date).dt.to_string("%Y-%m-%d")


def canonical(frame, table: str, in_cents: bool = False) -> pl.DataFrame:
    """``frame`` (Polars, pandas or Arrow) as the canonical, sorted form of ``table``."""
    if not isinstance(frame, pl.DataFrame):
        frame = pl.from_pandas(frame) if hasattr(frame, "to_numpy") else pl.from_arrow(frame)
    columns = RESULT_COLUMNS[table]
    schema = frame.select(columns).schema
    exprs = []
    for column in columns:
        if column in MONEY:
            exprs.append(_money(column, schema[column], in_cents).alias(column))
        elif column == "snapshot_date":
            exprs.append(_date_text(column, schema[column]).alias(column))
        elif column in INTEGERS:
            exprs.append(pl.col(column).cast(pl.Int64))
        else:
            exprs.append(pl.col(column).cast(pl.String))
    return frame.select(exprs).sort(columns, nulls_last=True)


def canonical_all(result: dict, in_cents: bool = False) -> dict[str, pl.DataFrame]:
    return {t: canonical(result[t], t, in_cents) for t in RESULT_COLUMNS}


def _differ(left: pl.DataFrame, right: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    keys = list(left.columns)
    return (
        left.join(right, on=keys, how="anti", nulls_equal=True),
        right.join(left, on=keys, how="anti", nulls_equal=True),
    )


def compare(pipeline: dict, other: dict) -> dict:
    """Per table: rows on each side, equal or not, and a sample of the rows found on one side
    only (by value, duplicates aside)."""
    out = {}
    for table in RESULT_COLUMNS:
        left, right = pipeline[table], other[table]
        equal = left.equals(right)
        entry = {"rows_pipeline": left.height, "rows_baseline": right.height, "equal": equal}
        if not equal:
            only_left, only_right = _differ(left, right)
            entry["only_in_pipeline"] = only_left.height
            entry["only_in_baseline"] = only_right.height
            entry["sample_pipeline"] = only_left.head(3).to_dicts()
            entry["sample_baseline"] = only_right.head(3).to_dicts()
        out[table] = entry
    return out


def all_equal(comparison: dict) -> bool:
    return all(entry["equal"] for entry in comparison.values())
