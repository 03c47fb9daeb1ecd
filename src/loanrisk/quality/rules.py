"""Row rules derived from a data contract, for Polars and for Great Expectations alike.

A rule is a stable reason code (``CODE:column``), a Polars expression true on every row that
breaks it, and the Great Expectations expectation that checks the same thing. Error rules
quarantine a row, warning rules only count it. All rules are evaluated together and a row
carries every reason it breaks (the Fineract style: validate all fields, then report).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal

import polars as pl

from loanrisk.domain.timezones import known_timezones
from loanrisk.errors import ConfigError
from loanrisk.quality.contracts import Column, Contract, QualityRule
from loanrisk.quality.parsing import raw_name

RESIDENT_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_ID_CHECK_CHARS = "10X98765432"
RESIDENT_ID_SHAPE = r"^[0-9]{17}[0-9X]$"
BUSINESS_DATE_PARAMETER = "business_date"
# A character that is not white space, as one explicit class (Unicode White_Space, what Polars'
# ``\s`` and ``strip_chars`` mean): Python's ``\s`` also takes U+001C..U+001F, and pandas runs
# any ``\s``/``\S`` pattern through Python's ``re`` row by row instead of pyarrow's RE2, which
# takes this class as it is.
WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
NOT_BLANK = f"[^{WHITE_SPACE}]"
# Control characters (Unicode Cc: C0, DEL and C1), as escapes both regex engines read alike.
CONTROL = r"\x00-\x1f\x7f-\x9f"
# Format characters (Unicode Cf): invisible (zero-width, soft hyphen, BOM, tags) or reordering
# (bidi embeddings, overrides, isolates, marks), so "L12\u200b" would look like L12 and U+202E
# can show an ID reversed. Listed as of Unicode 15.1 rather than \p{Cf}, whose Unicode version
# differs between Rust's regex and RE2; a test checks it covers every Cf Python knows.
FORMAT = (
    r"\x{ad}\x{600}-\x{605}\x{61c}\x{6dd}\x{70f}\x{890}-\x{891}\x{8e2}\x{180e}"
    r"\x{200b}-\x{200f}\x{202a}-\x{202e}\x{2060}-\x{2064}\x{2066}-\x{206f}\x{feff}"
    r"\x{fff9}-\x{fffb}\x{110bd}\x{110cd}\x{13430}-\x{1343f}\x{1bca0}-\x{1bca3}"
    r"\x{1d173}-\x{1d17a}\x{e0001}\x{e0020}-\x{e007f}"
)


def identifier_pattern(max_length: int) -> str:
    """An ID (DESIGN.md §4 v2): 1 to ``max_length`` characters, neither first nor last white
    space, none a control or format character; or a blank value, which is BLANK_VALUE's (or
    REQUIRED_MISSING's) to report, not this rule's. One pattern for Polars (Rust) and for GX
    (pyarrow's RE2): both count characters, not bytes, and read ``$`` as the very end."""
    if max_length < 1:
        raise ConfigError(f"identifier rule: max_length must be 1 or more (got {max_length})")
    edge = f"[^{WHITE_SPACE}{CONTROL}{FORMAT}]"
    inner = f"(?:[^{CONTROL}{FORMAT}]{{0,{max_length - 2}}}{edge})?" if max_length > 1 else ""
    return f"^(?:[{WHITE_SPACE}]*|{edge}{inner})$"


def invalid_identifier(column: str, max_length: int) -> pl.Expr:
    """True where a non-blank ID breaks the identifier rule; null stays null (not judged)."""
    return ~pl.col(column).str.contains(identifier_pattern(max_length))


@dataclass(frozen=True)
class GxCheck:
    """A Great Expectations expectation by class name, its arguments and an AND-ed row
    condition of ``(column, op, value)`` with op in ``not_null``, ``eq``, ``ne``."""

    expectation: str
    kwargs: dict
    condition: tuple[tuple[str, str, object], ...] = ()


@dataclass(frozen=True)
class RowRule:
    code: str
    column: str
    broken: pl.Expr
    gx: GxCheck
    warning: bool = False
    description: str = field(default="", compare=False)

    @property
    def reason(self) -> str:
        return f"{self.code}:{self.column}"


def _python_regex(pattern: str) -> str:
    """A contract pattern for Python's ``re`` (GX's pandas engine): there ``$`` also matches
    before a final line break, which Polars' ``$`` (Rust) does not; ``\\Z`` is the very end."""
    return re.sub(r"(?<!\\)\$", r"\\Z", pattern)


def _minimum_rule(col: Column) -> RowRule | None:
    if not col.dtype.is_numeric() or (col.minimum is None and col.exclusive_minimum is None):
        return None
    exclusive = col.exclusive_minimum is not None
    bound = col.exclusive_minimum if exclusive else col.minimum
    limit = pl.lit(Decimal(str(bound)))
    broken = pl.col(col.name) <= limit if exclusive else pl.col(col.name) < limit
    gx = GxCheck(
        "ExpectColumnValuesToBeBetween",
        {"column": col.name, "min_value": bound, "strict_min": exclusive},
    )
    return RowRule("RANGE_BREACH", col.name, broken, gx)


def _min_length_rule(col: Column) -> RowRule | None:
    """minLength counts the text between the first and last non-blank character, so an ID of
    spaces is as missing as an empty one."""
    if not col.min_length or col.dtype != pl.String:
        return None
    n = col.min_length
    pattern = NOT_BLANK if n == 1 else rf"{NOT_BLANK}(?s:.){{{n - 2},}}{NOT_BLANK}"
    gx = GxCheck("ExpectColumnValuesToMatchRegex", {"column": col.name, "regex": pattern})
    return RowRule("BLANK_VALUE", col.name, ~pl.col(col.name).str.contains(pattern), gx)


def column_rules(
    col: Column, allowed: tuple[str, ...], maximum: Decimal | None = None
) -> list[RowRule]:
    """The rules one contract column states: parse, required, enum, range, pattern, unique."""
    raw, typed = pl.col(raw_name(col.name)), pl.col(col.name)
    rules = []
    if col.dtype != pl.String:
        parse_gx = GxCheck(
            "ExpectColumnValuesToParseAs",
            {"column": raw_name(col.name), "physical_type": col.physical_type},
        )
        rules.append(
            RowRule("PARSE_ERROR", col.name, raw.is_not_null() & typed.is_null(), parse_gx)
        )
    if col.required:
        required_gx = GxCheck("ExpectColumnValuesToNotBeNull", {"column": raw_name(col.name)})
        rules.append(RowRule("REQUIRED_MISSING", col.name, raw.is_null(), required_gx))
    if allowed:
        enum_gx = GxCheck(
            "ExpectColumnValuesToBeInSet", {"column": col.name, "value_set": list(allowed)}
        )
        rules.append(RowRule("ENUM_OUTSIDE_SET", col.name, ~typed.is_in(list(allowed)), enum_gx))
    rules.extend(r for r in (_minimum_rule(col), _min_length_rule(col)) if r is not None)
    if maximum is not None:
        max_gx = GxCheck(
            "ExpectColumnValuesToBeBetween", {"column": col.name, "max_value": float(maximum)}
        )
        rules.append(RowRule("ABOVE_CAP", col.name, typed > pl.lit(maximum), max_gx))
    if col.pattern:
        code = "FORMAT_WARNING" if col.pattern_is_warning else "PATTERN_MISMATCH"
        pattern_gx = GxCheck(
            "ExpectColumnValuesToMatchRegex",
            {"column": col.name, "regex": _python_regex(col.pattern)},
        )
        broken = ~typed.str.contains(col.pattern)
        rules.append(RowRule(code, col.name, broken, pattern_gx, col.pattern_is_warning))
    if col.unique:
        unique_gx = GxCheck("ExpectColumnValuesToBeUnique", {"column": col.name})
        broken = typed.is_duplicated() & typed.is_not_null()
        rules.append(RowRule("DUPLICATE_KEY", col.name, broken, unique_gx))
    return rules


def resident_id_check_digit_ok(column: str) -> pl.Expr:
    """GB 11643-1999 (ISO 7064 MOD 11-2): the 18th character checks the first 17 digits.

    Judges values shaped like a resident ID. The weights are 2**(17 - i) mod 11, and 13 is 2
    mod 11, so the weighted sum is 2 x (the 17 digits read in base 13) mod 11: one parse into
    an Int64 (below 13**17 < 2**63) instead of 17 one-character slices.
    """
    value = pl.col(column)
    base13 = value.str.slice(0, 17).str.to_integer(base=13, strict=False)
    expected = (base13 % 11 * 2 % 11).replace_strict(
        dict(enumerate(RESIDENT_ID_CHECK_CHARS)), return_dtype=pl.String
    )
    return value.str.slice(17, 1) == expected


def _a_at_most_b(rule: QualityRule) -> tuple[pl.Expr, GxCheck]:
    a, b = rule.args["a"], rule.args["b"]
    gx = GxCheck(
        "ExpectColumnPairValuesAToBeGreaterThanB",
        {
            "column_A": b,
            "column_B": a,
            "or_equal": True,
            "ignore_row_if": "either_value_is_missing",
        },
    )
    return pl.col(a) > pl.col(b), gx


def _required_when(rule: QualityRule, when_in: bool) -> tuple[pl.Expr, GxCheck]:
    column, when, values = rule.args["column"], rule.args["when"], list(rule.args["values"])
    applies = pl.col(when).is_in(values)
    applies = applies if when_in else ~applies
    op = "eq" if when_in else "ne"
    condition = ((when, "not_null", None), *((when, op, v) for v in values))
    gx = GxCheck("ExpectColumnValuesToNotBeNull", {"column": raw_name(column)}, condition)
    return applies & pl.col(raw_name(column)).is_null(), gx


def _identifier(rule: QualityRule) -> tuple[pl.Expr, GxCheck]:
    column, max_length = rule.args["column"], int(rule.args["max_length"])
    gx = GxCheck("ExpectColumnValuesToBeIdentifiers", {"column": column, "max_length": max_length})
    return invalid_identifier(column, max_length), gx


def _known_timezone(rule: QualityRule) -> tuple[pl.Expr, GxCheck]:
    """A value that is not an IANA zone name (``loanrisk.domain.timezones``); null is not
    judged (REQUIRED_MISSING's business)."""
    column = rule.args["column"]
    gx = GxCheck("ExpectColumnValuesToBeKnownTimeZones", {"column": column})
    return ~pl.col(column).is_in(sorted(known_timezones())), gx


# Rules on one column's values, by their contract ``implementation.rule``.
_VALUE_RULES = {"identifier": _identifier, "known_timezone": _known_timezone}


def _quality_rule(rule: QualityRule) -> tuple[pl.Expr, GxCheck]:
    column = rule.args.get("column")
    if rule.kind == "a_at_most_b":
        return _a_at_most_b(rule)
    if rule.kind in ("required_if", "required_unless"):
        return _required_when(rule, when_in=rule.kind == "required_if")
    if rule.kind == "equals_recomputed_dpd":
        gx = GxCheck(
            "ExpectColumnPairValuesToBeEqual",
            {"column_A": column, "column_B": "dpd", "ignore_row_if": "either_value_is_missing"},
        )
        return pl.col(column) != pl.col("dpd"), gx
    if rule.kind == "null_when_nothing_overdue":
        gx = GxCheck(
            "ExpectColumnValuesToBeNull", {"column": column}, (("overdue_amount", "eq", 0),)
        )
        return pl.col(column).is_not_null() & (pl.col("overdue_amount") == 0), gx
    if rule.kind in _VALUE_RULES:
        return _VALUE_RULES[rule.kind](rule)
    if rule.kind == "resident_id_check_digit":
        gx = GxCheck("ExpectColumnValuesToHaveValidResidentIdCheckDigit", {"column": column})
        shaped = pl.col(column).str.contains(RESIDENT_ID_SHAPE)
        return shaped & ~resident_id_check_digit_ok(column), gx
    raise ConfigError(f"quality rule {rule.name}: unknown implementation.rule {rule.kind!r}")


def contract_rules(
    contract: Contract,
    business_date: dt.date,
    enum_overrides: dict[str, tuple[str, ...]] | None = None,
    maximums: dict[str, Decimal] | None = None,
) -> list[RowRule]:
    """Every row rule of a contract: its columns', its quality rules and the file-date rule."""
    enum_overrides, maximums = enum_overrides or {}, maximums or {}
    rules: list[RowRule] = []
    for col in contract.columns:
        allowed = enum_overrides.get(col.name, col.enum)
        rules.extend(column_rules(col, allowed, maximums.get(col.name)))
    for quality in contract.quality:
        broken, gx = _quality_rule(quality)
        warning = quality.severity == "warning"
        rules.append(
            RowRule(quality.name, quality.column, broken, gx, warning, quality.description)
        )
    if "snapshot_date" in contract.column_names:
        # The date is a suite parameter, so the generated suite is the same every day.
        gx = GxCheck(
            "ExpectColumnValuesToBeInSet",
            {"column": "snapshot_date", "value_set": {"$PARAMETER": BUSINESS_DATE_PARAMETER}},
        )
        broken = pl.col("snapshot_date") != pl.lit(business_date)
        rules.append(RowRule("SNAPSHOT_DATE_MISMATCH", "snapshot_date", broken, gx))
    return rules


def rule_flags(rules: list[RowRule]) -> list[pl.Expr]:
    """One boolean column per rule (``rule_<i>``), true where the row breaks it."""
    return [r.broken.fill_null(False).alias(f"rule_{i}") for i, r in enumerate(rules)]
