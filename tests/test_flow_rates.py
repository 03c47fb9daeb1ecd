"""Flow rates from loan-level month-end transitions (DESIGN.md §5 "v2 — flow rates"): hand-made
books with exact answers, the published flow-rate example and the IFRS 9 provision-matrix
example as known answers, and a random book on which every rate stays in [0, 1]."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from itertools import pairwise

import duckdb
import polars as pl
import pytest

from loanrisk.domain import marts

JULY, AUGUST = dt.date(2026, 7, 31), dt.date(2026, 8, 31)


def aged(snapshot: dt.date, loan_id: str, bucket: str, balance: str, status: str = "ACTIVE"):
    """A loan_aging row with the columns the flow rates read."""
    return {
        "snapshot_date": snapshot,
        "loan_id": loan_id,
        "account_status": status,
        "aging_bucket": bucket,
        "outstanding_principal": Decimal(balance),
    }


def warehouse(rows: list[dict]) -> duckdb.DuckDBPyConnection:
    """A connection whose ``loan_aging`` holds ``rows`` (balances DECIMAL(18,2), as published)."""
    con = duckdb.connect()
    frame = pl.DataFrame(rows).with_columns(pl.col("outstanding_principal").cast(pl.Decimal(18, 2)))
    con.register("aging_frame", frame.to_arrow())
    con.execute("CREATE TABLE loan_aging AS SELECT * FROM aging_frame")
    return con


def test_a_loan_that_stays_in_the_last_bucket_does_not_roll_into_it(policy):
    """Given 100.00 in M6 that rolls to M7, where 500.00 already sat, and 50.00 of M7 written off,
    when the flow rates are computed, then M6 -> M7 is 100% (not 600%) and M7 -> WO 50 / 550."""
    con = warehouse(
        [
            aged(JULY, "X", "M6", "100.00"),
            aged(JULY, "Y", "M7", "500.00"),
            aged(JULY, "Z", "M7", "50.00"),
            aged(AUGUST, "X", "M7", "100.00"),
            aged(AUGUST, "Y", "M7", "500.00"),
            aged(dt.date(2026, 8, 15), "Z", "WO", "50.00", status="WRITTEN_OFF"),
        ]
    )
    got = con.execute(
        f"SELECT from_bucket, roll_rate, loss_rate FROM ({marts.flow_rates_view_sql(policy)}) "
        "WHERE from_bucket IN ('M6', 'M7') ORDER BY position"
    ).fetchall()
    assert got == [("M6", 1.0, pytest.approx(1 / 11)), ("M7", pytest.approx(1 / 11), 1 / 11)]


# --- a hand-made book -----------------------------------------------------------------------

SHORT_CHAIN = ["M0", "M1", "M2", "WO"]  # the policy pinned here: three buckets, then written off


def test_each_link_follows_the_loans_of_its_bucket():
    """Given loans that roll, skip a bucket, stay, cure, close, vanish and are written off
    (one no longer reported at the month end), when the flow rates are computed, then each
    roll rate is the July balance of the bucket's loans that are in a later bucket in August
    over the bucket's July balance, and the allowance is August's book times the loss rates."""
    mid_august = dt.date(2026, 8, 10)
    con = warehouse(
        [
            # M0: 600.00, of which A (to M1) and D (to M2) roll: 200 / 600
            aged(JULY, "A", "M0", "100.00"),
            aged(JULY, "B", "M0", "300.00"),
            aged(JULY, "C", "M0", "100.00"),
            aged(JULY, "D", "M0", "100.00"),
            aged(AUGUST, "A", "M1", "100.00"),
            aged(AUGUST, "B", "M0", "300.00"),
            aged(AUGUST, "C", "CLOSED", "0.00", status="CLOSED"),
            aged(AUGUST, "D", "M2", "100.00"),
            # M1: 400.00, of which E (to M2) rolls: 50 / 400; F cures, G stays
            aged(JULY, "E", "M1", "50.00"),
            aged(JULY, "F", "M1", "150.00"),
            aged(JULY, "G", "M1", "200.00"),
            aged(AUGUST, "E", "M2", "50.00"),
            aged(AUGUST, "F", "M0", "150.00"),
            aged(AUGUST, "G", "M1", "200.00"),
            # M2: 200.00, of which H and I are written off: 100 / 200; J cures to M1
            aged(JULY, "H", "M2", "80.00"),
            aged(JULY, "I", "M2", "20.00"),
            aged(JULY, "J", "M2", "100.00"),
            aged(mid_august, "H", "WO", "80.00", status="WRITTEN_OFF"),  # then no longer sent
            aged(dt.date(2026, 8, 20), "I", "WO", "20.00", status="WRITTEN_OFF"),
            aged(AUGUST, "I", "WO", "20.00", status="WRITTEN_OFF"),
            aged(AUGUST, "J", "M1", "100.00"),
            # a loan new in August: in the book, in no July link
            aged(AUGUST, "K", "M0", "30.00"),
        ]
    )
    got = con.execute(
        "SELECT month_end, previous_month_end, from_bucket, to_bucket, from_balance,"
        " rolled_balance, roll_rate, loss_rate, book_balance, allowance"
        f" FROM ({marts.chain_flow_rates_sql(SHORT_CHAIN)}) ORDER BY position"
    ).fetchall()
    assert [r[:2] for r in got] == [(AUGUST, JULY)] * 4
    money = [
        tuple(Decimal(v) for v in values)
        for values in [
            ("600.00", "200.00"),
            ("400.00", "50.00"),
            ("200.00", "100.00"),
            ("0.00", "0.00"),
        ]
    ]
    assert [(r[2], r[3], *r[4:6]) for r in got] == [
        ("M0", "M1", *money[0]),
        ("M1", "M2", *money[1]),
        ("M2", "WO", *money[2]),
        ("WO", None, *money[3]),
    ]
    assert [r[6] for r in got] == [pytest.approx(1 / 3), 0.125, 0.5, None]
    assert [r[7] for r in got] == [pytest.approx(1 / 48), 0.0625, 0.5, 1.0]
    # August's book: M0 B + F + K = 480.00, M1 A + G + J = 400.00, M2 D + E = 150.00, WO off it
    assert [(r[8], r[9]) for r in got] == [
        (Decimal("480.00"), Decimal("10.00")),
        (Decimal("400.00"), Decimal("25.00")),
        (Decimal("150.00"), Decimal("75.00")),
        (Decimal("0.00"), Decimal("0.00")),
    ]


def test_a_bucket_with_nothing_to_roll_from_has_no_loss_rate():
    """Given nothing in M1 at July's end, when the flow rates are computed, then M1's roll rate
    is unknown, and so is every loss rate that chains through it (not 0); WO's is 100%."""
    con = warehouse(
        [
            aged(JULY, "A", "M0", "100.00"),
            aged(JULY, "B", "M2", "100.00"),
            aged(AUGUST, "A", "M1", "100.00"),
            aged(AUGUST, "B", "M2", "100.00"),
        ]
    )
    got = con.execute(
        "SELECT from_bucket, roll_rate, loss_rate"
        f" FROM ({marts.chain_flow_rates_sql(SHORT_CHAIN)}) ORDER BY position"
    ).fetchall()
    assert got == [("M0", 1.0, None), ("M1", None, None), ("M2", 0.0, 0.0), ("WO", None, 1.0)]


