"""Row rules derived from a data contract, evaluated together and reported together.

A rule is a stable code, the column it concerns and a Polars expression that is true on every
row that breaks it. ``find_violations`` evaluates all of them in one pass and returns every
rule broken with counts, sample source lines and values (the Fineract style: validate all
fields, then report them together).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from loanrisk.contracts import Contract
from loanrisk.errors import RuleViolation
from loanrisk.parsing import SOURCE_LINE, raw_name

SAMPLES = 3


@dataclass(frozen=True)
class RowRule:
    code: str
    column: str
    broken: pl.Expr
    warning: bool = False


def _bound(column: str, minimum: float | None, exclusive: float | None) -> pl.Expr | None:
    value = pl.col(column)
    if exclusive is not None:
        return value <= pl.lit(Decimal(str(exclusive)))
    if minimum is not None:
        return value < pl.lit(Decimal(str(minimum)))
    return None


def contract_rules(
    contract: Contract,
    business_date: dt.date,
    enum_overrides: dict[str, tuple[str, ...]] | None = None,
    maximums: dict[str, Decimal] | None = None,
) -> list[RowRule]:
    """The single-column rules a contract states, plus the file-date rule."""
    enum_overrides = enum_overrides or {}
    maximums = maximums or {}
    rules: list[RowRule] = []
    for col in contract.columns:
        raw, typed = pl.col(raw_name(col.name)), pl.col(col.name)
        rules.append(RowRule("PARSE_ERROR", col.name, raw.is_not_null() & typed.is_null()))
        if col.required:
            rules.append(RowRule("REQUIRED_MISSING", col.name, raw.is_null()))
        allowed = enum_overrides.get(col.name, col.enum)
        if allowed:
            rules.append(RowRule("ENUM_OUTSIDE_SET", col.name, ~typed.is_in(list(allowed))))
        bound = _bound(col.name, col.minimum, col.exclusive_minimum)
        if bound is not None and (col.dtype.is_numeric()):
            rules.append(RowRule("RANGE_BREACH", col.name, bound))
        if col.name in maximums:
            rules.append(RowRule("RANGE_BREACH", col.name, typed > pl.lit(maximums[col.name])))
        if col.pattern:
            code = "FORMAT_WARNING" if col.pattern_is_warning else "PATTERN_MISMATCH"
            rules.append(
                RowRule(code, col.name, ~typed.str.contains(col.pattern), col.pattern_is_warning)
            )
        if col.unique:
            rules.append(RowRule("DUPLICATE_KEY", col.name, typed.is_duplicated()))
    if "snapshot_date" in contract.column_names:
        rules.append(
            RowRule(
                "SNAPSHOT_DATE_MISMATCH",
                "snapshot_date",
                pl.col("snapshot_date") != pl.lit(business_date),
            )
        )
    return rules


def find_violations(frame: pl.DataFrame, rules: list[RowRule]) -> list[RuleViolation]:
    """Every rule broken by at least one row, with count and sample lines/values."""
    if not rules:
        return []
    flags = frame.select(
        SOURCE_LINE,
        *(r.broken.fill_null(False).alias(f"rule_{i}") for i, r in enumerate(rules)),
    )
    counts = flags.select(pl.col(f"rule_{i}").sum() for i in range(len(rules))).row(0)
    found = []
    for i, (rule, count) in enumerate(zip(rules, counts, strict=True)):
        if not count:
            continue
        sample = frame.filter(flags[f"rule_{i}"]).head(SAMPLES)
        raw = raw_name(rule.column)
        values = sample[raw].to_list() if raw in sample.columns else []
        found.append(
            RuleViolation(
                code=rule.code,
                column=rule.column,
                rows=int(count),
                sample_lines=tuple(sample[SOURCE_LINE].to_list()),
                sample_values=tuple("" if v is None else str(v) for v in values),
            )
        )
    return found
