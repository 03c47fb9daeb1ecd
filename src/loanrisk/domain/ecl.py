"""IFRS 9 expected credit loss building blocks: policy, EAD, LGD, PD term structure, projection
schedule and the discounted cash-shortfall sum (DESIGN.md §5 "v2 — ECL inputs";
policy in ``config/ecl.yaml``).

Pure Polars; no I/O except ``load_ecl_policy``. ``loanrisk.domain.ecl_measure.expected_credit_loss``
puts the pieces together per loan and picks the measure by stage; it sets ``ecl_stage`` (the
stage the ECL uses) first, and the blocks here that depend on the stage read that column.

EIR: ``annual_interest_rate`` is read by ``rate_convention``: ``nominal`` (the default; a monthly
rate x 12, as rates are quoted in China) gives EIR = (1 + r/12)^12 - 1, ``effective`` takes r as
the EIR. No fees or costs are amortised into it. A period of p months earns (1 + EIR)^(p/12) - 1
and discounts by v = (1 + EIR)^(-p/12); the annuity amortisation runs at that same period rate.

Exposure over the projection: an amortising loan's balance follows the annuity of its remaining
periods; a credit line's stays at its EAD; a loan whose lifetime is extended past its maturity
to ``min_lifetime_months`` (stage 2 or 3 with less life left) also stays at its EAD: the balance
left at maturity is due in full, and it stays outstanding until it is collected.

Numerics: money inputs are Decimal(18,2) and EAD is exact Decimal; PDs, survival, the
amortisation profile and discount factors are Float64 (the float error is below 1e-9 of the EAD
even at the smallest positive rate, 0.000001, and ~1e-13 at usual rates). ECL amounts are
rounded once, at the end, to Decimal(18,2) with ROUND_HALF_EVEN; stage 3 LGD x EAD is computed
in exact decimal.

Schedule columns (one row per loan and projection period ``t`` = 1..n):
``loan_id, period, period_end_months, marginal_pd, exposure_at_start, lgd, discount_factor``.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
from pydantic import Field, model_validator

from loanrisk.domain.money import MONEY
from loanrisk.domain.yaml_models import Share, StrictModel, load_yaml_model

EXACT = pl.Decimal(38, 8)  # room for money x a factor with up to 6 decimals, exactly
Months = Annotated[int, Field(ge=1, le=1_200)]


def power(base: pl.Expr, exponent: pl.Expr) -> pl.Expr:
    """base ** exponent for a positive base and a per-row exponent, as exp(exponent * ln base).

    Polars' ``pow`` with an exponent column takes a different code path for a one-row chunk
    (the streaming engine makes those), which can change the last bit: ECL would then differ
    between reruns. exp/ln are computed element by element whatever the chunking.
    """
    exponent = exponent.cast(pl.Float64)
    return pl.when(exponent == 0).then(1.0).otherwise((exponent * base.log()).exp())


class PdTermStructure(StrictModel):
    method: Literal["constant_hazard"]


class SicrRule(StrictModel):
    relative_multiplier: Annotated[float, Field(ge=1, le=100)]
    absolute_increase: Share


class EclPolicy(StrictModel):
    """``config/ecl.yaml``: every number of the ECL calculation (documented in the file)."""

    pd_term_structure: PdTermStructure
    lgd: dict[str, Share] = Field(min_length=1)
    credit_line_products: tuple[str, ...] = ()
    ccf: Share
    rate_convention: Literal["nominal", "effective"] = "nominal"
    behavioural_life_months: Months
    twelve_month_horizon_months: Months
    min_lifetime_months: Months = 12
    period_months: Annotated[int, Field(ge=1, le=12)]
    sicr: SicrRule

    @model_validator(mode="after")
    def _consistent(self) -> EclPolicy:
        for key in ("twelve_month_horizon_months", "min_lifetime_months"):
            if getattr(self, key) % self.period_months:
                raise ValueError(
                    f"{key} ({getattr(self, key)}) must be a multiple of period_months "
                    f"({self.period_months})"
                )
        if self.min_lifetime_months < self.twelve_month_horizon_months:
            raise ValueError(
                f"min_lifetime_months ({self.min_lifetime_months}) must be at least "
                f"twelve_month_horizon_months ({self.twelve_month_horizon_months}): a lifetime "
                "shorter than the 12-month horizon would give lifetime PD < pd_12m"
            )
        if missing := sorted(set(self.credit_line_products) - set(self.lgd)):
            raise ValueError(f"credit_line_products {missing} have no lgd")
        return self


def load_ecl_policy(config_dir: Path) -> EclPolicy:
    """``<config_dir>/ecl.yaml`` validated; a ``ConfigError`` names the file and the key."""
    return load_yaml_model(Path(config_dir) / "ecl.yaml", EclPolicy)


def is_credit_line(products: tuple[str, ...]) -> pl.Expr:
    """DESIGN.md §5 v2: a loan is a revolving credit line when its product_code is one of the
    configured ``credit_line_products`` (ecl.yaml; features and continuity read the same list)."""
    return pl.col("product_code").is_in(list(products))


def _is_credit_line(policy: EclPolicy) -> pl.Expr:
    return is_credit_line(policy.credit_line_products)


def derecognised() -> pl.Expr:
    """IFRS 9 5.4.4, DESIGN.md §5 v2: a WRITTEN_OFF loan is derecognised: no EAD, no ECL."""
    return pl.col("account_status") == "WRITTEN_OFF"


def line_can_be_drawn(policy: EclPolicy) -> pl.Expr:
    """DESIGN.md §5 v2 (ECL inputs): a credit line not frozen by FREEZE_LINE (``line_frozen``,
    from ``loanrisk.domain.risk_actions.with_line_frozen``) and not in stage 3 (``ecl_stage``)."""
    frozen = pl.col("line_frozen").fill_null(False)
    impaired = (pl.col("ecl_stage") == 3).fill_null(False)
    return _is_credit_line(policy) & ~frozen & ~impaired


def exposure_at_default(policy: EclPolicy) -> pl.Expr:
    """DESIGN.md §5 v2: EAD = outstanding_principal + overdue_interest + overdue_fees, plus CCF x
    max(credit_limit - outstanding_principal, 0) for a line that can still be drawn; 0 when
    written off; Decimal(18,2), ROUND_HALF_EVEN."""
    drawn = pl.col("outstanding_principal") + pl.col("overdue_interest") + pl.col("overdue_fees")
    undrawn = (pl.col("credit_limit") - pl.col("outstanding_principal")).clip(lower_bound=0)
    ccf = pl.lit(Decimal(str(policy.ccf))).cast(EXACT)
    extra = pl.when(line_can_be_drawn(policy)).then(undrawn.fill_null(0).cast(EXACT) * ccf)
    total = drawn.cast(EXACT) + extra.otherwise(pl.lit(0).cast(EXACT))
    total = pl.when(derecognised()).then(pl.lit(0).cast(EXACT)).otherwise(total)
    return total.round(2).cast(MONEY).alias("ead")


def lgd(policy: EclPolicy) -> pl.Expr:
    """LGD by product_code from config (Float64); an unconfigured product fails."""
    return pl.col("product_code").replace_strict(policy.lgd, return_dtype=pl.Float64).alias("lgd")


def remaining_months() -> pl.Expr:
    """Whole months from snapshot_date to maturity_date, a started month counting in full,
    at least 1 (a loan at or past maturity still has one month to run)."""
    snap, mat = pl.col("snapshot_date"), pl.col("maturity_date")
    months = (mat.dt.year().cast(pl.Int32) - snap.dt.year().cast(pl.Int32)) * 12 + (
        mat.dt.month().cast(pl.Int32) - snap.dt.month().cast(pl.Int32)
    )
    months = months + (mat.dt.day() > snap.dt.day()).cast(pl.Int32)
    return months.clip(lower_bound=1).alias("remaining_months")


def remaining_periods(policy: EclPolicy) -> pl.Expr:
    """Projection periods left: months to maturity (credit lines: behavioural_life_months)
    rounded up to whole ``period_months``."""
    months = pl.when(_is_credit_line(policy)).then(pl.lit(policy.behavioural_life_months))
    months = months.otherwise(remaining_months())
    p = policy.period_months
    return ((months + (p - 1)) // p).cast(pl.Int32).alias("remaining_periods")


def _lifetime_floored() -> pl.Expr:
    """Stage 2 (and 3, whose lifetime PD is reported too) measures over at least
    min_lifetime_months."""
    return (pl.col("ecl_stage") >= 2).fill_null(False)


def lifetime_periods(policy: EclPolicy) -> pl.Expr:
    """DESIGN.md §5 v2: periods projected: the remaining periods, and in stage 2 or 3 at least
    min_lifetime_months' worth, so lifetime PD >= pd_12m even at or past maturity."""
    floor = pl.lit(policy.min_lifetime_months // policy.period_months, dtype=pl.Int32)
    left = remaining_periods(policy)
    return pl.when(_lifetime_floored()).then(pl.max_horizontal(left, floor)).otherwise(left)


def constant_exposure(policy: EclPolicy) -> pl.Expr:
    """Exposure held at EAD over the projection: a credit line (revolving), or a loan whose
    lifetime was extended past maturity to min_lifetime_months (the balance is due in full)."""
    floor = policy.min_lifetime_months // policy.period_months
    extended = _lifetime_floored() & (remaining_periods(policy) < floor)
    return _is_credit_line(policy) | extended


def period_survival(policy: EclPolicy, pd_12m: pl.Expr | None = None) -> pl.Expr:
    """Constant hazard: survival over one period q = exp(-h x p / 12) = (1 - pd_12m)^(p / 12),
    h = -ln(1 - pd_12m) the annual hazard; S after t periods = q^t."""
    pd_12m = pl.col("pd_12m") if pd_12m is None else pd_12m
    return (1.0 - pd_12m.cast(pl.Float64)).pow(policy.period_months / 12)


def marginal_pd(q: pl.Expr, period: pl.Expr) -> pl.Expr:
    """Marginal PD of period t: S(t-1) - S(t) = q^(t-1) x (1 - q)."""
    return power(q, period - 1) * (1.0 - q)


def lifetime_pd(q: pl.Expr, periods: pl.Expr) -> pl.Expr:
    """Cumulative PD over n periods: 1 - S(n) = 1 - q^n."""
    return 1.0 - power(q, periods)


def effective_annual_rate(policy: EclPolicy) -> pl.Expr:
    """DESIGN.md §5 v2: the EIR of annual_interest_rate r: (1 + r/12)^12 - 1 when r is nominal
    (monthly rate x 12, rate_convention nominal), r itself when it is effective."""
    rate = pl.col("annual_interest_rate").cast(pl.Float64)
    if policy.rate_convention == "effective":
        return rate.alias("eir")
    return ((1.0 + rate / 12.0).pow(12) - 1.0).alias("eir")


def period_discount(policy: EclPolicy) -> pl.Expr:
    """One period's discount factor at the EIR: v = (1 + EIR)^(-p / 12)."""
    return (1.0 + effective_annual_rate(policy)).pow(-policy.period_months / 12)


def _exposure_share(v: pl.Expr, n: pl.Expr, t: pl.Expr) -> pl.Expr:
    """Annuity balance at the start of period t as a share of today's balance, n level payments
    at the period rate 1/v - 1: (1 - v^(n-t+1)) / (1 - v^n); straight line n-t+1 / n at 0%."""
    left = n - t + 1
    annuity = (1.0 - power(v, left)) / (1.0 - power(v, n))
    return pl.when(v < 1.0).then(annuity).otherwise(left.cast(pl.Float64) / n)


def loan_terms(policy: EclPolicy) -> list[pl.Expr]:
    """Per loan the scalars a projection needs: ``_n`` periods, ``_q`` one-period survival,
    ``_v`` one-period discount, ``_ead`` (Float64), ``lgd``, ``_flat`` (constant exposure)."""
    return [
        lifetime_periods(policy).alias("_n"),
        period_survival(policy).alias("_q"),
        period_discount(policy).alias("_v"),
        exposure_at_default(policy).cast(pl.Float64).alias("_ead"),
        lgd(policy),
        constant_exposure(policy).alias("_flat"),
    ]


TERM_COLUMNS = ("_n", "_q", "_v", "_ead", "lgd", "_flat")


def projection_schedule(loans: pl.LazyFrame, policy: EclPolicy) -> pl.LazyFrame:
    """The per-period cash-shortfall schedule of every open loan (``ecl_stage`` set) with a
    pd_12m: marginal PD from the term structure, exposure at the period's start (annuity
    amortisation of the EAD at the EIR over the remaining periods; constant_exposure loans flat),
    discount from the period's end."""
    t = pl.col("period")
    exposure = pl.when(pl.col("_flat")).then(1.0)
    exposure = exposure.otherwise(_exposure_share(pl.col("_v"), pl.col("_n"), t))
    open_loans = loans.filter(pl.col("ecl_stage").is_not_null())
    return (
        open_loans.select("loan_id", *loan_terms(policy))
        .drop_nulls(list(TERM_COLUMNS))
        .with_columns(pl.int_ranges(1, pl.col("_n") + 1, dtype=pl.Int32).alias("period"))
        .explode("period")
        .select(
            "loan_id",
            "period",
            (t * policy.period_months).alias("period_end_months"),
            marginal_pd(pl.col("_q"), t).alias("marginal_pd"),
            (pl.col("_ead") * exposure).alias("exposure_at_start"),
            "lgd",
            power(pl.col("_v"), t).alias("discount_factor"),
        )
    )


def discounted_shortfall(schedule: pl.LazyFrame, horizon_months: int = 12) -> pl.LazyFrame:
    """IFRS 9 5.5.17/B5.5.44: ECL = sum_t marginal_pd x lgd x exposure_at_start x
    discount_factor; ecl_12m over periods ending within ``horizon_months``, ecl_lifetime over
    all; pd_lifetime = sum of marginal PDs. One row per loan_id (Float64), sorted by loan_id."""
    loss = (
        pl.col("marginal_pd")
        * pl.col("lgd")
        * pl.col("exposure_at_start")
        * pl.col("discount_factor")
    )
    within = pl.col("period_end_months") <= horizon_months
    return (
        schedule.sort("loan_id", "period")
        .group_by("loan_id", maintain_order=True)
        .agg(
            pl.col("marginal_pd").sum().alias("pd_lifetime"),
            loss.filter(within).sum().alias("ecl_12m"),
            loss.sum().alias("ecl_lifetime"),
        )
    )
