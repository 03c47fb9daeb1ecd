"""Scale-out by sharding (DESIGN.md §8): K shards publish the bytes one does; parts are checked."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from conftest import outputs

from loanrisk.config import ExecutionConfig, load_settings
from loanrisk.domain.feeds import FEEDS
from loanrisk.errors import ShardError
from loanrisk.lake import partitions
from loanrisk.lake.shards import borrower_shard
from loanrisk.lake.storage import lake_of
from loanrisk.pipeline import runner
from loanrisk.pipeline.registry import DAILY, DayRun
from loanrisk.pipeline.runner import run_day, run_step

#: Every shard task of a day, as the stage log shows it: (step, [feed,] shard).
SHARD_STEPS = [entry for entry in DAILY if entry.per in ("shard", "feed_shard")]
START = dt.date(2026, 6, 1)
DAYS = 3


def with_shards(settings, count: int):
    """The same settings (and config hash) with ``shards: count``."""
    return dataclasses.replace(settings, execution=ExecutionConfig(shards=count))


def run_days(settings, days: int = DAYS) -> None:
    for n in range(days):
        run_day(START + dt.timedelta(days=n), settings)


@pytest.fixture(scope="module")
def landing(tmp_path_factory, config_dir):
    from loanrisk.synth import generate

    folder = tmp_path_factory.mktemp("landing")
    generate(START, DAYS, 400, 11, folder, config_dir)
    assert all(list(folder.glob(f"{feed}_*.csv")) for feed in ("loans", "events", "contacts"))
    return folder


def settings_at(root, landing, config_dir, count: int):
    settings = load_settings(config_dir, root)
    return with_shards(dataclasses.replace(settings, landing_dir=landing), count)


def test_shard_steps_of_a_day_of_one_shard_do_nothing(tmp_path, config_dir):
    """K = 1: every shard step answers {"shard": None} and writes nothing (its combine step
    computes the whole book); K = 2: shard 2 is no shard of the day."""
    root = tmp_path / "data"
    for count, shard in ((1, 0), (2, 2)):
        settings = with_shards(load_settings(config_dir, root), count)
        for entry in SHARD_STEPS:
            part = {"feed": FEEDS[0]} if entry.per == "feed_shard" else {}
            if count == 1:
                got = entry.function(START, settings, DayRun(), shard=shard, **part)
                assert got == {"shard": None}, entry.name
            else:
                with pytest.raises(ShardError):
                    entry.function(START, settings, DayRun(), shard=shard, **part)
    assert not [p for p in root.rglob("*") if p.is_file()]


def test_borrower_shards_are_pinned_and_keep_a_borrower_together():
    """A Polars upgrade that moves borrowers between shards shows here first."""
    frame = pl.DataFrame(
        {
            "borrower_id": ["B0000001", "B0000002", "B0000003", "B0123456", "B0000001"],
            "loan_id": ["L1", "L2", "L3", "L4", "L5"],
        }
    )
    shards = frame.with_columns(borrower_shard(4).alias("shard"))
    assert shards["shard"].to_list() == PINNED
    assert shards.group_by("borrower_id").agg(pl.col("shard").n_unique())["shard"].max() == 1


PINNED = [2, 1, 2, 1, 2]


@pytest.fixture(scope="module")
def published_by_one(tmp_path_factory, landing, config_dir) -> dict[str, str]:
    """What K = 1 publishes over the days (with the events and contacts feeds)."""
    one = settings_at(tmp_path_factory.mktemp("one"), landing, config_dir, 1)
    run_days(one)
    published = outputs(one.data_root)
    assert any("loan_state" in path for path in published)
    return published


@pytest.mark.slow
@pytest.mark.parametrize("count", [3, 8])
def test_k_shards_publish_the_same_bytes_as_one(
    tmp_path, landing, config_dir, published_by_one, count
):
    sharded = settings_at(tmp_path / "sharded", landing, config_dir, count)
    run_days(sharded)
    root = sharded.data_root
    assert outputs(root) == published_by_one
    assert not list((root / "lake" / "shards").rglob("*.parquet"))
    assert not list((root / "state" / "shards").rglob("*.json"))  # nor their records
    lines = [json.loads(x) for p in (root / "logs").glob("*.jsonl") for x in p.open()]
    parts = [(x["stage"], *map(str, x["args"])) for x in lines if x["stage"].endswith("_shard")]
    assert sorted(set(parts)) == expected_parts(count)
    assert len(parts) == len(expected_parts(count)) * DAYS
    assert all(x["status"] == "ok" for x in lines)
    # each shard task in a fresh process of its own: none inherits another's memory
    shard_lines = [x for x in lines if x["stage"].endswith("_shard")]
    assert len({x["pid"] for x in shard_lines}) == len(shard_lines)
    assert not {x["pid"] for x in shard_lines} & {x["pid"] for x in lines if x not in shard_lines}
    # the feeds are ingested side by side, each in a worker, not in the day's process
    ingests = {x["pid"] for x in lines if x["stage"] == "ingest"}
    assert len(ingests) == len(FEEDS) * DAYS
    assert not ingests & {x["pid"] for x in lines if x["stage"] == "age_loans"}
    rows = [x["rows_out"] for x in lines if x["stage"] == "age_loans_shard"]
    assert min(rows) > 0  # every shard had borrowers: the parts were real
    page = lake_of(sharded).validation_page(START)  # GX ran per shard: a row for each
    text = page.read_text(encoding="utf-8")
    assert all(f"shard={k}-of-{count}" in text for k in range(count))
    kept = list(page.parent.glob(f"loan_snapshot/*.shard=*-of-{count}.html"))
    assert len(kept) >= count and "no validation results" not in text


def expected_parts(count: int) -> list[tuple[str, ...]]:
    """Each shard task of a day: per shard, or per feed and shard."""
    expected = []
    for entry in SHARD_STEPS:
        feeds = [(feed,) for feed in FEEDS] if entry.per == "feed_shard" else [()]
        expected += [(entry.name, *f, str(k)) for f in feeds for k in range(count)]
    return sorted(expected)


@pytest.mark.slow
def test_k_shards_of_days_cut_into_many_files_publish_the_same_bytes_as_one(
    tmp_path, landing, config_dir, monkeypatch
):
    """Files of 150 rows (a 400-loan day is three files or more, as a 10M-loan day is ten at the
    real size): K = 3 publishes the bytes of K = 1, every table merged a file at a time. One
    core: the shard tasks run in this process, which sees the small files."""
    monkeypatch.setattr(partitions, "FILE_ROWS", 150)
    monkeypatch.setattr(runner.os, "sched_getaffinity", lambda pid: {0})
    published = {}
    for count in (1, 3):
        settings = settings_at(tmp_path / f"k{count}", landing, config_dir, count)
        run_days(settings, 2)
        published[count] = outputs(settings.data_root)
    folders = {Path(p).parent for p in published[1] if Path(p).name == "part-2.parquet"}
    assert any("raw/loan_snapshot" in str(f) for f in folders)  # cut into files indeed
    assert published[3] == published[1]


def test_combine_names_a_missing_or_stale_part(tmp_path, landing, config_dir):
    two = settings_at(tmp_path / "data", landing, config_dir, 2)
    for feed in FEEDS:
        run_step("ingest", START, two, feed=feed)
        for k in range(2):
            run_step("validate_shard", START, two, feed=feed, shard=k)
        run_step("validate", START, two, feed=feed)
    with pytest.raises(ShardError, match=r"shard 2 does not exist: shards are 0 \.\. 1"):
        run_step("age_loans_shard", START, two, shard=2)
    run_step("age_loans_shard", START, two, shard=0)
    with pytest.raises(ShardError, match=r"shard=1-of-2 missing; rerun the shard tasks"):
        run_step("age_loans", START, two)
    run_step("age_loans_shard", START, two, shard=1)
    raw = lake_of(two).partition_file("raw", "loan_snapshot", START)
    pl.read_parquet(raw).head(10).write_parquet(raw)  # a corrected snapshot after the shards ran
    with pytest.raises(ShardError, match=r"shard=0-of-2 computed from other inputs"):
        run_step("age_loans", START, two)


def test_a_result_gx_did_not_render_is_listed_not_kept(tmp_path):
    """GX renders the newest DOCS_INDEX_RESULTS results only (a 10M-loan day of 5 shards has
    more): the day's page lists such a result without a page instead of failing the report."""
    from loanrisk.lake.storage import Lake
    from loanrisk.report.validation_docs import build_day_validation_page, keep_pages

    lake = Lake(tmp_path, tmp_path / "landing")
    store = tmp_path / "gx" / "store"
    relative = Path("loan_snapshot/all/loan_snapshot 2026-06-01 shard=0-of-5/20260601T0/b.json")
    (store / relative).parent.mkdir(parents=True)
    (store / relative).write_text('{"statistics": {"evaluated_expectations": 3}}')
    keep_pages(lake, START, [relative])  # no page rendered for it: nothing to keep
    page = build_day_validation_page(lake, [(store, store / relative)], START)
    text = page.read_text(encoding="utf-8")
    assert "all shard=0-of-5" in text and "not kept" in text
