"""Great Expectations expectations on a column's values as written (DESIGN.md §4 v2):
identifiers and time zones. Each mirrors one Polars rule of ``loanrisk.quality.rules`` (the
equality of their unexpected counts is tested on the bad-input corpus) and is registered with
the others in ``gx_custom.CUSTOM_EXPECTATIONS``.
"""

from __future__ import annotations

import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from great_expectations.execution_engine import PandasExecutionEngine
from great_expectations.expectations.expectation import ColumnMapExpectation
from great_expectations.expectations.metrics.map_metric_provider import (
    ColumnMapMetricProvider,
    column_condition_partial,
)

from loanrisk.domain.timezones import known_timezones
from loanrisk.quality.gx_text import arrow_text, mask, matches
from loanrisk.quality.rules import identifier_pattern


def identifier_ok(text: pd.Series, max_length: int) -> pd.Series:
    """``loanrisk.quality.rules.invalid_identifier`` negated: the same pattern, run by pyarrow's
    RE2 on the Arrow text (Polars runs it with Rust's regex; both count characters and read
    ``$`` as the very end). Null is met (REQUIRED_MISSING's business)."""
    array = arrow_text(text)
    met = matches(array, identifier_pattern(max_length)) | ~mask(pc.is_valid(array))
    return pd.Series(met, index=text.index)


def known_timezone_ok(text: pd.Series) -> pd.Series:
    """The value is an IANA zone name (``loanrisk.domain.timezones``), compared exactly; null
    is met (REQUIRED_MISSING's business)."""
    array = arrow_text(text)
    zones = pa.array(sorted(known_timezones()), type=pa.large_string())
    met = mask(pc.is_in(array, value_set=zones)) | ~mask(pc.is_valid(array))
    return pd.Series(met, index=text.index)


class ColumnValuesAreIdentifiers(ColumnMapMetricProvider):
    condition_metric_name = "column_values.are_identifiers"
    condition_value_keys = ("max_length",)
    # Nulls are judged here (met), not dropped by GX first (see gx_custom.ColumnValuesParseAs).
    filter_column_isnull = False

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, max_length, **kwargs):
        return identifier_ok(column, max_length)


class ExpectColumnValuesToBeIdentifiers(ColumnMapExpectation):
    """IDs of 1 to max_length characters, no surrounding white space, no control or format
    character (a blank value is left to the blank-value check)."""

    max_length: int
    map_metric = "column_values.are_identifiers"
    success_keys = ("max_length", "mostly")
    args_keys = ("column", "max_length")


class ColumnValuesAreKnownTimeZones(ColumnMapMetricProvider):
    condition_metric_name = "column_values.are_known_time_zones"
    filter_column_isnull = False  # nulls are met (see ColumnValuesAreIdentifiers)

    @column_condition_partial(engine=PandasExecutionEngine)
    def _pandas(cls, column, **kwargs):
        return known_timezone_ok(column)


class ExpectColumnValuesToBeKnownTimeZones(ColumnMapExpectation):
    """IANA time zone names, spelled as the database spells them."""

    map_metric = "column_values.are_known_time_zones"
    success_keys = ("mostly",)
