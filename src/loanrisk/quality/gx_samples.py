"""GX's samples of unexpected values made safe before GX stores a result (DESIGN.md §5b).

GX keeps a sample of each expectation's failing values in the stored result, and Data Docs
render those samples as they are, markup included. Before a result is stored, every sample of
an expectation reading a personal column is masked (``loanrisk.domain.masking``: the column's
contract mask, or every character when it has none) and every other sample from the feed is
HTML-escaped, so a page built from it shows ``<script>`` as text. Only samples change: counts,
percentages and success are GX's own, and GX stays the engine of record.
"""

from __future__ import annotations

import html
from collections.abc import Iterator, Mapping
from contextlib import contextmanager

from loanrisk.domain.masking import MASK_CHAR, mask_value
from loanrisk.quality.contracts import Contract
from loanrisk.quality.parsing import raw_name

#: Result keys holding values from the feed (``partial_unexpected_counts`` holds them as
#: ``{"value": ..., "count": n}``).
SAMPLE_KEYS = ("partial_unexpected_list", "unexpected_list")
COUNT_KEYS = ("partial_unexpected_counts",)
COLUMN_KWARGS = ("column", "column_A", "column_B")
RAW_SUFFIX = raw_name("")


def personal_masks(contract: Contract) -> dict[str, str]:
    """The contract's personal columns and their mask kinds ("" for a column with none)."""
    return {c.name: c.mask or "" for c in contract.columns if c.pii or c.mask}


def _columns(config) -> list[str]:
    """Contract columns an expectation reads (a raw text column named as its column)."""
    kwargs = config.kwargs
    names = [kwargs[key] for key in COLUMN_KWARGS if key in kwargs]
    names += list(kwargs.get("column_list") or [])
    return [str(name).removesuffix(RAW_SUFFIX) for name in names]


def _safe(value, kind: str | None):
    """A sample value masked (``kind``: a mask kind, or "" for every character), whatever its
    type, or escaped (a number needs no escaping)."""
    if isinstance(value, list | tuple):
        return [_safe(item, kind) for item in value]
    if value is None or (kind is None and isinstance(value, bool | int | float)):
        return value
    text = str(value)
    if kind is None:
        return html.escape(text)
    return mask_value(kind, text) if kind else MASK_CHAR * len(text)


def safe_result(result: dict, kind: str | None) -> None:
    """Replace the feed values in one expectation's ``result`` dict in place."""
    for key in SAMPLE_KEYS:
        if isinstance(result.get(key), list):
            result[key] = [_safe(value, kind) for value in result[key]]
    for key in COUNT_KEYS:
        if isinstance(result.get(key), list):
            result[key] = [
                {**entry, "value": _safe(entry.get("value"), kind)} for entry in result[key]
            ]


def sanitize(suite_result, masks: Mapping[str, str]) -> None:
    """Make the samples of every expectation result in ``suite_result`` safe, in place: an
    expectation reading one personal column uses its mask, one reading several masks whole."""
    for item in suite_result.results:
        personal = [masks[c] for c in _columns(item.expectation_config) if c in masks]
        kind = None if not personal else personal[0] if len(personal) == 1 else ""
        if item.result:
            safe_result(item.result, kind)


@contextmanager
def samples_made_safe(masks: Mapping[str, str]) -> Iterator[None]:
    """While in the ``with``, every result GX stores has its samples made safe first (also in
    the validation processes forked inside it, which inherit the hook)."""
    from great_expectations.data_context.store.validation_results_store import (
        ValidationResultsStore,
    )

    store = ValidationResultsStore.store_validation_results

    def store_safe(self, suite_validation_result, *args, **kwargs):
        sanitize(suite_validation_result, masks)
        return store(self, suite_validation_result, *args, **kwargs)

    ValidationResultsStore.store_validation_results = store_safe
    try:
        yield
    finally:
        ValidationResultsStore.store_validation_results = store
