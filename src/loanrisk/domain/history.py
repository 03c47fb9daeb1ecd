"""Delinquency history carried day to day: ``loan_state`` (DESIGN.md §5, Delinquency history).

``advance_state`` computes a business day's state from the previous processed day's state and the
day's aged loans; ``state_from_history`` computes the same from every stored day at once (the
from-scratch check, and the way to rebuild a broken chain). Both are pure Polars; no I/O here.

Definitions (window = the ``window_days`` calendar days ending on the business day, included):

* an *episode* starts on a day where the loan's dpd >= 1 and on its previous processed day it
  had dpd = 0 or was absent (the first day of history counts as "absent before");
* a *cure* is a day where the loan is ACTIVE with dpd = 0 (back in M0) and had dpd >= 1 on the
  previous processed day; a loan closed or written off while delinquent ends its episode uncured;
* ``first_delinquency_date`` = the first calendar day past due of the current episode
  (episode start - dpd on that day + 1), earlier than the episode start when history begins
  with the loan already delinquent;
* ``days_in_bucket`` counts calendar days in the current aging bucket, the entry day being 1;
* loans that left the book stay in the state (``in_snapshot`` false) while their window still
  holds an episode start, a cure or a dpd above zero, so a borrower's ``episodes_12m`` keeps the
  episodes of loans already repaid or written off.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

PEAK = pl.Struct({"date": pl.Date(), "dpd": pl.Int32()})

#: The aged-loan columns the history reads.
DAY_COLUMNS = ("loan_id", "borrower_id", "account_status", "dpd", "aging_bucket")

STATE_SCHEMA = pl.Schema(
    {
        "snapshot_date": pl.Date(),
        "loan_id": pl.String(),
        "borrower_id": pl.String(),
        "in_snapshot": pl.Boolean(),
        "last_seen_date": pl.Date(),
        "account_status": pl.String(),
        "dpd": pl.Int32(),
        "aging_bucket": pl.String(),
        "bucket_entry_date": pl.Date(),
        "days_in_bucket": pl.Int32(),
        "episode_start_date": pl.Date(),
        "first_delinquency_date": pl.Date(),
        "cure_date": pl.Date(),
        "episode_start_dates_12m": pl.List(pl.Date()),
        "dpd_peaks": pl.List(PEAK),
        "loan_episodes_12m": pl.Int32(),
        "episodes_12m": pl.Int32(),
        "max_dpd_12m": pl.Int32(),
    }
)


def window_start(business_date: dt.date, window_days: int) -> dt.date:
    """First day of the look-back window ending on (and including) ``business_date``."""
    return business_date - dt.timedelta(days=window_days - 1)


def empty_state() -> pl.LazyFrame:
    return pl.LazyFrame(schema=STATE_SCHEMA)


def running_peaks(peaks: pl.Expr, since: dt.date) -> pl.Expr:
    """Sliding-window maximum kept as a list of (date, dpd > 0) sorted by date: entries before
    ``since`` dropped, and every entry not above all later ones (it can never be the max again).
    The first entry is the window's maximum; an empty list means 0."""
    later_max = pl.element().struct.field("dpd").reverse().cum_max().reverse().shift(-1)
    keep = (pl.element().struct.field("date") >= since) & (
        later_max.is_null() | (pl.element().struct.field("dpd") > later_max)
    )
    return peaks.list.eval(pl.element().filter(keep))


def _joined(previous: pl.LazyFrame, today: pl.LazyFrame) -> pl.LazyFrame:
    prev = previous.select(
        "loan_id",
        *(pl.col(c).alias(f"prev_{c}") for c in STATE_SCHEMA.names() if c != "loan_id"),
    )
    return (
        today.select(*DAY_COLUMNS)
        .with_columns(pl.lit(True).alias("present"))
        .join(prev, on="loan_id", how="full", coalesce=True)
    )


def _day_events(business_date: dt.date) -> list[pl.Expr]:
    """The day's flags: previous processed day's dpd (null when absent), episode start, cure."""
    present = pl.col("present").fill_null(False)
    dpd_before = pl.when(pl.col("prev_in_snapshot")).then(pl.col("prev_dpd"))
    starts = present & (pl.col("dpd") >= 1) & (dpd_before.is_null() | (dpd_before == 0))
    cures = (
        present & (pl.col("account_status") == "ACTIVE") & (pl.col("dpd") == 0) & (dpd_before >= 1)
    )
    return [
        present.alias("present"),
        starts.fill_null(False).alias("starts"),
        cures.fill_null(False).alias("cures"),
        pl.lit(business_date).alias("snapshot_date"),
    ]


