"""Type a feed's text by its data contract.

Every column is read as a string (``loanrisk.quality.parsing``), then cast by the contract's
physicalType. A non-empty value that does not cast is a parse failure, never a silent null:
money must match its scale exactly (``12.345`` is refused, not rounded).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import polars as pl

from loanrisk.quality.contracts import Column, Contract
from loanrisk.quality.parsing import raw_name, read_text

_TRUE = ("true", "1", "y", "yes")
_FALSE = ("false", "0", "n", "no")
BOOLEAN_TEXT = _TRUE + _FALSE

INTEGER_PATTERN = r"^-?[0-9]+$"
# The contract's formats, exactly: Polars' parsers alone also take ``2026-3-1``, ``+2026-03-01``,
# a lower-case ``t``/``z`` or a leap second, which Great Expectations (and the contract) refuse.
DATE_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
TIMESTAMP_PATTERN = (
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,9})?"
    r"(Z|[+-]([01][0-9]|2[0-3]):?[0-5][0-9])$"
)


def _any_case(word: str) -> list[str]:
    return ["".join(c) for c in itertools.product(*(sorted({x.lower(), x.upper()}) for x in word))]


# Boolean text in any letter case, looked up as it is: the same as lower-casing it first (no
# other character lower-cases into these letters), at half the cost.
_BOOLEAN_SPELLINGS = {
    spelling: value
    for words, value in ((_TRUE, True), (_FALSE, False))
    for word in words
    for spelling in _any_case(word)
}


def money_pattern(precision: int, scale: int) -> str:
    """Plain decimal text with at most ``scale`` decimals: no separators, exponents or NaN."""
    return rf"^-?[0-9]{{1,{precision - scale}}}(\.[0-9]{{1,{scale}}})?$"


def cast_expr(column: Column) -> pl.Expr:
    """Expression typing ``column`` from its raw text; a bad value becomes null."""
    text = pl.col(raw_name(column.name)).str.strip_chars()
    dtype = column.dtype
    if isinstance(dtype, pl.Decimal):
        exact = text.str.contains(money_pattern(dtype.precision, dtype.scale))
        return pl.when(exact).then(text.cast(dtype, strict=False)).alias(column.name)
    if dtype == pl.Date:
        iso = text.str.contains(DATE_PATTERN)
        return pl.when(iso).then(text.str.to_date("%Y-%m-%d", strict=False)).alias(column.name)
    if isinstance(dtype, pl.Datetime):
        iso = text.str.contains(TIMESTAMP_PATTERN)
        parsed = text.str.to_datetime("%+", time_zone="UTC", strict=False)
        return pl.when(iso).then(parsed.dt.cast_time_unit(dtype.time_unit)).alias(column.name)
    if dtype == pl.Boolean:
        return text.replace_strict(_BOOLEAN_SPELLINGS, default=None, return_dtype=pl.Boolean).alias(
            column.name
        )
    if dtype.is_integer():
        is_int = text.str.contains(INTEGER_PATTERN)
        return pl.when(is_int).then(text.cast(dtype, strict=False)).alias(column.name)
    return pl.col(raw_name(column.name)).alias(column.name)


# A column is typed once per distinct value when a frame has at least DISTINCT_MIN_ROWS rows and
# a sample of every k-th row (``distinct_sample_step``: about DISTINCT_SAMPLE_ROWS, whatever the
# file's order) holds at most DISTINCT_SAMPLE_SHARE distinct values per row: a book's dates,
# flags, rates and counts (a few thousand distinct values at most), not its balances. The same
# values either way; only the cost differs: a lookup is cheaper than casting every row for few
# distinct values and dearer for many, hence the sample.
DISTINCT_MIN_ROWS = 50_000
DISTINCT_SAMPLE_ROWS = 10_000
DISTINCT_SAMPLE_SHARE = 0.2


def distinct_sample_step(rows: int) -> int:
    return max(1, rows // DISTINCT_SAMPLE_ROWS)


def few_distinct(rows: int, sample_rows: int, distinct_in_sample: int) -> bool:
    """Whether a column of ``rows`` values is judged once per distinct value, given how many
    distinct values its sample of ``sample_rows`` holds (Polars typing and GX's parse checks
    both decide by this)."""
    return rows >= DISTINCT_MIN_ROWS and distinct_in_sample <= DISTINCT_SAMPLE_SHARE * sample_rows


def _few_distinct(text: pl.DataFrame, columns: list[Column]) -> list[Column]:
    """The typed ``columns`` whose text repeats enough to be typed by distinct value."""
    typed = [c for c in columns if c.dtype != pl.String]
    if text.height < DISTINCT_MIN_ROWS or not typed:
        return []
    names = [raw_name(c.name) for c in typed]
    sample = text.select(pl.col(names).gather_every(distinct_sample_step(text.height)))
    counts = sample.select(pl.col(names).n_unique()).row(0)
    return [
        column
        for column, count in zip(typed, counts, strict=True)
        if few_distinct(text.height, sample.height, count)
    ]


def _typed_by_distinct(text: pl.DataFrame, columns: list[Column]) -> dict[str, pl.Expr]:
    """``cast_expr`` of each of ``columns`` applied to its distinct texts, then looked up."""
    if not columns:
        return {}
    names = [raw_name(c.name) for c in columns]
    distinct = text.select(pl.col(n).unique().implode() for n in names).row(0)
    lookups = {}
    for column, name, values in zip(columns, names, distinct, strict=True):
        table = pl.DataFrame({name: values}).with_columns(cast_expr(column))
        typed = pl.col(name).replace_strict(
            table[name], table[column.name], default=None, return_dtype=column.dtype
        )
        lookups[column.name] = typed.alias(column.name)
    return lookups


def type_text(text: pl.DataFrame, contract: Contract) -> pl.DataFrame:
    """Add each contract column's typed value beside its raw text."""
    few = _few_distinct(text, contract.columns)
    if few:
        # Lookups over a frame of many chunks (a CSV as read) cost several times more than over
        # one; a rechunk of text costs little beside them. No-op if one chunk.
        text = text.rechunk()
    looked_up = _typed_by_distinct(text, few)
    return text.with_columns(looked_up.get(c.name, cast_expr(c)) for c in contract.columns)


def read_landing(path: Path, contract: Contract, encoding: str) -> pl.DataFrame:
    """``read_text`` then ``type_text``."""
    return type_text(read_text(path, contract, encoding), contract)
