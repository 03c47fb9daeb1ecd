"""Credit-bureau report v2 (DESIGN.md §5 "v2 — credit-bureau report"): the
``M`` status (past due during the period, current at its data day) and overdue_periods capped
by the instalments not yet paid. Tiny inline frames; the policy is pinned here, not read from
``config/``."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
from conftest import credit_report_of

from loanrisk.domain import credit_report as cr
from loanrisk.domain.money import MONEY
from loanrisk.domain.regulatory import CreditReportPolicy

D = dt.date
SEP30, OCT10, OCT20, OCT31 = D(2026, 9, 30), D(2026, 10, 10), D(2026, 10, 20), D(2026, 10, 31)
OCTOBER = cr.ReportingPeriod(OCT31, D(2026, 10, 1), OCT31)
POLICY = CreditReportPolicy(
    reporting_day="last",
    overdue_status_max_dpd=(30, 60, 90, 120, 150, 180),
    overdue_period_days=30,
    instalment_interval_months=1,
    id_type="10",
)


# --- overdue_periods ------------------------------------------------------------------------


def test_overdue_periods_are_capped_by_the_instalments_not_yet_paid():
    # given loans by (dpd, installments_total, installments_paid)
    cases = [
        (100, 3, 1, 2),  # ceil(100 / 30) = 4 periods, but only 2 instalments are left
        (100, 3, None, 3),  # paid unknown: none known paid, the cap is the whole schedule
        (100, None, None, 4),  # a line without a schedule: ceil(dpd / 30) uncapped
        (100, 3, 3, 0),  # every instalment settled (fees past due): nothing left to miss
        (100, 3, 5, 0),  # paid above total: floored at 0
        (45, 24, 3, 2),  # the cap does not bind
        (0, 3, 1, 0),  # current
        (30, 3, 2, 1),  # one period at the edge, one instalment left
    ]
    frame = pl.DataFrame(
        [c[:3] for c in cases],
        schema={"dpd": pl.Int32, "installments_total": pl.Int32, "installments_paid": pl.Int32},
        orient="row",
    )
    # when
    got = frame.select(cr.overdue_periods(POLICY).alias("periods"))["periods"]
    # then
    assert got.dtype == pl.Int32
    assert got.to_list() == [c[3] for c in cases]


# --- the M status through the report --------------------------------------------------------


def day_row(day, loan_id, dpd=0, status="ACTIVE", next_due=None, paid_on=None) -> dict:
    """One loan on one processed day: 3 instalments, 1 paid; dpd counted from the Oct 9 due
    date when past due (oldest_unpaid_due_date set)."""
    return {
        "snapshot_date": day, "loan_id": loan_id, "borrower_id": f"B{loan_id}",
        "product_code": "INSTALLMENT", "account_status": status,
        "origination_date": D(2026, 8, 9), "currency": "CNY",
        "principal_amount": Decimal("900.00"),
        "outstanding_principal": Decimal("0.00") if status == "CLOSED" else Decimal("600.00"),
        "overdue_principal": Decimal("300.00") if dpd else Decimal("0.00"),
        "overdue_amount": Decimal("310.00") if dpd else Decimal("0.00"), "dpd": dpd,
        "borrower_name": "王小明", "national_id": "11010119900101001X",
        "maturity_date": D(2026, 11, 9), "credit_limit": None, "installments_total": 3,
        "installments_paid": 1, "next_due_date": next_due if status == "ACTIVE" else None,
        "oldest_unpaid_due_date": day - dt.timedelta(days=dpd) if dpd else None,
        "last_payment_date": paid_on,
        "last_payment_amount": None if paid_on is None else Decimal("310.00"),
        "first_delinquency_date": day - dt.timedelta(days=dpd - 1) if dpd else None,
    }  # fmt: skip


def october_report(rows: list[dict]) -> dict[str, dict]:
    """The October report of ``rows`` (processed days Sep 30, Oct 10, Oct 20, Oct 31), by loan."""
    frame = pl.DataFrame(rows, infer_schema_length=None).with_columns(
        pl.col("principal_amount", "outstanding_principal", "overdue_principal").cast(MONEY),
        pl.col("overdue_amount", "credit_limit", "last_payment_amount").cast(MONEY),
        pl.col("dpd", "installments_total", "installments_paid").cast(pl.Int32),
        pl.col("last_payment_date").cast(pl.Date),
    )
    report = credit_report_of(frame, OCTOBER, None, POLICY)
    return {r["loan_id"]: r for r in report.iter_rows(named=True)}


def test_past_due_on_the_10th_and_repaid_on_the_20th_is_reported_m():
    # given a loan due Oct 9, 1 dpd on Oct 10, repaid Oct 20, current at the month end
    rows = [
        day_row(SEP30, "LATE", next_due=D(2026, 10, 9)),
        day_row(OCT10, "LATE", dpd=1, next_due=D(2026, 10, 9)),
        day_row(OCT20, "LATE", next_due=D(2026, 11, 9), paid_on=OCT20),
        day_row(OCT31, "LATE", next_due=D(2026, 11, 9), paid_on=OCT20),
    ]
    # when
    got = october_report(rows)["LATE"]
    # then
    assert (got["repayment_status"], got["past_due_in_period"]) == ("M", True)
    assert got["repayment_history_24m"] == "/" * 21 + "##M"  # opened Aug 9: Aug, Sep unknown
    assert (got["dpd"], got["overdue_periods"], got["first_delinquency_date"]) == (0, 0, None)


def test_never_past_due_with_a_due_date_in_the_month_is_reported_n():
    # given a loan due Oct 9 and paid on time: current on every processed day
    rows = [
        day_row(SEP30, "ONTIME", next_due=D(2026, 10, 9)),
        day_row(OCT10, "ONTIME", next_due=D(2026, 11, 9), paid_on=D(2026, 10, 9)),
        day_row(OCT31, "ONTIME", next_due=D(2026, 11, 9), paid_on=D(2026, 10, 9)),
    ]
    # when
    got = october_report(rows)["ONTIME"]
    # then
    assert (got["repayment_status"], got["payment_due_in_period"]) == ("N", True)
    assert got["past_due_in_period"] is False


def test_past_due_only_before_the_period_is_not_m():
    # given a loan past due on Sep 30 (the previous period's day), current through October
    rows = [
        day_row(SEP30, "SEPT", dpd=21, next_due=D(2026, 9, 9)),
        day_row(OCT10, "SEPT", next_due=D(2026, 11, 9), paid_on=D(2026, 10, 1)),
        day_row(OCT31, "SEPT", next_due=D(2026, 11, 9), paid_on=D(2026, 10, 1)),
    ]
    # when
    got = october_report(rows)["SEPT"]
    # then: October's Oct 9 instalment was paid on time
    assert (got["repayment_status"], got["past_due_in_period"]) == ("N", False)


def test_past_due_at_the_month_end_is_its_dpd_band_with_capped_periods():
    # given a loan past due since Oct 9 and still past due on Oct 31 (22 dpd), and one 100 dpd
    rows = [
        day_row(OCT10, "ARREARS", dpd=1, next_due=D(2026, 10, 9)),
        day_row(OCT31, "ARREARS", dpd=22, next_due=D(2026, 10, 9)),
        day_row(OCT31, "DEEP", dpd=100, next_due=D(2026, 7, 23)),
    ]
    # when
    got = october_report(rows)
    # then
    assert got["ARREARS"]["repayment_status"] == "1" and got["ARREARS"]["overdue_periods"] == 1
    assert got["DEEP"]["repayment_status"] == "4"
    assert got["DEEP"]["overdue_periods"] == 2  # ceil(100 / 30) = 4, 3 - 1 = 2 instalments left


def test_closed_and_written_off_keep_precedence_over_m():
    # given two loans past due on Oct 10: one repaid in full and closed on Oct 20, one written off
    rows = [
        day_row(OCT10, "CLS", dpd=1, next_due=D(2026, 10, 9)),
        day_row(OCT20, "CLS", status="CLOSED", paid_on=OCT20),
        day_row(OCT10, "WO", dpd=190, next_due=D(2026, 4, 3)),
        day_row(OCT20, "WO", dpd=200, status="WRITTEN_OFF"),
    ]
    # when
    got = october_report(rows)
    # then
    assert got["CLS"]["repayment_status"] == "C" and got["CLS"]["data_date"] == OCT20
    assert got["CLS"]["past_due_in_period"] is True
    assert got["WO"]["repayment_status"] == "B" and got["WO"]["overdue_periods"] == 2
