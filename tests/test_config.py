"""config/ is validated on load; a bad value names its file, key and allowed range."""

from __future__ import annotations

import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml

from loanrisk.config import load_settings
from loanrisk.domain.scorecard import apply_scorecard
from loanrisk.errors import ConfigError


@pytest.fixture
def config_copy(tmp_path, config_dir) -> Path:
    target = tmp_path / "config"
    shutil.copytree(config_dir, target)
    shutil.copytree(config_dir.parent / "data_contracts", tmp_path / "data_contracts")
    return target


def edit(folder: Path, file: str, change) -> None:
    path = folder / file
    document = yaml.safe_load(path.read_text())
    change(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False))


def test_shipped_config_loads(config_dir):
    """The project's config/ (a copy) loads, every policy validated; its values are the policy's
    business, not this test's (a policy edit must not break it)."""
    settings = load_settings(config_dir)
    assert settings.config_dir == config_dir.resolve()
    assert settings.contracts_dir == (config_dir.parent / "data_contracts").resolve()
    assert len(settings.config_hash) == 64


def test_the_shipped_scorecard_scores_an_active_loan(config_dir):
    """The card of config/ (a copy) scores a loan whose features are all missing: a score, a PD
    strictly between 0 and 1 and the card's version, whatever its points are."""
    card = load_settings(config_dir).risk.scorecard
    frame = pl.LazyFrame({"loan_id": ["L1"], "account_status": ["ACTIVE"]}).with_columns(
        pl.lit(None, pl.Float64).alias(f.feature) for f in card.features
    )
    out = apply_scorecard(frame, card).collect().row(0, named=True)
    assert out["score"] is not None and 0 < out["pd_12m"] < 1
    assert out["scorecard_version"] == card.version


def test_negative_materiality_names_key_and_bound(config_copy):
    edit(config_copy, "classification.yaml", lambda d: d.update(materiality_amount="-1.00"))
    with pytest.raises(ConfigError) as caught:
        load_settings(config_copy)
    message = str(caught.value)
    assert "classification.yaml" in message
    assert "materiality_amount" in message
    assert "greater than or equal to 0" in message


def test_out_of_order_thresholds_are_refused(config_copy):
    edit(
        config_copy,
        "classification.yaml",
        lambda d: d["five_category"]["profiles"]["cbirc_2023"].update(doubtful_min_dpd=50),
    )
    with pytest.raises(
        ConfigError, match=r"five_category\.profiles\.cbirc_2023: .*substandard_min_dpd < doubtful"
    ):
        load_settings(config_copy)


def test_unknown_classification_profile_is_refused(config_copy):
    edit(config_copy, "classification.yaml", lambda d: d["five_category"].update(profile="x" * 300))
    with pytest.raises(ConfigError, match=r"five_category: .*is not one of the profiles") as err:
        load_settings(config_copy)
    assert "x" * 201 not in str(err.value)  # config values echoed at most 200 characters


def test_unknown_key_is_refused(config_copy):
    edit(config_copy, "classification.yaml", lambda d: d["ifrs9"].update(stage_4_dpd_over=400))
    with pytest.raises(ConfigError, match=r"ifrs9\.stage_4_dpd_over: Extra inputs"):
        load_settings(config_copy)


def test_unknown_floor_category_lists_allowed_values(config_copy):
    edit(
        config_copy,
        "classification.yaml",
        lambda d: d["five_category"].update(bankruptcy_floor="BAD"),
    )
    with pytest.raises(ConfigError, match=r"five_category\.bankruptcy_floor: .*'SUBSTANDARD'"):
        load_settings(config_copy)


def test_buckets_must_ascend_and_end_open(config_copy):
    def swap(document):
        document["aging_buckets"][1]["max_dpd"] = 90

    edit(config_copy, "classification.yaml", swap)
    with pytest.raises(ConfigError, match="aging_buckets: max_dpd must strictly ascend"):
        load_settings(config_copy)


def test_rate_cap_range(config_copy):
    edit(config_copy, "pipeline.yaml", lambda d: d.update(annual_interest_rate_cap="11"))
    with pytest.raises(ConfigError, match=r"annual_interest_rate_cap: .*less than or equal to 10"):
        load_settings(config_copy)


def test_missing_file_and_bad_yaml(config_copy):
    (config_copy / "classification.yaml").write_text("five_category: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(config_copy)
    (config_copy / "classification.yaml").unlink()
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(config_copy)


def test_config_hash_follows_policy(config_copy):
    before = load_settings(config_copy).config_hash
    edit(config_copy, "classification.yaml", lambda d: d.update(materiality_amount="1.00"))
    assert load_settings(config_copy).config_hash != before


def test_a_key_given_twice_is_an_error_naming_it(tmp_path, config_dir):
    import shutil

    from loanrisk.config import load_settings
    from loanrisk.errors import ConfigError

    shutil.copytree(config_dir, tmp_path / "config")
    path = tmp_path / "config" / "classification.yaml"
    path.write_text(path.read_text() + '\nmateriality_amount: "5.00"\n')
    with pytest.raises(
        ConfigError, match=r"classification.yaml: .*'materiality_amount' given twice"
    ):
        load_settings(tmp_path / "config")


def test_the_shipped_buckets_give_the_report_its_designed_order(settings):
    """The risk report's bucket order comes from config/classification.yaml: M0..M7, WO,
    CLOSED (DESIGN.md §5)."""
    from loanrisk.report.data import BucketOrder

    order = BucketOrder.of(settings.classification)
    expected = (*(f"M{n}" for n in range(8)), "WO", "CLOSED")
    assert order.names == expected and order.chain == expected[:-1]
