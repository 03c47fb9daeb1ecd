"""The tables ``score_loans`` publishes, built from scored loans, and their shard parts.

Unsharded, ``risk_stage.score_day`` builds each table from the day's scored loans. With K shards
each ``score_loans_shard`` task writes its borrowers' part of every table (``write_score_parts``)
and ``score_loans`` puts them together (``publish_score_parts``) holding at most one file's rows:

- ``loan_risk`` and the restaged ``loan_aging`` (by loan_id) and ``risk_actions`` (by borrower
  and action: its rules are per borrower, and a borrower's loans are all in one shard) are
  k-way merges of sorted parts (``lake.shards.combine_parts``);
- ``score_monitoring`` is computed from the shards' bin counts, summed (the PSI and CSI read
  counts only, so the sum gives the whole day's index).

Either way the same bytes (``tests/test_score_shards.py``).
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from loanrisk.config import Settings
from loanrisk.domain.risk_actions import risk_actions
from loanrisk.domain.score_monitoring import (
    characteristic_drift_of_counts,
    feature_counts,
    score_counts,
    score_psi_of_counts,
    summed_counts,
)
from loanrisk.domain.scorecard import Scorecard
from loanrisk.lake.extracts import write_extract_files, write_extract_manifest
from loanrisk.lake.shards import (
    Shard,
    checked_parts,
    combine_parts,
    drop_parts,
    own_rows,
    write_part,
)
from loanrisk.lake.storage import Lake, write_table
from loanrisk.lake.tables import conformed

RISK, ACTIONS, MONITORING, AGING = "loan_risk", "risk_actions", "score_monitoring", "loan_aging"
#: The part tables of a shard, by the published table each makes (``age_loans`` has parts
#: named loan_aging of its own, so the restaged aging's are named apart).
RISK_PART, ACTIONS_PART = "scored_loan_risk", "scored_risk_actions"
AGING_PART, COUNTS_PART = "restaged_loan_aging", "score_monitoring_counts"
PARTS = (RISK_PART, ACTIONS_PART, AGING_PART, COUNTS_PART)
#: risk_actions' order (``domain.risk_actions.risk_actions``): its merge key.
ACTIONS_KEY = ["borrower_id", "action"]
#: A part of the monitoring counts: ``feature`` null for the score's bands.
COUNT_COLUMNS = ("snapshot_date", "feature", "bin_no", "count")


def risk_table(settings: Settings, loans: pl.DataFrame) -> pl.DataFrame:
    """``loan_risk`` of scored loans: its contract's columns, by loan_id."""
    return conformed(settings.contracts_dir, RISK, loans.lazy()).sort("loan_id").collect()


def actions_table(settings: Settings, loans: pl.DataFrame) -> pl.DataFrame:
    """``risk_actions`` of scored loans (all of each borrower's), by borrower and action."""
    actions = risk_actions(loans.lazy(), settings.risk.actions)
    return conformed(settings.contracts_dir, ACTIONS, actions).collect()


def restaged(aging: pl.LazyFrame, risk: pl.DataFrame) -> pl.DataFrame:
    """``aging`` with the loan-day's stage of ``risk`` (the PD rule included), so loan_aging and
    loan_risk show one stage (DESIGN.md §5 v2); in ``aging``'s order."""
    final = risk.lazy().select("loan_id", pl.col("ifrs9_stage").alias("_final"))
    staged = aging.join(final, on="loan_id", how="left", maintain_order="left")
    return staged.with_columns(pl.col("_final").alias("ifrs9_stage")).drop("_final").collect()


def monitoring_counts(loans: pl.DataFrame, card: Scorecard) -> pl.DataFrame:
    """The bin counts of the score (``feature`` null) and of each feature, in a fixed order."""
    score = score_counts(loans.lazy(), card).with_columns(pl.lit(None, pl.String).alias("feature"))
    counts = pl.concat(
        [score.select(COUNT_COLUMNS), feature_counts(loans.lazy(), card).select(COUNT_COLUMNS)]
    )
    return counts.sort("snapshot_date", "feature", "bin_no", nulls_last=False).collect()


