"""Scale-out by sharding: a per-loan stage split by borrower, then combined (DESIGN.md §8).

With ``shards: K`` in ``config/execution.yaml`` (K > 1), ``age_loans`` and ``score_loans`` run as
K shard tasks and a combine step. Shard k holds the borrowers whose fixed-seed hash of
``borrower_id`` is k modulo K, so every loan of a borrower is in one shard and the
borrower-level rules (``episodes_12m``, signals, actions) see all of a borrower's loans. Each
shard task writes its part to ``lake/shards/<table>/snapshot_date=D/shard=k-of-K`` with the
fingerprints of the inputs it read; the combine step checks that every part is there and was
computed from today's inputs, concatenates the parts in ``loan_id`` order, publishes the table
the way an unsharded run does (the same bytes, tested) and drops the parts.

Shard tasks write nothing but their own part, so they take no run lock and K of them can run at
once on K workers; the combine step takes the lock. Portfolio-wide work (validation, signals,
regulatory tables, collections, the warehouse) runs once.

A day's K is decided once, when its loans file is ingested (``decide_shards``: ``shards: K``, or
with ``shards: auto`` ``shards_for`` the file's size), and recorded in
``state/shard_counts/snapshot_date=D.json``; every later step of the day, the Airflow task that
maps the shard tasks and the run manifest read that record (``day_shards``), never the landing
file again, so every task of a day agrees on K. A rerun ingests again and decides again.
"""

from __future__ import annotations

import datetime as dt
import math
import shutil
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import polars as pl

from loanrisk.config import MAX_SHARDS, ExecutionConfig
from loanrisk.domain.feeds import LOANS
from loanrisk.errors import ShardError
from loanrisk.lake.fingerprints import content_ids, file_stamp
from loanrisk.lake.partitions import (
    PART_OPTIONS,
    PartitionWriter,
    folder_files,
    merge_sorted,
    write_frame,
)
from loanrisk.lake.records import Ingested, read_record
from loanrisk.lake.storage import (
    Lake,
    partition_entry,
    read_json,
    write_json_atomic,
)

#: Seed of the borrower hash. Fixed: every task of a run must put a borrower in the same shard.
#: Polars documents its hash as stable for a given version only; ``test_shards`` pins a few
#: assignments so an upgrade that moves borrowers is seen (harmless between runs: each run's
#: tasks share one version, and no shard assignment is stored).
SHARD_SEED = 20_260_101


#: Bytes of the loans landing file per loan: 260.0 in synthetic books of 200k and 1M loans
#: (``loanrisk synth`` seed 7, 2026-06-01: 52,008,569 and 259,997,297 bytes).
LANDING_BYTES_PER_LOAN = 260
#: Peak memory of a shard step per million loans of its shard (``/usr/bin/time -v loanrisk
#: step ... --shard k``, K = 2, this 2-core 24 GB machine): ``age_loans_shard``, the larger of
#: the two, peaked at 0.28 GiB for a 100k-loan shard and 0.90 GiB for a 500k one on day 1
#: (0.86 GiB on day 2, reading day 1's state); ``score_loans_shard`` at 0.24 and 0.62 GiB. The
#: 500k figure over its loans, the process's own ~0.13 GiB included: safe for big shards.
SHARD_GIB_PER_MILLION_LOANS = Fraction("1.8")


def shards_for(landing_bytes: int, max_shard_memory_gib: float, slots: int = 1) -> int:
    """K for ``shards: auto``: ceil(estimated GiB of the shard steps / ``max_shard_memory_gib``),
    the estimate from the loans file's size (bytes -> loans -> GiB by the measured constants
    above); above 1, rounded up to a multiple of ``slots`` (the shard tasks run at once: five
    shards on two workers run in three waves, the last with one worker idle, where six run in
    three full ones); at least 1 and at most ``MAX_SHARDS``. Exact arithmetic: the same file
    gives the same K on every machine."""
    loans = Fraction(landing_bytes, LANDING_BYTES_PER_LOAN)
    gib = loans * SHARD_GIB_PER_MILLION_LOANS / 1_000_000
    wanted = math.ceil(gib / Fraction(str(max_shard_memory_gib)))
    if wanted > 1:
        wanted = math.ceil(wanted / slots) * slots
    return min(MAX_SHARDS, max(1, wanted))


