"""The ``compute_signals`` stage: the day's validated events and loans -> ``borrower_events_daily``
(the per-borrower per-day aggregate the rolling windows read), the tables carried from day to
day (``CARRIED``: the devices of the new-device lookback, the spike's window counts, the flows
before recent unpaid due dates) and ``borrower_signals``.

The events feed is optional: a day without a validated events partition counts as zero events
(its aggregate partition is written empty). A window day whose aggregate is missing but whose
validated events exist (a day validated before this stage existed) is aggregated on the fly, so
the signals do not depend on the order days were run in. Rules in ``loanrisk.domain.signals`` and
``loanrisk.domain.signal_windows``; the tables from the frames read in ``signal_tables``.

Every table is per borrower (``loan_pre_due_flows`` per loan, a loan having one borrower), so
with ``shards: K > 1`` each shard computes its borrowers' rows from its borrowers' inputs only
(``signals_shard``) and ``combine_signals`` merges the parts into the bytes of ``signals_day``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from loanrisk.domain import signal_windows as windows
from loanrisk.domain import signals as rules
from loanrisk.domain.feeds import LOANS
from loanrisk.lake.fingerprints import partition_ids
from loanrisk.lake.shards import Shard, checked_parts, combine_parts, drop_parts, in_shard
from loanrisk.lake.shards import write_part as write_shard_part
from loanrisk.lake.storage import Lake, read_json, write_json_atomic, write_table
from loanrisk.lake.tables import conformed, scan_partition_if_any, scan_partitions
from loanrisk.pipeline.signal_tables import (
    DEVICES,
    FLOWS,
    TRANSACTIONS,
    carried_windows,
    signal_table,
)
from loanrisk.quality.contracts import load_contract

EVENTS, DAILY, SIGNALS = "events", "borrower_events_daily", "borrower_signals"
#: Tables carried from one processed day to the next; what they were computed from is recorded
#: under the day's borrower_signals outside the lake (``_carried_inputs``); the next day moves
#: them on only when that record still holds (``_day_inputs``).
CARRIED = (DEVICES, TRANSACTIONS, FLOWS)
#: The stage's tables in the order they are written, each with the key it is sorted by (the
#: published row order, which the combine merges the shards' parts on).
KEYS = {
    DAILY: ["borrower_id"],
    DEVICES: ["borrower_id", "device_id"],
    TRANSACTIONS: ["borrower_id"],
    FLOWS: ["loan_id", "due_date"],
    SIGNALS: ["borrower_id"],
}
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


def day_events(
    lake: Lake, contracts_dir: Path, day: dt.date, shard: Shard | None = None
) -> pl.LazyFrame:
    """A day's validated events (of ``shard``'s borrowers when given; empty, typed, when the
    optional feed did not come)."""
    events = scan_partition_if_any(lake, "raw", EVENTS, day)
    if events is not None:
        return in_shard(events, shard)
    return pl.LazyFrame(schema=load_contract(contracts_dir, EVENTS).polars_schema)


def _window_days(lake: Lake, business_date: dt.date, days: int) -> dict[dt.date, bool]:
    """The ``days`` days before ``business_date`` that had events, each with whether its
    aggregate is stored (False: to be aggregated from its validated events)."""
    stored = set(lake.partition_dates("curated", DAILY))
    raw = set(lake.partition_dates("raw", EVENTS))
    before = [business_date - dt.timedelta(days=back) for back in range(1, days + 1)]
    return {day: day in stored for day in before if day in stored or day in raw}


def _window(
    lake: Lake,
    contracts_dir: Path,
    business_date: dt.date,
    days: int,
    today: pl.DataFrame,
    shard: Shard | None,
) -> dict[dt.date, pl.LazyFrame]:
    """The daily aggregates (of ``shard``'s borrowers) of ``business_date`` and the ``days``
    days before it that had events."""
    frames = {business_date: today.lazy()}
    for day, stored in _window_days(lake, business_date, days).items():
        if stored:
            frames[day] = in_shard(lake.scan("curated", DAILY, day), shard)
        else:
            daily = rules.daily_aggregate(day_events(lake, contracts_dir, day, shard), day)
            frames[day] = conformed(contracts_dir, DAILY, daily).collect().lazy()
    return frames


def _burst_events(
    lake: Lake, contracts_dir: Path, business_date: dt.date, shard: Shard | None
) -> pl.LazyFrame:
    """LOGIN_FAILURE rows of the business day and the day before, with their file's day."""
    frames = []
    for day in (business_date - dt.timedelta(days=1), business_date):
        frames.append(
            day_events(lake, contracts_dir, day, shard)
            .filter(pl.col("event_type") == "LOGIN_FAILURE")
            .select("borrower_id", "event_time", "event_type", pl.lit(day).alias("snapshot_date"))
        )
    return pl.concat(frames)


def _carried_inputs(
    lake: Lake, business_date: dt.date, policy: rules.SignalPolicy, also: Iterable[Path] = ()
) -> tuple[dict, dict[Path, str | None]]:
    """What the day's carried tables were computed from, by content (sha256, None: absent):
    the signal policy, the tables as written, and each day's aggregate and validated events of
    the longest window; with the content ids of those partitions and of ``also`` (one look-up
    of the content cache, which keeps the partitions asked for last)."""
    days = [business_date - dt.timedelta(days=back) for back in range(policy.history_days + 1)]
    tables = {t: lake.partition("curated", t, business_date) for t in CARRIED}
    window = {
        day: (lake.partition("curated", DAILY, day), lake.partition("raw", EVENTS, day))
        for day in days
    }
    pairs = [p for pair in window.values() for p in pair]
    ids = partition_ids(lake, [*tables.values(), *pairs, *also])
    record = {
        "policy": policy.model_dump(mode="json"),
        "tables": {t: ids[path] for t, path in tables.items()},
        "window": {day.isoformat(): [ids[p] for p in pair] for day, pair in window.items()},
    }
    return record, ids


def _day_inputs(
    lake: Lake, business_date: dt.date, policy: rules.SignalPolicy, sharded: bool
) -> tuple[bool, dict]:
    """Whether the previous day's carried tables are good to move on (none is missing and
    nothing they were computed from changed since: a day of the window rerun or filled in, the
    signal policy edited), and what the day's tables are computed from by content: the previous
    day's carried inputs, the day's validated loans and events (``sharded``: the shards' parts
    are checked against it; an unsharded day does not hash its loans)."""
    previous = business_date - dt.timedelta(days=1)
    today = [lake.partition("raw", t, business_date) for t in (LOANS, EVENTS)] if sharded else []
    computed, ids = _carried_inputs(lake, previous, policy, today)
    recorded = lake.partition_inputs("curated", SIGNALS, previous)
    carried = recorded.exists() and read_json(recorded) == computed
    day = {lake.relative(folder): ids[folder] for folder in today}
    return carried, {"previous": computed, "carried": carried, "day": day}


def _tables(
    lake: Lake,
    contracts_dir: Path,
    policy: rules.SignalPolicy,
    business_date: dt.date,
    carried: bool,
    shard: Shard | None = None,
) -> dict[str, pl.DataFrame]:
    """The day's five tables (``KEYS``), of ``shard``'s borrowers when given, each in its
    published order; ``carried``: the previous day's carried tables are moved on."""
    d, previous = business_date, business_date - dt.timedelta(days=1)
    loans = scan_partitions(lake, "raw", LOANS, [d], run="validate")
    loans = in_shard(loans, shard).select(LOAN_COLUMNS)
    events = day_events(lake, contracts_dir, d, shard)
    today = conformed(contracts_dir, DAILY, rules.daily_aggregate(events, d)).collect()
    days = _window(lake, contracts_dir, d, policy.history_days, today, shard)
    state = (
        {t: in_shard(lake.scan("curated", t, previous), shard) for t in CARRIED}
        if carried
        else None
    )
    missed = windows.missed_due_dates(loans, d, policy.fund_flow_mismatch)
    devices, transactions, flows = carried_windows(days, state, missed.collect(), policy, d)
    kept = {
        DEVICES: rules.devices_through(devices, today.lazy(), d, policy.new_device),
        TRANSACTIONS: transactions,
        FLOWS: flows,
    }
    kept = {t: _dated(frame, contracts_dir, t, d) for t, frame in kept.items()}
    state = {DEVICES: devices, TRANSACTIONS: kept[TRANSACTIONS].lazy(), FLOWS: kept[FLOWS].lazy()}
    failures = _burst_events(lake, contracts_dir, d, shard)
    table = signal_table(events, failures, days, state, loans, policy, d)
    signals = conformed(contracts_dir, SIGNALS, table).collect(engine="streaming")
    return {DAILY: today, **kept, SIGNALS: signals}


def _facts(
    lake: Lake,
    business_date: dt.date,
    policy: rules.SignalPolicy,
    carried: bool,
    signals: pl.DataFrame | pl.LazyFrame,
) -> dict:
    """The stage report's facts of the day beside its tables (``signals``: borrower_signals, a
    frame or a lazy scan of the published partition)."""
    rebuilt = _window_days(lake, business_date, policy.history_days).values()
    fired = signals.select((pl.col(c) > 0).sum() for c in rules.SIGNALS)
    if isinstance(fired, pl.LazyFrame):
        fired = fired.collect(engine="streaming")
    return {
        "events_feed": lake.partition_file("raw", EVENTS, business_date).exists(),
        "window_days_rebuilt_from_raw": sum(not stored for stored in rebuilt),
        "carried_from_previous_day": carried,
        "borrowers_flagged": fired.row(0, named=True),
    }


def _write_carried_inputs(lake: Lake, business_date: dt.date, policy: rules.SignalPolicy) -> None:
    """What the day's carried tables (written) came from, outside the lake, under the day's
    borrower_signals (``Lake.partition_inputs``)."""
    record, _ = _carried_inputs(lake, business_date, policy)
    write_json_atomic(record, lake.partition_inputs("curated", SIGNALS, business_date))


def signals_day(
    lake: Lake, contracts_dir: Path, policy: rules.SignalPolicy, business_date: dt.date
) -> dict:
    """Compute and write the day's borrower_events_daily, its carried tables and
    borrower_signals; return the report."""
    carried, _ = _day_inputs(lake, business_date, policy, sharded=False)
    tables = _tables(lake, contracts_dir, policy, business_date, carried)
    facts = _facts(lake, business_date, policy, carried, tables[SIGNALS])
    written = {t: write_table(lake, "curated", t, business_date, tables[t]) for t in KEYS}
    _write_carried_inputs(lake, business_date, policy)  # after the carried tables
    return _report(written, facts)


def _report(written: dict[str, dict], facts: dict) -> dict:
    """The stage report (``records.Signals``) from the written tables and the day's facts."""
    carried = {t: written[t] for t in CARRIED}
    output = {"rows_out": written[SIGNALS]["rows"], "output": written[SIGNALS]}
    return {**output, "daily": written[DAILY], **carried, **facts}


def signals_shard(
    lake: Lake,
    contracts_dir: Path,
    policy: rules.SignalPolicy,
    business_date: dt.date,
    shard: Shard,
) -> dict:
    """Compute one shard's parts of the day's five tables from its borrowers' rows only
    (``loanrisk.lake.shards``), with the fingerprints of what they were computed from."""
    carried, inputs = _day_inputs(lake, business_date, policy, sharded=True)
    tables = _tables(lake, contracts_dir, policy, business_date, carried, shard)
    parts = {t: write_shard_part(lake, t, business_date, shard, tables[t], inputs) for t in KEYS}
    return {"shard": shard.label, "rows_out": tables[SIGNALS].height, "parts": parts}


def _combined(lake: Lake, table: str, business_date: dt.date, count: int, inputs: dict) -> dict:
    """Publish ``table`` from its parts; a table of no rows is written from part 0's (empty)
    frame, so it keeps its columns (``merge_sorted`` hands its writer no frame then)."""
    written = combine_parts(lake, table, business_date, count, inputs, KEYS[table])
    if written["rows"]:
        return written
    first = checked_parts(lake, table, business_date, count, inputs)[0]
    empty = pl.read_parquet(first, glob=False)
    return write_table(lake, "curated", table, business_date, empty)


def combine_signals(
    lake: Lake, contracts_dir: Path, policy: rules.SignalPolicy, business_date: dt.date, count: int
) -> dict:
    """Publish the day's five tables from the parts of ``count`` shards (the bytes
    ``signals_day`` writes), record what the carried tables came from, drop the parts; return
    ``signals_day``'s report."""
    carried, inputs = _day_inputs(lake, business_date, policy, sharded=True)
    for table in KEYS:  # every part is there and current before any table is replaced
        checked_parts(lake, table, business_date, count, inputs)
    written = {t: _combined(lake, t, business_date, count, inputs) for t in KEYS}
    _write_carried_inputs(lake, business_date, policy)
    signals = lake.scan("curated", SIGNALS, business_date)
    facts = _facts(lake, business_date, policy, carried, signals)
    for table in KEYS:
        drop_parts(lake, table, business_date)
    return _report(written, facts)
