"""Risk actions on hand-built borrowers, each rule at its edge."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from conftest import edited_policy

from loanrisk.domain.features import SIGNAL_COLUMNS
from loanrisk.domain.risk_actions import RiskActionPolicy, load_risk_action_policy, risk_actions
from loanrisk.domain.signals import SIGNALS
from loanrisk.errors import ConfigError

DAY = dt.date(2026, 10, 29)


#: The tests' risk-action policy (DESIGN.md §5), pinned here, not read from config/.
ACTIONS = {
    "freeze_line": {
        "min_dpd": 1,
        "fraud_signals": [
            "signal_login_failure_burst",
            "signal_new_device",
            "signal_cash_out_after_disbursement",
        ],
    },
    "reduce_limit": {"score_below": 560, "products": ["CREDIT_LINE"]},
    "watchlist": {
        "signals": list(SIGNALS),
    },
    "blacklist": {"min_episodes_12m": 3, "dpd_over": 90, "days_without_payment": 90},
    "pricing_tiers": [
        {"tier": "A", "min_score": 640},
        {"tier": "B", "min_score": 610},
        {"tier": "C", "min_score": 580},
        {"tier": "D", "min_score": 550},
        {"tier": "E", "min_score": None},
    ],
}


@pytest.fixture(scope="module")
def action_policy():
    return RiskActionPolicy.model_validate(ACTIONS)


def loan(borrower, loan_id, dpd=0, score=600.0, product="CASH_LOAN", **extra) -> dict:
    row = {
        "snapshot_date": DAY,
        "borrower_id": borrower,
        "loan_id": loan_id,
        "product_code": product,
        "account_status": extra.pop("status", "ACTIVE"),
        "dpd": dpd,
        "score": score,
        "episodes_12m": extra.pop("episodes", 0),
        "last_payment_date": extra.pop("paid", DAY),
    }
    row.update(dict.fromkeys(SIGNAL_COLUMNS, 0))
    row.update(extra)
    return row


def actions(policy, *rows) -> dict[tuple[str, str], tuple]:
    frame = pl.LazyFrame(list(rows)).with_columns(
        pl.col("dpd", "episodes_12m", *SIGNAL_COLUMNS).cast(pl.Int32)
    )
    out = risk_actions(frame, policy).collect()
    return {
        (r["borrower_id"], r["action"]): (r["action_value"], r["rule"])
        for r in out.iter_rows(named=True)
    }


def test_freeze_at_dpd_1_and_on_a_fraud_signal_not_at_dpd_0(action_policy):
    got = actions(
        action_policy,
        loan("B0", "L0", dpd=0),
        loan("B1", "L1", dpd=1),
        loan("B2", "L2", signal_new_device=1),
        loan("B3", "L3", signal_out_of_province_login=2),  # watch, not fraud-like
    )
    assert ("B0", "FREEZE_LINE") not in got
    assert got[("B1", "FREEZE_LINE")][1] == "borrower_dpd 1 >= 1"
    assert got[("B2", "FREEZE_LINE")][1] == "signal_new_device = 1"
    assert ("B3", "FREEZE_LINE") not in got
    assert got[("B3", "WATCHLIST")][1] == "signal_out_of_province_login = 2"
    assert ("B0", "WATCHLIST") not in got


def test_reduce_limit_below_the_cut_for_credit_line_holders_only(action_policy):
    cut = action_policy.reduce_limit.score_below
    got = actions(
        action_policy,
        loan("B1", "L1", score=cut - 0.1, product="CREDIT_LINE"),
        loan("B2", "L2", score=cut, product="CREDIT_LINE"),
        loan("B3", "L3", score=cut - 50, product="CASH_LOAN"),
    )
    assert got[("B1", "REDUCE_LIMIT")][1] == f"score {cut - 0.1:g} < {cut:g}"
    assert ("B2", "REDUCE_LIMIT") not in got and ("B3", "REDUCE_LIMIT") not in got


def test_blacklist_needs_all_three_conditions(action_policy):
    long_ago = DAY - dt.timedelta(days=90)
    recent = DAY - dt.timedelta(days=89)
    got = actions(
        action_policy,
        loan("B1", "L1", dpd=91, episodes=3, paid=long_ago),
        loan("B2", "L2", dpd=91, episodes=2, paid=long_ago),
        loan("B3", "L3", dpd=90, episodes=3, paid=None),
        loan("B4", "L4", dpd=120, episodes=3, paid=recent),
    )
    assert got[("B1", "BLACKLIST")][1] == (
        "episodes_12m 3 >= 3; dpd > 90 and no payment in 90 days on L1"
    )
    assert all((b, "BLACKLIST") not in got for b in ("B2", "B3", "B4"))


def test_borrower_consolidates_loans_and_prices_by_the_lowest_score(action_policy):
    got = actions(
        action_policy,
        loan("B1", "L1", score=700.0),
        loan("B1", "L2", score=612.0, dpd=3),
        loan("B1", "L3", score=100.0, status="CLOSED"),  # closed loans do not count
        loan("B2", "L4", score=None),
        loan("B3", "L5", score=640.0),
    )
    assert got[("B1", "PRICING_TIER")] == ("B", "score 612.0")
    assert got[("B1", "FREEZE_LINE")][1] == "borrower_dpd 3 >= 1"
    assert got[("B2", "PRICING_TIER")] == ("E", "no score: riskiest tier")
    assert got[("B3", "PRICING_TIER")][0] == "A"


def test_policy_errors_name_the_key(tmp_path, action_policy):
    def edited(edit):
        return edited_policy(tmp_path, "risk_actions.yaml", ACTIONS, edit)

    assert load_risk_action_policy(edited(lambda d: None)) == action_policy  # as pinned, it loads
    with pytest.raises(ConfigError, match=r"freeze_line.fraud_signals: unknown signal"):
        load_risk_action_policy(edited(lambda d: d["freeze_line"]["fraud_signals"].append("x")))
    with pytest.raises(ConfigError, match=r"pricing_tiers: min_score must strictly descend"):
        load_risk_action_policy(edited(lambda d: d["pricing_tiers"][1].update(min_score=700)))


def test_loan_lists_are_sorted_whatever_the_input_order(action_policy):
    """loan_ids and the blacklist rule's loans are sorted (byte-stable extracts), for a
    borrower with several loans as for one with a single loan."""
    long_ago = DAY - dt.timedelta(days=90)
    rows = [
        loan("B1", "L9", dpd=91, episodes=3, paid=long_ago),
        loan("B1", "L2", dpd=95, episodes=3, paid=long_ago),
        loan("B1", "L5", dpd=0, episodes=3),
        loan("B2", "L7"),
    ]
    frame = pl.LazyFrame(rows).with_columns(
        pl.col("dpd", "episodes_12m", *SIGNAL_COLUMNS).cast(pl.Int32)
    )
    out = risk_actions(frame, action_policy).collect()
    loan_ids = dict(out.select("borrower_id", "loan_ids").unique("borrower_id").iter_rows())
    assert loan_ids == {"B1": ["L2", "L5", "L9"], "B2": ["L7"]}
    rule = out.filter(pl.col("action") == "BLACKLIST")["rule"].to_list()
    assert rule == ["episodes_12m 3 >= 3; dpd > 90 and no payment in 90 days on L2,L9"]
