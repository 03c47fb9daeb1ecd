"""The month extracts (``lake/vintage_cache.py``) behind the stored vintage curves and the
report's cure rates: stored per complete month, reused, refreshed when a day of the month is
rerun, and never changing a figure; and the marts stored per day (``marts_stage.py``) equal
their SQL over the whole history."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import polars as pl
import pytest
from conftest import SHIPPED, backfilled_book, correct_day

from loanrisk.cli import main
from loanrisk.config import load_settings
from loanrisk.domain import cohort_marts, marts
from loanrisk.domain.scorecard import load_scorecard
from loanrisk.lake.storage import Lake, write_partition
from loanrisk.lake.warehouse import connect_warehouse
from loanrisk.pipeline.marts_stage import mart_frames
from loanrisk.report import data as report_data
from loanrisk.report import risk_data

pytestmark = pytest.mark.slow

#: The PSI reading the pipeline's reports use (config/scorecard.yaml).
STABILITY = load_scorecard(SHIPPED / "config" / "scorecard.yaml").stability
START = dt.date(2026, 4, 29)  # two April days, then May: April is a complete month by May 1
DAYS = 4
LAST = START + dt.timedelta(days=DAYS - 1)
APRIL = dt.date(2026, 4, 1)
VIEWS = ("vintage_loans", "delinquency_entries", "delinquency_cures")


@pytest.fixture(scope="module")
def book(tmp_path_factory, config_dir):
    return backfilled_book(tmp_path_factory.mktemp("cache"), config_dir, START, DAYS, 300, 11)


def rebuild_report(root, config_dir, day: dt.date) -> bytes:
    args = ["--date", str(day), "--data-root", str(root), "--config", str(config_dir)]
    assert main(["report", *args]) == 0
    return (root / "reports" / str(day) / "risk_report.html").read_bytes()


def load_book_report(root, config_dir) -> report_data.ReportData:
    """The last day's report figures, buckets listed by the policy the book was built with."""
    classification = load_settings(config_dir, root).classification
    return report_data.load_report_data(
        Lake(root, root / "landing"), LAST, STABILITY, classification
    )


def drop_month_extracts(root) -> None:
    carried = [f"{view}_month_to_date" for view in VIEWS]
    for table in (*VIEWS, "vintage_loans_to_date", *carried):
        shutil.rmtree(root / "lake" / "marts" / table)


def assert_stored_marts_recompute(root, config_dir, day: dt.date) -> None:
    """The marts stored for ``day`` equal a recomputation without any month extract."""
    lake, settings = Lake(root, root / "landing"), load_settings(config_dir, root)
    drop_month_extracts(root)
    for name, frame in mart_frames(lake, settings, day).items():
        assert frame.equals(pl.read_parquet(lake.partition_file("marts", name, day))), name


def recorded(lake: Lake, view: str) -> dict:
    return json.loads(lake.month_extract_inputs(view, APRIL).read_text())


def test_complete_months_are_stored_and_the_report_equals_one_without_them(book, config_dir):
    lake = Lake(book, book / "landing")
    for view in VIEWS:
        assert (lake.month_extract(view, APRIL) / "part-0.parquet").exists()
        assert [d for d, *_ in recorded(lake, view)["days"]] == ["2026-04-29", "2026-04-30"]
    assert not lake.month_extract("vintage_loans", dt.date(2026, 5, 1)).exists()  # live month
    # The complete months' vintage rows combined, one row per loan: what each later day reads.
    to_date = pl.read_parquet(lake.month_extract("vintage_loans_to_date", APRIL) / "part-0.parquet")
    april = pl.read_parquet(lake.month_extract("vintage_loans", APRIL) / "part-0.parquet")
    assert to_date.equals(april.sort(pl.all())) and to_date["loan_id"].is_unique().all()
    assert [m for m, _ in recorded(lake, "vintage_loans_to_date")["months"]] == ["2026-04-01"]
    # The live month's rows, carried from day to day; April's were dropped once May began.
    may = [LAST - dt.timedelta(days=1), LAST]
    for view in VIEWS:
        assert lake.partition_dates("marts", f"{view}_month_to_date") == may, view
    carried = pl.read_parquet(lake.partition_file("marts", "vintage_loans_month_to_date", LAST))
    month = f"(SELECT * FROM loan_aging WHERE snapshot_date >= DATE '{may[0]}') AS loan_aging"
    sql = cohort_marts.vintage_loans_sql().replace("FROM loan_aging", f"FROM {month}")
    with connect_warehouse(Lake(book, book / "landing")) as con:
        expected = con.execute(f"SELECT * FROM ({sql}) ORDER BY ALL").fetchall()
    assert carried.rows() == expected and expected
    built = (book / "reports" / str(LAST) / "risk_report.html").read_bytes()
    assert_stored_marts_recompute(book, config_dir, LAST)
    assert rebuild_report(book, config_dir, LAST) == built


