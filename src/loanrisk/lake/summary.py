"""Portfolio summary of one business day, read back from warehouse.duckdb as a BI tool would."""

from __future__ import annotations

import datetime as dt

from loanrisk.lake.storage import Lake
from loanrisk.lake.warehouse import connect_warehouse

SUMMARY_SQL = """
SELECT
    count(*) FILTER (WHERE account_status = 'ACTIVE')                      AS active_loans,
    coalesce(sum(outstanding_principal) FILTER (WHERE account_status = 'ACTIVE'), 0)
                                                                           AS active_balance,
    coalesce(sum(outstanding_principal) FILTER (WHERE is_npl AND account_status = 'ACTIVE'), 0)
                                                                           AS npl_balance,
    count(*) FILTER (WHERE account_status = 'WRITTEN_OFF')                 AS written_off_today,
    count(*) FILTER (WHERE account_status = 'CLOSED')                      AS closed_today
FROM loan_aging WHERE snapshot_date = ?
"""

BUCKETS_SQL = """
SELECT aging_bucket, count(*) AS loans, sum(outstanding_principal) AS balance
FROM loan_aging WHERE snapshot_date = ?
GROUP BY aging_bucket ORDER BY aging_bucket
"""


ECL_SQL = """
SELECT sum(ecl), sum(ead) FROM loan_risk WHERE snapshot_date = ? AND ecl_stage IS NOT NULL
"""


def day_summary(lake: Lake, business_date: dt.date) -> dict:
    """Headline figures and the bucket distribution of one day (amounts as Decimal)."""
    with connect_warehouse(lake) as con:
        head = con.execute(SUMMARY_SQL, [business_date]).fetchone()
        buckets = con.execute(BUCKETS_SQL, [business_date]).fetchall()
        views = {r[0] for r in con.execute("SELECT view_name FROM duckdb_views()").fetchall()}
        ecl, ead = (
            con.execute(ECL_SQL, [business_date]).fetchone()
            if "loan_risk" in views
            else (None, None)
        )
    active_loans, balance, npl_balance, written_off, closed = head
    return {
        "active_loans": active_loans,
        "active_balance": balance,
        "npl_ratio": (npl_balance / balance) if balance else 0,
        "written_off_today": written_off,
        "closed_today": closed,
        "buckets": [(name, loans, amount) for name, loans, amount in buckets],
        "ecl": ecl if ead else None,
        "ead": ead,
    }
