"""Ingest: landing file -> typed raw partition, or one clear error naming the file and rules."""

from __future__ import annotations

import datetime as dt
import shutil

import polars as pl
import pyarrow.parquet as pq
import pytest

from loanrisk.errors import ContractViolationError, InputFileError
from loanrisk.stages import ingest_loans, lake_of

DAY = dt.date(2026, 3, 1)
FILE = "loans_2026-03-01.csv"


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory, config_dir):
    from loanrisk.synth import generate

    out = tmp_path_factory.mktemp("landing-small")
    generate(DAY, 1, 200, 11, out, config_dir)
    return out


@pytest.fixture
def landed(settings, small_landing):
    settings.landing_dir.mkdir(parents=True)
    shutil.copy(small_landing / FILE, settings.landing_dir / FILE)
    return settings


def rewrite(settings, change) -> None:
    path = settings.landing_dir / FILE
    frame = pl.read_csv(path, infer_schema=False)
    change(frame).write_csv(path)


def test_ingest_types_every_column_by_contract(landed):
    report = ingest_loans(DAY, landed)
    path = lake_of(landed).partition_file("raw", "loan_snapshot", DAY)
    schema = pq.read_schema(path)
    assert str(schema.field("principal_amount").type) == "decimal128(18, 2)"
    assert str(schema.field("annual_interest_rate").type) == "decimal128(9, 6)"
    assert str(schema.field("snapshot_date").type) == "date32[day]"
    assert str(schema.field("installments_total").type) == "int32"
    assert str(schema.field("dispute_flag").type) == "bool"
    assert str(schema.field("loan_id").type) in ("string", "large_string", "string_view")
    source = pl.read_csv(landed.landing_dir / FILE, infer_schema=False)
    assert report["rows_in"] == report["rows_out"] == pq.read_metadata(path).num_rows
    assert report["rows_in"] == source.height >= 200
    assert report["rows_quarantined"] == 0
    typed = pl.read_parquet(path)
    assert typed["loan_id"].to_list() == sorted(source["loan_id"].to_list())


def test_every_broken_rule_is_reported_together_and_nothing_written(landed):
    def corrupt(frame: pl.DataFrame) -> pl.DataFrame:
        line = pl.int_range(pl.len()) + 2  # header is line 1
        return frame.with_columns(
            pl.when(line == 2)
            .then(pl.lit("12.345"))
            .otherwise("principal_amount")
            .alias("principal_amount"),
            pl.when(line == 3)
            .then(pl.lit("1,234.00"))
            .otherwise("outstanding_principal")
            .alias("outstanding_principal"),
            pl.when(line == 4)
            .then(pl.lit("OPEN"))
            .otherwise("account_status")
            .alias("account_status"),
            pl.when(line == 5)
            .then(pl.lit("2026-02-31"))
            .otherwise("origination_date")
            .alias("origination_date"),
            pl.when(line == 6)
            .then(pl.lit("2026-02-28"))
            .otherwise("snapshot_date")
            .alias("snapshot_date"),
            pl.when(line == 7).then(pl.lit(None)).otherwise("borrower_id").alias("borrower_id"),
        )

    rewrite(landed, corrupt)
    with pytest.raises(ContractViolationError) as caught:
        ingest_loans(DAY, landed)
    found = {(v.code, v.column): v for v in caught.value.violations}
    assert found[("PARSE_ERROR", "principal_amount")].sample_lines == (2,)
    assert found[("PARSE_ERROR", "principal_amount")].sample_values == ("12.345",)
    assert found[("PARSE_ERROR", "outstanding_principal")].sample_lines == (3,)
    assert found[("ENUM_OUTSIDE_SET", "account_status")].sample_lines == (4,)
    assert found[("PARSE_ERROR", "origination_date")].sample_lines == (5,)
    assert found[("SNAPSHOT_DATE_MISMATCH", "snapshot_date")].sample_lines == (6,)
    assert found[("REQUIRED_MISSING", "borrower_id")].sample_lines == (7,)
    message = str(caught.value)
    assert "\n" not in message and FILE in message
    assert not lake_of(landed).partition("raw", "loan_snapshot", DAY).exists()


def test_duplicate_loan_ids_are_reported(landed):
    rewrite(landed, lambda f: pl.concat([f, f.head(2)]))
    with pytest.raises(ContractViolationError, match=r"DUPLICATE_KEY\(loan_id\) x4"):
        ingest_loans(DAY, landed)


def test_rate_above_cap_is_a_range_breach(landed):
    rewrite(landed, lambda f: f.with_columns(pl.lit("0.480000").alias("annual_interest_rate")))
    with pytest.raises(ContractViolationError) as caught:
        ingest_loans(DAY, landed)
    (violation,) = caught.value.violations
    assert (violation.code, violation.column) == ("RANGE_BREACH", "annual_interest_rate")
    assert violation.rows == pl.read_csv(landed.landing_dir / FILE, infer_schema=False).height


def test_missing_column_names_the_column(landed):
    rewrite(landed, lambda f: f.drop("overdue_fees"))
    with pytest.raises(
        InputFileError, match=rf"{FILE}: required column\(s\) missing .*overdue_fees"
    ):
        ingest_loans(DAY, landed)


def test_missing_and_empty_files(landed):
    path = landed.landing_dir / FILE
    path.write_bytes(b"")
    with pytest.raises(InputFileError, match=f"{FILE}: file is empty"):
        ingest_loans(DAY, landed)
    path.unlink()
    with pytest.raises(InputFileError, match=f"{FILE}: file not found"):
        ingest_loans(DAY, landed)


def test_gbk_file_is_read_with_configured_encoding(landed):
    path = landed.landing_dir / FILE
    path.write_bytes(path.read_text(encoding="utf-8").encode("gbk"))
    with pytest.raises(InputFileError, match="unreadable as utf-8 CSV"):
        ingest_loans(DAY, landed)
    pipeline = landed.pipeline.model_copy(update={"input_encoding": "gbk"})
    gbk = type(landed)(**{**landed.__dict__, "pipeline": pipeline})
    ingest_loans(DAY, gbk)
    names = pl.read_parquet(lake_of(gbk).partition_file("raw", "loan_snapshot", DAY))
    source = pl.read_csv(path.read_bytes().decode("gbk").encode(), infer_schema=False)
    assert sorted(names["borrower_name"].to_list()) == sorted(source["borrower_name"].to_list())


def test_parquet_landing_file_is_accepted(landed):
    path = landed.landing_dir / FILE
    pl.read_csv(path, infer_schema=False).write_parquet(path.with_suffix(".parquet"))
    path.unlink()
    assert ingest_loans(DAY, landed)["rows_out"] >= 200
