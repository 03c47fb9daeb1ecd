"""The lake holds data only: a rerun of a day leaves every file under ``lake/`` and ``extracts/``
the same bytes, and what a kept table was computed from is recorded outside the lake
(``Lake.state_dir``), by content."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest
from conftest import BOOK_DAYS, BOOK_END, BOOK_START

from loanrisk.cli import main
from loanrisk.lake.storage import Lake, sha256_file

pytestmark = pytest.mark.slow

START, DAYS, END = BOOK_START, BOOK_DAYS, BOOK_END  # the conftest ``book``


def data_files(root) -> dict[str, str]:
    """sha256 of every file under lake/ (but its scratch) and extracts/."""
    files = [p for folder in ("lake", "extracts") for p in (root / folder).rglob("*")]
    kept = (p for p in files if p.is_file() and "_tmp" not in p.relative_to(root).parts[:2])
    return {p.relative_to(root).as_posix(): sha256_file(p) for p in sorted(kept)}


def rerun(root, config_dir, day: dt.date) -> None:
    args = ["--date", str(day), "--data-root", str(root), "--config", str(config_dir)]
    assert main(["run", *args]) == 0


def signals_report(root, day: dt.date) -> dict:
    return json.loads(Lake(root, root / "landing").stage_report(day, "compute_signals").read_text())


def test_the_lake_holds_parquet_files_only(book):
    others = [name for name in data_files(book) if name.startswith("lake/")]
    assert [name for name in others if not name.endswith(".parquet")] == []


def test_a_rerun_leaves_lake_and_extracts_the_same_bytes(book, config_dir):
    before = data_files(book)
    for day in (START + dt.timedelta(days=1), END):
        rerun(book, config_dir, day)
        assert data_files(book) == before, day


def test_the_next_day_still_carries_the_signal_state_after_a_same_bytes_rerun(book, config_dir):
    """Inputs are known by their content: a day of the window rewritten with the same bytes
    leaves the tables carried from the day before good."""
    rerun(book, config_dir, START + dt.timedelta(days=1))  # in the window of END - 1's tables
    rerun(book, config_dir, END)
    assert signals_report(book, END)["carried_from_previous_day"]


def test_bookkeeping_left_in_the_lake_by_an_older_version_is_harmless(book, config_dir):
    """``*.inputs.json`` files an older version wrote beside partitions: a rerun does not read
    them, publishes the same bytes and removes them."""
    lake = Lake(book, book / "landing")
    before = data_files(book)
    old = [
        lake.partition("curated", "borrower_signals", day).with_suffix(".inputs.json")
        for day in (START, END)
    ]
    old.append(
        lake.partition("marts", "vintage_loans_month_to_date", END).with_suffix(".inputs.json")
    )
    for path in old:
        path.write_text('{"tables": {}}\n')
    shutil.rmtree(lake.state_dir)  # as an older version left the data_root
    rerun(book, config_dir, END)
    assert not any(path.exists() for path in old[1:])
    old[0].unlink()
    assert data_files(book) == before
