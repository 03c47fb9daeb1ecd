"""Behaviour scorecard (DESIGN.md §5 **Scorecard**): ``config/scorecard.yaml`` and scoring.

A card is a list of features, each with right-open bins ``[previous upper, upper)`` (the last
bin's upper is null, i.e. +inf) and a missing bin; every bin carries its points and its share of
the card's reference population (for monitoring). Booleans are binned as 0/1.

- ``score`` (Float64) = sum of the loan's points; ``pd_12m`` = 1 / (1 + odds) with
  ``odds = exp((score - offset) / factor)``, ``factor = pdo / ln 2``,
  ``offset = base_score - factor * ln(base_odds)``.
- Reason codes: the three features with the largest shortfall from their maximum points
  (``max points - points``); ties go to the feature listed first in the card; a feature with no
  shortfall is never a reason, so ``reason_code_2``/``_3`` may be null.
- Only ACTIVE loans are scored. CLOSED and WRITTEN_OFF rows keep null points, score, pd_12m and
  reason codes (they have no forward-looking risk to rank); ``scorecard_version`` is on every row.
"""

from __future__ import annotations

import itertools
import math
from pathlib import Path
from typing import Annotated

import polars as pl
from pydantic import Field, field_validator, model_validator

from loanrisk.domain.features import FEATURE_COLUMNS
from loanrisk.domain.yaml_models import StrictModel, load_yaml_model

Share = Annotated[float, Field(ge=0, le=1)]
Points = Annotated[float, Field(ge=-10_000, le=10_000)]
SHARE_TOLERANCE = 1e-3  # reference shares are rounded in YAML; they must sum to 1 within this
REASON_CODES = 3


def check_edges(uppers: list[float | None], what: str) -> None:
    """Right-open bins: uppers strictly ascend (no overlap, no gap) and only the last is null."""
    if uppers[-1] is not None or any(u is None for u in uppers[:-1]):
        raise ValueError(f"only the last {what} may (and must) have upper null")
    finite = [u for u in uppers[:-1] if u is not None]
    if any(b <= a for a, b in itertools.pairwise(finite)):
        raise ValueError(f"{what} uppers must strictly ascend; {what}s must not overlap ({finite})")


class Bin(StrictModel):
    upper: float | None  # right-open upper edge; null on the last bin (+inf)
    points: Points
    share: Share  # share of the reference population in this bin


class MissingBin(StrictModel):
    points: Points
    share: Share


class FeatureCard(StrictModel):
    feature: str
    reason_code: str = Field(min_length=1)
    bins: tuple[Bin, ...] = Field(min_length=1)
    missing: MissingBin

    @field_validator("feature")
    @classmethod
    def _known_feature(cls, value: str) -> str:
        if value not in FEATURE_COLUMNS:
            raise ValueError(f"{value!r} is not a feature (one of {', '.join(FEATURE_COLUMNS)})")
        return value

    @field_validator("bins")
    @classmethod
    def _ascending_bins(cls, bins: tuple[Bin, ...]) -> tuple[Bin, ...]:
        check_edges([b.upper for b in bins], "bin")
        return bins

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> FeatureCard:
        total = sum(b.share for b in self.bins) + self.missing.share
        if abs(total - 1) > SHARE_TOLERANCE:
            raise ValueError(f"{self.feature}: bin shares + missing share must sum to 1 ({total})")
        return self

    @property
    def max_points(self) -> float:
        return max([b.points for b in self.bins] + [self.missing.points])


class Scaling(StrictModel):
    base_score: float = 600
    base_odds: Annotated[float, Field(gt=0)] = 50
    pdo: Annotated[float, Field(gt=0)] = 20

    @property
    def factor(self) -> float:
        return self.pdo / math.log(2)

    @property
    def offset(self) -> float:
        return self.base_score - self.factor * math.log(self.base_odds)


class ScoreBand(StrictModel):
    upper: float | None  # right-open; null on the last band
    share: Share


class Reference(StrictModel):
    description: str = ""
    score_bands: tuple[ScoreBand, ...] = Field(min_length=1)

    @field_validator("score_bands")
    @classmethod
    def _bands(cls, bands: tuple[ScoreBand, ...]) -> tuple[ScoreBand, ...]:
        check_edges([b.upper for b in bands], "band")
        total = sum(b.share for b in bands)
        if abs(total - 1) > SHARE_TOLERANCE:
            raise ValueError(f"shares must sum to 1 (got {total})")
        return bands


