"""Marts on small hand-built portfolios whose answers were worked out by hand (flow rates and
their published known answers: ``test_flow_rates.py``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import duckdb
import polars as pl
import pytest

from loanrisk.domain import cohort_marts, marts

D1, D2 = dt.date(2026, 8, 30), dt.date(2026, 8, 31)


def aging_row(snapshot, loan_id, bucket, dpd, outstanding, status="ACTIVE", product="CASH_LOAN"):
    return {
        "snapshot_date": snapshot,
        "loan_id": loan_id,
        "product_code": product,
        "account_status": status,
        "origination_date": dt.date(2026, 6, 15),
        "principal_amount": Decimal("1000.00"),
        "outstanding_principal": Decimal(outstanding),
        "overdue_amount": Decimal("0.00") if dpd == 0 else Decimal("10.00"),
        "dpd": dpd,
        "aging_bucket": bucket,
        "five_category": None if status == "CLOSED" else ("SUBSTANDARD" if dpd > 90 else "NORMAL"),
    }


def warehouse(aging: list[dict], state: list[dict] | None = None) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    frame = pl.DataFrame(aging).with_columns(
        pl.col("outstanding_principal", "overdue_amount", "principal_amount").cast(
            pl.Decimal(18, 2)
        ),
        pl.col("dpd").cast(pl.Int32),
    )
    con.register("aging_frame", frame.to_arrow())
    con.execute("CREATE TABLE loan_aging AS SELECT * FROM aging_frame")
    if state is not None:
        con.register("state_frame", pl.DataFrame(state).to_arrow())
        con.execute("CREATE TABLE loan_state AS SELECT * FROM state_frame")
    return con


def rows(con, sql: str, order: str) -> list[tuple]:
    return con.execute(f"SELECT * FROM ({sql}) ORDER BY {order}").fetchall()


# --- roll rates -----------------------------------------------------------------------------


def test_roll_rates_count_stay_roll_cure_new_and_exit():
    con = warehouse(
        [
            aging_row(D1, "A", "M0", 0, "100.00"),
            aging_row(D1, "B", "M0", 0, "200.00"),
            aging_row(D1, "C", "M1", 30, "300.00"),
            aging_row(D1, "D", "M1", 12, "400.00"),
            aging_row(D1, "E", "M0", 0, "500.00"),
            aging_row(D2, "A", "M0", 0, "90.00"),
            aging_row(D2, "B", "M1", 1, "200.00"),
            aging_row(D2, "C", "M2", 31, "300.00"),
            aging_row(D2, "D", "M0", 0, "0.00"),
            aging_row(D2, "F", "M0", 0, "700.00"),
        ]
    )
    got = rows(con, marts.roll_rates_sql(), "from_bucket, to_bucket")
    assert [(r[2], r[3], r[4], r[5], r[6]) for r in got] == [
        ("M0", "EXIT", 1, Decimal("500.00"), pytest.approx(1 / 3)),
        ("M0", "M0", 1, Decimal("100.00"), pytest.approx(1 / 3)),
        ("M0", "M1", 1, Decimal("200.00"), pytest.approx(1 / 3)),
        ("M1", "M0", 1, Decimal("400.00"), 0.5),
        ("M1", "M2", 1, Decimal("300.00"), 0.5),
        ("NEW", "M0", 1, Decimal("700.00"), 1.0),
    ]
    assert {(r[0], r[1]) for r in got} == {(D2, D1)}
    balance_share = {(r[2], r[3]): r[7] for r in got}
    assert balance_share[("M0", "M1")] == pytest.approx(200 / 800)


def test_monthly_roll_rates_compare_month_ends_only():
    july, august = dt.date(2026, 7, 31), dt.date(2026, 8, 31)
    con = warehouse(
        [
            aging_row(july, "A", "M0", 0, "100.00"),
            aging_row(D1, "A", "M1", 5, "100.00"),  # mid-month wobble, not a month end
            aging_row(august, "A", "M1", 6, "100.00"),
            aging_row(dt.date(2026, 9, 5), "A", "M2", 36, "100.00"),  # September not over yet
        ]
    )
    got = rows(con, marts.roll_rates_monthly_sql(), "from_bucket")
    assert [(r[0], r[1], r[2], r[3], r[4]) for r in got] == [(august, july, "M0", "M1", 1)]


def test_flow_rates_use_complete_months_only(policy):
    july, august = dt.date(2026, 7, 31), dt.date(2026, 8, 31)
    con = warehouse(
        [
            aging_row(july, "A", "M0", 0, "100.00"),
            aging_row(july, "B", "M0", 0, "300.00"),
            aging_row(august, "A", "M1", 6, "100.00"),
            aging_row(august, "B", "M0", 0, "300.00"),
            aging_row(dt.date(2026, 9, 3), "A", "M1", 9, "100.00"),
        ]
    )
    got = con.execute(
        f"SELECT month_end, from_bucket, roll_rate FROM ({marts.flow_rates_view_sql(policy)}) "
        "WHERE from_bucket = 'M0'"
    ).fetchall()
    assert got == [(august, "M0", 0.25)]


# --- portfolio summary ----------------------------------------------------------------------


def test_portfolio_summary_par_and_npl_are_shares_of_active_outstanding(policy):
    con = warehouse(
        [
            aging_row(D2, "A", "M0", 0, "600.00"),
            aging_row(D2, "B", "M1", 10, "200.00"),
            aging_row(D2, "C", "M2", 45, "100.00", product="INSTALLMENT"),
            aging_row(D2, "D", "M4", 95, "100.00"),
            aging_row(D2, "E", "WO", 200, "999.00", status="WRITTEN_OFF"),
            aging_row(D2, "F", "CLOSED", 0, "0.00", status="CLOSED"),
        ]
    )
    sql = marts.portfolio_summary_sql(policy)
    total = con.execute(
        f"SELECT loans, outstanding, active_outstanding, par1, par30, par90, npl_outstanding, "
        f"npl_ratio FROM ({sql}) WHERE product_code = 'ALL' AND aging_bucket = 'ALL'"
    ).fetchone()
    assert total[:3] == (6, Decimal("1999.00"), Decimal("1000.00"))
    assert total[3:6] == pytest.approx((0.4, 0.2, 0.1))
    assert total[6:] == (Decimal("100.00"), pytest.approx(0.1))
    cash = con.execute(
        f"SELECT loans, par1 FROM ({sql}) WHERE product_code = 'CASH_LOAN' AND aging_bucket = 'ALL'"
    ).fetchone()
    assert cash == (5, pytest.approx(300 / 900))
    m0 = con.execute(
        f"SELECT par1 FROM ({sql}) WHERE product_code = 'ALL' AND aging_bucket = 'M0'"
    ).fetchone()
    assert m0 == (0.0,)


# --- vintage curves -------------------------------------------------------------------------


def test_vintage_curves_count_ever_30_and_90_by_month_on_book():
    july, aug, sep = dt.date(2026, 7, 31), dt.date(2026, 8, 31), dt.date(2026, 9, 30)
    con = warehouse(
        [
            aging_row(july, "A", "M0", 0, "1000.00"),
            aging_row(july, "B", "M0", 0, "1000.00"),
            aging_row(aug, "A", "M2", 31, "1000.00"),
            aging_row(aug, "B", "M0", 0, "1000.00"),
            aging_row(sep, "A", "M4", 91, "1000.00"),
            aging_row(sep, "B", "M1", 20, "1000.00"),
        ]
    )
    got = rows(con, cohort_marts.vintage_curves_sql(), "months_on_book")
    june = dt.date(2026, 6, 1)
    assert [(r[0], r[1], r[2], r[3], r[4], r[5]) for r in got] == [
        (june, 1, 2, Decimal("2000.00"), 0, 0),
        (june, 2, 2, Decimal("2000.00"), 1, 0),
        (june, 3, 2, Decimal("2000.00"), 1, 1),
    ]
    assert got[-1][-2:] == (0.5, 0.5)


# --- cure rates -----------------------------------------------------------------------------


def state_row(snapshot, loan_id, bucket, episode_start=None, cure=None):
    return {
        "snapshot_date": snapshot,
        "loan_id": loan_id,
        "in_snapshot": True,
        "aging_bucket": bucket,
        "episode_start_date": episode_start,
        "cure_date": cure,
    }


def test_cure_rates_share_of_m1_entries_back_in_m0_within_30_days(policy):
    day = [dt.date(2026, 8, 1) + dt.timedelta(days=n) for n in range(45)]
    state = [
        state_row(day[0], "A", "M1", episode_start=day[0]),  # cured on day 10
        state_row(day[10], "A", "M0", cure=day[10]),
        state_row(day[0], "B", "M1", episode_start=day[0]),  # cured on day 31: too late
        state_row(day[31], "B", "M0", cure=day[31]),
        state_row(day[0], "C", "M1", episode_start=day[0]),  # never cured
        state_row(day[0], "D", "M2", episode_start=day[0]),  # entered above M1: not counted
        state_row(day[20], "E", "M1", episode_start=day[20]),  # not yet observed 30 days
        state_row(day[44], "E", "M0", cure=day[21]),
    ]
    aging = [
        aging_row(r["snapshot_date"], r["loan_id"], r["aging_bucket"], 1, "1.00") for r in state
    ]
    con = warehouse(aging, state)
    got = rows(con, cohort_marts.cure_rates_sql(policy), "entry_month")
    assert policy.history.cure_window_days == 30  # the window the names below were read against
    assert got == [(dt.date(2026, 8, 1), "CASH_LOAN", 30, 4, 3, 1, pytest.approx(1 / 3))]
    # given a 10-day cure window instead: E (entered day 20, last day 44) is now observed, B
    # still not cured in time; the columns name what they count and carry the window
    ten = policy.model_copy(
        update={"history": policy.history.model_copy(update={"cure_window_days": 10})}
    )
    sql = cohort_marts.cure_rates_sql(ten)
    got = con.execute(f"SELECT * FROM ({sql}) ORDER BY entry_month")
    assert [c[0] for c in got.description] == [
        "entry_month",
        "product_code",
        "cure_window_days",
        "loans_entered",
        "loans_observed",
        "loans_cured",
        "cure_rate",
    ]
    assert got.fetchall() == [(dt.date(2026, 8, 1), "CASH_LOAN", 10, 4, 4, 1, 0.25)]
