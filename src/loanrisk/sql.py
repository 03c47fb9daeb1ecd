"""Small SQL helpers shared by the DuckDB marts."""

from __future__ import annotations

#: DuckDB type of every money column (DESIGN.md: Decimal(18,2) end to end).
MONEY = "DECIMAL(18,2)"


def quote(text: str) -> str:
    """A SQL string literal."""
    return "'" + text.replace("'", "''") + "'"
