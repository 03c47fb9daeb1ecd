"""Regulatory reports as pure Polars (issue 6 point 1; DESIGN.md §6): the five-category report,
the IFRS 9 ECL report by stage and the stage transfer matrix; the policy of
``config/regulatory.yaml``. No I/O here except ``load_regulatory_policy``.

Every report covers the loans on the book at end of day: ACTIVE and WRITTEN_OFF (the loans with
a five_category / an ECL stage); CLOSED loans are out. Each report is a full grid (every product
x every category or stage, zeros where empty) so its shape never depends on the day, and it
reconciles to its source: the sum over categories (stages) is the source's total.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
from pydantic import Field, model_validator

from loanrisk.config import FIVE_CATEGORY_ORDER
from loanrisk.yaml_models import Dpd, StrictModel, load_yaml_model

MONEY = pl.Decimal(18, 2)
STAGES = (1, 2, 3)
#: Transfer-matrix labels besides the stages: on the book on only one of the two days.
NEW, EXIT = "NEW", "EXIT"


class CreditReportPolicy(StrictModel):
    reporting_day: Literal["last"] | Annotated[int, Field(ge=1, le=28)]
    overdue_status_max_dpd: tuple[Dpd, ...] = Field(min_length=6, max_length=6)
    overdue_period_days: Annotated[int, Field(ge=1, le=366)]
    instalment_interval_months: Annotated[int, Field(ge=1, le=12)]
    id_type: str = Field(min_length=1, max_length=4)

    @model_validator(mode="after")
    def _edges_ascend(self) -> CreditReportPolicy:
        edges = list(self.overdue_status_max_dpd)
        if edges[0] < 1 or edges != sorted(set(edges)):
            raise ValueError(
                f"overdue_status_max_dpd must strictly ascend from at least 1 (got {edges})"
            )
        return self


class RegulatoryPolicy(StrictModel):
    """``config/regulatory.yaml`` (documented in the file)."""

    credit_report: CreditReportPolicy


def load_regulatory_policy(config_dir: Path) -> RegulatoryPolicy:
    """``<config_dir>/regulatory.yaml`` validated; a ``ConfigError`` names the file and the key."""
    return load_yaml_model(Path(config_dir) / "regulatory.yaml", RegulatoryPolicy)


def _ratio(numerator: str, denominator: str) -> pl.Expr:
    """numerator / denominator as Float64; null when the denominator is 0."""
    den = pl.col(denominator).cast(pl.Float64)
    return pl.when(den != 0).then(pl.col(numerator).cast(pl.Float64) / den)


def _grid(
    frame: pl.LazyFrame, products: Sequence[str], key: str, values: pl.Series
) -> pl.LazyFrame:
    """Every product (the configured ones plus any other in ``frame``, so the totals still
    reconcile) x every value of ``key``."""
    configured = pl.LazyFrame({"product_code": list(products)}, schema={"product_code": pl.String})
    found = frame.select(pl.col("product_code").cast(pl.String)).drop_nulls()
    every = pl.concat([configured, found]).unique()
    return every.join(pl.LazyFrame(values.alias(key)), how="cross")


def five_category_report(
    aging: pl.LazyFrame,
    business_date: dt.date,
    products: Sequence[str],
    npl_categories: Sequence[str],
) -> pl.LazyFrame:
    """Issue 6.1 reg_five_category: loans on the book (five_category set) by product x category:
    loans, outstanding and overdue sums, balance share of the product, product NPL ratio."""
    on_book = aging.filter(pl.col("five_category").is_not_null())
    sums = on_book.group_by("product_code", "five_category").agg(
        pl.len().alias("loans"),
        pl.col("outstanding_principal").sum().alias("outstanding_principal"),
        pl.col("overdue_amount").sum().alias("overdue_amount"),
    )
    ranks = pl.Series(list(FIVE_CATEGORY_ORDER))
    npl = pl.col("five_category").is_in(list(npl_categories))
    product_total = pl.col("outstanding_principal").sum().over("product_code")
    product_npl = pl.col("outstanding_principal").filter(npl).sum().over("product_code")
    return (
        _grid(aging, products, "five_category", ranks)
        .join(sums, on=["product_code", "five_category"], how="left")
        .with_columns(
            pl.lit(business_date).alias("snapshot_date"),
            pl.col("five_category")
            .replace_strict(ranks, range(1, 6), return_dtype=pl.Int32)
            .alias("category_rank"),
            npl.alias("is_npl"),
            pl.col("loans").fill_null(0),
            pl.col("outstanding_principal", "overdue_amount").fill_null(0).cast(MONEY),
        )
        .with_columns(product_total.alias("_total"), product_npl.alias("_npl"))
        .with_columns(_ratio("outstanding_principal", "_total").alias("share"))
        .with_columns(_ratio("_npl", "_total").alias("npl_ratio"))
        .sort("product_code", "category_rank")
    )


def ifrs9_ecl_report(
    risk: pl.LazyFrame, business_date: dt.date, products: Sequence[str]
) -> pl.LazyFrame:
    """Issue 6.1 reg_ifrs9_ecl: loans on the book (ecl_stage set) by product x ECL stage:
    loans, EAD and ECL sums, coverage ratio = ECL / EAD."""
    sums = (
        risk.filter(pl.col("ecl_stage").is_not_null())
        .group_by("product_code", pl.col("ecl_stage").alias("stage"))
        .agg(
            pl.len().alias("loans"),
            pl.col("ead").sum().alias("ead"),
            pl.col("ecl").sum().alias("ecl"),
        )
    )
    stages = pl.Series(STAGES, dtype=pl.Int32)
    return (
        _grid(risk, products, "stage", stages)
        .join(
            sums.with_columns(pl.col("stage").cast(pl.Int32)),
            on=["product_code", "stage"],
            how="left",
        )
        .with_columns(
            pl.lit(business_date).alias("snapshot_date"),
            pl.col("loans").fill_null(0),
            pl.col("ead", "ecl").fill_null(0).cast(MONEY),
        )
        .with_columns(_ratio("ecl", "ead").alias("coverage_ratio"))
        .sort("product_code", "stage")
    )


def _stage_side(risk: pl.LazyFrame, suffix: str, label: str) -> pl.LazyFrame:
    return risk.filter(pl.col("ecl_stage").is_not_null()).select(
        "loan_id",
        pl.col("product_code").alias(f"product_{suffix}"),
        pl.col("ecl_stage").cast(pl.String).alias(label),
        pl.col("ead").alias(f"ead_{suffix}"),
        pl.col("ecl").alias(f"ecl_{suffix}"),
    )


def stage_transfers(
    previous: pl.LazyFrame,
    current: pl.LazyFrame,
    business_date: dt.date,
    previous_date: dt.date,
) -> pl.LazyFrame:
    """Issue 6.1 IFRS 9 stage transfer matrix: loans on the book at the previous month-end or
    today by product x from_stage x to_stage (NEW: not on the book at the month-end; EXIT: not
    on the book today), with EAD and ECL on each of the two days (0 where not on the book)."""
    money = ("ead_previous", "ead_current", "ecl_previous", "ecl_current")
    return (
        _stage_side(previous, "previous", "from_stage")
        .join(_stage_side(current, "current", "to_stage"), on="loan_id", how="full", coalesce=True)
        .group_by(
            pl.coalesce("product_current", "product_previous").alias("product_code"),
            pl.col("from_stage").fill_null(NEW),
            pl.col("to_stage").fill_null(EXIT),
        )
        .agg(pl.len().alias("loans"), *(pl.col(c).sum() for c in money))
        .with_columns(
            pl.lit(business_date).alias("snapshot_date"),
            pl.lit(previous_date).alias("previous_month_end"),
            pl.col(money).fill_null(0).cast(MONEY),
        )
        .sort("product_code", "from_stage", "to_stage")
    )
