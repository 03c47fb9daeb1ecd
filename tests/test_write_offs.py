"""reg_write_offs (DESIGN.md §5 v2, §6): loans and balance written off on a day and month to date,
recoveries on loans already written off; the rules on tiny frames, then the stage on a tmp
data_root (extract, manifest, month to date the same whether a day is rerun or its earlier days'
partitions are missing)."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import polars as pl
import pytest
from conftest import stage_settings

from loanrisk.domain.money import MONEY
from loanrisk.domain.write_offs import daily_write_offs, write_offs_report
from loanrisk.lake.storage import lake_of, sha256_file, write_partition
from loanrisk.pipeline.reconciled import extract_kind
from loanrisk.pipeline.write_offs_stage import WRITE_OFFS, write_offs_day

D = dt.date
OCT15, OCT30, OCT31, NOV1 = D(2026, 10, 15), D(2026, 10, 30), D(2026, 10, 31), D(2026, 11, 1)
PRODUCTS = ["CASH_LOAN", "INSTALLMENT", "CREDIT_LINE"]  # pinned, not read from config/
COLUMNS = ["product_code", "loans_written_off", "balance_written_off", "loans_written_off_mtd"]
COLUMNS += ["balance_written_off_mtd", "recoveries", "recoveries_mtd"]


def loan(loan_id, status, product="CASH_LOAN", balance="1000.00", interest="0", fees="0",
         paid_on=None, paid="0"):  # fmt: skip
    return {
        "loan_id": loan_id, "product_code": product, "account_status": status,
        "outstanding_principal": Decimal(balance), "overdue_interest": Decimal(interest),
        "overdue_fees": Decimal(fees), "last_payment_date": paid_on,
        "last_payment_amount": Decimal(paid) if paid_on else None,
    }  # fmt: skip


def loans(rows: list[dict]) -> pl.LazyFrame:
    money = ["outstanding_principal", "overdue_interest", "overdue_fees", "last_payment_amount"]
    frame = pl.DataFrame(rows, infer_schema_length=None)
    return frame.with_columns(
        pl.col(money).cast(MONEY), pl.col("last_payment_date").cast(pl.Date)
    ).lazy()


def oct31() -> pl.LazyFrame:
    """N written off today (paid 30.00 today, before the write-off); R written off before (paid
    200.00 today: a recovery); S written off before (paid Oct 30: already counted then); M
    written off today, absent yesterday; A active (its payment is no recovery)."""
    return loans([
        loan("N", "WRITTEN_OFF", interest="50.50", fees="20.00", paid_on=OCT31, paid="30.00"),
        loan("R", "WRITTEN_OFF", paid_on=OCT31, paid="200.00"),
        loan("S", "WRITTEN_OFF", product="INSTALLMENT", paid_on=OCT30, paid="99.00"),
        loan("M", "WRITTEN_OFF", product="INSTALLMENT", balance="500.00"),
        loan("A", "ACTIVE", paid_on=OCT31, paid="80.00"),
    ])  # fmt: skip


def already_written_off() -> pl.LazyFrame:
    return pl.LazyFrame({"loan_id": ["R", "S"]})


def money(*values: str) -> tuple[Decimal, ...]:
    return tuple(Decimal(v) for v in values)


def test_a_day_counts_new_write_offs_at_their_balance_and_recoveries_on_old_ones():
    # given Oct 30's written-off loans R and S, and Oct 31's rows
    # when Oct 31's figures are computed
    got = daily_write_offs(oct31(), already_written_off(), OCT31, OCT30).sort("product_code")
    # then N (1,000.00 + 50.50 + 20.00) and M are written off, R's 200.00 is recovered
    assert got.collect().rows() == [
        ("CASH_LOAN", 1, *money("1070.50", "200.00")),
        ("INSTALLMENT", 1, *money("500.00", "0.00")),
    ]


def test_the_first_processed_day_counts_every_written_off_loan_and_no_recovery():
    # given no previous processed day
    got = daily_write_offs(oct31(), None, OCT31, None).sort("product_code").collect()
    # then every WRITTEN_OFF loan of the file is written off that day
    assert got.rows() == [
        ("CASH_LOAN", 2, *money("2070.50", "0.00")),
        ("INSTALLMENT", 2, *money("1500.00", "0.00")),
    ]


def test_month_to_date_adds_the_earlier_days_and_the_portfolio_row_sums_the_products():
    # given Oct 31's figures and Oct 15's stored CASH_LOAN row (2 loans, 300.00, 10.00 recovered)
    today = daily_write_offs(oct31(), already_written_off(), OCT31, OCT30)
    earlier = pl.LazyFrame(
        {"product_code": ["CASH_LOAN"], "loans_written_off": [2],
         "balance_written_off": [Decimal("300.00")], "recoveries": [Decimal("10.00")]},
        schema_overrides={"balance_written_off": MONEY, "recoveries": MONEY},
    )  # fmt: skip
    # when the report is built
    got = write_offs_report(today, earlier, OCT31, PRODUCTS).collect()
    # then every product has a row, zeros where nothing happened, and ALL comes last
    assert got.select(COLUMNS).rows() == [
        ("CASH_LOAN", 1, Decimal("1070.50"), 3, Decimal("1370.50"), *money("200.00", "210.00")),
        ("CREDIT_LINE", 0, Decimal("0.00"), 0, Decimal("0.00"), *money("0.00", "0.00")),
        ("INSTALLMENT", 1, Decimal("500.00"), 1, Decimal("500.00"), *money("0.00", "0.00")),
        ("ALL", 2, Decimal("1570.50"), 4, Decimal("1870.50"), *money("200.00", "210.00")),
    ]
    assert set(got["snapshot_date"]) == {OCT31}


# --- the stage on a tmp data_root -----------------------------------------------------------


def day_rows(day: dt.date) -> list[dict]:
    """W1 written off on Oct 30 (1,000.00); W2 on Oct 31 (400.00 + 10.00 interest), W1 paying
    25.00 that day; W3 on Nov 1 (700.00)."""
    rows = {
        OCT30: [loan("W1", "WRITTEN_OFF"), loan("W2", "ACTIVE", balance="400.00"),
                loan("W3", "ACTIVE", balance="700.00")],
        OCT31: [loan("W1", "WRITTEN_OFF", paid_on=OCT31, paid="25.00"),
                loan("W2", "WRITTEN_OFF", balance="400.00", interest="10.00"),
                loan("W3", "ACTIVE", balance="700.00")],
        NOV1: [loan("W3", "WRITTEN_OFF", product="INSTALLMENT", balance="700.00")],
    }  # fmt: skip
    return rows[day]


def write_day(lake, day: dt.date) -> None:
    frame = loans(day_rows(day)).with_columns(pl.lit(day).alias("snapshot_date")).collect()
    aging = frame.drop("last_payment_date", "last_payment_amount")
    raw = frame.select("snapshot_date", "loan_id", "last_payment_date", "last_payment_amount")
    write_partition(aging, lake.partition("curated", "loan_aging", day), lake.scratch)
    write_partition(raw, lake.partition("raw", "loan_snapshot", day), lake.scratch)


@pytest.fixture(scope="module")
def staged(tmp_path_factory):
    """The stage on Oct 30, Oct 31 and Nov 1, with its products pinned (``PRODUCTS``)."""
    settings = stage_settings(tmp_path_factory.mktemp("write_offs") / "data", PRODUCTS)
    lake = lake_of(settings)
    reports = {}
    for day in (OCT30, OCT31, NOV1):
        write_day(lake, day)
        reports[day] = write_offs_day(lake, settings, day)
    return settings, lake, reports


def extract(lake, day: dt.date) -> pl.DataFrame:
    folder = lake.extract_dir(extract_kind(WRITE_OFFS), day)
    return pl.read_parquet(folder / f"{WRITE_OFFS}.parquet")


def test_the_stage_writes_the_day_the_month_to_date_and_a_reconciled_manifest(staged):
    _, lake, reports = staged
    portfolio = {
        d: extract(lake, d).filter(product_code="ALL").select(COLUMNS).row(0) for d in reports
    }
    assert portfolio == {
        OCT30: ("ALL", 1, Decimal("1000.00"), 1, Decimal("1000.00"), *money("0.00", "0.00")),
        OCT31: ("ALL", 1, Decimal("410.00"), 2, Decimal("1410.00"), *money("25.00", "25.00")),
        NOV1: ("ALL", 1, Decimal("700.00"), 1, Decimal("700.00"), *money("0.00", "0.00")),
    }  # a new month starts again; W3 is INSTALLMENT on the day it is written off
    folder = lake.extract_dir(extract_kind(WRITE_OFFS), OCT31)
    manifest = json.loads((folder / "manifest.json").read_text())
    totals = manifest["control_totals"]
    assert (
        totals["balance_written_off_mtd"]
        == "1410.00"
        == totals["portfolio_balance_written_off_mtd"]
    )
    assert totals["previous_processed_day"] == "2026-10-30" and totals["rows"] == 4
    assert "balance_written_off" in totals["reconciled_with_source"]
    assert lake.partition_dates("curated", WRITE_OFFS) == [OCT30, OCT31, NOV1]


def test_month_to_date_is_the_same_rerun_or_computed_without_the_stored_days(staged):
    settings, lake, _ = staged
    folder = lake.extract_dir(extract_kind(WRITE_OFFS), OCT31)
    before = {p.name: sha256_file(p) for p in folder.iterdir()}
    write_offs_day(lake, settings, OCT31)
    assert {p.name: sha256_file(p) for p in folder.iterdir()} == before
    stored = lake.partition_file("curated", WRITE_OFFS, OCT30)
    kept = stored.read_bytes()
    stored.unlink()  # Oct 30 processed before the table existed: computed from its loan_aging
    try:
        write_offs_day(lake, settings, OCT31)
        assert {p.name: sha256_file(p) for p in folder.iterdir()} == before
    finally:
        stored.write_bytes(kept)
