"""Scorecard features per loan per day (DESIGN.md §5 Scorecard), as Polars expressions.

Inputs: the day's ``loan_aging`` rows (dpd, max_dpd_12m, episodes_12m ...), the typed snapshot's
amounts and dates, and the borrower's monitoring signals (``borrower_signals``). Ratios are
floats (they are scores' inputs, not money); a ratio without a denominator is null, which the
scorecard bins as "missing". Which products are credit lines is policy: ecl.yaml's
``credit_line_products`` (DESIGN.md §5 v2), passed in by the caller.
"""

from __future__ import annotations

import polars as pl

from loanrisk.domain.ecl import is_credit_line
from loanrisk.domain.signals import SIGNALS

SIGNAL_COLUMNS = SIGNALS

#: The snapshot columns features read besides those of loan_aging.
SNAPSHOT_COLUMNS = ("loan_id", "credit_limit", "installments_total", "installments_paid")

FEATURE_COLUMNS = (
    "dpd",
    "max_dpd_12m",
    "episodes_12m",
    "utilisation",
    "months_on_book",
    "repaid_share",
    "overdue_share",
    "forborne",
    *SIGNAL_COLUMNS,
)


def _ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    den = denominator.cast(pl.Float64)
    return pl.when(den > 0).then(numerator.cast(pl.Float64) / den)


def utilisation(credit_lines: tuple[str, ...]) -> pl.Expr:
    """Drawn share of a credit line (a product in ``credit_lines``): outstanding_principal /
    credit_limit (null otherwise)."""
    ratio = _ratio(pl.col("outstanding_principal"), pl.col("credit_limit"))
    return pl.when(is_credit_line(credit_lines)).then(ratio).alias("utilisation")


def months_on_book() -> pl.Expr:
    """Whole calendar months from origination_date to snapshot_date (0 in the first month)."""
    start, today = pl.col("origination_date"), pl.col("snapshot_date")
    months = (today.dt.year() - start.dt.year()) * 12 + today.dt.month() - start.dt.month()
    return (months - (today.dt.day() < start.dt.day()).cast(pl.Int32)).clip(0).cast(pl.Int32)


def repaid_share() -> pl.Expr:
    """Share of the original principal repaid: 1 - outstanding / principal_amount, in [0, 1]."""
    repaid = 1 - _ratio(pl.col("outstanding_principal"), pl.col("principal_amount"))
    return repaid.clip(0, 1).alias("repaid_share")


def overdue_share() -> pl.Expr:
    """Overdue amount over the total owed (outstanding principal + overdue interest + fees)."""
    owed = pl.col("outstanding_principal") + pl.col("overdue_interest") + pl.col("overdue_fees")
    return _ratio(pl.col("overdue_amount"), owed).clip(0, 1).alias("overdue_share")


def loan_features(
    aging: pl.LazyFrame,
    snapshot: pl.LazyFrame,
    signals: pl.LazyFrame | None,
    carried: tuple[str, ...] = (),
    *,
    credit_lines: tuple[str, ...],
) -> pl.LazyFrame:
    """Every loan of the day with its scorecard features (signals 0 when the borrower has none
    or the day has no events feed), and the snapshot's ``carried`` columns (one join);
    ``credit_lines``: the products that are credit lines (ecl.yaml credit_line_products)."""
    wanted = list(dict.fromkeys((*SNAPSHOT_COLUMNS, *carried)))
    # In the aging's order (by loan_id): the scored loans are then written without a sort.
    frame = aging.join(snapshot.select(wanted), on="loan_id", how="left", maintain_order="left")
    if signals is not None:
        frame = frame.join(
            signals.select("borrower_id", *SIGNAL_COLUMNS),
            on="borrower_id",
            how="left",
            maintain_order="left",
        )
    else:
        frame = frame.with_columns(pl.lit(None, pl.Int32).alias(c) for c in SIGNAL_COLUMNS)
    return frame.with_columns(
        utilisation(credit_lines),
        months_on_book().alias("months_on_book"),
        repaid_share(),
        overdue_share(),
        (pl.col("forbearance_type") != "NONE").alias("forborne"),
        *(pl.col(c).fill_null(0).cast(pl.Int32) for c in SIGNAL_COLUMNS),
    )
