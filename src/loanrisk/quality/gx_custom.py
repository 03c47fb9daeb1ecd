"""Great Expectations expectations GX does not ship, with vectorised pandas implementations.

Imported only when a suite is built (GX is heavy to import). Each mirrors one Polars check in
``loanrisk.quality.rules``; the equality of their unexpected counts is tested on the bad-input
corpus.
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

from loanrisk.quality.casting import (
    BOOLEAN_TEXT,
    TIMESTAMP_PATTERN,
    distinct_sample_step,
    few_distinct,
)
from loanrisk.quality.gx_text import arrow_text, mask, matches
from loanrisk.quality.gx_values import (
    ExpectColumnValuesToBeIdentifiers,
    ExpectColumnValuesToBeKnownTimeZones,
)
from loanrisk.quality.rules import RESIDENT_ID_CHECK_CHARS, RESIDENT_ID_WEIGHTS

_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")


def _bounds(array: pa.Array) -> np.ndarray:
    """The ``len + 1`` value offsets of a ``large_string`` array into its data buffer."""
    offsets = array.buffers()[1]
    return np.frombuffer(offsets, dtype=np.int64)[array.offset : array.offset + len(array) + 1]


def _leading_bytes(array: pa.Array, width: int) -> np.ndarray:
    """The first ``width`` bytes of each value as a matrix; every value must be non-null,
    ASCII and at least ``width`` bytes long."""
    if len(array) == 0:
        return np.empty((0, width), dtype=np.uint8)
    data, bounds = array.buffers()[2], _bounds(array)
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
    shaped = matches(text, pattern)
    result = np.zeros(len(text), dtype=bool)
    result[shaped] = _valid_iso_dates(_leading_bytes(text.filter(shaped), 10))
    return result


_DATE_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9]


def _ascii_digits(chars: np.ndarray) -> np.ndarray:
    return (chars - np.uint8(ord("0"))) < 10  # unsigned: anything below "0" wraps around


def _valid_dates(text: pa.Array) -> np.ndarray:
    """``DATE_PATTERN`` (ten bytes, digits and two dashes) naming a real day, judged on a byte
    matrix instead of by a regular expression, which is slower."""
    sized = mask(pc.equal(pc.binary_length(text), 10))
    ten = text if sized.all() else text.filter(sized)
    chars = _leading_bytes(ten, 10)
    dashes = (chars[:, 4] == ord("-")) & (chars[:, 7] == ord("-"))
    shaped = _ascii_digits(chars[:, _DATE_DIGITS]).all(axis=1) & dashes
    shaped[shaped] = _valid_iso_dates(chars[shaped])
    result = np.zeros(len(text), dtype=bool)
    result[sized] = shaped
    return result


def _digits_with_sign_and_dot(text: pa.Array, scale: int) -> tuple[np.ndarray, np.ndarray]:
    """Whether each value is ASCII digits around an optional leading minus and an optional dot
    followed by 1 to ``scale`` digits, and how many digits precede the dot.

    No regular expression (RE2 is slower than this): the minus and
    the dot bytes, found at their only possible positions, are overwritten with "0" in a copy
    of the data, then ``ascii_is_decimal`` (non-empty, ASCII digits only) judges the rest.
    """
    validity, offsets, data = text.buffers()
    n = len(text)
    bounds = _bounds(text)
    starts, ends = bounds[:-1], bounds[1:]
    chars = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
    if len(chars) == 0:
        return np.zeros(n, dtype=bool), np.zeros(n, dtype=np.int64)

    def byte_at(at: np.ndarray, present: np.ndarray) -> np.ndarray:
        return np.where(present, chars[np.where(present, at, 0)], 0)

    negative = byte_at(starts, ends > starts) == ord("-")
    fraction = np.zeros(n, dtype=np.int64)  # digits after the dot; 0: no dot
    for digits in range(scale, 0, -1):
        at = ends - 1 - digits
        fraction[byte_at(at, at >= starts) == ord(".")] = digits
    zeroed = chars.copy()
    zeroed[starts[negative]] = ord("0")
    zeroed[(ends - 1 - fraction)[fraction > 0]] = ord("0")
    copy = pa.Array.from_buffers(
        text.type, n, [validity, offsets, pa.py_buffer(zeroed)], offset=text.offset
    )
    whole = ends - starts - negative - np.where(fraction > 0, fraction + 1, 0)
    return mask(pc.ascii_is_decimal(copy)) & (whole >= 1), whole


def _decimal_text(text: pa.Array, precision: int, scale: int) -> np.ndarray:
    """``money_pattern(precision, scale)``: an optional minus, 1 to precision - scale ASCII
    digits, then optionally a dot and 1 to scale digits."""
    shaped, whole = _digits_with_sign_and_dot(text, scale)
    return shaped & (whole <= precision - scale)


def _valid_integers(text: pa.Array, bits: int) -> np.ndarray:
    """Integer text within the signed ``bits``-bit range, compared exactly as digit strings."""
    shaped, _ = _digits_with_sign_and_dot(text, 0)  # INTEGER_PATTERN
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


def _parses(text: pa.Array, physical_type: str) -> np.ndarray:
    if physical_type == "date":
        return _valid_dates(text)
    if physical_type == "timestamp with time zone":
        # The pattern bounds every field but the day of the month.
        return _valid_date_prefix(text, TIMESTAMP_PATTERN)
    if physical_type.startswith("int"):
        return _valid_integers(text, int(physical_type[3:]))
    if found := _DECIMAL.match(physical_type):
        return _decimal_text(text, int(found.group(1)), int(found.group(2)))
    if physical_type == "boolean":
        return mask(pc.is_in(pc.utf8_lower(text), value_set=pa.array(BOOLEAN_TEXT)))
    raise ValueError(f"no parser for physical type {physical_type!r}")


def _trimmed(text: pa.Array) -> pa.Array:
    """The text without surrounding whitespace. Values that begin and end with a printable
    ASCII byte other than a space have none (any Unicode space is made of bytes of 0x80 and
    above): when all do, as in a well-formed file, the copy is skipped."""
    data = text.buffers()[2]
    if data is None or len(text) == 0:
        return text
    bounds = _bounds(text)
    starts, ends = bounds[:-1], bounds[1:]
    filled = ends > starts
    chars = np.frombuffer(data, dtype=np.uint8)
    edges = np.concatenate([chars[starts[filled]], chars[ends[filled] - 1]])
    if ((edges > ord(" ")) & (edges < 0x7F)).all():
        return text
    return pc.utf8_trim_whitespace(text)


def _judged_by_distinct(array: pa.Array, judge) -> np.ndarray:
    """``judge(array)``, computed once per distinct value when values repeat enough (a book's
    dates, flags, rates); null is False."""
    sample = array[:: distinct_sample_step(len(array))]
    distinct = pc.count_distinct(sample, mode="all").as_py()
    if not few_distinct(len(array), len(sample), distinct):
        return judge(array)
    encoded = pc.dictionary_encode(array)
    per_value = judge(encoded.dictionary.cast(array.type))
    if len(per_value) == 0:
        return np.zeros(len(array), dtype=bool)
    indices = pc.fill_null(encoded.indices, 0).to_numpy(zero_copy_only=False)
    return per_value[indices] & mask(pc.is_valid(array))


def parses_as(text: pd.Series, physical_type: str) -> pd.Series:
    """True where the (stripped) text parses as the contract's physical type; null is False."""
    parsed = _judged_by_distinct(arrow_text(text), lambda a: _parses(_trimmed(a), physical_type))
    return pd.Series(parsed, index=text.index)


