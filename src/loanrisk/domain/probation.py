"""Upgrade probation (DESIGN.md §5 v2): a loan's class and stage do not improve the day its
arrears clear. Pure Polars; the state is carried day to day in ``loan_state``.

Sources:

* Five-category upgrades: 《商业银行金融资产风险分类办法》 (CBIRC/PBoC Order [2023] No. 1),
  Art. 13: a non-performing asset is upgraded to normal or special mention only when it meets
  that category's definition and (1) its overdue debt and charges are repaid in full and it has
  then paid normally for at least two consecutive repayment periods or six months, (2) the
  borrower is assessed able to keep performing, (3) the borrower has no other credit-impaired
  asset with the bank. (1) and (3) are rules here; (2) is a credit officer's judgement that no
  snapshot column carries, so it is left to the bank's override process.
* IFRS 9 5.5.3 / B5.5.27 and the stage-3 cure practice (EBA/GL/2016/07 §71: three months): a
  loan leaves stage 3 only after ``stage3_probation_months`` at dpd 0 after its arrears cleared;
  stage 2 is left after ``stage2_probation_months`` (``loanrisk.domain.staging``).

Definitions (all on processed days; "rule" = the dpd rule of ``loanrisk.domain.aging`` with its
floors):

* *cure* of a held loan: the first processed day at dpd 0 after a day past due; a day past due
  again ends the probation (``npl_cure_date`` and ``stage3_cure_date`` go back to null);
* *scheduled repayment paid on time*: a day after the cure, still at dpd 0, on which the loan's
  ``next_due_date`` moved forward (an instalment, or a credit line's statement, paid in full);
* *held class*: while the previous day's class is non-performing and the upgrade conditions are
  not all met, the class is the worse of the rule class and the previous class;
* conditions: dpd 0, ``repayments_since_cure >= npl_upgrade_min_repayments``, at least
  ``npl_upgrade_min_months`` since the cure, and no other ACTIVE loan of the borrower in stage 3
  by rule (credit-impaired);
* forbearance floor: kept for ``forbearance_observation_months`` after the last forborne day.
"""

from __future__ import annotations

import polars as pl

from loanrisk.domain.classification import FIVE_CATEGORY_ORDER, ClassificationConfig

#: The probation columns ``loan_state`` carries (besides the history of
#: ``loanrisk.domain.history``).
PROBATION_SCHEMA = pl.Schema(
    {
        "loan_id": pl.String(),
        "five_category": pl.String(),
        "credit_impaired": pl.Boolean(),
        "next_due_date": pl.Date(),
        "npl_cure_date": pl.Date(),
        "repayments_since_cure": pl.Int32(),
        "stage3_cure_date": pl.Date(),
        "last_forborne_date": pl.Date(),
    }
)

#: The aged-loan columns probation reads (the rule class and stage before any hold).
PROBATION_INPUTS = (
    "loan_id",
    "borrower_id",
    "snapshot_date",
    "account_status",
    "dpd",
    "five_category",
    "ifrs9_stage",
    "forbearance_type",
    "next_due_date",
)

_RANK = {name: rank for rank, name in enumerate(FIVE_CATEGORY_ORDER)}


def _rank(column: str) -> pl.Expr:
    return pl.col(column).replace_strict(_RANK, default=None, return_dtype=pl.Int8)


def _name(rank: pl.Expr) -> pl.Expr:
    return rank.replace_strict(dict(enumerate(FIVE_CATEGORY_ORDER)), return_dtype=pl.String)


def _months_after(date: pl.Expr, months: int) -> pl.Expr:
    return date.dt.offset_by(f"{months}mo")


def _active() -> pl.Expr:
    return pl.col("account_status") == "ACTIVE"


def forbearance_observed(policy: ClassificationConfig) -> list[pl.Expr]:
    """DESIGN.md §5 v2: the forbearance floor holds ``forbearance_observation_months`` after
    the last forborne day; adds ``last_forborne_date`` and raises ``_rule_rank`` to the floor."""
    rules = policy.five_category
    today = pl.col("snapshot_date")
    last = pl.when(pl.col("forbearance_type") != "NONE").then(today)
    last = last.otherwise(pl.col("prev_last_forborne_date"))
    observed = _active() & (today < _months_after(last, rules.forbearance_observation_months))
    floor = pl.when(observed.fill_null(False)).then(_RANK[rules.forbearance_floor]).otherwise(0)
    return [
        last.alias("last_forborne_date"),
        pl.max_horizontal(_rank("five_category"), floor).alias("_rule_rank"),
    ]


def upgrade_progress() -> list[pl.Expr]:
    """``npl_cure_date`` and ``repayments_since_cure`` of a loan held non-performing (the
    previous day's class NPL): the cure day starts both; a day past due clears both."""
    held = pl.col("_prev_npl") & _active()
    cured = held & (pl.col("dpd") == 0)
    first_day = cured & pl.col("prev_npl_cure_date").is_null()
    paid = pl.col("next_due_date") > pl.col("prev_next_due_date")
    count = pl.col("prev_repayments_since_cure") + paid.fill_null(False).cast(pl.Int32)
    return [
        pl.when(first_day)
        .then(pl.col("snapshot_date"))
        .when(cured)
        .then(pl.col("prev_npl_cure_date"))
        .alias("npl_cure_date"),
        pl.when(first_day)
        .then(0)
        .when(cured)
        .then(count)
        .cast(pl.Int32)
        .alias("repayments_since_cure"),
    ]


