"""Validation per borrower shard (issue 24): K shard tasks and the combine step publish the raw
and quarantine partitions and the ``validate_<feed>`` record of K = 1, byte for byte; GX runs
once per shard; the gates judge the day's totals; a missing or stale partial report is named.

The day: the bad-input corpus's second day (300 loans, every feed) after its first day was run
unsharded, its loans file given bad rows of several kinds (an unknown product, a negative
balance, a duplicated loan_id across two borrowers, a blank borrower_id), a row-rule warning
(an unknown time zone) and a day-level one (a changed principal: continuity), its events file
an unknown event type and a duplicated event_id. Ingest writes the staged parts
(``staging_<feed>``: by borrower, every copy of a duplicated key in one part).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import CORPUS_DAY, kept_parts, outputs

from loanrisk.config import ExecutionConfig, load_settings
from loanrisk.errors import GateError, ShardError
from loanrisk.lake.shards import Shard, borrower_shard, part_files, shard_count
from loanrisk.lake.storage import lake_of
from loanrisk.pipeline.ingest_stage import ingest_feed
from loanrisk.pipeline.registry import DayRun
from loanrisk.pipeline.runner import run_day
from loanrisk.pipeline.steps import validate_shard
from loanrisk.pipeline.validation_stage import validate_feed
from loanrisk.quality.gx_archive import STORE_DAYS, archive_old_results
from loanrisk.quality.gx_validation import results_store

LOANS, EVENTS = "loan_snapshot", "events"
FEEDS = (LOANS, EVENTS)
DAY = CORPUS_DAY + dt.timedelta(days=1)
ACCEPT = {"QUARANTINE_SHARE": "test: bad rows on purpose"}


def landing_file(root: Path, feed: str) -> Path:
    prefix = "loans" if feed == LOANS else feed
    return root / "landing" / f"{prefix}_{DAY}.csv"


def edit_rows(path: Path, changes: dict[int, dict[str, str | None]]) -> None:
    """Rewrite a landing file with ``changes`` (0-based data row -> column -> text)."""
    frame = pl.read_csv(path, infer_schema=False)
    rows = frame.to_dicts()
    for index, columns in changes.items():
        rows[index].update(columns)
    pl.DataFrame(rows, schema=frame.schema).write_csv(path)


def break_day(root: Path) -> None:
    loans = pl.read_csv(landing_file(root, LOANS), infer_schema=False)
    principal = str(2 * float(loans["principal_amount"][60]))
    edit_rows(
        landing_file(root, LOANS),
        {
            10: {"product_code": "MORTGAGE"},
            20: {"outstanding_principal": "-5.00"},
            31: {"loan_id": loans["loan_id"][30]},  # another borrower's loan_id
            40: {"borrower_id": None},
            50: {"borrower_timezone": "Mars/Olympus"},
            60: {"principal_amount": f"{float(principal):.2f}"},
        },
    )
    events = pl.read_csv(landing_file(root, EVENTS), infer_schema=False)
    edit_rows(
        landing_file(root, EVENTS),
        {5: {"event_type": "TELEPORT"}, 9: {"event_id": events["event_id"][3]}},
    )


@pytest.fixture(scope="module")
def first_day(tmp_path_factory, config_dir, corpus_landing) -> Path:
    """A data_root whose first corpus day ran unsharded (published: the second day's
    continuity and day-over-day gates compare with it), the second day's files untouched."""
    root = tmp_path_factory.mktemp("first") / "data"
    shutil.copytree(corpus_landing, root / "landing")
    run_day(CORPUS_DAY, load_settings(config_dir, root))
    return root


def copy_of(first_day: Path, folder: Path, config_dir: Path, count: int):
    """Settings with ``shards: count`` on a copy of ``first_day``."""
    root = folder / "data"
    shutil.copytree(first_day, root)
    settings = load_settings(config_dir, root)
    return dataclasses.replace(settings, execution=ExecutionConfig(shards=count))


def shard_task(settings, feed: str, number: int) -> dict:
    """The ``validate_shard`` step of shard ``number`` of the day's K (its partial report)."""
    return validate_shard(DAY, settings, DayRun(), feed, number)


def run_shards(settings, feed: str) -> list[dict]:
    """Every shard task of ``feed`` (on the staged parts ingest wrote); their partial reports."""
    count = shard_count(lake_of(settings), DAY, settings.execution)
    return [shard_task(settings, feed, k) for k in range(count)]


