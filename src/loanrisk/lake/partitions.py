"""A partition's files: written in pieces of at most ``FILE_ROWS`` rows, read back as one table.

A day's partition of a table is a folder of ``part-0.parquet``, ``part-1.parquet``, ... holding
the table's rows in order, every file but the last exactly ``FILE_ROWS`` rows. The cut depends
on the rows only, so a table written whole (one process holds the day) and the same table put
together from borrower shards (``merge_sorted``: no process holds the day) are the same bytes,
and no writer or combine step needs more than one file's rows in memory (DESIGN.md §8).
A day of up to ``FILE_ROWS`` rows is one file, ``part-0.parquet``, as before shards.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from loanrisk.lake.faults import crash_point, scratch_name, sweep_scratch
from loanrisk.lake.modes import file_mode, make_dirs

#: Every Parquet file written: fixed settings, so equal frames give equal bytes. zstd level 1
#: writes and reads faster than level 3, and the files are no bigger. A fixed row-group size:
#: without one, Polars cuts row groups at the frame's chunks, which the streaming engine makes
#: differently from run to run (a big day's risk_actions came out in other bytes at each rerun).
PARQUET_OPTIONS = {
    "compression": "zstd",
    "compression_level": 1,
    "statistics": True,
    "row_group_size": 262_144,
}
#: A shard's part (``lake/shards``): read once by its combine, then dropped, so written for
#: speed (lz4, no statistics: nothing filters a part by value), never published.
PART_OPTIONS = {"compression": "lz4", "statistics": False, "row_group_size": 262_144}
#: Rows of every file of a partition but its last: four row groups. Bounds the memory of
#: writing and combining a big day by a file's rows instead of the day's.
FILE_ROWS = 4 * PARQUET_OPTIONS["row_group_size"]
PARQUET_FILE = "part-0.parquet"  # a partition's first file: there is one when it is written
_PART = re.compile(r"part-(\d+)\.parquet")


def part_name(index: int) -> str:
    return f"part-{index}.parquet"


def folder_files(folder: Path) -> list[Path]:
    """A partition folder's files in order (``part-0``, ``part-1``, ...); [] when none."""
    try:
        names = os.listdir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return []
    numbered = sorted((int(m.group(1)), n) for n in names if (m := _PART.fullmatch(n)))
    return [folder / name for _, name in numbered]


def write_parquet(
    frame: pl.DataFrame, path: Path, one_row_group: bool = False, options: dict = PARQUET_OPTIONS
) -> None:
    """``frame`` as Parquet with ``PARQUET_OPTIONS``: the same bytes for the same rows however
    the frame is chunked or sliced. Nested columns (lists, structs) are copied into one fresh
    chunk first: their bytes follow their chunks, and a slice's offsets, even with fixed row
    groups (a file cut from a day written whole came out other bytes than the same rows merged
    from shards); flat columns' do not, and copying those would double a big day's memory."""
    nested = [s.name for s in frame.get_columns() if s.dtype.is_nested()]
    if nested:
        fresh = pl.int_range(pl.len(), dtype=pl.UInt32 if frame.height < 2**32 else pl.UInt64)
        frame = frame.with_columns(pl.col(nested).gather(fresh))
    groups = {"row_group_size": max(frame.height, 1)} if one_row_group else {}
    frame.write_parquet(path, **{**options, **groups})


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_dir(staged: Path, target: Path, scratch: Path) -> None:
    """Put ``staged``'s files in as ``target``'s, atomically for a reader of a one-file table.

    A new partition is its staged folder renamed into place. An existing one of one file, given
    one file, has it replaced by rename (never a moment without a partition), then any other
    file dropped; otherwise the old folder is renamed into scratch and the new one into place
    (a reader between the two renames finds no partition, never a mix of old and new files).
    """
    make_dirs(target.parent)
    if not target.is_dir():
        os.replace(staged, target)
        _fsync_dir(target.parent)
        return
    if (
        [p.name for p in folder_files(staged)]
        == [PARQUET_FILE]
        == [p.name for p in folder_files(target)]
    ):
        os.replace(staged / PARQUET_FILE, target / PARQUET_FILE)
        _fsync_dir(target)
        for extra in target.iterdir():
            if extra.name != PARQUET_FILE:
                shutil.rmtree(extra) if extra.is_dir() else extra.unlink()
        staged.rmdir()
        return
    aside = scratch / scratch_name("old-")
    os.replace(target, aside)
    os.replace(staged, target)
    _fsync_dir(target.parent)
    shutil.rmtree(aside)


