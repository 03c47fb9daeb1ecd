"""Reading the lake's tables back (``loanrisk.lake.tables``): partitions of some days, or an
error naming the first missing one; a frame conformed to its contract."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from conftest import CONTRACTS

from loanrisk.errors import InputFileError
from loanrisk.lake.storage import Lake, write_table
from loanrisk.lake.tables import conformed, scan_partition_if_any, scan_partitions
from loanrisk.quality.contracts import load_contract

DAYS = [dt.date(2026, 5, 1), dt.date(2026, 5, 2), dt.date(2026, 5, 3)]


@pytest.fixture
def lake(tmp_path):
    lake = Lake(tmp_path / "data", tmp_path / "data" / "landing")
    for n, day in enumerate(DAYS[:2]):
        write_table(lake, "curated", "t", day, pl.DataFrame({"day": [day], "n": [n]}))
    return lake


def test_the_partitions_of_the_days_as_one_frame(lake):
    frame = scan_partitions(lake, "curated", "t", DAYS[:2], run="x").collect()
    assert frame.sort("n")["day"].to_list() == DAYS[:2]


def test_a_missing_partition_is_named_with_what_writes_it(lake):
    with pytest.raises(InputFileError) as caught:
        scan_partitions(lake, "curated", "t", [*DAYS[::-1]], run="the earlier stages")
    missing = lake.relative(lake.partition_file("curated", "t", DAYS[2]))
    assert str(caught.value) == f"[INPUT_FILE] {missing}: missing; run the earlier stages first"


def test_an_optional_partition_not_written_is_none(lake):
    assert scan_partition_if_any(lake, "curated", "t", DAYS[2]) is None
    assert scan_partition_if_any(lake, "curated", "t", DAYS[0]).collect()["n"].to_list() == [0]


def test_conformed_is_the_contracts_columns_in_order_of_its_types():
    contract = load_contract(CONTRACTS, "borrower_devices")
    frame = pl.LazyFrame({"extra": [1], **{c: [None] for c in reversed(contract.column_names)}})
    conformed_frame = conformed(CONTRACTS, "borrower_devices", frame).collect()
    assert conformed_frame.columns == contract.column_names
    assert conformed_frame.schema == contract.polars_schema
