"""The ODCS contracts parse, validate, and are the one place each feed's columns are defined."""

from __future__ import annotations

import shutil

import polars as pl
import pytest
import yaml
from conftest import SHIPPED

from loanrisk.errors import ConfigError
from loanrisk.quality.contracts import load_contract, polars_dtype

FEEDS = ("loan_snapshot", "events", "contacts")
CONTRACTS = tuple(sorted(p.stem for p in (SHIPPED / "data_contracts").glob("*.yaml")))


@pytest.fixture(scope="module")
def contracts_dir(config_dir):
    return config_dir.parent / "data_contracts"


@pytest.mark.parametrize("name", CONTRACTS)
def test_contract_is_valid_odcs_with_described_columns(contracts_dir, name):
    contract = load_contract(contracts_dir, name)
    assert contract.columns
    for column in contract.columns:
        assert len(column.description) > 10, column.name


def test_loan_snapshot_types_follow_design(contracts_dir):
    schema = load_contract(contracts_dir, "loan_snapshot").polars_schema
    assert len(schema) == 35
    assert schema["principal_amount"] == pl.Decimal(18, 2)
    assert schema["annual_interest_rate"] == pl.Decimal(9, 6)
    assert schema["snapshot_date"] == pl.Date
    assert schema["days_past_due"] == pl.Int32
    assert schema["litigation_flag"] == pl.Boolean
    assert schema["national_id"] == pl.String


def test_every_amount_in_every_contract_is_decimal(contracts_dir):
    for name in CONTRACTS:
        for column in load_contract(contracts_dir, name).columns:
            money = ("_amount", "_principal", "_interest", "_fees", "_limit", "outstanding_")
            if column.name.endswith(money[:5]) or column.name.startswith(money[5]):
                assert column.dtype == pl.Decimal(18, 2), f"{name}.{column.name}"


def test_unknown_physical_type_names_the_column():
    with pytest.raises(ConfigError, match=r"x\.amount: physicalType 'money'"):
        polars_dtype("money", "x.amount")


def test_invalid_contract_is_refused_with_location(tmp_path, contracts_dir):
    shutil.copy(contracts_dir / "events.yaml", tmp_path / "events.yaml")
    document = yaml.safe_load((tmp_path / "events.yaml").read_text())
    document["schema"][0]["properties"][0]["logicalType"] = "text"
    (tmp_path / "events.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match="not a valid ODCS v3 contract"):
        load_contract(tmp_path, "events")


def test_column_without_description_is_refused(tmp_path, contracts_dir):
    document = yaml.safe_load((contracts_dir / "contacts.yaml").read_text())
    del document["schema"][0]["properties"][2]["description"]
    (tmp_path / "contacts.yaml").write_text(yaml.safe_dump(document))
    with pytest.raises(ConfigError, match="loan_id: every column needs a description"):
        load_contract(tmp_path, "contacts")