class PartitionWriter:
    """Write one partition atomically from frames handed in order: a reader sees the old
    partition or the new, never half. Rows are cut into files of ``FILE_ROWS`` as they come,
    so memory holds at most one file's rows and the frame being added.

    ``one_row_group``: each file is one row group (reads back as one chunk per column).
    ``options``: ``PARQUET_OPTIONS``, or ``PART_OPTIONS`` for a shard's part."""

    def __init__(
        self,
        partition_dir: Path,
        scratch: Path,
        one_row_group: bool = False,
        options: dict = PARQUET_OPTIONS,
    ):
        make_dirs(scratch)
        sweep_scratch(scratch)
        self.target, self.scratch, self.one_row_group = partition_dir, scratch, one_row_group
        self.options = options
        self.staged = make_dirs(scratch / scratch_name("new-"))
        self.pending: list[pl.DataFrame] = []
        self.pending_rows = self.files = self.rows = 0
        self.schema: pl.Schema | None = None

    def add(self, frame: pl.DataFrame) -> None:
        self.schema = self.schema or frame.schema
        if frame.height:
            self.pending.append(frame)
            self.pending_rows += frame.height
        while self.pending_rows >= FILE_ROWS:
            whole = pl.concat(self.pending, rechunk=False)
            self._write(whole.slice(0, FILE_ROWS))
            rest = whole.slice(FILE_ROWS)
            self.pending, self.pending_rows = ([rest] if rest.height else []), rest.height

    def _write(self, frame: pl.DataFrame) -> None:
        path = self.staged / part_name(self.files)
        write_parquet(frame, path, self.one_row_group, self.options)
        os.chmod(path, file_mode())
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
        self.files += 1
        self.rows += frame.height

    def close(self) -> Path:
        """Write what is left (a table of no rows is one file of no rows), put the partition in
        place; return its first file."""
        if self.pending or not self.files:
            rest = pl.concat(self.pending) if self.pending else pl.DataFrame(schema=self.schema)
            self._write(rest)
        self.pending = []
        crash_point(f"write_partition:{self.target.parent.name}")
        replace_dir(self.staged, self.target, self.scratch)
        # Older versions kept what a partition was computed from beside it, in the lake; that
        # record is under state/ now (Lake.state_of), and goes when its partition is rewritten.
        self.target.with_name(f"{self.target.name}.inputs.json").unlink(missing_ok=True)
        return self.target / PARQUET_FILE


def write_frame(
    frame: pl.DataFrame,
    partition_dir: Path,
    scratch: Path,
    one_row_group: bool = False,
    options: dict = PARQUET_OPTIONS,
) -> Path:
    """``frame`` (sorted by the caller) as one partition (``PartitionWriter``)."""
    writer = PartitionWriter(partition_dir, scratch, one_row_group, options)
    writer.add(frame)
    return writer.close()


def scan_files(files: list[Path]) -> pl.LazyFrame:
    """The rows of a partition's files (or several partitions'), as one frame."""
    return pl.scan_parquet(files, glob=False)


def merge_sorted(parts: Iterable[list[Path]], key: list[str], writer: PartitionWriter) -> int:
    """Hand ``writer`` the rows of ``parts`` (each a partition's files, sorted by ``key``) in
    ``key`` order, one output file's rows at a time; returns the rows.

    The order comes from the keys alone (every part's ``key`` columns, sorted; ties in part
    then row order), then each output file's rows are read from the parts: in a sorted part
    they are one run of rows, so a file costs one slice of each part. Memory: the keys and one
    file's rows, whatever the number of parts. A key's rows must all be in one part for the
    result not to depend on the parts (borrower shards: a borrower's rows are in one)."""
    parts = [files for files in parts if files]
    if not parts:
        return 0
    writer.add(scan_files(parts[0]).head(0).collect())  # the columns, should no part have rows
    keys = pl.concat(
        [
            scan_files(files)
            .select(key)
            .with_columns(pl.lit(number, pl.UInt32).alias("__part"))
            .collect()
            for number, files in enumerate(parts)
        ]
    )
    order = keys.with_row_index("__row").sort([*key, "__part", "__row"], maintain_order=True)
    unsorted = order.group_by("__part").agg(pl.col("__row").diff().min() < 0).filter("__row")
    if unsorted.height:  # a part out of key order would be cut wrong: rows lost or doubled
        raise ValueError(f"parts {sorted(unsorted['__part'])} are not sorted by {key}")
    parts_of = order.get_column("__part")
    del keys, order
    taken = [0] * len(parts)
    for start in range(0, parts_of.len(), FILE_ROWS):
        counts = parts_of.slice(start, FILE_ROWS).value_counts()
        pieces = []
        for number, rows in counts.iter_rows():
            piece = scan_files(parts[number]).slice(taken[number], rows).collect()
            pieces.append(piece.with_columns(pl.lit(number, pl.UInt32).alias("__part")))
            taken[number] += rows
        chunk = pl.concat(pieces).with_row_index("__row")
        chunk = chunk.sort([*key, "__part", "__row"], maintain_order=True)
        writer.add(chunk.drop("__part", "__row"))
    return parts_of.len()
