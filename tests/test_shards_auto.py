"""``shards: auto`` (DESIGN.md §8): K from the day's loans file and ``max_shard_memory_gib``,
decided once at ingest, recorded, read by every later step and the manifest; any K publishes
the bytes K = 1 does."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
import yaml
from conftest import outputs

from loanrisk.config import ExecutionConfig, load_settings
from loanrisk.domain.feeds import FEEDS
from loanrisk.domain.yaml_models import load_yaml_model
from loanrisk.errors import ConfigError
from loanrisk.lake.shards import (
    LANDING_BYTES_PER_LOAN,
    SHARD_GIB_PER_MILLION_LOANS,
    day_shards,
    shards_for,
)
from loanrisk.lake.storage import lake_of
from loanrisk.pipeline.orchestration import shard_numbers
from loanrisk.pipeline.registry import DAILY
from loanrisk.pipeline.runner import run_day, run_step

START = dt.date(2026, 6, 1)
DAYS = 2
MILLION_LOANS_BYTES = 1_000_000 * LANDING_BYTES_PER_LOAN


# --- the pure function -----------------------------------------------------------------------


def test_the_measured_constants_are_pinned():
    """A new measurement changes K for every deployment on auto: it shows here."""
    assert LANDING_BYTES_PER_LOAN == 260
    assert float(SHARD_GIB_PER_MILLION_LOANS) == 1.8


@pytest.mark.parametrize(
    ("landing_bytes", "max_gib", "shards"),
    [
        (MILLION_LOANS_BYTES, 1.8, 1),  # 1.8 GiB estimated: exactly one shard's worth
        (MILLION_LOANS_BYTES + 1, 1.8, 2),  # a byte more is over
        (MILLION_LOANS_BYTES, 0.6, 3),  # 1.8 / 0.6 in floats is 3.0000000000000004: 4
        (MILLION_LOANS_BYTES, 0.5, 4),
        (10 * MILLION_LOANS_BYTES, 4, 5),  # a 10M-loan day under 4 GiB a shard: 18 / 4
        (30 * MILLION_LOANS_BYTES, 4, 14),
        (1_000, 4, 1),  # a tiny file: one shard
        (0, 4, 1),
        (10 * MILLION_LOANS_BYTES, 0.01, 256),  # never more than MAX_SHARDS
    ],
)
def test_shards_for_a_landing_file(landing_bytes, max_gib, shards):
    assert shards_for(landing_bytes, max_gib) == shards


@pytest.mark.parametrize(
    ("landing_bytes", "slots", "shards"),
    [
        (10 * MILLION_LOANS_BYTES, 2, 6),  # 5 shards on 2 slots: 6, three full waves
        (10 * MILLION_LOANS_BYTES, 5, 5),
        (30 * MILLION_LOANS_BYTES, 4, 16),
        (MILLION_LOANS_BYTES, 2, 1),  # a day of one shard is not split to fill the slots
        (10 * MILLION_LOANS_BYTES // 100, 8, 1),
    ],
)
def test_auto_rounds_k_up_to_a_multiple_of_the_slots(landing_bytes, slots, shards):
    assert shards_for(landing_bytes, 4, slots) == shards


# --- the setting -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("document", "key"),
    [
        ({"shards": "many"}, "shards"),
        ({"shards": 0}, "shards"),
        ({"shards": 257}, "shards"),
        ({"shards": True}, "shards"),
        ({"shards": "3"}, "shards"),
        ({"shards": "auto", "max_shard_memory_gib": 0}, "max_shard_memory_gib"),
        ({"shards": "auto", "max_shard_memory_gib": -1}, "max_shard_memory_gib"),
        ({"shards": "auto", "max_shard_memory_gib": "lots"}, "max_shard_memory_gib"),
        ({"shards": "auto", "max_shard_gib": 2}, "max_shard_gib"),
        ({"shards": "auto", "shard_slots": 0}, "shard_slots"),
        ({"shards": "auto", "shard_slots": 1.5}, "shard_slots"),
    ],
)
def test_a_bad_setting_is_refused_naming_its_key(tmp_path, document, key):
    path = tmp_path / "execution.yaml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"execution\.yaml: {key}: "):
        load_yaml_model(path, ExecutionConfig)


def test_auto_and_counts_load(tmp_path):
    path = tmp_path / "execution.yaml"
    path.write_text("shards: auto\nmax_shard_memory_gib: 2.5\n", encoding="utf-8")
    loaded = load_yaml_model(path, ExecutionConfig)
    assert (loaded.shards, loaded.max_shard_memory_gib) == ("auto", 2.5)
    assert ExecutionConfig(shards=256).shards == 256
    assert ExecutionConfig().shards == 1


# --- end to end ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def landing(tmp_path_factory, config_dir):
    from loanrisk.synth import generate

    folder = tmp_path_factory.mktemp("landing")
    generate(START, DAYS, 150, 13, folder, config_dir)
    return folder


def loans_bytes(landing) -> list[int]:
    return [p.stat().st_size for p in sorted(landing.glob("loans_*.csv"))]


def three_shards_gib(landing) -> float:
    """A max_shard_memory_gib that gives K = 3 for every day of ``landing``: the largest
    file's estimate over 2.5 (the days' files differ by a few loans)."""
    sizes = loans_bytes(landing)
    estimate = max(sizes) / LANDING_BYTES_PER_LOAN * float(SHARD_GIB_PER_MILLION_LOANS) / 1e6
    chosen = estimate / 2.5
    assert all(shards_for(size, chosen) == 3 for size in sizes)
    return chosen


def settings_at(root, landing, config_dir, execution: ExecutionConfig):
    settings = load_settings(config_dir, root)
    return dataclasses.replace(settings, landing_dir=landing, execution=execution)


SHARD_STEPS = [entry for entry in DAILY if entry.per in ("shard", "feed_shard")]


def manifest(settings, day: dt.date) -> dict:
    return json.loads(lake_of(settings).run_manifest(day).read_text(encoding="utf-8"))


def shard_runs(root) -> list[tuple[str, ...]]:
    """(day, step, [feed,] shard) of every shard step the logs show."""
    lines = [json.loads(x) for p in sorted((root / "logs").glob("*.jsonl")) for x in p.open()]
    return [
        (x["business_date"], x["stage"], *map(str, x["args"]))
        for x in lines
        if x["stage"].endswith("_shard")
    ]


@pytest.mark.slow
def test_auto_three_shards_publish_the_bytes_of_one_and_record_k(tmp_path, landing, config_dir):
    one = settings_at(tmp_path / "one", landing, config_dir, ExecutionConfig(shards=1))
    auto = ExecutionConfig(shards="auto", max_shard_memory_gib=three_shards_gib(landing))
    three = settings_at(tmp_path / "auto", landing, config_dir, auto)
    for n in range(DAYS):
        run_day(START + dt.timedelta(days=n), one)
        run_day(START + dt.timedelta(days=n), three)
    published = outputs(one.data_root)
    assert outputs(three.data_root) == published
    assert any("loan_risk" in path for path in published)
    for n, size in enumerate(loans_bytes(landing)):
        day = START + dt.timedelta(days=n)
        recorded = manifest(three, day)["execution"]
        assert recorded == {
            "shards": 3,
            "setting": "auto",
            "max_shard_memory_gib": auto.max_shard_memory_gib,
            "shard_slots": 1,
            "landing_bytes": size,
        }
        assert manifest(one, day)["execution"] == {
            "shards": 1,
            "setting": 1,
            "landing_bytes": size,
        }
    runs = shard_runs(three.data_root)
    per_day = sum(len(FEEDS) if e.per == "feed_shard" else 1 for e in SHARD_STEPS)
    assert len(runs) == DAYS * per_day * 3 and {shard for *_, shard in runs} == {"0", "1", "2"}
    assert not shard_runs(one.data_root)  # K = 1: the combine step does it all
    # the recorded K stays out of every published table: only the manifests differ
    raw = {p: (one.data_root / p).read_bytes() for p in published if "manifest" not in p}
    assert all((three.data_root / p).read_bytes() == data for p, data in raw.items())


def ingest_day(settings) -> None:
    for feed in FEEDS:
        run_step("ingest", START, settings, feed=feed)
    count = day_shards(lake_of(settings), START, settings.execution)["shards"]
    for feed in FEEDS:
        for shard in range(count) if count > 1 else ():
            run_step("validate_shard", START, settings, feed=feed, shard=shard)
        run_step("validate", START, settings, feed=feed)


def test_k_is_decided_once_at_ingest_and_again_on_a_rerun(tmp_path, landing, config_dir):
    execution = ExecutionConfig(shards="auto", max_shard_memory_gib=three_shards_gib(landing))
    auto = settings_at(tmp_path / "data", landing, config_dir, execution)
    ingest_day(auto)
    lake = lake_of(auto)
    assert day_shards(lake, START, auto.execution)["shards"] == 3
    # execution.yaml edited mid-day: the day keeps the K its ingest decided
    edited = dataclasses.replace(auto, execution=ExecutionConfig(shards=2))
    assert day_shards(lake, START, edited.execution)["shards"] == 3
    for shard in range(3):
        run_step("age_loans_shard", START, edited, shard=shard)
    assert run_step("age_loans", START, edited).rows_out > 0  # the 3 parts combined, not 2
    # Airflow maps the shard tasks over the recorded K too (outside a task: no shadow)
    config = write_execution(tmp_path, config_dir, "shards: 2\n")
    params = {"config_dir": str(config), "data_root": str(auto.data_root)}
    assert shard_numbers(START.isoformat(), params) == [0, 1, 2]
    # a rerun ingests again and decides again
    ingest_day(edited)
    assert day_shards(lake, START, auto.execution)["shards"] == 2
    assert shard_numbers(START.isoformat(), params) == [0, 1]


def write_execution(tmp_path, config_dir, text: str):
    """A copy of the config folder with ``text`` as its execution.yaml."""
    import shutil

    folder = tmp_path / "config"
    shutil.copytree(config_dir, folder)
    (folder / "execution.yaml").write_text(text, encoding="utf-8")
    return folder
