"""Regulatory reports as pure Polars (DESIGN.md §6): the five-category report,
the IFRS 9 ECL report by stage and the stage transfer matrix; the policy of
``config/regulatory.yaml``. No I/O here except ``load_regulatory_policy``.

Every report covers the loans on the book at end of day: the ACTIVE ones (DESIGN.md §5 v2: a
WRITTEN_OFF loan is derecognised, a CLOSED one repaid; ``ON_BOOK_SQL``). Each report is a full
grid (every product x every category or stage, zeros where empty) so its shape never depends on
the day, plus a portfolio row per category or stage (``product_code = 'ALL'``, DESIGN.md §6 v2:
sums over the products, shares and ratios recomputed on those sums); the product rows reconcile
to the source: their sum over categories (stages) is the source's total.

The NPL ratio has one definition (DESIGN.md §5 v2), written once as SQL predicates in
``loanrisk.domain.sql`` (``ON_BOOK_SQL``, ``npl_sql``): ``npl_ratio_sql`` for the DuckDB marts
(``portfolio_summary``) and ``npl_ratio`` (the same predicates through ``pl.sql_expr``) for
``reg_five_category``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import polars as pl
from pydantic import Field, model_validator

from loanrisk.domain.classification import FIVE_CATEGORY_ORDER
from loanrisk.domain.money import MONEY
from loanrisk.domain.sql import ON_BOOK_SQL, npl_sql
from loanrisk.domain.yaml_models import Dpd, StrictModel, load_yaml_model, strictly_ascending

STAGES = (1, 2, 3)
#: Transfer-matrix labels besides the stages: on the book on only one of the two days.
NEW, EXIT = "NEW", "EXIT"
#: product_code of the portfolio rows (every product summed), DESIGN.md §6 v2.
PORTFOLIO = "ALL"


class CreditReportPolicy(StrictModel):
    reporting_day: Literal["last"] | Annotated[int, Field(ge=1, le=28)]
    overdue_status_max_dpd: tuple[Dpd, ...] = Field(min_length=6, max_length=6)
    overdue_period_days: Annotated[int, Field(ge=1, le=366)]
    instalment_interval_months: Annotated[int, Field(ge=1, le=12)]
    id_type: str = Field(min_length=1, max_length=4)

    @model_validator(mode="after")
    def _edges_ascend(self) -> CreditReportPolicy:
        edges = list(self.overdue_status_max_dpd)
        if edges[0] < 1 or not strictly_ascending(edges):
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


def on_book() -> pl.Expr:
    """DESIGN.md §5 v2: the loan is on the balance sheet (``ON_BOOK_SQL``)."""
    return pl.sql_expr(ON_BOOK_SQL)


def npl_ratio(npl_categories: Sequence[str]) -> pl.Expr:
    """DESIGN.md §5 v2 NPL ratio as an aggregate over loan rows: the predicates of
    ``npl_ratio_sql``; null when nothing is on the book."""
    balance = pl.col("outstanding_principal")  # summed as decimals, then DOUBLE, as in SQL
    book = balance.filter(on_book()).sum().cast(pl.Float64)
    npl = balance.filter(on_book() & pl.sql_expr(npl_sql(npl_categories))).sum()
    return pl.when(book != 0).then(npl.cast(pl.Float64) / book)


def with_portfolio(rows: pl.LazyFrame, key: str, sums: Sequence[str]) -> pl.LazyFrame:
    """``rows`` (product x ``key``) and a portfolio row per ``key``: the products' sums."""
    total = rows.group_by(key).agg(pl.col(c).sum() for c in sums)
    return pl.concat(
        [rows, total.with_columns(pl.lit(PORTFOLIO).alias("product_code"))],
        how="diagonal_relaxed",
    )


def _ratio(numerator: str, denominator: str) -> pl.Expr:
    """numerator / denominator as Float64; null when the denominator is 0."""
    den = pl.col(denominator).cast(pl.Float64)
    return pl.when(den != 0).then(pl.col(numerator).cast(pl.Float64) / den)


def reported_products(products: Sequence[str], *frames: pl.LazyFrame) -> pl.LazyFrame:
    """(product_code): the configured products plus any other found in ``frames``, so a
    report's totals still reconcile to its source."""
    configured = pl.LazyFrame({"product_code": list(products)}, schema={"product_code": pl.String})
    found = [f.select(pl.col("product_code").cast(pl.String)).drop_nulls() for f in frames]
    return pl.concat([configured, *found]).unique()


