"""The shared core work (see ``benchmarks.baselines``) written plainly in DuckDB SQL: each
day's CSV read with ``read_csv`` (money as DECIMAL(18,2)), the rules as CASE expressions built
from the configured thresholds, history, roll rates and channels as joins and GROUP BYs."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb

from benchmarks.baselines import FIVE_CATEGORIES, FLAG_RULES, Rules, ladder, loans_file

MONEY = ("outstanding_principal", "overdue_principal", "overdue_interest", "overdue_fees")
TYPES = {
    **dict.fromkeys(MONEY, "DECIMAL(18,2)"),
    **dict.fromkeys(("snapshot_date", "oldest_unpaid_due_date"), "DATE"),
    **dict.fromkeys(("loan_id", "borrower_id", "account_status", "forbearance_type"), "VARCHAR"),
    **dict.fromkeys((*(f for f, _ in FLAG_RULES), "litigation_flag"), "BOOLEAN"),
}


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _bucket_sql(rules: Rules) -> str:
    whens = [
        f"WHEN account_status = 'WRITTEN_OFF' THEN {_quote(rules.written_off_bucket)}",
        f"WHEN account_status = 'CLOSED' THEN {_quote(rules.closed_bucket)}",
    ]
    whens += [f"WHEN dpd <= {m} THEN {_quote(n)}" for n, m in rules.buckets if m is not None]
    return f"CASE {' '.join(whens)} ELSE {_quote(rules.buckets[-1][0])} END"


def _five_sql(rules: Rules) -> str:
    by_dpd = " ".join(
        f"WHEN dpd >= {rules.five_min_dpd[c]} THEN {rules.rank(c)}"
        for c in reversed(FIVE_CATEGORIES[1:])
    )
    rank = (
        f"greatest(CASE {by_dpd} ELSE 0 END, "
        f"CASE WHEN forbearance_type <> 'NONE' THEN {rules.rank(rules.forbearance_floor)} "
        f"ELSE 0 END, "
        f"CASE WHEN bankruptcy_flag THEN {rules.rank(rules.bankruptcy_floor)} ELSE 0 END)"
    )
    names = "[" + ", ".join(_quote(c) for c in FIVE_CATEGORIES) + "]"
    return (
        f"CASE WHEN account_status = 'CLOSED' THEN NULL "
        f"WHEN account_status = 'WRITTEN_OFF' THEN 'LOSS' ELSE {names}[{rank} + 1] END"
    )


def _ifrs9_sql(rules: Rules) -> str:
    stage3 = f"dpd > {rules.stage3_dpd_over} OR account_status = 'WRITTEN_OFF'"
    stage3 += " OR bankruptcy_flag" if rules.bankruptcy_is_stage3 else ""
    stage2 = f"dpd > {rules.stage2_dpd_over}"
    stage2 += " OR forbearance_type <> 'NONE'" if rules.forbearance_is_stage2 else ""
    return (
        f"CASE WHEN account_status = 'CLOSED' THEN NULL WHEN {stage3} THEN 3 "
        f"WHEN {stage2} THEN 2 ELSE 1 END"
    )


def aging_sql(path: Path, rules: Rules) -> str:
    """One day's loans with overdue_amount, dpd, aging_bucket, five_category, ifrs9_stage."""
    types = "{" + ", ".join(f"{_quote(k)}: {_quote(v)}" for k, v in TYPES.items()) + "}"
    overdue = "CAST(overdue_principal + overdue_interest + overdue_fees AS DECIMAL(18,2))"
    elapsed = "date_diff('day', oldest_unpaid_due_date, snapshot_date)"
    materiality = f"{rules.materiality_cents / 100:.2f}"
    return f"""
WITH src AS (
    SELECT {", ".join(TYPES)}, {overdue} AS overdue_amount
    FROM read_csv({_quote(str(path))}, header = true, types = {types})
), dpd AS (
    SELECT *, CASE WHEN oldest_unpaid_due_date IS NOT NULL
                    AND overdue_amount > {materiality} AND {elapsed} > 0
                   THEN {elapsed} ELSE 0 END AS dpd
    FROM src
)
SELECT *, {_bucket_sql(rules)} AS aging_bucket, {_five_sql(rules)} AS five_category,
       {_ifrs9_sql(rules)} AS ifrs9_stage
FROM dpd"""


