"""Cross-day continuity warnings on tiny inline snapshots (two business days)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest

from loanrisk.domain.continuity import CONTINUITY_RULES, continuity_warnings, sample_loans
from loanrisk.domain.money import MONEY

DAY = dt.date(2026, 6, 30)
#: The credit-line products of the tests' policy (ecl.yaml credit_line_products in the pipeline).
LINES = ("CREDIT_LINE",)
SCHEMA = {
    "loan_id": pl.String,
    "product_code": pl.String,
    "account_status": pl.String,
    "origination_date": pl.Date,
    "principal_amount": MONEY,
    "snapshot_date": pl.Date,
    "oldest_unpaid_due_date": pl.Date,
    "overdue_principal": MONEY,
    "overdue_interest": MONEY,
    "overdue_fees": MONEY,
    "days_past_due": pl.Int32,
}


def book(day: dt.date, *loans: dict) -> pl.LazyFrame:
    """ACTIVE CASH_LOAN rows of 1,000.00 principal; ``dpd`` sets the oldest unpaid due date."""
    rows = []
    for loan in loans:
        loan = dict(loan)
        dpd = loan.pop("dpd", 0)
        row = {
            "product_code": "CASH_LOAN",
            "account_status": "ACTIVE",
            "origination_date": dt.date(2026, 1, 15),
            "principal_amount": Decimal("1000.00"),
            "snapshot_date": day,
            "oldest_unpaid_due_date": day - dt.timedelta(days=dpd) if dpd else None,
            "overdue_principal": Decimal("100.00") if dpd else Decimal("0.00"),
            "overdue_interest": Decimal("0.00"),
            "overdue_fees": Decimal("0.00"),
            "days_past_due": dpd,
        }
        rows.append(row | loan)
    return pl.LazyFrame(rows, schema=SCHEMA)


def warnings(
    today: list[dict], previous: list[dict], policy, days_elapsed: int = 1, lines=LINES
) -> dict:
    prev_day = DAY - dt.timedelta(days=days_elapsed)
    frames = book(DAY, *today), book(prev_day, *previous)
    return continuity_warnings(*frames, days_elapsed, policy, credit_lines=lines)


def test_keys_are_all_rules_sorted_and_zero_when_nothing_breaks(policy):
    result = warnings([{"loan_id": "L1"}], [{"loan_id": "L1"}], policy)
    assert list(result) == sorted(CONTINUITY_RULES) == list(CONTINUITY_RULES)
    assert set(result.values()) == {0}


def test_vanished_active_loan(policy):
    previous = [
        {"loan_id": "GONE"},
        {"loan_id": "CLOSED_YESTERDAY", "account_status": "CLOSED"},
        {"loan_id": "WO_YESTERDAY", "account_status": "WRITTEN_OFF"},
        {"loan_id": "STAYS"},
    ]
    today = [{"loan_id": "STAYS"}, {"loan_id": "NEW_TODAY"}]
    result = warnings(today, previous, policy)
    assert result["VANISHED_ACTIVE_LOAN"] == 1
    assert sum(result.values()) == 1  # a new loan today is not a warning


def test_reopened_loan(policy):
    previous = [
        {"loan_id": "L1", "account_status": "CLOSED"},
        {"loan_id": "L2", "account_status": "WRITTEN_OFF"},
        {"loan_id": "L3", "account_status": "CLOSED"},
        {"loan_id": "L4", "account_status": "ACTIVE"},
    ]
    today = [
        {"loan_id": "L1", "account_status": "ACTIVE"},
        {"loan_id": "L2", "account_status": "ACTIVE"},
        {"loan_id": "L3", "account_status": "CLOSED"},
        {"loan_id": "L4", "account_status": "CLOSED"},
    ]
    assert warnings(today, previous, policy)["REOPENED_LOAN"] == 2


def test_dpd_jump_one_day(policy):
    previous = [{"loan_id": "OK", "dpd": 10}, {"loan_id": "JUMP", "dpd": 10}, {"loan_id": "NEW"}]
    today = [{"loan_id": "OK", "dpd": 11}, {"loan_id": "JUMP", "dpd": 12}, {"loan_id": "NEW"}]
    assert warnings(today, previous, policy)["DPD_JUMP"] == 1


def test_dpd_jump_allows_the_days_elapsed(policy):
    previous = [{"loan_id": "OK"}, {"loan_id": "JUMP"}]
    today = [{"loan_id": "OK", "dpd": 3}, {"loan_id": "JUMP", "dpd": 4}]
    assert warnings(today, previous, policy, days_elapsed=3)["DPD_JUMP"] == 1


def test_dpd_jump_uses_recomputed_dpd_not_reported(policy):
    previous = [{"loan_id": "L1", "dpd": 5}]
    today = [{"loan_id": "L1", "dpd": 6, "days_past_due": 90}]
    assert warnings(today, previous, policy)["DPD_JUMP"] == 0


def test_origination_date_changed(policy):
    previous = [{"loan_id": "L1"}, {"loan_id": "L2"}]
    today = [{"loan_id": "L1", "origination_date": dt.date(2026, 1, 16)}, {"loan_id": "L2"}]
    assert warnings(today, previous, policy)["ORIGINATION_DATE_CHANGED"] == 1


def test_principal_changed_except_credit_line(policy):
    line = {"product_code": "CREDIT_LINE"}
    previous = [{"loan_id": "L1"}, {"loan_id": "LINE", **line}, {"loan_id": "L3"}]
    today = [
        {"loan_id": "L1", "principal_amount": Decimal("1000.01")},
        {"loan_id": "LINE", **line, "principal_amount": Decimal("1500.00")},
        {"loan_id": "L3"},
    ]
    assert warnings(today, previous, policy)["PRINCIPAL_CHANGED"] == 1


def test_principal_may_grow_on_any_configured_line_product(policy):
    """Given a policy whose only credit-line product is REVOLVER, when a REVOLVER's and a
    CREDIT_LINE's principal_amount both grow, then only the CREDIT_LINE (not a line here) is
    flagged."""
    previous = [
        {"loan_id": "R1", "product_code": "REVOLVER"},
        {"loan_id": "C1", "product_code": "CREDIT_LINE"},
    ]
    grown = {"principal_amount": Decimal("1500.00")}
    today = [{**previous[0], **grown}, {**previous[1], **grown}]
    found = warnings(today, previous, policy, lines=("REVOLVER",))
    assert found["PRINCIPAL_CHANGED"] == 1
    frames = book(DAY, *today), book(DAY - dt.timedelta(days=1), *previous)
    lines = {"credit_lines": ("REVOLVER",)}
    assert sample_loans(*frames, 1, policy, "PRINCIPAL_CHANGED", **lines) == ["C1"]


def test_sample_loans_sorted_and_limited(policy):
    previous = [{"loan_id": f"L{i}"} for i in (4, 2, 3, 1)] + [{"loan_id": "L5"}]
    today = [{"loan_id": "L5"}]
    frames = book(DAY, *today), book(DAY - dt.timedelta(days=1), *previous)
    assert sample_loans(*frames, 1, policy, "VANISHED_ACTIVE_LOAN", credit_lines=LINES) == [
        "L1",
        "L2",
        "L3",
        "L4",
    ]
    assert sample_loans(
        *frames, 1, policy, "VANISHED_ACTIVE_LOAN", limit=2, credit_lines=LINES
    ) == ["L1", "L2"]
    assert sample_loans(*frames, 1, policy, "REOPENED_LOAN", credit_lines=LINES) == []
    with pytest.raises(ValueError, match="unknown continuity rule"):
        sample_loans(*frames, 1, policy, "NO_SUCH_RULE", credit_lines=LINES)


def test_days_elapsed_must_be_positive(policy):
    with pytest.raises(ValueError, match="days_elapsed"):
        warnings([{"loan_id": "L1"}], [{"loan_id": "L1"}], policy, days_elapsed=0)
