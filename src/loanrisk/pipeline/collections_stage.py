"""The ``build_collections`` stage: the day's aged loans, snapshot, scores, contact log and the
previous processed day's queue -> ``collections_queue``, ``collections_suppressed`` and
``collections_movements`` (curated) and ``extracts/collections/D/`` (one CSV + Parquet per
channel, ``suppressed``, ``movements`` and ``manifest.json``). Rules in
``loanrisk.domain.collections*``.

The contact log is optional: the days of the look-back windows (contact cap, promise) that have
a validated ``contacts`` partition are read, never a partition after the business day.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from loanrisk.config import Settings
from loanrisk.domain.collections import (
    CHANNELS,
    SUPPRESSIONS,
    CollectionsPolicy,
    classify_borrowers,
    collections_borrowers,
    collections_capacity,
    collections_priority,
)
from loanrisk.domain.collections_assign import (
    COUNTS,
    assign_agencies,
    collections_movements,
    continue_episodes,
    empty_previous,
)
from loanrisk.domain.collections_holds import (
    window_start,
    with_contact_window,
    with_holds,
    with_timezone_hold,
)
from loanrisk.domain.feeds import LOANS
from loanrisk.errors import ReconciliationError
from loanrisk.lake.extracts import write_extract_files, write_extract_manifest
from loanrisk.lake.storage import Lake, write_table
from loanrisk.lake.tables import conformed, scan_partitions
from loanrisk.quality.contracts import load_contract

QUEUE, SUPPRESSED, MOVEMENTS = (
    "collections_queue",
    "collections_suppressed",
    "collections_movements",
)
KIND, CONTACTS = "collections", "contacts"
CONTACT_COLUMNS = (
    "contact_id",
    "borrower_id",
    "contact_time",
    "channel",
    "outcome",
    "promise_date",
)
EXTRACT_COLUMNS = (
    "snapshot_date",
    "channel",
    "priority_rank",
    "borrower_id",
    "loan_ids",
    "loans",
    "borrower_dpd",
    "borrower_overdue",
    "priority",
    "within_capacity",
    "contact_allowed",
    "hold_reason",
    "phone_attempts_left",
    "contact_window_start_utc",
    "contact_window_end_utc",
)


def contact_log(
    lake: Lake, settings: Settings, policy: CollectionsPolicy, day: dt.date
) -> tuple[pl.LazyFrame, list[dt.date]]:
    """Contacts of the stored partitions in the longest look-back window ending on ``day``."""
    holds = policy.holds
    first = window_start(day, max(holds.contact_cap_window_days, holds.promise_lookback_days))
    days = [d for d in lake.partition_dates("raw", CONTACTS) if first <= d <= day]
    frames = [lake.scan("raw", CONTACTS, d).select(CONTACT_COLUMNS) for d in days]
    schema = load_contract(settings.contracts_dir, CONTACTS).polars_schema
    empty = pl.LazyFrame(schema={c: schema[c] for c in CONTACT_COLUMNS})
    return pl.concat([empty, *frames], how="vertical_relaxed"), days


def previous_queue(lake: Lake, day: dt.date) -> tuple[dt.date | None, pl.DataFrame]:
    """The latest stored queue before ``day`` (the previous processed day) and its rows."""
    earlier = [d for d in lake.partition_dates("curated", QUEUE) if d < day]
    if not earlier:
        return None, empty_previous()
    frame = lake.read("curated", QUEUE, earlier[-1])
    return earlier[-1], frame.select(empty_previous().columns)


def queue_of(
    classified: pl.DataFrame,
    contacts: pl.LazyFrame,
    previous: pl.DataFrame,
    policy: CollectionsPolicy,
    day: dt.date,
) -> pl.DataFrame:
    """The worked borrowers: holds (they depend on the channel; an unknown time zone holds
    whatever the channel), priority, capacity, contact window, episode and agency."""
    worked = classified.lazy().filter(~pl.col("disposition").is_in(SUPPRESSIONS))
    held = with_holds(
        worked.with_columns(pl.col("disposition").alias("channel")), contacts, policy, day
    )
    queue = (
        with_timezone_hold(held)
        .with_columns(collections_priority(policy.priority).alias("priority"))
        .collect()
    )
    queue = continue_episodes(collections_capacity(queue, policy), previous, policy, day)
    return assign_agencies(with_contact_window(queue, policy, day), policy)


def reconcile(aging: pl.DataFrame, listed: pl.DataFrame, policy: CollectionsPolicy) -> dict:
    """Loans and overdue of queue + suppressed against the day's ACTIVE loans of borrowers at
    queue_min_dpd or more; a difference stops the stage."""
    active = aging.filter(pl.col("account_status") == "ACTIVE")
    worst = pl.col("dpd").max().over("borrower_id")
    source = active.filter(worst >= policy.rules.queue_min_dpd)
    totals = {
        "source_loans": source.height,
        "source_overdue": money(source["overdue_amount"]),
        "listed_loans": int(listed["loans"].sum()),
        "listed_overdue": money(listed["borrower_overdue"]),
        "listed_borrowers": listed.height,
    }
    if (totals["source_loans"], totals["source_overdue"]) != (
        totals["listed_loans"],
        totals["listed_overdue"],
    ):
        raise ReconciliationError.collections(totals)
    return totals


def money(values: pl.Series) -> str:
    """A Decimal column's sum as text with two decimals (CNY), "0.00" when empty."""
    return f"{values.sum() or 0:.2f}"


def _sums(frame: pl.DataFrame) -> dict:
    return {
        "borrowers": frame.height,
        "loans": int(frame["loans"].sum()),
        "borrower_overdue": money(frame["borrower_overdue"]),
    }