def upgrade_allowed(policy: ClassificationConfig) -> pl.Expr:
    """2023 measures Art. 13 (1) and (3): arrears cleared and then N repayments and M months
    paid normally, and no other credit-impaired (stage 3 by rule) ACTIVE loan of the borrower."""
    rules = policy.five_category
    impaired = (_active() & (pl.col("ifrs9_stage") == 3)).cast(pl.Int32)
    others_impaired = (impaired.sum().over("borrower_id") - impaired) > 0
    return (
        (pl.col("dpd") == 0)
        & (pl.col("repayments_since_cure") >= rules.npl_upgrade_min_repayments)
        & (
            pl.col("snapshot_date")
            >= _months_after(pl.col("npl_cure_date"), rules.npl_upgrade_min_months)
        )
        & ~others_impaired
    ).fill_null(False)


def held_five_category(policy: ClassificationConfig) -> list[pl.Expr]:
    """The day's class: the rule class, or while the upgrade conditions are unmet after a
    non-performing day, the worse of it and the previous class; ``npl_probation`` marks a loan
    whose class is held above its rule class."""
    held = pl.col("_prev_npl") & _active() & ~upgrade_allowed(policy)
    rank = pl.when(held).then(pl.max_horizontal("_rule_rank", "_prev_rank"))
    rank = rank.otherwise(pl.col("_rule_rank"))
    closed = pl.col("five_category").is_null()
    return [
        pl.when(closed).then(None).otherwise(_name(rank)).alias("five_category"),
        (held & (pl.col("_prev_rank") > pl.col("_rule_rank")))
        .fill_null(False)
        .alias("npl_probation"),
    ]


def held_stage(policy: ClassificationConfig) -> list[pl.Expr]:
    """IFRS 9 stage 3 held ``stage3_probation_months`` after the arrears of a credit-impaired
    loan cleared (dpd 0 throughout); ``stage3_probation`` marks a loan held in stage 3."""
    months = policy.ifrs9.stage3_probation_months
    was_impaired = pl.col("prev_credit_impaired").fill_null(False) & _active()
    rule_stage3 = pl.col("ifrs9_stage") == 3
    cured = was_impaired & ~rule_stage3 & (pl.col("dpd") == 0)
    cure_date = pl.coalesce("prev_stage3_cure_date", "snapshot_date")
    cure_date = pl.when(cured).then(cure_date)
    probation = cured & (pl.col("snapshot_date") < _months_after(cure_date, months))
    held = was_impaired & ~rule_stage3 & ((pl.col("dpd") > 0) | probation)
    stage = pl.when(held).then(3).otherwise(pl.col("ifrs9_stage")).cast(pl.Int32)
    return [
        cure_date.alias("stage3_cure_date"),
        stage.alias("ifrs9_stage"),
        held.fill_null(False).alias("stage3_probation"),
    ]


def _with_previous(today: pl.LazyFrame, previous: pl.LazyFrame | None) -> pl.LazyFrame:
    prev = pl.LazyFrame(schema=PROBATION_SCHEMA) if previous is None else previous
    prev = prev.select(
        "loan_id", *(pl.col(c).alias(f"prev_{c}") for c in PROBATION_SCHEMA.names()[1:])
    )
    joined = today.join(prev, on="loan_id", how="left", maintain_order="left")
    return joined.with_columns(_rank("prev_five_category").alias("_prev_rank"))


def with_probation(
    aged: pl.LazyFrame, previous: pl.LazyFrame | None, policy: ClassificationConfig
) -> pl.LazyFrame:
    """Aged loans (rule class and stage) with the day's held ``five_category`` and
    ``ifrs9_stage``, ``npl_probation``, ``stage3_probation`` and the new probation state
    columns; ``previous``: the previous processed day's ``loan_state`` (None on the first day)."""
    npl = set(policy.five_category.npl_categories)
    joined = _with_previous(aged, previous).with_columns(
        pl.col("prev_five_category").is_in(list(npl)).fill_null(False).alias("_prev_npl")
    )
    return (
        joined.with_columns(forbearance_observed(policy))
        .with_columns(upgrade_progress())
        .with_columns(held_five_category(policy))
        .with_columns(held_stage(policy))
        .with_columns((pl.col("ifrs9_stage") == 3).alias("credit_impaired"))
        .drop(pl.selectors.starts_with("prev_", "_"))
    )


def carried_probation(state: pl.LazyFrame | None) -> pl.LazyFrame | None:
    """The probation columns of a stored ``loan_state`` (None when there is none, or it was
    written before probation was kept: probation then starts afresh)."""
    if state is None or not set(PROBATION_SCHEMA.names()) <= set(state.collect_schema().names()):
        return None
    return state.select(PROBATION_SCHEMA.names())


def probation_state(aged: pl.LazyFrame) -> pl.LazyFrame:
    """The probation columns of the day's loans, for ``loan_state``."""
    return aged.select(PROBATION_SCHEMA.names()).cast(dict(PROBATION_SCHEMA))
