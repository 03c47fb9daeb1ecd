"""DESIGN.md §5 "v2 — ECL inputs" and the written-off rule, given/when/then on
tiny inline frames with a policy pinned here: the nominal rate and its effective rate, CCF only
for a line that can still be drawn, the stage-2 lifetime of at least min_lifetime_months, ECL 0
for a written-off loan, and the credit-line products read from the policy everywhere."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl
import pytest
from conftest import ecl_policy, ecl_schema

from loanrisk.domain.ecl import (
    EclPolicy,
    effective_annual_rate,
    period_discount,
    projection_schedule,
)
from loanrisk.domain.ecl_measure import ecl_stage, expected_credit_loss
from loanrisk.domain.features import SIGNAL_COLUMNS, utilisation
from loanrisk.domain.risk_actions import RiskActionPolicy, risk_actions, with_line_frozen

DAY = dt.date(2026, 6, 30)
ZERO = Decimal("0.00")
#: The tests' policy, pinned in conftest.ECL_POLICY (not read from config/).
POLICY = ecl_policy()
SCHEMA = ecl_schema()


def with_policy(**changes) -> EclPolicy:
    return EclPolicy.model_validate({**POLICY.model_dump(), **changes})


def book(*loans: dict) -> pl.LazyFrame:
    """ACTIVE stage-1 CASH_LOANs of 10,000.00 at 12% nominal maturing 2027-06-30 (12 months),
    pd_12m 5%, not frozen, unless told."""
    base = {
        "snapshot_date": DAY,
        "product_code": "CASH_LOAN",
        "account_status": "ACTIVE",
        "outstanding_principal": Decimal("10000.00"),
        "overdue_interest": ZERO,
        "overdue_fees": ZERO,
        "credit_limit": None,
        "annual_interest_rate": Decimal("0.120000"),
        "maturity_date": dt.date(2027, 6, 30),
        "ifrs9_stage": 1,
        "pd_12m": 0.05,
        "line_frozen": False,
    }
    rows = [base | {"loan_id": f"L{i}"} | loan for i, loan in enumerate(loans)]
    return pl.LazyFrame(rows, schema=SCHEMA)


def measured(*loans: dict, policy: EclPolicy = POLICY, method: str = "closed_form") -> list:
    return expected_credit_loss(book(*loans), policy, method).collect().to_dicts()


def schedule(loan: dict, policy: EclPolicy = POLICY) -> pl.DataFrame:
    return projection_schedule(book(loan).with_columns(ecl_stage()), policy).collect()


# --- rate convention -----------------------------------------------------------------------


def test_a_nominal_rate_discounts_a_month_at_r_over_12():
    """Given 12% quoted nominal (1% a month), when the EIR and one month's discount are taken,
    then EIR = 1.01^12 - 1 = 12.6825% and v = 1 / 1.01; read as effective, EIR = 12% and
    v = 1.12^(-1/12) = 0.9906004."""
    frame = book({})
    nominal = frame.select(effective_annual_rate(POLICY), period_discount(POLICY).alias("v"))
    eir, v = nominal.collect().row(0)
    assert eir == pytest.approx(0.12682503013197, abs=1e-13)
    assert v == pytest.approx(1 / 1.01, abs=1e-15)
    effective = with_policy(rate_convention="effective")
    eir, v = frame.select(effective_annual_rate(effective), period_discount(effective)).collect()
    assert (eir[0], v[0]) == (pytest.approx(0.12), pytest.approx(0.9906004, abs=1e-7))


def test_the_annuity_amortises_at_the_nominal_monthly_rate():
    """Given 10,000.00 repaid over 12 months at 12% nominal, when the schedule is projected,
    then the balance at the start of month 2 is the annuity's: the payment is
    10,000 x 0.01 / (1 - 1.01^-12) = 888.49, so 10,000 x 1.01 - 888.49 = 9,211.51."""
    out = schedule({})
    assert out.height == 12
    assert out["exposure_at_start"][1] == pytest.approx(9_211.51, abs=0.005)
    assert out["discount_factor"][11] == pytest.approx(1.01**-12, abs=1e-15)


# --- EAD: CCF only for a line that can still be drawn ----------------------------------------

LINE = {
    "product_code": "CREDIT_LINE",
    "outstanding_principal": Decimal("2000.00"),
    "credit_limit": Decimal("10000.00"),
    "annual_interest_rate": Decimal("0.240000"),
    "pd_12m": 0.10,
}


@pytest.mark.parametrize("method", ["closed_form", "schedule"])
def test_a_stage_3_line_gets_no_ccf_issue_example(method):
    """Given a credit line in stage 3 (frozen or not), drawn 2,000.00 of a 10,000.00 limit, LGD
    0.80, when its ECL is measured, then EAD = the drawn 2,000.00 and ECL = 0.80 x 2,000.00 =
    1,600.00 (not (2,000 + 0.5 x 8,000) x 0.80 = 4,800.00)."""
    for frozen in (False, True):
        row = measured({**LINE, "ifrs9_stage": 3, "line_frozen": frozen}, method=method)[0]
        assert (row["ead"], row["ecl"]) == (Decimal("2000.00"), Decimal("1600.00"))


@pytest.mark.parametrize("method", ["closed_form", "schedule"])
def test_a_frozen_line_gets_no_ccf(method):
    """Given a stage-2 line at 24% nominal (v = 1/1.02 a month), pd_12m 10%, drawn 2,000.00 of
    10,000.00, when it is frozen by FREEZE_LINE, then EAD = 2,000.00; unfrozen, EAD = 2,000.00 +
    0.5 x 8,000.00 = 6,000.00. Lifetime = 36 months flat: q = 0.9^(1/12) = 0.9912583,
    sum_t (1-q) q^(t-1) v^t = (1-q) v (1-(qv)^36) / (1-qv) = 0.1954517, so ECL = 0.80 x 2,000
    x 0.1954517 = 312.72 frozen, 0.80 x 6,000 x 0.1954517 = 938.17 not."""
    frozen, drawable = measured(
        {**LINE, "ifrs9_stage": 2, "line_frozen": True},
        {**LINE, "ifrs9_stage": 2, "line_frozen": False},
        method=method,
    )
    assert (frozen["ead"], frozen["ecl"]) == (Decimal("2000.00"), Decimal("312.72"))
    assert (drawable["ead"], drawable["ecl"]) == (Decimal("6000.00"), Decimal("938.17"))


def test_a_frozen_stage_1_line_and_a_null_frozen_flag():
    """Given stage-1 lines, when one is frozen (a fraud signal) and one has no freeze status,
    then the frozen one's EAD is its drawn 2,000.00 and the unknown one counts as drawable."""
    frozen, unknown = measured({**LINE, "line_frozen": True}, {**LINE, "line_frozen": None})
    assert (frozen["ead"], unknown["ead"]) == (Decimal("2000.00"), Decimal("6000.00"))


