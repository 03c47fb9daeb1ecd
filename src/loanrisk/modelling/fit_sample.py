"""The development sample of ``loanrisk fit-scorecard``, from stored history.

An observation is an ACTIVE loan not in default (dpd < default_dpd) on an observation date in
[start, end]; its target is 1 when the loan reaches dpd >= default_dpd on any stored day within
horizon_days after that date, else 0 (a loan that closes before is a good). Observation dates are
every ``observation_every_days`` from ``start`` that are stored and whose whole horizon is stored.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from loanrisk.domain.features import FEATURE_COLUMNS, loan_features
from loanrisk.domain.scorecard import FitSettings
from loanrisk.errors import UsageError
from loanrisk.lake.storage import Lake

AGING, SNAPSHOT = "loan_aging", "loan_snapshot"


def observation_dates(
    stored: list[dt.date], start: dt.date, end: dt.date, fit: FitSettings
) -> list[dt.date]:
    """Stored dates in [start, end] on the sampling step whose horizon is fully stored."""
    have = set(stored)
    horizon = [dt.timedelta(days=k) for k in range(1, fit.horizon_days + 1)]
    return [
        d
        for d in sorted(have)
        if start <= d <= end
        and (d - start).days % fit.observation_every_days == 0
        and all(d + h in have for h in horizon)
    ]


def day_features(lake: Lake, day: dt.date, credit_lines: tuple[str, ...]) -> pl.LazyFrame:
    """One stored day's loans with their scorecard features (no signals: not stored yet);
    ``credit_lines``: ecl.yaml's credit_line_products."""
    aging = lake.scan("curated", AGING, day)
    snapshot = lake.scan("raw", SNAPSHOT, day)
    return loan_features(aging, snapshot, None, credit_lines=credit_lines)


def default_days(lake: Lake, first: dt.date, last: dt.date, default_dpd: int) -> pl.LazyFrame:
    """(loan_id, default_date): every stored day in (first, last] a loan has dpd >= default_dpd."""
    days = [d for d in lake.partition_dates("curated", AGING) if first < d <= last]
    frames = [
        lake.scan("curated", AGING, d)
        .filter(pl.col("dpd") >= default_dpd)
        .select("loan_id", pl.col("snapshot_date").alias("default_date"))
        for d in days
    ]
    empty = pl.LazyFrame(schema={"loan_id": pl.String, "default_date": pl.Date})
    return pl.concat([empty, *frames]).sort("loan_id", "default_date")


def with_target(observations: pl.LazyFrame, defaults: pl.LazyFrame, fit: FitSettings):
    """target = 1 when the loan's next default day after the observation is within the
    horizon (dpd >= default_dpd on a stored day in (date, date + horizon_days])."""
    nearest = observations.sort("snapshot_date").join_asof(
        defaults.sort("default_date"),
        left_on="snapshot_date",
        right_on="default_date",
        by="loan_id",
        strategy="forward",
        allow_exact_matches=False,
        check_sortedness=False,  # both sides are sorted by date just above
    )
    limit = pl.col("snapshot_date") + pl.duration(days=fit.horizon_days)
    hit = pl.col("default_date").is_not_null() & (pl.col("default_date") <= limit)
    return nearest.with_columns(hit.cast(pl.Int8).alias("target")).drop("default_date")


def observation_sample(
    lake: Lake, fit: FitSettings, start: dt.date, end: dt.date, credit_lines: tuple[str, ...]
) -> pl.DataFrame:
    """Observations with their features and target, sorted by (snapshot_date, loan_id);
    ``credit_lines``: ecl.yaml's credit_line_products."""
    stored = lake.partition_dates("curated", AGING)
    stored = [d for d in stored if lake.partition_file("raw", SNAPSHOT, d).exists()]
    dates = observation_dates(stored, start, end, fit)
    if not dates:
        raise UsageError(
            f"no observation date in [{start}, {end}] has its {fit.horizon_days}-day horizon "
            f"stored (stored history: {stored[0] if stored else '-'} to "
            f"{stored[-1] if stored else '-'})"
        )
    keep = ["snapshot_date", "loan_id", "account_status", *FEATURE_COLUMNS]
    frames = [day_features(lake, d, credit_lines).select(keep) for d in dates]
    observations = pl.concat(frames).filter(
        (pl.col("account_status") == "ACTIVE") & (pl.col("dpd") < fit.default_dpd)
    )
    last = dates[-1] + dt.timedelta(days=fit.horizon_days)
    defaults = default_days(lake, dates[0], last, fit.default_dpd)
    sample = with_target(observations, defaults, fit).sort("snapshot_date", "loan_id").collect()
    return sample


def split_out_of_time(
    sample: pl.DataFrame, holdout_share: float
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Train = the earlier observation dates, holdout = the last ``holdout_share`` of them."""
    dates = sample["snapshot_date"].unique().sort().to_list()
    n_holdout = max(1, round(len(dates) * holdout_share))
    if len(dates) - n_holdout < 1:
        raise UsageError(
            f"an out-of-time holdout needs at least 2 observation dates (got {len(dates)}); "
            "widen --from/--to or lower observation_every_days"
        )
    cut = dates[len(dates) - n_holdout]
    train = sample.filter(pl.col("snapshot_date") < cut)
    holdout = sample.filter(pl.col("snapshot_date") >= cut)
    for name, part in (("train", train), ("holdout", holdout)):
        events = int(part["target"].sum())
        if events == 0 or events == part.height:
            raise UsageError(f"the {name} sample has {events} defaults of {part.height}: no fit")
    return train, holdout
