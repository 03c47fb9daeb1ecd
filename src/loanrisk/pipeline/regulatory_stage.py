"""The ``regulatory`` stage: a day's loan_aging and loan_risk -> the curated tables
``reg_five_category``, ``reg_ifrs9_ecl``, ``reg_ifrs9_stage_transfers``, ``reg_write_offs``
(``write_offs_stage.py``) and, on a reporting day, ``reg_credit_report``, each also handed over
as ``extracts/regulatory/<report>/<date>/`` (CSV + Parquet + manifest; the stage transfers
travel with ``reg_ifrs9_ecl``).

Every extract's control totals are checked against its source before anything is written
(``RECONCILIATION`` otherwise): the product rows against the source, the portfolio rows
(``product_code = 'ALL'``) against the sum of the product rows, so neither is counted twice.
The transfer matrix compares with the previous month-end: the latest processed day of the
previous calendar month. The credit report is dated its reporting day (partition and extract
folder), whichever run builds it (see ``loanrisk.domain.credit_report``).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from loanrisk.config import Settings
from loanrisk.domain.credit_report import (
    ReportingPeriod,
    credit_report,
    last_dates,
    last_rows,
    months_between,
    payments_due,
    period_to_build,
)
from loanrisk.domain.feeds import LOANS
from loanrisk.domain.regulatory import (
    EXIT,
    RegulatoryPolicy,
    five_category_report,
    ifrs9_ecl_report,
    on_book,
    stage_transfers,
)
from loanrisk.lake.storage import Lake
from loanrisk.pipeline.reconciled import (
    check_totals,
    contract_select,
    money_text,
    portfolio_totals,
    publish_reconciled,
    scan_days,
    split_portfolio,
    totals_of,
)
from loanrisk.pipeline.write_offs_stage import WRITE_OFFS, write_offs_day
from loanrisk.quality.contracts import load_contract

AGING, RISK, STATE = "loan_aging", "loan_risk", "loan_state"
FIVE, ECL, TRANSFERS, CREDIT = (
    "reg_five_category",
    "reg_ifrs9_ecl",
    "reg_ifrs9_stage_transfers",
    "reg_credit_report",
)
AGING_COLUMNS = (
    "snapshot_date", "loan_id", "borrower_id", "product_code", "account_status",
    "origination_date", "currency", "principal_amount", "outstanding_principal",
    "overdue_principal", "overdue_amount", "dpd",
)  # fmt: skip
SNAPSHOT_COLUMNS = (
    "snapshot_date", "loan_id", "borrower_name", "national_id", "maturity_date", "credit_limit",
    "installments_total", "installments_paid", "next_due_date", "oldest_unpaid_due_date",
    "last_payment_date", "last_payment_amount",
)  # fmt: skip


def five_category_day(lake: Lake, settings: Settings, day: dt.date) -> dict:
    aging = scan_days(lake, "curated", AGING, [day])
    report = five_category_report(
        aging,
        day,
        settings.pipeline.products,
        settings.classification.five_category.npl_categories,
    )
    frame = contract_select(report, settings, FIVE)
    source = totals_of(
        aging.filter(on_book()), pl.len().alias("loans"), pl.col("outstanding_principal").sum()
    )
    products = split_portfolio(frame)[0]
    totals = {
        "rows": frame.height,
        "loans": int(products["loans"].sum()),
        "outstanding_principal": money_text(products["outstanding_principal"].sum()),
        "overdue_amount": money_text(products["overdue_amount"].sum()),
        "npl_outstanding": money_text(products.filter("is_npl")["outstanding_principal"].sum()),
    }
    money = {"loans": "count", "outstanding_principal": "money", "overdue_amount": "money"}
    portfolio, expected = portfolio_totals(frame, money)
    expected |= {**source, "outstanding_principal": money_text(source["outstanding_principal"])}
    checked = check_totals(FIVE, totals | portfolio, expected)
    return publish_reconciled(lake, settings, FIVE, day, {FIVE: frame}, checked, [day])


def previous_month_end(lake: Lake, day: dt.date) -> dt.date | None:
    """The latest processed (scored) day of the calendar month before ``day``'s."""
    first = day.replace(day=1)
    earlier = [d for d in lake.partition_dates("curated", RISK) if d < first]
    month = first - dt.timedelta(days=1)
    return earlier[-1] if earlier and earlier[-1].replace(day=1) == month.replace(day=1) else None


def _ecl_totals(ecl: pl.DataFrame, transfers: pl.DataFrame) -> dict:
    on_book = transfers.filter(pl.col("to_stage") != EXIT)
    products = split_portfolio(ecl)[0]
    return {
        "rows": ecl.height,
        "loans": int(products["loans"].sum()),
        "ead": money_text(products["ead"].sum()),
        "ecl": money_text(products["ecl"].sum()),
        "transfer_rows": transfers.height,
        "transfer_loans_today": int(on_book["loans"].sum()),
        "transfer_ecl_today": money_text(on_book["ecl_current"].sum()),
        "transfer_ecl_previous_month_end": money_text(transfers["ecl_previous"].sum()),
    }


