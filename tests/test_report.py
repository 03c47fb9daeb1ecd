"""The HTML risk report on tiny hand-made warehouses: charts, escaping, determinism, sections."""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
import re
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest
from conftest import AGING_BUCKETS, CONTRACTS, classification_policy

from loanrisk.domain.marts import mart_views
from loanrisk.domain.scorecard import Stability
from loanrisk.errors import InputFileError
from loanrisk.lake.storage import Lake
from loanrisk.quality.contracts import load_contract
from loanrisk.report import bars, build_risk_report, charts, fmt, monitoring, scores
from loanrisk.report.data import BucketOrder, ReportData

DAY = dt.date(2026, 8, 31)
STABILITY = Stability(watch=0.10, shift=0.25)  # as config/scorecard.yaml
BUCKETS = ["M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7", "WO", "CLOSED"]
#: The eight aging buckets of DESIGN.md §5 (as config/classification.yaml), pinned here.
CLASSIFICATION = classification_policy(aging_buckets=AGING_BUCKETS)
ORDER = BucketOrder.of(CLASSIFICATION)
RISK_CHARTS = ["ecl_by_stage", "score_distribution", "psi_trend"]
CHARTS = ["bucket_loans", "bucket_balance", "roll_rates", "par_trend", "vintages", *RISK_CHARTS]
MARTS = ("portfolio_summary", "roll_rates", "vintage_curves", "cure_rates", "flow_rates")
RISK = ("loan_risk", "score_monitoring", "risk_actions")
SECTIONS = ("buckets", "five-category", "ecl", "write-offs", "roll-rates", "par-trend", "vintages")
SECTIONS += ("cure-rates", "flow-rates", "scores", "risk-actions", "validation")
SIGNALS = ("login_failure_burst", "new_device", "out_of_province_login", "transaction_spike")
SIGNALS += ("fund_flow_mismatch", "cash_out_after_disbursement")

#: The columns each hand-made row below fills, in order. Their types, and the table's other
#: columns (left null), come from the table's data contract, or for a mart computed when queried
#: (no contract) from its SQL in loanrisk.domain.marts: a contract change flows into these tests.
COLUMNS = {
    "loan_aging": "snapshot_date loan_id borrower_id product_code account_status"
    " outstanding_principal overdue_amount dpd aging_bucket five_category is_npl ifrs9_stage"
    " episodes_12m max_dpd_12m origination_date npl_probation stage3_probation",
    "pipeline_runs": "snapshot_date status rows_in rows_valid rows_quarantined warnings gates"
    " failure",
    "portfolio_summary": "snapshot_date product_code aging_bucket loans outstanding overdue"
    " active_outstanding par1 par30 par90 npl_outstanding npl_ratio",
    "roll_rates": "snapshot_date previous_date from_bucket to_bucket loans balance loans_share"
    " balance_share",
    "vintage_curves": "vintage_month months_on_book loans disbursed ever_30_loans ever_90_loans"
    " ever_30_principal ever_90_principal ever_30_rate ever_90_rate",
    "cure_rates": "entry_month product_code cure_window_days loans_entered loans_observed"
    " loans_cured cure_rate",
    "flow_rates": "month_end from_bucket to_bucket from_balance rolled_balance roll_rate loss_rate",
    "loan_risk": "snapshot_date loan_id borrower_id product_code account_status"
    " scorecard_version score pd_12m first_pd_12m reason_code_1 reason_code_2 reason_code_3 "
    + " ".join(f"signal_{name}" for name in SIGNALS)
    + " ifrs9_stage ecl_stage ead lgd pd_lifetime ecl_12m ecl_lifetime ecl",
    "score_monitoring": "snapshot_date scorecard_version characteristic bin_no bin count"
    " reference_share actual_share contribution stability_index",
    "reg_write_offs": "snapshot_date product_code loans_written_off balance_written_off"
    " loans_written_off_mtd balance_written_off_mtd recoveries recoveries_mtd",
    "risk_actions": "snapshot_date borrower_id action action_value rule loan_ids borrower_dpd"
    " borrower_score",
}


