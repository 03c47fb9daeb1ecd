"""DESIGN.md §5 rules at their boundaries, on tiny inline frames."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from loanrisk.domain.aging import (
    aging_bucket,
    days_past_due,
    five_category,
    ifrs9_stage,
    loan_aging,
)
from loanrisk.domain.money import MONEY

DAY = dt.date(2026, 6, 30)


def book(*loans: dict) -> pl.LazyFrame:
    """Loans with sensible defaults: ACTIVE, no forbearance, not bankrupt, 100.00 overdue."""
    rows = []
    for loan in loans:
        row = {
            "snapshot_date": DAY,
            "oldest_unpaid_due_date": None,
            "overdue_principal": Decimal("100.00"),
            "overdue_interest": Decimal("0.00"),
            "overdue_fees": Decimal("0.00"),
            "account_status": "ACTIVE",
            "forbearance_type": "NONE",
            "bankruptcy_flag": False,
            "days_past_due": 0,
        }
        if "dpd" in loan:
            loan = dict(loan)
            row["oldest_unpaid_due_date"] = DAY - dt.timedelta(days=loan.pop("dpd"))
        row.update(loan)
        rows.append(row)
    schema = {
        "snapshot_date": pl.Date,
        "oldest_unpaid_due_date": pl.Date,
        "overdue_principal": MONEY,
        "overdue_interest": MONEY,
        "overdue_fees": MONEY,
        "account_status": pl.String,
        "forbearance_type": pl.String,
        "bankruptcy_flag": pl.Boolean,
        "days_past_due": pl.Int32,
    }
    return pl.LazyFrame(rows, schema=schema)


def aged(policy, *loans: dict) -> pl.DataFrame:
    return loan_aging(book(*loans), policy).collect()


@pytest.mark.parametrize(
    ("dpd", "bucket", "category", "stage"),
    [
        (0, "M0", "NORMAL", 1),
        (1, "M1", "SPECIAL_MENTION", 1),
        (30, "M1", "SPECIAL_MENTION", 1),
        (31, "M2", "SPECIAL_MENTION", 2),
        (60, "M2", "SPECIAL_MENTION", 2),
        (61, "M3", "SPECIAL_MENTION", 2),
        (90, "M3", "SPECIAL_MENTION", 2),
        (91, "M4", "SUBSTANDARD", 3),
        (120, "M4", "SUBSTANDARD", 3),
        (121, "M5", "SUBSTANDARD", 3),
        (150, "M5", "SUBSTANDARD", 3),
        (151, "M6", "SUBSTANDARD", 3),
        (180, "M6", "SUBSTANDARD", 3),
        (181, "M7", "SUBSTANDARD", 3),
        (270, "M7", "SUBSTANDARD", 3),
        (271, "M7", "DOUBTFUL", 3),
        (360, "M7", "DOUBTFUL", 3),
        (361, "M7", "LOSS", 3),
    ],
)
def test_boundaries(policy, dpd, bucket, category, stage):
    row = aged(policy, {"dpd": dpd}).row(0, named=True)
    assert (row["dpd"], row["aging_bucket"], row["five_category"], row["ifrs9_stage"]) == (
        dpd,
        bucket,
        category,
        stage,
    )
    assert row["is_npl"] is (category in ("SUBSTANDARD", "DOUBTFUL", "LOSS"))


def test_nothing_overdue_is_current_even_with_a_stale_due_date(policy):
    frame = aged(
        policy,
        {"dpd": 45, "overdue_principal": Decimal("0.00")},
        {},
    )
    assert frame["dpd"].to_list() == [0, 0]
    assert frame["aging_bucket"].to_list() == ["M0", "M0"]


def test_materiality_amount_is_exclusive(policy):
    strict = policy.model_copy(update={"materiality_amount": Decimal("5.00")})
    frame = loan_aging(
        book(
            {"dpd": 40, "overdue_principal": Decimal("3.00"), "overdue_fees": Decimal("2.00")},
            {"dpd": 40, "overdue_principal": Decimal("3.00"), "overdue_fees": Decimal("2.01")},
        ),
        strict,
    ).collect()
    assert frame["dpd"].to_list() == [0, 40]
    assert frame["overdue_amount"].to_list() == [Decimal("5.00"), Decimal("5.01")]


def test_a_loan_due_today_is_not_past_due(policy):
    row = aged(policy, {"dpd": 0}).row(0, named=True)
    assert row["dpd"] == 0 and row["aging_bucket"] == "M0" and row["five_category"] == "NORMAL"


def test_written_off_is_wo_and_loss_whatever_its_dpd(policy):
    frame = aged(policy, {"dpd": 10, "account_status": "WRITTEN_OFF"})
    assert frame.select("aging_bucket", "five_category", "is_npl", "ifrs9_stage").row(0) == (
        "WO",
        "LOSS",
        True,
        3,
    )


def test_closed_loans_are_not_classified(policy):
    frame = aged(policy, {"account_status": "CLOSED"})
    assert frame.select("aging_bucket", "five_category", "is_npl", "ifrs9_stage").row(0) == (
        "CLOSED",
        None,
        None,
        None,
    )


@pytest.mark.parametrize("forbearance", ["INSTALLMENT_PLAN", "DEFERRAL"])
def test_forbearance_floors_at_special_mention_and_stage_2(policy, forbearance):
    frame = aged(
        policy,
        {"forbearance_type": forbearance},
        {"forbearance_type": forbearance, "dpd": 100},
    )
    assert frame["five_category"].to_list() == ["SPECIAL_MENTION", "SUBSTANDARD"]
    assert frame["ifrs9_stage"].to_list() == [2, 3]


def test_bankruptcy_floors_at_substandard_and_stage_3(policy):
    frame = aged(
        policy,
        {"bankruptcy_flag": True},
        {"bankruptcy_flag": True, "dpd": 300},
    )
    assert frame["five_category"].to_list() == ["SUBSTANDARD", "DOUBTFUL"]
    assert frame["is_npl"].to_list() == [True, True]
    assert frame["ifrs9_stage"].to_list() == [3, 3]


def test_rules_read_their_thresholds_from_the_policy(policy):
    five = policy.five_category
    thresholds = five.thresholds.model_copy(update={"substandard_min_dpd": 61})
    bucketed = policy.model_copy(
        update={"five_category": five.model_copy(update={"profiles": {five.profile: thresholds}})}
    )
    frame = book({"dpd": 61}).with_columns(days_past_due(bucketed)).collect()
    assert frame.select(five_category(bucketed))["five_category"].to_list() == ["SUBSTANDARD"]
    assert frame.select(aging_bucket(bucketed))["aging_bucket"].to_list() == ["M3"]
    assert frame.select(ifrs9_stage(bucketed))["ifrs9_stage"].to_list() == [2]


@pytest.mark.parametrize(
    ("profile", "categories"),
    [
        ("cbirc_2023", ["SPECIAL_MENTION", "SUBSTANDARD", "SUBSTANDARD", "SUBSTANDARD", "LOSS"]),
        ("credit_card_2017", ["SPECIAL_MENTION", "SUBSTANDARD", "DOUBTFUL", "LOSS", "LOSS"]),
    ],
)
def test_classification_profile_picks_the_thresholds(policy, profile, categories):
    # given both profiles of DESIGN.md §5 v2, pinned here, and loans at 90, 120, 150, 200, 400 dpd
    profiles = {
        "cbirc_2023": {
            "special_mention_min_dpd": 1,
            "substandard_min_dpd": 91,
            "doubtful_min_dpd": 271,
            "loss_min_dpd": 361,
        },
        "credit_card_2017": {
            "special_mention_min_dpd": 1,
            "substandard_min_dpd": 91,
            "doubtful_min_dpd": 121,
            "loss_min_dpd": 181,
        },
    }
    five = policy.five_category.model_dump() | {"profile": profile, "profiles": profiles}
    chosen = policy.model_copy(update={"five_category": type(policy.five_category)(**five)})
    # when classified under the profile in force
    frame = aged(chosen, *({"dpd": d} for d in (90, 120, 150, 200, 400)))
    # then the profile's thresholds apply
    assert frame["five_category"].to_list() == categories