def _carried(business_date: dt.date, since: dt.date) -> list[pl.Expr]:
    """Scalar state columns from the previous state and today's flags."""
    today = pl.lit(business_date)
    present, starts = pl.col("present"), pl.col("starts")
    delinquent = present & (pl.col("dpd") >= 1)
    same_bucket = pl.col("prev_in_snapshot").fill_null(False) & (
        pl.col("prev_aging_bucket") == pl.col("aging_bucket")
    )
    cure = pl.when(pl.col("cures")).then(today).otherwise(pl.col("prev_cure_date"))
    return [
        pl.when(present)
        .then(today)
        .otherwise(pl.col("prev_last_seen_date"))
        .alias("last_seen_date"),
        *(
            pl.when(present).then(pl.col(c)).otherwise(pl.col(f"prev_{c}")).alias(c)
            for c in ("borrower_id", "account_status", "dpd", "aging_bucket")
        ),
        pl.when(present & same_bucket)
        .then(pl.col("prev_bucket_entry_date"))
        .when(present)
        .then(today)
        .alias("bucket_entry_date"),
        pl.when(starts)
        .then(today)
        .when(delinquent)
        .then(pl.col("prev_episode_start_date"))
        .alias("episode_start_date"),
        pl.when(starts)
        .then(today - pl.duration(days=pl.col("dpd") - 1))
        .when(delinquent)
        .then(pl.col("prev_first_delinquency_date"))
        .alias("first_delinquency_date"),
        pl.when(cure >= since).then(cure).alias("cure_date"),
    ]


def _window_lists(joined: pl.LazyFrame, business_date: dt.date, since: dt.date) -> pl.LazyFrame:
    """(loan_id, episode_start_dates_12m, dpd_peaks) for loans with anything in the window.

    Done by exploding and regrouping only the non-empty lists: per-row list expressions cost
    much more on a big book, most of whose loans have no delinquency to remember.
    """
    today = pl.lit(business_date)
    old_starts = (
        joined.select("loan_id", pl.col("prev_episode_start_dates_12m").alias("date"))
        .explode("date")
        .filter(pl.col("date") >= since)
    )
    new_starts = joined.filter("starts").select("loan_id", today.alias("date"))
    starts = (
        pl.concat([old_starts, new_starts])
        .group_by("loan_id")
        .agg(pl.col("date").sort().alias("episode_start_dates_12m"))
    )
    # The previous peaks fall in strictly decreasing dpd: the ones still able to be the
    # window's maximum are those above today's dpd (all of them when the loan is absent).
    dpd_today = pl.when("present").then(pl.col("dpd")).alias("dpd_today")
    old_peaks = (
        joined.select("loan_id", dpd_today, pl.col("prev_dpd_peaks").alias("peak"))
        .explode("peak")
        .unnest("peak")
        .filter(
            (pl.col("date") >= since)
            & (pl.col("dpd_today").is_null() | (pl.col("dpd") > pl.col("dpd_today")))
        )
        .select("loan_id", "date", "dpd")
    )
    new_peaks = joined.filter(pl.col("present") & (pl.col("dpd") > 0)).select(
        "loan_id", today.alias("date"), "dpd"
    )
    peaks = (
        pl.concat([old_peaks, new_peaks])
        .group_by("loan_id")
        .agg(pl.struct("date", "dpd").sort_by("date").alias("dpd_peaks"))
    )
    return starts.join(peaks, on="loan_id", how="full", coalesce=True)


def _counts(business_date: dt.date) -> list[pl.Expr]:
    """Presence, days in bucket and the episode counts, from the carried columns."""
    loan_episodes = pl.col("episode_start_dates_12m").list.len().cast(pl.Int32)
    return [
        pl.col("present").alias("in_snapshot"),
        pl.when(pl.col("present"))
        .then((pl.lit(business_date) - pl.col("bucket_entry_date")).dt.total_days() + 1)
        .cast(pl.Int32)
        .alias("days_in_bucket"),
        loan_episodes.alias("loan_episodes_12m"),
        loan_episodes.sum().over("borrower_id").cast(pl.Int32).alias("episodes_12m"),
    ]


def _window_max() -> pl.Expr:
    """The window's highest dpd: the first running peak (none kept means 0)."""
    return pl.col("dpd_peaks").list.first().struct.field("dpd").fill_null(0).alias("max_dpd_12m")


def _still_relevant() -> pl.Expr:
    """Keep a loan while it is in the book or its window still holds something to count."""
    return (
        pl.col("present")
        | (pl.col("episode_start_dates_12m").list.len() > 0)
        | pl.col("cure_date").is_not_null()
        | (pl.col("dpd_peaks").list.len() > 0)
    )


