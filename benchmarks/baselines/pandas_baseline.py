"""The shared core work (see ``benchmarks.baselines``) written plainly in pandas: vectorised
column operations, ``merge`` and ``groupby``, no row loops. Money is read as float and turned
into integer cents at once (exact for any amount below 2**53 cents), so sums are exact."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.baselines import FIVE_CATEGORIES, FLAG_RULES, Rules, ladder, loans_file

MONEY = ("outstanding_principal", "overdue_principal", "overdue_interest", "overdue_fees")
FLAG_COLUMNS = (*(f for f, _ in FLAG_RULES), "litigation_flag")
TEXT = ("loan_id", "borrower_id", "account_status", "forbearance_type")
DATES = ("snapshot_date", "oldest_unpaid_due_date")


def read_loans(path: Path) -> pd.DataFrame:
    """The columns the rules need, typed; money as int64 cents."""
    dtypes = {**dict.fromkeys(TEXT, str), **dict.fromkeys(MONEY, float)}
    dtypes.update(dict.fromkeys(FLAG_COLUMNS, bool))
    df = pd.read_csv(path, usecols=[*TEXT, *DATES, *MONEY, *FLAG_COLUMNS], dtype=dtypes)
    for column in DATES:
        df[column] = pd.to_datetime(df[column], format="%Y-%m-%d")
    for column in MONEY:
        df[column] = (df[column] * 100).round().astype("int64")
    return df


def add_rules(df: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """overdue_amount, dpd, aging_bucket, five_category and ifrs9_stage (DESIGN §5)."""
    df["overdue_amount"] = df["overdue_principal"] + df["overdue_interest"] + df["overdue_fees"]
    elapsed = (df["snapshot_date"] - df["oldest_unpaid_due_date"]).dt.days
    past_due = (
        df["oldest_unpaid_due_date"].notna()
        & (df["overdue_amount"] > rules.materiality_cents)
        & (elapsed > 0)
    )
    df["dpd"] = elapsed.where(past_due, 0).astype("int64")
    written_off, closed = df["account_status"] == "WRITTEN_OFF", df["account_status"] == "CLOSED"
    forborne = df["forbearance_type"] != "NONE"
    df["aging_bucket"] = _bucket(df["dpd"], written_off, closed, rules)
    df["five_category"] = _five_category(df, written_off, closed, forborne, rules)
    df["ifrs9_stage"] = _ifrs9_stage(df, written_off, closed, forborne, rules)
    return df


def _bucket(dpd: pd.Series, written_off, closed, rules: Rules) -> np.ndarray:
    conditions = [written_off, closed] + [dpd <= m for _, m in rules.buckets if m is not None]
    names = [rules.written_off_bucket, rules.closed_bucket]
    names += [n for n, m in rules.buckets if m is not None]
    return np.select(conditions, names, default=rules.buckets[-1][0])


def _five_category(df, written_off, closed, forborne, rules: Rules) -> pd.Series:
    dpd = df["dpd"]
    by_dpd = np.select(
        [dpd >= rules.five_min_dpd[c] for c in reversed(FIVE_CATEGORIES[1:])],
        [rules.rank(c) for c in reversed(FIVE_CATEGORIES[1:])],
        default=0,
    )
    rank = np.maximum(by_dpd, np.where(forborne, rules.rank(rules.forbearance_floor), 0))
    rank = np.maximum(rank, np.where(df["bankruptcy_flag"], rules.rank(rules.bankruptcy_floor), 0))
    rank = np.where(written_off, rules.rank("LOSS"), rank)
    names = pd.Series(np.array(FIVE_CATEGORIES, dtype=object)[rank], index=df.index)
    return names.where(~closed, None)


def _ifrs9_stage(df, written_off, closed, forborne, rules: Rules) -> pd.Series:
    stage3 = (df["dpd"] > rules.stage3_dpd_over) | written_off
    if rules.bankruptcy_is_stage3:
        stage3 |= df["bankruptcy_flag"]
    stage2 = df["dpd"] > rules.stage2_dpd_over
    if rules.forbearance_is_stage2:
        stage2 |= forborne
    stage = pd.Series(np.select([stage3, stage2], [3, 2], default=1), index=df.index)
    return stage.astype("Int64").mask(closed)


def with_episodes(day1: pd.DataFrame, day2: pd.DataFrame) -> None:
    """Borrower episodes_12m on both days (history starting on day 1; DESIGN §5: an episode
    starts at dpd >= 1 when the previous day had dpd 0 or no row)."""
    day1["loan_episodes"] = (day1["dpd"] >= 1).astype("int64")
    day1["episodes_12m"] = day1.groupby("borrower_id")["loan_episodes"].transform("sum")
    both = day1[["loan_id", "borrower_id", "dpd", "loan_episodes"]].merge(
        day2[["loan_id", "borrower_id", "dpd"]], on="loan_id", how="outer", suffixes=("_1", "_2")
    )
    starts = (both["dpd_2"] >= 1) & ~(both["dpd_1"] >= 1)
    both["episodes"] = both["loan_episodes"].fillna(0).astype("int64") + starts.astype("int64")
    both["borrower_id"] = both["borrower_id_2"].fillna(both["borrower_id_1"])
    per_borrower = both.groupby("borrower_id")["episodes"].sum().rename("episodes_12m")
    day2["episodes_12m"] = day2["borrower_id"].map(per_borrower).astype("int64")


def roll_rates(day1: pd.DataFrame, day2: pd.DataFrame) -> pd.DataFrame:
    """Loans and balance by day-1 bucket x day-2 bucket; NEW/EXIT for loans on one day only;
    balance = day-1 outstanding (day-2 for NEW loans)."""
    columns = ["loan_id", "aging_bucket", "outstanding_principal"]
    both = day1[columns].merge(day2[columns], on="loan_id", how="outer", suffixes=("_1", "_2"))
    both["from_bucket"] = both["aging_bucket_1"].fillna("NEW")
    both["to_bucket"] = both["aging_bucket_2"].fillna("EXIT")
    both["balance"] = (
        both["outstanding_principal_1"].fillna(both["outstanding_principal_2"]).astype("int64")
    )
    grouped = both.groupby(["from_bucket", "to_bucket"], as_index=False)
    return grouped.agg(loans=("loan_id", "size"), balance=("balance", "sum"))


def channels(df: pd.DataFrame, rules: Rules) -> pd.DataFrame:
    """Collections disposition per borrower at borrower_dpd >= queue_min_dpd (rules 1-10)."""
    active = df[df["account_status"] == "ACTIVE"]
    agg = {f: (f, "any") for f in FLAG_COLUMNS}
    borrowers = active.groupby("borrower_id", as_index=False).agg(
        snapshot_date=("snapshot_date", "first"),
        dpd=("dpd", "max"),
        overdue_cents=("overdue_amount", "sum"),
        episodes=("episodes_12m", "max"),
        loans=("loan_id", "size"),
        litigation=("litigation_flag", "any"),
        **agg,
    )
    borrowers = borrowers[borrowers["dpd"] >= rules.channel["queue_min_dpd"]].copy()
    steps = [(borrowers[f], outcome) for f, outcome in FLAG_RULES]
    steps += [(borrowers.eval(cond), outcome) for outcome, cond in ladder(rules)]
    borrowers["disposition"] = np.select([c for c, _ in steps], [o for _, o in steps], None)
    return borrowers.rename(columns={"dpd": "borrower_dpd", "overdue_cents": "borrower_overdue"})


def core(landing_dir: Path, day1: dt.date, day2: dt.date, rules: Rules) -> dict:
    """The shared core work for the two days; frames keyed as ``RESULT_COLUMNS``."""
    first = add_rules(read_loans(loans_file(landing_dir, day1)), rules)
    second = add_rules(read_loans(loans_file(landing_dir, day2)), rules)
    with_episodes(first, second)
    return {
        "aging": pd.concat([first, second], ignore_index=True),
        "roll_rates": roll_rates(first, second),
        "channels": pd.concat([channels(first, rules), channels(second, rules)]),
    }
