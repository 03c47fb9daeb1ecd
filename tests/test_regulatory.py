"""Regulatory extracts: five-category, IFRS 9 ECL and stage transfers, and the
PBoC-style credit report's codes and 24-month history, on tiny hand-built frames; then the
stage on a tmp data_root across two month-ends, one of them not a processed day."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from types import SimpleNamespace

import duckdb
import polars as pl
import pytest
from conftest import credit_report_of, stage_settings, write_policy

from loanrisk.domain import credit_report as cr
from loanrisk.domain.marts import portfolio_summary_sql
from loanrisk.domain.money import MONEY
from loanrisk.domain.regulatory import (
    RegulatoryPolicy,
    five_category_report,
    ifrs9_ecl_report,
    load_regulatory_policy,
    stage_transfers,
)
from loanrisk.errors import ConfigError, ReconciliationError
from loanrisk.lake.storage import lake_of, sha256_file, write_partition
from loanrisk.pipeline.reconciled import check_totals, extract_kind
from loanrisk.pipeline.regulatory_stage import (
    AGING_COLUMNS,
    SNAPSHOT_COLUMNS,
    regulatory_day,
)

D = dt.date
OPENED = D(2025, 1, 10)
SEP30, OCT15, OCT30, OCT31, NOV2, NOV15, NOV30 = (
    D(2026, 9, 30), D(2026, 10, 15), D(2026, 10, 30), D(2026, 10, 31),
    D(2026, 11, 2), D(2026, 11, 15), D(2026, 11, 30),
)  # fmt: skip


#: The tests' regulatory policy (DESIGN.md §6), pinned here, not read from config/.
REGULATORY = {
    "credit_report": {
        "reporting_day": "last",
        "overdue_status_max_dpd": [30, 60, 90, 120, 150, 180],
        "overdue_period_days": 30,
        "instalment_interval_months": 1,
        "id_type": "10",
    }
}


@pytest.fixture(scope="module")
def reg_policy():
    return RegulatoryPolicy.model_validate(REGULATORY)


def row(day, loan_id, dpd=0, status="ACTIVE", next_due=None, opened=OPENED, product="CASH_LOAN"):
    """One loan on one processed day, with every column the regulatory inputs carry."""
    balance = Decimal("0.00") if status == "CLOSED" else Decimal("1000.00")
    overdue = Decimal("100.00") if dpd else Decimal("0.00")
    stage = None if status == "CLOSED" else 3 if dpd > 90 or status != "ACTIVE" else 1 + (dpd > 30)
    category = {None: None, 1: "NORMAL", 2: "SPECIAL_MENTION", 3: "SUBSTANDARD"}[stage]
    return {
        "snapshot_date": day, "loan_id": loan_id, "borrower_id": f"B{loan_id}",
        "product_code": product, "account_status": status, "origination_date": opened,
        "currency": "CNY", "principal_amount": Decimal("1200.00"), "outstanding_principal": balance,
        "overdue_principal": overdue, "overdue_amount": overdue, "dpd": dpd,
        "overdue_interest": Decimal("0.00"), "overdue_fees": Decimal("0.00"),
        "five_category": "LOSS" if status == "WRITTEN_OFF" else category, "ecl_stage": stage,
        "ead": None if stage is None else balance, "ecl": None if stage is None else Decimal(stage),
        "borrower_name": "=王小明", "national_id": "11010119900101001X",
        "maturity_date": D(2027, 1, 10), "credit_limit": None, "installments_total": 24,
        "installments_paid": 3, "next_due_date": None if status != "ACTIVE" else next_due,
        "oldest_unpaid_due_date": day - dt.timedelta(days=dpd - 1) if dpd else None,
        "last_payment_date": None, "last_payment_amount": None,
        "first_delinquency_date": day - dt.timedelta(days=dpd - 1) if dpd else None,
    }  # fmt: skip


def frame(rows: list[dict]) -> pl.DataFrame:
    money = ["principal_amount", "outstanding_principal", "overdue_principal", "overdue_amount"]
    money += ["overdue_interest", "overdue_fees"]
    return pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col(*money, "ead", "ecl", "credit_limit", "last_payment_amount").cast(MONEY),
        pl.col("dpd", "ecl_stage", "installments_total", "installments_paid").cast(pl.Int32),
        pl.col("last_payment_date").cast(pl.Date),
    )


# --- policy -------------------------------------------------------------------------------


def test_policy_loads_and_refuses_bad_values(tmp_path, reg_policy):
    def edited(**changes):
        document = {"credit_report": {**REGULATORY["credit_report"], **changes}}
        return write_policy(tmp_path, "regulatory.yaml", document)

    assert load_regulatory_policy(edited()) == reg_policy  # as pinned, it loads
    with pytest.raises(ConfigError, match="reporting_day"):
        load_regulatory_policy(edited(reporting_day=29))
    with pytest.raises(ConfigError, match="must strictly ascend"):
        load_regulatory_policy(edited(overdue_status_max_dpd=[30, 60, 60, 120, 150, 180]))


# --- credit report codes --------------------------------------------------------------------


def test_every_status_code_at_its_edge(reg_policy):
    cases = [  # (account_status, dpd, payment due in the period) -> code
        ("ACTIVE", 0, True, "N"), ("ACTIVE", 0, False, "*"), ("ACTIVE", 1, False, "1"),
        ("ACTIVE", 30, True, "1"), ("ACTIVE", 31, True, "2"), ("ACTIVE", 60, True, "2"),
        ("ACTIVE", 61, True, "3"), ("ACTIVE", 90, True, "3"), ("ACTIVE", 91, True, "4"),
        ("ACTIVE", 120, True, "4"), ("ACTIVE", 121, True, "5"), ("ACTIVE", 150, True, "5"),
        ("ACTIVE", 151, True, "6"), ("ACTIVE", 180, True, "6"), ("ACTIVE", 181, True, "7"),
        ("ACTIVE", 400, True, "7"), ("CLOSED", 0, True, "C"), ("WRITTEN_OFF", 200, True, "B"),
    ]  # fmt: skip
    got = (
        pl.DataFrame(
            [c[:3] for c in cases],
            schema=["account_status", "dpd", "payment_due_in_period"],
            orient="row",
        )
        .with_columns(  # never past due in the period; no instalment schedule (M, the cap: v2)
            pl.lit(False).alias("past_due_in_period"),
            pl.lit(None, pl.Int32).alias("installments_total"),
            pl.lit(None, pl.Int32).alias("installments_paid"),
        )
        .select(
            cr.repayment_status(reg_policy.credit_report).alias("code"),
            cr.overdue_periods(reg_policy.credit_report).alias("periods"),
        )
    )
    assert got["code"].to_list() == [c[3] for c in cases]
    assert got["periods"].to_list()[:6] == [0, 0, 1, 1, 2, 2]
    assert got["periods"].to_list()[14:16] == [7, 14]


def test_reporting_periods_last_day_fixed_day_and_an_unprocessed_reporting_day():
    built, why = cr.period_to_build(OCT31, [SEP30, OCT30, OCT31], "last")
    assert built == cr.ReportingPeriod(OCT31, D(2026, 10, 1), OCT31) and why == "reporting day"
    assert cr.period_to_build(OCT30, [SEP30, OCT30], "last") == (
        None,
        "not a reporting day (next: 2026-10-31)",
    )
    built, why = cr.period_to_build(NOV2, [OCT15, OCT30, NOV2], "last")  # Oct 31 not processed
    assert built == cr.ReportingPeriod(OCT31, D(2026, 10, 1), OCT30) and "not processed" in why
    assert cr.period_to_build(NOV15, [OCT30, NOV2, NOV15], "last")[0] is None
    assert cr.period_to_build(NOV2, [SEP30, NOV2], "last")[0] is None  # nothing in October
    assert cr.period_to_build(OCT15, [OCT15], 15)[0] == cr.ReportingPeriod(
        OCT15, D(2026, 9, 16), OCT15
    )
    assert cr.reporting_day_of(2028, 2, "last") == D(2028, 2, 29)
    assert cr.months_back(D(2026, 3, 31), 1, "last") == D(2026, 2, 28)


def october(reg_policy) -> pl.DataFrame:
    """The October report of a small book: days Sep 30 (before the period), Oct 15, Oct 31."""
    rows = [
        row(SEP30, "A", next_due=D(2026, 10, 20)), row(OCT15, "A", next_due=D(2026, 10, 20)),
        row(OCT31, "A", next_due=D(2026, 11, 20)),
        row(OCT15, "MID", opened=D(2026, 10, 10), next_due=D(2026, 11, 10)),
        row(OCT31, "MID", opened=D(2026, 10, 10), next_due=D(2026, 11, 10)),
        row(OCT31, "IDLE", next_due=D(2026, 12, 5)),  # nothing due in October
        row(SEP30, "CLS", next_due=D(2026, 10, 3)), row(OCT15, "CLS", status="CLOSED"),
        row(OCT15, "WO", dpd=185), row(OCT31, "WO", dpd=201, status="WRITTEN_OFF"),
        row(OCT31, "D30", dpd=30), row(OCT31, "D31", dpd=31),
        row(OCT31, "D180", dpd=180), row(OCT31, "D181", dpd=181),
    ]  # fmt: skip
    period = cr.ReportingPeriod(OCT31, D(2026, 10, 1), OCT31)
    return credit_report_of(frame(rows), period, None, reg_policy.credit_report)


def test_october_codes_filler_and_data_dates(reg_policy):
    got = {r["loan_id"]: r for r in october(reg_policy).iter_rows(named=True)}
    codes = {k: (v["repayment_status"], v["payment_due_in_period"]) for k, v in got.items()}
    assert codes == {
        "A": ("N", True), "MID": ("*", False), "IDLE": ("*", False), "CLS": ("C", True),
        "WO": ("B", True), "D30": ("1", True), "D31": ("2", True), "D180": ("6", True),
        "D181": ("7", True),
    }  # fmt: skip
    # Opened 2025-01-10: not open at the Nov and Dec 2024 reporting days, open and unknown after.
    assert got["A"]["repayment_history_24m"] == "//" + "#" * 21 + "N"
    assert got["MID"]["repayment_history_24m"] == "/" * 23 + "*"  # opened mid-month
    assert got["CLS"]["data_date"] == OCT15 and got["CLS"]["balance"] == Decimal("0.00")
    # Each loan's details come from the snapshot of its own last day, not an earlier one.
    assert got["CLS"]["next_due_date"] is None and got["A"]["next_due_date"] == D(2026, 11, 20)
    assert got["WO"]["data_date"] == OCT31 and got["WO"]["first_delinquency_date"] == D(2026, 4, 14)
    assert got["A"]["first_delinquency_date"] is None and got["A"]["overdue_periods"] == 0
    assert got["D181"]["overdue_periods"] == 7 and got["A"]["reporting_month"] == "2026-10"


def test_history_carries_across_the_month_end_and_over_a_skipped_month(reg_policy):
    oct_report = october(reg_policy)
    previous = oct_report.lazy().select("loan_id", "repayment_history_24m")
    rows = frame([
        row(OCT31, "A", next_due=D(2026, 11, 20)), row(NOV30, "A", next_due=D(2026, 12, 20)),
        row(OCT31, "MID", opened=D(2026, 10, 10), next_due=D(2026, 11, 10)),
        row(NOV30, "MID", dpd=20, opened=D(2026, 10, 10), next_due=D(2026, 12, 10)),
    ])  # fmt: skip
    period = cr.ReportingPeriod(NOV30, D(2026, 11, 1), NOV30)
    nov = credit_report_of(rows, period, (previous, 1), reg_policy.credit_report)
    nov = {r["loan_id"]: r for r in nov.iter_rows(named=True)}
    assert set(nov) == {"A", "MID"}  # closed and written off in October: not reported again
    assert nov["A"]["repayment_history_24m"] == "/" + "#" * 21 + "NN"
    assert nov["MID"]["repayment_history_24m"] == "/" * 22 + "*1"
    jan = cr.ReportingPeriod(D(2027, 1, 31), D(2027, 1, 1), D(2027, 1, 31))
    rows = frame([row(D(2027, 1, 31), "A", next_due=D(2027, 2, 20))])
    # Nov and Dec never reported
    skipped = credit_report_of(rows, jan, (previous, 3), reg_policy.credit_report)
    assert skipped["repayment_history_24m"][0] == "#" * 20 + "N" + "##" + "N"


def test_payment_due_from_a_due_date_seen_only_before_the_period(reg_policy):
    rows = [row(SEP30, "X", next_due=D(2026, 10, 1)), row(OCT31, "X", next_due=D(2026, 12, 1))]
    period = cr.ReportingPeriod(OCT31, D(2026, 10, 1), OCT31)
    got = credit_report_of(frame(rows), period, None, reg_policy.credit_report)
    assert got["repayment_status"].to_list() == ["N"]  # Oct 1 fell due between the two days


# --- five-category, ECL, transfers --------------------------------------------------------


#: Pinned NPL classes (DESIGN.md §5), not read from config/.
NPL = ("SUBSTANDARD", "DOUBTFUL", "LOSS")


def mixed_day() -> pl.DataFrame:
    """One product-day of every status: 3 ACTIVE CASH_LOAN (NORMAL, SPECIAL_MENTION, SUBSTANDARD),
    one WRITTEN_OFF (LOSS) and one CLOSED; 2 ACTIVE INSTALLMENT (NORMAL, SUBSTANDARD)."""
    return frame([
        row(OCT31, "A"), row(OCT31, "B", dpd=45), row(OCT31, "C", dpd=95),
        row(OCT31, "W", dpd=400, status="WRITTEN_OFF"), row(OCT31, "D", status="CLOSED"),
        row(OCT31, "E", product="INSTALLMENT"), row(OCT31, "F", dpd=95, product="INSTALLMENT"),
    ])  # fmt: skip


def test_five_category_leaves_written_off_and_closed_loans_out_and_adds_the_portfolio():
    # given a day with a written-off CASH_LOAN of 1,000.00 and a closed one
    # when the five-category report is built
    got = five_category_report(mixed_day().lazy(), OCT31, ["CASH_LOAN", "INSTALLMENT"], NPL)
    got = got.collect()
    # then only the 5 ACTIVE loans are counted, in 2 products x 5 classes and 5 ALL rows (last)
    products = got.filter(pl.col("product_code") != "ALL")
    assert got.height == 15 and products["loans"].sum() == 5
    assert products["outstanding_principal"].sum() == Decimal("5000.00")
    cash = got.filter(product_code="CASH_LOAN")
    assert cash["loans"].to_list() == [1, 1, 1, 0, 0]  # no LOSS: W is off the book
    assert cash["share"].to_list() == pytest.approx([1 / 3, 1 / 3, 1 / 3, 0, 0])
    assert cash["npl_ratio"].to_list() == pytest.approx([1 / 3] * 5)  # 1,000 / 3,000, not 2 / 4
    portfolio = got.tail(5)
    assert set(portfolio["product_code"]) == {"ALL"}
    assert portfolio["loans"].to_list() == [2, 1, 2, 0, 0]
    assert portfolio["outstanding_principal"].to_list() == [
        Decimal("2000.00"), Decimal("1000.00"), Decimal("2000.00"), Decimal("0.00"),
        Decimal("0.00"),
    ]  # fmt: skip
    assert portfolio["share"].to_list() == pytest.approx([0.4, 0.2, 0.4, 0, 0])  # of 5,000
    assert portfolio["npl_ratio"].to_list() == pytest.approx([0.4] * 5)  # not 1/3 + 1/2


def test_npl_ratio_is_the_same_in_reg_five_category_and_portfolio_summary():
    # given the mixed day, as loan_aging in DuckDB (one bucket is enough for the ALL rows)
    aging = mixed_day().with_columns(pl.lit("M0").alias("aging_bucket"))
    con = duckdb.connect()
    con.register("loan_aging", aging.to_arrow())
    policy = SimpleNamespace(five_category=SimpleNamespace(npl_categories=NPL))
    # when both tables are built
    summary = con.execute(
        f"SELECT product_code, npl_ratio, npl_outstanding, active_outstanding "
        f"FROM ({portfolio_summary_sql(policy)}) WHERE aging_bucket = 'ALL' ORDER BY 1"
    ).fetchall()
    five = five_category_report(aging.lazy(), OCT31, ["CASH_LOAN", "INSTALLMENT"], NPL).collect()
    ratios = dict(five.select("product_code", "npl_ratio").unique().iter_rows())
    # then they agree exactly, and leave the written-off 1,000.00 out of both sides
    assert [(p, r) for p, r, *_ in summary] == sorted(ratios.items())
    assert summary[0][1:] == (0.4, Decimal("2000.00"), Decimal("5000.00"))  # ALL
    assert ratios["CASH_LOAN"] == 1000 / 3000 and ratios["INSTALLMENT"] == 0.5


def test_ecl_by_stage_and_transfers_against_the_month_end():
    before = frame([row(SEP30, "S", dpd=0), row(SEP30, "G", dpd=40), row(SEP30, "X"),
                    row(SEP30, "Z", status="CLOSED")])  # fmt: skip
    now = frame([row(OCT31, "S", dpd=40), row(OCT31, "G", dpd=95), row(OCT31, "N"),
                 row(OCT31, "X", status="CLOSED"),
                 row(OCT31, "W", dpd=200, status="WRITTEN_OFF")])  # fmt: skip
    ecl = ifrs9_ecl_report(now.lazy(), OCT31, ["CASH_LOAN"]).collect()
    cash = ecl.filter(product_code="CASH_LOAN")
    assert cash["loans"].to_list() == [1, 1, 1] and cash["ecl"].to_list() == [1, 2, 3]  # no W
    assert cash["coverage_ratio"].to_list() == pytest.approx([0.001, 0.002, 0.003])
    moves = stage_transfers(before.lazy(), now.lazy(), OCT31, SEP30).collect()
    assert moves.select("from_stage", "to_stage", "loans").rows() == [
        ("1", "2", 1), ("1", "EXIT", 1), ("2", "3", 1), ("NEW", "1", 1)
    ]  # fmt: skip
    assert moves["ecl_current"].sum() == cash["ecl"].sum()
    assert moves["ecl_previous"].sum() == Decimal("4.00")  # Z was closed at the month-end


def test_ecl_portfolio_rows_sum_the_products_and_recompute_coverage():
    # given stage-1 loans of 1,000.00 EAD / 1.00 ECL (CASH_LOAN) and 3,000.00 / 1.00 (INSTALLMENT)
    big = row(OCT31, "I", product="INSTALLMENT") | {"ead": Decimal("3000.00")}
    now = frame([row(OCT31, "S"), big, row(OCT31, "W", dpd=200, status="WRITTEN_OFF")])
    # when the ECL report is built
    ecl = ifrs9_ecl_report(now.lazy(), OCT31, ["CASH_LOAN", "INSTALLMENT"]).collect()
    # then the ALL rows come last, sum the products and recompute coverage = 2 / 4,000
    portfolio = ecl.tail(3)
    assert portfolio.select("product_code", "stage", "loans", "ead", "ecl").rows() == [
        ("ALL", 1, 2, Decimal("4000.00"), Decimal("2.00")),
        ("ALL", 2, 0, Decimal("0.00"), Decimal("0.00")),
        ("ALL", 3, 0, Decimal("0.00"), Decimal("0.00")),  # the written-off loan is out
    ]
    assert portfolio["coverage_ratio"].to_list() == [0.0005, None, None]
    assert ecl.height == 9


def test_a_total_that_does_not_reconcile_stops_the_stage():
    with pytest.raises(ReconciliationError, match="loans 3 does not reconcile"):
        check_totals("reg_x", {"loans": 3}, {"loans": 4})


# --- the stage on a tmp data_root ---------------------------------------------------------


def book(day: dt.date) -> list[dict]:
    """L1 pays on the 15th; L2 falls behind in November; L3 closes on Nov 2; L4 opens Nov 1;
    L5 is written off on Oct 30. October's reporting day (Oct 31) is not processed."""
    due = D(day.year + (day.month == 12), day.month % 12 + 1, 15)
    rows = {
        SEP30: [row(SEP30, "L1", next_due=due), row(SEP30, "L2", next_due=due),
                row(SEP30, "L3", next_due=due), row(SEP30, "L5", dpd=170)],
        OCT30: [row(OCT30, "L1", next_due=due), row(OCT30, "L2", next_due=due),
                row(OCT30, "L3", next_due=due), row(OCT30, "L5", dpd=200, status="WRITTEN_OFF")],
        NOV2: [row(NOV2, "L1", next_due=D(2026, 11, 15)), row(NOV2, "L2", dpd=40, next_due=due),
               row(NOV2, "L3", status="CLOSED"),
               row(NOV2, "L4", opened=D(2026, 11, 1), next_due=D(2026, 12, 1))],
        NOV30: [row(NOV30, "L1", next_due=due), row(NOV30, "L2", dpd=68, next_due=due),
                row(NOV30, "L4", opened=D(2026, 11, 1), next_due=D(2026, 12, 1))],
    }  # fmt: skip
    return rows[day]