def test_the_report_shows_what_the_full_history_marts_show(book, config_dir):
    """The latest day's vintages and cure rates equal their marts' SQL over all history."""
    data = load_book_report(book, config_dir)
    with connect_warehouse(Lake(book, book / "landing")) as con:
        full = cohort_marts.vintage_curves_sql()
        con.execute(f"CREATE TEMP VIEW vintage_curves AS {full}").fetchall()
        vintages = con.execute(report_data.VINTAGE_SQL, [LAST, LAST, 12]).fetchall()
        cures = con.execute(report_data.CURE_SQL, [LAST, 6]).fetchall()
    assert data.vintages == (vintages or None) and data.vintages
    assert data.cure_rates == (cures or None)


def test_risk_and_trend_sections_read_only_their_days_and_show_what_the_views_show(
    book, config_dir
):
    """The report points loan_risk, risk_actions, score_monitoring and the stored marts at the
    days it shows; its sections equal queries of the warehouse's own views over every day."""
    data = load_book_report(book, config_dir)
    start = LAST - dt.timedelta(days=report_data.TREND_DAYS - 1)
    with connect_warehouse(Lake(book, book / "landing")) as con:
        assert data.ecl == risk_data.ecl_total(con, LAST) and data.ecl
        assert data.ecl_cells == risk_data.ecl_cells(con, LAST)
        assert data.scores == risk_data.scores(con, LAST, report_data.TREND_DAYS)
        assert data.actions == risk_data.actions(con, LAST) and data.actions
        assert data.par_trend == report_data._rows(con, report_data.TREND_SQL, [start, LAST])
        assert data.roll_rates == report_data._rows(con, report_data.ROLL_SQL, [LAST])
    assert len(data.par_trend) > 1 and data.roll_rates


def test_stored_marts_equal_their_sql_over_the_whole_history(book, config_dir):
    """Each day's roll rates and portfolio summary, and the last day's vintage curves, in
    ``lake/marts`` equal the marts' SQL over every stored day; the BI views read them."""
    policy = load_settings(config_dir, book).classification
    full = {
        "roll_rates": marts.roll_rates_sql(),
        "portfolio_summary": marts.portfolio_summary_sql(policy),
        "vintage_curves": f"SELECT DATE '{LAST}' AS snapshot_date, * FROM "
        f"({cohort_marts.vintage_curves_sql()})",
    }
    lake = Lake(book, book / "landing")
    with connect_warehouse(Lake(book, book / "landing")) as con:
        for name, sql in full.items():
            stored = con.execute(f"SELECT * FROM {name} ORDER BY ALL").fetchall()
            expected = con.execute(f"SELECT * FROM ({sql}) ORDER BY ALL").fetchall()
            assert stored == expected and stored, name
    days = [START + dt.timedelta(days=n) for n in range(DAYS)]
    assert lake.partition_dates("marts", "roll_rates") == days
    assert pl.read_parquet(lake.partition_file("marts", "roll_rates", START)).height == 0


def test_a_rerun_day_refreshes_its_months_extract(book, tmp_path, config_dir):
    root = tmp_path / "data"
    shutil.copytree(book, root)
    lake = Lake(root, root / "landing")
    before = recorded(lake, "vintage_loans")
    before_to_date = recorded(lake, "vintage_loans_to_date")
    correct_day(root / "landing", dt.date(2026, 4, 30))
    args = ["--data-root", str(root), "--config", str(config_dir)]
    assert main(["run", "--date", "2026-04-30", *args]) == 0  # later reports are rebuilt too
    after = recorded(lake, "vintage_loans")
    assert after != before and after["days"][0] == before["days"][0]  # April 30 changed
    assert recorded(lake, "vintage_loans_to_date")["months"] == [["2026-04-01", after]]
    assert before_to_date["months"] == [["2026-04-01", before]]
    built = (root / "reports" / str(LAST) / "risk_report.html").read_bytes()
    assert_stored_marts_recompute(root, config_dir, LAST)  # later days' marts were refreshed
    assert rebuild_report(root, config_dir, LAST) == built


def test_carried_month_to_date_rows_are_used_only_while_their_days_are_unchanged(
    book, tmp_path, config_dir
):
    root = tmp_path / "data"
    shutil.copytree(book, root)
    lake, settings = Lake(root, root / "landing"), load_settings(config_dir, root)
    may_1 = LAST - dt.timedelta(days=1)
    mart_frames(lake, settings, may_1)  # keeps May 1's rows (other tests drop the extracts)
    kept = lake.partition_file("marts", "vintage_loans_month_to_date", may_1)
    # Rows as if May 1 had been another day (every loan 30+ days past due), no longer matching
    # what May 1's run manifest records: the next day must not read them.
    wrong = pl.read_parquet(kept).with_columns(pl.lit(may_1).alias("first_30"))
    write_partition(wrong, kept.parent, lake.scratch)
    inputs = lake.partition_inputs("marts", "vintage_loans_month_to_date", may_1)
    recorded = json.loads(inputs.read_text())
    recorded["days"][0][1] = "0" * 64  # a loan_aging sha256 May 1 no longer has
    inputs.write_text(json.dumps(recorded))
    curves = mart_frames(lake, settings, LAST)["vintage_curves"]
    assert curves.equals(pl.read_parquet(lake.partition_file("marts", "vintage_curves", LAST)))
