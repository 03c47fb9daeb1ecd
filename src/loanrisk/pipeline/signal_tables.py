"""The ``compute_signals`` stage's tables from frames already read (``signals_stage`` reads
them, of the whole book or of one borrower shard): the carried windows moved on or rebuilt,
every rule's signal and ``borrower_signals``. Pure Polars over lazy frames; rules in
``loanrisk.domain.signals`` and ``loanrisk.domain.signal_windows``.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from loanrisk.domain import signal_windows as windows
from loanrisk.domain import signals as rules

DEVICES, TRANSACTIONS = "borrower_devices", "borrower_transaction_windows"
FLOWS = "loan_pre_due_flows"


def stacked(days: dict[dt.date, pl.LazyFrame]) -> pl.LazyFrame:
    """The window's daily aggregates as one frame, oldest day first."""
    return pl.concat([days[day] for day in sorted(days)], how="vertical")


def carried_windows(
    days: dict[dt.date, pl.LazyFrame],
    previous: dict[str, pl.LazyFrame] | None,
    missed: pl.DataFrame,
    policy: rules.SignalPolicy,
    business_date: dt.date,
) -> tuple[pl.LazyFrame, pl.LazyFrame, pl.LazyFrame]:
    """The devices of the day's new-device lookback, the day's transaction windows and its
    pre-due flows of ``missed`` (``missed_due_dates``): moved on from the ``previous`` day's
    tables when given, else rebuilt from the window's aggregates ``days``."""
    d, daily = business_date, stacked(days)
    spike, flow = policy.transaction_spike, policy.fund_flow_mismatch
    if previous is None:
        window = [days[day] for day in sorted(days) if day < d]
        devices = rules.device_history(pl.concat([days[d].clear(), *window]))
        transactions = windows.transaction_windows(daily, d, spike)
        return devices, transactions, windows.pre_due_flows(missed, daily, flow)
    transactions = windows.roll_transaction_windows(previous[TRANSACTIONS], daily, d, spike)
    flows = windows.carry_pre_due_flows(missed, previous[FLOWS].collect(), daily, flow)
    return previous[DEVICES], transactions, flows


def borrower_signals(
    loans: pl.LazyFrame, signals: list[pl.LazyFrame], business_date: dt.date
) -> pl.LazyFrame:
    """One row per borrower of the day's loan snapshot with every signal count (0 when none).

    ``signals``: one frame per rule, a row per borrower it fired for. They are stacked and
    joined to the borrowers once (a join per rule costs about twice as much).
    """
    fired = pl.concat(signals, how="diagonal").group_by("borrower_id").agg(pl.max(*rules.SIGNALS))
    out = loans.select("borrower_id").unique().join(fired, on="borrower_id", how="left")
    return (
        out.with_columns(pl.lit(business_date).alias("snapshot_date"))
        .with_columns(pl.col(rules.SIGNALS).fill_null(0).cast(pl.Int32))
        .select("snapshot_date", "borrower_id", *rules.SIGNALS)
        .sort("borrower_id")
    )


def signal_table(
    events: pl.LazyFrame,
    failures: pl.LazyFrame,
    days: dict[dt.date, pl.LazyFrame],
    state: dict[str, pl.LazyFrame],
    loans: pl.LazyFrame,
    policy: rules.SignalPolicy,
    business_date: dt.date,
) -> pl.LazyFrame:
    """Every rule of ``loanrisk.domain.signals`` and ``loanrisk.domain.signal_windows`` on the
    day's inputs, one row per borrower of ``loans``; each rule is computed on its own (one
    window at a time in memory). ``state``: the lookback's devices (``device_history`` rows),
    the day's transaction windows and pre-due flows (``carried_windows``)."""
    d, daily = business_date, stacked(days)
    signals = [
        rules.login_failure_burst(failures, d, policy.login_failure_burst),
        rules.new_device(days[d], state[DEVICES], d, policy.new_device),
        rules.out_of_province_login(events, loans, policy.out_of_province_login),
        windows.transaction_spike(state[TRANSACTIONS], policy.transaction_spike),
        windows.fund_flow_mismatch(state[FLOWS], policy.fund_flow_mismatch),
        windows.cash_out_after_disbursement(daily, loans, d, policy.cash_out_after_disbursement),
    ]
    collected = [signal.collect(engine="streaming").lazy() for signal in signals]
    return borrower_signals(loans, collected, d)
