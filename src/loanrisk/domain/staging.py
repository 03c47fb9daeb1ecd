"""One IFRS 9 stage per loan-day (DESIGN.md §5 v2): the aging rules' stage (dpd backstops,
forbearance, bankruptcy, stage-3 probation: ``loanrisk.domain.aging``,
``loanrisk.domain.probation``) raised
by the PD rule for a significant increase in credit risk, then held in stage 2 for
``stage2_probation_months``. ``score_loans`` decides it (it needs the day's PD) and writes it to
both ``loan_risk`` and ``loan_aging``, so every table and the report show the same stage.

The rules' stage is recomputed from loan_aging's own columns (dpd, account_status,
forbearance_type, bankruptcy_flag, stage3_probation), never read back from its ``ifrs9_stage``,
which this step overwrites: scoring a day twice gives the same bytes.

Input columns: those, snapshot_date, pd_12m, first_pd_12m and prev_last_stage2_date (the previous
processed day's ``loan_risk.last_stage2_date``).
"""

from __future__ import annotations

import polars as pl

from loanrisk.domain.aging import ifrs9_stage
from loanrisk.domain.classification import ClassificationConfig
from loanrisk.domain.ecl import EclPolicy


def significant_increase(policy: EclPolicy) -> pl.Expr:
    """IFRS 9 5.5.3 SICR by PD: pd_12m >= max(relative_multiplier x first_pd_12m,
    first_pd_12m + absolute_increase); false without a first PD or a current PD."""
    first = pl.col("first_pd_12m")
    rule = policy.sicr
    threshold = pl.max_horizontal(first * rule.relative_multiplier, first + rule.absolute_increase)
    return (pl.col("pd_12m") >= threshold).fill_null(False).alias("sicr")


def _stage_by_rules(policy: EclPolicy) -> pl.Expr:
    """The aging stage, raised from 1 to 2 by the SICR PD rule; null for closed loans."""
    stage = pl.col("ifrs9_stage")
    return pl.when((stage == 1) & significant_increase(policy)).then(2).otherwise(stage)


def last_stage2_date(policy: EclPolicy) -> pl.Expr:
    """Latest processed day a stage-2-or-3 condition held (today when one does, else carried);
    null for closed loans."""
    today, stage = pl.col("snapshot_date"), _stage_by_rules(policy)
    carried = pl.when(stage.is_not_null()).then(pl.col("prev_last_stage2_date"))
    return pl.when(stage >= 2).then(today).otherwise(carried).alias("last_stage2_date")


def loan_day_stage(policy: EclPolicy, stage2_probation_months: int) -> pl.Expr:
    """IFRS 9 stage of the loan-day: the rules' stage with the PD rule, kept at 2 until
    ``stage2_probation_months`` have passed since the last day a stage-2 condition held."""
    stage = _stage_by_rules(policy)
    until = pl.col("prev_last_stage2_date").dt.offset_by(f"{stage2_probation_months}mo")
    held = (stage == 1) & (pl.col("snapshot_date") < until).fill_null(False)
    return pl.when(held).then(2).otherwise(stage).cast(pl.Int32).alias("ifrs9_stage")


def rules_stage(policy: ClassificationConfig) -> pl.Expr:
    """The aging rules' stage (``loanrisk.domain.aging.ifrs9_stage``), 3 while in stage-3
    probation."""
    held = pl.col("stage3_probation").fill_null(False)
    return pl.when(held).then(3).otherwise(ifrs9_stage(policy)).cast(pl.Int32).alias("ifrs9_stage")


def with_loan_day_stage(
    loans: pl.LazyFrame, policy: EclPolicy, classification: ClassificationConfig
) -> pl.LazyFrame:
    """``loans`` with the final ``ifrs9_stage`` and ``last_stage2_date`` (input order kept)."""
    months = classification.ifrs9.stage2_probation_months
    return (
        loans.with_columns(rules_stage(classification))
        .with_columns(loan_day_stage(policy, months), last_stage2_date(policy))
        .drop("prev_last_stage2_date")
    )
