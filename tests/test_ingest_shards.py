"""Ingest reads a landing file in one streaming pass (``quality.text_blocks``): the same text as
the whole file read at once, the same staging bytes at K = 1, and with K > 1 the K staging parts
by borrower, every copy of a unique key in one part; memory bounded by a block."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest

from loanrisk.config import ExecutionConfig, load_settings
from loanrisk.errors import GateError, LandingFileError
from loanrisk.lake.shards import Shard, borrower_shard, checked_parts, part_files
from loanrisk.lake.storage import lake_of, sha256_file, write_partition
from loanrisk.pipeline.ingest_stage import ingest_feed, part_table, staged_part_inputs
from loanrisk.quality.contracts import Column, Contract
from loanrisk.quality.parsing import SOURCE_LINE, raw_name, read_text_and_facts
from loanrisk.quality.text_blocks import TextBlocks

DAY = dt.date(2026, 6, 1)


def _column(name: str) -> Column:
    return Column(name, pl.String(), "varchar", False, False, "")


PAIR = Contract("pair", "1", (_column("a"), _column("b")), None, True)

#: Files whose text must not depend on where the blocks are cut.
FILES = {
    "plain": b"a,b\n" + b"".join(b"%d,x%d\n" % (i, i) for i in range(50)),
    "no-final-break": b"a,b\n1,2\n3,4",
    "quoted-breaks": b'a,b\n1,"x\ny"\n2,"p""q\n\nr"\n3,z\n' * 5,
    "blank-lines": b'a,b\n1,x\n\n2,y\n\n\n3,""\n',
    "crlf": b"a,b\r\n1,2\r\n\r\n3,4\r\n",
    "extra-column": b"a,b,c\n1,2,3\n4,5,6\n",
    "bom": b"\xef\xbb\xbfa,b\n1,2\n3,4\n",
    "header-only": b"a,b\n",
    "header-no-break": b"a,b",
    "bad-utf8": b"a,b\n1,2\n3,\xff\n5,6\n",
    "column-missing": b"a\n1\n",
    "ragged": b"a,b\n1,2,3\n",
    "unterminated-quote": b'a,b\n1,"2\n3,4\n',
    "blank-lines-only": b"\n\n",
    "empty": b"",
}


def _outcome(read) -> tuple:
    try:
        text, facts = read()
    except LandingFileError as exc:
        return ("gate", exc.gate, exc.reason)
    return (text.schema, text.rows(), facts)


def _blocks(path: Path, contract: Contract, encoding: str, size: int):
    def read():
        blocks = TextBlocks(path, contract, encoding, block_bytes=size)
        frames = list(blocks)
        return pl.concat(frames), blocks.facts

    return read


@pytest.mark.parametrize("name", list(FILES))
def test_blocks_give_the_text_of_the_whole_file(tmp_path, name):
    path = tmp_path / "pair.csv"
    path.write_bytes(FILES[name])
    whole = _outcome(lambda: read_text_and_facts(path, PAIR, "utf-8"))
    for size in (1, 2, 3, 5, 7, 16, 1 << 20):
        assert _outcome(_blocks(path, PAIR, "utf-8", size)) == whole, size


def test_blocks_of_a_gbk_file_name_the_bad_line(tmp_path):
    good = "a,b\n" + "".join(f"{i},王{i}\n" for i in range(20))
    path = tmp_path / "pair.csv"
    path.write_bytes(good.encode("gbk"))
    whole = _outcome(lambda: read_text_and_facts(path, PAIR, "gbk"))
    assert whole[0] != "gate"
    for size in (3, 11, 1 << 20):
        assert _outcome(_blocks(path, PAIR, "gbk", size)) == whole
    path.write_bytes(good.encode("gbk") + b"99,\x80\n")  # a lead byte and no trail byte
    whole = _outcome(lambda: read_text_and_facts(path, PAIR, "gbk"))
    assert whole[:2] == ("gate", "FILE_UNREADABLE") and "line 22" in whole[2]
    for size in (3, 11, 1 << 20):
        assert _outcome(_blocks(path, PAIR, "gbk", size)) == whole


def test_blocks_of_a_parquet_file(tmp_path, monkeypatch):
    import loanrisk.quality.text_blocks as text_blocks

    monkeypatch.setattr(text_blocks, "BLOCK_ROWS", 7)
    path = tmp_path / "pair.parquet"
    pl.DataFrame({"a": list(range(30)), "b": [f"x{i}" for i in range(30)]}).write_parquet(path)
    whole = _outcome(lambda: read_text_and_facts(path, PAIR, "utf-8"))
    assert _outcome(_blocks(path, PAIR, "utf-8", None)) == whole


# --- the staging partition and its parts ----------------------------------------------------


@pytest.fixture(scope="module")
def landing(tmp_path_factory, config_dir):
    from loanrisk.synth import generate

    folder = tmp_path_factory.mktemp("landing")
    generate(DAY, 1, 600, 5, folder, config_dir)
    return folder


def settings_for(root: Path, landing: Path, config_dir: Path, count: int):
    settings = dataclasses.replace(load_settings(config_dir, root), landing_dir=landing)
    return dataclasses.replace(settings, execution=ExecutionConfig(shards=count))


def _staging_bytes(settings, feed: str) -> list[str]:
    return [sha256_file(p) for p in lake_of(settings).partition_files("staging", feed, DAY)]


@pytest.mark.parametrize("feed", ["loan_snapshot", "events", "contacts"])
def test_k1_staging_is_the_bytes_of_the_whole_file_read_at_once(
    tmp_path, landing, config_dir, monkeypatch, feed
):
    """The text written whole (the ingest before blocks) and in blocks of 4 KiB: same bytes."""
    import loanrisk.quality.text_blocks as text_blocks
    from loanrisk.quality.contracts import load_contract

    settings = settings_for(tmp_path / "k1", landing, config_dir, 1)
    contract = load_contract(settings.contracts_dir, feed)
    path = settings.landing_dir / contract.landing_file_name(DAY.isoformat())
    text, _ = read_text_and_facts(path, contract, settings.pipeline.input_encoding)
    whole = write_partition(text, tmp_path / "whole", tmp_path / "scratch", one_row_group=True)
    monkeypatch.setattr(text_blocks, "BLOCK_BYTES", 4096)
    assert ingest_feed(DAY, settings, feed).rows_in == text.height
    assert _staging_bytes(settings, feed) == [sha256_file(whole)]
    assert not (settings.data_root / "lake" / "shards").exists()


@pytest.mark.parametrize("count", [3, 8])
def test_parts_hold_the_staged_rows_by_borrower(tmp_path, landing, config_dir, monkeypatch, count):
    import loanrisk.pipeline.ingest_shards as ingest_shards
    import loanrisk.quality.text_blocks as text_blocks

    monkeypatch.setattr(text_blocks, "BLOCK_BYTES", 8192)
    monkeypatch.setattr(ingest_shards, "BUFFER_ROWS", 50)  # many row groups a part
    one = settings_for(tmp_path / "one", landing, config_dir, 1)
    many = settings_for(tmp_path / "many", landing, config_dir, count)
    for feed in ("loan_snapshot", "events", "contacts"):
        ingest_feed(DAY, one, feed)
        ingest_feed(DAY, many, feed)
        assert _staging_bytes(many, feed) == _staging_bytes(one, feed)
        lake = lake_of(many)
        staged = lake.read("staging", feed, DAY)
        inputs = staged_part_inputs(lake, DAY, feed)
        files = checked_parts(lake, part_table(feed), DAY, count, inputs)
        parts = [pl.read_parquet(f) for f in files]
        for number, part in enumerate(parts):
            assert part[SOURCE_LINE].is_sorted() and part.columns == staged.columns
            borrower = pl.col(raw_name("borrower_id")).alias("borrower_id")
            own = part.select(borrower).select(borrower_shard(count))
            assert own.to_series().eq(number).all()  # a borrower's rows: in its shard's part
        assert pl.concat(parts).sort(SOURCE_LINE).equals(staged)
        assert sum(p.height for p in parts) == staged.height
        assert sum(p.is_empty() for p in parts) < count


def _loans_with_a_shared_key(landing: Path, folder: Path, count: int) -> tuple[str, str, str]:
    """A copy of the landing files where one loan_id is also written for a borrower of
    another shard (a cross-shard duplicate, after the first row of it); returns
    (loan_id, its first borrower, the other borrower)."""
    import shutil

    shutil.copytree(landing, folder)
    path = folder / f"loans_{DAY}.csv"
    frame = pl.read_csv(path, infer_schema=False)
    shard = frame.select(borrower_shard(count)).to_series()
    first = frame.row(0, named=True)
    other = frame.filter(shard != shard[0]).row(3, named=True)
    copy = frame.filter(pl.col("loan_id") == other["loan_id"]).with_columns(
        pl.lit(first["loan_id"]).alias("loan_id")
    )
    pl.concat([frame, copy]).write_csv(path)
    return first["loan_id"], first["borrower_id"], other["borrower_id"]


def test_a_cross_shard_duplicate_key_lands_in_its_first_rows_shard(tmp_path, landing, config_dir):
    count = 3
    folder = tmp_path / "landing"
    loan, borrower, other = _loans_with_a_shared_key(landing, folder, count)
    settings = settings_for(tmp_path / "root", folder, config_dir, count)
    ingest_feed(DAY, settings, "loan_snapshot")
    lake = lake_of(settings)
    table, key = part_table("loan_snapshot"), pl.col(raw_name("loan_id"))
    held = {n: pl.read_parquet(part_files(lake, table, DAY, Shard(n, count))) for n in range(count)}
    copies = {n: part.filter(key == loan).height for n, part in held.items()}
    home = pl.DataFrame({"borrower_id": [borrower, other]}).select(borrower_shard(count))
    first_shard, other_shard = home.to_series().to_list()
    assert first_shard != other_shard and copies[first_shard] == 2, copies
    assert sum(copies.values()) == 2
    # The other borrower's own rows stay in its shard; nothing is lost or doubled.
    staged = lake.read("staging", "loan_snapshot", DAY)
    assert pl.concat(held.values()).sort(SOURCE_LINE).equals(staged)
    for part in held.values():
        assert part[SOURCE_LINE].is_sorted()
    checked_parts(lake, table, DAY, count, staged_part_inputs(lake, DAY, "loan_snapshot"))


def test_a_gate_leaves_no_parts_and_no_new_staging(tmp_path, landing, config_dir):
    import shutil

    folder = tmp_path / "landing"
    shutil.copytree(landing, folder)
    settings = settings_for(tmp_path / "root", folder, config_dir, 3)
    ingest_feed(DAY, settings, "events")
    lake = lake_of(settings)
    before = _staging_bytes(settings, "events")
    path = folder / f"events_{DAY}.csv"
    path.write_bytes(path.read_bytes() + b'E9,"unterminated\n')
    with pytest.raises(GateError, match="FILE_UNREADABLE"):
        ingest_feed(DAY, settings, "events")
    assert _staging_bytes(settings, "events") == before
    assert not part_files(lake, part_table("events"), DAY, Shard(0, 3))
    assert not [p for p in lake.scratch.iterdir() if p.name.startswith("new-")]


def test_a_part_that_cannot_be_written_fails_the_ingest_and_leaves_nothing(
    tmp_path, landing, config_dir, monkeypatch
):
    """Row groups are written by a thread of their own: its error is the ingest's."""
    import pyarrow.parquet as pq

    import loanrisk.pipeline.ingest_shards as ingest_shards

    monkeypatch.setattr(ingest_shards, "BUFFER_ROWS", 50)
    settings = settings_for(tmp_path / "root", landing, config_dir, 3)
    calls = []

    def full_disk(self, table, row_group_size=None):
        calls.append(table.num_rows)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return original(self, table, row_group_size=row_group_size)

    original = pq.ParquetWriter.write_table
    monkeypatch.setattr(pq.ParquetWriter, "write_table", full_disk)
    with pytest.raises(OSError, match="No space left"):
        ingest_feed(DAY, settings, "loan_snapshot")
    lake = lake_of(settings)
    assert not part_files(lake, part_table("loan_snapshot"), DAY, Shard(0, 3))
    assert not lake.partition("staging", "loan_snapshot", DAY).exists()
    assert not [p for p in lake.scratch.iterdir() if p.name.startswith("new-")]


