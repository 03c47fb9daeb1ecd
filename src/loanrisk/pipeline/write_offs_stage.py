"""The ``reg_write_offs`` part of the regulatory stage (DESIGN.md §5 v2, §6): the day's
loan_aging (status, balances), the previous processed day's (who was already written off) and
the day's raw snapshot (payments) -> ``lake/curated/reg_write_offs`` and the extract
``extracts/regulatory/reg_write_offs/<date>/`` with its manifest. Rules in ``write_offs.py``.

Month to date adds the daily figures stored in the ``reg_write_offs`` partitions of the month's
earlier processed days (a day without one, processed before this table existed, is computed
from its loan_aging instead): a day run alone, in a backfill or again gives the same rows, and
a rerun the same bytes. Control totals: the day's loans and balance written off against the
loan rows, and the portfolio row against the sum of the product rows.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from loanrisk.config import Settings
from loanrisk.domain.feeds import LOANS
from loanrisk.domain.money import MONEY
from loanrisk.domain.regulatory import PORTFOLIO
from loanrisk.domain.write_offs import (
    DAILY,
    LOAN_COLUMNS,
    MONTH_TO_DATE,
    balance_at_write_off,
    daily_write_offs,
    is_written_off,
    write_offs_report,
)
from loanrisk.lake.storage import Lake
from loanrisk.pipeline import reconciled

AGING, WRITE_OFFS = "loan_aging", "reg_write_offs"
_PAYMENTS = ("loan_id", "last_payment_date", "last_payment_amount")
_COUNTS = ("loans_written_off", "loans_written_off_mtd")
_DAILY_SCHEMA = {
    "product_code": pl.String, "loans_written_off": pl.Int64, "balance_written_off": MONEY,
    "recoveries": MONEY,
}  # fmt: skip


def _processed_days(lake: Lake, before: dt.date) -> list[dt.date]:
    """Processed days (loan_aging partitions) before ``before``, oldest first."""
    return [d for d in lake.partition_dates("curated", AGING) if d < before]


def _day_inputs(
    lake: Lake, day: dt.date
) -> tuple[pl.LazyFrame, pl.LazyFrame | None, dt.date | None]:
    """(the day's WRITTEN_OFF loan rows with their payments, loan_id of the loans WRITTEN_OFF
    on the previous processed day or None on the first, that day)."""
    aging = reconciled.scan_days(lake, "curated", AGING, [day]).filter(is_written_off())
    payments = reconciled.scan_days(lake, "raw", LOANS, [day]).select(_PAYMENTS)
    loans = aging.join(payments, on="loan_id", how="left").select(LOAN_COLUMNS)
    previous = (_processed_days(lake, day) or [None])[-1]
    if previous is None:
        return loans, None, None
    before = reconciled.scan_days(lake, "curated", AGING, [previous]).filter(is_written_off())
    return loans, before.select("loan_id"), previous


def _daily(lake: Lake, day: dt.date) -> pl.LazyFrame:
    loans, before, previous = _day_inputs(lake, day)
    return daily_write_offs(loans, before, day, previous)


def _earlier_in_month(lake: Lake, day: dt.date) -> tuple[pl.LazyFrame, list[dt.date]]:
    """The daily figures by product of the processed days of ``day``'s month before it (stored
    product rows, or computed for a day without a partition), and those days."""
    days = [d for d in _processed_days(lake, day) if d >= day.replace(day=1)]
    parts = [pl.LazyFrame(schema=_DAILY_SCHEMA)]
    for earlier in days:
        stored = lake.partition_files("curated", WRITE_OFFS, earlier)
        if stored:
            rows = pl.scan_parquet(stored, glob=False).filter(pl.col("product_code") != PORTFOLIO)
        else:
            rows = _daily(lake, earlier)
        parts.append(rows.select(*_DAILY_SCHEMA).cast(_DAILY_SCHEMA))
    return pl.concat(parts), days


def _source(loans: pl.LazyFrame, before: pl.LazyFrame | None) -> dict:
    """The day's loans and balance written off, counted on the loan rows."""
    new = loans if before is None else loans.join(before, on="loan_id", how="anti")
    totals = reconciled.totals_of(
        new,
        pl.len().alias("loans_written_off"),
        balance_at_write_off().sum().alias("balance_written_off"),
    )
    return totals | {"balance_written_off": reconciled.money_text(totals["balance_written_off"])}


def _totals(frame: pl.DataFrame) -> dict:
    products = reconciled.split_portfolio(frame)[0]
    totals = {"rows": frame.height}
    for name in DAILY + MONTH_TO_DATE:
        value = products[name].sum()
        totals[name] = int(value) if name in _COUNTS else reconciled.money_text(value)
    return totals


def write_offs_day(lake: Lake, settings: Settings, day: dt.date) -> dict:
    """Compute, reconcile and write the day's reg_write_offs and its extract."""
    loans, before, previous = _day_inputs(lake, day)
    earlier, month_days = _earlier_in_month(lake, day)
    today = daily_write_offs(loans, before, day, previous)
    report = write_offs_report(today, earlier, day, settings.pipeline.products)
    frame = reconciled.contract_select(report, settings, WRITE_OFFS)
    kinds = {n: "count" if n in _COUNTS else "money" for n in DAILY + MONTH_TO_DATE}
    portfolio, expected = reconciled.portfolio_totals(frame, kinds)
    totals = _totals(frame) | portfolio
    totals["previous_processed_day"] = None if previous is None else previous.isoformat()
    checked = reconciled.check_totals(WRITE_OFFS, totals, expected | _source(loans, before))
    days = sorted({*month_days, day, *([previous] if previous else [])})
    return reconciled.publish_reconciled(
        lake, settings, WRITE_OFFS, day, {WRITE_OFFS: frame}, checked, days
    )
