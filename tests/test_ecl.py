"""IFRS 9 ECL: the known answer, EAD, LGD, PD term structure, stage measures,
config errors, and the closed form held to the exploded schedule, on tiny frames.
The policy is pinned here (``POLICY``); the v2 ECL inputs are tested in test_ecl_v2.py."""

from __future__ import annotations

import copy
import datetime as dt
import itertools
from decimal import Decimal
from pathlib import Path

import polars as pl
import pytest
from conftest import ECL_POLICY, ecl_policy, ecl_schema, write_policy

from loanrisk.domain.ecl import (
    EclPolicy,
    discounted_shortfall,
    exposure_at_default,
    lgd,
    load_ecl_policy,
    projection_schedule,
    remaining_months,
)
from loanrisk.domain.ecl_measure import ECL_COLUMNS, ecl_stage, expected_credit_loss
from loanrisk.domain.money import MONEY
from loanrisk.domain.yaml_models import load_yaml_model
from loanrisk.errors import ConfigError

DAY = dt.date(2026, 6, 30)
SCHEMA = {**ecl_schema(), "first_pd_12m": pl.Float64}

#: The tests' policy, pinned in conftest.ECL_POLICY (not read from config/).
POLICY = ecl_policy()


@pytest.fixture(scope="module")
def policy() -> EclPolicy:
    return POLICY


def with_policy(policy: EclPolicy, **changes) -> EclPolicy:
    return EclPolicy.model_validate({**policy.model_dump(), **changes})