# --- known answers --------------------------------------------------------------------------

PUBLISHED_CHAIN = ["CURRENT", "1-30", "31-60", "61-90", "90+"]
# Each month's sales of 100,000.00 are paid: 50,000 on time, 27,000 1-30 days late, 15,000 31-60
# days late, 6,000 61-90 days late, and 2,000 never (the published example's pattern); months
# late -> amount, None = never paid.
PAYMENT_PATTERN = {0: "50000.00", 1: "27000.00", 2: "15000.00", 3: "6000.00", None: "2000.00"}
MONTH_ENDS = [dt.date(2026, 1, 31), dt.date(2026, 2, 28)]


def steady_sales_book() -> str:
    """The loan-level (here invoice-level) month-end book of that pattern repeated every month:
    an invoice of sales month s is in bucket min(k, 4) at the month end k months later while
    unpaid (CURRENT in its own month), and gone once paid."""
    rows = []
    for index, month_end in enumerate(MONTH_ENDS):
        for sales_month in range(-4, 2):
            age = index - sales_month
            for late, amount in PAYMENT_PATTERN.items():
                if age < 0 or (late is not None and age > late):
                    continue  # not sold yet, or paid
                bucket = PUBLISHED_CHAIN[min(age, 4)]
                rows.append(f"(DATE '{month_end}', 'S{sales_month}-{late}', '{bucket}', {amount})")
    return f"SELECT * FROM (VALUES {', '.join(rows)}) AS l(month_end, loan_id, bucket, balance)"


