"""The ``compute_signals`` stage: the day's validated events and loans -> ``borrower_events_daily``
(the per-borrower per-day aggregate the rolling windows read), ``borrower_devices`` (the devices
of the new-device lookback, carried from day to day) and ``borrower_signals``.

The events feed is optional: a day without a validated events partition counts as zero events
(its aggregate partition is written empty). A window day whose aggregate is missing but whose
validated events exist (a day validated before this stage existed) is aggregated on the fly, so
the signals do not depend on the order days were run in. Rules in ``loanrisk.signals``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from loanrisk import signals as rules
from loanrisk.contracts import load_contract
from loanrisk.errors import InputFileError
from loanrisk.feeds import LOANS
from loanrisk.storage import Lake, read_json, write_json_atomic, write_table

EVENTS, DAILY, SIGNALS = "events", "borrower_events_daily", "borrower_signals"
DEVICES = "borrower_devices"
LOAN_COLUMNS = (
    "loan_id",
    "borrower_id",
    "region_code",
    "origination_date",
    "principal_amount",
    "account_status",
    "oldest_unpaid_due_date",
    "overdue_principal",
    "overdue_interest",
    "overdue_fees",
)


def _contract_frame(frame: pl.LazyFrame, contracts_dir: Path, table: str) -> pl.LazyFrame:
    """Select and type ``frame``'s columns from the table's contract."""
    return load_contract(contracts_dir, table).conform(frame)


def day_events(lake: Lake, contracts_dir: Path, day: dt.date) -> pl.LazyFrame:
    """A day's validated events (empty, typed, when the optional feed did not come)."""
    source = lake.partition_file("raw", EVENTS, day)
    if source.exists():
        return pl.scan_parquet(source)
    return pl.LazyFrame(schema=load_contract(contracts_dir, EVENTS).polars_schema)


def _window(
    lake: Lake, contracts_dir: Path, business_date: dt.date, days: int, today: pl.DataFrame
) -> tuple[dict[dt.date, pl.LazyFrame], int]:
    """The daily aggregates of ``business_date`` and the ``days`` days before it that had
    events, and how many were aggregated from raw events for want of a stored partition."""
    stored = set(lake.partition_dates("curated", DAILY))
    raw = set(lake.partition_dates("raw", EVENTS))
    frames, rebuilt = {business_date: today.lazy()}, 0
    for back in range(1, days + 1):
        day = business_date - dt.timedelta(days=back)
        if day in stored:
            frames[day] = pl.scan_parquet(lake.partition_file("curated", DAILY, day))
        elif day in raw:
            daily = rules.daily_aggregate(day_events(lake, contracts_dir, day), day)
            frames[day] = _contract_frame(daily, contracts_dir, DAILY).collect().lazy()
            rebuilt += 1
    return frames, rebuilt


def _burst_events(lake: Lake, contracts_dir: Path, business_date: dt.date) -> pl.LazyFrame:
    """LOGIN_FAILURE rows of the business day and the day before, with their file's day."""
    frames = []
    for day in (business_date - dt.timedelta(days=1), business_date):
        frames.append(
            day_events(lake, contracts_dir, day)
            .filter(pl.col("event_type") == "LOGIN_FAILURE")
            .select("borrower_id", "event_time", "event_type", pl.lit(day).alias("snapshot_date"))
        )
    return pl.concat(frames)


def _identity(path: Path) -> list[int] | None:
    """Size and modification time of ``path`` (None: absent). Every partition is written by an
    atomic replace, so a rewritten file has a new one; hashing the window's aggregates instead
    would cost more than carrying the devices saves."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return [stat.st_size, stat.st_mtime_ns]


def _device_inputs(lake: Lake, business_date: dt.date, lookback_days: int) -> dict:
    """What ``borrower_devices`` of ``business_date`` is computed from: each window day's
    aggregate and validated events (read when the aggregate is missing)."""
    days = (business_date - dt.timedelta(days=back) for back in range(lookback_days))
    return {
        "lookback_days": lookback_days,
        "window": {
            day.isoformat(): [
                _identity(lake.partition_file("curated", DAILY, day)),
                _identity(lake.partition_file("raw", EVENTS, day)),
            ]
            for day in days
        },
    }


def previous_devices(lake: Lake, business_date: dt.date, lookback_days: int) -> pl.LazyFrame | None:
    """The previous day's ``borrower_devices`` (the day's lookback), unless it is missing or
    anything it was computed from changed since (a day of its window rerun or filled in)."""
    previous = business_date - dt.timedelta(days=1)
    state = lake.partition_file("curated", DEVICES, previous)
    recorded = lake.partition_inputs("curated", DEVICES, previous)
    if not recorded.exists():
        return None
    inputs = {"devices": _identity(state), **_device_inputs(lake, previous, lookback_days)}
    return pl.scan_parquet(state) if read_json(recorded) == inputs else None


def _write_devices(lake: Lake, business_date: dt.date, devices: pl.DataFrame, days: int) -> dict:
    """Write the day's ``borrower_devices``, then what it was computed from."""
    written = write_table(lake, "curated", DEVICES, business_date, devices)
    state = lake.partition_file("curated", DEVICES, business_date)
    inputs = {"devices": _identity(state), **_device_inputs(lake, business_date, days)}
    write_json_atomic(inputs, lake.partition_inputs("curated", DEVICES, business_date))
    return written