def decide_shards(
    lake: Lake, business_date: dt.date, execution: ExecutionConfig, landing_bytes: int
) -> dict:
    """Decide the day's K from ``execution.yaml`` and the size of its loans file, and record it
    with what it was decided from (``ingest`` of the loans feed calls this)."""
    if execution.shards == "auto":
        slots = execution.shard_slots
        count = shards_for(landing_bytes, execution.max_shard_memory_gib, slots)
        decided = {
            "setting": "auto",
            "max_shard_memory_gib": execution.max_shard_memory_gib,
            "shard_slots": slots,
        }
    else:
        count, decided = execution.shards, {"setting": execution.shards}
    record = {"shards": count, **decided, "landing_bytes": landing_bytes}
    write_json_atomic(record, lake.shard_count(business_date))
    return record


def day_shards(lake: Lake, business_date: dt.date, execution: ExecutionConfig) -> dict:
    """The day's K as ``decide_shards`` recorded it. A fixed ``shards: K`` is K when nothing
    was recorded (a day ingested before K was recorded, or steps run on tables written by
    other means); ``auto`` then decides from the bytes the ingest record holds (not from the
    landing file)."""
    path = lake.shard_count(business_date)
    if path.exists():
        return read_json(path)
    if execution.shards != "auto":  # a fixed K needs no facts of the day
        return {"shards": execution.shards, "setting": execution.shards}
    ingested = read_record(lake, business_date, f"ingest_{LOANS}", Ingested)
    return decide_shards(lake, business_date, execution, ingested.input.bytes or 0)


def shard_count(lake: Lake, business_date: dt.date, execution: ExecutionConfig) -> int:
    """The day's number of shards (``day_shards``)."""
    return int(day_shards(lake, business_date, execution)["shards"])


@dataclass(frozen=True)
class Shard:
    """Shard ``number`` (0-based) of ``count``."""

    number: int
    count: int

    def __post_init__(self) -> None:
        if not 0 <= self.number < self.count:
            raise ShardError.no_such_shard(self.number, self.count)

    @property
    def label(self) -> str:
        return f"shard={self.number}-of-{self.count}"


def borrower_shard(count: int) -> pl.Expr:
    """The shard number (0 .. count-1) of each row's borrower."""
    return (pl.col("borrower_id").hash(seed=SHARD_SEED) % count).cast(pl.Int32)


def in_shard(frame: pl.LazyFrame, shard: Shard | None) -> pl.LazyFrame:
    """The rows of ``frame`` whose borrower is in ``shard`` (all rows when None)."""
    if shard is None or shard.count == 1:
        return frame
    return frame.filter(borrower_shard(shard.count) == shard.number)


def input_fingerprints(lake: Lake, paths: list[Path]) -> dict[str, str | None]:
    """sha256 of each input file by its data_root-relative path (None: absent), each file
    version hashed once (``fingerprints.content_ids``: the K shard tasks and the combine of a
    step read the same inputs)."""
    return {lake.relative(p): digest for p, digest in content_ids(lake, paths).items()}


def write_part(
    lake: Lake, table: str, day: dt.date, shard: Shard, frame: pl.DataFrame, inputs: dict
) -> dict:
    """Write one shard's part of ``table`` and the fingerprints of the inputs it read."""
    folder = lake.shard_partition(table, day, shard.label)
    written = write_frame(frame, folder, lake.scratch, options=PART_OPTIONS)
    write_json_atomic(inputs, lake.shard_inputs(table, day, shard.label))
    return {"path": lake.relative(written), "rows": frame.height}