class FitSettings(StrictModel):
    """How ``loanrisk fit-scorecard`` builds and fits its sample."""

    horizon_days: Annotated[int, Field(ge=1, le=3_660)]
    default_dpd: Annotated[int, Field(ge=1, le=100_000)] = 90
    holdout_share: Annotated[float, Field(gt=0, lt=1)]
    observation_every_days: Annotated[int, Field(ge=1, le=366)] = 1
    candidate_features: tuple[str, ...] = Field(min_length=1)
    max_bins: Annotated[int, Field(ge=2, le=20)] = 6
    min_bin_share: Annotated[float, Field(gt=0, lt=0.5)] = 0.05
    min_iv: Annotated[float, Field(ge=0)] = 0.02
    regularisation_c: Annotated[float, Field(gt=0)] = 1.0
    score_band_width: Annotated[int, Field(ge=1, le=200)] = 20
    version_prefix: str = Field(default="fit", pattern=r"^[A-Za-z0-9_.-]+$")

    @field_validator("candidate_features")
    @classmethod
    def _known(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if unknown := sorted(set(names) - set(FEATURE_COLUMNS)):
            raise ValueError(f"not features: {unknown} (known: {', '.join(FEATURE_COLUMNS)})")
        if len(set(names)) != len(names):
            raise ValueError("features must be listed once")
        return names


class Stability(StrictModel):
    """How a population stability index (the score's PSI, a characteristic's CSI) reads:
    ``stable`` below ``watch``, ``watch`` from there up to ``shift``, ``shifted`` above it."""

    watch: Annotated[float, Field(gt=0)]
    shift: Annotated[float, Field(gt=0)]

    @model_validator(mode="after")
    def _watch_below_shift(self) -> Stability:
        if self.watch >= self.shift:
            raise ValueError(f"watch ({self.watch}) must be below shift ({self.shift})")
        return self

    def reading(self, index: float | None) -> str | None:
        """``stable``, ``watch`` or ``shifted``; None without an index."""
        if index is None:
            return None
        return "stable" if index < self.watch else "watch" if index <= self.shift else "shifted"

    def legend(self) -> str:
        return (
            f"index < {self.watch:.2f} stable, {self.watch:.2f}–{self.shift:.2f} watch, "
            f"> {self.shift:.2f} shifted"
        )


class Scorecard(StrictModel):
    version: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    scaling: Scaling = Scaling()
    features: tuple[FeatureCard, ...] = Field(min_length=1)
    reference: Reference
    stability: Stability
    fit: FitSettings | None = None

    @model_validator(mode="after")
    def _unique(self) -> Scorecard:
        for what in ("feature", "reason_code"):
            names = [getattr(f, what) for f in self.features]
            if len(set(names)) != len(names):
                raise ValueError(f"features: each {what} must appear once (got {names})")
        return self


def load_scorecard(path: Path) -> Scorecard:
    """Load and validate a scorecard YAML; errors name the file and the key."""
    return load_yaml_model(Path(path), Scorecard)


def scale_score(odds: float, scaling: Scaling | None = None) -> float:
    """DESIGN.md §5: score = offset + factor * ln(odds_good_to_bad)."""
    s = scaling or Scaling()
    return s.offset + s.factor * math.log(odds)


def pd_from_score(score: float, scaling: Scaling | None = None) -> float:
    """DESIGN.md §5: pd_12m = 1 / (1 + odds), odds = exp((score - offset) / factor)."""
    s = scaling or Scaling()
    return 1.0 / (1.0 + math.exp((score - s.offset) / s.factor))


def bin_index(value: pl.Expr, uppers: list[float | None]) -> pl.Expr:
    """Index of a value's right-open bin (0-based); -1 for null (the missing bin)."""
    x = value.cast(pl.Float64)
    above = [(x >= u).cast(pl.Int32) for u in uppers if u is not None]
    index = pl.sum_horizontal(above) if above else pl.lit(0, pl.Int32)
    return pl.when(x.is_null()).then(pl.lit(-1, pl.Int32)).otherwise(index).cast(pl.Int32)


def _lookup(index: pl.Expr, values: list[float], missing: float) -> pl.Expr:
    expr = pl.when(index == -1).then(pl.lit(missing, pl.Float64))
    for i, v in enumerate(values):
        expr = expr.when(index == i).then(pl.lit(v, pl.Float64))
    return expr.otherwise(None)


def feature_points(card: FeatureCard) -> pl.Expr:
    """Points of one feature: its bin's points, the missing bin's when null."""
    index = bin_index(pl.col(card.feature), [b.upper for b in card.bins])
    points = _lookup(index, [b.points for b in card.bins], card.missing.points)
    return points.alias(f"points_{card.feature}")


def reason_codes(card: Scorecard) -> list[pl.Expr]:
    """Top three features by shortfall from their maximum points (DESIGN.md §5); ties go to
    the feature listed first; features with no shortfall are not reasons."""
    short = [pl.lit(f.max_points) - pl.col(f"points_{f.feature}") for f in card.features]
    ranks = [
        pl.sum_horizontal(
            [(s_j > s_i) | ((s_j == s_i) & pl.lit(j < i)) for j, s_j in enumerate(short) if j != i]
            + [pl.lit(0)]
        )
        for i, s_i in enumerate(short)
    ]
    return [
        pl.coalesce(
            pl.when((rank == k) & (s > 0)).then(pl.lit(f.reason_code))
            for f, s, rank in zip(card.features, short, ranks, strict=True)
        ).alias(f"reason_code_{k + 1}")
        for k in range(REASON_CODES)
    ]


def apply_scorecard(features: pl.LazyFrame, card: Scorecard) -> pl.LazyFrame:
    """Points per feature, score (Float64), pd_12m, three reason codes and the card's version
    for ACTIVE loans; other rows keep nulls except ``scorecard_version``."""
    s = card.scaling
    names = [f"points_{f.feature}" for f in card.features]
    scored = features.with_columns(feature_points(f) for f in card.features)
    scored = scored.with_columns(pl.sum_horizontal(names).alias("score"))
    odds = ((pl.col("score") - s.offset) / s.factor).exp()
    scored = scored.with_columns((1.0 / (1.0 + odds)).alias("pd_12m"), *reason_codes(card))
    out = [*names, "score", "pd_12m", *(f"reason_code_{k + 1}" for k in range(REASON_CODES))]
    active = pl.col("account_status") == "ACTIVE"
    return scored.with_columns(
        *(pl.when(active).then(pl.col(c)).alias(c) for c in out),
        pl.lit(card.version).alias("scorecard_version"),
    )
