"""Delinquency aging and classification rules (DESIGN.md §5) as Polars expressions.

Each function returns an expression over a typed loan snapshot; none does I/O. Policy numbers
come from ``config/classification.yaml``.
"""

from __future__ import annotations

import polars as pl

from loanrisk.domain.classification import FIVE_CATEGORY_ORDER, ClassificationConfig
from loanrisk.domain.money import MONEY

_WRITTEN_OFF = pl.col("account_status") == "WRITTEN_OFF"
_CLOSED = pl.col("account_status") == "CLOSED"
_FORBORNE = pl.col("forbearance_type") != "NONE"


def overdue_amount() -> pl.Expr:
    """DESIGN.md §5: overdue_amount = overdue_principal + overdue_interest + overdue_fees."""
    total = pl.col("overdue_principal") + pl.col("overdue_interest") + pl.col("overdue_fees")
    return total.cast(MONEY).alias("overdue_amount")


def days_past_due(policy: ClassificationConfig) -> pl.Expr:
    """DESIGN.md §5: snapshot_date - oldest_unpaid_due_date when overdue above materiality."""
    overdue = (
        pl.col("overdue_principal") + pl.col("overdue_interest") + pl.col("overdue_fees")
    ) > pl.lit(policy.materiality_amount, dtype=MONEY)
    elapsed = (pl.col("snapshot_date") - pl.col("oldest_unpaid_due_date")).dt.total_days()
    past_due = pl.col("oldest_unpaid_due_date").is_not_null() & overdue & (elapsed > 0)
    return pl.when(past_due).then(elapsed).otherwise(0).cast(pl.Int32).alias("dpd")


def aging_bucket(policy: ClassificationConfig, dpd: pl.Expr | None = None) -> pl.Expr:
    """DESIGN.md §5 aging buckets M0..M7 by dpd; WO for written-off, CLOSED for closed loans."""
    dpd = pl.col("dpd") if dpd is None else dpd
    expr = pl.when(_WRITTEN_OFF).then(pl.lit(policy.written_off_bucket))
    expr = expr.when(_CLOSED).then(pl.lit(policy.closed_bucket))
    for bucket in policy.aging_buckets:
        if bucket.max_dpd is None:
            return expr.otherwise(pl.lit(bucket.name)).alias("aging_bucket")
        expr = expr.when(dpd <= bucket.max_dpd).then(pl.lit(bucket.name))
    raise AssertionError("config validation guarantees an open-ended last bucket")


def _category_rank(name: str) -> int:
    return FIVE_CATEGORY_ORDER.index(name)


def five_category(policy: ClassificationConfig, dpd: pl.Expr | None = None) -> pl.Expr:
    """China 2023 risk-classification measures (retail, DPD-driven; the dpd thresholds of the
    profile in force) with forbearance and bankruptcy floors; every written-off loan is LOSS,
    closed loans are null."""
    dpd = pl.col("dpd") if dpd is None else dpd
    rules, edges = policy.five_category, policy.five_category.thresholds
    by_dpd = (
        pl.when(dpd >= edges.loss_min_dpd)
        .then(_category_rank("LOSS"))
        .when(dpd >= edges.doubtful_min_dpd)
        .then(_category_rank("DOUBTFUL"))
        .when(dpd >= edges.substandard_min_dpd)
        .then(_category_rank("SUBSTANDARD"))
        .when(dpd >= edges.special_mention_min_dpd)
        .then(_category_rank("SPECIAL_MENTION"))
        .otherwise(_category_rank("NORMAL"))
    )
    floors = pl.max_horizontal(
        by_dpd,
        pl.when(_FORBORNE).then(_category_rank(rules.forbearance_floor)).otherwise(0),
        pl.when(pl.col("bankruptcy_flag"))
        .then(_category_rank(rules.bankruptcy_floor))
        .otherwise(0),
    )
    rank = pl.when(_CLOSED).then(None).when(_WRITTEN_OFF).then(_category_rank("LOSS"))
    rank = rank.otherwise(floors)
    names = dict(enumerate(FIVE_CATEGORY_ORDER))
    return rank.replace_strict(names, return_dtype=pl.String).alias("five_category")


def is_npl(policy: ClassificationConfig) -> pl.Expr:
    """Non-performing = SUBSTANDARD, DOUBTFUL or LOSS (as configured); null for closed loans."""
    npl = pl.col("five_category").is_in(list(policy.five_category.npl_categories))
    return pl.when(pl.col("five_category").is_null()).then(None).otherwise(npl).alias("is_npl")


def ifrs9_stage(policy: ClassificationConfig, dpd: pl.Expr | None = None) -> pl.Expr:
    """IFRS 9 5.5.3 staging: 3 credit-impaired (dpd > 90, written off, bankrupt); 2 significant
    increase in credit risk (dpd > 30 backstop, forbearance); else 1; closed loans null."""
    dpd = pl.col("dpd") if dpd is None else dpd
    rules = policy.ifrs9
    stage3 = (dpd > rules.stage3_dpd_over) | _WRITTEN_OFF
    if rules.bankruptcy_is_stage3:
        stage3 = stage3 | pl.col("bankruptcy_flag")
    stage2 = dpd > rules.stage2_dpd_over
    if rules.forbearance_is_stage2:
        stage2 = stage2 | _FORBORNE
    stage = pl.when(_CLOSED).then(None).when(stage3).then(3).when(stage2).then(2).otherwise(1)
    return stage.cast(pl.Int32).alias("ifrs9_stage")


def loan_aging(snapshot: pl.LazyFrame, policy: ClassificationConfig) -> pl.LazyFrame:
    """The loan_aging table's rule columns added to a typed snapshot."""
    return (
        snapshot.with_columns(
            overdue_amount(),
            days_past_due(policy),
            pl.col("days_past_due").alias("days_past_due_reported"),
        )
        .with_columns(aging_bucket(policy), five_category(policy), ifrs9_stage(policy))
        .with_columns(
            is_npl(policy),
            pl.lit(None, dtype=pl.Int32).alias("episodes_12m"),
            pl.lit(None, dtype=pl.Int32).alias("max_dpd_12m"),
        )
    )
