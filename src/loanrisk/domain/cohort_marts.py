"""Cohort marts as DuckDB SQL: vintage curves (by origination month) and cure rates (by month
of entry into M1), over ``loan_aging`` and ``loan_state`` (DESIGN.md §6).

Each rests on a per-loan or per-event relation (``vintage_loans``, ``delinquency_entries``,
``delinquency_cures``) that can be computed month by month and combined, which is how the
stored vintage curves and the report reuse past months (``lake/vintage_cache.py``).
"""

from __future__ import annotations

from loanrisk.domain.classification import ClassificationConfig
from loanrisk.domain.money import MONEY_SQL
from loanrisk.domain.sql import quote


def vintage_loans_sql() -> str:
    """Per loan, over its rows of ``loan_aging``: earliest origination date, first day seen and the
    principal that day, first day more than 30 and more than 90 days past due. Rows of disjoint
    periods combine into the same by ``combine_vintage_loans_sql`` (mins and the principal of
    the earliest first day), which is how the report reuses past months
    (``lake/vintage_cache.py``)."""
    return """
SELECT loan_id, min(origination_date) AS origination_date, min(snapshot_date) AS first_seen,
       arg_min(principal_amount, snapshot_date) AS principal,
       min(snapshot_date) FILTER (WHERE dpd > 30) AS first_30,
       min(snapshot_date) FILTER (WHERE dpd > 90) AS first_90
FROM loan_aging GROUP BY loan_id
"""


def combine_vintage_loans_sql(parts: str) -> str:
    """``vintage_loans`` rows of several periods -> one row per loan, as over all of them."""
    return f"""
SELECT loan_id, min(origination_date) AS origination_date, min(first_seen) AS first_seen,
       arg_min(principal, first_seen) AS principal, min(first_30) AS first_30,
       min(first_90) AS first_90
FROM {parts} GROUP BY loan_id
"""


def vintage_curves_sql(vintage_loans: str | None = None) -> str:
    """By origination month x months on book: loans and principal disbursed, and how many had
    been more than 30 / 90 days past due on any processed day by the end of that month on book.
    Only months already processed appear; loans originated before history began are counted
    from the first processed day (their earlier delinquency is unknown). ``vintage_loans``:
    the relation of ``vintage_loans_sql`` (computed over ``loan_aging`` when not given)."""
    loans = vintage_loans or f"({vintage_loans_sql()})"
    return f"""
WITH loans AS (
    SELECT loan_id, CAST(date_trunc('month', origination_date) AS DATE) AS vintage_month,
           principal, first_30, first_90
    FROM {loans}
), months AS (
    SELECT DISTINCT CAST(date_trunc('month', snapshot_date) AS DATE) AS month FROM loan_aging
)
SELECT l.vintage_month,
       CAST(datediff('month', l.vintage_month, m.month) AS INTEGER) AS months_on_book,
       count(*) AS loans,
       CAST(sum(l.principal) AS {MONEY_SQL}) AS disbursed,
       count(*) FILTER (WHERE l.first_30 < m.month + INTERVAL 1 MONTH) AS ever_30_loans,
       count(*) FILTER (WHERE l.first_90 < m.month + INTERVAL 1 MONTH) AS ever_90_loans,
       CAST(coalesce(sum(l.principal) FILTER (WHERE l.first_30 < m.month + INTERVAL 1 MONTH), 0)
            AS {MONEY_SQL}) AS ever_30_principal,
       CAST(coalesce(sum(l.principal) FILTER (WHERE l.first_90 < m.month + INTERVAL 1 MONTH), 0)
            AS {MONEY_SQL}) AS ever_90_principal,
       ever_30_loans / count(*) AS ever_30_rate,
       ever_90_loans / count(*) AS ever_90_rate
FROM loans l JOIN months m ON m.month >= l.vintage_month
GROUP BY ALL
"""


def delinquency_entries_sql(policy: ClassificationConfig) -> str:
    """Loans entering the first delinquent bucket (an episode starting in M1): loan, day and
    product that day."""
    first_delinquent = quote(policy.aging_buckets[1].name)
    return f"""
SELECT e.loan_id, e.snapshot_date AS entry_date, a.product_code
FROM loan_state e JOIN loan_aging a ON a.loan_id = e.loan_id AND a.snapshot_date = e.snapshot_date
WHERE e.in_snapshot AND e.episode_start_date = e.snapshot_date
  AND e.aging_bucket = {first_delinquent}
"""


def delinquency_cures_sql() -> str:
    """Loans back in M0 after a day past due: loan and cure day."""
    return """
SELECT loan_id, snapshot_date AS cure_date FROM loan_state
WHERE in_snapshot AND cure_date = snapshot_date
"""


def cure_rates_sql(
    policy: ClassificationConfig, entries: str | None = None, cures: str | None = None
) -> str:
    """Of the loans entering M1 (an episode starting in the first delinquent bucket) in a month,
    the share back in M0 within cure_window_days; only entries already observed that long
    count in the rate. ``entries``/``cures``: relations of ``delinquency_entries_sql`` and
    ``delinquency_cures_sql`` (computed over loan_state and loan_aging when not given).

    Columns are named after what they count (loans_observed, loans_cured, cure_rate) and the
    window is a column of its own (cure_window_days), so a policy of another window cannot make
    a name lie (DESIGN.md §9, Collections)."""
    days = policy.history.cure_window_days
    entries = entries or f"({delinquency_entries_sql(policy)})"
    cures = cures or f"({delinquency_cures_sql()})"
    return f"""
WITH last_day AS (SELECT max(snapshot_date) AS day FROM loan_state)
SELECT CAST(date_trunc('month', e.entry_date) AS DATE) AS entry_month, e.product_code,
       CAST({days} AS INTEGER) AS cure_window_days,
       count(*) AS loans_entered,
       count(*) FILTER (WHERE e.entry_date + {days} <= (SELECT day FROM last_day))
         AS loans_observed,
       count(*) FILTER (WHERE e.entry_date + {days} <= (SELECT day FROM last_day) AND EXISTS (
           SELECT 1 FROM {cures} c WHERE c.loan_id = e.loan_id
             AND c.cure_date > e.entry_date AND c.cure_date <= e.entry_date + {days}))
         AS loans_cured,
       loans_cured / nullif(loans_observed, 0) AS cure_rate
FROM {entries} e
GROUP BY ALL
"""
