"""``loanrisk fit-scorecard``: fit a behaviour scorecard from stored history.

Optimal binning per candidate feature (optbinning ``OptimalBinning``, monotonic event rate,
CP solver seeded and single-threaded), weight of evidence and information value per bin computed
here from the training counts, logistic regression on the WoE (scikit-learn, L2, lbfgs), points
per bin scaled per DESIGN.md §5 and rounded to integers:
``points = -(beta * woe + intercept / n) * factor + offset / n`` (n = features kept). The fitted
card is evaluated as written (scored by ``apply_scorecard``) on the train and out-of-time holdout
samples. optbinning and scikit-learn are imported inside the fit only: the daily pipeline never
loads them. Output: ``<out_dir>/scorecard-<version>.yaml`` and ``...-report.md``; same history,
config and window give the same bytes (no clock, sorted sample, fixed solver seeds).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import yaml

from loanrisk.config import Settings
from loanrisk.domain.score_monitoring import bin_labels
from loanrisk.domain.scorecard import (
    Scorecard,
    apply_scorecard,
    bin_index,
    load_scorecard,
)
from loanrisk.errors import ConfigError
from loanrisk.lake.storage import lake_of, write_bytes_atomic
from loanrisk.modelling.fit_report import evaluate, write_report
from loanrisk.modelling.fit_sample import observation_sample, split_out_of_time

SMOOTHING = 0.5  # added to a bin's good and bad counts when either is 0 (finite WoE)
SPLIT_DECIMALS = 4


@dataclass(frozen=True)
class FeatureBins:
    """One feature's fitted bins: right-open uppers (last None) and per-bin statistics."""

    feature: str
    uppers: list[float | None]
    table: pl.DataFrame  # bin_no (-1 = missing), bin, count, share, bads, bad_rate, woe, iv_part

    @property
    def iv(self) -> float:
        return float(self.table["iv_part"].sum())


def optimal_splits(values: np.ndarray, target: np.ndarray, feature: str, fit) -> list[float]:
    """optbinning's optimal split points for one numerical feature (NaN = missing)."""
    from optbinning import OptimalBinning

    binning = OptimalBinning(
        name=feature,
        dtype="numerical",
        solver="cp",
        max_n_bins=fit.max_bins,
        min_bin_size=fit.min_bin_share,
        min_prebin_size=fit.min_bin_share,
        monotonic_trend="auto_asc_desc",
    )
    binning.fit(values, target)
    splits = sorted({round(float(s), SPLIT_DECIMALS) for s in binning.splits})
    return splits


def woe_table(sample: pl.DataFrame, feature: str, uppers: list[float | None]) -> pl.DataFrame:
    """Per bin (missing first): count, share, bads, bad rate, WoE = ln(good% / bad%), IV part."""
    labels = pl.DataFrame(
        {"bin_no": [-1, *range(len(uppers))], "bin": ["missing", *bin_labels(uppers)]},
        schema={"bin_no": pl.Int32, "bin": pl.String},
    )
    counts = sample.group_by(bin_index(pl.col(feature), uppers).alias("bin_no")).agg(
        pl.len().alias("count"), pl.col("target").sum().cast(pl.Int64).alias("bads")
    )
    table = labels.join(counts, on="bin_no", how="left").fill_null(0).sort("bin_no")
    goods = pl.col("count") - pl.col("bads")
    empty = (pl.col("count") > 0) & ((goods == 0) | (pl.col("bads") == 0))
    g = pl.when(empty).then(goods + SMOOTHING).otherwise(goods)
    b = pl.when(empty).then(pl.col("bads") + SMOOTHING).otherwise(pl.col("bads"))
    good_share, bad_share = g / g.sum(), b / b.sum()
    woe = pl.when(pl.col("count") == 0).then(0.0).otherwise((good_share / bad_share).log())
    return table.with_columns(
        (pl.col("count") / pl.col("count").sum()).alias("share"),
        (pl.col("bads") / pl.col("count")).fill_nan(None).alias("bad_rate"),
        woe.alias("woe"),
    ).with_columns(((good_share - bad_share) * pl.col("woe")).alias("iv_part"))


def bin_features(train: pl.DataFrame, fit) -> list[FeatureBins]:
    """Optimal bins, WoE and IV of every candidate feature, in the configured order."""
    target = train["target"].to_numpy()
    out = []
    for feature in fit.candidate_features:
        values = train[feature].cast(pl.Float64).fill_null(np.nan).to_numpy()
        uppers: list[float | None] = [*optimal_splits(values, target, feature, fit), None]
        out.append(FeatureBins(feature, uppers, woe_table(train, feature, uppers)))
    return out


def woe_matrix(sample: pl.DataFrame, kept: list[FeatureBins]) -> np.ndarray:
    """The sample's WoE per kept feature (columns in order), via the card's own binning."""
    columns = []
    for fb in kept:
        index = bin_index(pl.col(fb.feature), fb.uppers).alias("bin_no")
        lookup = fb.table.select("bin_no", "woe")
        column = sample.select(index).join(lookup, on="bin_no", how="left", maintain_order="left")
        columns.append(column["woe"].to_numpy())
    return np.column_stack(columns)