def add_months(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 + months
    return day.replace(year=day.year + month // 12, month=month % 12 + 1, day=min(day.day, 28))


def book(*loans: dict) -> pl.LazyFrame:
    """ACTIVE stage 1 CASH_LOANs of 10,000.00 at 12%, 12 months to run, pd_12m 5%, unless told;
    ``months`` sets maturity_date that many months (day 28) after DAY."""
    rows = []
    for i, loan in enumerate(loans):
        loan = dict(loan)
        row = {
            "loan_id": f"L{i:03d}",
            "snapshot_date": DAY,
            "product_code": "CASH_LOAN",
            "account_status": "ACTIVE",
            "outstanding_principal": Decimal("10000.00"),
            "overdue_interest": Decimal("0.00"),
            "overdue_fees": Decimal("0.00"),
            "credit_limit": None,
            "annual_interest_rate": Decimal("0.120000"),
            "maturity_date": add_months(DAY, loan.pop("months", 12)),
            "ifrs9_stage": 1,
            "pd_12m": 0.05,
            "first_pd_12m": None,
            "line_frozen": False,
        }
        row.update(loan)
        rows.append(row)
    return pl.LazyFrame(rows, schema=SCHEMA)


def staged(*loans: dict) -> pl.LazyFrame:
    """``book`` with the ecl_stage the building blocks read (expected_credit_loss sets it)."""
    return book(*loans).with_columns(ecl_stage())


def ecl(policy: EclPolicy, *loans: dict, method: str = "closed_form") -> list[dict]:
    return expected_credit_loss(book(*loans), policy, method).collect().to_dicts()


def annuity_eir(principal: float, payment: float, years: int) -> float:
    low, high = 0.0, 1.0
    for _ in range(100):
        rate = (low + high) / 2
        value = sum(payment / (1 + rate) ** t for t in range(1, years + 1))
        low, high = (rate, high) if value > principal else (low, rate)
    return rate


KNOWN_PDS = [0.03, 0.03, 0.03, 0.04, 0.04]


def test_known_answer_through_discounted_shortfall():
    """100,000 repaid by 5 x 25,000 a year (EIR 7.93%), LGD 80% -> 2,224 and 6,722."""
    eir = annuity_eir(100_000, 25_000, 5)
    assert eir == pytest.approx(0.0793, abs=5e-5)
    balances = [100_000.0]
    for _ in range(4):
        balances.append(balances[-1] * (1 + eir) - 25_000)
    schedule = pl.LazyFrame(
        {
            "loan_id": ["K"] * 5,
            "period": [1, 2, 3, 4, 5],
            "period_end_months": [12, 24, 36, 48, 60],
            "marginal_pd": KNOWN_PDS,
            "exposure_at_start": balances,
            "lgd": [0.8] * 5,
            "discount_factor": [(1 + eir) ** -t for t in range(1, 6)],
        }
    )
    row = discounted_shortfall(schedule, 12).collect().row(0, named=True)
    assert row["ecl_12m"] == pytest.approx(2_224, abs=1)
    assert row["ecl_lifetime"] == pytest.approx(6_722, abs=1)
    assert row["pd_lifetime"] == pytest.approx(0.17)


def test_known_answer_with_the_pipelines_schedule(policy):
    """projection_schedule on an annual grid gives the loan's amortised balances and discount
    factors; with the known marginal PDs the same sum gives the known answer. The example's
    7.93% is an effective annual rate, so the policy reads the rate as effective."""
    eir = annuity_eir(100_000, 25_000, 5)
    annual = with_policy(policy, period_months=12, rate_convention="effective")
    loan = {
        "outstanding_principal": Decimal("100000.00"),
        "annual_interest_rate": Decimal(f"{eir:.6f}"),
        "months": 60,
    }
    schedule = projection_schedule(staged(loan), annual).collect()
    assert schedule["period_end_months"].to_list() == [12, 24, 36, 48, 60]
    assert schedule["exposure_at_start"][1] == pytest.approx(100_000 * (1 + eir) - 25_000, abs=1)
    known = schedule.lazy().with_columns(
        pl.Series("marginal_pd", KNOWN_PDS), pl.lit(0.8).alias("lgd")
    )
    row = discounted_shortfall(known, 12).collect().row(0, named=True)
    assert row["ecl_12m"] == pytest.approx(2_224, abs=1)
    assert row["ecl_lifetime"] == pytest.approx(6_722, abs=1)


def test_exposure_at_default_by_product(policy):
    loans = book(
        {"overdue_interest": Decimal("10.50"), "overdue_fees": Decimal("5.25")},
        {"product_code": "INSTALLMENT", "outstanding_principal": Decimal("1200.00")},
        {
            "product_code": "CREDIT_LINE",
            "outstanding_principal": Decimal("4000.00"),
            "overdue_interest": Decimal("20.00"),
            "credit_limit": Decimal("10000.00"),
        },
        {
            "product_code": "CREDIT_LINE",
            "outstanding_principal": Decimal("3500.00"),
            "credit_limit": Decimal("3000.00"),
        },
        {
            "product_code": "CREDIT_LINE",
            "outstanding_principal": Decimal("0.00"),
            "credit_limit": Decimal("1000.01"),
        },
        {"credit_limit": Decimal("99999.00")},  # a limit on a cash loan is not a credit line
    )
    out = loans.with_columns(ecl_stage()).select(exposure_at_default(policy)).collect()
    assert out.schema["ead"] == MONEY
    assert out["ead"].to_list() == [
        Decimal("10015.75"),
        Decimal("1200.00"),
        Decimal("7020.00"),  # 4,020.00 drawn + 0.5 x 6,000.00 undrawn
        Decimal("3500.00"),  # over its limit: undrawn 0
        Decimal("500.00"),  # 0.5 x 1,000.01 = 500.005, half to even
        Decimal("10000.00"),
    ]


def test_lgd_by_product(policy):
    products = [{"product_code": p} for p in ("CASH_LOAN", "INSTALLMENT", "CREDIT_LINE")]
    out = book(*products).select(lgd(policy)).collect()
    assert out["lgd"].to_list() == [0.75, 0.65, 0.80]


def test_remaining_months_counts_a_started_month():
    days = [(2026, 6, 30), (2026, 7, 1), (2026, 7, 30), (2026, 7, 31), (2026, 1, 1)]
    dates = [dt.date(*day) for day in days]
    frame = pl.LazyFrame({"snapshot_date": [DAY] * 5, "maturity_date": dates})
    assert frame.select(remaining_months()).collect().to_series().to_list() == [1, 1, 1, 2, 1]


def test_constant_hazard_monthly_pds_add_up_to_pd_12m(policy):
    schedule = projection_schedule(staged({"pd_12m": 0.2, "months": 24}), policy).collect()
    assert schedule.height == 24
    assert schedule["marginal_pd"].head(12).sum() == pytest.approx(0.2, abs=1e-12)
    assert schedule["marginal_pd"].sum() == pytest.approx(1 - 0.8**2, abs=1e-12)


def test_lifetime_pd_grows_with_life(policy):
    rows = ecl(policy, {"months": 6}, {"months": 12}, {"months": 24}, {"months": 60})
    lifetime = [r["pd_lifetime"] for r in rows]
    assert lifetime == sorted(set(lifetime))
    assert lifetime[1] == pytest.approx(0.05)
    line = ecl(policy, {"product_code": "CREDIT_LINE", "credit_limit": Decimal("0.00")})[0]
    assert line["pd_lifetime"] == pytest.approx(1 - 0.95**3)  # behavioural life 36 months


def test_zero_pd_zero_ecl(policy):
    for stage in (1, 2):
        row = ecl(policy, {"pd_12m": 0.0, "ifrs9_stage": stage})[0]
        assert (row["ecl_12m"], row["ecl_lifetime"], row["ecl"]) == (Decimal("0.00"),) * 3


def test_one_period_loan(policy):
    """A stage-1 loan past maturity has one month left: ECL = LGD x EAD x month PD x v.
    month PD = 1 - 0.88^(1/12) = 1 - exp(ln 0.88 / 12) = 1 - exp(-0.0106528) = 0.0105962;
    12% is nominal: the month discounts at 1 + 0.12/12 = 1.01 (EIR 12.6825%, 1.126825^(1/12)
    = 1.01), so ECL = 0.75 x 10,000 x 0.0105962 / 1.01 = 79.4718 / 1.01 = 78.68 (it was 79.47
    / 1.12^(1/12) = 79.47 / 1.009489 = 78.73 when 12% was read as effective)."""
    row = ecl(policy, {"months": 0, "pd_12m": 0.12})[0]
    month_pd = 1 - 0.88 ** (1 / 12)
    expected = 0.75 * 10_000 * month_pd / 1.01
    assert row["ecl_12m"] == row["ecl_lifetime"] == row["ecl"] == Decimal("78.68")
    assert float(row["ecl"]) == pytest.approx(expected, abs=0.005)


def test_stage_picks_its_measure(policy):
    loan = {"product_code": "INSTALLMENT", "months": 36, "overdue_fees": Decimal("0.01")}
    one, two, three = ecl(policy, *({**loan, "ifrs9_stage": s} for s in (1, 2, 3)))
    assert one["ecl_12m"] < one["ecl_lifetime"]
    assert (one["ecl_stage"], one["ecl"]) == (1, one["ecl_12m"])
    assert (two["ecl_stage"], two["ecl"]) == (2, two["ecl_lifetime"])
    assert (three["ecl_stage"], three["ead"]) == (3, Decimal("10000.01"))
    assert three["ecl"] == Decimal("6500.01")  # 0.65 x 10,000.01 = 6,500.0065, exact decimal


def test_written_off_is_derecognised_ecl_0(policy):
    """DESIGN.md §5 v2 (IFRS 9 5.4.4): a written-off loan is off the book: EAD and ECL 0.00
    (it was LGD x EAD = 0.75 x 10,000 = 7,500.00 as a stage-3 loan)."""
    row = ecl(policy, {"account_status": "WRITTEN_OFF", "ifrs9_stage": 3, "pd_12m": None})[0]
    zero = Decimal("0.00")
    assert (row["ecl_stage"], row["ead"], row["ecl"], row["ecl_12m"]) == (3, zero, zero, zero)


def test_the_ecl_measures_the_stage_it_is_given(policy):
    """The stage (the PD rule included) is decided before the ECL (loanrisk.domain.staging, tested
    in
    test_staging.py): a stage-1 loan whose PD has risen tenfold is still measured at 12 months."""
    rows = ecl(policy, *({"ifrs9_stage": s, "first_pd_12m": 0.01, "pd_12m": 0.1} for s in (1, 2)))
    assert [r["ecl_stage"] for r in rows] == [1, 2]
    assert (rows[0]["ecl"], rows[1]["ecl"]) == (rows[0]["ecl_12m"], rows[1]["ecl_lifetime"])


def test_closed_loans_get_nulls_and_order_is_kept(policy):
    rows = ecl(
        policy,
        {"loan_id": "Z"},
        {"loan_id": "A", "account_status": "CLOSED", "ifrs9_stage": None},
        {"loan_id": "M"},
    )
    assert [r["loan_id"] for r in rows] == ["Z", "A", "M"]
    assert all(rows[1][c] is None for c in ECL_COLUMNS)
    assert rows[0]["ecl"] is not None


@pytest.mark.parametrize("method", ["closed_form", "schedule"])
def test_missing_inputs_give_null_ecl(policy, method):
    gaps = ({"pd_12m": None}, {"annual_interest_rate": None}, {"maturity_date": None})
    rows = ecl(policy, *gaps, method=method)
    assert [(r["ecl_12m"], r["ecl_lifetime"], r["ecl"]) for r in rows] == [(None,) * 3] * 3
    assert [r["ead"] for r in rows] == [Decimal("10000.00")] * 3


def test_closed_form_matches_the_schedule_to_the_cent(policy):
    grid = itertools.product(
        ("CASH_LOAN", "CREDIT_LINE"),
        ("0.000000", "0.000001", "0.120000", "0.360000"),
        (0.0, 1e-9, 0.05, 0.5, 1.0),
        (0, 7, 24, 60),
        (1, 2),  # stage 2: the loans of 0 and 7 months run min_lifetime_months, flat
    )
    loans = [
        {
            "product_code": product,
            "annual_interest_rate": Decimal(rate),
            "pd_12m": pd_12m,
            "months": months,
            "outstanding_principal": Decimal("987654.32"),
            "credit_limit": Decimal("1000000.00"),
            "ifrs9_stage": stage,
        }
        for product, rate, pd_12m, months, stage in grid
    ]
    policies = (
        policy,
        with_policy(policy, period_months=3),
        with_policy(policy, rate_convention="effective", min_lifetime_months=24),
    )
    for grid_policy in policies:
        closed = expected_credit_loss(book(*loans), grid_policy).collect()
        exploded = expected_credit_loss(book(*loans), grid_policy, "schedule").collect()
        assert closed.drop("pd_lifetime").equals(exploded.drop("pd_lifetime"))
        gap = (closed["pd_lifetime"] - exploded["pd_lifetime"]).abs().max()
        assert gap < 1e-12


def broken(tmp_path: Path, change) -> Path:
    """A folder holding the tests' policy as ecl.yaml, with ``change`` applied."""
    document = copy.deepcopy(ECL_POLICY)
    change(document)
    return write_policy(tmp_path, "ecl.yaml", document)


@pytest.mark.parametrize(
    ("change", "named"),
    [
        (lambda d: d["lgd"].update(CASH_LOAN=1.5), "lgd.CASH_LOAN"),
        (lambda d: d.update(ccf=-0.1), "ccf"),
        (lambda d: d["sicr"].update(relative_multiplier=0.5), "sicr.relative_multiplier"),
        (lambda d: d.update(period_months=5), "multiple of period_months"),
        (lambda d: d.update(credit_line_products=["CARD"]), "['CARD'] have no lgd"),
        (lambda d: d["pd_term_structure"].update(method="weibull"), "pd_term_structure.method"),
        (lambda d: d.update(lgd_floor=0.1), "lgd_floor"),
        (lambda d: d.update(rate_convention="monthly"), "rate_convention"),
        (lambda d: d.update(min_lifetime_months=6), "min_lifetime_months (6) must be at least"),
        (lambda d: d.update(period_months=3, min_lifetime_months=13), "min_lifetime_months (13)"),
    ],
)
def test_config_errors_name_the_key(tmp_path, change, named):
    assert load_ecl_policy(broken(tmp_path, lambda d: None)) == POLICY  # as pinned, it loads
    with pytest.raises(ConfigError, match=r"ecl\.yaml") as caught:
        load_ecl_policy(broken(tmp_path, change))
    assert named in str(caught.value)


def test_missing_policy_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_yaml_model(tmp_path / "ecl.yaml", EclPolicy)