AGED_BOOK = """
SELECT DATE '2026-02-28' AS month_end, bucket, balance FROM (VALUES
    ('CURRENT', 300000.00), ('1-30', 140000.00), ('31-60', 60000.00), ('61-90', 23000.00),
    ('90+', 5000.00)) AS b(bucket, balance)
"""


def test_flow_rates_reproduce_the_published_example():
    """Given sales of 100,000 a month rolling to 50,000 / 23,000 / 8,000 / 2,000 unpaid, as
    invoices, when their flow rates are applied to the aged book of 528,000, then the roll
    rates are 50% / 46% / 34.78% / 25%, the loss rates 2.0% / 4.0% / 8.7% / 25% / 100% and the
    allowance 27,567 (IFRScommunity's provision-matrix example)."""
    con = duckdb.connect()
    links = marts.flow_links_sql(steady_sales_book(), PUBLISHED_CHAIN)
    sql = marts.allowance_sql(marts.flow_rates_sql(links, PUBLISHED_CHAIN), AGED_BOOK)
    result = con.execute(
        f"SELECT from_bucket, from_balance, rolled_balance, roll_rate, loss_rate, allowance"
        f" FROM ({sql}) WHERE month_end = DATE '2026-02-28' ORDER BY position"
    ).fetchall()
    assert [r[0] for r in result] == PUBLISHED_CHAIN
    assert [r[2] for r in result[:4]] == [Decimal(v) for v in ("50000", "23000", "8000", "2000")]
    roll = [r[3] for r in result]
    assert roll[:4] == pytest.approx([0.50, 0.46, 8 / 23, 0.25])
    assert roll[4] is None
    loss = [r[4] for r in result]
    assert loss == pytest.approx([0.020, 0.040, 0.087, 0.25, 1.0], abs=5e-4)
    assert sum(r[5] for r in result) == Decimal("27567.39")
    assert round(sum(r[5] for r in result)) == 27_567


def test_provision_matrix_reproduces_ifrs_9_example_12():
    """Given Company M's trade receivables of 30,000,000 aged current / 1-30 / 31-60 / 61-90 /
    over 90 days past due and its default rates 0.3% / 1.6% / 3.6% / 6.6% / 10.6% (IFRS 9
    Illustrative Examples, Example 12, IE74-IE77), when the provision matrix is applied, then
    the lifetime ECL allowance is 580,000.00."""
    matrix = [
        ("Current", "15000000.00", 0.003, "45000.00"),
        ("1-30", "7500000.00", 0.016, "120000.00"),
        ("31-60", "4000000.00", 0.036, "144000.00"),
        ("61-90", "2500000.00", 0.066, "165000.00"),
        ("Over 90", "1000000.00", 0.106, "106000.00"),
    ]
    day = "DATE '2026-12-31'"
    rates = " UNION ALL ".join(
        f"SELECT {day} AS month_end, '{b}' AS from_bucket, CAST({r} AS DOUBLE) AS loss_rate"
        for b, _, r, _ in matrix
    )
    book = " UNION ALL ".join(
        f"SELECT {day} AS month_end, '{b}' AS bucket, CAST({v} AS DECIMAL(18,2)) AS balance"
        for b, v, _, _ in matrix
    )
    got = (
        duckdb.connect()
        .execute(
            f"SELECT from_bucket, book_balance, allowance FROM ({marts.allowance_sql(rates, book)})"
        )
        .fetchall()
    )
    expected = [(b, Decimal(v), Decimal(a)) for b, v, _, a in matrix]
    assert sorted(got) == sorted(expected)
    assert sum(r[1] for r in got) == Decimal("30000000.00")
    assert sum(r[2] for r in got) == Decimal("580000.00")


