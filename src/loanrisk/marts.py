"""Portfolio marts as DuckDB SQL over ``loan_aging`` and ``loan_state`` (issue 4, DESIGN.md §6).

Each function returns the SELECT behind one view of ``warehouse.duckdb`` (the vintage and cure
marts are in ``cohort_marts.py``). Buckets and windows come from ``config/classification.yaml``.
Shares and rates are DOUBLE; balances stay DECIMAL(18,2).
"""

from __future__ import annotations

from loanrisk.cohort_marts import (
    cure_rates_sql,
    delinquency_cures_sql,
    delinquency_entries_sql,
    vintage_loans_sql,
)
from loanrisk.config import ClassificationConfig
from loanrisk.sql import MONEY, quote

#: Marts stored per published day under lake/marts/<table>/snapshot_date=D
#: (``marts_stage.py``, DESIGN.md section 3); their warehouse views read those files.
MATERIALIZED = ("roll_rates", "portfolio_summary", "vintage_curves")


def chain_values(buckets: list[str]) -> str:
    """``(VALUES (0, 'M0'), (1, 'M1'), ...) AS chain(position, bucket)``."""
    rows = ", ".join(f"({i}, {quote(b)})" for i, b in enumerate(buckets))
    return f"(VALUES {rows}) AS chain(position, bucket)"


def flow_chain(policy: ClassificationConfig) -> list[str]:
    """Delinquency buckets in roll order, ending with written-off: M0 -> M1 -> ... -> M7 -> WO."""
    return [b.name for b in policy.aging_buckets] + [policy.written_off_bucket]


_TRANSITIONS = """
WITH pairs AS (
    SELECT coalesce(c.snapshot_date, p.to_date) AS snapshot_date,
           coalesce(c.from_date, p.from_date) AS previous_date,
           coalesce(p.aging_bucket, 'NEW') AS from_bucket,
           coalesce(c.aging_bucket, 'EXIT') AS to_bucket,
           coalesce(p.outstanding_principal, c.outstanding_principal) AS balance
    FROM (SELECT d.from_date, d.snapshot_date AS to_date, a.loan_id, a.aging_bucket,
                 a.outstanding_principal
          FROM periods d JOIN loan_aging a ON a.snapshot_date = d.from_date) p
    FULL JOIN (SELECT d.from_date, d.snapshot_date, a.loan_id, a.aging_bucket,
                      a.outstanding_principal
               FROM periods d JOIN loan_aging a ON a.snapshot_date = d.snapshot_date) c
      ON c.snapshot_date = p.to_date AND c.loan_id = p.loan_id
)
SELECT snapshot_date, previous_date, from_bucket, to_bucket,
       count(*) AS loans,
       CAST(sum(balance) AS {money}) AS balance,
       count(*) / sum(count(*)) OVER (PARTITION BY snapshot_date, from_bucket) AS loans_share,
       CAST(sum(balance) AS DOUBLE)
         / nullif(sum(sum(balance)) OVER (PARTITION BY snapshot_date, from_bucket), 0)
         AS balance_share
FROM pairs
GROUP BY snapshot_date, previous_date, from_bucket, to_bucket
"""

_DAILY_PERIODS = """periods AS (
    SELECT lag(snapshot_date) OVER (ORDER BY snapshot_date) AS from_date, snapshot_date
    FROM (SELECT DISTINCT snapshot_date FROM loan_aging)
    QUALIFY from_date IS NOT NULL
)"""

# A month counts once its calendar last day is processed: a part month would compare a few
# days' movement with a month's.
_COMPLETE_MONTH_ENDS = """SELECT max(snapshot_date) AS snapshot_date FROM loan_aging
          GROUP BY date_trunc('month', snapshot_date)
          HAVING max(snapshot_date) = last_day(max(snapshot_date))"""

_MONTHLY_PERIODS = f"""periods AS (
    SELECT lag(snapshot_date) OVER (ORDER BY snapshot_date) AS from_date, snapshot_date
    FROM ({_COMPLETE_MONTH_ENDS})
    QUALIFY from_date IS NOT NULL
)"""


