"""compute_signals per borrower shard (issue 24, point 1): K shards publish the bytes of K = 1.

Each shard computes its borrowers' rows of the five tables from its borrowers' inputs only, and
``combine_signals`` merges the parts: the same tables, stage record and carried-inputs record
as ``signals_day``, over days that start the history, lack the events feed, carry the windows
from the day before, and rebuild a window day from raw events; events of borrowers in no
snapshot and shards with no rows included."""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import CONTRACTS
from test_signals import POLICY, ev, events, loans

from loanrisk.config import load_settings
from loanrisk.errors import ShardError
from loanrisk.lake import records
from loanrisk.lake.shards import Shard, borrower_shard, part_files
from loanrisk.lake.storage import Lake, lake_of, sha256_file, write_partition
from loanrisk.pipeline.runner import run_step
from loanrisk.pipeline.signals_stage import (
    KEYS,
    combine_signals,
    signals_day,
    signals_shard,
)
from loanrisk.quality.contracts import load_contract

START, DAYS = dt.date(2026, 6, 1), 5
NO_EVENTS = START + dt.timedelta(days=1)  # the optional feed did not come
#: Days signals run on: the first starts the history, the 2nd and 3rd carry the windows, the
#: 4th is skipped so the 5th rebuilds it from raw events (and cannot carry).
RUN = [START + dt.timedelta(days=n) for n in (0, 1, 2, 4)]
#: On this day a tenth of the borrowers leave the snapshot: their events are in none.
TRIMMED = START + dt.timedelta(days=2)


def _day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


@pytest.fixture(scope="module")
def validated(tmp_path_factory, config_dir) -> tuple[Path, Path]:
    """A data_root with the loans and events of ``DAYS`` days ingested and validated (no
    events on ``NO_EVENTS``; borrowers dropped from ``TRIMMED``'s snapshot) and its config."""
    from loanrisk.synth import generate

    folder = tmp_path_factory.mktemp("signals-shards")
    landing, root = folder / "landing", folder / "data"
    generate(START, DAYS, 300, 13, landing, config_dir)
    (landing / f"events_{NO_EVENTS}.csv").unlink()
    settings = load_settings(config_dir, root)
    settings = dataclasses.replace(settings, landing_dir=landing)
    for n in range(DAYS):
        for feed in ("loan_snapshot", "events"):
            if feed == "events" and _day(n) == NO_EVENTS:
                continue
            run_step("ingest", _day(n), settings, feed=feed)
            run_step("validate", _day(n), settings, feed=feed)
    lake = lake_of(settings)
    snapshot = lake.read("raw", "loan_snapshot", TRIMMED)
    kept = snapshot.filter(pl.col("borrower_id").hash(seed=7) % 10 != 0)
    assert 0 < kept.height < snapshot.height
    write_partition(kept, lake.partition("raw", "loan_snapshot", TRIMMED), lake.scratch)
    return root, settings.contracts_dir


def signals_over(lake: Lake, contracts: Path, policy, days: list[dt.date], count: int) -> list:
    """Run compute_signals on ``days`` with ``count`` shards (1: ``signals_day``), recording
    each day's stage record as the step does; the reports."""
    reports = []
    for day in days:
        if count == 1:
            report = signals_day(lake, contracts, policy, day)
        else:
            for number in range(count):
                signals_shard(lake, contracts, policy, day, Shard(number, count))
            report = combine_signals(lake, contracts, policy, day, count)
        records.write_record(lake, day, "compute_signals", records.Signals.model_validate(report))
        reports.append(report)
    return reports


def published(root: Path) -> dict[str, str]:
    """sha256 of the stage's tables, stage records and carried-inputs records."""
    files = [p for t in KEYS for p in (root / "lake" / "curated" / t).rglob("*.parquet")]
    files += list((root / "runs").rglob("compute_signals.json"))
    files += list((root / "state").rglob("snapshot_date=*.inputs.json"))
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(files)}


def run_copy(validated, folder: Path, count: int, config_dir: Path) -> tuple[Path, list]:
    source, contracts = validated
    root = folder / f"k{count}"
    shutil.copytree(source, root)
    policy = load_settings(config_dir, root).risk.signals
    return root, signals_over(Lake(root, root / "landing"), contracts, policy, RUN, count)


@pytest.fixture(scope="module")
def by_one(validated, tmp_path_factory, config_dir):
    return run_copy(validated, tmp_path_factory.mktemp("one"), 1, config_dir)


