"""``reg_write_offs`` as pure Polars (DESIGN.md §5 v2 "written-off loans are off the book", §6):
the loans written off by day x product (and ALL), month to date, and the recoveries seen on
loans already written off. I/O is in ``regulatory_stage.py``; the columns are defined in
``data_contracts/reg_write_offs.yaml``.

Rules:

* Written off on D: WRITTEN_OFF on D and not WRITTEN_OFF on the previous processed day (absent
  that day counts as not written off). A data_root's first processed day has no previous day:
  every WRITTEN_OFF loan of its file counts as written off that day (DESIGN.md §4: a day's file
  holds the loans written off that day; one written off before the data_root began cannot be
  told apart from it).
* Balance written off: outstanding_principal + overdue_interest + overdue_fees on the first day
  the loan shows WRITTEN_OFF: the amount the lending core derecognised, as it reports it.
* Recoveries on D: the last_payment_amount of loans WRITTEN_OFF on D that were already
  WRITTEN_OFF on the previous processed day, when their last_payment_date is after that day
  and not after D. With daily runs that is last_payment_date = D; over unprocessed days each
  payment still counts once, on the day it is first seen (only the last payment of the gap is
  visible in a snapshot). A payment on the day of the write-off is before it, not a recovery.
* Month to date: the sum of the daily figures of the processed days from the first of D's
  month through D.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import polars as pl

from loanrisk.domain.money import MONEY
from loanrisk.domain.regulatory import PORTFOLIO, reported_products, with_portfolio

WRITTEN_OFF = "WRITTEN_OFF"
#: The daily figures; each has a ``<name>_mtd`` month-to-date twin.
DAILY = ("loans_written_off", "balance_written_off", "recoveries")
MONTH_TO_DATE = tuple(f"{name}_mtd" for name in DAILY)
#: Columns of a day's loan rows the rules read.
LOAN_COLUMNS = (
    "loan_id", "product_code", "account_status", "outstanding_principal", "overdue_interest",
    "overdue_fees", "last_payment_date", "last_payment_amount",
)  # fmt: skip


def is_written_off() -> pl.Expr:
    """DESIGN.md §4 account_status: the loan is written off (核销)."""
    return pl.col("account_status") == WRITTEN_OFF


def balance_at_write_off() -> pl.Expr:
    """DESIGN.md §5 v2 balance written off: outstanding principal + overdue interest and fees."""
    return pl.col("outstanding_principal") + pl.col("overdue_interest") + pl.col("overdue_fees")


def daily_write_offs(
    loans: pl.LazyFrame,
    previous_written_off: pl.LazyFrame | None,
    business_date: dt.date,
    previous_date: dt.date | None,
) -> pl.LazyFrame:
    """One processed day's figures by product (products with a written-off loan only).
    ``loans``: the day's loan rows (``LOAN_COLUMNS``); ``previous_written_off``: loan_id of the
    loans WRITTEN_OFF on ``previous_date``, the previous processed day (None on the first)."""
    before = pl.LazyFrame(schema={"loan_id": pl.String, "_was": pl.Boolean})
    if previous_written_off is not None:
        before = previous_written_off.select("loan_id", pl.lit(True).alias("_was")).unique()
    paid = pl.col("last_payment_date")
    after = pl.lit(previous_date, dtype=pl.Date)  # null on the first day: nothing recovered
    recovered = pl.col("_was") & (paid > after) & (paid <= business_date)
    new = ~pl.col("_was")
    return (
        loans.filter(is_written_off())
        .join(before, on="loan_id", how="left")
        .with_columns(pl.col("_was").fill_null(False))
        .group_by(pl.col("product_code").cast(pl.String))
        .agg(
            new.sum().cast(pl.Int64).alias("loans_written_off"),
            balance_at_write_off().filter(new).sum().cast(MONEY).alias("balance_written_off"),
            pl.col("last_payment_amount").filter(recovered).sum().cast(MONEY).alias("recoveries"),
        )
    )


def _zero_filled(frame: pl.LazyFrame, columns: Sequence[str]) -> pl.LazyFrame:
    counts, money = columns[0], columns[1:]
    return frame.with_columns(
        pl.col(counts).fill_null(0).cast(pl.Int64), pl.col(money).fill_null(0).cast(MONEY)
    )


def write_offs_report(
    today: pl.LazyFrame,
    earlier: pl.LazyFrame,
    business_date: dt.date,
    products: Sequence[str],
) -> pl.LazyFrame:
    """reg_write_offs of ``business_date``: every product (and ALL) with the day's figures
    (``today``, from ``daily_write_offs``) and month to date (``today`` plus ``earlier``: the
    daily figures by product of the month's earlier processed days)."""
    month = pl.concat(
        [today.select("product_code", *DAILY), earlier.select("product_code", *DAILY)]
    )
    mtd = month.group_by("product_code").agg(pl.col(c).sum().alias(f"{c}_mtd") for c in DAILY)
    rows = (
        reported_products(products, today, earlier)
        .join(today.select("product_code", *DAILY), on="product_code", how="left")
        .join(mtd, on="product_code", how="left")
        .pipe(_zero_filled, DAILY)
        .pipe(_zero_filled, MONTH_TO_DATE)
    )
    return (
        with_portfolio(rows.with_columns(pl.lit(0).alias("_one")), "_one", DAILY + MONTH_TO_DATE)
        .drop("_one")
        .with_columns(pl.lit(business_date).alias("snapshot_date"))
        .pipe(_zero_filled, DAILY)
        .pipe(_zero_filled, MONTH_TO_DATE)
        .sort(pl.col("product_code") == PORTFOLIO, "product_code")
    )
