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
from loanrisk.domain.risk_actions import with_line_frozen
from loanrisk.domain.scorecard import apply_scorecard
from loanrisk.domain.staging import with_loan_day_stage
from loanrisk.lake.shards import Shard, in_shard, input_fingerprints, own_rows
from loanrisk.lake.storage import Lake, write_table
from loanrisk.lake.tables import scan_partition_if_any, scan_partitions
from loanrisk.pipeline.risk_shards import (
    ACTIONS,
    AGING,
    MONITORING,
    RISK,
    actions_table,
    monitoring_counts,
    monitoring_table,
    publish_score_parts,
    restaged,
    risk_table,
    write_actions_extract,
    write_score_parts,
)
from loanrisk.pipeline.validation_shards import raw_table
from loanrisk.quality.contracts import load_contract

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
    # Every input cut to the shard's borrowers (a loan's borrower is fixed, as the aging's
    # carried state assumes): a shard task reads its own rows, never the book's.
    if signals is not None:
        signals = in_shard(signals, shard)
    aging = own_rows(lake, aging, ("curated", AGING, business_date), AGING, shard)
    raw = ("raw", LOANS, business_date)
    features = loan_features(
        aging,
        own_rows(lake, snapshot, raw, raw_table(LOANS), shard),
        signals,
        carried=TERMS,
        credit_lines=lines,
    )
    scored = apply_scorecard(features, policies.scorecard)
    previous = previous_risk_date(lake, business_date)
    if previous is None:
        first, last2 = pl.col("pd_12m"), pl.lit(None, dtype=pl.Date)
    else:
        earlier = scan_partitions(lake, "curated", RISK, [previous], run="score_loans")
        earlier = in_shard(earlier, shard).select(
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


def score_day(lake: Lake, settings: Settings, business_date: dt.date) -> dict:
    """Compute and write the day's loan_risk, risk_actions and score_monitoring (and restage
    loan_aging) in one process."""
    loans = sorted_by(scored_loans(lake, settings, business_date).collect(), "loan_id")
    return _publish_scores(lake, settings, business_date, loans)


def score_shard(lake: Lake, settings: Settings, business_date: dt.date, shard: Shard) -> dict:
    """Score one shard's loans into its parts of every table ``score_loans`` publishes
    (``risk_shards.write_score_parts``); reads only the shard's borrowers' rows."""
    inputs = input_fingerprints(lake, scoring_inputs(lake, business_date))
    loans = scored_loans(lake, settings, business_date, shard).collect()
    return write_score_parts(lake, settings, business_date, shard, loans, inputs)


def combine_scores(lake: Lake, settings: Settings, business_date: dt.date, count: int) -> dict:
    """Publish the day's loan_risk, risk_actions, score_monitoring and restaged loan_aging from
    ``count`` shards' parts, a file's rows at a time: the bytes and record of ``score_day``."""
    inputs = input_fingerprints(lake, scoring_inputs(lake, business_date))
    return publish_score_parts(lake, settings, business_date, count, inputs)


def restage_aging(lake: Lake, business_date: dt.date, risk: pl.DataFrame) -> dict:
    """Rewrite the day's loan_aging with the loan-day's stage (``risk_shards.restaged``)."""
    staged = restaged(lake.scan("curated", AGING, business_date), risk)
    return write_table(lake, "curated", AGING, business_date, staged)


def _publish_scores(
    lake: Lake, settings: Settings, business_date: dt.date, loans: pl.DataFrame
) -> dict:
    """loan_risk, risk_actions (and their extract) and score_monitoring of the scored loans."""
    card = settings.risk.scorecard
    risk = risk_table(settings, loans)
    actions = actions_table(settings, loans)
    monitoring = monitoring_table(settings, monitoring_counts(loans, card).lazy())
    return {
        "rows_out": risk.height,
        "scorecard_version": card.version,
        "output": write_table(lake, "curated", RISK, business_date, risk),
        "loan_aging": restage_aging(lake, business_date, risk),
        "actions": write_table(lake, "curated", ACTIONS, business_date, actions),
        "actions_extract": write_actions_extract(lake, settings, business_date, actions),
        "monitoring": write_table(lake, "curated", MONITORING, business_date, monitoring),
    }