EPISODES_SQL = """
WITH loans AS (
    SELECT coalesce(d2.loan_id, d1.loan_id) AS loan_id,
           coalesce(d2.borrower_id, d1.borrower_id) AS borrower_id,
           CAST(coalesce(d1.dpd >= 1, false) AS INTEGER)
           + CAST(coalesce(d2.dpd >= 1 AND NOT coalesce(d1.dpd >= 1, false), false) AS INTEGER)
             AS episodes
    FROM day1 d1 FULL JOIN day2 d2 ON d1.loan_id = d2.loan_id
)
SELECT borrower_id, CAST(sum(episodes) AS BIGINT) AS episodes_12m FROM loans GROUP BY borrower_id"""

DAY1_EPISODES_SQL = """
SELECT *, CAST(sum(CASE WHEN dpd >= 1 THEN 1 ELSE 0 END) OVER (PARTITION BY borrower_id) AS BIGINT)
          AS episodes_12m
FROM day1"""

ROLL_SQL = """
SELECT coalesce(d1.aging_bucket, 'NEW') AS from_bucket,
       coalesce(d2.aging_bucket, 'EXIT') AS to_bucket,
       count(*) AS loans,
       sum(coalesce(d1.outstanding_principal, d2.outstanding_principal)) AS balance
FROM day1 d1 FULL JOIN day2 d2 ON d1.loan_id = d2.loan_id
GROUP BY ALL"""


def channels_sql(table: str, rules: Rules) -> str:
    """Collections disposition per borrower at borrower_dpd >= queue_min_dpd (rules 1-10)."""
    flags = ", ".join(f"bool_or({f}) AS {f}" for f, _ in FLAG_RULES)
    steps = [f"WHEN {flag} THEN {_quote(outcome)}" for flag, outcome in FLAG_RULES]
    steps += [f"WHEN {cond} THEN {_quote(outcome)}" for outcome, cond in ladder(rules)]
    return f"""
WITH b AS (
    SELECT snapshot_date, borrower_id, max(dpd) AS dpd, sum(overdue_amount) AS overdue,
           CAST(sum(overdue_amount) * 100 AS BIGINT) AS overdue_cents,
           max(episodes_12m) AS episodes, count(*) AS loans,
           bool_or(litigation_flag) AS litigation, {flags}
    FROM {table} WHERE account_status = 'ACTIVE' GROUP BY ALL
)
SELECT snapshot_date, borrower_id, CASE {" ".join(steps)} END AS disposition,
       dpd AS borrower_dpd, overdue AS borrower_overdue, loans
FROM b WHERE dpd >= {rules.channel["queue_min_dpd"]}"""


def core(landing_dir: Path, day1: dt.date, day2: dt.date, rules: Rules) -> dict:
    """The shared core work for the two days; Arrow tables keyed as ``RESULT_COLUMNS``."""
    con = duckdb.connect()
    for name, day in (("day1", day1), ("day2", day2)):
        con.execute(f"CREATE TABLE {name} AS {aging_sql(loans_file(landing_dir, day), rules)}")
    con.execute(f"CREATE TABLE day1_aged AS {DAY1_EPISODES_SQL}")
    con.execute(
        "CREATE TABLE day2_aged AS SELECT d.*, e.episodes_12m "
        f"FROM day2 d JOIN ({EPISODES_SQL}) e USING (borrower_id)"
    )
    aging = "SELECT * FROM day1_aged UNION ALL BY NAME SELECT * FROM day2_aged"
    both = " UNION ALL ".join(
        f"SELECT * FROM ({channels_sql(t, rules)})" for t in ("day1_aged", "day2_aged")
    )
    result = {
        "aging": con.sql(aging).to_arrow_table(),
        "roll_rates": con.sql(ROLL_SQL).to_arrow_table(),
        "channels": con.sql(both).to_arrow_table(),
    }
    con.close()
    return result