def validate_day(settings) -> dict:
    """Ingest and validate the broken day: the gate stops it, then it is accepted."""
    for feed in FEEDS:
        ingest_feed(DAY, settings, feed)
    partials = {feed: run_shards(settings, feed) for feed in FEEDS}
    with pytest.raises(GateError) as stopped:
        validate_feed(DAY, settings, LOANS, {})
    records = {feed: validate_feed(DAY, settings, feed, ACCEPT) for feed in FEEDS}
    return {"partials": partials, "stopped": stopped.value, "records": records}


@pytest.fixture(scope="module")
def broken_first_day(first_day, tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("broken") / "data"
    shutil.copytree(first_day, root)
    break_day(root)
    return root


@pytest.fixture(scope="module")
def by_one(broken_first_day, tmp_path_factory, config_dir) -> dict:
    settings = copy_of(broken_first_day, tmp_path_factory.mktemp("one"), config_dir, 1)
    result = validate_day(settings)
    return result | {"outputs": outputs(settings.data_root), "settings": settings}


def day_files(published: dict[str, str]) -> dict[str, str]:
    return {p: h for p, h in published.items() if str(DAY) in p}


@pytest.mark.slow
@pytest.mark.parametrize("count", [3, 8])
def test_k_shards_validate_to_the_bytes_of_one(
    broken_first_day, tmp_path, config_dir, by_one, count
):
    settings = copy_of(broken_first_day, tmp_path, config_dir, count)
    result = validate_day(settings)
    root = settings.data_root
    published = outputs(root)
    assert published == by_one["outputs"]
    mine = day_files(published)
    for feed in FEEDS:
        assert f"runs/{DAY}/stages/validate_{feed}.json" in mine
        assert any(p.startswith(f"lake/quarantine/{feed}/snapshot_date={DAY}") for p in mine)
    loans = by_one["records"][LOANS]
    assert loans.rows_quarantined == 5 and loans.rows_valid == loans.rows_in - 5
    assert set(loans.reasons) >= {"DUPLICATE_KEY:loan_id", "REQUIRED_MISSING:borrower_id"}
    assert "TIMEZONE_UNKNOWN:borrower_timezone" in loans.warnings
    assert "PRINCIPAL_CHANGED:loan_id" in loans.warnings
    assert result["records"] == by_one["records"]
    assert str(result["stopped"]) == str(by_one["stopped"])  # the gate on the day's totals
    raw = {f"raw_{feed}" for feed in FEEDS}  # kept for the day's later shard tasks
    assert kept_parts(root) <= raw
    assert {
        p.relative_to(root / "state" / "shards").parts[0]
        for p in (root / "state" / "shards").rglob("*.json")
    } <= raw
    sizes = [p["rows_in"] for p in result["partials"][LOANS]]
    assert sum(sizes) == loans.rows_in
    gx_ran_once_per_shard(settings, count)


def gx_ran_once_per_shard(settings, count: int) -> None:
    """One GX validation (one run time) per shard and column group, named by its shard."""
    lake = lake_of(settings)
    store = results_store(lake.gx_root, lake.data_docs)
    for feed in FEEDS:
        runs = [r for r in (store / feed).glob(f"*/{feed} {DAY}*") if r.is_dir()]
        names = {r.name for r in runs}
        assert names == {f"{feed} {DAY} shard={k}-of-{count}" for k in range(count)}
        assert all(len(list(r.iterdir())) == 1 for r in runs)


def test_the_gate_judges_the_days_totals(by_one):
    """Shards judge no gate (each shard task passed and recorded its counts); the combine step
    stops the day on the totals, as K = 1 does (the accepted run is compared above)."""
    stopped = by_one["stopped"]
    rows_in = by_one["records"][LOANS].rows_in
    assert stopped.gate == "QUARANTINE_SHARE"
    assert f"5 of {rows_in} rows quarantined" in str(stopped)


def test_a_shard_over_the_share_does_not_stop_a_day_within_it(first_day, tmp_path, config_dir):
    """Three bad loans all in shard 0 of 3: that shard's share is over max_quarantine_share
    (1%), the day's (3 of about 300) is not: the day passes. Shard tasks read only their part
    (the staged partition is set aside meanwhile); a missing or stale partial is named."""
    settings = copy_of(first_day, tmp_path, config_dir, 3)
    path = landing_file(settings.data_root, LOANS)
    loans = pl.read_csv(path, infer_schema=False).with_row_index("row")
    in_zero = loans.filter(borrower_shard(3) == 0)["row"].to_list()[:3]
    edit_rows(path, {row: {"product_code": "MORTGAGE"} for row in in_zero})
    ingest_feed(DAY, settings, LOANS)
    lake = lake_of(settings)
    staged = lake.partition("staging", LOANS, DAY)
    aside = staged.with_name("aside")
    staged.rename(aside)
    first = shard_task(settings, LOANS, 0)
    assert first["rows_quarantined"] == 3 and first["rows_quarantined"] / first["rows_in"] > 0.01
    shard_task(settings, LOANS, 1)
    aside.rename(staged)
    with pytest.raises(ShardError, match=r"shard=2-of-3 missing"):
        validate_feed(DAY, settings, LOANS, {})
    shard_task(settings, LOANS, 2)
    part = part_files(lake, f"staging_{LOANS}", DAY, Shard(1, 3))[0]
    kept = part.read_bytes()
    pl.read_parquet(part).head(5).write_parquet(part)  # staged again from other text
    with pytest.raises(ShardError, match=r"shard=1-of-3 computed from other inputs"):
        validate_feed(DAY, settings, LOANS, {})
    part.write_bytes(kept)
    record = validate_feed(DAY, settings, LOANS, {})
    share = next(g for g in record.gates if g["gate"] == "QUARANTINE_SHARE")
    assert record.rows_quarantined == 3 and share["status"] == "passed"


def few_loans(settings) -> None:
    """The day's loans file cut to the first 4 rows (a handful of borrowers)."""
    path = landing_file(settings.data_root, LOANS)
    pl.read_csv(path, infer_schema=False).head(4).write_csv(path)


@pytest.mark.slow
def test_empty_shards_and_no_quarantine_publish_the_bytes_of_one(first_day, tmp_path, config_dir):
    """K = 8 over 4 loans: most shards hold no row, and no row is quarantined (an empty
    quarantine partition keeps its columns); the day-over-day gates trip on the totals."""
    accept = {g: "test: a day of 4 loans" for g in ("ROW_COUNT_CHANGE", "OUTSTANDING_CHANGE")}
    published = {}
    for count in (1, 8):
        settings = copy_of(first_day, tmp_path / str(count), config_dir, count)
        few_loans(settings)
        ingest_feed(DAY, settings, LOANS)
        partials = run_shards(settings, LOANS)
        with pytest.raises(GateError, match="ROW_COUNT_CHANGE"):
            validate_feed(DAY, settings, LOANS, {})
        record = validate_feed(DAY, settings, LOANS, accept)
        published[count] = (day_files(outputs(settings.data_root)), record)
    assert sum(p["rows_in"] == 0 for p in partials) >= 4
    assert record.rows_in == 4 and record.rows_quarantined == 0
    assert published[8] == published[1]


def test_shard_results_leave_the_gx_store_with_their_day(tmp_path):
    """A shard's run name (``<feed> D shard=k-of-K``) is dated like the day's: archived alike."""
    store, archive = tmp_path / "store", tmp_path / "archive"
    old, kept = DAY - dt.timedelta(days=STORE_DAYS + 1), DAY - dt.timedelta(days=STORE_DAYS)
    for day in (old, kept):
        for name in (f"events {day}", f"events {day} shard=1-of-3"):
            (store / "events" / "events.a--b" / name / "t1").mkdir(parents=True)
    assert archive_old_results(store, archive, EVENTS, DAY) == 2
    assert sorted(p.name for p in (archive / "events" / "events.a--b").iterdir()) == [
        f"events {old}",
        f"events {old} shard=1-of-3",
    ]
    assert len(list((store / "events" / "events.a--b").iterdir())) == 2


def test_a_missing_optional_feed_has_no_shard_work(first_day, tmp_path, config_dir):
    settings = copy_of(first_day, tmp_path, config_dir, 3)
    (settings.data_root / "landing" / f"contacts_{DAY}.csv").unlink()
    ingest_feed(DAY, settings, "contacts")
    assert [shard_task(settings, "contacts", k)["status"] for k in range(3)] == ["missing"] * 3
    record = validate_feed(DAY, settings, "contacts", {})
    assert record.status == "missing" and record.warnings == {"FEED_MISSING:contacts": 1}
