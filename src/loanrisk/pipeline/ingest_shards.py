"""A feed's staging parts by borrower shard (``staging_<feed>``), written in ingest's one pass.

Each part holds the text rows of its shard's borrowers (``borrower_shard`` of the
``borrower_id`` as written) in ``source_line`` order, so a shard's validation reads only its
rows. A contract-``unique`` key found in more than one shard has all its rows moved into the
shard of its first row, after the pass (``regroup_duplicates``): the shard's DUPLICATE_KEY rule
and Great Expectations' uniqueness check then see every copy. All copies are quarantined, so
no valid row leaves its borrower's shard.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
from concurrent.futures import Future, ThreadPoolExecutor

import polars as pl
import pyarrow.parquet as pq

from loanrisk.lake.faults import scratch_name
from loanrisk.lake.modes import file_mode, make_dirs
from loanrisk.lake.partitions import PARQUET_FILE, PART_OPTIONS, replace_dir
from loanrisk.lake.shards import SHARD_SEED, Shard, borrower_shard, write_part
from loanrisk.lake.storage import Lake, write_json_atomic
from loanrisk.quality.parsing import SOURCE_LINE, raw_name

#: Rows buffered across all parts before a part's rows are written as a row group: the
#: memory of K parts is about this many rows, whatever K.
BUFFER_ROWS = 1 << 16
_SHARD, _TO = "__shard", "__to"


def shard_of_text(count: int) -> pl.Expr:
    """The shard of a text row: ``borrower_shard`` of its ``borrower_id`` as written (the
    typed ``borrower_id`` of a valid row is that text)."""
    return borrower_shard(count).alias(_SHARD)


def _with_borrower(frame: pl.DataFrame | pl.LazyFrame):
    return frame.with_columns(pl.col(raw_name("borrower_id")).alias("borrower_id"))


class PartWriters:
    """The K parts of ``table`` for a day, written as rows come (in order): one Parquet file
    per part, a row group at a time, in scratch until ``close`` puts each part in place.
    Row groups are written by a thread of their own, one at a time, while the next block is
    read (Arrow's writer encodes on one core and lets go of the GIL): memory holds at most
    one row group in flight besides the buffer."""

    def __init__(self, lake: Lake, table: str, day: dt.date, count: int):
        self.lake, self.table, self.day, self.count = lake, table, day, count
        self.staged = make_dirs(lake.scratch / scratch_name("new-"))
        self.writers: dict[int, pq.ParquetWriter] = {}
        self.thread = ThreadPoolExecutor(1, thread_name_prefix="loanrisk-parts")
        self.writing: Future | None = None
        self.flushed: set[int] = set()  # the parts given a row group (written or in flight)
        self.pending: dict[int, list[pl.DataFrame]] = {n: [] for n in range(count)}
        self.buffered = 0
        self.schema: pl.Schema | None = None

    def add(self, frame: pl.DataFrame) -> None:
        self.schema = self.schema or frame.schema
        shards = _with_borrower(frame).select(shard_of_text(self.count)).to_series()
        for (number,), rows in (
            frame.with_columns(shards)
            .partition_by(_SHARD, as_dict=True, include_key=False, maintain_order=True)
            .items()
        ):
            self.pending[number].append(rows)
            self.buffered += rows.height
        while self.buffered >= BUFFER_ROWS:  # the largest part's rows go out first
            self._flush(max(self.pending, key=lambda n: sum(f.height for f in self.pending[n])))

    def _flush(self, number: int) -> None:
        frames, self.pending[number] = self.pending[number], []
        rows = pl.concat(frames) if frames else pl.DataFrame(schema=self.schema)
        self.buffered -= sum(f.height for f in frames)
        table = rows.to_arrow()
        self.flushed.add(number)
        self._written()
        self.writing = self.thread.submit(self._write, number, table)

    def _write(self, number: int, table) -> None:
        if number not in self.writers:
            folder = make_dirs(self.staged / str(number))
            self.writers[number] = pq.ParquetWriter(
                folder / PARQUET_FILE,
                table.schema,
                compression=PART_OPTIONS["compression"],
                write_statistics=PART_OPTIONS["statistics"],
            )
        self.writers[number].write_table(table, row_group_size=PART_OPTIONS["row_group_size"])

    def _written(self) -> None:
        """Wait for the row group in flight (its error, if any, raised here)."""
        writing, self.writing = self.writing, None
        if writing is not None:
            writing.result()

    def finish(self) -> None:
        """Write what is buffered (a part of no rows is one file of no rows) and wait for it:
        a write's error is raised here, before anything is put in place."""
        for number in range(self.count):
            if self.pending[number] or number not in self.flushed:
                self._flush(number)
        self._written()
        self.thread.shutdown()

    def close(self, inputs: dict) -> None:
        """``finish``, then put every part in place with the record of its ``inputs``."""
        self.finish()
        for number in range(self.count):
            self.writers[number].close()
            path = self.staged / str(number) / PARQUET_FILE
            os.chmod(path, file_mode())
            label = Shard(number, self.count).label
            replace_dir(
                self.staged / str(number),
                self.lake.shard_partition(self.table, self.day, label),
                self.lake.scratch,
            )
            write_json_atomic(inputs, self.lake.shard_inputs(self.table, self.day, label))
        shutil.rmtree(self.staged, ignore_errors=True)

    def abort(self) -> None:
        with contextlib.suppress(Exception):  # the error being handled is the one to raise
            self._written()
        self.thread.shutdown()
        for writer in self.writers.values():
            writer.close()
        shutil.rmtree(self.staged, ignore_errors=True)


def duplicate_moves(staging: pl.LazyFrame, count: int, keys: list[str]) -> pl.DataFrame:
    """``source_line`` -> shard (``__to``) of the rows to move: every row of a ``keys`` value
    found in more than one shard goes to the shard of its first row. Keys one at a time, each
    on the shards the moves so far give. The keys are grouped by a 64-bit hash (a few bytes a
    row), then only the rows of a hash seen in more than one shard by their text."""
    rows = _with_borrower(staging).select(
        SOURCE_LINE, shard_of_text(count), *(pl.col(raw_name(k)) for k in keys)
    )
    moves = pl.DataFrame(schema={SOURCE_LINE: pl.Int64, _TO: pl.Int32})
    for key in keys:
        column = pl.col(raw_name(key))
        current = rows.join(moves.lazy(), on=SOURCE_LINE, how="left").with_columns(
            pl.coalesce(_TO, _SHARD).alias(_SHARD)
        )
        hashed = current.filter(column.is_not_null()).select(
            column.hash(SHARD_SEED).alias("__h"), _SHARD
        )
        split = hashed.group_by("__h").agg(pl.col(_SHARD).n_unique() > 1).filter(_SHARD)
        candidates = split.select("__h").collect(engine="streaming").to_series()
        if candidates.is_empty():
            continue
        found = current.filter(column.hash(SHARD_SEED).is_in(candidates.implode())).collect()
        first = (
            found.sort(SOURCE_LINE)
            .group_by(raw_name(key), maintain_order=True)
            .agg(
                pl.col(_SHARD).first().alias("__first"),
                (pl.col(_SHARD).n_unique() > 1).alias("__x"),
            )
        )
        moved = (
            found.join(first.filter("__x"), on=raw_name(key))
            .filter(pl.col(_SHARD) != pl.col("__first"))
            .select(SOURCE_LINE, pl.col("__first").alias(_TO))
        )
        moves = pl.concat([moves.join(moved, on=SOURCE_LINE, how="anti"), moved])
    return moves


def regroup_duplicates(
    lake: Lake,
    table: str,
    day: dt.date,
    staging: pl.LazyFrame,
    count: int,
    keys: list[str],
    inputs: dict,
) -> list[int]:
    """Rewrite the parts a cross-shard duplicate key touches (every row of such a key in its
    first row's shard), from the staged text; return their shard numbers."""
    moves = duplicate_moves(staging, count, keys)
    if moves.is_empty():
        return []
    lines = moves.get_column(SOURCE_LINE).implode()
    sources = (
        _with_borrower(staging.filter(pl.col(SOURCE_LINE).is_in(lines)))
        .select(shard_of_text(count))
        .collect()
        .get_column(_SHARD)
    )
    touched = sorted(set(sources.to_list()) | set(moves.get_column(_TO).to_list()))
    shard = pl.coalesce(_TO, _SHARD)
    for number in touched:
        part = (
            _with_borrower(staging)
            .with_columns(shard_of_text(count))
            .join(moves.lazy(), on=SOURCE_LINE, how="left", maintain_order="left")
            .filter(shard == number)
            .drop(_SHARD, _TO, "borrower_id")
            .collect()
        )
        write_part(lake, table, day, Shard(number, count), part, inputs)
    return touched
