"""Crash safety (DESIGN.md §5b): SIGKILL the pipeline at stage boundaries and in the middle of
atomic writes (``LOANRISK_CRASH_AT``), check what a BI reader sees right then, rerun, compare.

Day 1 is run once into a base data_root that is copied back to the same path before each crash
(absolute paths in gx/ and warehouse.duckdb stay right); day 2 is the day that crashes.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import subprocess
import sys

import pytest
from conftest import outputs

from loanrisk.cli import main
from loanrisk.lake.faults import CRASH_ENV
from loanrisk.lake.locks import run_lock
from loanrisk.lake.storage import Lake, read_json
from loanrisk.lake.warehouse import connect_warehouse

pytestmark = pytest.mark.slow

DAY1, DAY2 = dt.date(2026, 5, 1), dt.date(2026, 5, 2)

#: injection point -> is day 2 published when the process dies?
POINTS = {
    "stage_report:validate_loan_snapshot": False,  # boundary: raw day 2 written, nothing else
    "write_partition:loan_aging": False,  # mid-write: Parquet in scratch, not renamed
    "stage_report:score_loans": False,  # boundary: curated day-2 tables half the set
    "write_bytes_atomic:movements.csv": False,  # mid-write of a collections extract file
    "refresh_warehouse": False,  # warehouse refresh begun (before the manifest)
    "refresh_warehouse@2": True,  # manifest written, the refresh after it begun
    "write_bytes_atomic:risk_report.html": True,  # after publishing, during the HTML report
}

#: views whose rows per day must match the manifest's outputs (view -> manifest output key)
COUNTED = {
    "loan_snapshot": "raw/loan_snapshot",
    "loan_aging": "curated/loan_aging",
    "loan_risk": "curated/loan_risk",
    "collections_queue": "curated/collections_queue",
}


def run(root, config_dir, day) -> None:
    args = ["run", "--date", str(day), "--data-root", str(root), "--config", str(config_dir)]
    assert main(args) == 0


@pytest.fixture(scope="module")
def book(tmp_path_factory, config_dir):
    """(root, base, reference): day 1 run into ``base``; the clean day 2 outputs' hashes."""
    from loanrisk.synth import generate

    work = tmp_path_factory.mktemp("crash")
    root, base = work / "data", work / "base"
    generate(DAY1, 2, 150, 5, root / "landing", config_dir)
    run(root, config_dir, DAY1)
    shutil.copytree(root, base, symlinks=True)
    run(root, config_dir, DAY2)
    return root, base, outputs(root)


def reset(root, base) -> None:
    shutil.rmtree(root)
    shutil.copytree(base, root, symlinks=True)


def crash(root, config_dir, point: str) -> subprocess.CompletedProcess:
    env = {**os.environ, CRASH_ENV: point}
    args = ["run", "--date", str(DAY2), "--data-root", str(root), "--config", str(config_dir)]
    return subprocess.run(
        [sys.executable, "-m", "loanrisk.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def published_days(root) -> dict[dt.date, dict]:
    manifests = (read_json(p) for p in sorted((root / "runs").glob("*/manifest.json")))
    return {
        dt.date.fromisoformat(m["snapshot_date"]): m
        for m in manifests
        if m["status"] == "published"
    }


def assert_reader_sees_whole_days(root, expected: set[dt.date]) -> None:
    """What BI sees now: pipeline_runs and every counted view agree with the manifests of
    exactly the ``expected`` days -- no day half there."""
    manifests = published_days(root)
    assert set(manifests) == expected
    with connect_warehouse(Lake(root, root / "landing")) as con:
        runs = con.execute("SELECT snapshot_date, status FROM pipeline_runs").fetchall()
        assert {(d, "published") for d in expected} == set(runs)
        for view, key in COUNTED.items():
            per_day = dict(
                con.execute(f"SELECT snapshot_date, count(*) FROM {view} GROUP BY ALL").fetchall()
            )
            wanted = {d: m["outputs"][key]["rows"] for d, m in manifests.items()}
            assert per_day == wanted, view


@pytest.mark.parametrize("point", list(POINTS))
def test_crash_then_rerun_gives_the_clean_bytes(book, config_dir, point):
    root, base, reference = book
    reset(root, base)
    died = crash(root, config_dir, point)
    assert died.returncode == -9, f"{point} not reached: {died.returncode} {died.stderr[-500:]}"
    expected = {DAY1, DAY2} if POINTS[point] else {DAY1}
    assert_reader_sees_whole_days(root, expected)

    lake = Lake(root, root / "landing")
    with run_lock(lake, DAY2, break_stale=True):  # re-entrant: the CLI may take it again
        run(root, config_dir, DAY2)

    assert outputs(root) == reference
    assert not list((root / "lake" / "_tmp").iterdir())
    leftovers = [p for p in root.rglob("*.tmp*") if "gx" not in p.relative_to(root).parts]
    assert not leftovers
    assert_reader_sees_whole_days(root, {DAY1, DAY2})
