"""IFRS 9 expected credit loss per loan: the measure each stage uses (DESIGN.md §5). Pure
Polars; the building blocks are in ``loanrisk.domain.ecl``, the stage in
``loanrisk.domain.staging``.

Input columns: loan_id, snapshot_date, product_code, account_status, outstanding_principal,
overdue_interest, overdue_fees, credit_limit, annual_interest_rate, maturity_date, ifrs9_stage
(the loan-day's final stage), pd_12m and line_frozen (the borrower's lines are frozen by
FREEZE_LINE today: ``loanrisk.domain.risk_actions.with_line_frozen``; null counts as not frozen).

Written-off loans are derecognised (IFRS 9 5.4.4, DESIGN.md §5 v2): ead, ecl_12m, ecl_lifetime
and ecl are 0.00, pd_lifetime is null (nothing left to default), lgd is the product's and
ecl_stage their stage (3). CLOSED loans (no stage) get nulls in every ECL column.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

import polars as pl

from loanrisk.domain.ecl import (
    EXACT,
    TERM_COLUMNS,
    EclPolicy,
    derecognised,
    discounted_shortfall,
    exposure_at_default,
    lgd,
    lifetime_pd,
    loan_terms,
    power,
    projection_schedule,
)
from loanrisk.domain.money import MONEY

#: Columns ``expected_credit_loss`` adds, in order.
ECL_COLUMNS = ("ead", "lgd", "pd_lifetime", "ecl_12m", "ecl_lifetime", "ecl_stage", "ecl")


def ecl_stage() -> pl.Expr:
    """The stage the ECL is measured at: the loan-day's one IFRS 9 stage
    (``loanrisk.domain.staging``,
    the PD rule included, decided before the ECL); null for closed loans."""
    return pl.col("ifrs9_stage").cast(pl.Int32).alias("ecl_stage")


def _money(amount: pl.Expr) -> pl.Expr:
    """Float amount rounded half-to-even to the cent, as Decimal(18,2)."""
    return amount.round(2, mode="half_to_even").cast(MONEY)


def stage_measure() -> pl.Expr:
    """IFRS 9 5.5.3/5.5.5, B5.5.33: stage 1 -> 12-month ECL, stage 2 -> lifetime ECL, stage 3
    (credit-impaired) -> LGD x EAD in exact decimal, half-to-even to the cent."""
    stage = pl.col("ecl_stage")
    impaired = (pl.col("ead").cast(EXACT) * pl.col("_lgd_exact")).round(2)
    return (
        pl.when(stage == 1)
        .then(pl.col("ecl_12m"))
        .when(stage == 2)
        .then(pl.col("ecl_lifetime"))
        .when(stage == 3)
        .then(impaired.cast(MONEY))
        .alias("ecl")
    )


def _exact_lgd(policy: EclPolicy) -> pl.Expr:
    """LGD as Decimal(38,8) (the configured decimal, not its binary float) for stage 3."""
    exact = {k: Decimal(str(v)).quantize(Decimal("1E-8")) for k, v in policy.lgd.items()}
    return pl.col("product_code").replace_strict(exact, return_dtype=EXACT).alias("_lgd_exact")


def _geometric(x: pl.Expr, m: pl.Expr) -> pl.Expr:
    """G(x, m) = 1 + x + ... + x^(m-1) = (1 - x^m) / (1 - x); m when x = 1 (x in [0, 1])."""
    return pl.when(x < 1.0).then((1.0 - power(x, m)) / (1.0 - x)).otherwise(m.cast(pl.Float64))


def closed_form_shortfall(periods: pl.Expr) -> pl.Expr:
    """Sum over t = 1..m of the schedule's marginal_pd x exposure share x discount, in closed
    form for the constant hazard (q) and annuity (v) case, so no schedule is exploded:
    constant exposure (1-q) v G(qv, m); amortising
    (1-q) [v G(qv, m) - v^(n+1) G(q, m)] / (1 - v^n), at 0% (v = 1)
    [n + 1 - G(q, m) - q^m (n + 1 - m)] / n. Times lgd x EAD gives the ECL."""
    q, v, n, m = pl.col("_q"), pl.col("_v"), pl.col("_n"), periods
    qv = q * v
    line = (1.0 - q) * v * _geometric(qv, m)
    annuity = (v * _geometric(qv, m) - power(v, n + 1) * _geometric(q, m)) / (1.0 - power(v, n))
    straight = (n + 1 - _geometric(q, m) - power(q, m) * (n + 1 - m)) / n
    amortising = pl.when(v < 1.0).then((1.0 - q) * annuity).otherwise(straight)
    return pl.when(pl.col("_flat")).then(line).otherwise(amortising)


def _off_book(column: str, zero: pl.Expr) -> pl.Expr:
    """``zero`` for a derecognised (written-off) loan, the column otherwise."""
    return pl.when(derecognised()).then(zero).otherwise(pl.col(column)).alias(column)


def _closed_form(loans: pl.LazyFrame, policy: EclPolicy) -> pl.LazyFrame:
    horizon = policy.twelve_month_horizon_months // policy.period_months
    loss = pl.col("lgd") * pl.col("_ead")
    twelve = pl.min_horizontal(pl.col("_n"), pl.lit(horizon, dtype=pl.Int32))
    complete = pl.all_horizontal(pl.col(TERM_COLUMNS).is_not_null())  # as the schedule drops
    return (
        loans.with_columns(loan_terms(policy))
        .with_columns(
            pl.when(complete).then(lifetime_pd(pl.col("_q"), pl.col("_n"))).alias("pd_lifetime"),
            pl.when(complete).then(loss * closed_form_shortfall(twelve)).alias("ecl_12m"),
            pl.when(complete)
            .then(loss * closed_form_shortfall(pl.col("_n")))
            .alias("ecl_lifetime"),
        )
        .drop(TERM_COLUMNS)
    )


def _schedule(loans: pl.LazyFrame, policy: EclPolicy) -> pl.LazyFrame:
    schedule = projection_schedule(loans, policy)
    shortfall = discounted_shortfall(schedule, policy.twelve_month_horizon_months)
    return loans.join(shortfall, on="loan_id", how="left", maintain_order="left")


def expected_credit_loss(
    loans: pl.LazyFrame,
    policy: EclPolicy,
    method: Literal["closed_form", "schedule"] = "closed_form",
) -> pl.LazyFrame:
    """Adds ead, lgd, pd_lifetime, ecl_12m, ecl_lifetime, ecl_stage and ecl to every loan (input
    order kept); all null for closed loans (no stage), 0.00 amounts for written-off ones.
    ``schedule`` sums the exploded projection_schedule through discounted_shortfall;
    ``closed_form`` (the default: one row per loan, no explode) gives the same sums
    analytically (tests hold the two to the cent)."""
    if method not in ("closed_form", "schedule"):
        raise ValueError(f"method must be 'closed_form' or 'schedule', not {method!r}")
    # The one place the stage is read: EAD, horizon and measure below all use ecl_stage.
    staged = loans.with_columns(ecl_stage())
    measure = _closed_form if method == "closed_form" else _schedule
    zero = pl.lit(Decimal("0.00"), dtype=MONEY)
    return (
        measure(staged, policy)
        .with_columns(
            exposure_at_default(policy),
            lgd(policy),
            _exact_lgd(policy),
            _money(pl.col("ecl_12m")),
            _money(pl.col("ecl_lifetime")),
        )
        .with_columns(stage_measure())
        .with_columns(
            _off_book("pd_lifetime", pl.lit(None, pl.Float64)),
            *(_off_book(c, zero) for c in ("ecl_12m", "ecl_lifetime", "ecl")),
        )
        .with_columns(
            pl.when(pl.col("ecl_stage").is_not_null()).then(pl.col(c)).alias(c) for c in ECL_COLUMNS
        )
        .select(pl.all().exclude("_lgd_exact", *ECL_COLUMNS), *ECL_COLUMNS)
    )
