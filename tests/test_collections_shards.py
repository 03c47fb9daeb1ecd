"""build_collections per borrower shard (issue 24, point 1): K shards publish the bytes of K = 1.

A K = 1 pipeline runs three days of a synthetic book with the contacts feed; a copy of its
data_root loses every collections output (tables, extracts, stage records), then each day in
order runs ``collections_shard`` for every shard and ``combine_collections``: the same tables,
extracts and stage record as ``collections_day``, for K = 3 and K = 8 (shards with no suppressed
or no worked borrowers included), day 2 and 3 continuing episodes from the sharded day before.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import outputs

from loanrisk.config import ExecutionConfig, load_settings
from loanrisk.errors import ShardError
from loanrisk.lake import records
from loanrisk.lake.shards import Shard, borrower_shard, part_files
from loanrisk.lake.storage import Lake, lake_of
from loanrisk.pipeline.collections_shards import MOVES, QUEUE, SUPPRESSED, WORKED
from loanrisk.pipeline.collections_stage import PARTS, collections_shard, combine_collections
from loanrisk.pipeline.runner import run_day

START, DAYS = dt.date(2026, 6, 1), 3
STEP = "build_collections"
TABLES = (QUEUE, SUPPRESSED, "collections_movements")


def _days() -> list[dt.date]:
    return [START + dt.timedelta(days=n) for n in range(DAYS)]


@pytest.fixture(scope="module")
def one(tmp_path_factory, config_dir):
    """The settings of a K = 1 data_root that ran ``DAYS`` days with the contacts feed."""
    from loanrisk.synth import generate

    folder = tmp_path_factory.mktemp("collections-shards")
    landing = folder / "landing"
    generate(START, DAYS, 2000, 5, landing, config_dir)
    assert list(landing.glob("contacts_*.csv"))
    settings = load_settings(config_dir, folder / "one")
    settings = dataclasses.replace(
        settings, landing_dir=landing, execution=ExecutionConfig(shards=1)
    )
    for day in _days():
        run_day(day, settings)
    return settings


def test_the_book_has_every_case(one):
    """What the byte comparison covers: holds of both kinds, agencies carried, suppressed
    borrowers, borrowers who cured or exited."""
    lake = lake_of(one)
    queue = pl.concat([lake.read("curated", QUEUE, d) for d in _days()])
    assert {"CONTACT_CAP", "PROMISE_TO_PAY"} <= set(queue["hold_reason"].drop_nulls())
    assert queue.filter(pl.col("agency").is_not_null()).height > 0
    assert sum(lake.read("curated", SUPPRESSED, d).height for d in _days()) > 0
    moves = pl.concat([lake.read("curated", "collections_movements", d) for d in _days()])
    assert moves["cured"].sum() > 0 and moves["exited"].sum() > 0


def without_collections(settings, root: Path):
    """A copy of ``settings``' data_root with no collections output of any day."""
    shutil.copytree(settings.data_root, root)
    copy = dataclasses.replace(settings, data_root=root)
    lake = lake_of(copy)
    for day in _days():
        for table in TABLES:
            shutil.rmtree(lake.partition("curated", table, day))
        shutil.rmtree(lake.extract_dir("collections", day))
        lake.stage_report(day, STEP).unlink()
    return copy


def record_bytes(lake: Lake, day: dt.date) -> bytes:
    return lake.stage_report(day, STEP).read_bytes()


def collections_outputs(root: Path) -> dict[str, str]:
    return {p: h for p, h in outputs(root).items() if "collections" in p}


@pytest.mark.slow
@pytest.mark.parametrize("count", [3, 8])
def test_k_shards_publish_the_collections_of_one(tmp_path, one, count):
    sharded = without_collections(one, tmp_path / "sharded")
    lake, policy = lake_of(sharded), sharded.risk.collections
    assert not collections_outputs(sharded.data_root)
    empty = {table: 0 for table in PARTS}
    for day in _days():
        for number in range(count):
            shard = Shard(number, count)
            collections_shard(lake, sharded, policy, day, shard)
            for table in PARTS:
                part = pl.read_parquet(part_files(lake, table, day, shard), glob=False)
                empty[table] += part.is_empty()
                if table in (WORKED, SUPPRESSED, MOVES):  # only the shard's borrowers
                    shards = part.select(borrower_shard(count).alias("s"))["s"]
                    assert (shards == number).all()
        report = combine_collections(lake, sharded, policy, day, count)
        records.write_record(lake, day, STEP, records.Collections.model_validate(report))
        assert record_bytes(lake, day) == record_bytes(lake_of(one), day)
        assert not list((sharded.data_root / "lake" / "shards").rglob("*.parquet"))
    assert collections_outputs(sharded.data_root) == collections_outputs(one.data_root)
    assert len(collections_outputs(one.data_root)) >= DAYS * (len(TABLES) + 2)
    if count == 8:  # the edge: some shards had no suppressed borrower
        assert empty[SUPPRESSED] > 0
    assert empty[WORKED] < count * DAYS  # the parts were real


def test_combine_names_a_missing_or_stale_part(tmp_path, one):
    sharded = without_collections(one, tmp_path / "sharded")
    lake, policy = lake_of(sharded), sharded.risk.collections
    collections_shard(lake, sharded, policy, START, Shard(0, 2))
    with pytest.raises(ShardError, match=r"shard=1-of-2 missing"):
        combine_collections(lake, sharded, policy, START, 2)
    collections_shard(lake, sharded, policy, START, Shard(1, 2))
    contacts = lake.partition_file("raw", "contacts", START)
    pl.read_parquet(contacts).head(3).write_parquet(contacts)  # a corrected log after the shards
    with pytest.raises(ShardError, match=r"shard=0-of-2 computed from other inputs"):
        combine_collections(lake, sharded, policy, START, 2)