def part_files(lake: Lake, table: str, day: dt.date, shard: Shard) -> list[Path]:
    """The files of one shard's part of ``table`` ([] when it was not written)."""
    return folder_files(lake.shard_partition(table, day, shard.label))


def checked_parts(
    lake: Lake, table: str, day: dt.date, count: int, inputs: dict
) -> list[list[Path]]:
    """The files of every shard's part of ``table``, in shard order; ``ShardError`` naming
    each part that is missing or was computed from other inputs."""
    parts, problems = [], []
    for number in range(count):
        shard = Shard(number, count)
        files, recorded = (
            part_files(lake, table, day, shard),
            lake.shard_inputs(table, day, shard.label),
        )
        if not files or not recorded.exists():
            problems.append(f"{shard.label} missing")
        elif read_json(recorded) != inputs:
            problems.append(f"{shard.label} computed from other inputs")
        parts.append(files)
    if problems:
        raise ShardError(lake.relative(lake.partition("shards", table, day)), problems)
    return parts


def combine_parts(
    lake: Lake,
    table: str,
    day: dt.date,
    count: int,
    inputs: dict,
    key: list[str],
    zone: str = "curated",
    name: str | None = None,
) -> dict:
    """Publish ``lake/<zone>/<name or table>/snapshot_date=D`` from the ``count`` parts of
    ``table`` (each sorted by ``key``), merged in ``key`` order one file at a time
    (``partitions.merge_sorted``): the bytes an unsharded run writes, in a file's memory.
    Returns the partition's {path, rows, sha256}."""
    parts = checked_parts(lake, table, day, count, inputs)
    folder = lake.partition(zone, name or table, day)
    writer = PartitionWriter(folder, lake.scratch)
    rows = merge_sorted(parts, key, writer)
    writer.close()
    merged = {"partition": lake.relative(folder), "shards": count, "files": _stamps(folder)}
    write_json_atomic(merged, lake.shard_merged(table, day))
    return partition_entry(lake, folder, rows)


def _stamps(folder: Path) -> list[list]:
    """Each file of a partition by name and ``file_stamp`` (size, mtime, inode)."""
    return [[path.name, *(file_stamp(path) or [])] for path in folder_files(folder)]


def own_rows(
    lake: Lake, frame: pl.LazyFrame, where: tuple[str, str, dt.date], part_table: str, shard
) -> pl.LazyFrame:
    """``shard``'s rows (all when None) of ``frame``, the caller's read of the partition
    ``where`` (zone, table, day): the part of ``part_table`` it was merged from, when that part
    is kept and the partition is still the one the merge wrote (the same rows in the same
    order: all of a borrower's rows are in one part, and the merge keeps each part's order);
    else ``in_shard(frame)``, which reads the whole partition to keep a K-th of it."""
    if shard is None or shard.count == 1:
        return frame
    zone, table, day = where
    folder = lake.partition(zone, table, day)
    record = lake.shard_merged(part_table, day)
    files = part_files(lake, part_table, day, shard)
    if files and record.exists():
        merged = read_json(record)
        expected = {"partition": lake.relative(folder), "shards": shard.count}
        same = {k: merged.get(k) for k in expected} == expected
        if same and merged.get("files") == _stamps(folder):
            return pl.scan_parquet(files, glob=False)
    return in_shard(frame, shard)


def drop_day_parts(lake: Lake, day: dt.date) -> None:
    """Remove every part of the day (and their records), once the day is published: the
    parts a combine keeps for later shard tasks to read (``own_rows``)."""
    folders = (lake.table_dir("shards"), lake.shard_states)
    tables = {p.name for folder in folders if folder.is_dir() for p in folder.iterdir()}
    for table in sorted(tables):
        drop_parts(lake, table, day)


def drop_parts(lake: Lake, table: str, day: dt.date) -> None:
    """Remove a day's parts of ``table`` (and their input records) once the combined table is
    published."""
    shutil.rmtree(lake.partition("shards", table, day), ignore_errors=True)
    shutil.rmtree(lake.shard_state(table, day), ignore_errors=True)