def borrower_signals(
    loans: pl.LazyFrame, signals: list[pl.LazyFrame], business_date: dt.date
) -> pl.LazyFrame:
    """One row per borrower of the day's loan snapshot with every signal count (0 when none).

    ``signals``: one frame per rule, a row per borrower it fired for. They are stacked and
    joined to the borrowers once (a join per rule cost twice as much at 1M borrowers).
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
    devices: pl.LazyFrame,
    loans: pl.LazyFrame,
    policy: rules.SignalPolicy,
    business_date: dt.date,
) -> pl.LazyFrame:
    """Every rule of ``loanrisk.signals`` on the day's inputs, one row per borrower of ``loans``;
    each rule is computed on its own (one window at a time in memory). ``devices``: the
    devices of the new-device lookback (``device_history`` rows)."""
    d, daily = business_date, pl.concat([days[day] for day in sorted(days)], how="vertical")
    signals = [
        rules.login_failure_burst(failures, d, policy.login_failure_burst),
        rules.new_device(days[d], devices, d, policy.new_device),
        rules.out_of_province_login(events, loans, policy.out_of_province_login),
        rules.transaction_spike(daily, d, policy.transaction_spike),
        rules.fund_flow_mismatch(daily, loans, d, policy.fund_flow_mismatch),
        rules.cash_out_after_disbursement(daily, loans, d, policy.cash_out_after_disbursement),
    ]
    collected = [signal.collect(engine="streaming").lazy() for signal in signals]
    return borrower_signals(loans, collected, d)


def lookback_devices(
    lake: Lake, days: dict[dt.date, pl.LazyFrame], business_date: dt.date, lookback_days: int
) -> tuple[pl.LazyFrame, bool]:
    """The devices of the day's new-device lookback: the previous day's ``borrower_devices``
    when it still holds, else rebuilt from the window's aggregates ``days``; and which."""
    carried = previous_devices(lake, business_date, lookback_days)
    if carried is not None:
        return carried, True
    window = [days[day] for day in sorted(days) if day < business_date]
    return rules.device_history(pl.concat([days[business_date].clear(), *window])), False


def compute_signals(
    lake: Lake, contracts_dir: Path, policy: rules.SignalPolicy, business_date: dt.date
) -> dict:
    """Compute and write the day's borrower_events_daily, borrower_devices and
    borrower_signals; return the report."""
    source = lake.partition_file("raw", LOANS, business_date)
    if not source.exists():
        raise InputFileError(f"{lake.relative(source)}: not validated yet; run validate first")
    loans = pl.scan_parquet(source).select(LOAN_COLUMNS)
    events = day_events(lake, contracts_dir, business_date)
    today = _contract_frame(
        rules.daily_aggregate(events, business_date), contracts_dir, DAILY
    ).collect()
    days, rebuilt = _window(lake, contracts_dir, business_date, policy.history_days, today)
    lookback = policy.new_device.lookback_days
    devices, carried = lookback_devices(lake, days, business_date, lookback)
    failures = _burst_events(lake, contracts_dir, business_date)
    table = signal_table(events, failures, days, devices, loans, policy, business_date)
    signals = _contract_frame(table, contracts_dir, SIGNALS).collect(engine="streaming")
    fired = signals.select((pl.col(c) > 0).sum() for c in rules.SIGNALS).row(0, named=True)
    daily = write_table(lake, "curated", DAILY, business_date, today)
    window = rules.devices_through(devices, today.lazy(), business_date, policy.new_device)
    dated = window.with_columns(pl.lit(business_date).alias("snapshot_date"))
    kept = _contract_frame(dated, contracts_dir, DEVICES).collect()
    return {
        "rows_out": signals.height,
        "events_feed": lake.partition_file("raw", EVENTS, business_date).exists(),
        "window_days_rebuilt_from_raw": rebuilt,
        "devices_from_previous_day": carried,
        "borrowers_flagged": fired,
        "daily": daily,
        "devices": _write_devices(lake, business_date, kept, lookback),
        "output": write_table(lake, "curated", SIGNALS, business_date, signals),
    }
