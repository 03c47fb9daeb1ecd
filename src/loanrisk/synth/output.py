"""From state arrays to landing rows: identifiers, exact decimals, dates, timestamps.

Amounts are int64 cents turned into Decimal(18,2) columns (never floats); rates are millionths
turned into Decimal(9,6); nulls are negative sentinels. Column order comes from the contract.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import polars as pl

from loanrisk.domain.money import MONEY
from loanrisk.synth.dates import NO_DAY, from_day
from loanrisk.synth.repayment import installment_split
from loanrisk.synth.settings import SynthConfig
from loanrisk.synth.state import ACTIVE, FORBEARANCE, PRODUCTS, STATUSES, Book, Day

LOAN_ID_DIGITS = 9
BORROWER_ID_DIGITS = 8
SHANGHAI_OFFSET = "+08:00"
# Loans of a block turned into text at once: bounds the loans file's rows held in memory;
# never changes the bytes (a row's text does not depend on the rows around it).
SNAPSHOT_ROWS = 100_000


def money(name: str) -> pl.Expr:
    """Cents (negative = null) as Decimal(18,2)."""
    col = pl.col(name)
    exact = (col.cast(MONEY) / 100).cast(MONEY)
    return pl.when(col >= 0).then(exact).alias(name)


def rate(name: str) -> pl.Expr:
    return (pl.col(name).cast(pl.Decimal(18, 6)) / 1_000_000).cast(pl.Decimal(9, 6)).alias(name)


def day(name: str) -> pl.Expr:
    """Day number (``NO_DAY`` = null) as a date."""
    col = pl.col(name)
    return pl.when(col != NO_DAY).then(col.cast(pl.Int32).cast(pl.Date)).alias(name)


def identifier(prefix: str, name: str, digits: int, alias: str) -> pl.Expr:
    return pl.format(prefix + "{}", pl.col(name).cast(pl.String).str.zfill(digits)).alias(alias)


def borrower_id(first: int, name: str = "borrower") -> pl.Expr:
    """A block's borrower index as the book's borrower ID (``first``: the block's first
    borrower's number in the book, from 0)."""
    number = pl.col(name) + (first + 1)
    return pl.format("B{}", number.cast(pl.String).str.zfill(BORROWER_ID_DIGITS)).alias(
        "borrower_id"
    )


def label(values: tuple[str, ...], name: str, alias: str | None = None) -> pl.Expr:
    """A code (index into ``values``) as its text."""
    return (
        pl.col(name)
        .replace_strict(list(range(len(values))), list(values), return_dtype=pl.String)
        .alias(alias or name)
    )


def local_timestamp(business_day: int, name: str, alias: str) -> pl.Expr:
    """Seconds after midnight of the business day as ISO 8601 text with the +08:00 offset."""
    sec = pl.col(name)
    parts = [(sec // 3600), (sec // 60 % 60), (sec % 60)]
    hh, mm, ss = (p.cast(pl.String).str.zfill(2) for p in parts)
    text = from_day(business_day).isoformat()
    return pl.format(text + "T{}:{}:{}" + SHANGHAI_OFFSET, hh, mm, ss).alias(alias)


def _loan_arrays(
    cfg: SynthConfig, book: Book, today: Day, idx: np.ndarray
) -> dict[str, np.ndarray]:
    """The state of the loans at ``idx`` at the end of the day, as the file's raw columns."""
    loans, status = book.loans.take(idx), today.status[idx]
    active = status == ACTIVE
    oldest = loans.oldest_unpaid()
    next_due = np.where(active, loans.next_due(), NO_DAY)
    principal, interest = installment_split(loans, np.arange(len(loans)), cfg)
    line = loans.is_credit_line
    has_plan = ~line
    return {
        "loan_no": loans.loan_no,
        "borrower": loans.borrower,
        "product": loans.product,
        "orig": loans.orig,
        "maturity": loans.maturity,
        "principal": loans.principal,
        "limit": np.where(line, loans.limit, -1),
        "outstanding": loans.outstanding,
        "od_prin": loans.od_prin,
        "od_int": loans.od_int,
        "od_fee": loans.od_fee,
        "rate_ppm": loans.rate_ppm,
        "inst_total": np.where(has_plan, loans.total, -1),
        "inst_paid": np.where(has_plan, loans.paid, -1),
        "next_due": next_due,
        "next_due_amt": np.where(next_due != NO_DAY, principal + interest, -1),
        "oldest": oldest,
        "dpd": np.where(oldest != NO_DAY, today.day - oldest, 0),
        "last_pay_day": loans.last_pay_day,
        "last_pay_amt": np.where(loans.last_pay_day != NO_DAY, loans.last_pay_amt, -1),
        "status": status,
        "forb": loans.forb,
        "forb_start": loans.forb_start,
        "litigation": loans.litigation,
        "dispute": loans.dispute,
        "bankruptcy": book.borrowers.bankrupt[loans.borrower],
        "deceased": book.borrowers.deceased[loans.borrower],
        "cease_contact": book.borrowers.cease_contact[loans.borrower],
    }


def count(name: str) -> pl.Expr:
    """A count (negative = null) as int32."""
    return pl.when(pl.col(name) >= 0).then(pl.col(name)).cast(pl.Int32).alias(name)


def _snapshot_columns(cfg: SynthConfig, business_day: int, first_borrower: int) -> list[pl.Expr]:
    renamed = {
        "litigation": "litigation_flag",
        "dispute": "dispute_flag",
        "bankruptcy": "bankruptcy_flag",
        "deceased": "deceased_flag",
        "cease_contact": "cease_contact_flag",
    }
    typed = [
        (day, {"orig": "origination_date", "maturity": "maturity_date", "next_due": "next_due_date",
               "oldest": "oldest_unpaid_due_date", "last_pay_day": "last_payment_date",
               "forb_start": "forbearance_start_date"}),
        (money, {"principal": "principal_amount", "limit": "credit_limit",
                 "outstanding": "outstanding_principal", "od_prin": "overdue_principal",
                 "od_int": "overdue_interest", "od_fee": "overdue_fees",
                 "next_due_amt": "next_due_amount", "last_pay_amt": "last_payment_amount"}),
        (count, {"inst_total": "installments_total", "inst_paid": "installments_paid",
                 "dpd": "days_past_due"}),
    ]  # fmt: skip
    return [
        pl.lit(from_day(business_day)).alias("snapshot_date"),
        identifier("L", "loan_no", LOAN_ID_DIGITS, "loan_id"),
        borrower_id(first_borrower),
        label(PRODUCTS, "product", "product_code"),
        label(STATUSES, "status", "account_status"),
        label(FORBEARANCE, "forb", "forbearance_type"),
        pl.lit(cfg.currency).alias("currency"),
        rate("rate_ppm").alias("annual_interest_rate"),
        *(pl.col(old).alias(new) for old, new in renamed.items()),
        *(make(old).alias(new) for make, names in typed for old, new in names.items()),
    ]


def snapshot_frames(
    cfg: SynthConfig, book: Book, today: Day, columns: list[str]
) -> Iterator[pl.DataFrame]:
    """The block's rows of the day's ``loans_YYYY-MM-DD``, in contract column order and loan_id
    order (a block's loan numbers follow the previous block's, so the file stays sorted), made
    ``SNAPSHOT_ROWS`` loans at a time: the text of a block's every row at once is most of
    synth's peak memory. At least one frame, maybe empty."""
    numbers = book.loans.loan_no
    ordered = bool(np.all(numbers[1:] > numbers[:-1]))  # loans are kept in number order
    order = np.arange(len(numbers)) if ordered else np.argsort(numbers, kind="stable")
    for start in range(0, max(len(order), 1), SNAPSHOT_ROWS):
        idx = order[start : start + SNAPSHOT_ROWS]
        raw = pl.DataFrame(_loan_arrays(cfg, book, today, idx))
        pii = book.identities[book.loans.borrower[idx]]
        frame = pl.concat([raw, pii], how="horizontal")
        frame = frame.with_columns(_snapshot_columns(cfg, today.day, book.first_borrower))
        yield frame.select(columns)
