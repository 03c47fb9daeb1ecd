"""A partition of several files (loanrisk.lake.partitions): a big day is cut into files of
FILE_ROWS rows, and a table merged from sorted shard parts is the same bytes as written whole."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from loanrisk.lake import partitions
from loanrisk.lake.partitions import PartitionWriter, folder_files, merge_sorted, write_frame
from loanrisk.lake.storage import Lake, partition_sha256, write_table

DAY = dt.date(2026, 3, 2)


@pytest.fixture
def small_files(monkeypatch):
    monkeypatch.setattr(partitions, "FILE_ROWS", 1_000)


def _book(rows: int) -> pl.DataFrame:
    ids = [f"L{i:06d}" for i in range(rows)]
    return pl.DataFrame(
        {
            "loan_id": ids,
            "borrower_id": [f"B{(i * 7919) % (rows // 3 + 1):05d}" for i in range(rows)],
            "balance": [i * 0.5 for i in range(rows)],
            "codes": [["A", "B"][: i % 3] for i in range(rows)],
        }
    ).sort("loan_id")


def _bytes(folder):
    return [(f.name, f.read_bytes()) for f in folder_files(folder)]


def test_a_big_day_is_cut_into_files_of_file_rows(tmp_path, small_files):
    book = _book(2_500)
    write_frame(book, tmp_path / "t", tmp_path / "_tmp")
    files = folder_files(tmp_path / "t")
    assert [f.name for f in files] == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
    assert [pl.read_parquet(f).height for f in files] == [1_000, 1_000, 500]
    assert pl.read_parquet(files, glob=False).equals(book)


def test_merged_shard_parts_are_the_bytes_of_the_table_written_whole(tmp_path, small_files):
    book = _book(2_500)
    write_frame(book, tmp_path / "whole", tmp_path / "_tmp")
    shard = pl.col("borrower_id").hash(seed=1) % 3
    parts = []
    for k in range(3):
        part = book.filter(shard == k)
        writer = PartitionWriter(tmp_path / f"part{k}", tmp_path / "_tmp")
        for offset in range(0, part.height, 333):  # handed in pieces of another size
            writer.add(part.slice(offset, 333))
        writer.close()
        parts.append(folder_files(tmp_path / f"part{k}"))
    writer = PartitionWriter(tmp_path / "merged", tmp_path / "_tmp")
    assert merge_sorted(parts, ["loan_id"], writer) == 2_500
    writer.close()
    assert _bytes(tmp_path / "merged") == _bytes(tmp_path / "whole")


def test_a_partition_rewritten_with_fewer_files_keeps_none_of_the_old(tmp_path, small_files):
    lake = Lake(tmp_path, tmp_path / "landing")
    entry = write_table(lake, "curated", "t", DAY, _book(2_500))
    folder = lake.partition("curated", "t", DAY)
    assert entry["path"] == lake.relative(folder)  # several files: the folder, one digest
    assert entry["sha256"] == partition_sha256(folder)
    small = _book(10)
    entry = write_table(lake, "curated", "t", DAY, small)
    assert [f.name for f in folder_files(folder)] == ["part-0.parquet"]
    assert entry["path"].endswith("part-0.parquet")
    assert lake.read("curated", "t", DAY).equals(small)
    write_table(lake, "curated", "t", DAY, _book(2_500))
    assert lake.scan("curated", "t", DAY).collect().height == 2_500
    assert not any((tmp_path / "lake" / "_tmp").iterdir())


def test_an_empty_table_is_one_file_of_no_rows(tmp_path):
    write_frame(_book(3).clear(), tmp_path / "t", tmp_path / "_tmp")
    files = folder_files(tmp_path / "t")
    assert [pl.read_parquet(f).height for f in files] == [0]


def test_a_list_column_cut_from_a_day_written_whole_is_the_bytes_of_its_rows_copied(
    tmp_path, small_files
):
    """A file sliced out of a longer frame and the same rows merged from parts: one layout."""
    book = _book(2_500).with_columns(pl.col("codes").list.concat(pl.col("codes")))
    write_frame(book, tmp_path / "whole", tmp_path / "_tmp")
    for k, rows in enumerate((book.slice(0, 1_000), book.slice(1_000))):
        write_frame(rows.clone(), tmp_path / f"copy{k}", tmp_path / "_tmp")
    writer = PartitionWriter(tmp_path / "merged", tmp_path / "_tmp")
    parts = [folder_files(tmp_path / f"copy{k}") for k in range(2)]
    merge_sorted(parts, ["loan_id"], writer)
    writer.close()
    assert _bytes(tmp_path / "merged") == _bytes(tmp_path / "whole")


def test_parts_of_no_rows_merge_into_a_table_with_its_columns(tmp_path):
    empty = _book(3).clear()
    parts = []
    for k in range(2):
        write_frame(empty, tmp_path / f"part{k}", tmp_path / "_tmp")
        parts.append(folder_files(tmp_path / f"part{k}"))
    writer = PartitionWriter(tmp_path / "merged", tmp_path / "_tmp")
    assert merge_sorted(parts, ["loan_id"], writer) == 0
    writer.close()
    write_frame(empty, tmp_path / "whole", tmp_path / "_tmp")
    assert _bytes(tmp_path / "merged") == _bytes(tmp_path / "whole")


def _codecs(folder) -> set[str]:
    import pyarrow.parquet as pq

    found = set()
    for path in folder_files(folder):
        meta = pq.ParquetFile(path).metadata
        for group in range(meta.num_row_groups):
            for column in range(meta.num_columns):
                found.add(meta.row_group(group).column(column).compression)
    return found


def test_a_shards_part_is_written_fast_and_the_table_merged_from_parts_as_published(tmp_path):
    """A part is read once by its combine and dropped: lz4, no statistics. The table the
    combine publishes has the lake's settings, whatever its parts had."""
    from loanrisk.lake.shards import Shard, write_part

    lake = Lake(tmp_path, tmp_path / "landing")
    book = _book(600)
    write_part(lake, "t", DAY, Shard(0, 2), book, {})
    part = lake.shard_partition("t", DAY, "shard=0-of-2")
    assert _codecs(part) == {"LZ4_RAW"} or _codecs(part) == {"LZ4"}
    import pyarrow.parquet as pq

    assert pq.ParquetFile(folder_files(part)[0]).metadata.row_group(0).column(0).statistics is None
    writer = PartitionWriter(tmp_path / "merged", tmp_path / "_tmp")
    merge_sorted([folder_files(part)], ["loan_id"], writer)
    writer.close()
    assert _codecs(tmp_path / "merged") == {"ZSTD"}
    write_frame(book, tmp_path / "whole", tmp_path / "_tmp")
    assert _bytes(tmp_path / "merged") == _bytes(tmp_path / "whole")