@functools.cache
def view_types(name: str) -> tuple[tuple[str, str], ...]:
    """(column, DuckDB type) of a warehouse view: its contract's columns as the warehouse reads
    them (Parquet written with the contract's types; the run records' json fields as JSON), or
    a queried mart's columns as its SQL gives them over empty contract inputs."""
    con = duckdb.connect()
    marts = mart_views(classification_policy(aging_buckets=AGING_BUCKETS))
    for table in (name,) if name not in marts else ("loan_aging", "loan_state"):
        contract = load_contract(CONTRACTS, table)
        con.register("empty", pl.DataFrame(schema=contract.polars_schema).to_arrow())
        con.execute(f"CREATE TABLE {table} AS SELECT * FROM empty")
        con.unregister("empty")
        for column in contract.columns:
            if column.physical_type == "json":
                con.execute(f"ALTER TABLE {table} ALTER {column.name} TYPE JSON")
    if name in marts:
        for view, select in marts.items():
            con.execute(f"CREATE VIEW {view} AS {select}")
    return tuple((c, t) for c, t, *_ in con.execute(f"DESCRIBE {name}").fetchall())


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
    originated = DAY - dt.timedelta(days=20 * n)
    # a few ACTIVE loans in probation: class held on n = 10, 40 (M0); stage 3 held on n = 34 (M4)
    held = status == "ACTIVE" and n in (10, 40)
    impaired = status == "ACTIVE" and n == 34
    row = (*ids, balance, Decimal(dpd), dpd, bucket, category, npl, 1, 0, dpd, originated)
    return (*row, held, impaired)


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
            (dt.date(2026, m, 1), p, 30, 40, 38, 25, 25 / 38)
            for m in (6, 7, 8)
            for p in ("CASH_LOAN", "INSTALLMENT")
        ],
        "flow_rates": [
            (month_end, "M0", "M1", Decimal("1234567.80"), Decimal("23456.70"), 0.019, 0.0),
            (month_end, "M6", "M7", Decimal("5000.00"), Decimal("4500.00"), 0.9, 0.9),
        ],
    }


def _risk_row(loan: str, product: str, status: str, stage: int | None, money: tuple) -> tuple:
    """A loan_risk row: (ead, ecl) in ``money``; scored only when ACTIVE."""
    ead, ecl = (Decimal(v) if v is not None else None for v in money)
    score, pd = (612.5, 0.02) if status == "ACTIVE" else (None, None)
    ids = (DAY, loan, "B" + loan[1:], product, status, "test-1", score, pd, pd)
    reasons = ("dpd", "utilisation", None)
    ecl_parts = (0.45, 0.05, ecl, ecl, ecl)
    return (*ids, *reasons, *[0] * len(SIGNALS), stage, stage, ead, *ecl_parts)


def _risk_loans(product: str) -> list[tuple]:
    return [
        _risk_row("L0001", "CASH_LOAN", "ACTIVE", 1, ("1000.00", "12.34")),
        _risk_row("L0002", "CASH_LOAN", "ACTIVE", 2, ("3000.00", "100.00")),
        _risk_row("L0003", product, "ACTIVE", 1, ("2000.00", "7.66")),
        _risk_row("L0004", product, "ACTIVE", 3, ("500.00", "400.00")),
        _risk_row("L0005", "CASH_LOAN", "CLOSED", None, (None, None)),
        # derecognised (DESIGN.md §5 v2): in no ECL figure of the report
        _risk_row("L0006", product, "WRITTEN_OFF", 3, ("900.00", "900.00")),
    ]


# Score bands (label, reference share, actual share) of DAY; the PSI is their contributions' sum.
BANDS = [("[-inf, 550)", 0.1, 0.25), ("[550, 600)", 0.3, 0.3), ("[600, 650)", 0.4, 0.25)]
BANDS += [("[650, inf)", 0.2, 0.2)]
PSI = sum((a - r) * math.log(a / r) for _, r, a in BANDS)
CSI = {"utilisation": 0.31, "<b>feat</b>": 0.12, "dpd": 0.02}