def logistic(train: pl.DataFrame, kept: list[FeatureBins], fit) -> tuple[float, np.ndarray]:
    """(intercept, coefficients) of P(default) on the WoE columns."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=fit.regularisation_c, solver="lbfgs", max_iter=1000)
    model.fit(woe_matrix(train, kept), train["target"].to_numpy())
    return float(model.intercept_[0]), model.coef_[0].astype(float)


def _points(woe: float, beta: float, intercept: float, n: int, scaling) -> float:
    return float(round(-(beta * woe + intercept / n) * scaling.factor + scaling.offset / n))


def feature_card(fb: FeatureBins, beta: float, intercept: float, n: int, current, scaling):
    """One feature's YAML block: bins with points and training shares, and the missing bin."""
    codes = {f.feature: f.reason_code for f in current.features}
    rows = {r["bin_no"]: r for r in fb.table.iter_rows(named=True)}
    bins = [
        {
            "upper": upper,
            "points": _points(rows[i]["woe"], beta, intercept, n, scaling),
            "share": round(rows[i]["share"], 6),
        }
        for i, upper in enumerate(fb.uppers)
    ]
    missing = rows[-1]
    return {
        "feature": fb.feature,
        "reason_code": codes.get(fb.feature, fb.feature.upper()),
        "bins": bins,
        "missing": {
            "points": _points(missing["woe"], beta, intercept, n, scaling),
            "share": round(missing["share"], 6),
        },
    }


def score_bands(scores: pl.Series, width: int) -> list[dict]:
    """Reference score bands of ``width`` points covering the 1st-99th percentiles."""
    lo = math.floor(scores.quantile(0.01) / width) * width
    hi = max(math.ceil(scores.quantile(0.99) / width) * width, lo + 2 * width)
    uppers: list[float | None] = [float(u) for u in range(lo + width, hi, width)]
    uppers.append(None)
    counts = scores.to_frame("score").select(bin_index(pl.col("score"), uppers).alias("i"))
    shares = counts["i"].value_counts().sort("i")
    share_of = dict(zip(shares["i"].to_list(), shares["count"].to_list(), strict=True))
    return [
        {"upper": u, "share": round(share_of.get(i, 0) / len(scores), 6)}
        for i, u in enumerate(uppers)
    ]


def build_card(version: str, window: str, train: pl.DataFrame, fitted, current: Scorecard):
    """The fitted card as a validated ``Scorecard`` with training reference distributions."""
    kept, intercept, betas = fitted
    scaling = current.scaling
    features = [
        feature_card(fb, float(beta), intercept, len(kept), current, scaling)
        for fb, beta in zip(kept, betas, strict=True)
    ]
    draft = {
        "version": version,
        "description": f"Fitted on observation dates {window}; target dpd >= "
        f"{current.fit.default_dpd} within {current.fit.horizon_days} days.",
        "scaling": scaling.model_dump(),
        "features": features,
        "reference": {
            "description": "training sample",
            "score_bands": [{"upper": None, "share": 1}],
        },
        "stability": current.stability.model_dump(),
        "fit": current.fit.model_dump(mode="json"),
    }
    card = Scorecard.model_validate(draft)
    scores = apply_scorecard(train.lazy(), card).collect()["score"]
    draft["reference"]["score_bands"] = score_bands(scores, current.fit.score_band_width)
    return Scorecard.model_validate(draft), draft


def write_outputs(out_dir: Path, draft: dict) -> tuple[Path, Path]:
    """Write the card's YAML (key order as the model's); return (card file, report file)."""
    version = draft["version"]
    card_file = out_dir / f"scorecard-{version}.yaml"
    text = yaml.safe_dump(draft, sort_keys=False, allow_unicode=True, width=100)
    write_bytes_atomic(text.encode("utf-8"), card_file)
    return card_file, out_dir / f"scorecard-{version}-report.md"


def fit_scorecard(
    settings: Settings,
    start: dt.date,
    end: dt.date,
    out_dir: Path,
    card_path: Path | None = None,
) -> dict:
    """Fit a card on observation dates in [start, end]; write its YAML and report to out_dir.

    ``card_path`` (default ``<config_dir>/scorecard.yaml``) is the current card: it supplies the
    fit settings, the scaling, the reason codes and the reference population for the PSI."""
    current = load_scorecard(Path(card_path or settings.config_dir / "scorecard.yaml"))
    if current.fit is None:
        raise ConfigError(f"{card_path or 'scorecard.yaml'}: fit: missing (fit settings)")
    fit = current.fit
    lake = lake_of(settings)
    lines = settings.risk.ecl.credit_line_products
    sample = observation_sample(lake, fit, start, end, lines)
    train, holdout = split_out_of_time(sample, fit.holdout_share)
    binned = bin_features(train, fit)
    kept = [fb for fb in binned if fb.iv >= fit.min_iv and len(fb.uppers) > 1]
    if not kept:
        raise ConfigError(f"no candidate feature reaches min_iv {fit.min_iv}: nothing to fit")
    intercept, betas = logistic(train, kept, fit)
    version = f"{fit.version_prefix}-{start:%Y%m%d}-{end:%Y%m%d}"
    window = f"{train['snapshot_date'].min()} to {holdout['snapshot_date'].max()}"
    card, draft = build_card(version, window, train, (kept, intercept, betas), current)
    metrics = evaluate(card, current, train, holdout)
    coefficients = dict(zip([fb.feature for fb in kept], map(float, betas), strict=True))
    files = write_outputs(Path(out_dir), draft)
    report = write_report(files[1], card, current, binned, metrics, (intercept, coefficients))
    return {
        "version": version,
        "scorecard": str(files[0]),
        "report": str(report),
        "features": [fb.feature for fb in kept],
        **metrics["summary"],
    }
