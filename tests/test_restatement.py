"""Restatement and what happens after publishing (DESIGN.md §5b): a reprocess that stops leaves
every day as published before; a dead run's days are named in doubt and put back; manifests keep
their restatement history; failures after publishing are recorded; the report takes the lock.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys

import polars as pl
import pytest
from conftest import backfilled_book, correct_day, outputs

from loanrisk.cli import main
from loanrisk.lake.faults import CRASH_ENV
from loanrisk.lake.status import day_statuses
from loanrisk.lake.storage import Lake, read_json, sha256_file

pytestmark = pytest.mark.slow

START, DAYS = dt.date(2026, 6, 1), 3
DAY2, DAY3 = START + dt.timedelta(days=1), START + dt.timedelta(days=2)


@pytest.fixture(scope="module")
def base(tmp_path_factory, config_dir):
    return backfilled_book(tmp_path_factory.mktemp("restate"), config_dir, START, DAYS, 80, 13)


@pytest.fixture
def root(base, tmp_path):
    """A copy of the three published days at the path the book was built at (GX's Data Docs
    site config holds absolute paths), put back after the test."""
    saved = tmp_path / "saved"
    shutil.copytree(base, saved, symlinks=True)
    yield base
    shutil.rmtree(base)
    shutil.copytree(saved, base, symlinks=True)


def lake_at(root) -> Lake:
    return Lake(root, root / "landing")


def manifest(root, day: dt.date) -> dict:
    return read_json(lake_at(root).run_manifest(day))


def published(root) -> dict[str, str]:
    """Every published byte: lake, run records, extracts, and the risk reports."""
    found = outputs(root)
    lake = lake_at(root)
    for day in (START, DAY2, DAY3):
        report = lake.risk_report(day)
        found[lake.relative(report)] = sha256_file(report)
    return found


def args(root, config_dir, *more) -> list[str]:
    return [*more, "--data-root", str(root), "--config", str(config_dir)]


def drop_rows(landing, day, share: float) -> None:
    """Resend a day's loans file with ``share`` of its rows gone (a row-count gate trips)."""
    path = landing / f"loans_{day}.csv"
    rows = pl.read_csv(path, infer_schema=False)
    rows.head(int(rows.height * (1 - share))).write_csv(path)


def test_a_reprocess_stopped_by_a_gate_leaves_every_day_as_published(root, config_dir, capsys):
    before = published(root)
    drop_rows(root / "landing", DAY2, 0.5)
    assert main(args(root, config_dir, "reprocess", "--date", str(DAY2))) == 1
    assert "ROW_COUNT_CHANGE" in capsys.readouterr().err
    assert published(root) == before
    statuses = {d["date"]: d for d in day_statuses(lake_at(root))}
    assert [statuses[str(d)]["status"] for d in (START, DAY2, DAY3)] == ["published"] * 3
    assert "reprocess" in statuses[str(DAY2)]["reason"]  # the failed attempt is named
    kept = list(lake_at(root).versions_dir.rglob("manifest.json"))
    assert any(read_json(p).get("status") == "failed" for p in kept)  # kept for diagnosis
    assert main(args(root, config_dir, "run", "--date", str(DAY3))) == 0  # history intact
    assert published(root) == before