def _monitoring_rows() -> list[tuple]:
    """DAY's score bands and characteristics, and one score row per earlier day (PSI trend)."""
    rows = [
        (DAY, "test-1", "score", i, label, round(20 * a), r, a, (a - r) * math.log(a / r), PSI)
        for i, (label, r, a) in enumerate(BANDS)
    ]
    for name, csi in CSI.items():
        rows += [(DAY, "test-1", name, i, f"bin {i}", 5, 0.5, 0.5, csi / 2, csi) for i in (-1, 0)]
    for k in range(1, 120):
        rows.append((DAY - dt.timedelta(days=k), "test-1", "score", 0, "x", 1, 1, 1, 0, k / 500))
    return rows


def _action_rows() -> list[tuple]:
    tiers = {"B0001": "A", "B0002": "B", "B0003": "B", "B0004": "E"}
    rows = [(b, "PRICING_TIER", tier) for b, tier in tiers.items()]
    rows += [("B0002", "FREEZE_LINE", None), ("B0002", "WATCHLIST", None)]
    rows += [("B0003", "WATCHLIST", None)]
    return [(DAY, b, a, v, "rule <x>", ["L" + b[1:]], 0, 600.0) for b, a, v in rows]


def _risk_tables(product: str, views: tuple) -> dict[str, list[tuple]]:
    rows = {
        "loan_risk": _risk_loans(product),
        "score_monitoring": _monitoring_rows(),
        "risk_actions": _action_rows(),
    }
    return {name: r for name, r in rows.items() if name in views}


def _write_off_rows(product: str) -> list[tuple]:
    """reg_write_offs of DAY (and of the day before, which the report must not show)."""
    money = [Decimal(v) for v in ("1500.25", "4000.00", "12.00", "30.50")]
    rows = [(DAY, "CASH_LOAN", 1, money[0], 3, money[1], money[2], money[3])]
    rows += [(DAY, product, 0, Decimal(0), 1, Decimal("800.00"), Decimal(0), Decimal(0))]
    rows += [(DAY, "ALL", 1, money[0], 4, Decimal("4800.00"), money[2], money[3])]
    return [*rows, (DAY - dt.timedelta(days=1), "ALL", 9, *([Decimal(9)] * 5))]


def make_lake(
    root: Path, *, product: str = "INSTALLMENT", marts: tuple = MARTS, risk: tuple = RISK
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
        **_risk_tables(product, risk),
        "reg_write_offs": _write_off_rows(product),
    }
    with duckdb.connect(str(lake.warehouse)) as con:
        for name, values in rows.items():
            types = ", ".join(f'"{c}" {t}' for c, t in view_types(name))
            con.execute(f"CREATE TABLE {name} ({types})")
            columns = COLUMNS[name].split()
            marks = ", ".join("?" * len(columns))
            con.executemany(f"INSERT INTO {name} ({', '.join(columns)}) VALUES ({marks})", values)
    return lake


@pytest.fixture
def lake(tmp_path) -> Lake:
    return make_lake(tmp_path / "data")


def svgs(page: str) -> dict[str, str]:
    """Every chart of a page by its data-chart name."""
    found = re.findall(r'(<svg[^>]*data-chart="([^"]+)".*?</svg>)', page, re.S)
    return {name: svg for svg, name in found}


def table_rows(page: str, ident: str, caption: str = "") -> list[list[str]]:
    """The text of every body and foot row of a section's table (the first, or by caption)."""
    body = re.search(rf'<section id="{ident}">(.*?)</section>', page, re.S).group(1)
    tables = re.findall(r"<table.*?</table>", body, re.S)
    found = next(t for t in tables if f"<caption>{caption}</caption>" in t or not caption)
    rows = re.findall(r"<tr>(.*?)</tr>", found.split("</thead>")[-1], re.S)
    cells = [re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in rows]
    return [[re.sub(r"<[^>]+>", "", c) for c in row] for row in cells]


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


