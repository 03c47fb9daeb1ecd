"""Scorecard scaling, points, reason codes, config validation and PSI."""

from __future__ import annotations

import datetime as dt
import math

import polars as pl
import pytest
import yaml

from loanrisk.domain.score_monitoring import ZERO_SHARE, characteristic_drift, score_psi
from loanrisk.domain.scorecard import (
    Scaling,
    Scorecard,
    apply_scorecard,
    load_scorecard,
    pd_from_score,
    scale_score,
)
from loanrisk.errors import ConfigError

DAY = dt.date(2026, 3, 1)
CARD = {
    "version": "test-1",
    "features": [
        {
            "feature": "dpd",
            "reason_code": "DPD",
            "bins": [
                {"upper": 1, "points": 300, "share": 0.8},
                {"upper": 30, "points": 270, "share": 0.15},
                {"upper": None, "points": 250, "share": 0.05},
            ],
            "missing": {"points": 250, "share": 0.0},
        },
        {
            "feature": "utilisation",
            "reason_code": "UTIL",
            "bins": [
                {"upper": 0.5, "points": 200, "share": 0.3},
                {"upper": None, "points": 180, "share": 0.2},
            ],
            "missing": {"points": 190, "share": 0.5},
        },
        {
            "feature": "forborne",
            "reason_code": "FORB",
            "bins": [
                {"upper": 1, "points": 100, "share": 0.9},
                {"upper": None, "points": 80, "share": 0.1},
            ],
            "missing": {"points": 100, "share": 0.0},
        },
        {
            "feature": "episodes_12m",
            "reason_code": "EPIS",
            "bins": [
                {"upper": 1, "points": 50, "share": 0.9},
                {"upper": None, "points": 40, "share": 0.1},
            ],
            "missing": {"points": 50, "share": 0.0},
        },
    ],
    "reference": {
        "score_bands": [
            {"upper": 600, "share": 0.25},
            {"upper": 620, "share": 0.25},
            {"upper": 640, "share": 0.25},
            {"upper": None, "share": 0.25},
        ]
    },
    "stability": {"watch": 0.1, "shift": 0.25},
}


@pytest.fixture
def card() -> Scorecard:
    return Scorecard.model_validate(CARD)


def loans(rows: list[dict]) -> pl.LazyFrame:
    schema = {
        "snapshot_date": pl.Date,
        "loan_id": pl.String,
        "account_status": pl.String,
        "dpd": pl.Int32,
        "utilisation": pl.Float64,
        "forborne": pl.Boolean,
        "episodes_12m": pl.Int32,
    }
    base = {"snapshot_date": DAY, "account_status": "ACTIVE", "forborne": False, "episodes_12m": 0}
    return pl.LazyFrame([{**base, **r} for r in rows], schema=schema, orient="row")


@pytest.mark.parametrize(("odds", "score"), [(25, 580), (50, 600), (100, 620), (200, 640)])
def test_scaling_600_at_50_to_1_with_20_points_to_double(odds, score):
    assert scale_score(odds) == pytest.approx(score, abs=1e-9)
    assert pd_from_score(score) == pytest.approx(1 / (1 + odds), rel=1e-12)
    assert Scaling().factor == pytest.approx(28.8539, abs=1e-4)
    assert Scaling().offset == pytest.approx(487.1229, abs=1e-4)


def test_points_score_pd_and_reason_codes(card):
    frame = loans(
        [
            {"loan_id": "L1", "dpd": 0, "utilisation": 0.2},  # best everywhere
            {"loan_id": "L2", "dpd": 45, "utilisation": 0.9, "forborne": True, "episodes_12m": 2},
            {"loan_id": "L3", "dpd": 5, "utilisation": None},  # missing utilisation
            {"loan_id": "L4", "dpd": 0, "utilisation": 0.7, "forborne": True},  # tie 20 / 20
            {"loan_id": "L5", "dpd": 200, "account_status": "CLOSED", "utilisation": 0.1},
        ]
    )
    out = apply_scorecard(frame, card).collect().sort("loan_id")
    assert out["points_dpd"].to_list() == [300, 250, 270, 300, None]
    assert out["points_utilisation"].to_list() == [200, 180, 190, 180, None]
    assert out["score"].dtype == pl.Float64
    assert out["score"].to_list() == [650, 550, 610, 610, None]
    expected_pd = [pd_from_score(s) for s in (650, 550, 610, 610)]
    assert out["pd_12m"].to_list()[:4] == pytest.approx(expected_pd, rel=1e-12)
    reasons = out.select("reason_code_1", "reason_code_2", "reason_code_3").rows()
    assert reasons == [
        (None, None, None),  # no shortfall, no reason
        ("DPD", "UTIL", "FORB"),  # 50, 20, 20, 10: the tie goes to the feature listed first
        ("DPD", "UTIL", None),  # 30, 10 (missing bin), no other shortfall
        ("UTIL", "FORB", None),  # tie 20 / 20 in card order
        (None, None, None),  # CLOSED: not scored
    ]
    assert out["scorecard_version"].to_list() == ["test-1"] * 5


