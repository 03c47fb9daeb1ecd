"""The HTML risk report on tiny hand-made warehouses: charts, escaping, determinism, sections."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import pytest

from loanrisk.errors import InputFileError
from loanrisk.report import build_risk_report, charts, fmt
from loanrisk.storage import Lake

DAY = dt.date(2026, 8, 31)
BUCKETS = ["M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7", "WO", "CLOSED"]
CHARTS = ["bucket_loans", "bucket_balance", "roll_rates", "par_trend", "vintages"]
MARTS = ("portfolio_summary", "roll_rates", "vintage_curves", "cure_rates", "flow_rates")

SCHEMAS = {
    "loan_aging": "snapshot_date DATE, loan_id VARCHAR, borrower_id VARCHAR, product_code VARCHAR,"
    " account_status VARCHAR, outstanding_principal DECIMAL(18,2), overdue_amount DECIMAL(18,2),"
    " dpd INT, aging_bucket VARCHAR, five_category VARCHAR, is_npl BOOL, ifrs9_stage INT,"
    " episodes_12m INT, max_dpd_12m INT",
    "pipeline_runs": "snapshot_date DATE, status VARCHAR, rows_in BIGINT, rows_valid BIGINT,"
    " rows_quarantined BIGINT, warnings JSON, gates JSON, failure JSON",
    "portfolio_summary": "snapshot_date DATE, product_code VARCHAR, aging_bucket VARCHAR,"
    " loans BIGINT, outstanding DECIMAL(18,2), overdue DECIMAL(18,2),"
    " active_outstanding DECIMAL(18,2), par1 DOUBLE, par30 DOUBLE, par90 DOUBLE,"
    " npl_outstanding DECIMAL(18,2), npl_ratio DOUBLE",
    "roll_rates": "snapshot_date DATE, previous_date DATE, from_bucket VARCHAR, to_bucket VARCHAR,"
    " loans BIGINT, balance DECIMAL(18,2), loans_share DOUBLE, balance_share DOUBLE",
    "vintage_curves": "vintage_month DATE, months_on_book INT, loans BIGINT,"
    " disbursed DECIMAL(18,2), ever_30_loans BIGINT, ever_90_loans BIGINT,"
    " ever_30_principal DECIMAL(18,2), ever_90_principal DECIMAL(18,2), ever_30_rate DOUBLE,"
    " ever_90_rate DOUBLE",
    "cure_rates": "entry_month DATE, product_code VARCHAR, loans_entered BIGINT,"
    " loans_observed_30d BIGINT, loans_cured_30d BIGINT, cure_rate_30d DOUBLE",
    "flow_rates": "month_end DATE, from_bucket VARCHAR, to_bucket VARCHAR,"
    " from_balance DECIMAL(18,2), to_balance DECIMAL(18,2), roll_rate DOUBLE, loss_rate DOUBLE",
    "loan_risk": "snapshot_date DATE, loan_id VARCHAR, ead DECIMAL(18,2), ecl DECIMAL(18,2)",
}
CLASSES = ["NORMAL", *["SPECIAL_MENTION"] * 3, *["SUBSTANDARD"] * 3, "DOUBTFUL", "LOSS", None]
CATEGORY = dict(zip(BUCKETS, CLASSES, strict=True))


def _aging_row(n: int, product: str) -> tuple:
    bucket = BUCKETS[0] if n < 30 else BUCKETS[n % len(BUCKETS)]
    status = {"WO": "WRITTEN_OFF", "CLOSED": "CLOSED"}.get(bucket, "ACTIVE")
    dpd = 0 if bucket in ("M0", "CLOSED") else 15 + 30 * (BUCKETS.index(bucket) - 1)
    balance = Decimal(0) if status == "CLOSED" else Decimal(1000 + 137 * n) + Decimal("0.45")
    category = CATEGORY[bucket]
    npl = category in ("SUBSTANDARD", "DOUBTFUL", "LOSS")
    ids = (DAY, f"L{n:04d}", f"B{n:04d}", product if n == 7 else "CASH_LOAN", status)
    return (*ids, balance, Decimal(dpd), dpd, bucket, category, npl, 1, 0, dpd)


def _trend_row(n: int) -> tuple:
    money = (Decimal("90000.00"), Decimal("1.00"), Decimal("80000.00"))
    pars = (0.08 + 0.02 * math.sin(n / 9), 0.04 + 0.01 * math.cos(n / 13), 0.02 + n / 9000)
    return (DAY - dt.timedelta(days=n), "ALL", "ALL", 60, *money, *pars, Decimal("2000.00"), 0.025)


ROLLS = [("NEW", "M0", 1.0), ("M0", "M0", 0.96), ("M0", "M1", 0.03), ("M0", "EXIT", 0.01)]
ROLLS += [("M1", "M0", 0.3), ("M1", "M2", 0.7), ("M7", "WO", 1.0)]


def _vintage_row(month: int, mob: int) -> tuple:
    rate = 0.004 * mob * (1 + (month - 1) / 8)
    amounts = (Decimal("500000.00"), 0, 0, Decimal(0), Decimal(0))
    return (dt.date(2026, month, 1), mob, 100, *amounts, rate, 0.001 * mob)


def _mart_rows() -> dict[str, list[tuple]]:
    previous = DAY - dt.timedelta(days=1)
    month_end = dt.date(2026, 7, 31)
    return {
        "portfolio_summary": [_trend_row(n) for n in range(120)],
        "roll_rates": [(DAY, previous, a, b, 3, Decimal("300"), s, s) for a, b, s in ROLLS],
        "vintage_curves": [_vintage_row(m, mob) for m in range(1, 9) for mob in range(9 - m)],
        "cure_rates": [
            (dt.date(2026, m, 1), p, 40, 38, 25, 25 / 38)
            for m in (6, 7, 8)
            for p in ("CASH_LOAN", "INSTALLMENT")
        ],
        "flow_rates": [
            (month_end, "M0", "M1", Decimal("1234567.80"), Decimal("23456.70"), 0.019, 0.0),
            (month_end, "M6", "M7", Decimal("5000.00"), Decimal("4500.00"), 0.9, 0.9),
        ],
    }


def make_lake(
    root: Path, *, product: str = "CASH_LOAN", marts: tuple = MARTS, risk: bool = False
) -> Lake:
    """A data_root whose warehouse.duckdb holds tables named and typed like the BI views."""
    lake = Lake(root, root / "landing")
    root.mkdir(parents=True, exist_ok=True)
    warnings = json.dumps({"DPD_MISMATCH:days_past_due": 3, "MOBILE_FORMAT:<b>x</b>": 1})
    gate = {"gate": "QUARANTINE_SHARE", "status": "passed", "value": 0.0, "limit": 0.01}
    gates = json.dumps([{**gate, "detail": "0 of 60 rows quarantined (0.00%)"}])
    rows = {
        "loan_aging": [_aging_row(n, product) for n in range(60)],
        "pipeline_runs": [(DAY, "published", 61, 60, 1, warnings, gates, None)],
        **{name: r for name, r in _mart_rows().items() if name in marts},
    }
    if risk:
        rows["loan_risk"] = [
            (DAY, "L0001", Decimal("1000.00"), Decimal("12.34")),
            (DAY, "L0002", Decimal("3000.00"), Decimal("100.00")),
        ]
    with duckdb.connect(str(lake.warehouse)) as con:
        for name, values in rows.items():
            con.execute(f"CREATE TABLE {name} ({SCHEMAS[name]})")
            marks = ", ".join("?" * len(values[0]))
            con.executemany(f"INSERT INTO {name} VALUES ({marks})", values)
    return lake


@pytest.fixture
def lake(tmp_path) -> Lake:
    return make_lake(tmp_path / "data")


def svgs(page: str) -> dict[str, str]:
    """Every chart of a page by its data-chart name."""
    found = re.findall(r'(<svg[^>]*data-chart="([^"]+)".*?</svg>)', page, re.S)
    return {name: svg for svg, name in found}


# --- charts -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (0, 1, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (0, 97, [0, 20, 40, 60, 80, 100]),
        (-3, 7, [-4, -2, 0, 2, 4, 6, 8]),
        (0, 0, [0, 0.2, 0.4, 0.6, 0.8, 1.0]),
        (5, 5, [5, 6, 7, 8, 9, 10]),
        (0, 0.0234, [0, 0.005, 0.01, 0.015, 0.02, 0.025]),
    ],
)
def test_nice_ticks_cover_the_range_with_round_steps(low, high, expected):
    assert charts.nice_ticks(low, high) == pytest.approx(expected)


def test_nice_ticks_survive_nan_and_reversed_ranges():
    assert charts.nice_ticks(float("nan"), 1)[0] == 0
    assert charts.nice_ticks(10, 0) == charts.nice_ticks(0, 10)


def test_bar_chart_scales_bars_to_values():
    svg = charts.bar_chart("b", "Bars", ["a", "b"], [50, 100], fmt.count_short)
    heights = [float(h) for h in re.findall(r'<rect [^>]*height="([\d.]+)"', svg)]
    assert len(heights) == 2 and heights[1] == pytest.approx(2 * heights[0], abs=0.2)
    assert 'data-chart="b"' in svg and "<title" in svg and "<title>b: 100</title>" in svg


def test_bar_chart_with_zero_and_negative_values_draws_from_the_zero_line():
    svg = charts.bar_chart("b", "Bars", ["neg", "zero", "pos"], [-5, 0, 10], fmt.count_short)
    assert "nan" not in svg and "inf" not in svg
    ys = [float(y) for y in re.findall(r'<rect [^>]*y="([\d.]+)"', svg)]
    assert ys[0] == pytest.approx(ys[1]) and ys[2] < ys[1]  # negative bar hangs below zero
    assert charts.bar_chart("z", "Zeros", ["a"], [0], fmt.count_short).count("<rect") == 1


def test_empty_charts_say_no_data():
    for svg in (
        charts.bar_chart("e", "Empty", [], [], fmt.count_short),
        charts.line_chart("e", "Empty", [], [], fmt.pct_axis),
        charts.line_chart("e", "Empty", [charts.Series("s", ((1, None),), "#000")], [], str),
        charts.heatmap("e", "Empty", [], [], {}, str),
    ):
        assert 'data-chart="e"' in svg and "No data" in svg and "<title" in svg


def test_line_chart_single_point_is_a_dot_and_gaps_break_lines():
    one = charts.line_chart("l", "One", [charts.Series("s", ((5, 0.1),), "#000")], [], str)
    assert one.count("<circle") == 1 and "<polyline" not in one and "nan" not in one
    gap = charts.Series("g", ((1, 0.1), (2, 0.2), (3, None), (4, 0.1), (5, 0.3)), "#000")
    assert charts.line_chart("l", "Gap", [gap], [], str).count("<polyline") == 2


def test_line_chart_maps_the_maximum_to_the_top_tick():
    flat = charts.Series("f", ((0, 0.0), (1, 0.0)), "#000")
    svg = charts.line_chart("l", "Flat zero", [flat], [(0, "a"), (1, "b")], fmt.pct_axis)
    assert "<polyline" in svg and "nan" not in svg and ">a</text>" in svg


def test_heatmap_colours_by_value_and_greys_missing_cells():
    svg = charts.heatmap(
        "h",
        "Heat",
        ["r1", "r2"],
        ["c1", "c2"],
        {("r1", "c1"): 1.0, ("r2", "c2"): 0.0},
        lambda v: fmt.pct(v, 1),
    )
    assert svg.count("<rect") == 4 and "#08306b" in svg and "#f7fbff" in svg
    assert "#f3f4f6" in svg and "100.0%" in svg and "r1 → c2: –" in svg


def test_formats():
    assert fmt.money(Decimal("1234567.8")) == "1,234,567.80" and fmt.money(5) == "5.00"
    assert fmt.count(1234567) == "1,234,567" and fmt.pct(0.012345) == "1.23%"
    assert fmt.pct(None) == fmt.money(None) == "n/a" and fmt.share(1, 0) is None
    assert fmt.money_short(1_250_000) == "1.25M" and fmt.pct_axis(0.025) == "2.5%"


# --- the page -----------------------------------------------------------------------------------


def test_report_has_every_section_chart_and_headline(lake):
    path = build_risk_report(lake, DAY)
    assert path == lake.risk_report(DAY) == lake.data_root / "reports/2026-08-31/risk_report.html"
    page = path.read_text(encoding="utf-8")
    for ident in (
        "buckets",
        "five-category",
        "roll-rates",
        "par-trend",
        "vintages",
        "cure-rates",
        "flow-rates",
        "validation",
    ):
        assert f'<section id="{ident}">' in page
    found = svgs(page)
    assert sorted(found) == sorted(CHARTS)
    for svg in found.values():
        assert re.search(r"<svg[^>]*><title", svg)
    assert "not available" not in page.lower() and "ECL" not in page
    assert "2.50%" in page  # NPL ratio from portfolio_summary ALL/ALL
    assert '<a href="../validation/index.html">' in page
    assert "DPD_MISMATCH:days_past_due" in page and "QUARANTINE_SHARE" in page


def test_report_is_self_contained(lake):
    page = build_risk_report(lake, DAY).read_text(encoding="utf-8")
    assert "<script" not in page and "@import" not in page and "url(" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_money_is_right_aligned_with_two_decimals(lake):
    page = build_risk_report(lake, DAY).read_text(encoding="utf-8")
    assert re.search(r'<td class="num">\d{1,3}(,\d{3})*\.\d{2}</td>', page)
    assert '<td class="num">1,234,567.80</td>' in page


def test_text_from_data_is_escaped(tmp_path):
    lake = make_lake(tmp_path / "data", product="<script>alert(1)</script>")
    cure = [(dt.date(2026, 8, 1), "<script>x</script>", 1, 1, 1, 1.0)]
    with duckdb.connect(str(lake.warehouse)) as con:
        con.executemany("INSERT INTO cure_rates VALUES (?, ?, ?, ?, ?, ?)", cure)
    page = build_risk_report(lake, DAY).read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "MOBILE_FORMAT:&lt;b&gt;x&lt;/b&gt;" in page


def test_same_warehouse_gives_the_same_bytes(tmp_path):
    first = build_risk_report(make_lake(tmp_path / "a"), DAY).read_bytes()
    second_lake = make_lake(tmp_path / "b")
    second = build_risk_report(second_lake, DAY).read_bytes()
    assert first == second == build_risk_report(second_lake, DAY).read_bytes()
    assert not [p for p in second_lake.report_dir(DAY).iterdir() if p.name.endswith(".tmp")]


def test_missing_marts_say_not_available(tmp_path):
    lake = make_lake(tmp_path / "data", marts=())
    page = build_risk_report(lake, DAY).read_text(encoding="utf-8")
    for view in MARTS:
        assert f"the <code>{view}</code> view is not in the warehouse" in page
    assert sorted(svgs(page)) == ["bucket_balance", "bucket_loans"]
    assert "NPL ratio" in page and "portfolio_summary not available" in page


def test_a_day_without_rows_says_so(lake):
    page = build_risk_report(lake, DAY + dt.timedelta(days=1)).read_text(encoding="utf-8")
    assert "the <code>loan_aging</code> view has no rows for this date" in page
    assert "the <code>roll_rates</code> view has no rows for this date" in page


def test_a_failed_day_shows_its_failure(lake):
    failure = json.dumps({"gate": "FILE_EMPTY", "message": "loans_x.csv: gate <FILE_EMPTY>"})
    with duckdb.connect(str(lake.warehouse)) as con:
        con.execute(
            "INSERT INTO pipeline_runs (snapshot_date, status, failure) VALUES (?, 'failed', ?)",
            [DAY + dt.timedelta(days=1), failure],
        )
    page = build_risk_report(lake, DAY + dt.timedelta(days=1)).read_text(encoding="utf-8")
    assert '<span class="pill bad">failed</span>' in page
    assert "Failed: loans_x.csv: gate &lt;FILE_EMPTY&gt;" in page and "No warnings." in page


def test_ecl_shown_only_with_loan_risk(tmp_path):
    page = build_risk_report(make_lake(tmp_path / "data", risk=True), DAY).read_text()
    assert "ECL (CNY)" in page and "112.34" in page and "coverage 2.81% of EAD" in page


def test_vintage_points_not_yet_observable_are_left_out(lake):
    early = dt.date(2026, 4, 15)
    page = build_risk_report(lake, early).read_text(encoding="utf-8")
    vintage = svgs(page)["vintages"]
    assert "2026-04" in vintage and "2026-05" not in vintage


def test_missing_warehouse_is_a_clear_error(tmp_path):
    with pytest.raises(InputFileError, match="warehouse not found"):
        build_risk_report(Lake(tmp_path, tmp_path / "landing"), DAY)
