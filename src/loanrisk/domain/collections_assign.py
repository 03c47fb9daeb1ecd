"""Collections episodes, agency assignment and day-over-day movements. Pure Polars.

An *episode* is a run of consecutive processed days on which the borrower is in the
``collections_queue`` (any channel; suppressed borrowers are not in the queue): it starts on the
first such day and continues while the previous processed day's queue (the latest stored day
before the business day) holds the borrower. The agency a borrower gets on entering AGENCY is
kept for the whole episode, also through days in another channel, unless it leaves the config.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from loanrisk.domain.collections import CollectionsPolicy

COUNTS = (
    "borrowers_previous",
    "stayed",
    "new",
    "escalated_in",
    "de_escalated_in",
    "escalated_out",
    "de_escalated_out",
    "cured",
    "exited",
    "borrowers",
)
PREVIOUS_SCHEMA = {
    "borrower_id": pl.String,
    "channel": pl.String,
    "loan_ids": pl.List(pl.String),
    "episode_start_date": pl.Date,
    "episode_agency": pl.String,
}


def empty_previous() -> pl.DataFrame:
    """The previous queue when there is no previous processed day."""
    return pl.DataFrame(schema=PREVIOUS_SCHEMA)


def continue_episodes(
    queue: pl.DataFrame, previous: pl.DataFrame, policy: CollectionsPolicy, business_date: dt.date
) -> pl.DataFrame:
    """episode_start_date and episode_agency carried from the previous processed day's queue
    (a new episode starts on the business day with no agency; an agency no longer configured is
    dropped)."""
    known = [a.agency_id for a in policy.agencies]
    carried = previous.select(
        "borrower_id",
        pl.col("episode_start_date").alias("_start"),
        pl.col("episode_agency").alias("_agency"),
    )
    return (
        queue.join(carried, on="borrower_id", how="left")
        .with_columns(
            pl.coalesce("_start", pl.lit(business_date)).alias("episode_start_date"),
            pl.when(pl.col("_agency").is_in(known)).then("_agency").alias("episode_agency"),
        )
        .drop("_start", "_agency")
    )


def agency_slots(loads: pl.DataFrame, policy: CollectionsPolicy, slots: int) -> pl.DataFrame:
    """The agency of each of ``slots`` new borrowers in turn: Webster/Sainte-Laguë divisor
    method, i.e. each next borrower goes to the agency with the smallest (load + 0.5) / weight,
    load counting its AGENCY borrowers of the day so far; ties go to the agency listed first
    (capacity-weighted). A merge of per-agency sequences, no row loop."""
    agencies = pl.DataFrame(
        {
            "agency": [a.agency_id for a in policy.agencies],
            "weight": [a.weight for a in policy.agencies],
            "listed": list(range(len(policy.agencies))),
        }
    ).filter(pl.col("weight") > 0)
    steps = pl.DataFrame({"k": pl.int_range(1, slots + 1, eager=True)})
    return (
        agencies.join(loads, on="agency", how="left")
        .with_columns(pl.col("load").fill_null(0))
        .join(steps, how="cross")
        .with_columns(((pl.col("load") + pl.col("k") - 0.5) / pl.col("weight")).alias("key"))
        .sort("key", "listed", "k")
        .head(slots)
        .select(pl.int_range(pl.len(), dtype=pl.UInt32).alias("slot"), "agency")
    )


def assign_agencies(queue: pl.DataFrame, policy: CollectionsPolicy) -> pl.DataFrame:
    """AGENCY borrowers keep their episode's agency; the others, in priority order (priority
    desc, borrower_id asc), get one from ``agency_slots``. ``agency`` is set on AGENCY rows only;
    ``episode_agency`` stays with the borrower for the episode (sticky agencies)."""
    in_agency = pl.col("channel") == "AGENCY"
    loads = (
        queue.filter(in_agency & pl.col("episode_agency").is_not_null())
        .group_by(pl.col("episode_agency").alias("agency"))
        .agg(pl.len().alias("load"))
    )
    new = (
        queue.filter(in_agency & pl.col("episode_agency").is_null())
        .sort(["priority", "borrower_id"], descending=[True, False])
        .select("borrower_id")
        .with_row_index("slot")
    )
    new = new.join(agency_slots(loads, policy, new.height), on="slot").select(
        "borrower_id", pl.col("agency").alias("_new")
    )
    return (
        queue.join(new, on="borrower_id", how="left")
        .with_columns(pl.coalesce("episode_agency", "_new").alias("episode_agency"))
        .with_columns(pl.when(in_agency).then("episode_agency").alias("agency"))
        .drop("_new")
    )


def _leavers(previous: pl.DataFrame, suppressed: pl.DataFrame, loans: pl.DataFrame) -> pl.DataFrame:
    """Previous queue borrowers who exited rather than cured: suppressed today, absent from the
    day's loans, or with one of yesterday's queued loans WRITTEN_OFF today."""
    written_off = loans.filter(pl.col("account_status") == "WRITTEN_OFF").select("loan_id")
    by_write_off = (
        previous.select("borrower_id", pl.col("loan_ids").alias("loan_id"))
        .explode("loan_id")
        .join(written_off, on="loan_id", how="semi")
    )
    absent = previous.join(loans, on="borrower_id", how="anti")
    return pl.concat(
        [
            by_write_off.select("borrower_id"),
            absent.select("borrower_id"),
            suppressed.select("borrower_id"),
        ]
    ).unique()


def movement_of(policy: CollectionsPolicy) -> pl.Expr:
    """NEW, STAYED, ESCALATED, DE_ESCALATED (by the configured channel order), CURED or EXITED."""
    order = {c: i for i, c in enumerate(policy.channel_order)}
    now = pl.col("channel").replace_strict(order, default=None, return_dtype=pl.Int32)
    before = pl.col("previous_channel").replace_strict(order, default=None, return_dtype=pl.Int32)
    return (
        pl.when(pl.col("previous_channel").is_null())
        .then(pl.lit("NEW"))
        .when(pl.col("channel").is_null() & pl.col("exited"))
        .then(pl.lit("EXITED"))
        .when(pl.col("channel").is_null())
        .then(pl.lit("CURED"))
        .when(now == before)
        .then(pl.lit("STAYED"))
        .when(now > before)
        .then(pl.lit("ESCALATED"))
        .otherwise(pl.lit("DE_ESCALATED"))
    )


def _count(movement: str) -> pl.Expr:
    return (pl.col("movement") == movement).sum()


def tally(moves: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Movement counts by today's channel and by the previous day's channel."""
    today = (
        moves.filter(pl.col("channel").is_not_null())
        .group_by("channel")
        .agg(
            pl.len().alias("borrowers"),
            _count("STAYED").alias("stayed"),
            _count("NEW").alias("new"),
            _count("ESCALATED").alias("escalated_in"),
            _count("DE_ESCALATED").alias("de_escalated_in"),
        )
    )
    before = (
        moves.filter(pl.col("previous_channel").is_not_null())
        .group_by(pl.col("previous_channel").alias("channel"))
        .agg(
            pl.len().alias("borrowers_previous"),
            _count("ESCALATED").alias("escalated_out"),
            _count("DE_ESCALATED").alias("de_escalated_out"),
            _count("CURED").alias("cured"),
            _count("EXITED").alias("exited"),
        )
    )
    return today, before


