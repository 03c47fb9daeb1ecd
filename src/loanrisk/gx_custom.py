"""Great Expectations expectations GX does not ship, with vectorised pandas implementations.

Imported only when a suite is built (GX is heavy to import). Each mirrors one Polars check in
``loanrisk.rules``; the equality of their unexpected counts is tested on the bad-input corpus.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
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


def _arrow_text(text: pd.Series) -> pa.Array:
    """The text as one Arrow string array (zero-copy for pandas' Arrow-backed strings)."""
    dtype = text.dtype
    if not (isinstance(dtype, pd.StringDtype) and dtype.storage == "pyarrow"):
        text = text.astype(pd.StringDtype("pyarrow"))
    array = pa.chunked_array(text.array.__arrow_array__()).combine_chunks()
    return array.cast(pa.large_string())


def _matches(array: pa.Array, pattern: str) -> np.ndarray:
    """Boolean mask (nulls False) of the values matching an anchored regular expression."""
    found = pc.fill_null(pc.match_substring_regex(array, pattern), False)
    return found.to_numpy(zero_copy_only=False)


def _leading_bytes(array: pa.Array, width: int) -> np.ndarray:
    """The first ``width`` bytes of each value as a matrix; every value must be non-null,
    ASCII and at least ``width`` bytes long."""
    if len(array) == 0:
        return np.empty((0, width), dtype=np.uint8)
    _, offsets, data = array.buffers()
    bounds = np.frombuffer(offsets, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    if bounds[-1] - bounds[0] != width * len(array):  # longer values: cut them to ``width``
        return _leading_bytes(pc.utf8_slice_codeunits(array, 0, width), width)
    # Values of exactly ``width`` bytes lie back to back in the data buffer.
    chars = np.frombuffer(data, dtype=np.uint8, count=bounds[-1] - bounds[0], offset=bounds[0])
    return chars.reshape(len(array), width)


_DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)


def _valid_iso_dates(ymd: np.ndarray) -> np.ndarray:
    """Whether rows of ``YYYY-MM-DD`` bytes (digits already checked) name a real
    proleptic-Gregorian day, as the ``%Y-%m-%d`` parsers decide."""

    def number(first: int, last: int) -> np.ndarray:
        value = np.zeros(len(ymd), dtype=np.int32)
        for i in range(first, last):
            value = value * 10 + (ymd[:, i] - ord("0"))
        return value

    year, month, day = number(0, 4), number(5, 7), number(8, 10)
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    in_year = (month >= 1) & (month <= 12)
    last = _DAYS_IN_MONTH[np.where(in_year, month, 0)] + (leap & (month == 2))
    return in_year & (day >= 1) & (day <= last)


def _valid_date_prefix(text: pa.Array, pattern: str) -> np.ndarray:
    """Values matching ``pattern`` whose first ten characters are a real ISO date."""
    shaped = _matches(text, pattern)
    result = np.zeros(len(text), dtype=bool)
    result[shaped] = _valid_iso_dates(_leading_bytes(text.filter(shaped), 10))
    return result


def _valid_integers(text: pa.Array, bits: int) -> np.ndarray:
    """Integer text within the signed ``bits``-bit range, compared exactly as digit strings."""
    shaped = _matches(text, INTEGER_PATTERN)
    numbers = text.filter(shaped)
    negative = pc.starts_with(numbers, "-")
    magnitude = pc.utf8_ltrim(numbers, characters="-0")  # one sign, then leading zeros
    low, high = str(2 ** (bits - 1)), str(2 ** (bits - 1) - 1)
    limit = pc.if_else(negative, low, high)
    size = pc.binary_length(magnitude)
    fits = pc.or_(
        pc.less(size, pc.binary_length(limit)),
        pc.and_(pc.equal(size, pc.binary_length(limit)), pc.less_equal(magnitude, limit)),
    )
    result = np.zeros(len(text), dtype=bool)
    result[shaped] = fits.to_numpy(zero_copy_only=False)
    return result


def parses_as(text: pd.Series, physical_type: str) -> pd.Series:
    """True where the (stripped) text parses as the contract's physical type; null is False."""
    if (
        physical_type == "date"
        or physical_type == "timestamp with time zone"
        or (physical_type.startswith("int"))
    ):
        stripped = pc.utf8_trim_whitespace(_arrow_text(text))
        if physical_type == "date":
            valid = _valid_date_prefix(stripped, DATE_PATTERN)
        elif physical_type == "timestamp with time zone":
            # The pattern bounds every field but the day of the month.
            valid = _valid_date_prefix(stripped, TIMESTAMP_PATTERN)
        else:
            valid = _valid_integers(stripped, int(physical_type[3:]))
        return pd.Series(valid, index=text.index)
    text = text.astype("string").str.strip()
    if found := _DECIMAL.match(physical_type):
        precision, scale = int(found.group(1)), int(found.group(2))
        return text.str.fullmatch(money_pattern(precision, scale)[1:-1]).fillna(False)
    if physical_type == "boolean":
        return text.str.lower().isin(BOOLEAN_TEXT)
    raise ValueError(f"no parser for physical type {physical_type!r}")


_CHECK_CHARS = np.frombuffer(RESIDENT_ID_CHECK_CHARS.encode("ascii"), dtype=np.uint8)


def resident_id_check_digit_ok(text: pd.Series) -> pd.Series:
    """GB 11643-1999 check digit; values not shaped like a resident ID (or null) are not
    judged here."""
    array = _arrow_text(text)
    shaped = _matches(array, RESIDENT_ID_SHAPE)
    ids = _leading_bytes(array.filter(shaped), 18)  # shaped values are 18 ASCII bytes
    total = np.zeros(len(ids), dtype=np.int32)  # column by column: no 17-wide temporaries
    for i, weight in enumerate(RESIDENT_ID_WEIGHTS):
        total += (ids[:, i] - ord("0")) * np.int32(weight)
    valid = np.ones(len(array), dtype=bool)
    valid[shaped] = ids[:, 17] == _CHECK_CHARS[total % 11]
    return pd.Series(valid, index=text.index)


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
