"""Small SQL helpers shared by the DuckDB marts and the regulatory reports (no Polars here: DAG
files import the marts through the asset list)."""

from __future__ import annotations

from collections.abc import Sequence


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"


#: DESIGN.md §5 v2: the loans on the balance sheet (a WRITTEN_OFF loan is derecognised, a
#: CLOSED one repaid); the one definition of the book behind every NPL ratio.
ON_BOOK_SQL = "account_status = 'ACTIVE'"


def npl_sql(npl_categories: Sequence[str]) -> str:
    """SQL predicate of a non-performing loan: its five_category is an NPL class (DESIGN.md §5)."""
    return f"five_category IN ({', '.join(quote(c) for c in npl_categories)})"


def npl_ratio_sql(npl_categories: Sequence[str]) -> str:
    """DESIGN.md §5 v2 NPL ratio, a DuckDB aggregate: NPL outstanding / outstanding, both of
    the loans on the book (DOUBLE; null when nothing is on the book)."""
    npl = f"({ON_BOOK_SQL}) AND ({npl_sql(npl_categories)})"
    return (
        f"CAST(coalesce(sum(outstanding_principal) FILTER (WHERE {npl}), 0) AS DOUBLE)"
        f" / nullif(CAST(sum(outstanding_principal) FILTER (WHERE {ON_BOOK_SQL}) AS DOUBLE), 0)"
    )