# --- a random book --------------------------------------------------------------------------

CHAIN = ["M0", "M1", "M2", "M3", "M4", "M5", "M6", "M7", "WO"]  # the policy pinned here
RANDOM_MONTH_ENDS = [dt.date(2026, m + 1, 1) - dt.timedelta(days=1) for m in range(3, 10)]


def next_state(rng: random.Random, position: int) -> int | str:
    """A loan's bucket position at the next month end, "WO" or "GONE" (repaid or closed)."""
    draw = rng.random()
    if draw < 0.05:
        return "GONE"
    if position >= 5 and draw < 0.20:
        return "WO"
    if draw < 0.35:
        return 0  # cured
    if draw < 0.40:
        return max(position - 1, 0)
    if draw < 0.70:
        return position
    return min(position + (2 if draw > 0.95 else 1), 7)


def money(cents: int) -> str:
    return f"{Decimal(cents).scaleb(-2):.2f}"


def random_book(seed: int, loans: int) -> tuple[list[dict], dict]:
    """loan_aging rows of ``loans`` random loans over seven month ends, and the expected links
    {(month_end, bucket): (from_balance, rolled_balance)} worked out loan by loan."""
    rng, rows, links = random.Random(seed), [], {}
    for n in range(loans):
        loan, start = f"L{n}", rng.randrange(len(RANDOM_MONTH_ENDS) - 1)
        state, cents = rng.choice([0] * 6 + list(range(1, 8))), rng.randrange(100_00, 10_000_00)
        for before, month_end in pairwise(RANDOM_MONTH_ENDS[start:]):
            rows.append(aged(before, loan, CHAIN[state], money(cents)))
            after = next_state(rng, state)
            rolled = after == "WO" or (after != "GONE" and after > state)
            link = links.get((month_end, CHAIN[state]), (Decimal(0), Decimal(0)))
            balance = Decimal(money(cents))
            links[month_end, CHAIN[state]] = (link[0] + balance, link[1] + rolled * balance)
            if after == "GONE" and rng.random() < 0.5:
                rows.append(aged(month_end, loan, "CLOSED", "0.00", status="CLOSED"))
            if after == "WO":
                day = month_end - dt.timedelta(days=rng.randrange(0, 25))
                # reported on the day it was written off, and at the month end only sometimes
                for on in {day, month_end} if rng.random() < 0.5 else {day}:
                    rows.append(aged(on, loan, "WO", money(cents), status="WRITTEN_OFF"))
            if after in ("GONE", "WO"):
                break
            state, cents = after, max(cents - rng.randrange(0, 50_00), 0)
        else:
            rows.append(aged(RANDOM_MONTH_ENDS[-1], loan, CHAIN[state], money(cents)))
    return rows, links


def test_on_a_random_book_every_rate_is_a_share_and_the_allowance_a_part_of_its_balance():
    """Given 400 loans moving up and down, curing, closing and being written off over seven
    month ends, when the flow rates are computed, then each link's balances are the loan-level
    ones, every roll and loss rate lies in [0, 1] and no allowance exceeds its book balance."""
    rows, links = random_book(seed=20, loans=400)
    got = (
        warehouse(rows)
        .execute(
            "SELECT month_end, from_bucket, from_balance, rolled_balance, roll_rate, loss_rate,"
            f" book_balance, allowance FROM ({marts.chain_flow_rates_sql(CHAIN)})"
        )
        .fetchall()
    )
    assert len(got) == (len(RANDOM_MONTH_ENDS) - 1) * len(CHAIN)
    delinquent = [r for r in got if r[1] != "WO"]
    assert {(r[0], r[1]): (r[2], r[3]) for r in delinquent if r[2]} == links
    assert all(r[5] is None or 0.0 <= r[5] <= 1.0 for r in got)
    assert all(r[4] is None or 0.0 <= r[4] <= 1.0 for r in got)
    assert all(Decimal(0) <= r[7] <= r[6] for r in got)
    # the book is not degenerate: links that partly roll, and loss rates that chain to WO
    assert any(0.0 < r[4] < 1.0 for r in delinquent if r[4] is not None)
    assert any(r[5] is not None and 0.0 < r[5] < 1.0 for r in got if r[1] == "M0")
