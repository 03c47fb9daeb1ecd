"""The ``score_loans`` stage: a day's aged loans, snapshot and borrower signals -> ``loan_risk``
(score, PD, reason codes, signals, IFRS 9 ECL), ``risk_actions`` and ``score_monitoring``.

The first recorded PD of a loan (the SICR reference) is carried from the previous processed
day's ``loan_risk``, the way ``loan_state`` carries delinquency history: the day before or,
after an allowed gap, the latest stored day.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from loanrisk.config import Settings
from loanrisk.domain.ecl_measure import expected_credit_loss
from loanrisk.domain.features import FEATURE_COLUMNS, loan_features
from loanrisk.domain.feeds import LOANS
from loanrisk.domain.ordering import sorted_by
from loanrisk.domain.risk_actions import LOAN_COLUMNS as ACTION_INPUTS
from loanrisk.domain.risk_actions import risk_actions, with_line_frozen
from loanrisk.domain.score_monitoring import characteristic_drift, score_psi
from loanrisk.domain.scorecard import apply_scorecard
from loanrisk.domain.staging import with_loan_day_stage
from loanrisk.lake.extracts import write_extract_files, write_extract_manifest
from loanrisk.lake.shards import (
    Shard,
    drop_parts,
    in_shard,
    input_fingerprints,
    read_parts,
    write_part,
)
from loanrisk.lake.storage import Lake, write_table
from loanrisk.lake.tables import conformed, scan_partition_if_any, scan_partitions
from loanrisk.quality.contracts import load_contract

RISK, ACTIONS, MONITORING = "loan_risk", "risk_actions", "score_monitoring"
#: A shard's part of the day's scored loans: every column the combine step publishes from.
SCORED = "scored_loans"
SIGNALS = "borrower_signals"
#: Snapshot columns the ECL and the actions read besides the features.
TERMS = ("loan_id", "annual_interest_rate", "maturity_date", "last_payment_date")


def published_columns(settings: Settings) -> list[str]:
    """The scored-loan columns ``_publish_scores`` reads: loan_risk's, the scorecard features
    (score monitoring) and the actions' inputs. The others (points, the snapshot's amounts)
    are not carried: carrying them costs time and memory for nothing."""
    risk = load_contract(settings.contracts_dir, RISK).column_names
    return list(dict.fromkeys([*risk, *FEATURE_COLUMNS, *ACTION_INPUTS]))


def previous_risk_date(lake: Lake, business_date: dt.date) -> dt.date | None:
    earlier = [d for d in lake.partition_dates("curated", RISK) if d < business_date]
    return earlier[-1] if earlier else None


def scoring_inputs(lake: Lake, business_date: dt.date) -> list:
    """The files a day's scoring reads: aging, snapshot, signals and the previous loan_risk."""
    inputs = [
        *lake.partition_files("curated", "loan_aging", business_date),
        *lake.partition_files("raw", LOANS, business_date),
        *lake.partition_files("curated", SIGNALS, business_date),
    ]
    if (previous := previous_risk_date(lake, business_date)) is not None:
        inputs += lake.partition_files("curated", RISK, previous)
    return inputs


def scored_loans(
    lake: Lake, settings: Settings, business_date: dt.date, shard: Shard | None = None
) -> pl.LazyFrame:
    """Features, score and PD, the first recorded PD, and ECL for every loan of the day (of
    ``shard``'s borrowers only, when given)."""
    aging = scan_partitions(lake, "curated", "loan_aging", [business_date], run="age_loans")
    snapshot = scan_partitions(lake, "raw", LOANS, [business_date], run="validate")
    policies = settings.risk
    signals = scan_partition_if_any(lake, "curated", SIGNALS, business_date)
    lines = policies.ecl.credit_line_products
    features = loan_features(
        in_shard(aging, shard), snapshot, signals, carried=TERMS, credit_lines=lines
    )
    scored = apply_scorecard(features, policies.scorecard)
    previous = previous_risk_date(lake, business_date)
    if previous is None:
        first, last2 = pl.col("pd_12m"), pl.lit(None, dtype=pl.Date)
    else:
        earlier = scan_partitions(lake, "curated", RISK, [previous], run="score_loans").select(
            "loan_id",
            pl.col("first_pd_12m").alias("earlier_pd_12m"),
            pl.col("last_stage2_date").alias("earlier_stage2_date"),
        )
        scored = scored.join(earlier, on="loan_id", how="left", maintain_order="left")
        first, last2 = pl.coalesce("earlier_pd_12m", "pd_12m"), pl.col("earlier_stage2_date")
    scored = scored.with_columns(first.alias("first_pd_12m"), last2.alias("prev_last_stage2_date"))
    staged = with_loan_day_stage(scored, policies.ecl, settings.classification)
    loans = expected_credit_loss(with_line_frozen(staged, policies.actions), policies.ecl)
    return loans.select(published_columns(settings))


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