def product_grid(
    frame: pl.LazyFrame, products: Sequence[str], key: str, values: pl.Series
) -> pl.LazyFrame:
    """Every reported product (``reported_products``) x every value of ``key``."""
    every = reported_products(products, frame)
    return every.join(pl.LazyFrame(values.alias(key)), how="cross")


def five_category_report(
    aging: pl.LazyFrame,
    business_date: dt.date,
    products: Sequence[str],
    npl_categories: Sequence[str],
) -> pl.LazyFrame:
    """``reg_five_category`` (DESIGN.md §5 v2, §6): the loans on the book by product (and
    ALL) x category: loans, outstanding and overdue sums, share of the product's (portfolio's)
    balance, and the product's (portfolio's) NPL ratio (``npl_ratio``, from the loan rows)."""
    sums = (
        aging.filter(on_book())
        .group_by("product_code", "five_category")
        .agg(
            pl.len().cast(pl.Int64).alias("loans"),
            pl.col("outstanding_principal").sum(),
            pl.col("overdue_amount").sum(),
        )
    )
    ranks = pl.Series(list(FIVE_CATEGORY_ORDER))
    money = ("outstanding_principal", "overdue_amount")
    grid = (
        product_grid(aging, products, "five_category", ranks)
        .join(sums, on=["product_code", "five_category"], how="left")
        .with_columns(pl.col("loans").fill_null(0), pl.col(money).fill_null(0).cast(MONEY))
    )
    ratio = npl_ratio(npl_categories).alias("npl_ratio")
    ratios = pl.concat(
        [
            aging.group_by(pl.col("product_code").cast(pl.String)).agg(ratio),
            aging.select(pl.lit(PORTFOLIO).alias("product_code"), ratio),
        ]
    )
    return (
        with_portfolio(grid, "five_category", ("loans", *money))
        .join(ratios, on="product_code", how="left")
        .with_columns(
            pl.lit(business_date).alias("snapshot_date"),
            pl.col("five_category")
            .replace_strict(ranks, range(1, 6), return_dtype=pl.Int32)
            .alias("category_rank"),
            pl.col("five_category").is_in(list(npl_categories)).alias("is_npl"),
            pl.col(money).cast(MONEY),
            pl.col("outstanding_principal").sum().over("product_code").alias("_total"),
        )
        .with_columns(_ratio("outstanding_principal", "_total").alias("share"))
        .sort(pl.col("product_code") == PORTFOLIO, "product_code", "category_rank")
    )


def ifrs9_ecl_report(
    risk: pl.LazyFrame, business_date: dt.date, products: Sequence[str]
) -> pl.LazyFrame:
    """``reg_ifrs9_ecl`` (DESIGN.md §5 v2, §6): the loans on the book with an ECL stage
    by product (and ALL) x stage: loans, EAD and ECL sums, coverage ratio = ECL / EAD."""
    sums = (
        risk.filter(on_book() & pl.col("ecl_stage").is_not_null())
        .group_by("product_code", pl.col("ecl_stage").cast(pl.Int32).alias("stage"))
        .agg(
            pl.len().cast(pl.Int64).alias("loans"),
            pl.col("ead").sum(),
            pl.col("ecl").sum(),
        )
    )
    grid = (
        product_grid(risk, products, "stage", pl.Series(STAGES, dtype=pl.Int32))
        .join(sums, on=["product_code", "stage"], how="left")
        .with_columns(pl.col("loans").fill_null(0), pl.col("ead", "ecl").fill_null(0).cast(MONEY))
    )
    return (
        with_portfolio(grid, "stage", ("loans", "ead", "ecl"))
        .with_columns(
            pl.lit(business_date).alias("snapshot_date"), pl.col("ead", "ecl").cast(MONEY)
        )
        .with_columns(_ratio("ecl", "ead").alias("coverage_ratio"))
        .sort(pl.col("product_code") == PORTFOLIO, "product_code", "stage")
    )


def _stage_side(risk: pl.LazyFrame, suffix: str, label: str) -> pl.LazyFrame:
    return risk.filter(on_book() & pl.col("ecl_stage").is_not_null()).select(
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
    """IFRS 9 stage transfer matrix: loans on the book at the previous month-end or
    today by product x from_stage x to_stage (NEW: not on the book at the month-end; EXIT: not
    on the book today: closed, written off or gone), with EAD and ECL on each of the two days (0
    where not on the book)."""
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