def monitoring_table(settings: Settings, counts: pl.LazyFrame) -> pl.DataFrame:
    """``score_monitoring`` (score PSI, then each feature's CSI) of the summed ``counts``."""
    card = settings.risk.scorecard
    summed = summed_counts(counts, ["snapshot_date", "feature"])
    score = summed.filter(pl.col("feature").is_null()).drop("feature")
    features = summed.filter(pl.col("feature").is_not_null())
    monitoring = pl.concat(
        [
            score_psi_of_counts(score, card)
            .rename({"band_no": "bin_no", "band": "bin", "psi": "stability_index"})
            .with_columns(pl.lit("score").alias("characteristic")),
            characteristic_drift_of_counts(features, card).rename(
                {"feature": "characteristic", "csi": "stability_index"}
            ),
        ],
        how="diagonal",
    )
    return conformed(settings.contracts_dir, MONITORING, monitoring).collect()


def write_actions_extract(
    lake: Lake, settings: Settings, business_date: dt.date, actions: pl.DataFrame
) -> dict:
    """``extracts/risk_actions/D/``: risk_actions.csv/.parquet and their manifest."""
    files = write_extract_files(lake, ACTIONS, business_date, ACTIONS, actions)
    totals = {
        "rows": actions.height,
        "borrowers": actions["borrower_id"].n_unique(),
        "by_action": dict(sorted(actions["action"].value_counts().iter_rows())),
    }
    manifest = write_extract_manifest(
        lake, settings, ACTIONS, business_date, files, totals, [business_date]
    )
    return {"manifest": manifest["path"], "files": files}


def write_score_parts(
    lake: Lake,
    settings: Settings,
    business_date: dt.date,
    shard: Shard,
    loans: pl.DataFrame,
    inputs: dict,
) -> dict:
    """One shard's parts of every table ``score_loans`` publishes, from its scored ``loans``
    (all of its borrowers' loans) and the day's loan_aging (its borrowers' rows only)."""
    risk = risk_table(settings, loans)
    aging = lake.scan("curated", AGING, business_date)
    aging = restaged(own_rows(lake, aging, ("curated", AGING, business_date), AGING, shard), risk)
    counts = monitoring_counts(loans, settings.risk.scorecard)
    day, actions = business_date, actions_table(settings, loans)
    return {
        "shard": shard.label,
        "rows_out": risk.height,
        "output": write_part(lake, RISK_PART, day, shard, risk, inputs),
        "actions": write_part(lake, ACTIONS_PART, day, shard, actions, inputs),
        "loan_aging": write_part(lake, AGING_PART, day, shard, aging, inputs),
        "monitoring": write_part(lake, COUNTS_PART, day, shard, counts, inputs),
    }


def publish_score_parts(
    lake: Lake, settings: Settings, business_date: dt.date, count: int, inputs: dict
) -> dict:
    """loan_risk, risk_actions (and their extract), score_monitoring and the restaged loan_aging
    from ``count`` shards' parts, which must all be there and computed from ``inputs``."""
    day = business_date
    parts = {table: checked_parts(lake, table, day, count, inputs) for table in PARTS}
    risk = combine_parts(lake, RISK_PART, day, count, inputs, ["loan_id"], name=RISK)
    actions = combine_parts(lake, ACTIONS_PART, day, count, inputs, ACTIONS_KEY, name=ACTIONS)
    # The extract is written from the published table: it holds the day's actions (about a
    # row per borrower), which the CSV and its Parquet copy are written from whole.
    extract = write_actions_extract(lake, settings, day, lake.read("curated", ACTIONS, day))
    files = [f for part in parts[COUNTS_PART] for f in part]
    monitoring = monitoring_table(settings, pl.scan_parquet(files, glob=False))
    monitoring = write_table(lake, "curated", MONITORING, day, monitoring)
    # Last: loan_aging is an input of the parts, which are stale once it is rewritten.
    aging = combine_parts(lake, AGING_PART, day, count, inputs, ["loan_id"], name=AGING)
    for table in (ACTIONS_PART, COUNTS_PART):  # loan_risk's and loan_aging's are kept for
        drop_parts(lake, table, day)  # the collections shards (``own_rows``)
    return {
        "rows_out": risk["rows"],
        "scorecard_version": settings.risk.scorecard.version,
        "output": risk,
        "loan_aging": aging,
        "actions": actions,
        "actions_extract": extract,
        "monitoring": monitoring,
    }