def test_the_days_cover_every_case(by_one):
    _, reports = by_one
    facts = [
        (r["events_feed"], r["carried_from_previous_day"], r["window_days_rebuilt_from_raw"])
        for r in reports
    ]
    assert facts == [(True, False, 0), (False, True, 0), (True, True, 0), (True, False, 1)]
    assert all(r["rows_out"] > 0 and r["loan_pre_due_flows"]["rows"] for r in reports[1:])


@pytest.mark.slow
@pytest.mark.parametrize("count", [3, 8])
def test_k_shards_publish_the_bytes_of_one(validated, by_one, tmp_path, config_dir, count):
    root, _ = run_copy(validated, tmp_path, count, config_dir)
    one = published(by_one[0])
    assert len(one) == len(RUN) * (len(KEYS) + 2)
    assert published(root) == one
    assert not list((root / "lake" / "shards").rglob("*.parquet"))
    assert not list((root / "state" / "shards").rglob("*.json"))


# --- a book of two borrowers: most shards have no rows ------------------------------------------

D = dt.date(2026, 6, 30)


def tiny_day(lake: Lake, day: dt.date, rows: list[dict]) -> None:
    book = loans({}, {"loan_id": "L2", "borrower_id": "B2", "region_code": "440101"})
    snapshot = book.with_columns(pl.lit(day).alias("snapshot_date")).collect()
    write_partition(snapshot, lake.partition("raw", "loan_snapshot", day), lake.scratch)
    typed = events(rows).select(load_contract(CONTRACTS, "events").column_names).collect()
    write_partition(typed, lake.partition("raw", "events", day), lake.scratch)


def tiny_book(root: Path) -> Lake:
    lake = Lake(root, root / "landing")
    before = D - dt.timedelta(days=1)
    tiny_day(lake, before, [ev("B1", dt.datetime(2026, 6, 29, 9, tzinfo=dt.UTC), "LOGIN_SUCCESS")])
    tiny_day(
        lake,
        D,
        [
            ev("B1", dt.datetime(2026, 6, 30, 9, tzinfo=dt.UTC), "LOGIN_SUCCESS", device="NEW"),
            ev("B9", dt.datetime(2026, 6, 30, 9, tzinfo=dt.UTC), "PURCHASE", "5.00"),  # no loan
        ],
    )
    return lake


def test_eight_shards_of_two_borrowers_publish_the_bytes_of_one(tmp_path):
    """Most of the 8 shards have no row of any table; loan_pre_due_flows has none at all."""
    days = [D - dt.timedelta(days=1), D]
    signals_over(tiny_book(tmp_path / "one"), CONTRACTS, POLICY, days, 1)
    sharded = tiny_book(tmp_path / "eight")
    shards = pl.DataFrame({"borrower_id": ["B1", "B2", "B9"]}).select(borrower_shard(8))
    assert shards.n_unique() == 3  # five shards are empty
    reports = signals_over(sharded, CONTRACTS, POLICY, days, 8)
    assert reports[1]["borrowers_flagged"]["signal_new_device"] == 1
    assert reports[1]["loan_pre_due_flows"]["rows"] == 0
    assert published(tmp_path / "eight") == published(tmp_path / "one")


def test_combine_refuses_a_missing_or_stale_part(tmp_path):
    lake = tiny_book(tmp_path)
    before = D - dt.timedelta(days=1)
    signals_over(lake, CONTRACTS, POLICY, [before], 1)
    signals_shard(lake, CONTRACTS, POLICY, D, Shard(0, 2))
    with pytest.raises(ShardError, match=r"shard=1-of-2 missing"):
        combine_signals(lake, CONTRACTS, POLICY, D, 2)
    signals_shard(lake, CONTRACTS, POLICY, D, Shard(1, 2))
    for table in KEYS:  # a shard's parts hold its borrowers' rows only
        for number in (0, 1):
            part = pl.read_parquet(part_files(lake, table, D, Shard(number, 2)), glob=False)
            assert part.select(borrower_shard(2) == number).to_series().all()
    parts = [part_files(lake, "borrower_signals", D, Shard(n, 2)) for n in (0, 1)]
    assert [pl.read_parquet(p)["borrower_id"].to_list() for p in parts] == [["B2"], ["B1"]]
    signals_day(lake, CONTRACTS, POLICY, before)  # the same bytes: the parts stay good
    assert lake.partition_file("curated", "borrower_signals", D).exists() is False
    tiny_day(lake, D, [])  # the day's events corrected after the shards ran
    with pytest.raises(ShardError, match=r"shard=0-of-2 computed from other inputs"):
        combine_signals(lake, CONTRACTS, POLICY, D, 2)
    assert not lake.partition_file("curated", "borrower_events_daily", D).exists()