def _broken(tmp_path, edit) -> str:
    raw = yaml.safe_load(yaml.safe_dump(CARD))
    edit(raw)
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_scorecard(path)
    return str(caught.value)


def test_config_errors_name_the_key(tmp_path):
    def unsorted(raw):
        raw["features"][0]["bins"][1]["upper"] = 0.5

    message = _broken(tmp_path, unsorted)
    assert "features.0.bins" in message and "ascend" in message

    def unknown_feature(raw):
        raw["features"][1]["feature"] = "salary"

    message = _broken(tmp_path, unknown_feature)
    assert "features.1.feature" in message and "salary" in message

    def open_bin_in_the_middle(raw):
        raw["features"][0]["bins"][0]["upper"] = None

    assert "features.0.bins" in _broken(tmp_path, open_bin_in_the_middle)

    def shares(raw):
        raw["reference"]["score_bands"][0]["share"] = 0.5

    assert "reference.score_bands" in _broken(tmp_path, shares)

    def duplicate(raw):
        raw["features"][1]["reason_code"] = "DPD"

    assert "reason_code" in _broken(tmp_path, duplicate)

    def extra(raw):
        raw["scaling"] = {"pdo": 20, "bogus": 1}

    assert "scaling.bogus" in _broken(tmp_path, extra)

    def watch_above_shift(raw):
        raw["stability"] = {"watch": 0.3, "shift": 0.25}

    assert "stability: Value error, watch (0.3) must be below shift (0.25)" in _broken(
        tmp_path, watch_above_shift
    )

    def no_stability(raw):
        del raw["stability"]

    assert "stability: Field required" in _broken(tmp_path, no_stability)


def scores(values: list[float | None]) -> pl.LazyFrame:
    return pl.LazyFrame(
        {"snapshot_date": [DAY] * len(values), "score": values},
        schema={"snapshot_date": pl.Date, "score": pl.Float64},
    )


def test_psi_is_zero_for_the_reference_distribution(card):
    out = score_psi(scores([590, 610, 630, 650, None]), card).collect()
    assert out["band"].to_list() == ["[-inf, 600)", "[600, 620)", "[620, 640)", "[640, inf)"]
    assert out["actual_share"].to_list() == [0.25] * 4
    assert out["psi"].to_list() == [0.0] * 4


def test_psi_hand_computed_and_empty_band_guarded(card):
    # actual shares 0.5, 0.5, 0, 0 against 0.25 each
    out = score_psi(scores([500, 599, 600, 619.9]), card).collect()
    half = (0.5 - 0.25) * math.log(0.5 / 0.25)
    empty = (ZERO_SHARE - 0.25) * math.log(ZERO_SHARE / 0.25)
    assert out["contribution"].to_list() == pytest.approx([half, half, empty, empty])
    assert out["psi"][0] == pytest.approx(2 * half + 2 * empty)
    assert 6 < out["psi"][0] < 7


def test_characteristic_drift_per_feature(card):
    frame = loans(
        [{"loan_id": f"L{i}", "dpd": 0, "utilisation": u} for i, u in enumerate([0.1, 0.8, None])]
    )
    out = characteristic_drift(frame, card).collect()
    util = out.filter(pl.col("feature") == "utilisation")
    assert util["bin"].to_list() == ["missing", "[-inf, 0.5)", "[0.5, inf)"]
    assert util["actual_share"].to_list() == pytest.approx([1 / 3] * 3)
    shares = [(1 / 3, 0.5), (1 / 3, 0.3), (1 / 3, 0.2)]
    assert util["csi"][0] == pytest.approx(sum((a - r) * math.log(a / r) for a, r in shares))
    assert out["feature"].unique(maintain_order=True).to_list() == [
        "dpd",
        "utilisation",
        "forborne",
        "episodes_12m",
    ]
    dpd = out.filter(pl.col("feature") == "dpd")
    assert dpd["actual_share"].to_list() == [0.0, 1.0, 0.0, 0.0]