_CHECK_CHARS = np.frombuffer(RESIDENT_ID_CHECK_CHARS.encode("ascii"), dtype=np.uint8)


def resident_id_check_digit_ok(text: pd.Series) -> pd.Series:
    """GB 11643-1999 check digit; values not shaped like a resident ID (``RESIDENT_ID_SHAPE``:
    17 ASCII digits, then a digit or X) or null are not judged here."""
    array = arrow_text(text)
    sized = mask(pc.equal(pc.binary_length(array), 18))
    ids = _leading_bytes(array if sized.all() else array.filter(sized), 18)
    last = ids[:, 17]
    shaped = _ascii_digits(ids[:, :17]).all(axis=1) & (_ascii_digits(last) | (last == ord("X")))
    ids = ids[shaped]
    total = np.zeros(len(ids), dtype=np.int32)  # column by column: no 17-wide temporaries
    for i, weight in enumerate(RESIDENT_ID_WEIGHTS):
        total += (ids[:, i] - ord("0")) * np.int32(weight)
    wrong = np.zeros(len(shaped), dtype=bool)
    wrong[shaped] = ids[:, 17] != _CHECK_CHARS[total % 11]
    valid = np.ones(len(array), dtype=bool)
    valid[sized] = ~wrong
    return pd.Series(valid, index=text.index)


class ColumnValuesParseAs(ColumnMapMetricProvider):
    condition_metric_name = "column_values.parse_as"
    condition_value_keys = ("physical_type",)
    # Nulls are judged here (met: a missing value is REQUIRED_MISSING's business), not dropped
    # by GX first: that drop copies every column of the group's frame, per expectation.
    filter_column_isnull = False

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, physical_type, **kwargs):
        return parses_as(column, physical_type) | column.isna()


class ExpectColumnValuesToParseAs(ColumnMapExpectation):
    """Raw text parses as the contract's physical type (money at its exact scale, ISO dates)."""

    physical_type: str
    map_metric = "column_values.parse_as"
    success_keys = ("physical_type", "mostly")
    args_keys = ("column", "physical_type")


class ColumnValuesValidResidentIdCheckDigit(ColumnMapMetricProvider):
    condition_metric_name = "column_values.valid_resident_id_check_digit"
    filter_column_isnull = False  # nulls are met (see ColumnValuesParseAs)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return resident_id_check_digit_ok(column)


class ExpectColumnValuesToHaveValidResidentIdCheckDigit(ColumnMapExpectation):
    """GB 11643-1999 check digit of well-formed 18-character PRC resident IDs."""

    map_metric = "column_values.valid_resident_id_check_digit"
    success_keys = ("mostly",)


CUSTOM_EXPECTATIONS = {
    cls.__name__: cls
    for cls in (
        ExpectColumnValuesToParseAs,
        ExpectColumnValuesToHaveValidResidentIdCheckDigit,
        ExpectColumnValuesToBeIdentifiers,
        ExpectColumnValuesToBeKnownTimeZones,
    )
}
