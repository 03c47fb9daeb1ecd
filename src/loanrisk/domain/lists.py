"""List columns of per-borrower aggregations."""

from __future__ import annotations

import polars as pl


def sorted_list(name: str) -> pl.Expr:
    """The list column ``name`` sorted (byte-stable outputs whatever the row order).

    Lists of one or no element are left as they are: sorting every borrower's list, within the
    group_by or with ``list.sort``, costs several times more, and most borrowers hold one loan.
    """
    values = pl.col(name)
    return pl.when(values.list.len() > 1).then(values.list.sort()).otherwise(values).alias(name)
