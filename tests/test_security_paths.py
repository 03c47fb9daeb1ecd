"""Paths are never read as globs (DESIGN.md §5b): a data_root named like a glob (``book[12]``)
publishes exactly what the same landing files publish anywhere else, with a sibling data_root
that the glob would match sitting beside it."""

from __future__ import annotations

import datetime as dt
import shutil

import pytest
from conftest import backfilled_book, outputs

from loanrisk.cli import main

pytestmark = pytest.mark.slow

START, DAYS = dt.date(2026, 7, 1), 2


def test_a_data_root_named_like_a_glob_reads_only_its_own_files(tmp_path, config_dir):
    sibling = backfilled_book(tmp_path / "book1", config_dir, START, DAYS, 50, 4)  # glob bait
    clean = backfilled_book(tmp_path / "clean", config_dir, START, DAYS, 40, 9)
    odd = tmp_path / "book[12]" / "data"
    shutil.copytree(clean / "landing", odd / "landing")
    span = ["--start", str(START), "--end", str(START + dt.timedelta(days=DAYS - 1))]
    assert main(["backfill", *span, "--data-root", str(odd), "--config", str(config_dir)]) == 0
    assert outputs(odd) == outputs(clean)
    assert outputs(sibling) != outputs(clean)