# --- memory: bounded by a block ---------------------------------------------------------------

PEAK = """
import dataclasses, datetime as dt, re, sys
from pathlib import Path
import loanrisk.lake.partitions as partitions
import loanrisk.pipeline.ingest_shards as ingest_shards
import loanrisk.quality.text_blocks as text_blocks
from loanrisk.config import ExecutionConfig, load_settings
from loanrisk.pipeline.ingest_stage import ingest_feed
landing, root, config = (Path(a) for a in sys.argv[1:4])
count = int(sys.argv[4])
text_blocks.BLOCK_BYTES = 1 << 20
partitions.FILE_ROWS = ingest_shards.BUFFER_ROWS = 16_384
settings = dataclasses.replace(load_settings(config, root), landing_dir=landing)
settings = dataclasses.replace(settings, execution=ExecutionConfig(shards=count))
ingest_feed(dt.date(2026, 6, 1), settings, "loan_snapshot")
print(re.search(r"VmHWM:\\s*(\\d+) kB", Path("/proc/self/status").read_text()).group(1))
"""


def _loans_file(landing: Path, folder: Path, mib: int) -> None:
    """A loans file of about ``mib`` MiB: the synthetic day's rows again and again, each
    copy's loans under new ids (a unique key stays unique)."""
    import shutil

    shutil.copytree(landing, folder)
    path = folder / f"loans_{DAY}.csv"
    frame = pl.read_csv(path, infer_schema=False)
    size, copies = path.stat().st_size, []
    for n in range(max(1, mib * (1 << 20) // size)):
        copies.append(frame.with_columns(pl.col("loan_id") + f"-{n}"))
    pl.concat(copies).write_csv(path)


def _peak_kib(tmp_path: Path, folder: Path, config_dir: Path, count: int) -> int:
    root = tmp_path / f"root-{folder.name}-{count}"
    args = [sys.executable, "-c", PEAK, str(folder), str(root), str(config_dir), str(count)]
    done = subprocess.run(args, capture_output=True, text=True, check=True, timeout=300)
    return int(done.stdout.split()[-1])


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_file(tmp_path, landing, config_dir):
    """16 and 64 blocks of 1 MiB peak alike, with K = 1 and K = 4 (measured 2-8 MiB apart on a
    quiet machine, 18.5 MiB under the full suite's load: the allocators' caches); read whole,
    32 MiB more of the file took 120 MiB more, so the 48 MiB more here would take ~180 MiB.
    The peak is the child's VmHWM (its ru_maxrss keeps the forking parent's)."""
    few, many = tmp_path / "few", tmp_path / "many"
    _loans_file(landing, few, 16)
    _loans_file(landing, many, 64)
    for count in (1, 4):
        low = _peak_kib(tmp_path, few, config_dir, count)
        high = _peak_kib(tmp_path, many, config_dir, count)
        assert high - low < 48 * 1024, (count, low, high)


def test_blank_lines_before_the_header_count_in_source_lines(tmp_path):
    """Polars skips blank lines before the header; the rows' source lines count them (the
    whole-file read numbered the first row 2 whatever came before the header)."""
    path = tmp_path / "pair.csv"
    path.write_bytes(b"\n\r\na,b\n1,2\n\n3,4\n")
    for size in (1, 4, 1 << 20):
        text = pl.concat(TextBlocks(path, PAIR, "utf-8", block_bytes=size))
        assert text[SOURCE_LINE].to_list() == [4, 6], size
        assert text[raw_name("a")].to_list() == ["1", "3"]