def write_inputs(lake, day: dt.date) -> None:
    rows = frame(book(day))
    tables = {
        ("curated", "loan_aging"): [*AGING_COLUMNS, "five_category", "overdue_interest",
                                    "overdue_fees"],
        ("curated", "loan_risk"): ["snapshot_date", "loan_id", "product_code", "account_status",
                                   "ecl_stage", "ead", "ecl"],
        ("curated", "loan_state"): ["snapshot_date", "loan_id", "first_delinquency_date"],
        ("raw", "loan_snapshot"): list(SNAPSHOT_COLUMNS),
    }  # fmt: skip
    for (zone, table), columns in tables.items():
        write_partition(rows.select(columns), lake.partition(zone, table, day), lake.scratch)


def manifest_of(lake, report: str, day: dt.date) -> dict:
    return json.loads((lake.extract_dir(extract_kind(report), day) / "manifest.json").read_text())


def extract(lake, report: str, day: dt.date, name: str | None = None) -> pl.DataFrame:
    return pl.read_parquet(
        lake.extract_dir(extract_kind(report), day) / f"{name or report}.parquet"
    )


@pytest.fixture(scope="module")
def staged(tmp_path_factory, reg_policy):
    """The stage run on Sep 30, Oct 30, Nov 2 and Nov 30 of a fresh data_root, its products and
    classification pinned (conftest.stage_settings)."""
    settings = stage_settings(tmp_path_factory.mktemp("regulatory") / "data")
    lake, reports = lake_of(settings), {}
    for day in (SEP30, OCT30, NOV2, NOV30):
        write_inputs(lake, day)
        reports[day] = regulatory_day(lake, settings, reg_policy, day)
    return settings, lake, reports


