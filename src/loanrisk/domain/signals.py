"""Monitoring signals from the events feed (DESIGN.md §1 step 4): pure Polars rules.

Thresholds and windows are in ``config/signals.yaml`` (``SignalPolicy``). Rules over windows of
days (``loanrisk.domain.signal_windows`` and the new-device lookback here) read ``daily``: the
per-borrower per-day aggregate ``borrower_events_daily`` of the days needed (``snapshot_date``
column; a day without events has no rows, i.e. counts as zero events).

Money words used below: *inflow* = TRANSFER_IN (disbursements included); *outflow* =
TRANSFER_OUT + CASH_WITHDRAWAL + PURCHASE (money leaving the borrower's account, repayments to
us excluded); *cash-out* = CASH_WITHDRAWAL + TRANSFER_OUT; *transactions* = TRANSFER_IN,
TRANSFER_OUT, PURCHASE, CASH_WITHDRAWAL. A device is *seen* when an event other than
LOGIN_FAILURE comes from it (a device that got into the account).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import polars as pl
from pydantic import Field

from loanrisk.domain.lists import sorted_list
from loanrisk.domain.yaml_models import Money, StrictModel, load_yaml_model

Days = Annotated[int, Field(ge=1, le=3_660)]
Count = Annotated[int, Field(ge=1, le=1_000_000)]
Ratio = Annotated[float, Field(gt=0, le=1_000_000)]

LOGINS = ("LOGIN_SUCCESS", "LOGIN_FAILURE")
INFLOW, OUTFLOW = ("TRANSFER_IN",), ("TRANSFER_OUT", "CASH_WITHDRAWAL", "PURCHASE")
CASH_OUT = ("TRANSFER_OUT", "CASH_WITHDRAWAL")
TRANSACTIONS = ("TRANSFER_IN", "TRANSFER_OUT", "PURCHASE", "CASH_WITHDRAWAL")
EVENT_TYPES = (*LOGINS, *TRANSACTIONS, "REPAYMENT")
DEVICE_COLUMNS = ("borrower_id", "device_id", "last_seen")
SIGNALS = (
    "signal_login_failure_burst",
    "signal_new_device",
    "signal_out_of_province_login",
    "signal_transaction_spike",
    "signal_fund_flow_mismatch",
    "signal_cash_out_after_disbursement",
)


class BurstPolicy(StrictModel):
    min_failures: Count
    window_hours: Annotated[int, Field(ge=1, le=24 * 366)]


class NewDevicePolicy(StrictModel):
    lookback_days: Days


class ProvincePolicy(StrictModel):
    min_logins: Count


class SpikePolicy(StrictModel):
    window_days: Days
    baseline_days: Days
    min_ratio: Ratio
    min_count: Count


class FundFlowPolicy(StrictModel):
    pre_due_days: Days
    min_ratio: Ratio
    min_outflow_amount: Money
    watch_days_after_due: Annotated[int, Field(ge=0, le=3_660)]


class CashOutPolicy(StrictModel):
    days_after_disbursement: Annotated[int, Field(ge=0, le=3_660)]
    min_share_of_principal: Annotated[float, Field(ge=0, le=1_000)]


class SignalPolicy(StrictModel):
    """``config/signals.yaml``."""

    login_failure_burst: BurstPolicy
    new_device: NewDevicePolicy
    out_of_province_login: ProvincePolicy
    transaction_spike: SpikePolicy
    fund_flow_mismatch: FundFlowPolicy
    cash_out_after_disbursement: CashOutPolicy

    @property
    def history_days(self) -> int:
        """Business days before the business day that the windows read."""
        spike, flow = self.transaction_spike, self.fund_flow_mismatch
        return max(
            self.new_device.lookback_days,
            spike.window_days + spike.baseline_days - 1,
            flow.watch_days_after_due + flow.pre_due_days,
            self.cash_out_after_disbursement.days_after_disbursement,
        )


def load_signal_policy(config_dir: Path) -> SignalPolicy:
    """Load and validate ``<config_dir>/signals.yaml``; errors name the key."""
    return load_yaml_model(Path(config_dir) / "signals.yaml", SignalPolicy)


def on_days(start: dt.date, end: dt.date) -> pl.Expr:
    """Rows of the business days from ``start`` to ``end``, both included."""
    return pl.col("snapshot_date").is_between(start, end)


def _typed_sum(types: tuple[str, ...]) -> pl.Expr:
    return pl.col("amount").filter(pl.col("event_type").is_in(types)).sum()


def daily_aggregate(events: pl.LazyFrame, business_date: dt.date) -> pl.LazyFrame:
    """Per-borrower per-day aggregate of one day's events (borrower_events_daily contract)."""
    kind = pl.col("event_type")
    seen = pl.col("device_id").filter((kind != "LOGIN_FAILURE") & pl.col("device_id").is_not_null())
    return (
        events.group_by("borrower_id")
        .agg(
            *((kind == t).sum().alias(f"{t.lower()}_count") for t in EVENT_TYPES),
            _typed_sum(INFLOW).alias("inflow_amount"),
            _typed_sum(OUTFLOW).alias("outflow_amount"),
            _typed_sum(CASH_OUT).alias("cash_out_amount"),
            _typed_sum(("REPAYMENT",)).alias("repayment_amount"),
            seen.unique().alias("devices_seen"),
        )
        # Sorted after the aggregation, lists of two or more only: a sort per group cost 4x.
        .with_columns(sorted_list("devices_seen"), pl.lit(business_date).alias("snapshot_date"))
        .sort("borrower_id")
    )


