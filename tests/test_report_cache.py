"""The risk report's month extracts (``report/cache.py``): stored per complete month, reused,
refreshed when a day of the month is rerun, and never changing a figure."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import duckdb
import pytest
from conftest import correct_day

from loanrisk.cli import main
from loanrisk.report import data as report_data
from loanrisk.storage import Lake

pytestmark = pytest.mark.slow

START = dt.date(2026, 4, 29)  # two April days, then May: April is a complete month by May 1
DAYS = 4
LAST = START + dt.timedelta(days=DAYS - 1)
APRIL = dt.date(2026, 4, 1)
VIEWS = ("vintage_loans", "delinquency_entries", "delinquency_cures")


@pytest.fixture(scope="module")
def book(tmp_path_factory, config_dir):
    from loanrisk.synth import generate

    root = tmp_path_factory.mktemp("cache") / "data"
    generate(START, DAYS, 300, 11, root / "landing", config_dir)
    args = ["--start", str(START), "--end", str(LAST), "--data-root", str(root)]
    assert main(["backfill", *args, "--config", str(config_dir)]) == 0
    return root


def rebuild_report(root, config_dir, day: dt.date) -> bytes:
    args = ["--date", str(day), "--data-root", str(root), "--config", str(config_dir)]
    assert main(["report", *args]) == 0
    return (root / "reports" / str(day) / "risk_report.html").read_bytes()


def recorded(lake: Lake, view: str) -> dict:
    return json.loads(lake.month_extract_inputs(view, APRIL).read_text())


def test_complete_months_are_stored_and_the_report_equals_one_without_them(book, config_dir):
    lake = Lake(book, book / "landing")
    for view in VIEWS:
        assert (lake.month_extract(view, APRIL) / "part-0.parquet").exists()
        assert [d for d, *_ in recorded(lake, view)["days"]] == ["2026-04-29", "2026-04-30"]
    assert not lake.month_extract("vintage_loans", dt.date(2026, 5, 1)).exists()  # live month
    built = (book / "reports" / str(LAST) / "risk_report.html").read_bytes()
    shutil.rmtree(book / "lake" / "marts")
    assert rebuild_report(book, config_dir, LAST) == built


def test_the_report_shows_what_the_full_history_marts_show(book):
    """The latest day's vintages and cure rates equal the warehouse views over all history."""
    data = report_data.load_report_data(Lake(book, book / "landing"), LAST)
    with duckdb.connect(str(book / "warehouse.duckdb"), read_only=True) as con:
        vintages = con.execute(report_data.VINTAGE_SQL, [LAST, LAST, 12]).fetchall()
        cures = con.execute(report_data.CURE_SQL, [LAST, 6]).fetchall()
    assert data.vintages == (vintages or None) and data.vintages
    assert data.cure_rates == (cures or None)


def test_a_rerun_day_refreshes_its_months_extract(book, tmp_path, config_dir):
    root = tmp_path / "data"
    shutil.copytree(book, root)
    lake = Lake(root, root / "landing")
    before = recorded(lake, "vintage_loans")
    correct_day(root / "landing", dt.date(2026, 4, 30))
    args = ["--data-root", str(root), "--config", str(config_dir)]
    assert main(["run", "--date", "2026-04-30", *args]) == 0  # later reports are rebuilt too
    after = recorded(lake, "vintage_loans")
    assert after != before and after["days"][0] == before["days"][0]  # April 30 changed
    built = (root / "reports" / str(LAST) / "risk_report.html").read_bytes()
    shutil.rmtree(root / "lake" / "marts")
    assert rebuild_report(root, config_dir, LAST) == built