def test_credit_report_on_reporting_days_and_after_an_unprocessed_one(staged):
    _, lake, reports = staged
    credit = {d: r["reg_credit_report"] for d, r in reports.items()}
    assert credit[OCT30] == {"built": False, "reason": "not a reporting day (next: 2026-10-31)"}
    assert credit[NOV2]["reporting_day"] == "2026-10-31"  # built the first processed day after
    assert credit[NOV2]["control_totals"]["data_day"] == "2026-10-30"
    assert lake.partition_dates("curated", "reg_credit_report") == [SEP30, OCT31, NOV30]
    folder = lake.extract_dir(extract_kind("reg_credit_report"), OCT31)  # dated the reporting day
    assert sorted(p.name for p in folder.iterdir()) == [
        "manifest.json", "reg_credit_report.csv", "reg_credit_report.parquet"
    ]  # fmt: skip
    assert not lake.extract_dir(extract_kind("reg_credit_report"), NOV2).exists()
    october = extract(lake, "reg_credit_report", OCT31)
    assert dict(october.select("loan_id", "repayment_status").iter_rows())["L5"] == "B"
    november = extract(lake, "reg_credit_report", NOV30)
    assert dict(november.select("loan_id", "repayment_history_24m").iter_rows()) == {
        "L1": "/" + "#" * 20 + "NNN", "L2": "/" + "#" * 20 + "NN3",
        "L3": "/" + "#" * 20 + "NNC", "L4": "/" * 23 + "*",
    }  # fmt: skip
    # Read a day at a time: L3's row is from Nov 2, the day it closed, not the data day.
    assert dict(november.select("loan_id", "data_date").iter_rows()) == {
        "L1": NOV30, "L2": NOV30, "L3": NOV2, "L4": NOV30
    }  # fmt: skip


