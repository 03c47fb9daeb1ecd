"""Reading the lake's tables back: the stored partitions of some days (or an error naming the
first that is missing), and a frame conformed to its table's contract."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from loanrisk.errors import InputFileError
from loanrisk.lake.storage import Lake
from loanrisk.quality.contracts import load_contract


def scan_partitions(
    lake: Lake, zone: str, table: str, days: Iterable[dt.date], *, run: str
) -> pl.LazyFrame:
    """The partitions of ``table`` for ``days``, as one frame; ``InputFileError`` naming the
    first missing one, ``<partition file>: missing; run <run> first`` (``run``: what writes it).
    """
    days = list(days)
    firsts = [lake.partition_file(zone, table, day) for day in days]
    if missing := [f for f in firsts if not f.exists()]:
        raise InputFileError(f"{lake.relative(missing[0])}: missing; run {run} first")
    files = [f for day in days for f in lake.partition_files(zone, table, day)]
    return pl.scan_parquet(files, glob=False)


def scan_partition_if_any(lake: Lake, zone: str, table: str, day: dt.date) -> pl.LazyFrame | None:
    """The day's partition of an optional table, None when it was not written."""
    files = lake.partition_files(zone, table, day)
    return pl.scan_parquet(files, glob=False) if files else None


def conformed(contracts_dir: Path, table: str, frame: pl.LazyFrame) -> pl.LazyFrame:
    """``frame`` as ``table``'s contract has it: its columns, in its order, of its types."""
    return load_contract(contracts_dir, table).conform(frame)
