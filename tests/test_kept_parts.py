"""A shard task reads its borrowers' rows of a table the day's combine merged from parts by
reading its own part, kept for it until ``finalize_run`` (``shards.own_rows``): ``in_shard`` of
the whole table read all of a 10M-loan day's rows to keep a K-th, in every shard task of every
step. It is the part only while the table is still what the merge wrote."""

from __future__ import annotations

import datetime as dt

import polars as pl

from loanrisk.lake.shards import (
    Shard,
    borrower_shard,
    combine_parts,
    drop_day_parts,
    in_shard,
    input_fingerprints,
    own_rows,
    write_part,
)
from loanrisk.lake.storage import Lake, write_table

DAY = dt.date(2026, 3, 2)
WHERE = ("curated", "loan_aging", DAY)


def _book(rows: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "loan_id": [f"L{i:05d}" for i in range(rows)],
            "borrower_id": [f"B{(i * 7919) % 97:03d}" for i in range(rows)],
            "dpd": list(range(rows)),
        }
    )


def _combined(tmp_path, count: int) -> tuple[Lake, pl.DataFrame]:
    lake = Lake(tmp_path, tmp_path / "landing")
    book = _book(500)
    for number in range(count):
        part = book.filter(borrower_shard(count) == number)
        write_part(lake, "aging_part", DAY, Shard(number, count), part, {})
    combine_parts(lake, "aging_part", DAY, count, {}, ["loan_id"], name="loan_aging")
    return lake, book


def _reads_part(frame: pl.LazyFrame) -> bool:
    return "lake/shards/aging_part" in frame.explain()


def test_a_shard_reads_its_kept_part_the_same_rows_as_in_shard(tmp_path):
    lake, _ = _combined(tmp_path, 3)
    table = lake.scan(*WHERE)
    for number in range(3):
        shard = Shard(number, 3)
        own = own_rows(lake, table, WHERE, "aging_part", shard)
        assert _reads_part(own)
        assert own.collect().equals(in_shard(table, shard).collect())
    assert own_rows(lake, table, WHERE, "aging_part", None) is table


def test_a_table_rewritten_after_its_merge_is_read_whole(tmp_path):
    lake, _ = _combined(tmp_path, 2)
    table = lake.scan(*WHERE)
    input_fingerprints(lake, lake.partition_files(*WHERE))
    write_table(lake, *WHERE, table.collect())  # the same rows, written again: not the merge's
    table = lake.scan(*WHERE)
    own = own_rows(lake, table, WHERE, "aging_part", Shard(1, 2))
    assert not _reads_part(own)
    assert own.collect().equals(in_shard(table, Shard(1, 2)).collect())
    # parts of another K, or none left, are never read
    assert not _reads_part(own_rows(lake, table, WHERE, "aging_part", Shard(1, 3)))


def test_the_days_parts_go_at_the_end_of_the_day(tmp_path):
    lake, _ = _combined(tmp_path, 2)
    drop_day_parts(lake, DAY)
    assert not list((tmp_path / "lake" / "shards").rglob("*.parquet"))
    assert not list((tmp_path / "state" / "shards").rglob("*.json"))
    table = lake.scan(*WHERE)
    assert not _reads_part(own_rows(lake, table, WHERE, "aging_part", Shard(0, 2)))