def test_stage_transfers_against_the_previous_months_latest_processed_day(staged):
    _, lake, reports = staged
    moves = extract(lake, "reg_ifrs9_ecl", NOV30, "reg_ifrs9_stage_transfers")
    assert moves.select("from_stage", "to_stage", "loans").rows() == [
        ("1", "1", 1),
        ("1", "2", 1),
        ("1", "EXIT", 1),
        ("NEW", "1", 1),
    ]  # L5, written off on Oct 30, was already off the book at the month-end
    assert set(moves["previous_month_end"]) == {OCT30}  # Oct 31 was not processed
    assert extract(lake, "reg_ifrs9_ecl", SEP30, "reg_ifrs9_stage_transfers").is_empty()
    assert reports[SEP30]["reg_ifrs9_ecl"]["control_totals"]["previous_month_end"] is None


@pytest.mark.parametrize("day", [SEP30, OCT30, NOV2, NOV30])
def test_every_extract_reconciles_to_its_source(staged, day):
    _, lake, _ = staged
    aging = pl.read_parquet(lake.partition_file("curated", "loan_aging", day))
    risk = pl.read_parquet(lake.partition_file("curated", "loan_risk", day))
    five = extract(lake, "reg_five_category", day).filter(pl.col("product_code") != "ALL")
    on_book = aging.filter(account_status="ACTIVE")
    assert five["loans"].sum() == on_book.height
    assert five["outstanding_principal"].sum() == on_book["outstanding_principal"].sum()
    ecl = extract(lake, "reg_ifrs9_ecl", day).filter(pl.col("product_code") != "ALL")
    risk = risk.filter(account_status="ACTIVE")
    assert (ecl["ecl"].sum(), ecl["ead"].sum()) == (risk["ecl"].sum(), risk["ead"].sum())
    moves = extract(lake, "reg_ifrs9_ecl", day, "reg_ifrs9_stage_transfers")
    today = moves.filter(pl.col("to_stage") != "EXIT")
    assert moves.is_empty() or today["ecl_current"].sum() == ecl["ecl"].sum()
    totals = manifest_of(lake, "reg_five_category", day)["control_totals"]
    assert totals["outstanding_principal"] == f"{on_book['outstanding_principal'].sum():.2f}"
    if day in (SEP30, NOV30):
        credit = extract(lake, "reg_credit_report", day)
        period = aging if day == SEP30 else pl.concat(
            pl.read_parquet(lake.partition_file("curated", "loan_aging", d)) for d in (NOV2, NOV30)
        )  # fmt: skip
        assert sorted(credit["loan_id"]) == sorted(period["loan_id"].unique())
        totals = manifest_of(lake, "reg_credit_report", day)["control_totals"]
        assert totals["balance_on_data_day"] == f"{aging['outstanding_principal'].sum():.2f}"


def test_pii_only_in_the_credit_report_and_a_rerun_is_byte_identical(staged, reg_policy):
    settings, lake, _ = staged
    folder = lake.extract_dir(extract_kind("reg_credit_report"), NOV30)
    text = (folder / "reg_credit_report.csv").read_text()
    assert "'=王小明" in text and "11010119900101001X" in text  # formula neutralised; identity
    for report in ("reg_five_category", "reg_ifrs9_ecl", "reg_write_offs"):
        for file in lake.extract_dir(extract_kind(report), NOV30).glob("*.csv"):
            assert "national_id" not in file.read_text() and "王" not in file.read_text()
    files = manifest_of(lake, "reg_credit_report", NOV30)["files"]
    before = {f["path"]: f["sha256"] for f in files}
    assert before == {lake.relative(p): sha256_file(p) for p in folder.glob("reg_*")}
    regulatory_day(lake, settings, reg_policy, NOV30)
    assert {lake.relative(p): sha256_file(p) for p in folder.glob("reg_*")} == before
