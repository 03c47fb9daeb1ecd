"""Portfolio marts as DuckDB SQL over ``loan_aging`` and ``loan_state`` (DESIGN.md §6).

Each function returns the SELECT behind one view of ``warehouse.duckdb`` (the vintage and cure
marts are in ``cohort_marts.py``). Buckets and windows come from ``config/classification.yaml``.
Shares and rates are DOUBLE; balances stay DECIMAL(18,2).
"""

from __future__ import annotations

from loanrisk.domain.classification import ClassificationConfig
from loanrisk.domain.cohort_marts import (
    cure_rates_sql,
    delinquency_cures_sql,
    delinquency_entries_sql,
    vintage_loans_sql,
)
from loanrisk.domain.money import MONEY_SQL
from loanrisk.domain.sql import ON_BOOK_SQL, npl_ratio_sql, npl_sql, quote

#: Marts stored per published day under lake/marts/<table>/snapshot_date=D
#: (``marts_stage.py``, DESIGN.md §3, §12); their warehouse views read those files.
MATERIALIZED = ("roll_rates", "portfolio_summary", "vintage_curves")


def chain_values(buckets: list[str]) -> str:
    """``(VALUES (0, 'M0'), (1, 'M1'), ...) AS chain(position, bucket)``."""
    rows = ", ".join(f"({i}, {quote(b)})" for i, b in enumerate(buckets))
    return f"(VALUES {rows}) AS chain(position, bucket)"


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
    return _TRANSITIONS.format(money=MONEY_SQL).replace("WITH ", f"WITH {_DAILY_PERIODS},\n", 1)


def roll_rates_monthly_sql() -> str:
    """The same matrix from one complete month's last day to the next complete month's."""
    return _TRANSITIONS.format(money=MONEY_SQL).replace("WITH ", f"WITH {_MONTHLY_PERIODS},\n", 1)


def month_end_loans_sql(chain: list[str]) -> str:
    """(month_end, loan_id, bucket, balance) on each complete month's last day: every ACTIVE loan
    in its delinquency bucket, and in the written-off bucket (``chain[-1]``) every loan first
    written off since the complete month end before (by the first one: ever), at its outstanding
    on that day, whether or not the feed still reports it. balance = outstanding_principal,
    DECIMAL(18,2). A month whose last day is missing is skipped: its write-offs count at the next
    complete month end, and the flow links that month end to the complete one before."""
    delinquent = ", ".join(quote(b) for b in chain[:-1])
    return f"""
WITH month_ends AS (
    SELECT snapshot_date AS month_end,
           lag(snapshot_date) OVER (ORDER BY snapshot_date) AS previous_month_end
    FROM ({_COMPLETE_MONTH_ENDS})
), written_off AS (
    SELECT loan_id, min(snapshot_date) AS written_off_on,
           arg_min(outstanding_principal, snapshot_date) AS balance
    FROM loan_aging WHERE account_status = 'WRITTEN_OFF' GROUP BY loan_id
)
SELECT m.month_end, a.loan_id, a.aging_bucket AS bucket, a.outstanding_principal AS balance
FROM month_ends m JOIN loan_aging a ON a.snapshot_date = m.month_end
WHERE a.account_status = 'ACTIVE' AND a.aging_bucket IN ({delinquent})
UNION ALL
SELECT m.month_end, w.loan_id, {quote(chain[-1])} AS bucket, w.balance
FROM month_ends m JOIN written_off w ON w.written_off_on <= m.month_end
 AND (m.previous_month_end IS NULL OR w.written_off_on > m.previous_month_end)
"""


def flow_links_sql(loans: str, chain: list[str]) -> str:
    """Each link of the chain between consecutive month ends m and m+1, from loan-level
    transitions (DESIGN.md §5 "v2 — flow rates"): from_balance = balance at m of the loans in
    bucket b at m; rolled_balance = the part of it whose loans are in a later bucket of the chain
    (b+1 or worse, the last one written off) at m+1. A loan absent at m+1, or in no bucket of the
    chain (closed, repaid), has not rolled. Since rolled loans are a subset of b's loans,
    0 <= rolled_balance <= from_balance. ``loans``: (month_end, loan_id, bucket, balance)."""
    return f"""
WITH chain AS (SELECT * FROM {chain_values(chain)}),
loans AS (
    SELECT l.month_end, l.loan_id, l.balance, c.position
    FROM ({loans}) l JOIN chain c ON c.bucket = l.bucket
),
months AS (
    SELECT month_end, lag(month_end) OVER (ORDER BY month_end) AS previous_month_end
    FROM (SELECT DISTINCT month_end FROM loans)
),
moves AS (
    -- EXISTS, not a join: a loan counts once however many rows it has at m+1
    SELECT m.month_end, m.previous_month_end, f.position, f.balance,
           EXISTS (SELECT 1 FROM loans t WHERE t.month_end = m.month_end
                   AND t.loan_id = f.loan_id AND t.position > f.position) AS rolled
    FROM months m JOIN loans f ON f.month_end = m.previous_month_end
)
SELECT month_end, previous_month_end, position, sum(balance) AS from_balance,
       coalesce(sum(balance) FILTER (WHERE rolled), 0) AS rolled_balance
FROM moves
GROUP BY month_end, previous_month_end, position
"""


