"""Read a landing file as text and type it by its data contract.

Every column is read as a string, then cast by the contract's physicalType. A non-empty value
that does not cast is a parse failure, never a silent null: money must match its scale exactly
(``12.345`` is refused, not rounded).
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from loanrisk.contracts import Column, Contract
from loanrisk.errors import InputFileError

SOURCE_LINE = "source_line"
_TRUE = ("true", "1", "y", "yes")
_FALSE = ("false", "0", "n", "no")


def raw_name(column: str) -> str:
    """Name of the untouched text of a column, kept beside the typed value."""
    return f"{column}__raw"


def _money_pattern(dtype: pl.Decimal) -> str:
    whole = dtype.precision - dtype.scale
    return rf"^-?[0-9]{{1,{whole}}}(\.[0-9]{{1,{dtype.scale}}})?$"


def cast_expr(column: Column) -> pl.Expr:
    """Expression typing ``column`` from its raw text; a bad value becomes null."""
    text = pl.col(raw_name(column.name)).str.strip_chars()
    dtype = column.dtype
    if isinstance(dtype, pl.Decimal):
        exact = text.str.contains(_money_pattern(dtype))
        return pl.when(exact).then(text.cast(dtype, strict=False)).alias(column.name)
    if dtype == pl.Date:
        return text.str.to_date("%Y-%m-%d", strict=False).alias(column.name)
    if isinstance(dtype, pl.Datetime):
        parsed = text.str.to_datetime("%+", time_zone="UTC", strict=False)
        return parsed.dt.cast_time_unit(dtype.time_unit).alias(column.name)
    if dtype == pl.Boolean:
        lowered = text.str.to_lowercase()
        mapping = {**dict.fromkeys(_TRUE, True), **dict.fromkeys(_FALSE, False)}
        return lowered.replace_strict(mapping, default=None, return_dtype=pl.Boolean).alias(
            column.name
        )
    if dtype.is_integer():
        is_int = text.str.contains(r"^-?[0-9]+$")
        return pl.when(is_int).then(text.cast(dtype, strict=False)).alias(column.name)
    return pl.col(raw_name(column.name)).alias(column.name)


def _is_utf8(encoding: str) -> bool:
    return encoding.replace("-", "").replace("_", "").lower() in ("utf8", "utf8lossy")


def _load_text(path: Path, encoding: str) -> pl.DataFrame:
    if path.suffix == ".parquet":
        # A Parquet landing file goes through the same text-then-type path as a CSV.
        return pl.read_parquet(path).select(pl.all().cast(pl.String))
    source = path if _is_utf8(encoding) else path.read_bytes().decode(encoding).encode("utf-8")
    return pl.read_csv(source, infer_schema=False, encoding="utf8")


def _read_text_frame(path: Path, encoding: str) -> pl.DataFrame:
    """Every field as text (empty field = null), with each row's 1-based source line."""
    try:
        frame = _load_text(path, encoding)
    except (pl.exceptions.PolarsError, OSError, UnicodeDecodeError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        kind = "Parquet" if path.suffix == ".parquet" else f"{encoding} CSV"
        raise InputFileError(f"{path.name}: unreadable as {kind}: {reason}") from None
    # Line 1 is the header; a row's source line is its position + 2.
    return frame.with_row_index(SOURCE_LINE, offset=2).with_columns(
        pl.col(SOURCE_LINE).cast(pl.Int64)
    )


def read_landing(path: Path, contract: Contract, encoding: str) -> pl.DataFrame:
    """Typed frame with, per contract column, the typed value and its raw text.

    Fails with a one-line ``InputFileError`` when the file is missing, empty or lacks a
    contract column.
    """
    if not path.is_file():
        raise InputFileError(f"{path.name}: file not found in {path.parent}")
    if path.stat().st_size == 0:
        raise InputFileError(f"{path.name}: file is empty")
    text = _read_text_frame(path, encoding)
    missing = [c for c in contract.column_names if c not in text.columns]
    if missing:
        raise InputFileError(
            f"{path.name}: required column(s) missing for contract "
            f"{contract.name} v{contract.version}: {', '.join(missing)}"
        )
    if text.height == 0:
        raise InputFileError(f"{path.name}: file has a header but no rows")
    renamed = text.select(
        SOURCE_LINE, *(pl.col(c).alias(raw_name(c)) for c in contract.column_names)
    )
    return renamed.with_columns(cast_expr(c) for c in contract.columns)