def advance_state(
    previous: pl.LazyFrame | None, today: pl.LazyFrame, business_date: dt.date, window_days: int
) -> pl.LazyFrame:
    """DESIGN.md §5 delinquency history: the state on ``business_date`` from the previous
    processed day's state (None on the first day of history) and the day's aged loans."""
    since = window_start(business_date, window_days)
    joined = _joined(empty_state() if previous is None else previous, today).with_columns(
        _day_events(business_date)
    )
    no_dates, no_peaks = pl.lit([], pl.List(pl.Date())), pl.lit([], pl.List(PEAK))
    return (
        joined.with_columns(_carried(business_date, since))
        .join(_window_lists(joined, business_date, since), on="loan_id", how="left")
        .with_columns(
            pl.col("episode_start_dates_12m").fill_null(no_dates),
            pl.col("dpd_peaks").fill_null(no_peaks),
        )
        .filter(_still_relevant())
        .with_columns(*_counts(business_date), _window_max())
        .select(STATE_SCHEMA.names())
        .cast(dict(STATE_SCHEMA))
        .sort("loan_id")
    )


def state_from_history(
    history: pl.LazyFrame, business_date: dt.date, window_days: int
) -> pl.LazyFrame:
    """The state on ``business_date`` recomputed from every processed day up to it at once
    (``history``: ``snapshot_date`` plus the aged-loan columns, one frame per processed day)."""
    since = window_start(business_date, window_days)
    rows = _with_previous_day(history.filter(pl.col("snapshot_date") <= business_date))
    date = pl.col("snapshot_date")
    in_window = date >= since
    per_loan = rows.group_by("loan_id").agg(
        date.max().alias("last_seen_date"),
        *(pl.col(c).sort_by(date).last() for c in DAY_COLUMNS if c != "loan_id"),
        date.filter("starts").max().alias("episode_start_date"),
        pl.col("dpd").filter("starts").sort_by(date.filter("starts")).last().alias("dpd_at_start"),
        date.filter("cures").max().alias("latest_cure"),
        date.filter("bucket_changes").max().alias("bucket_entry_date"),
        date.filter(pl.col("starts") & in_window).sort().alias("episode_start_dates_12m"),
        pl.struct(date=date, dpd="dpd")
        .filter(in_window & (pl.col("dpd") > 0))
        .sort_by(date.filter(in_window & (pl.col("dpd") > 0)))
        .alias("window_dpd"),
        pl.col("dpd").filter(in_window).max().alias("max_dpd_12m"),
    )
    present = pl.col("last_seen_date") == business_date
    delinquent = present & (pl.col("dpd") >= 1)
    return (
        per_loan.with_columns(
            present.alias("present"),
            pl.when(pl.col("latest_cure") >= since).then("latest_cure").alias("cure_date"),
        )
        .filter(
            present
            | (pl.col("episode_start_dates_12m").list.len() > 0)
            | pl.col("cure_date").is_not_null()
            | (pl.col("max_dpd_12m").fill_null(0) > 0)
        )
        .with_columns(
            pl.lit(business_date).alias("snapshot_date"),
            pl.when(present).then("bucket_entry_date").alias("bucket_entry_date"),
            pl.when(delinquent).then("episode_start_date").alias("episode_start_date"),
            pl.when(delinquent)
            .then(pl.col("episode_start_date") - pl.duration(days=pl.col("dpd_at_start") - 1))
            .alias("first_delinquency_date"),
            running_peaks(pl.col("window_dpd"), since).alias("dpd_peaks"),
            pl.col("max_dpd_12m").fill_null(0),
        )
        .with_columns(_counts(business_date))  # max_dpd_12m: taken from the rows directly
        .select(STATE_SCHEMA.names())
        .cast(dict(STATE_SCHEMA))
        .sort("loan_id")
    )


def _with_previous_day(history: pl.LazyFrame) -> pl.LazyFrame:
    """Each row with the loan's dpd and bucket on the previous processed day (null if absent)
    and the day's flags: episode start, cure, bucket change."""
    days = history.select("snapshot_date").unique().sort("snapshot_date").with_row_index("day")
    rows = history.join(days, on="snapshot_date")
    before = rows.select(
        "loan_id",
        (pl.col("day") + 1).alias("day"),
        pl.col("dpd").alias("dpd_before"),
        pl.col("aging_bucket").alias("bucket_before"),
    )
    dpd_before = pl.col("dpd_before")
    return rows.join(before, on=["loan_id", "day"], how="left").with_columns(
        ((pl.col("dpd") >= 1) & (dpd_before.is_null() | (dpd_before == 0))).alias("starts"),
        ((pl.col("account_status") == "ACTIVE") & (pl.col("dpd") == 0) & (dpd_before >= 1))
        .fill_null(False)
        .alias("cures"),
        (
            pl.col("bucket_before").is_null() | (pl.col("bucket_before") != pl.col("aging_bucket"))
        ).alias("bucket_changes"),
    )
