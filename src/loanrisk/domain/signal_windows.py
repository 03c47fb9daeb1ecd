"""Signals over windows of days (DESIGN.md §1 step 4): transaction spike, fund-flow
mismatch and cash-out after disbursement, as pure Polars rules over ``daily`` (the
``borrower_events_daily`` aggregates of the days needed, ``snapshot_date`` column).

The spike's window counts and the flows before each recent unpaid due date are kept per day
(``borrower_transaction_windows``, ``loan_pre_due_flows``) so that the next day moves them by a
few days' aggregates instead of summing its whole window again (``roll_transaction_windows``,
``carry_pre_due_flows``); a carried table equals its rebuild from the aggregates (tested).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from loanrisk.domain.money import MONEY
from loanrisk.domain.signals import (
    TRANSACTIONS,
    CashOutPolicy,
    FundFlowPolicy,
    SpikePolicy,
    on_days,
    signal_column,
)

WINDOW_COLUMNS = ("borrower_id", "recent_transactions", "baseline_transactions")
DUE_KEYS = ("loan_id", "borrower_id", "due_date")
FLOW_COLUMNS = (*DUE_KEYS, "inflow_amount", "outflow_amount")


def _transactions() -> pl.Expr:
    return pl.sum_horizontal(pl.col(f"{t.lower()}_count") for t in TRANSACTIONS).cast(pl.Int32)


def _windows(counts: pl.LazyFrame, recent: pl.Expr, baseline: pl.Expr) -> pl.LazyFrame:
    """Per borrower: the sums of ``recent`` and ``baseline`` over ``counts``, borrowers with
    neither left out, sorted by borrower_id."""
    sums = counts.group_by("borrower_id").agg(
        recent.sum().alias("recent_transactions"), baseline.sum().alias("baseline_transactions")
    )
    either = (pl.col("recent_transactions") != 0) | (pl.col("baseline_transactions") != 0)
    return sums.filter(either).sort("borrower_id")


def transaction_windows(
    daily: pl.LazyFrame, business_date: dt.date, policy: SpikePolicy
) -> pl.LazyFrame:
    """(borrower_id, recent_transactions, baseline_transactions): transactions in the
    window_days ending on the business day and in the baseline_days just before them."""
    window_start = business_date - dt.timedelta(days=policy.window_days - 1)
    base_start = window_start - dt.timedelta(days=policy.baseline_days)
    in_window = pl.col("snapshot_date") >= window_start
    return _windows(
        daily.filter(on_days(base_start, business_date)),
        _transactions().filter(in_window),
        _transactions().filter(~in_window),
    )


def roll_transaction_windows(
    previous: pl.LazyFrame, daily: pl.LazyFrame, business_date: dt.date, policy: SpikePolicy
) -> pl.LazyFrame:
    """The business day's ``transaction_windows`` from the previous day's: the business day
    enters the window, the day leaving the window enters the baseline, the day leaving the
    baseline is dropped. Reads those three days of ``daily`` only."""
    leaving_window = business_date - dt.timedelta(days=policy.window_days)
    leaving_base = leaving_window - dt.timedelta(days=policy.baseline_days)
    day = pl.col("snapshot_date")
    moves = daily.filter(day.is_in([business_date, leaving_window, leaving_base])).select(
        "borrower_id",
        pl.when(day == business_date).then(_transactions()).otherwise(0).alias("entering"),
        pl.when(day == leaving_window).then(_transactions()).otherwise(0).alias("moving"),
        pl.when(day == leaving_base).then(_transactions()).otherwise(0).alias("leaving"),
    )
    counts = pl.concat(
        [
            previous.select(WINDOW_COLUMNS),
            moves.select(
                "borrower_id",
                (pl.col("entering") - pl.col("moving")).alias("recent_transactions"),
                (pl.col("moving") - pl.col("leaving")).alias("baseline_transactions"),
            ),
        ]
    )
    return _windows(counts, pl.col("recent_transactions"), pl.col("baseline_transactions"))


def transaction_spike(windows: pl.LazyFrame, policy: SpikePolicy) -> pl.LazyFrame:
    """Transaction spike: window_days count >= min_count and >= min_ratio x the count expected
    from the baseline_days just before the window (``transaction_windows`` rows)."""
    recent, baseline = pl.col("recent_transactions"), pl.col("baseline_transactions")
    expected = baseline * policy.window_days * policy.min_ratio
    spikes = windows.filter(
        (recent >= policy.min_count) & (recent * policy.baseline_days >= expected)
    )
    return signal_column(spikes, recent, "signal_transaction_spike")


def missed_due_dates(
    loans: pl.LazyFrame, business_date: dt.date, policy: FundFlowPolicy
) -> pl.LazyFrame:
    """(loan_id, borrower_id, due_date) of the ACTIVE loans with an amount overdue whose oldest
    unpaid due date is at most watch_days_after_due days old."""
    due = pl.col("oldest_unpaid_due_date")
    overdue = pl.col("overdue_principal") + pl.col("overdue_interest") + pl.col("overdue_fees")
    oldest = business_date - dt.timedelta(days=policy.watch_days_after_due)
    return loans.filter(
        (pl.col("account_status") == "ACTIVE")
        & (overdue > 0)
        & due.is_between(oldest, business_date)
    ).select("loan_id", "borrower_id", due.alias("due_date"))


def pre_due_flows(
    missed: pl.DataFrame, daily: pl.LazyFrame, policy: FundFlowPolicy
) -> pl.LazyFrame:
    """``missed`` (``missed_due_dates`` rows) with the borrower's inflow and outflow amounts on
    the pre_due_days before each due date (the due date excluded); reads only those days."""
    if missed.is_empty():
        return missed.lazy().with_columns(
            pl.lit(0, MONEY).alias(c) for c in ("inflow_amount", "outflow_amount")
        )
    due = pl.col("due_date")
    first = missed["due_date"].min() - dt.timedelta(days=policy.pre_due_days)
    last = missed["due_date"].max() - dt.timedelta(days=1)
    flows = daily.filter(on_days(first, last)).select(
        "borrower_id", "snapshot_date", "inflow_amount", "outflow_amount"
    )
    before_due = pl.col("snapshot_date").is_between(
        due - pl.duration(days=policy.pre_due_days), due - pl.duration(days=1)
    )
    return (
        missed.lazy()
        .join(flows, on="borrower_id", how="left")
        .group_by(DUE_KEYS)
        .agg(
            pl.col("inflow_amount").filter(before_due).sum().cast(MONEY),
            pl.col("outflow_amount").filter(before_due).sum().cast(MONEY),
        )
        .sort("loan_id", "due_date")
    )


def carry_pre_due_flows(
    missed: pl.DataFrame, previous: pl.DataFrame, daily: pl.LazyFrame, policy: FundFlowPolicy
) -> pl.LazyFrame:
    """``pre_due_flows`` of ``missed`` moved on from the previous day's: a loan and due date it
    holds keeps its amounts (its pre-due days are all before the due date, unchanged while
    their aggregates are), the others are summed from ``daily``."""
    keys = list(DUE_KEYS)
    kept = missed.join(previous.select(FLOW_COLUMNS), on=keys, how="inner")
    new = missed.join(previous.select(keys), on=keys, how="anti")
    flows = pl.concat([kept.lazy(), pre_due_flows(new, daily, policy)])
    return flows.sort("loan_id", "due_date")


def fund_flow_mismatch(flows: pl.LazyFrame, policy: FundFlowPolicy) -> pl.LazyFrame:
    """Fund-flow mismatch: a recent unpaid due date preceded by pre_due_days of outflows >=
    min_outflow_amount and >= min_ratio x inflows (``pre_due_flows`` rows)."""
    outflow = pl.col("outflow_amount")
    mismatched = flows.filter(
        (outflow >= policy.min_outflow_amount)
        & (outflow >= pl.col("inflow_amount") * Decimal(str(policy.min_ratio)))
    )
    counts = mismatched.group_by("borrower_id").agg(pl.len().alias("loans"))
    return signal_column(counts, pl.col("loans"), "signal_fund_flow_mismatch")


def cash_out_after_disbursement(
    daily: pl.LazyFrame, loans: pl.LazyFrame, business_date: dt.date, policy: CashOutPolicy
) -> pl.LazyFrame:
    """Cash-out after disbursement: cash-out events since the earliest loan originated within
    days_after_disbursement days, amounting to >= min_share_of_principal of their principal."""
    since = business_date - dt.timedelta(days=policy.days_after_disbursement)
    new = (
        loans.filter(pl.col("origination_date").is_between(since, business_date))
        .group_by("borrower_id")
        .agg(pl.col("origination_date").min().alias("first"), pl.col("principal_amount").sum())
    )
    counts = pl.col("transfer_out_count") + pl.col("cash_withdrawal_count")
    from_first = pl.col("snapshot_date").is_between(pl.col("first"), business_date)
    share = Decimal(str(policy.min_share_of_principal))
    cashed = (
        new.join(daily.filter(on_days(since, business_date)), on="borrower_id", how="left")
        .group_by("borrower_id", "principal_amount")
        .agg(
            counts.filter(from_first).sum().alias("events"),
            pl.col("cash_out_amount").filter(from_first).sum().alias("amount"),
        )
        .filter((pl.col("events") > 0) & (pl.col("amount") >= pl.col("principal_amount") * share))
    )
    return signal_column(cashed, pl.col("events"), "signal_cash_out_after_disbursement")