def test_grouped_bar_chart_puts_series_side_by_side():
    groups = [bars.Bars("a", (10, 20), "#111111"), bars.Bars("b", (0, 40), "#222222")]
    svg = bars.grouped_bar_chart("g", "Grouped", ["x", "y"], groups, fmt.count_short)
    heights = [float(h) for h in re.findall(r'<rect x[^>]*height="([\d.]+)"[^>]*><title', svg)]
    assert len(heights) == 4 and heights[3] == pytest.approx(4 * heights[0], abs=0.2)
    assert heights[1] == 0 and "<title>b, y: 40</title>" in svg and 'data-chart="g"' in svg
    xs = [float(x) for x in re.findall(r'<rect x="([\d.]+)"[^>]*><title>', svg)]
    assert xs == sorted(xs)  # a, b under x, then a, b under y
    assert ">a</text>" in svg and ">b</text>" in svg  # legend
    assert "No data" in bars.grouped_bar_chart("g", "Empty", [], [], fmt.count_short)
    assert "No data" in bars.grouped_bar_chart("g", "Empty", ["x"], [], fmt.count_short)


@pytest.mark.parametrize(
    ("value", "word"),
    [(0.0, "stable"), (0.0999, "stable"), (0.10, "watch"), (0.25, "watch"), (0.2501, "shifted")],
)
def test_stability_verdict_thresholds(value, word):
    assert scores.verdict(value, STABILITY) == word
    assert STABILITY.reading(value) == word  # the month's monitoring summary reads alike
    assert scores.verdict(None, STABILITY) == "n/a"


def test_score_band_labels_are_short():
    assert scores.band_label("[-inf, 480)") == "<480"
    assert scores.band_label("[580, 600)") == "580–600"
    assert scores.band_label("[640, inf)") == "≥640"
    assert scores.band_label("odd <label>") == "odd <label>"


def test_formats():
    assert fmt.money(Decimal("1234567.8")) == "1,234,567.80" and fmt.money(5) == "5.00"
    assert fmt.count(1234567) == "1,234,567" and fmt.pct(0.012345) == "1.23%"
    assert fmt.pct(None) == fmt.money(None) == "n/a" and fmt.share(1, 0) is None
    assert fmt.money_short(1_250_000) == "1.25M" and fmt.pct_axis(0.025) == "2.5%"


# --- the page -----------------------------------------------------------------------------------


def test_report_has_every_section_chart_and_headline(lake):
    path = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION)
    assert path == lake.risk_report(DAY) == lake.data_root / "reports/2026-08-31/risk_report.html"
    page = path.read_text(encoding="utf-8")
    for ident in SECTIONS:
        assert f'<section id="{ident}">' in page and f'<a href="#{ident}">' in page
    found = svgs(page)
    assert sorted(found) == sorted(CHARTS)
    for svg in found.values():
        assert re.search(r"<svg[^>]*><title", svg)
    assert "not available" not in page.lower() and "ECL (CNY)" in page
    assert "2.50%" in page  # NPL ratio from portfolio_summary ALL/ALL
    assert '<a href="../validation/index.html">' in page
    assert "DPD_MISMATCH:days_past_due" in page and "QUARANTINE_SHARE" in page


def test_report_is_self_contained(lake):
    page = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    assert "<script" not in page and "@import" not in page and "url(" not in page
    assert not re.search(r'(src|href)="(https?:)?//', page)


def test_money_is_right_aligned_with_two_decimals(lake):
    page = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    assert re.search(r'<td class="num">\d{1,3}(,\d{3})*\.\d{2}</td>', page)
    assert '<td class="num">1,234,567.80</td>' in page


def test_text_from_data_is_escaped(tmp_path):
    lake = make_lake(tmp_path / "data", product="<script>alert(1)</script>")
    cure = [(dt.date(2026, 8, 1), "<script>x</script>", 30, 1, 1, 1, 1.0)]
    with duckdb.connect(str(lake.warehouse)) as con:
        con.executemany("INSERT INTO cure_rates VALUES (?, ?, ?, ?, ?, ?, ?)", cure)
        con.execute("UPDATE risk_actions SET action_value = '<i>Z</i>' WHERE action_value = 'E'")
    page = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    assert "<script" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "MOBILE_FORMAT:&lt;b&gt;x&lt;/b&gt;" in page
    assert "<b>feat" not in page and "&lt;b&gt;feat&lt;/b&gt;" in page  # CSI characteristic
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in svgs(page)["ecl_by_stage"]
    assert "<i>" not in page and "&lt;i&gt;Z&lt;/i&gt;" in page  # pricing tier
    assert table_rows(page, "write-offs")[0][0] == "&lt;script&gt;alert(1)&lt;/script&gt;"


