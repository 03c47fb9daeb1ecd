"""Money is Decimal(18,2) end to end: the one definition of its type, for Polars (``MONEY``) and
DuckDB (``MONEY_SQL``).

Polars is imported only when ``MONEY`` is first read: the SQL side is imported by the DAG files
when they are parsed (through the marts), which must stay light.
"""

from __future__ import annotations

MONEY_PRECISION, MONEY_SCALE = 18, 2

#: DuckDB type of every money column.
MONEY_SQL = f"DECIMAL({MONEY_PRECISION},{MONEY_SCALE})"


def __getattr__(name: str):
    if name == "MONEY":  # the Polars type of every money column
        import polars as pl

        globals()["MONEY"] = money = pl.Decimal(MONEY_PRECISION, MONEY_SCALE)
        return money
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