def signal_column(frame: pl.LazyFrame, value: pl.Expr, name: str) -> pl.LazyFrame:
    """(borrower_id, ``name``): a rule's value for the borrowers it fired for."""
    return frame.select("borrower_id", value.cast(pl.Int32).alias(name))


def login_failure_burst(
    events: pl.LazyFrame, business_date: dt.date, policy: BurstPolicy
) -> pl.LazyFrame:
    """Abnormal login, burst: >= min_failures LOGIN_FAILURE in (t - window_hours, t] for a
    failure t on the business day (``events``: that day's and the day before's, snapshot_date)."""
    one = pl.col("event_time").is_not_null().cast(pl.Int32)
    in_window = one.rolling_sum_by("event_time", f"{policy.window_hours}h").over("borrower_id")
    counts = (
        events.filter(pl.col("event_type") == "LOGIN_FAILURE")
        .with_columns(in_window.alias("failures"))
        .filter(
            (pl.col("snapshot_date") == business_date) & (pl.col("failures") >= policy.min_failures)
        )
        .group_by("borrower_id")
        .agg(pl.col("failures").max())
    )
    return signal_column(counts, pl.col("failures"), "signal_login_failure_burst")


def device_history(daily: pl.LazyFrame) -> pl.LazyFrame:
    """(borrower_id, device_id, last_seen): each device seen in ``daily`` (daily aggregates of
    one or more days) and the last day it was seen."""
    pairs = daily.select("borrower_id", pl.col("devices_seen").alias("device_id"), "snapshot_date")
    return (
        pairs.explode("device_id")
        .drop_nulls("device_id")
        .group_by("borrower_id", "device_id")
        .agg(pl.col("snapshot_date").max().alias("last_seen"))
        .select(DEVICE_COLUMNS)
    )


def devices_through(
    lookback: pl.LazyFrame, today: pl.LazyFrame, business_date: dt.date, policy: NewDevicePolicy
) -> pl.LazyFrame:
    """``borrower_devices`` of the business day: the devices seen on it or on the
    lookback_days - 1 days before it (the next day's lookback), with their last day seen.

    ``lookback``: the devices of the day's own lookback (``device_history`` rows; the previous
    day's ``borrower_devices`` is exactly that); ``today``: the day's aggregate.
    """
    first = business_date - dt.timedelta(days=policy.lookback_days - 1)
    return (
        pl.concat([lookback.select(DEVICE_COLUMNS), device_history(today)])
        .filter(pl.col("last_seen") >= first)
        .group_by("borrower_id", "device_id")
        .agg(pl.col("last_seen").max())
        .sort("borrower_id", "device_id")
    )


def new_device(
    today: pl.LazyFrame, lookback: pl.LazyFrame, business_date: dt.date, policy: NewDevicePolicy
) -> pl.LazyFrame:
    """Abnormal login, new device: a device seen on the business day and on none of the
    lookback_days before it, for a borrower with some device seen in those days.

    ``today``: the day's aggregate; ``lookback``: ``device_history`` rows (later days' rows
    are ignored), e.g. the previous day's ``borrower_devices``: one row per device instead of
    a row per borrower and day of the window (dozens of times the book's rows).
    """
    first = business_date - dt.timedelta(days=policy.lookback_days)
    seen = lookback.filter(pl.col("last_seen").is_between(first, business_date, closed="left"))
    pairs = device_history(today).select("borrower_id", "device_id")
    new = (
        pairs.join(seen, on=["borrower_id", "device_id"], how="anti")
        .join(seen.select("borrower_id").unique(), on="borrower_id", how="semi")
        .group_by("borrower_id")
        .agg(pl.len().alias("devices"))
    )
    return signal_column(new, pl.col("devices"), "signal_new_device")


def borrower_province(loans: pl.LazyFrame) -> pl.LazyFrame:
    """(borrower_id, province): the first 2 digits of the borrower's region_code."""
    return loans.group_by("borrower_id").agg(
        pl.col("region_code").min().str.slice(0, 2).alias("province")
    )


def out_of_province_login(
    events: pl.LazyFrame, loans: pl.LazyFrame, policy: ProvincePolicy
) -> pl.LazyFrame:
    """Abnormal login, out of province: the day's logins whose ip_region's first 2 digits differ
    from the borrower's province, when at least min_logins."""
    away = (
        events.filter(pl.col("event_type").is_in(LOGINS) & pl.col("ip_region").is_not_null())
        .join(borrower_province(loans), on="borrower_id")
        .filter(pl.col("ip_region").str.slice(0, 2) != pl.col("province"))
        .group_by("borrower_id")
        .agg(pl.len().alias("logins"))
        .filter(pl.col("logins") >= policy.min_logins)
    )
    return signal_column(away, pl.col("logins"), "signal_out_of_province_login")
