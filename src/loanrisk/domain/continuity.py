"""Cross-day continuity checks of the loan snapshot (DESIGN.md §4-5), reported as warnings.

Today's snapshot is joined once to the previous processed business day's on loan_id; each rule
is a boolean flag over that pairing. Rows are never dropped: the counts (and a few sample
loan_ids) go to the run report. Pure Polars, no I/O. Which products are credit lines is policy
(ecl.yaml ``credit_line_products``, DESIGN.md §5 v2), passed in by the caller.
"""

from __future__ import annotations

import polars as pl

from loanrisk.domain.aging import days_past_due
from loanrisk.domain.classification import ClassificationConfig
from loanrisk.domain.ecl import is_credit_line

CONTINUITY_RULES: tuple[str, ...] = (
    "DPD_JUMP",
    "ORIGINATION_DATE_CHANGED",
    "PRINCIPAL_CHANGED",
    "REOPENED_LOAN",
    "VANISHED_ACTIVE_LOAN",
)
_PREV = "_prev"
_COLUMNS = ("loan_id", "account_status", "origination_date", "principal_amount", "product_code")


def _prev(name: str) -> pl.Expr:
    return pl.col(name + _PREV)


_IN_TODAY = pl.col("present").fill_null(False)
_IN_PREVIOUS = _prev("present").fill_null(False)
_IN_BOTH = _IN_TODAY & _IN_PREVIOUS


def vanished_active_loan() -> pl.Expr:
    """DESIGN.md §4: a file lists every loan, closed or written off that day included, so an
    ACTIVE loan must appear as CLOSED/WRITTEN_OFF on its last day, not just disappear."""
    return _IN_PREVIOUS & ~_IN_TODAY & (_prev("account_status") == "ACTIVE")


def reopened_loan() -> pl.Expr:
    """Continuity issue: CLOSED and WRITTEN_OFF are terminal; the loan may not be ACTIVE again."""
    was_terminal = _prev("account_status").is_in(["CLOSED", "WRITTEN_OFF"])
    return _IN_BOTH & was_terminal & (pl.col("account_status") == "ACTIVE")


def dpd_jump(days_elapsed: int) -> pl.Expr:
    """DESIGN.md §5 (recomputed dpd): dpd can grow by at most the calendar days elapsed."""
    return _IN_BOTH & ((pl.col("dpd") - _prev("dpd")) > days_elapsed)


def origination_date_changed() -> pl.Expr:
    """DESIGN.md §4: origination_date is the disbursement date, fixed for the loan's life."""
    return _IN_BOTH & (pl.col("origination_date") != _prev("origination_date"))


def principal_changed(credit_lines: tuple[str, ...]) -> pl.Expr:
    """DESIGN.md §4: principal_amount is the original principal, fixed; continuity issue: except
    credit lines (``credit_lines``), whose principal_amount is the total drawn so far and
    legitimately grows."""
    changed = pl.col("principal_amount") != _prev("principal_amount")
    return _IN_BOTH & changed & ~is_credit_line(credit_lines)


def _flags(days_elapsed: int, credit_lines: tuple[str, ...]) -> dict[str, pl.Expr]:
    """One null-free boolean per-loan flag expression per rule, keyed by rule name."""
    if days_elapsed < 1:
        raise ValueError(f"days_elapsed must be >= 1 (got {days_elapsed})")
    flags = {
        "DPD_JUMP": dpd_jump(days_elapsed),
        "ORIGINATION_DATE_CHANGED": origination_date_changed(),
        "PRINCIPAL_CHANGED": principal_changed(credit_lines),
        "REOPENED_LOAN": reopened_loan(),
        "VANISHED_ACTIVE_LOAN": vanished_active_loan(),
    }
    return {rule: flags[rule].fill_null(False).alias(rule) for rule in CONTINUITY_RULES}


def _side(snapshot: pl.LazyFrame, policy: ClassificationConfig) -> pl.LazyFrame:
    return snapshot.select(*_COLUMNS, days_past_due(policy), present=pl.lit(True))


def paired_loans(
    today: pl.LazyFrame, previous: pl.LazyFrame, policy: ClassificationConfig
) -> pl.LazyFrame:
    """Full join of both days on loan_id; previous-day columns carry the ``_prev`` suffix."""
    return _side(today, policy).join(
        _side(previous, policy), on="loan_id", how="full", coalesce=True, suffix=_PREV
    )


def continuity_warnings(
    today: pl.LazyFrame,
    previous: pl.LazyFrame,
    days_elapsed: int,
    policy: ClassificationConfig,
    *,
    credit_lines: tuple[str, ...],
) -> dict[str, int]:
    """Count of loans breaking each rule; every rule in CONTINUITY_RULES present, keys sorted.
    ``credit_lines``: the products that are credit lines (ecl.yaml credit_line_products)."""
    flags = _flags(days_elapsed, credit_lines)
    counts = paired_loans(today, previous, policy).select(flag.sum() for flag in flags.values())
    row = counts.collect().row(0, named=True)
    return {rule: int(row[rule]) for rule in CONTINUITY_RULES}


def sample_loans(
    today: pl.LazyFrame,
    previous: pl.LazyFrame,
    days_elapsed: int,
    policy: ClassificationConfig,
    rule: str,
    limit: int = 5,
    *,
    credit_lines: tuple[str, ...],
) -> list[str]:
    """Up to ``limit`` sorted loan_ids breaking ``rule`` (one of CONTINUITY_RULES)."""
    if rule not in CONTINUITY_RULES:
        raise ValueError(f"unknown continuity rule {rule!r}; expected one of {CONTINUITY_RULES}")
    flag = _flags(days_elapsed, credit_lines)[rule]
    loans = paired_loans(today, previous, policy).filter(flag).select("loan_id")
    return loans.sort("loan_id").head(limit).collect()["loan_id"].to_list()