def roll_rates_sql() -> str:
    """Day-over-day bucket transitions: loans and balance (outstanding on the earlier day; on
    the later day for NEW loans) from_bucket x to_bucket; NEW = absent the previous processed
    day, EXIT = absent today."""
    return _TRANSITIONS.format(money=MONEY).replace("WITH ", f"WITH {_DAILY_PERIODS},\n", 1)


def roll_rates_monthly_sql() -> str:
    """The same matrix from one complete month's last day to the next complete month's."""
    return _TRANSITIONS.format(money=MONEY).replace("WITH ", f"WITH {_MONTHLY_PERIODS},\n", 1)


def month_end_balances_sql(policy: ClassificationConfig) -> str:
    """(month_end, bucket, balance): ACTIVE outstanding by bucket on each complete month's last
    day, and for the written-off bucket the outstanding written off during that month."""
    wo = quote(policy.written_off_bucket)
    return f"""
WITH month_ends AS (
    SELECT date_trunc('month', snapshot_date) AS month, snapshot_date AS month_end
    FROM ({_COMPLETE_MONTH_ENDS})
), written_off AS (
    SELECT loan_id, arg_min(outstanding_principal, snapshot_date) AS balance,
           date_trunc('month', min(snapshot_date)) AS month
    FROM loan_aging WHERE account_status = 'WRITTEN_OFF' GROUP BY loan_id
)
SELECT m.month_end, a.aging_bucket AS bucket,
       CAST(sum(a.outstanding_principal) AS {MONEY}) AS balance
FROM month_ends m JOIN loan_aging a ON a.snapshot_date = m.month_end
WHERE a.account_status = 'ACTIVE'
GROUP BY ALL
UNION ALL
SELECT m.month_end, {wo} AS bucket, CAST(sum(w.balance) AS {MONEY}) AS balance
FROM month_ends m JOIN written_off w ON w.month = m.month
GROUP BY ALL
"""


def flow_rates_sql(balances: str, chain: list[str]) -> str:
    """Flow (roll) rates: the balance in bucket k+1 at a month end over the balance in bucket k
    at the month end before; loss rate of bucket k = the product of the roll rates from k to
    the end of the chain (the last bucket's is 100%). ``balances``: (month_end, bucket, balance).
    """
    return f"""
WITH chain AS (SELECT * FROM {chain_values(chain)}),
balances AS ({balances}),
months AS (
    SELECT month_end, lag(month_end) OVER (ORDER BY month_end) AS previous_month_end
    FROM (SELECT DISTINCT month_end FROM balances)
),
grid AS (
    SELECT m.month_end, m.previous_month_end, f.position, f.bucket AS from_bucket,
           t.bucket AS to_bucket
    FROM months m CROSS JOIN chain f LEFT JOIN chain t ON t.position = f.position + 1
),
rates AS (
    SELECT g.*, coalesce(fb.balance, 0) AS from_balance, coalesce(tb.balance, 0) AS to_balance,
           CASE WHEN g.to_bucket IS NULL THEN 1.0
                ELSE CAST(coalesce(tb.balance, 0) AS DOUBLE) / nullif(CAST(fb.balance AS DOUBLE), 0)
           END AS chain_rate
    FROM grid g
    LEFT JOIN balances fb ON fb.month_end = g.previous_month_end AND fb.bucket = g.from_bucket
    LEFT JOIN balances tb ON tb.month_end = g.month_end AND tb.bucket = g.to_bucket
    WHERE g.previous_month_end IS NOT NULL
)
SELECT month_end, previous_month_end, position, from_bucket, to_bucket,
       CAST(from_balance AS {MONEY}) AS from_balance, CAST(to_balance AS {MONEY}) AS to_balance,
       CASE WHEN to_bucket IS NOT NULL THEN chain_rate END AS roll_rate,
       -- a bucket with nothing to roll from breaks the chain: no loss rate rather than 0
       CASE WHEN count(*) OVER downstream = count(chain_rate) OVER downstream
            THEN product(chain_rate) OVER downstream END AS loss_rate
FROM rates
WINDOW downstream AS (PARTITION BY month_end ORDER BY position DESC
                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
"""