def test_cure_rates_title_names_the_window_the_mart_used():
    # given cure rates computed over a 10-day window (config history.cure_window_days)
    rows = [(dt.date(2026, 8, 1), "CASH_LOAN", 10, 4, 4, 1, 0.25)]
    # when the section is drawn, then its title says 10 days, not a window assumed in code
    html = monitoring.cure_rates(
        ReportData(DAY, STABILITY, ORDER, cure_rates=rows, views={"cure_rates"})
    )
    assert "M1 → M0 within 10 days" in html and "30 days" not in html
    assert "25.0%" in html


def test_same_warehouse_gives_the_same_bytes(tmp_path):
    def build(lake: Lake) -> bytes:
        return build_risk_report(lake, DAY, STABILITY, CLASSIFICATION).read_bytes()

    first = build(make_lake(tmp_path / "a"))
    second_lake = make_lake(tmp_path / "b")
    assert first == build(second_lake) == build(second_lake)
    assert not [p for p in second_lake.report_dir(DAY).iterdir() if p.name.endswith(".tmp")]


def test_missing_marts_say_not_available(tmp_path):
    lake = make_lake(tmp_path / "data", marts=(), risk=())
    page = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    for view in (*MARTS, *RISK):
        assert f"the <code>{view}</code> view is not in the warehouse" in page
    assert sorted(svgs(page)) == ["bucket_balance", "bucket_loans"]
    assert "NPL ratio" in page and "portfolio_summary not available" in page
    assert "ECL (CNY)" not in page  # an older warehouse: no ECL card at all
    for ident in ("ecl", "scores", "risk-actions"):
        assert f'<section id="{ident}">' in page


@pytest.mark.parametrize("view", RISK)
def test_each_missing_risk_view_only_blanks_its_own_section(tmp_path, view):
    lake = make_lake(tmp_path / "data", risk=tuple(v for v in RISK if v != view))
    page = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    assert page.count("view is not in the warehouse") == 1
    assert f"the <code>{view}</code> view is not in the warehouse" in page
    drawn = {"loan_risk": ["ecl_by_stage"], "score_monitoring": ["score_distribution", "psi_trend"]}
    assert sorted(svgs(page)) == sorted(set(CHARTS) - set(drawn.get(view, [])))