def borrower_moves(
    queue: pl.DataFrame,
    previous: pl.DataFrame,
    suppressed: pl.DataFrame,
    loans: pl.DataFrame,
    policy: CollectionsPolicy,
) -> pl.DataFrame:
    """Each borrower of yesterday's or today's queue: borrower_id, previous_channel, channel,
    exited and movement. A borrower's row needs only that borrower's rows (per shard).
    ``loans``: the day's loan_id, borrower_id, account_status (every status)."""
    gone = _leavers(previous, suppressed, loans).with_columns(pl.lit(True).alias("exited"))
    return (
        previous.select("borrower_id", pl.col("channel").alias("previous_channel"))
        .join(queue.select("borrower_id", "channel"), on="borrower_id", how="full", coalesce=True)
        .join(gone, on="borrower_id", how="left")
        .with_columns(pl.col("exited").fill_null(False))
        .with_columns(movement_of(policy).alias("movement"))
    )


def movement_counts(moves: pl.DataFrame, policy: CollectionsPolicy) -> pl.DataFrame:
    """Per channel (every configured channel, by name) the COUNTS of ``borrower_moves`` rows."""
    today, before = tally(moves)
    return (
        pl.DataFrame({"channel": sorted(policy.channel_order)})
        .join(today, on="channel", how="left")
        .join(before, on="channel", how="left")
        .with_columns(pl.col(COUNTS).fill_null(0).cast(pl.Int32))
        .select("channel", *COUNTS)
    )


def collections_movements(
    queue: pl.DataFrame,
    previous: pl.DataFrame,
    suppressed: pl.DataFrame,
    loans: pl.DataFrame,
    policy: CollectionsPolicy,
) -> pl.DataFrame:
    """Per channel: yesterday's borrowers = stayed + escalated_out + de_escalated_out + cured +
    exited; today's = stayed + new + escalated_in + de_escalated_in.
    ``loans``: the day's loan_id, borrower_id, account_status (every status)."""
    return movement_counts(borrower_moves(queue, previous, suppressed, loans, policy), policy)
