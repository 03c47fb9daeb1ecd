"""Row validation of a day's feed: rules -> valid rows and quarantined rows, nothing lost.

Pure transforms over the text-and-typed frame of a landing file; the stage functions in
``loanrisk.pipeline.steps`` do the reading and writing.
"""

from __future__ import annotations

import datetime as dt
import operator
from decimal import Decimal

import polars as pl

from loanrisk.config import Settings
from loanrisk.domain.aging import days_past_due, overdue_amount
from loanrisk.domain.feeds import LOANS
from loanrisk.domain.ordering import sorted_by
from loanrisk.quality.contracts import Contract
from loanrisk.quality.parsing import SOURCE_LINE, raw_name
from loanrisk.quality.rules import RowRule, contract_rules, rule_flags

QUARANTINED = "quarantined"  # the flag of rows breaking an error rule


def feed_rules(contract: Contract, business_date: dt.date, settings: Settings) -> list[RowRule]:
    """Every row rule of a feed; the loans feed adds the configured products and rate cap."""
    if contract.name != LOANS:
        return contract_rules(contract, business_date)
    return contract_rules(
        contract,
        business_date,
        enum_overrides={"product_code": settings.pipeline.products},
        maximums={"annual_interest_rate": settings.pipeline.annual_interest_rate_cap},
    )


def derived_columns(contract: Contract, settings: Settings) -> list[pl.Expr]:
    """Columns the warning rules compare against (the recomputed dpd, the overdue amount)."""
    if contract.name != LOANS:
        return []
    return [days_past_due(settings.classification), overdue_amount()]


def flag_rows(typed: pl.DataFrame, rules: list[RowRule], derived: list[pl.Expr]) -> pl.DataFrame:
    """The typed frame with derived columns, one ``rule_<i>`` flag per rule and
    ``quarantined``: whether the row breaks an error rule."""
    flagged = typed.with_columns(derived).with_columns(rule_flags(rules))
    errors = [pl.col(f"rule_{i}") for i, r in enumerate(rules) if not r.warning]
    # A fold of the (null-free) flags: any_horizontal over so many columns is dearer.
    broken = pl.fold(pl.lit(False), operator.or_, errors) if errors else pl.lit(False)
    return flagged.with_columns(broken.alias(QUARANTINED))


def _reason_list(rules: list[RowRule]) -> pl.Expr:
    """The sorted reason codes of the error rules a row breaks (built for bad rows only: over
    every row of a big day the list of every optional code costs more than the rest)."""
    errors = sorted(
        ((i, r) for i, r in enumerate(rules) if not r.warning), key=lambda e: e[1].reason
    )
    return (
        pl.concat_list(pl.when(pl.col(f"rule_{i}")).then(pl.lit(r.reason)) for i, r in errors)
        .list.drop_nulls()
        .alias("reason_codes")
    )


def rule_counts(flagged: pl.DataFrame, rules: list[RowRule]) -> dict[str, int]:
    """Rows breaking each rule, by reason code."""
    sums = flagged.select(pl.col(f"rule_{i}").sum() for i in range(len(rules))).row(0)
    return {rule.reason: int(n) for rule, n in zip(rules, sums, strict=True)}


def valid_rows(flagged: pl.DataFrame, contract: Contract, sort_key: str) -> pl.DataFrame:
    """Rows breaking no error rule, in contract columns, sorted for byte-stable output."""
    ok = flagged.filter(~pl.col(QUARANTINED))
    return sorted_by(ok.select(contract.column_names), sort_key)


def quarantined_rows(
    flagged: pl.DataFrame,
    rules: list[RowRule],
    contract: Contract,
    business_date: dt.date,
    source_file: str,
) -> pl.DataFrame:
    """Rejected rows: where they came from, every field's raw text and all their reasons."""
    bad = flagged.filter(pl.col(QUARANTINED))
    return bad.select(
        pl.lit(business_date).alias("snapshot_date"),
        pl.lit(source_file).alias("source_file"),
        (pl.col(SOURCE_LINE)).alias("source_line"),
        _reason_list(rules),
        *(pl.col(raw_name(c)).alias(f"raw_{c}") for c in contract.column_names),
    ).sort("source_line")


def outstanding_sum(frame: pl.DataFrame) -> Decimal:
    """sum(outstanding_principal) of the rows whose value parsed (0.00 when none)."""
    if "outstanding_principal" not in frame.columns or frame.height == 0:
        return Decimal("0.00")
    total = frame.select(pl.col("outstanding_principal").sum()).item()
    return Decimal(total or 0).quantize(Decimal("0.01"))