ACTIONS = RiskActionPolicy.model_validate(
    {
        "freeze_line": {"min_dpd": 1, "fraud_signals": ["signal_new_device"]},
        "reduce_limit": {"score_below": 560, "products": ["CREDIT_LINE"]},
        "watchlist": {"signals": ["signal_new_device"]},
        "blacklist": {"min_episodes_12m": 3, "dpd_over": 90, "days_without_payment": 90},
        "pricing_tiers": [{"tier": "A", "min_score": 600}, {"tier": "B", "min_score": None}],
    }
)


def scored(borrower: str, loan_id: str, dpd: int = 0, **extra) -> dict:
    row = {
        "snapshot_date": DAY,
        "borrower_id": borrower,
        "loan_id": loan_id,
        "product_code": extra.pop("product", "CREDIT_LINE"),
        "account_status": extra.pop("status", "ACTIVE"),
        "dpd": dpd,
        "score": 600.0,
        "episodes_12m": 0,
        "last_payment_date": DAY,
    }
    return row | dict.fromkeys(SIGNAL_COLUMNS, 0) | extra


def test_line_frozen_is_the_freeze_line_actions_rule():
    """Given B1 with a cash loan 3 days past due and a current line, B2 with a new-device
    signal, B3 current and clean, B4 current with a WRITTEN_OFF loan at 200 dpd (only ACTIVE
    loans count, as for the action), when line_frozen is derived, then B1's and B2's loans are
    frozen, B3's and B4's not, and they are exactly the borrowers FREEZE_LINE fires for."""
    rows = [
        scored("B1", "L1a", dpd=3, product="CASH_LOAN"),
        scored("B1", "L1b"),
        scored("B2", "L2", signal_new_device=1),
        scored("B3", "L3"),
        scored("B4", "L4a"),
        scored("B4", "L4b", dpd=200, status="WRITTEN_OFF"),
    ]
    loans = pl.LazyFrame(rows).with_columns(
        pl.col("dpd", "episodes_12m", *SIGNAL_COLUMNS).cast(pl.Int32)
    )
    out = with_line_frozen(loans, ACTIONS).collect()
    assert out["loan_id"].to_list() == ["L1a", "L1b", "L2", "L3", "L4a", "L4b"]  # order kept
    assert out["line_frozen"].to_list() == [True, True, True, False, False, False]
    fired = risk_actions(loans, ACTIONS).filter(pl.col("action") == "FREEZE_LINE").collect()
    frozen = out.filter("line_frozen")["borrower_id"].unique().sort().to_list()
    assert fired["borrower_id"].to_list() == frozen == ["B1", "B2"]