def score_day(lake: Lake, settings: Settings, business_date: dt.date) -> dict:
    """Compute and write the day's loan_risk, risk_actions and score_monitoring."""
    loans = sorted_by(scored_loans(lake, settings, business_date).collect(), "loan_id")
    return _publish_scores(lake, settings, business_date, loans)


def score_shard(lake: Lake, settings: Settings, business_date: dt.date, shard: Shard) -> dict:
    """Score one shard's loans into its part (``loanrisk.lake.shards``)."""
    loans = scored_loans(lake, settings, business_date, shard).collect()
    inputs = input_fingerprints(lake, scoring_inputs(lake, business_date))
    part = write_part(lake, SCORED, business_date, shard, loans, inputs)
    return {"shard": shard.label, "rows_out": loans.height, "output": part}


def combine_scores(lake: Lake, settings: Settings, business_date: dt.date, count: int) -> dict:
    """Publish the day's loan_risk, risk_actions and score_monitoring from ``count`` parts."""
    inputs = input_fingerprints(lake, scoring_inputs(lake, business_date))
    loans = read_parts(lake, SCORED, business_date, count, inputs)
    report = _publish_scores(lake, settings, business_date, loans)
    drop_parts(lake, SCORED, business_date)
    return report


def restage_aging(lake: Lake, business_date: dt.date, loans: pl.DataFrame) -> dict:
    """Rewrite the day's loan_aging with the loan-day's stage (the PD rule included), so
    loan_aging and loan_risk show one stage (DESIGN.md §5 v2)."""
    aging = lake.read("curated", "loan_aging", business_date)
    final = loans.select("loan_id", pl.col("ifrs9_stage").alias("_final"))
    staged = aging.join(final, on="loan_id", how="left", maintain_order="left")
    staged = staged.with_columns(pl.col("_final").alias("ifrs9_stage")).drop("_final")
    return write_table(lake, "curated", "loan_aging", business_date, staged)


def _publish_scores(
    lake: Lake, settings: Settings, business_date: dt.date, loans: pl.DataFrame
) -> dict:
    """loan_risk, risk_actions (and their extract) and score_monitoring of the scored loans."""
    card = settings.risk.scorecard
    contracts = settings.contracts_dir
    risk = conformed(contracts, RISK, loans.lazy()).sort("loan_id").collect()
    actions = conformed(
        contracts, ACTIONS, risk_actions(loans.lazy(), settings.risk.actions)
    ).collect()
    monitoring = pl.concat(
        [
            score_psi(loans.lazy(), card)
            .rename({"band_no": "bin_no", "band": "bin", "psi": "stability_index"})
            .with_columns(pl.lit("score").alias("characteristic")),
            characteristic_drift(loans.lazy(), card).rename(
                {"feature": "characteristic", "csi": "stability_index"}
            ),
        ],
        how="diagonal",
    )
    monitoring = conformed(contracts, MONITORING, monitoring)
    return {
        "rows_out": risk.height,
        "scorecard_version": card.version,
        "output": write_table(lake, "curated", RISK, business_date, risk),
        "loan_aging": restage_aging(lake, business_date, risk),
        "actions": write_table(lake, "curated", ACTIONS, business_date, actions),
        "actions_extract": write_actions_extract(lake, settings, business_date, actions),
        "monitoring": write_table(lake, "curated", MONITORING, business_date, monitoring.collect()),
    }
