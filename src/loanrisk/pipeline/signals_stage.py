"""The ``compute_signals`` stage: the day's validated events and loans -> ``borrower_events_daily``
(the per-borrower per-day aggregate the rolling windows read), the tables carried from day to
day (``CARRIED``: the devices of the new-device lookback, the spike's window counts, the flows
before recent unpaid due dates) and ``borrower_signals``.

The events feed is optional: a day without a validated events partition counts as zero events
(its aggregate partition is written empty). A window day whose aggregate is missing but whose
validated events exist (a day validated before this stage existed) is aggregated on the fly, so
the signals do not depend on the order days were run in. Rules in ``loanrisk.domain.signals`` and
``loanrisk.domain.signal_windows``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from loanrisk.domain import signal_windows as windows
from loanrisk.domain import signals as rules
from loanrisk.domain.feeds import LOANS
from loanrisk.lake.fingerprints import partition_ids
from loanrisk.lake.storage import Lake, read_json, write_json_atomic, write_table
from loanrisk.lake.tables import conformed, scan_partition_if_any, scan_partitions
from loanrisk.quality.contracts import load_contract

EVENTS, DAILY, SIGNALS = "events", "borrower_events_daily", "borrower_signals"
DEVICES, TRANSACTIONS = "borrower_devices", "borrower_transaction_windows"
FLOWS = "loan_pre_due_flows"
#: Tables carried from one processed day to the next; what they were computed from is recorded
#: under the day's borrower_signals outside the lake (``previous_state``).
CARRIED = (DEVICES, TRANSACTIONS, FLOWS)
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


def _dated(frame: pl.LazyFrame, contracts_dir: Path, table: str, day: dt.date) -> pl.DataFrame:
    """``frame`` as the day's partition of ``table``: snapshot_date added, typed by contract."""
    dated = frame.with_columns(pl.lit(day).alias("snapshot_date"))
    return conformed(contracts_dir, table, dated).collect()


def day_events(lake: Lake, contracts_dir: Path, day: dt.date) -> pl.LazyFrame:
    """A day's validated events (empty, typed, when the optional feed did not come)."""
    events = scan_partition_if_any(lake, "raw", EVENTS, day)
    if events is not None:
        return events
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
            frames[day] = lake.scan("curated", DAILY, day)
        elif day in raw:
            daily = rules.daily_aggregate(day_events(lake, contracts_dir, day), day)
            frames[day] = conformed(contracts_dir, DAILY, daily).collect().lazy()
            rebuilt += 1
    return frames, rebuilt


def _stacked(days: dict[dt.date, pl.LazyFrame]) -> pl.LazyFrame:
    """The window's daily aggregates as one frame, oldest day first."""
    return pl.concat([days[day] for day in sorted(days)], how="vertical")


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


def _carried_inputs(lake: Lake, business_date: dt.date, policy: rules.SignalPolicy) -> dict:
    """What the day's carried tables were computed from, by content (sha256, None: absent):
    the signal policy, the tables as written, and each day's aggregate and validated events of
    the longest window."""
    days = [business_date - dt.timedelta(days=back) for back in range(policy.history_days + 1)]
    tables = {t: lake.partition("curated", t, business_date) for t in CARRIED}
    window = {
        day: (lake.partition("curated", DAILY, day), lake.partition("raw", EVENTS, day))
        for day in days
    }
    ids = partition_ids(lake, [*tables.values(), *(p for pair in window.values() for p in pair)])
    return {
        "policy": policy.model_dump(mode="json"),
        "tables": {t: ids[path] for t, path in tables.items()},
        "window": {day.isoformat(): [ids[p] for p in pair] for day, pair in window.items()},
    }


def previous_state(
    lake: Lake, business_date: dt.date, policy: rules.SignalPolicy
) -> dict[str, pl.LazyFrame] | None:
    """The previous day's carried tables, unless one is missing or anything they were computed
    from changed since (a day of the window rerun or filled in, the signal policy edited)."""
    previous = business_date - dt.timedelta(days=1)
    recorded = lake.partition_inputs("curated", SIGNALS, previous)
    if not recorded.exists() or read_json(recorded) != _carried_inputs(lake, previous, policy):
        return None
    return {t: lake.scan("curated", t, previous) for t in CARRIED}


def _write_carried(
    lake: Lake, business_date: dt.date, tables: dict[str, pl.DataFrame], policy: rules.SignalPolicy
) -> dict[str, dict]:
    """Write the day's carried tables, then what they came from (outside the lake, under the
    day's borrower_signals: ``Lake.partition_inputs``)."""
    written = {t: write_table(lake, "curated", t, business_date, tables[t]) for t in CARRIED}
    inputs = _carried_inputs(lake, business_date, policy)
    write_json_atomic(inputs, lake.partition_inputs("curated", SIGNALS, business_date))
    return written


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
    d, daily = business_date, _stacked(days)
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
    day's inputs,
    one row per borrower of ``loans``; each rule is computed on its own (one window at a time
    in memory). ``state``: the lookback's devices (``device_history`` rows), the day's
    transaction windows and pre-due flows (``carried_windows``)."""
    d, daily = business_date, _stacked(days)
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


def signals_day(
    lake: Lake, contracts_dir: Path, policy: rules.SignalPolicy, business_date: dt.date
) -> dict:
    """Compute and write the day's borrower_events_daily, its carried tables and
    borrower_signals; return the report."""
    loans = scan_partitions(lake, "raw", LOANS, [business_date], run="validate")
    loans = loans.select(LOAN_COLUMNS)
    events = day_events(lake, contracts_dir, business_date)
    today = conformed(contracts_dir, DAILY, rules.daily_aggregate(events, business_date)).collect()
    days, rebuilt = _window(lake, contracts_dir, business_date, policy.history_days, today)
    previous = previous_state(lake, business_date, policy)
    missed = windows.missed_due_dates(loans, business_date, policy.fund_flow_mismatch)
    devices, transactions, flows = carried_windows(
        days, previous, missed.collect(), policy, business_date
    )
    kept = {
        DEVICES: rules.devices_through(devices, today.lazy(), business_date, policy.new_device),
        TRANSACTIONS: transactions,
        FLOWS: flows,
    }
    kept = {t: _dated(frame, contracts_dir, t, business_date) for t, frame in kept.items()}
    state = {DEVICES: devices, TRANSACTIONS: kept[TRANSACTIONS].lazy(), FLOWS: kept[FLOWS].lazy()}
    failures = _burst_events(lake, contracts_dir, business_date)
    table = signal_table(events, failures, days, state, loans, policy, business_date)
    signals = conformed(contracts_dir, SIGNALS, table).collect(engine="streaming")
    fired = signals.select((pl.col(c) > 0).sum() for c in rules.SIGNALS).row(0, named=True)
    return {
        "rows_out": signals.height,
        "events_feed": lake.partition_file("raw", EVENTS, business_date).exists(),
        "window_days_rebuilt_from_raw": rebuilt,
        "carried_from_previous_day": previous is not None,
        "borrowers_flagged": fired,
        "daily": write_table(lake, "curated", DAILY, business_date, today),
        **_write_carried(lake, business_date, kept, policy),
        "output": write_table(lake, "curated", SIGNALS, business_date, signals),
    }
