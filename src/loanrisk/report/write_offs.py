"""The "Write-offs" section (DESIGN.md §5 v2): the loans and balance written off on the day and
month to date, and the recoveries on loans already written off, by product and for the
portfolio (``reg_write_offs``). Written-off loans are in no balance-sheet figure of the report;
this is where they are counted."""

from __future__ import annotations

import datetime as dt

from loanrisk.domain.regulatory import PORTFOLIO
from loanrisk.domain.sql import quote
from loanrisk.report import fmt
from loanrisk.report.fmt import esc
from loanrisk.report.tables import not_available, section, table

VIEW = "reg_write_offs"
#: The day's rows: product_code, then the figures in the table's column order; the portfolio
#: (``PORTFOLIO``, ALL) last.
SQL = f"""
SELECT product_code, loans_written_off, balance_written_off, loans_written_off_mtd,
       balance_written_off_mtd, recoveries, recoveries_mtd
FROM reg_write_offs WHERE snapshot_date = ?
ORDER BY product_code = {quote(PORTFOLIO)}, product_code
"""
HEADERS = ["Product", "Loans (day)", "Balance (day, CNY)", "Loans (MTD)", "Balance (MTD, CNY)"]
HEADERS += ["Recoveries (day, CNY)", "Recoveries (MTD, CNY)"]


def load(con, views: set[str], day: dt.date) -> list[tuple] | None:
    """The day's rows of ``reg_write_offs``; None when the view is absent or has none."""
    if VIEW not in views:
        return None
    return con.execute(SQL, [day]).fetchall() or None


def _cells(row: tuple) -> list[str]:
    _, loans, balance, loans_mtd, balance_mtd, recovered, recovered_mtd = row
    counts = [fmt.count(loans), fmt.money(balance), fmt.count(loans_mtd), fmt.money(balance_mtd)]
    return [*counts, fmt.money(recovered), fmt.money(recovered_mtd)]


def write_offs(rows: list[tuple] | None, views: set[str]) -> str:
    """Each product's row, the portfolio (ALL) in the foot."""
    title = "Write-offs"
    if not rows:
        return section("write-offs", title, not_available(VIEW, views))
    products = [[esc(r[0]), *_cells(r)] for r in rows if r[0] != PORTFOLIO]
    foot = next((["All products", *_cells(r)] for r in rows if r[0] == PORTFOLIO), None)
    lead = (
        "Loans written off (derecognised: in no balance-sheet figure above) on the day and month "
        "to date, at their outstanding principal + overdue interest and fees when written off; "
        "recoveries = payments seen on loans already written off."
    )
    body = table(HEADERS, products, [False, *[True] * 6], foot)
    return section("write-offs", title, body, lead)