def ecl_day(lake: Lake, settings: Settings, day: dt.date) -> dict:
    risk = scan_days(lake, "curated", RISK, [day])
    ecl = contract_select(ifrs9_ecl_report(risk, day, settings.pipeline.products), settings, ECL)
    month_end = previous_month_end(lake, day)
    if month_end is None:
        schema = load_contract(settings.contracts_dir, TRANSFERS).polars_schema
        transfers = pl.DataFrame(schema=schema)
    else:
        previous = scan_days(lake, "curated", RISK, [month_end])
        matrix = stage_transfers(previous, risk, day, month_end)
        transfers = contract_select(matrix, settings, TRANSFERS)
    source = totals_of(
        risk.filter(on_book() & pl.col("ecl_stage").is_not_null()),
        pl.len().alias("loans"),
        pl.col("ecl").sum(),
    )
    portfolio, expected = portfolio_totals(ecl, {"loans": "count", "ead": "money", "ecl": "money"})
    totals = _ecl_totals(ecl, transfers) | portfolio
    expected |= {"loans": source["loans"], "ecl": money_text(source["ecl"])}
    if month_end is not None:
        expected |= {"transfer_loans_today": totals["loans"], "transfer_ecl_today": totals["ecl"]}
    totals["previous_month_end"] = None if month_end is None else month_end.isoformat()
    days = [day] if month_end is None else [month_end, day]
    frames = {ECL: ecl, TRANSFERS: transfers}
    return publish_reconciled(
        lake, settings, ECL, day, frames, check_totals(ECL, totals, expected), days
    )


def _previous_report(lake: Lake, period: ReportingPeriod) -> tuple[pl.LazyFrame, int] | None:
    stored = [d for d in lake.partition_dates("curated", CREDIT) if d < period.reporting_day]
    if not stored:
        return None
    frame = lake.scan("curated", CREDIT, stored[-1])
    months = months_between(stored[-1], period.reporting_day)
    return frame.select("loan_id", "repayment_history_24m"), months


def _credit_totals(frame: pl.DataFrame, period: ReportingPeriod) -> dict:
    on_data_day = frame.filter(pl.col("data_date") == period.data_day)
    return {
        "rows": frame.height,
        "loans": frame["loan_id"].n_unique(),
        "balance": money_text(frame["balance"].sum()),
        "overdue_amount": money_text(frame["overdue_amount"].sum()),
        "balance_on_data_day": money_text(on_data_day["balance"].sum()),
        "by_status": dict(sorted(frame["repayment_status"].value_counts().iter_rows())),
        "reporting_month": period.month,
        "period_first_day": period.first_day.isoformat(),
        "data_day": period.data_day.isoformat(),
    }


def _credit_source(lake: Lake, latest: pl.DataFrame, period: ReportingPeriod) -> dict:
    """What the report must add up to: every loan of the period's loan_aging once (``latest``:
    each one's last day, from a scan of the period apart from the report's day-by-day reads),
    and the outstanding principal of the data day's loan_aging."""
    data_day = scan_days(lake, "curated", AGING, [period.data_day])
    balance = totals_of(data_day, pl.col("outstanding_principal").sum().alias("balance"))
    return {
        "rows": latest.height,
        "loans": latest.height,
        "balance_on_data_day": money_text(balance["balance"]),
    }


def _last_rows(lake: Lake, days: list[dt.date], latest: pl.DataFrame) -> pl.DataFrame:
    """``last_rows`` of the period read a day at a time, each day for the loans whose last day
    it is (``latest``: ``last_dates`` of the period, its past_due_in_period carried to the rows):
    a month of rows is never in memory at once (a month of a big book's loan_aging is many
    times a day's)."""
    parts = []
    for day in days:
        on_day = latest.filter(pl.col("data_date") == day)
        if on_day.height or day == days[-1]:  # the data day's, even empty: the columns
            aging = scan_days(lake, "curated", AGING, [day]).select(AGING_COLUMNS)
            snapshot = scan_days(lake, "raw", LOANS, [day]).select(SNAPSHOT_COLUMNS)
            state = scan_days(lake, "curated", STATE, [day])
            state = state.select("snapshot_date", "loan_id", "first_delinquency_date")
            parts.append(last_rows(aging, snapshot, state, on_day.lazy()).collect())
    return pl.concat(parts)


def credit_report_day(
    lake: Lake, settings: Settings, policy: RegulatoryPolicy, day: dt.date
) -> dict:
    """The credit report the run of ``day`` builds, if any (see ``period_to_build``)."""
    processed = [d for d in lake.partition_dates("curated", AGING) if d <= day]
    period, why = period_to_build(day, processed, policy.credit_report.reporting_day)
    if period is None:
        return {"built": False, "reason": why}
    days = [d for d in processed if period.first_day <= d <= period.data_day]
    before = [d for d in processed if d < period.first_day][-1:]
    period_aging = scan_days(lake, "curated", AGING, days).select("snapshot_date", "loan_id", "dpd")
    latest = last_dates(period_aging).collect()  # with past_due_in_period: the M status
    rows = credit_report(
        _last_rows(lake, days, latest).lazy(),
        payments_due(scan_days(lake, "raw", LOANS, before + days).select(SNAPSHOT_COLUMNS), period),
        _previous_report(lake, period),
        period,
        policy.credit_report,
    )
    frame = contract_select(rows, settings, CREDIT)
    checked = check_totals(
        CREDIT, _credit_totals(frame, period), _credit_source(lake, latest, period)
    )
    dated = period.reporting_day
    report = publish_reconciled(
        lake, settings, CREDIT, dated, {CREDIT: frame}, checked, before + days
    )
    return {"built": True, "reason": why, "reporting_day": dated.isoformat(), **report}


def regulatory_day(
    lake: Lake, settings: Settings, policy: RegulatoryPolicy, business_date: dt.date
) -> dict:
    """Compute, reconcile and write the day's regulatory tables and extracts; return the stage
    report (the credit report says whether it was built, and why or why not)."""
    return {
        FIVE: five_category_day(lake, settings, business_date),
        ECL: ecl_day(lake, settings, business_date),
        WRITE_OFFS: write_offs_day(lake, settings, business_date),
        CREDIT: credit_report_day(lake, settings, policy, business_date),
    }