def flow_rates_sql(links: str, chain: list[str]) -> str:
    """Flow (roll) rates: rolled_balance / from_balance of each link; loss rate of bucket b = the
    product of the roll rates from b to the end of the chain (the last bucket's is 100%), so
    every rate lies in [0, 1]. ``links``: (month_end, previous_month_end, position, from_balance,
    rolled_balance), as ``flow_links_sql`` gives."""
    return f"""
WITH chain AS (SELECT * FROM {chain_values(chain)}),
links AS ({links}),
months AS (SELECT DISTINCT month_end, previous_month_end FROM links),
grid AS (
    SELECT m.month_end, m.previous_month_end, f.position, f.bucket AS from_bucket,
           t.bucket AS to_bucket
    FROM months m CROSS JOIN chain f LEFT JOIN chain t ON t.position = f.position + 1
),
rates AS (
    SELECT g.*, coalesce(l.from_balance, 0) AS from_balance,
           coalesce(l.rolled_balance, 0) AS rolled_balance,
           CASE WHEN g.to_bucket IS NULL THEN 1.0
                ELSE CAST(l.rolled_balance AS DOUBLE) / nullif(CAST(l.from_balance AS DOUBLE), 0)
           END AS chain_rate
    FROM grid g
    LEFT JOIN links l ON l.month_end = g.month_end AND l.position = g.position
)
SELECT month_end, previous_month_end, position, from_bucket, to_bucket,
       CAST(from_balance AS {MONEY_SQL}) AS from_balance,
       CAST(rolled_balance AS {MONEY_SQL}) AS rolled_balance,
       CASE WHEN to_bucket IS NOT NULL THEN chain_rate END AS roll_rate,
       -- a bucket with nothing to roll from breaks the chain: no loss rate rather than 0
       CASE WHEN count(*) OVER downstream = count(chain_rate) OVER downstream
            THEN product(chain_rate) OVER downstream END AS loss_rate
FROM rates
WINDOW downstream AS (PARTITION BY month_end ORDER BY position DESC
                      ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
"""


def provision_sql(balance: str, loss_rate: str) -> str:
    """Provision matrix, one bucket: balance x loss rate as DECIMAL(18,2) (IFRS 9 B5.5.35 and
    Illustrative Example 12); never above the balance when the loss rate is in [0, 1]."""
    return f"CAST(coalesce({balance}, 0) * {loss_rate} AS {MONEY_SQL})"


def allowance_sql(rates: str, book: str) -> str:
    """Loss allowance of a book by its provision matrix: each bucket's balance times its loss
    rate, at each month end. ``rates``: (month_end, from_bucket, loss_rate, ...) rows;
    ``book``: (month_end, bucket, balance)."""
    return f"""
SELECT r.*, CAST(coalesce(b.balance, 0) AS {MONEY_SQL}) AS book_balance,
       {provision_sql("b.balance", "r.loss_rate")} AS allowance
FROM ({rates}) r LEFT JOIN ({book}) b ON b.month_end = r.month_end AND b.bucket = r.from_bucket
"""


def chain_flow_rates_sql(chain: list[str]) -> str:
    """Roll and loss rates of ``chain`` (delinquency buckets, then written-off) between complete
    month ends of ``loan_aging``, with the allowance they imply for the book of ACTIVE loans at
    the later month end (written-off loans are off the book: DESIGN.md §5)."""
    loans = month_end_loans_sql(chain)
    book = f"""SELECT month_end, bucket, sum(balance) AS balance FROM ({loans})
WHERE bucket <> {quote(chain[-1])} GROUP BY month_end, bucket"""
    return allowance_sql(flow_rates_sql(flow_links_sql(loans, chain), chain), book)


def flow_rates_view_sql(policy: ClassificationConfig) -> str:
    """``flow_rates``: the policy's chain M0 -> M1 -> ... -> M7 -> WO (``chain_flow_rates_sql``)."""
    return chain_flow_rates_sql(list(policy.roll_chain))


def portfolio_summary_sql(policy: ClassificationConfig) -> str:
    """Loans, outstanding and overdue by day x product x bucket ('ALL' rolls up), with PAR1
    (dpd >= 1), PAR30 (dpd > 30), PAR90 (dpd > 90) and the NPL ratio as shares of the book's
    outstanding: the ACTIVE loans (DESIGN.md §5 v2: written-off and closed loans are off the
    book). The book and the NPL ratio are ``loanrisk.domain.regulatory``'s one definition, shared
    with
    ``reg_five_category``."""
    npl = npl_sql(policy.five_category.npl_categories)
    active = ON_BOOK_SQL

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
       CAST(sum(outstanding_principal) AS {MONEY_SQL}) AS outstanding,
       CAST(sum(overdue_amount) AS {MONEY_SQL}) AS overdue,
       CAST(coalesce(sum(outstanding_principal) FILTER (WHERE {active}), 0) AS {MONEY_SQL})
         AS active_outstanding,
       {share("dpd >= 1")} AS par1,
       {share("dpd > 30")} AS par30,
       {share("dpd > 90")} AS par90,
       CAST(coalesce(sum(outstanding_principal) FILTER (WHERE {active} AND {npl}), 0)
         AS {MONEY_SQL}) AS npl_outstanding,
       {npl_ratio_sql(policy.five_category.npl_categories)} AS npl_ratio
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
