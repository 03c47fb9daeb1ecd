"""Scoring per borrower shard (issue 24): each shard writes its parts of loan_risk, risk_actions,
the restaged loan_aging and the monitoring counts; the combine merges them a file's rows at a
time and computes score_monitoring from the summed counts: the bytes and record of K = 1."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import shutil

import polars as pl
import pytest
from conftest import KEPT_PARTS, kept_parts, outputs

from loanrisk.config import ExecutionConfig, load_settings
from loanrisk.errors import ShardError
from loanrisk.lake import partitions
from loanrisk.lake.shards import Shard, borrower_shard, combine_parts, part_files, write_part
from loanrisk.lake.storage import Lake, lake_of, write_table
from loanrisk.pipeline import risk_shards, risk_stage
from loanrisk.pipeline.runner import run_day

START = dt.date(2026, 6, 1)
DAYS = 3
LAST = START + dt.timedelta(days=DAYS - 1)
#: What score_loans publishes (tables, extract, stage record).
SCORED = (
    "lake/curated/loan_risk/",
    "lake/curated/risk_actions/",
    "lake/curated/score_monitoring/",
    "lake/curated/loan_aging/",
    "extracts/risk_actions/",
    "/stages/score_loans.json",
)


def scored(published: dict[str, str]) -> dict[str, str]:
    """The files of ``published`` that score_loans writes."""
    return {path: sha for path, sha in published.items() if any(s in path for s in SCORED)}


def settings_at(root, landing, config_dir, count: int):
    settings = dataclasses.replace(load_settings(config_dir, root), landing_dir=landing)
    return dataclasses.replace(settings, execution=ExecutionConfig(shards=count))


@pytest.fixture(scope="module")
def landing(tmp_path_factory, config_dir):
    from loanrisk.synth import generate

    folder = tmp_path_factory.mktemp("landing")
    generate(START, DAYS, 300, 5, folder, config_dir)
    return folder


@pytest.fixture(scope="module")
def one_root(tmp_path_factory, landing, config_dir):
    """A data_root the days ran in with K = 1."""
    root = tmp_path_factory.mktemp("one")
    settings = settings_at(root, landing, config_dir, 1)
    for n in range(DAYS):
        run_day(START + dt.timedelta(days=n), settings)
    return root


@pytest.mark.slow
@pytest.mark.parametrize("count", [3, 8])
def test_k_shards_score_the_bytes_of_one(tmp_path, landing, config_dir, one_root, count):
    """K = 3, and K = 8 (a shard of a few borrowers, or none), over three days."""
    expected = scored(outputs(one_root))
    assert len([p for p in expected if p.endswith("score_loans.json")]) == DAYS
    assert len([p for p in expected if "extracts/risk_actions" in p]) == 3 * DAYS
    sharded = settings_at(tmp_path / "sharded", landing, config_dir, count)
    for n in range(DAYS):
        run_day(START + dt.timedelta(days=n), sharded)
    assert scored(outputs(sharded.data_root)) == expected
    assert not list((sharded.data_root / "lake" / "shards").rglob("*.parquet"))


def copy_of(one_root, tmp_path, name: str, landing, config_dir):
    root = tmp_path / name
    shutil.copytree(one_root, root, symlinks=True)
    return settings_at(root, landing, config_dir, 1)


def test_combine_of_many_files_is_the_one_process_day(
    tmp_path, landing, config_dir, one_root, monkeypatch
):
    """With partitions of 40 rows a file, the combine merges many files per part: the last
    day scored again by K = 3 parts is score_day's bytes and record; each part holds its
    borrowers' rows only; the combine hands its writer a file's rows at most."""
    monkeypatch.setattr(partitions, "FILE_ROWS", 40)
    whole = copy_of(one_root, tmp_path, "whole", landing, config_dir)
    parted = copy_of(one_root, tmp_path, "parted", landing, config_dir)
    report = risk_stage.score_day(lake_of(whole), whole, LAST)
    lake = lake_of(parted)
    for number in range(3):
        shard = Shard(number, 3)
        risk_stage.score_shard(lake, parted, LAST, shard)
        for table in (risk_shards.RISK_PART, risk_shards.ACTIONS_PART, risk_shards.AGING_PART):
            part = pl.read_parquet(part_files(lake, table, LAST, shard))
            assert part.height and set(part.select(borrower_shard(3))["borrower_id"]) == {number}
    added = []
    original_add = partitions.PartitionWriter.add
    monkeypatch.setattr(
        partitions.PartitionWriter,
        "add",
        lambda self, frame: (
            added.append((self.target.parent.name, frame.height)) or original_add(self, frame)
        ),
    )
    combined = risk_stage.combine_scores(lake, parted, LAST, 3)
    assert json.dumps(combined, sort_keys=True) == json.dumps(report, sort_keys=True)
    assert scored(outputs(parted.data_root)) == scored(outputs(whole.data_root))
    assert report["output"]["rows"] > 40 * 3  # several files: the merge was exercised
    merged = {"loan_risk", "risk_actions", "loan_aging"}
    assert {table for table, _ in added} == {*merged, "score_monitoring"}
    assert max(rows for table, rows in added if table in merged) <= 40  # score_monitoring: bins
    assert kept_parts(parted.data_root) <= KEPT_PARTS  # actions' and counts' parts gone


def test_monitoring_of_summed_counts_is_the_book_s(tmp_path, landing, config_dir, one_root):
    """The score PSI and feature CSI computed from per-shard counts, summed, are the index the
    whole book's counts give (K = 5: shards of a few dozen loans, some bins empty in each)."""
    settings = settings_at(one_root, landing, config_dir, 1)
    loans = risk_stage.scored_loans(lake_of(settings), settings, LAST).collect()
    card = settings.risk.scorecard
    whole = risk_shards.monitoring_table(
        settings, risk_shards.monitoring_counts(loans, card).lazy()
    )
    parts = [
        risk_shards.monitoring_counts(loans.filter(borrower_shard(5) == k), card) for k in range(5)
    ]
    assert sum(p.height for p in parts) > risk_shards.monitoring_counts(loans, card).height
    summed = risk_shards.monitoring_table(settings, pl.concat(parts).lazy())
    assert summed.equals(whole) and whole.height > 0
    assert whole["stability_index"].null_count() == 0


