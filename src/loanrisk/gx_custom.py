"""Great Expectations expectations GX does not ship, with vectorised pandas implementations.

Imported only when a suite is built (GX is heavy to import). Each mirrors one Polars check in
``loanrisk.rules``; the equality of their unexpected counts is tested on the bad-input corpus.
"""

from __future__ import annotations

import re

import pandas as pd
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)

from loanrisk.parsing import (
    BOOLEAN_TEXT,
    DATE_PATTERN,
    INTEGER_PATTERN,
    TIMESTAMP_PATTERN,
    money_pattern,
)
from loanrisk.rules import RESIDENT_ID_CHECK_CHARS, RESIDENT_ID_SHAPE, RESIDENT_ID_WEIGHTS

_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


def parses_as(text: pd.Series, physical_type: str) -> pd.Series:
    """True where the (stripped) text parses as the contract's physical type."""
    text = text.astype("string").str.strip()
    if found := _DECIMAL.match(physical_type):
        precision, scale = int(found.group(1)), int(found.group(2))
        return text.str.fullmatch(money_pattern(precision, scale)[1:-1]).fillna(False)
    if physical_type == "date":
        parsed = pd.to_datetime(text, format="%Y-%m-%d", errors="coerce")
        return parsed.notna() & text.str.fullmatch(DATE_PATTERN[1:-1]).fillna(False)
    if physical_type == "timestamp with time zone":
        # The pattern bounds every field but the day of the month; parsing the whole text
        # would make the result depend on the column (pandas picks one resolution for it,
        # and nanoseconds push 9999-12-31 out of range).
        day = pd.to_datetime(text.str.slice(0, 10), format="%Y-%m-%d", errors="coerce")
        return day.notna() & text.str.fullmatch(TIMESTAMP_PATTERN[1:-1]).fillna(False)
    if physical_type == "boolean":
        return text.str.lower().isin(BOOLEAN_TEXT)
    if physical_type.startswith("int"):
        bits = int(physical_type[3:])
        digits = text.str.fullmatch(INTEGER_PATTERN[1:-1]).fillna(False)
        number = pd.to_numeric(text.where(digits), errors="coerce")
        in_range = number.ge(-(2 ** (bits - 1))) & number.lt(2 ** (bits - 1))
        return digits & in_range.fillna(False)
    raise ValueError(f"no parser for physical type {physical_type!r}")


def resident_id_check_digit_ok(text: pd.Series) -> pd.Series:
    """GB 11643-1999 check digit; values not shaped like a resident ID are not judged here."""
    text = text.astype("string")
    shaped = text.str.fullmatch(RESIDENT_ID_SHAPE[1:-1]).fillna(False).astype(bool)
    digits = text.where(shaped, "0" * 18)
    total = sum(
        digits.str.slice(i, i + 1).astype(int) * weight
        for i, weight in enumerate(RESIDENT_ID_WEIGHTS)
    )
    expected = (total % 11).map(dict(enumerate(RESIDENT_ID_CHECK_CHARS)))
    return (~shaped | (digits.str.slice(17, 18) == expected)).astype(bool)


class ColumnValuesParseAs(ColumnMapMetricProvider):
    condition_metric_name = "column_values.parse_as"
    condition_value_keys = ("physical_type",)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, physical_type, **kwargs):
        return parses_as(column, physical_type).astype(bool)


class ExpectColumnValuesToParseAs(ColumnMapExpectation):
    """Raw text parses as the contract's physical type (money at its exact scale, ISO dates)."""

    physical_type: str
    map_metric = "column_values.parse_as"
    success_keys = ("physical_type", "mostly")
    args_keys = ("column", "physical_type")


class ColumnValuesValidResidentIdCheckDigit(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_resident_id_check_digit"

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return resident_id_check_digit_ok(column)


class ExpectColumnValuesToHaveValidResidentIdCheckDigit(ColumnMapExpectation):
    """GB 11643-1999 check digit of well-formed 18-character PRC resident IDs."""

    map_metric = "column_values.valid_resident_id_check_digit"
    success_keys = ("mostly",)


CUSTOM_EXPECTATIONS = {
    cls.__name__: cls
    for cls in (ExpectColumnValuesToParseAs, ExpectColumnValuesToHaveValidResidentIdCheckDigit)
}