# --- lifetime of at least min_lifetime_months in stage 2 -------------------------------------

PAST_MATURITY = {
    "product_code": "INSTALLMENT",
    "outstanding_principal": Decimal("3400.00"),
    "overdue_interest": Decimal("51.66"),
    "overdue_fees": Decimal("15.00"),
    "annual_interest_rate": Decimal("0.180000"),
    "maturity_date": DAY - dt.timedelta(days=45),
    "ifrs9_stage": 2,
    "pd_12m": 0.544,
}


@pytest.mark.parametrize("method", ["closed_form", "schedule"])
def test_a_stage_2_loan_past_maturity_gets_12_months_issue_example(method):
    """Given a stage-2 loan 45 dpd past its maturity, EAD 3,400.00 + 51.66 + 15.00 = 3,466.66,
    pd_12m 0.544, LGD 0.65, 18% nominal (v = 1/1.015), when its ECL is measured, then lifetime
    PD = 1 - (1 - 0.544)^(12/12) = 0.544 (it was one month: 1 - 0.456^(1/12) = 0.0633) and the
    whole balance stays exposed for 12 months: q = 0.456^(1/12) = 0.9366566, qv = 0.9228144,
    (qv)^12 = 0.3813927, sum = (1-q) v (1-(qv)^12)/(1-qv) = 0.0633434 x 0.9852217 x 8.0145430
    = 0.5001658; ECL = 0.65 x 3,466.66 x 0.5001658 = 2,253.329 x 0.5001658 = 1,127.04 (it was
    0.65 x 3,466.66 x 0.0633434 x 0.9852217 = 140.62)."""
    row = measured(PAST_MATURITY, method=method)[0]
    assert row["ead"] == Decimal("3466.66")
    assert row["pd_lifetime"] == pytest.approx(0.544, abs=1e-12)
    assert row["ecl"] == row["ecl_lifetime"] == row["ecl_12m"] == Decimal("1127.04")


def test_the_extended_months_hold_the_balance_flat():
    """Given the same 10,000.00 loan with 5 months to run, when it is in stage 2, then it is
    projected over 12 months at a constant 10,000 exposure; in stage 1 over its own 5 months,
    amortising; with 24 months to run, stage 2 amortises over its own 24 months."""
    short = {"maturity_date": dt.date(2026, 11, 30)}
    stage2 = schedule({**short, "ifrs9_stage": 2})
    assert stage2.height == 12 and set(stage2["exposure_at_start"]) == {10_000.0}
    stage1 = schedule(short)
    assert stage1.height == 5 and stage1["exposure_at_start"][1] < 10_000.0
    long = schedule({"maturity_date": dt.date(2028, 6, 30), "ifrs9_stage": 2})
    assert long.height == 24 and long["exposure_at_start"][23] < 1_000.0


