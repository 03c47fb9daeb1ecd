"""One IFRS 9 stage per loan-day (DESIGN.md §5 v2): the aging rules' stage, the PD rule for a
significant increase in credit risk and stage-2 probation, on tiny inline frames with a policy
pinned here."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from conftest import classification_policy, ecl_policy

from loanrisk.domain.staging import with_loan_day_stage

DAY = dt.date(2026, 6, 30)

#: The SICR rule with an absolute leg of 0.125, the rest as conftest.ECL_POLICY.
ECL = ecl_policy(sicr={"relative_multiplier": 2.0, "absolute_increase": 0.125})


def loans(*rows: dict) -> pl.LazyFrame:
    """ACTIVE loans at dpd 0 with no flags, pd 5% and no first PD, unless told."""
    base = {
        "loan_id": "L1",
        "snapshot_date": DAY,
        "account_status": "ACTIVE",
        "dpd": 0,
        "forbearance_type": "NONE",
        "bankruptcy_flag": False,
        "stage3_probation": False,
        "ifrs9_stage": 1,
        "pd_12m": 0.05,
        "first_pd_12m": None,
        "prev_last_stage2_date": None,
    }
    frame = [base | {"loan_id": f"L{i}"} | row for i, row in enumerate(rows)]
    schema = {
        "dpd": pl.Int32,
        "ifrs9_stage": pl.Int32,
        "pd_12m": pl.Float64,
        "first_pd_12m": pl.Float64,
        "prev_last_stage2_date": pl.Date,
    }
    return pl.LazyFrame(frame, schema_overrides=schema)


def staged(*rows: dict, months: int = 0) -> list[dict]:
    rules = classification_policy(stage2_probation_months=months)
    return with_loan_day_stage(loans(*rows), ECL, rules).collect().to_dicts()


@pytest.mark.parametrize(
    ("first", "current", "stage"),
    [
        (0.25, 0.5, 2),  # relative leg binds: exactly 2 x first
        (0.25, 0.4999999, 1),
        (0.0625, 0.1875, 2),  # absolute leg binds: exactly first + 0.125
        (0.0625, 0.1874999, 1),
        (None, 0.9, 1),  # no first PD recorded: no SICR by PD
    ],
)
def test_sicr_edge(first, current, stage):
    assert staged({"first_pd_12m": first, "pd_12m": current})[0]["ifrs9_stage"] == stage


def test_stage_comes_from_the_rules_not_from_the_stage_column_it_overwrites():
    # given loan_aging rows already restaged (ifrs9_stage 2) but whose rules say stage 1 and
    # 3 (dpd 95), and one held in stage-3 probation at dpd 0
    rows = staged(
        {"ifrs9_stage": 2},
        {"ifrs9_stage": 1, "dpd": 95},
        {"ifrs9_stage": 1, "stage3_probation": True},
        {"ifrs9_stage": 1, "dpd": 31},
        {"ifrs9_stage": 1, "forbearance_type": "DEFERRAL"},
        {"ifrs9_stage": None, "account_status": "CLOSED"},
    )
    # then the stage is the rules' each time: scoring a day twice gives the same stage
    assert [r["ifrs9_stage"] for r in rows] == [1, 3, 3, 2, 2, None]


def test_pd_rule_never_lowers_stage_3():
    rows = staged({"dpd": 95, "first_pd_12m": 0.01, "pd_12m": 0.01})
    assert rows[0]["ifrs9_stage"] == 3


def test_last_stage2_date_is_today_in_stage_2_or_3_and_carried_otherwise():
    before = dt.date(2026, 5, 1)
    rows = staged(
        {"dpd": 31},
        {"dpd": 95},
        {"prev_last_stage2_date": before},
        {"prev_last_stage2_date": before, "account_status": "CLOSED", "ifrs9_stage": None},
    )
    assert [r["last_stage2_date"] for r in rows] == [DAY, DAY, before, None]


@pytest.mark.parametrize(
    ("months", "last", "stage"),
    [
        (0, dt.date(2026, 6, 29), 1),  # no probation: leaves stage 2 the first day it can
        (3, dt.date(2026, 6, 29), 2),
        (3, dt.date(2026, 4, 1), 2),
        (3, dt.date(2026, 3, 31), 1),  # 3 months after 03-31 is 06-30: the day it leaves
    ],
)
def test_stage2_probation(months, last, stage):
    # given a loan whose stage-2 conditions last held on ``last`` and no longer hold today
    row = staged({"prev_last_stage2_date": last}, months=months)[0]
    # then it stays in stage 2 until stage2_probation_months after that day
    assert row["ifrs9_stage"] == stage
    assert row["last_stage2_date"] == last
