"""The per-borrower half of ``build_collections`` (issue 24, point 1): a borrower's disposition
(a channel or a suppression reason), holds from the contact log, phone attempts, priority,
contact window, episode continued from the previous queue and day-over-day movement depend on
that borrower's rows only, so they run per borrower shard (``Shard``) or, unsharded, on the
whole book (``shard=None``). The book-level half (priority_rank, capacity, agencies, movement
totals, reconciliation, extracts) is in ``collections_stage``.

Every input is read as a lazy scan of the shard's borrowers (the part it was merged from, kept
for this, or ``in_shard`` of the whole: ``own_rows``) before it is
collected, so a shard task holds only its borrowers' rows.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from loanrisk.config import Settings
from loanrisk.domain.collections import (
    SUPPRESSIONS,
    CollectionsPolicy,
    classify_borrowers,
    collections_borrowers,
    collections_priority,
)
from loanrisk.domain.collections_assign import borrower_moves, continue_episodes, empty_previous
from loanrisk.domain.collections_holds import (
    window_start,
    with_contact_window,
    with_holds,
    with_timezone_hold,
)
from loanrisk.domain.feeds import LOANS
from loanrisk.lake.shards import Shard, in_shard, own_rows
from loanrisk.lake.storage import Lake
from loanrisk.lake.tables import conformed, scan_partitions
from loanrisk.pipeline.risk_shards import AGING, AGING_PART, RISK, RISK_PART
from loanrisk.pipeline.validation_shards import raw_table
from loanrisk.quality.contracts import load_contract

QUEUE, SUPPRESSED, MOVEMENTS = (
    "collections_queue",
    "collections_suppressed",
    "collections_movements",
)
CONTACTS = "contacts"
#: Shard part tables: the worked borrowers before ranking, each borrower's movement, and the
#: reconciliation source (one row per shard). Suppressed rows are parts of SUPPRESSED itself.
WORKED, MOVES, SOURCE = "collections_worked", "collections_moves", "collections_source"
CONTACT_COLUMNS = (
    "contact_id",
    "borrower_id",
    "contact_time",
    "channel",
    "outcome",
    "promise_date",
)
#: The loan_aging columns collections reads (consolidation, movements, reconciliation).
AGING_COLUMNS = (
    "snapshot_date",
    "loan_id",
    "borrower_id",
    "account_status",
    "dpd",
    "overdue_amount",
    "episodes_12m",
    "bankruptcy_flag",
)
EARLIER = "the earlier stages"


def contact_days(lake: Lake, policy: CollectionsPolicy, day: dt.date) -> list[dt.date]:
    """The stored contacts partitions in the longest look-back window ending on ``day``."""
    holds = policy.holds
    first = window_start(day, max(holds.contact_cap_window_days, holds.promise_lookback_days))
    return [d for d in lake.partition_dates("raw", CONTACTS) if first <= d <= day]


def contact_log(
    lake: Lake,
    settings: Settings,
    policy: CollectionsPolicy,
    day: dt.date,
    shard: Shard | None = None,
) -> tuple[pl.LazyFrame, list[dt.date]]:
    """Contacts (of ``shard``'s borrowers) of the stored partitions in the longest look-back
    window ending on ``day``, and those partitions' days."""
    days = contact_days(lake, policy, day)
    frames = [in_shard(lake.scan("raw", CONTACTS, d), shard).select(CONTACT_COLUMNS) for d in days]
    schema = load_contract(settings.contracts_dir, CONTACTS).polars_schema
    empty = pl.LazyFrame(schema={c: schema[c] for c in CONTACT_COLUMNS})
    return pl.concat([empty, *frames], how="vertical_relaxed"), days


def previous_date(lake: Lake, day: dt.date) -> dt.date | None:
    """The latest stored queue's day before ``day`` (the previous processed day)."""
    earlier = [d for d in lake.partition_dates("curated", QUEUE) if d < day]
    return earlier[-1] if earlier else None


def previous_queue(
    lake: Lake, day: dt.date, shard: Shard | None = None
) -> tuple[dt.date | None, pl.DataFrame]:
    """The previous processed day and its queue's rows (of ``shard``'s borrowers)."""
    before = previous_date(lake, day)
    if before is None:
        return None, empty_previous()
    frame = in_shard(lake.scan("curated", QUEUE, before), shard)
    return before, frame.select(empty_previous().columns).collect()


def collections_inputs(lake: Lake, policy: CollectionsPolicy, day: dt.date) -> list[Path]:
    """Every file the day's collections read: aging, snapshot, risk, the contact log's days
    and the previous queue (the shard parts record their fingerprints)."""
    days = [("curated", "loan_aging", day), ("raw", LOANS, day), ("curated", "loan_risk", day)]
    days += [("raw", CONTACTS, d) for d in contact_days(lake, policy, day)]
    if (before := previous_date(lake, day)) is not None:
        days.append(("curated", QUEUE, before))
    return [f for zone, table, d in days for f in lake.partition_files(zone, table, d)]


def worked_borrowers(
    classified: pl.DataFrame,
    contacts: pl.LazyFrame,
    previous: pl.DataFrame,
    policy: CollectionsPolicy,
    day: dt.date,
) -> pl.DataFrame:
    """The worked borrowers before ranking: holds (they depend on the channel; an unknown time
    zone holds whatever the channel), priority, episode and contact window, by borrower_id."""
    worked = classified.lazy().filter(~pl.col("disposition").is_in(SUPPRESSIONS))
    held = with_holds(
        worked.with_columns(pl.col("disposition").alias("channel")), contacts, policy, day
    )
    queue = (
        with_timezone_hold(held)
        .with_columns(collections_priority(policy.priority).alias("priority"))
        .collect()
    )
    queue = continue_episodes(queue, previous, policy, day)
    return with_contact_window(queue, policy, day).sort("borrower_id")


def source_of(aging: pl.DataFrame, policy: CollectionsPolicy) -> pl.DataFrame:
    """One row: loans and overdue of the ACTIVE loans of borrowers at queue_min_dpd or more,
    what queue + suppressed must add up to (``collections_stage.reconcile``)."""
    active = aging.filter(pl.col("account_status") == "ACTIVE")
    worst = pl.col("dpd").max().over("borrower_id")
    source = active.filter(worst >= policy.rules.queue_min_dpd)
    return source.select(
        pl.len().cast(pl.Int64).alias("source_loans"),
        pl.col("overdue_amount").sum().alias("source_overdue"),
    )


def borrower_day(
    lake: Lake,
    settings: Settings,
    policy: CollectionsPolicy,
    day: dt.date,
    shard: Shard | None = None,
) -> tuple[dict[str, pl.DataFrame], dict]:
    """The per-borrower tables of ``shard``'s borrowers (all with None), each by borrower_id:
    WORKED (the queue before ranking), SUPPRESSED (conformed), MOVES and SOURCE; and the facts
    the record needs (previous_date, contact_days)."""
    aging = scan_partitions(lake, "curated", AGING, [day], run=EARLIER)
    aging = own_rows(lake, aging, ("curated", AGING, day), AGING_PART, shard)
    aging = aging.select(AGING_COLUMNS).collect()
    snapshot = scan_partitions(lake, "raw", LOANS, [day], run=EARLIER)
    snapshot = own_rows(lake, snapshot, ("raw", LOANS, day), raw_table(LOANS), shard)
    risk = scan_partitions(lake, "curated", RISK, [day], run=EARLIER)
    risk = own_rows(lake, risk, ("curated", RISK, day), RISK_PART, shard)
    contacts, days = contact_log(lake, settings, policy, day, shard)
    before, previous = previous_queue(lake, day, shard)
    borrowers = collections_borrowers(aging.lazy(), snapshot, risk, policy.rules.queue_min_dpd)
    classified = classify_borrowers(borrowers, policy.rules).collect()
    worked = worked_borrowers(classified, contacts, previous, policy, day)
    suppressed = classified.filter(pl.col("disposition").is_in(SUPPRESSIONS)).rename(
        {"disposition": "reason"}
    )
    suppressed = conformed(settings.contracts_dir, SUPPRESSED, suppressed.lazy()).collect()
    suppressed = suppressed.sort("borrower_id")
    loans = aging.select("loan_id", "borrower_id", "account_status")
    moves = borrower_moves(worked, previous, suppressed, loans, policy).sort("borrower_id")
    tables = {
        WORKED: worked,
        SUPPRESSED: suppressed,
        MOVES: moves,
        SOURCE: source_of(aging, policy),
    }
    return tables, {"previous_date": before, "contact_days": days}