def test_a_day_without_rows_says_so(lake):
    next_day = DAY + dt.timedelta(days=1)
    page = build_risk_report(lake, next_day, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    for view in ("loan_aging", "roll_rates", *RISK):
        assert f"the <code>{view}</code> view has no rows for this date" in page
    assert "no loan_risk rows" in page


def test_a_failed_day_shows_its_failure(lake):
    failure = json.dumps({"gate": "FILE_EMPTY", "message": "loans_x.csv: gate <FILE_EMPTY>"})
    with duckdb.connect(str(lake.warehouse)) as con:
        con.execute(
            "INSERT INTO pipeline_runs (snapshot_date, status, failure) VALUES (?, 'failed', ?)",
            [DAY + dt.timedelta(days=1), failure],
        )
    next_day = DAY + dt.timedelta(days=1)
    page = build_risk_report(lake, next_day, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    assert '<span class="pill bad">failed</span>' in page
    assert "Failed: loans_x.csv: gate &lt;FILE_EMPTY&gt;" in page and "No warnings." in page


def test_ecl_card_covers_loans_not_closed(lake):
    page = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    card = re.search(r"ECL \(CNY\)</div>(.*?)</div></div>", page, re.S).group(1)
    assert "520.00" in card and "coverage 8.00% of EAD 6.5K" in card


def test_ecl_by_stage_and_product(lake):
    page = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    assert table_rows(page, "ecl", "By stage") == [
        ["Stage 1", "2", "3,000.00", "20.00", "0.67%", "3.8%"],
        ["Stage 2", "1", "3,000.00", "100.00", "3.33%", "19.2%"],
        ["Stage 3", "1", "500.00", "400.00", "80.00%", "76.9%"],
        ["Total", "4", "6,500.00", "520.00", "8.00%", "100.0%"],
    ]
    assert table_rows(page, "ecl", "By product and stage") == [
        ["CASH_LOAN", "Stage 1", "1", "1,000.00", "12.34", "1.23%"],
        ["CASH_LOAN", "Stage 2", "1", "3,000.00", "100.00", "3.33%"],
        ["CASH_LOAN", "All stages", "2", "4,000.00", "112.34", "2.81%"],
        ["INSTALLMENT", "Stage 1", "1", "2,000.00", "7.66", "0.38%"],
        ["INSTALLMENT", "Stage 3", "1", "500.00", "400.00", "80.00%"],
        ["INSTALLMENT", "All stages", "2", "2,500.00", "407.66", "16.31%"],
        ["Total", "All stages", "4", "6,500.00", "520.00", "8.00%"],
    ]
    chart = svgs(page)["ecl_by_stage"]
    assert "<title>INSTALLMENT, Stage 3: 400</title>" in chart
    assert "<title>CASH_LOAN, Stage 3: 0</title>" in chart  # no such loans: an empty bar
    assert len(re.findall("<rect [^>]*><title>", chart)) == 6 and ">Stage 2</text>" in chart


def test_write_offs_show_the_day_month_to_date_and_recoveries(lake):
    # given reg_write_offs rows of the day by product and ALL
    # when the report is built, then the products are rows and ALL is the foot
    page = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    assert table_rows(page, "write-offs") == [
        ["CASH_LOAN", "1", "1,500.25", "3", "4,000.00", "12.00", "30.50"],
        ["INSTALLMENT", "0", "0.00", "1", "800.00", "0.00", "0.00"],
        ["All products", "1", "1,500.25", "4", "4,800.00", "12.00", "30.50"],
    ]


def test_five_category_says_how_many_loans_are_in_probation(lake):
    # given loan_aging rows of the day with npl_probation on 2 loans and stage3_probation on 1
    page = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    # then the five-category section counts them
    note = re.search(r'<p class="muted" id="probation">([^<]*)</p>', page)
    assert note is not None
    assert "In upgrade probation: 2 loans keep a non-performing class" in note.group(1)
    assert "1 loans are held in IFRS 9 stage 3" in note.group(1)


def test_scores_show_distribution_psi_verdict_and_csi(lake):
    page = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    assert round(PSI, 3) == 0.208  # watch
    assert '<strong>0.208</strong> <span class="pill warn">watch</span>' in page
    assert "20 scored ACTIVE loans" in page and "<code>test-1</code>" in page
    assert re.search(
        r"<figcaption>[^<]*PSI 0\.208: watch \(index &lt; 0\.10 stable, 0\.10–0\.25 watch, "
        r"&gt; 0\.25 shifted\)",
        page,
    )
    chart = svgs(page)["score_distribution"]
    assert len(re.findall("<rect [^>]*><title>", chart)) == 2 * len(BANDS)
    assert "<title>Actual, &lt;550: 25%</title>" in chart
    assert "<title>Reference, ≥650: 20%</title>" in chart
    assert table_rows(page, "scores") == [
        ["utilisation", "0.310", "shifted", "2"],
        ["&lt;b&gt;feat&lt;/b&gt;", "0.120", "watch", "2"],
        ["dpd", "0.020", "stable", "2"],
    ]


def test_scores_read_by_the_configured_stability_policy(lake):
    stricter = Stability(watch=0.05, shift=0.2)
    page = build_risk_report(lake, DAY, stricter, CLASSIFICATION).read_text(encoding="utf-8")
    assert '<strong>0.208</strong> <span class="pill bad">shifted</span>' in page
    assert "index &lt; 0.05 stable, 0.05–0.20 watch, &gt; 0.20 shifted" in page
    assert table_rows(page, "scores")[1] == ["&lt;b&gt;feat&lt;/b&gt;", "0.120", "watch", "2"]
    chart = svgs(page)["psi_trend"]
    assert "<title>shift 0.20</title>" in chart and "<title>watch 0.05</title>" in chart


def test_psi_trend_covers_the_last_90_days_with_thresholds(lake):
    page = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    chart = svgs(page)["psi_trend"]
    lines = re.findall(r'<polyline points="([^"]+)"[^>]*><title>([^<]+)</title>', chart)
    by_name = {name: points.split() for points, name in lines}
    assert sorted(by_name) == ["PSI", "shift 0.25", "watch 0.10"]
    assert len(by_name["PSI"]) == 90 and len(by_name["watch 0.10"]) == 2
    assert 'stroke-dasharray="5 4"' in chart and chart.count("<circle") == 0  # > 40 points


def test_risk_actions_count_borrowers_per_action_and_tier(lake):
    page = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    assert table_rows(page, "risk-actions", "Borrowers by action") == [
        ["FREEZE_LINE credit lines frozen", "1", "25.0%"],
        ["REDUCE_LIMIT limit reduced", "0", "0.0%"],
        ["WATCHLIST on the watchlist", "2", "50.0%"],
        ["BLACKLIST blacklisted", "0", "0.0%"],
        ["PRICING_TIER priced (one tier each)", "4", "100.0%"],
    ]
    assert table_rows(page, "risk-actions", "Borrowers by pricing tier") == [
        ["A best", "1", "25.0%"],
        ["B", "2", "50.0%"],
        ["C", "0", "0.0%"],
        ["D", "0", "0.0%"],
        ["E worst", "1", "25.0%"],
    ]
    assert "the 4 borrowers with an ACTIVE loan" in page


def test_vintage_points_not_yet_observable_are_left_out(lake):
    early = dt.date(2026, 4, 15)
    page = build_risk_report(lake, early, STABILITY, CLASSIFICATION).read_text(encoding="utf-8")
    vintage = svgs(page)["vintages"]
    assert "2026-04" in vintage and "2026-05" not in vintage


def test_missing_warehouse_is_a_clear_error(tmp_path):
    with pytest.raises(InputFileError, match="warehouse not found"):
        build_risk_report(Lake(tmp_path, tmp_path / "landing"), DAY, STABILITY, CLASSIFICATION)


# --- the bucket order -------------------------------------------------------------------------


def test_the_pinned_policy_gives_the_designed_bucket_order():
    # the report lists M0..M7, WO, CLOSED (DESIGN.md §5); its forward rolls run along the flow
    # rates' chain, M0 -> ... -> M7 -> WO
    assert ORDER.names == tuple(BUCKETS)
    assert ORDER.chain == tuple(BUCKETS[:-1]) and ORDER.closed == "CLOSED"


def test_a_policy_with_another_bucket_changes_the_order_the_report_uses(lake):
    # given a warehouse with loans in an M8 bucket, and a policy with nine buckets (M8 over 210)
    with duckdb.connect(str(lake.warehouse)) as con:
        con.execute(
            "INSERT INTO loan_aging SELECT * REPLACE ('M8' AS aging_bucket, 'X' || loan_id "
            "AS loan_id) FROM loan_aging WHERE aging_bucket = 'M7'"
        )
    nine = [*AGING_BUCKETS[:-1], {"name": "M7", "max_dpd": 210}, {"name": "M8", "max_dpd": None}]
    policies = {"eight": CLASSIFICATION, "nine": classification_policy(aging_buckets=nine)}
    pages = {
        name: build_risk_report(lake, DAY, STABILITY, policy).read_text(encoding="utf-8")
        for name, policy in policies.items()
    }
    # then the bucket table lists M8 where each policy puts it (after its buckets when unknown)
    listed = {name: [row[0] for row in table_rows(page, "buckets")] for name, page in pages.items()}
    assert listed["eight"] == [*BUCKETS, "M8", "Total"]
    assert listed["nine"] == [*BUCKETS[:8], "M8", "WO", "CLOSED", "Total"]
    # and M7's forward roll goes to the policy's next bucket
    rolls = {
        name: [row[0] for row in table_rows(page, "roll-rates", "Forward roll rates")]
        for name, page in pages.items()
    }
    assert rolls["eight"] == ["M0 → M1", "M1 → M2", "M7 → WO"]
    assert rolls["nine"] == ["M0 → M1", "M1 → M2", "M7 → M8"]