def allowance_sql(rates: str, book: str) -> str:
    """Loss allowance of a book: each bucket's balance times its loss rate, at each month end.
    ``rates``: flow_rates rows; ``book``: (month_end, bucket, balance)."""
    return f"""
SELECT r.*, CAST(coalesce(b.balance, 0) AS {MONEY}) AS book_balance,
       CAST(coalesce(b.balance, 0) * r.loss_rate AS {MONEY}) AS allowance
FROM ({rates}) r LEFT JOIN ({book}) b ON b.month_end = r.month_end AND b.bucket = r.from_bucket
"""


def flow_rates_view_sql(policy: ClassificationConfig) -> str:
    """``flow_rates``: roll and loss rates between month ends, with the allowance they imply for
    the book (every bucket but written-off) at the later month end."""
    balances = month_end_balances_sql(policy)
    book = f"SELECT * FROM ({balances}) WHERE bucket <> {quote(policy.written_off_bucket)}"
    return allowance_sql(flow_rates_sql(balances, flow_chain(policy)), book)


def portfolio_summary_sql(policy: ClassificationConfig) -> str:
    """Loans, outstanding and overdue by day x product x bucket ('ALL' rolls up), with PAR1
    (dpd >= 1), PAR30 (dpd > 30), PAR90 (dpd > 90) and the NPL ratio as shares of ACTIVE
    outstanding (written-off and closed loans are off the book)."""
    npl = ", ".join(quote(c) for c in policy.five_category.npl_categories)
    active = "account_status = 'ACTIVE'"

    def share(condition: str) -> str:
        return (
            f"CAST(coalesce(sum(outstanding_principal) FILTER (WHERE {active} AND {condition}), 0)"
            " AS DOUBLE)"
            f" / nullif(CAST(sum(outstanding_principal) FILTER (WHERE {active}) AS DOUBLE), 0)"
        )

    return f"""
SELECT snapshot_date,
       CASE WHEN grouping(product_code) = 1 THEN 'ALL' ELSE product_code END AS product_code,
       CASE WHEN grouping(aging_bucket) = 1 THEN 'ALL' ELSE aging_bucket END AS aging_bucket,
       count(*) AS loans,
       CAST(sum(outstanding_principal) AS {MONEY}) AS outstanding,
       CAST(sum(overdue_amount) AS {MONEY}) AS overdue,
       CAST(coalesce(sum(outstanding_principal) FILTER (WHERE {active}), 0) AS {MONEY})
         AS active_outstanding,
       {share("dpd >= 1")} AS par1,
       {share("dpd > 30")} AS par30,
       {share("dpd > 90")} AS par90,
       CAST(coalesce(sum(outstanding_principal) FILTER (WHERE {active} AND five_category IN
         ({npl})), 0) AS {MONEY}) AS npl_outstanding,
       {share(f"five_category IN ({npl})")} AS npl_ratio
FROM loan_aging
GROUP BY GROUPING SETS ((snapshot_date, product_code, aging_bucket),
                        (snapshot_date, product_code), (snapshot_date, aging_bucket),
                        (snapshot_date))
"""


def mart_views(policy: ClassificationConfig) -> dict[str, str]:
    """View name -> SELECT, for every mart computed when queried (loan_state-based ones need
    that view too). The ``MATERIALIZED`` marts are views of their stored files instead."""
    return {
        "roll_rates_monthly": roll_rates_monthly_sql(),
        "flow_rates": flow_rates_view_sql(policy),
        "vintage_loans": vintage_loans_sql(),
        "delinquency_entries": delinquency_entries_sql(policy),
        "delinquency_cures": delinquency_cures_sql(),
        "cure_rates": cure_rates_sql(policy, "delinquency_entries", "delinquency_cures"),
    }
