"""Upgrade probation (DESIGN.md §5 v2), day by day on tiny inline books with a pinned policy:
a non-performing loan keeps its class after its arrears clear until the 2023 measures' upgrade
conditions hold; stage 3 is left only after its probation; the forbearance floor is observed."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from conftest import classification_policy as policy

from loanrisk.domain.aging import five_category, ifrs9_stage
from loanrisk.domain.probation import probation_state, with_probation

START = dt.date(2026, 1, 1)


def loan_day(day: dt.date, dpd: int, due: dt.date | None, **extra) -> dict:
    row = {
        "loan_id": "L1",
        "borrower_id": "B1",
        "snapshot_date": day,
        "account_status": "ACTIVE",
        "dpd": dpd,
        "forbearance_type": "NONE",
        "bankruptcy_flag": False,
        "next_due_date": due,
    }
    return row | extra


def run(days: list[list[dict]], rules) -> list[pl.DataFrame]:
    """Age each day's loans by the dpd rules, then probation from the day before's state."""
    state, out = None, []
    for rows in days:
        frame = pl.LazyFrame(rows).with_columns(
            five_category(rules), ifrs9_stage(rules), pl.col("dpd").cast(pl.Int32)
        )
        held = with_probation(frame, state, rules).collect()
        state = probation_state(held.lazy()).collect().lazy()
        out.append(held)
    return out


def at(frame: pl.DataFrame, loan: str = "L1") -> dict:
    return frame.filter(pl.col("loan_id") == loan).row(0, named=True)


def test_npl_loan_keeps_its_class_until_two_repayments_after_the_cure():
    # given a loan 100 dpd (SUBSTANDARD, stage 3) whose arrears clear on day 2, then two
    # instalments paid on time (next_due_date moves forward on days 3 and 4)
    due = [dt.date(2026, 2, 1), dt.date(2026, 2, 1), dt.date(2026, 3, 1), dt.date(2026, 4, 1)]
    dpds = [100, 0, 0, 0]
    days = [[loan_day(START + dt.timedelta(d), dpds[d], due[d])] for d in range(4)]
    # when aged day by day
    out = [at(f) for f in run(days, policy(stage3_probation_months=0))]
    # then it is not NORMAL the day it cures, nor after one repayment; after two it upgrades
    assert [r["five_category"] for r in out] == ["SUBSTANDARD"] * 3 + ["NORMAL"]
    assert [r["npl_probation"] for r in out] == [False, True, True, False]
    assert [r["repayments_since_cure"] for r in out] == [None, 0, 1, 2]
    assert out[1]["npl_cure_date"] == START + dt.timedelta(1)


def test_months_condition_is_the_longer_of_the_two():
    # given the policy's six months after the cure on top of two repayments
    rules = policy(npl_upgrade_min_months=6, stage3_probation_months=0)
    cure = START + dt.timedelta(1)
    rows = [
        [loan_day(START, 120, dt.date(2026, 1, 20))],
        [loan_day(cure, 0, dt.date(2026, 2, 20))],
        [loan_day(dt.date(2026, 2, 21), 0, dt.date(2026, 3, 20))],
        [loan_day(dt.date(2026, 3, 21), 0, dt.date(2026, 4, 20))],
        [loan_day(dt.date(2026, 7, 1), 0, dt.date(2026, 7, 20))],
        [loan_day(dt.date(2026, 7, 2), 0, dt.date(2026, 7, 20))],
    ]
    # when the two repayments are made within two months of the cure
    out = [at(f) for f in run(rows, rules)]
    # then the class is held until six months after the cure (2026-07-02)
    classes = [r["five_category"] for r in out]
    assert classes == ["SUBSTANDARD"] * 5 + ["NORMAL"]
    assert out[4]["repayments_since_cure"] == 3


def test_a_day_past_due_again_restarts_the_count():
    rules = policy(stage3_probation_months=0)
    due = dt.date(2026, 2, 1)
    rows = [
        [loan_day(START, 95, due)],
        [loan_day(START + dt.timedelta(1), 0, dt.date(2026, 3, 1))],
        [loan_day(START + dt.timedelta(2), 0, dt.date(2026, 4, 1))],
        [loan_day(START + dt.timedelta(3), 3, dt.date(2026, 4, 1))],
        [loan_day(START + dt.timedelta(4), 0, dt.date(2026, 5, 1))],
    ]
    out = [at(f) for f in run(rows, rules)]
    assert [r["five_category"] for r in out] == ["SUBSTANDARD"] * 5
    assert [r["repayments_since_cure"] for r in out] == [None, 0, 1, None, 0]


def test_another_credit_impaired_loan_of_the_borrower_blocks_the_upgrade():
    rules = policy(npl_upgrade_min_repayments=0, stage3_probation_months=0)
    other = {"loan_id": "L2"}
    rows = [
        [loan_day(START, 100, None), loan_day(START, 100, None, **other)],
        [loan_day(START + dt.timedelta(1), 0, None), loan_day(START, 101, None, **other)],
    ]
    out = run(rows, rules)
    # L1 has cured and needs no repayment, but L2 is still 101 dpd: L1 stays SUBSTANDARD
    assert at(out[1])["five_category"] == "SUBSTANDARD"
    rows.append([loan_day(START + dt.timedelta(2), 0, None), loan_day(START, 0, None, **other)])
    out = run(rows, rules)
    assert at(out[2])["five_category"] == "NORMAL"  # both cleared: no impaired loan left
    assert at(out[2], "L2")["five_category"] == "NORMAL"


def test_stage3_is_left_only_after_three_months_at_dpd_0():
    rules = policy(npl_upgrade_min_repayments=0)
    days = [START, dt.date(2026, 1, 2), dt.date(2026, 4, 1), dt.date(2026, 4, 2)]
    rows = [[loan_day(days[0], 100, None)]] + [[loan_day(d, 0, None)] for d in days[1:]]
    out = [at(f) for f in run(rows, rules)]
    assert [r["ifrs9_stage"] for r in out] == [3, 3, 3, 1]
    assert [r["stage3_probation"] for r in out] == [False, True, True, False]
    assert out[2]["stage3_cure_date"] == dt.date(2026, 1, 2)


def test_partial_cure_stays_in_stage3_and_the_probation_starts_at_dpd_0():
    rules = policy(npl_upgrade_min_repayments=0)
    days = [START, dt.date(2026, 1, 2), dt.date(2026, 1, 3), dt.date(2026, 4, 3)]
    rows = [[loan_day(d, dpd, None)] for d, dpd in zip(days, [95, 40, 0, 0], strict=True)]
    out = [at(f) for f in run(rows, rules)]
    assert [r["ifrs9_stage"] for r in out] == [3, 3, 3, 1]
    assert out[1]["stage3_cure_date"] is None


@pytest.mark.parametrize(("months", "held"), [(0, False), (12, True)])
def test_forbearance_floor_is_observed_after_the_plan_ends(months, held):
    rules = policy(forbearance_observation_months=months)
    rows = [
        [loan_day(START, 0, None, forbearance_type="INSTALLMENT_PLAN")],
        [loan_day(dt.date(2026, 6, 1), 0, None)],
    ]
    out = [at(f) for f in run(rows, rules)]
    assert out[0]["five_category"] == "SPECIAL_MENTION"
    assert out[1]["five_category"] == ("SPECIAL_MENTION" if held else "NORMAL")
    assert out[1]["last_forborne_date"] == START


def test_written_off_and_closed_are_never_held():
    rules = policy()
    rows = [
        [loan_day(START, 100, None), loan_day(START, 100, None, loan_id="L2")],
        [
            loan_day(START + dt.timedelta(1), 0, None, account_status="WRITTEN_OFF"),
            loan_day(START + dt.timedelta(1), 0, None, loan_id="L2", account_status="CLOSED"),
        ],
    ]
    out = run(rows, rules)[1]
    assert (at(out)["five_category"], at(out)["ifrs9_stage"]) == ("LOSS", 3)
    assert (at(out, "L2")["five_category"], at(out, "L2")["ifrs9_stage"]) == (None, None)
