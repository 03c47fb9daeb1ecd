"""Row order of written tables: sorted by their key, for byte-stable outputs (DESIGN.md §2)."""

from __future__ import annotations

import polars as pl


def sorted_by(frame: pl.DataFrame, key: str) -> pl.DataFrame:
    """``frame`` sorted by ``key`` (nulls first, as ``sort``).

    A frame already in order (a landing file sorted by loan_id, a table read back) is kept as
    it is and flagged sorted, so a later sort by ``key`` is free: checking the order costs
    little beside sorting the strings and moving every column after them.
    """
    column = frame.get_column(key)
    if column.null_count() == 0 and column.is_sorted():
        return frame.with_columns(column.set_sorted())
    return frame.sort(key)