def channel_totals(queue: pl.DataFrame, suppressed: pl.DataFrame) -> dict:
    """Control totals of every extract file: borrowers, loans and borrower_overdue (CNY)."""
    channels = {}
    for channel in CHANNELS:
        rows = queue.filter(pl.col("channel") == channel)
        channels[channel] = {
            **_sums(rows),
            "within_capacity": int(rows["within_capacity"].sum()),
            "held": int((~rows["contact_allowed"]).sum()),
        }
    by_reason = {r: int((suppressed["reason"] == r).sum()) for r in SUPPRESSIONS}
    return {"channels": channels, "suppressed": {**_sums(suppressed), "by_reason": by_reason}}


def channel_extract(queue: pl.DataFrame, policy: CollectionsPolicy, channel: str) -> pl.DataFrame:
    """One channel's file: the work columns, its agency (AGENCY) and only its configured PII."""
    extra = ["agency"] if channel == "AGENCY" else []
    pii = list(policy.channel(channel).pii)
    return (
        queue.filter(pl.col("channel") == channel)
        .sort("priority_rank")
        .select(*EXTRACT_COLUMNS, *extra, *pii)
    )


def write_extracts(
    lake: Lake,
    settings: Settings,
    policy: CollectionsPolicy,
    day: dt.date,
    tables: dict[str, pl.DataFrame],
    totals: dict,
    sources: list[dt.date],
) -> dict:
    """``extracts/collections/D/``: <CHANNEL>, suppressed and movements files and the manifest."""
    files = []
    for channel in CHANNELS:
        frame = channel_extract(tables["queue_pii"], policy, channel)
        files += write_extract_files(lake, KIND, day, channel, frame)
    files += write_extract_files(lake, KIND, day, "suppressed", tables[SUPPRESSED])
    files += write_extract_files(lake, KIND, day, "movements", tables[MOVEMENTS])
    manifest = write_extract_manifest(lake, settings, KIND, day, files, totals, sources)
    return {"manifest": manifest["path"], "files": files}


def collections_tables(
    lake: Lake, settings: Settings, policy: CollectionsPolicy, day: dt.date
) -> tuple[dict[str, pl.DataFrame], dict]:
    """The day's queue (with PII, for the extracts), suppressed and movements, and the facts
    the report and manifest need."""
    earlier = "the earlier stages"
    aging = scan_partitions(lake, "curated", "loan_aging", [day], run=earlier).collect()
    snapshot = scan_partitions(lake, "raw", LOANS, [day], run=earlier)
    risk = scan_partitions(lake, "curated", "loan_risk", [day], run=earlier)
    contacts, contact_days = contact_log(lake, settings, policy, day)
    previous_day, previous = previous_queue(lake, day)
    borrowers = collections_borrowers(aging.lazy(), snapshot, risk, policy.rules.queue_min_dpd)
    classified = classify_borrowers(borrowers, policy.rules).collect()
    queue = queue_of(classified, contacts, previous, policy, day)
    suppressed = classified.filter(pl.col("disposition").is_in(SUPPRESSIONS)).rename(
        {"disposition": "reason"}
    )
    contracts = settings.contracts_dir
    suppressed = conformed(contracts, SUPPRESSED, suppressed.lazy()).collect().sort("borrower_id")
    loans = aging.select("loan_id", "borrower_id", "account_status")
    movements = collections_movements(queue, previous, suppressed, loans, policy).with_columns(
        pl.lit(day).alias("snapshot_date"), pl.lit(previous_day, pl.Date).alias("previous_date")
    )
    tables = {
        "queue_pii": queue.sort("channel", "priority_rank"),
        SUPPRESSED: suppressed,
        MOVEMENTS: conformed(contracts, MOVEMENTS, movements.lazy()).collect().sort("channel"),
    }
    tables[QUEUE] = conformed(contracts, QUEUE, tables["queue_pii"].lazy()).collect()
    listed = pl.concat(
        [
            tables[QUEUE].select("loans", "borrower_overdue"),
            suppressed.select("loans", "borrower_overdue"),
        ]
    )
    facts = {
        "previous_date": previous_day,
        "contact_days": contact_days,
        "reconciliation": reconcile(aging, listed, policy),
    }
    return tables, facts


def collections_day(
    lake: Lake, settings: Settings, policy: CollectionsPolicy, business_date: dt.date
) -> dict:
    """Compute and write the day's collections tables and extracts; return the stage report."""
    tables, facts = collections_tables(lake, settings, policy, business_date)
    totals = {
        **channel_totals(tables[QUEUE], tables[SUPPRESSED]),
        "reconciliation": facts["reconciliation"],
        "movements": {
            r.pop("channel"): r for r in tables[MOVEMENTS].select("channel", *COUNTS).to_dicts()
        },
    }
    previous = facts["previous_date"]
    sources = [business_date] + ([previous] if previous else [])
    return {
        "rows_out": tables[QUEUE].height,
        "suppressed": tables[SUPPRESSED].height,
        "previous_date": None if previous is None else previous.isoformat(),
        "contact_days": [d.isoformat() for d in facts["contact_days"]],
        "output": write_table(lake, "curated", QUEUE, business_date, tables[QUEUE]),
        "suppressed_output": write_table(
            lake, "curated", SUPPRESSED, business_date, tables[SUPPRESSED]
        ),
        "movements": write_table(lake, "curated", MOVEMENTS, business_date, tables[MOVEMENTS]),
        "extract": write_extracts(lake, settings, policy, business_date, tables, totals, sources),
    }