def killed_reprocess(root, config_dir, point: str) -> None:
    """``reprocess`` of DAY2 (corrected file) in its own process, SIGKILLed at ``point``."""
    env = {**os.environ, CRASH_ENV: point}
    command = [sys.executable, "-m", "loanrisk.cli"]
    done = subprocess.run(
        [*command, *args(root, config_dir, "reprocess", "--date", str(DAY2))],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == -9, done.stderr[-2000:]


def statuses_of(root) -> list[str]:
    found = {d["date"]: d["status"] for d in day_statuses(lake_at(root))}
    return [found[str(day)] for day in (START, DAY2, DAY3)]


@pytest.mark.parametrize(
    "point",
    [
        "write_partition:loan_aging@1",  # DAY2's aging, half written
        "stage_report:score_loans@2",  # DAY3's scoring
        "stage_report:build_regulatory@2",  # DAY3's extracts
        "write_bytes_atomic:manifest.json@2",  # DAY3's manifest, about to be renamed in
    ],
)
def test_a_reprocess_killed_while_it_computes_leaves_every_day_wholly_old(root, config_dir, point):
    before = published(root)
    correct_day(root / "landing", DAY2)
    killed_reprocess(root, config_dir, point)
    assert published(root) == before  # every zone of every day: the published version
    assert statuses_of(root) == ["published"] * 3
    assert main(args(root, config_dir, "reprocess", "--date", str(DAY2), "--break-stale-lock")) == 0
    assert manifest(root, DAY2)["restatements"] and published(root) != before


@pytest.mark.parametrize("zone", ["lake", "reports", "runs"])
def test_a_reprocess_killed_while_switching_in_is_in_doubt_then_wholly_new(root, config_dir, zone):
    correct_day(root / "landing", DAY2)
    killed_reprocess(root, config_dir, f"switch_in:{zone}")
    assert statuses_of(root) == ["published", "in doubt", "in doubt"]
    # the next run takes over the dead run's lock and first finishes the switch; rerunning the
    # same correction then changes no byte: the days were wholly the new version
    assert main(args(root, config_dir, "reprocess", "--date", str(DAY2), "--break-stale-lock")) == 0
    new = published(root)
    assert statuses_of(root) == ["published"] * 3
    assert manifest(root, DAY2)["restatements"]
    assert main(args(root, config_dir, "reprocess", "--date", str(DAY2))) == 0
    assert published(root) == new


def test_a_restated_day_keeps_its_previous_version_in_the_manifest(root, config_dir):
    old = manifest(root, DAY2)
    correct_day(root / "landing", DAY2)
    reason = ["--reason", "core resent the file: one loan's arrears"]
    assert main(args(root, config_dir, "reprocess", "--date", str(DAY2), *reason)) == 0
    new = manifest(root, DAY2)
    assert new["input_sha256"] != old["input_sha256"]
    (entry,) = new["restatements"]
    assert entry["previous_input_sha256"] == old["input_sha256"]
    assert entry["reason"] == "core resent the file: one loan's arrears"
    assert (
        entry["previous_outputs"]["curated/loan_aging"]
        == (old["outputs"]["curated/loan_aging"]["sha256"])
    )
    assert dt.datetime.fromisoformat(entry["replaced_at"]).tzinfo is not None
    later = manifest(root, DAY3)  # rerun in full: same reason
    assert later["restatements"][0]["reason"] == "core resent the file: one loan's arrears"


def test_a_single_day_rerun_records_why_the_later_days_changed(root, config_dir):
    correct_day(root / "landing", DAY2)
    assert main(args(root, config_dir, "run", "--date", str(DAY2))) == 0
    (entry,) = manifest(root, DAY2)["restatements"]
    assert entry["reason"] == f"rerun of {DAY2}"
    (later,) = manifest(root, DAY3)["restatements"]
    assert later["reason"] == f"recomputed after {DAY2} was rerun: rerun of {DAY2}"


def test_a_rerun_of_an_unchanged_day_adds_no_history(root, config_dir):
    before = published(root)
    assert main(args(root, config_dir, "reprocess", "--date", str(DAY2))) == 0
    assert published(root) == before


def test_step_log_lines_carry_their_time(root):
    lines = lake_at(root).stage_log(DAY2).read_text().splitlines()
    assert lines  # the book's run logged the day's steps
    for line in map(json.loads, lines):
        assert dt.datetime.fromisoformat(line["at"]).tzinfo is not None


def test_the_report_takes_the_run_lock(root, config_dir, capsys):
    hold = (
        "import sys, time; from loanrisk.lake.locks import run_lock; "
        "from loanrisk.lake.storage import Lake; "
        "lake = Lake(__import__('pathlib').Path(sys.argv[1]), None)\n"
        "with run_lock(lake, 'x', purpose='another run'):\n"
        "    print('held', flush=True); time.sleep(60)"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", hold, str(root)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        assert main(args(root, config_dir, "report", "--date", str(DAY2))) == 1
    finally:
        holder.kill()
        holder.wait()
    assert "RUN_LOCKED" in capsys.readouterr().err


def test_status_names_a_stale_lock(root, config_dir, capsys):
    lake = lake_at(root)
    record = {"pid": 999_999, "host": os.uname().nodename, "business_date": str(DAY2)}
    record |= {"purpose": "run", "since": "2026-06-03T01:00:00+00:00"}
    lake.run_lock_file.write_text(json.dumps(record))
    assert main(args(root, config_dir, "status")) == 0
    out = capsys.readouterr().out
    assert "stale run lock" in out and "pid 999999" in out


def test_a_failure_after_publishing_is_recorded(root, config_dir, monkeypatch, capsys):
    from loanrisk.report import validation_docs

    def no_space(*_args, **_kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(validation_docs, "build_validation_docs", no_space)
    monkeypatch.setattr("loanrisk.pipeline.steps.build_validation_docs", no_space)
    assert main(args(root, config_dir, "report", "--date", str(DAY2))) == 1
    stored = manifest(root, DAY2)
    assert stored["status"] == "published"
    assert stored["after_publishing"]["step"] == "build_report"
    assert "No space left on device" in stored["after_publishing"]["error"]
    statuses = {d["date"]: d for d in day_statuses(lake_at(root))}
    assert "build_report failed after publishing" in statuses[str(DAY2)]["reason"]
    monkeypatch.undo()
    capsys.readouterr()
    assert main(args(root, config_dir, "report", "--date", str(DAY2))) == 0
    assert "after_publishing" not in manifest(root, DAY2)


def test_status_names_a_published_day_without_its_report(root, config_dir):
    """A run killed after publishing, before the report was renamed into place."""
    lake_at(root).risk_report(DAY2).unlink()
    statuses = {d["date"]: d for d in day_statuses(lake_at(root))}
    assert statuses[str(DAY2)]["status"] == "published"
    assert f"risk report missing: loanrisk report --date {DAY2}" in statuses[str(DAY2)]["reason"]
    assert "risk report missing" not in statuses[str(DAY3)]["reason"]