def test_combine_names_a_stale_part_and_publishes_nothing(tmp_path, landing, config_dir, one_root):
    settings = copy_of(one_root, tmp_path, "stale", landing, config_dir)
    lake = lake_of(settings)
    for number in range(2):
        risk_stage.score_shard(lake, settings, LAST, Shard(number, 2))
    before = outputs(settings.data_root)
    aging = lake.partition_file("curated", "loan_aging", LAST)
    pl.read_parquet(aging).head(10).write_parquet(aging)  # the aging rewritten after the shards
    with pytest.raises(ShardError, match=r"shard=0-of-2 computed from other inputs"):
        risk_stage.combine_scores(lake, settings, LAST, 2)
    after = outputs(settings.data_root)
    changed = {p for p in after if after[p] != before.get(p)}
    assert changed == {lake.relative(aging)}  # nothing published


def test_combine_names_a_missing_part(tmp_path, landing, config_dir, one_root):
    settings = copy_of(one_root, tmp_path, "missing", landing, config_dir)
    lake = lake_of(settings)
    risk_stage.score_shard(lake, settings, LAST, Shard(1, 2))
    with pytest.raises(ShardError, match=r"shard=0-of-2 missing"):
        risk_stage.combine_scores(lake, settings, LAST, 2)


def test_a_list_column_written_whole_is_the_merge_s_bytes(tmp_path, monkeypatch):
    """risk_actions written whole in K = 1 (more than a file's rows, with its list column) is
    the bytes of the same rows merged from shard parts."""
    monkeypatch.setattr(partitions, "FILE_ROWS", 20_000)
    n = 60_000
    frame = pl.DataFrame(
        {
            "borrower_id": [f"B{i:07d}" for i in range(n)],
            "action": ["PRICING_TIER"] * n,
            "loan_ids": [[f"L{i:08d}", f"L{i + n:08d}"][: 1 + i % 2] for i in range(n)],
        }
    )
    whole, parted = (Lake(tmp_path / name, tmp_path / "landing") for name in ("whole", "parted"))
    written = write_table(whole, "curated", "risk_actions", START, frame)
    for number in range(3):
        part = frame.filter(borrower_shard(3) == number)
        write_part(parted, "risk_actions", START, Shard(number, 3), part, {})
    key = risk_shards.ACTIONS_KEY
    merged = combine_parts(parted, "risk_actions", START, 3, {}, key)
    assert written == merged and written["path"].endswith("snapshot_date=2026-06-01")
    files = [f.name for f in whole.partition_files("curated", "risk_actions", START)]
    assert files == ["part-0.parquet", "part-1.parquet", "part-2.parquet"]