def test_lifetime_pd_never_below_pd_12m_in_stage_2():
    """Given stage-2 loans maturing 45 days ago up to 13 months ahead, when measured, then
    lifetime PD >= pd_12m = 0.3 and lifetime ECL >= 12-month ECL on every one of them."""
    ends = [
        DAY - dt.timedelta(days=45),
        *(dt.date(2026 + (6 + m) // 12, (6 + m) % 12 + 1, 28) for m in range(14)),
    ]
    rows = measured(*({"maturity_date": d, "ifrs9_stage": 2, "pd_12m": 0.3} for d in ends))
    assert all(r["pd_lifetime"] >= 0.3 - 1e-12 for r in rows)
    assert all(r["ecl_lifetime"] >= r["ecl_12m"] for r in rows)


def test_min_lifetime_months_is_policy():
    """Given min_lifetime_months 24, when a stage-2 loan past maturity with pd_12m 0.2 is
    measured, then lifetime PD = 1 - 0.8^(24/12) = 0.36."""
    policy = with_policy(min_lifetime_months=24)
    row = measured({**PAST_MATURITY, "pd_12m": 0.2}, policy=policy)[0]
    assert row["pd_lifetime"] == pytest.approx(0.36, abs=1e-12)


# --- written-off loans are off the book -----------------------------------------------------


@pytest.mark.parametrize("method", ["closed_form", "schedule"])
def test_a_written_off_loan_has_no_exposure_and_no_ecl(method):
    """Given a WRITTEN_OFF credit line (stage 3, even if it carried a PD) and a CLOSED loan,
    when measured, then the written-off one has ead, ecl_12m, ecl_lifetime and ecl 0.00,
    pd_lifetime null, its product's LGD 0.80 and stage 3 (it was LGD x EAD = 0.80 x 6,000.00 =
    4,800.00); the CLOSED one keeps nulls everywhere."""
    gone = {**LINE, "account_status": "WRITTEN_OFF", "ifrs9_stage": 3, "pd_12m": 0.9}
    closed = {"account_status": "CLOSED", "ifrs9_stage": None, "pd_12m": None}
    written_off, shut = measured(gone, closed, method=method)
    amounts = [written_off[c] for c in ("ead", "ecl_12m", "ecl_lifetime", "ecl")]
    assert amounts == [ZERO] * 4
    assert (written_off["pd_lifetime"], written_off["lgd"], written_off["ecl_stage"]) == (
        None,
        0.80,
        3,
    )
    keys = ("ead", "lgd", "pd_lifetime", "ecl_12m", "ecl_lifetime", "ecl_stage", "ecl")
    assert [shut[c] for c in keys] == [None] * 7


# --- credit-line products from the policy ---------------------------------------------------


def test_a_product_named_otherwise_in_the_policy_is_a_line():
    """Given a policy whose line product is REVOLVER (LGD 0.80) and CREDIT_LINE an ordinary
    product, when both are drawn 2,000.00 of 10,000.00 in stage 1, then REVOLVER gets EAD
    2,000.00 + 0.5 x 8,000.00 = 6,000.00 and a 36-month life (lifetime PD 1 - 0.9^3 = 0.271),
    CREDIT_LINE EAD 2,000.00 and its 12 months to maturity (lifetime PD 0.10)."""
    policy = with_policy(
        lgd={"CASH_LOAN": 0.75, "REVOLVER": 0.80, "CREDIT_LINE": 0.80},
        credit_line_products=("REVOLVER",),
    )
    revolver, plain = measured({**LINE, "product_code": "REVOLVER"}, LINE, policy=policy)
    assert (revolver["ead"], plain["ead"]) == (Decimal("6000.00"), Decimal("2000.00"))
    assert revolver["pd_lifetime"] == pytest.approx(0.271, abs=1e-12)
    assert plain["pd_lifetime"] == pytest.approx(0.10, abs=1e-12)


def test_utilisation_reads_the_policys_line_products():
    """Given REVOLVER as the only line product, when utilisation is computed, then a REVOLVER
    drawn 2,000.00 of 10,000.00 is 0.2 and a CREDIT_LINE (not a line here) has none."""
    frame = book({**LINE, "product_code": "REVOLVER"}, LINE)
    out = frame.select(utilisation(("REVOLVER",))).collect()
    assert out["utilisation"].to_list() == [0.2, None]
