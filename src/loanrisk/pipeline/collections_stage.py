"""The ``build_collections`` stage: the day's aged loans, snapshot, scores, contact log and the
previous processed day's queue -> ``collections_queue``, ``collections_suppressed`` and
``collections_movements`` (curated) and ``extracts/collections/D/`` (one CSV + Parquet per
channel, ``suppressed``, ``movements`` and ``manifest.json``). Rules in
``loanrisk.domain.collections*``.

The contact log is optional: the days of the look-back windows (contact cap, promise) that have
a validated ``contacts`` partition are read, never a partition after the business day.

With ``shards: K > 1`` the per-borrower half (``collections_shards.borrower_day``) runs per
borrower shard (``collections_shard`` writes its parts) and ``combine_collections`` does the
book-level half here (ranking, capacity, agencies, totals, extracts) on the parts: the same
bytes as ``collections_day``, which runs both halves on the whole book.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from loanrisk.config import Settings
from loanrisk.domain.collections import (
    CHANNELS,
    SUPPRESSIONS,
    CollectionsPolicy,
    collections_capacity,
)
from loanrisk.domain.collections_assign import COUNTS, assign_agencies, movement_counts
from loanrisk.errors import ReconciliationError
from loanrisk.lake.extracts import write_extract_files, write_extract_manifest
from loanrisk.lake.shards import Shard, checked_parts, drop_parts, input_fingerprints, write_part
from loanrisk.lake.storage import Lake, write_table
from loanrisk.lake.tables import conformed
from loanrisk.pipeline.collections_shards import (
    MOVEMENTS,
    MOVES,
    QUEUE,
    SOURCE,
    SUPPRESSED,
    WORKED,
    borrower_day,
    collections_inputs,
    contact_days,
    previous_date,
    source_of,
)

KIND = "collections"
#: The shard parts of a day, in the order they are written and combined.
PARTS = (WORKED, SUPPRESSED, MOVES, SOURCE)
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


def ranked(worked: pl.DataFrame, policy: CollectionsPolicy) -> pl.DataFrame:
    """The book-level half of the queue: priority_rank and capacity per channel, then agencies
    for the new AGENCY borrowers in priority order (``worked``: every shard's borrowers)."""
    return assign_agencies(collections_capacity(worked, policy), policy)


def reconcile(aging: pl.DataFrame, listed: pl.DataFrame, policy: CollectionsPolicy) -> dict:
    """Loans and overdue of queue + suppressed against the day's ACTIVE loans of borrowers at
    queue_min_dpd or more; a difference stops the stage."""
    return reconciled(source_of(aging, policy), listed)


def reconciled(source: pl.DataFrame, listed: pl.DataFrame) -> dict:
    """``reconcile`` from the source's totals (one row per shard, ``source_of``)."""
    totals = {
        "source_loans": int(source["source_loans"].sum()),
        "source_overdue": money(source["source_overdue"]),
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


def book_tables(
    settings: Settings,
    policy: CollectionsPolicy,
    day: dt.date,
    parts: dict[str, pl.DataFrame],
    previous: dt.date | None,
) -> tuple[dict[str, pl.DataFrame], dict]:
    """The day's queue (with PII, for the extracts), suppressed and movements from the
    per-borrower tables (``borrower_day``, one shard's or every shard's together), and the
    reconciliation."""
    contracts = settings.contracts_dir
    movements = movement_counts(parts[MOVES], policy).with_columns(
        pl.lit(day).alias("snapshot_date"), pl.lit(previous, pl.Date).alias("previous_date")
    )
    suppressed = parts[SUPPRESSED].sort("borrower_id")
    tables = {
        "queue_pii": ranked(parts[WORKED], policy).sort("channel", "priority_rank"),
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
    return tables, reconciled(parts[SOURCE], listed)


def publish(
    lake: Lake,
    settings: Settings,
    policy: CollectionsPolicy,
    business_date: dt.date,
    parts: dict[str, pl.DataFrame],
    facts: dict,
) -> dict:
    """Rank, write the day's collections tables and extracts; return the stage report."""
    previous = facts["previous_date"]
    tables, reconciliation = book_tables(settings, policy, business_date, parts, previous)
    totals = {
        **channel_totals(tables[QUEUE], tables[SUPPRESSED]),
        "reconciliation": reconciliation,
        "movements": {
            r.pop("channel"): r for r in tables[MOVEMENTS].select("channel", *COUNTS).to_dicts()
        },
    }
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


def collections_day(
    lake: Lake, settings: Settings, policy: CollectionsPolicy, business_date: dt.date
) -> dict:
    """Compute and write the day's collections tables and extracts; return the stage report."""
    parts, facts = borrower_day(lake, settings, policy, business_date)
    return publish(lake, settings, policy, business_date, parts, facts)


def collections_shard(
    lake: Lake, settings: Settings, policy: CollectionsPolicy, day: dt.date, shard: Shard
) -> dict:
    """One shard's per-borrower collections tables as parts (``loanrisk.lake.shards``), each
    by borrower_id, with the fingerprints of the day's inputs."""
    parts, _ = borrower_day(lake, settings, policy, day, shard)
    inputs = input_fingerprints(lake, collections_inputs(lake, policy, day))
    written = {t: write_part(lake, t, day, shard, parts[t], inputs) for t in PARTS}
    return {"shard": shard.label, "rows_out": parts[WORKED].height, "parts": written}


def combine_collections(
    lake: Lake, settings: Settings, policy: CollectionsPolicy, day: dt.date, count: int
) -> dict:
    """Publish the day's collections from the parts of ``count`` shards: ranking, capacity,
    agencies, movement totals and extracts on the whole book, the bytes of ``collections_day``.
    The parts (queue-sized, not book-sized) are held in memory."""
    inputs = input_fingerprints(lake, collections_inputs(lake, policy, day))
    parts = {}
    for table in PARTS:
        files = checked_parts(lake, table, day, count, inputs)
        parts[table] = pl.concat([pl.read_parquet(f, glob=False) for f in files])
    facts = {
        "previous_date": previous_date(lake, day),
        "contact_days": contact_days(lake, policy, day),
    }
    report = publish(lake, settings, policy, day, parts, facts)
    for table in PARTS:
        drop_parts(lake, table, day)
    return report
