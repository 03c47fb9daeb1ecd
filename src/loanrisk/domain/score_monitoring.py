"""Scorecard monitoring: population stability of the score and of each
feature against the scorecard's reference population, per business day, in pure Polars.

PSI = sum over bands of (actual - reference) * ln(actual / reference); the characteristic
stability index (CSI) of a feature is the same sum over its bins (missing included). A share of
0 on either side is floored at ``ZERO_SHARE`` (1e-6) before the logarithm, so an empty band adds
a large but finite contribution instead of infinity. Only scored (ACTIVE, non-null score) rows
count for the score; ACTIVE rows count for the features. Rows group by ``snapshot_date``.
How an index reads (stable, watch, shifted) is the card's ``stability`` policy.

Every index is computed from bin counts (``score_counts``, ``feature_counts``): counts of parts
of a day (borrower shards) summed by ``summed_counts`` give the index of the whole day, the same
bytes, since the shares are computed from integer counts only.
"""

from __future__ import annotations

import polars as pl

from loanrisk.domain.scorecard import FeatureCard, Scorecard, bin_index

ZERO_SHARE = 1e-6


def _label(lower: float | None, upper: float | None) -> str:
    def show(v: float | None, inf: str) -> str:
        return inf if v is None else f"{v:g}"

    return f"[{show(lower, '-inf')}, {show(upper, 'inf')})"


def bin_labels(uppers: list[float | None]) -> list[str]:
    """``[lower, upper)`` labels of right-open bins."""
    lowers = [None, *uppers[:-1]]
    return [_label(lo, up) for lo, up in zip(lowers, uppers, strict=True)]


def _reference(labels: list[str], shares: list[float]) -> pl.DataFrame:
    return pl.DataFrame(
        {"bin_no": list(range(len(labels))), "bin": labels, "reference_share": shares},
        schema={"bin_no": pl.Int32, "bin": pl.String, "reference_share": pl.Float64},
    )


def psi_contribution() -> pl.Expr:
    """(actual - reference) * ln(actual / reference), both floored at ZERO_SHARE."""
    actual = pl.max_horizontal(pl.col("actual_share"), pl.lit(ZERO_SHARE))
    reference = pl.max_horizontal(pl.col("reference_share"), pl.lit(ZERO_SHARE))
    return ((actual - reference) * (actual / reference).log()).alias("contribution")


def _stability(
    counts: pl.LazyFrame, reference: pl.DataFrame, keys: list[str], total: str
) -> pl.LazyFrame:
    """Per key and bin: count, actual share, reference share, contribution, total index, from
    ``counts`` (keys, bin_no, count: the bins with rows)."""
    grid = counts.select("snapshot_date").unique().join(reference.lazy(), how="cross")
    frame = grid.join(counts, on=[*keys, "bin_no"], how="left").with_columns(
        pl.col("count").fill_null(0)
    )
    frame = frame.with_columns(
        (pl.col("count") / pl.col("count").sum().over(keys)).alias("actual_share")
    ).with_columns(psi_contribution())
    # Summed per key as a list in bin order: a float sum whose order the engine cannot change,
    # so a rerun writes the same bytes.
    index = (
        frame.group_by(keys)
        .agg(pl.col("contribution").sort_by("bin_no").alias(total))
        .with_columns(pl.col(total).list.sum())
    )
    return frame.join(index, on=keys, how="left").sort(*keys, "bin_no")


def _counted(indexed: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    return indexed.group_by(*keys, "bin_no").agg(pl.len().cast(pl.Int64).alias("count"))


def summed_counts(counts: pl.LazyFrame, keys: list[str]) -> pl.LazyFrame:
    """Bin counts of parts of a day (``score_counts`` or ``feature_counts`` of each) added up:
    the counts of the whole day."""
    return counts.group_by(*keys, "bin_no").agg(pl.col("count").sum().cast(pl.Int64))


def score_counts(scores: pl.LazyFrame, card: Scorecard) -> pl.LazyFrame:
    """Per snapshot_date and score band (``bin_no``) with scored loans: their ``count``."""
    uppers = [b.upper for b in card.reference.score_bands]
    indexed = scores.filter(pl.col("score").is_not_null()).select(
        "snapshot_date", bin_index(pl.col("score"), uppers).alias("bin_no")
    )
    return _counted(indexed, ["snapshot_date"])


def score_psi(scores: pl.LazyFrame, card: Scorecard) -> pl.LazyFrame:
    """Per snapshot_date and score band: reference share, actual share, contribution, and the
    day's total ``psi`` (repeated on each band's row)."""
    return score_psi_of_counts(score_counts(scores, card), card)


def score_psi_of_counts(counts: pl.LazyFrame, card: Scorecard) -> pl.LazyFrame:
    """``score_psi`` from the bands' counts (``score_counts``, summed over parts)."""
    uppers = [b.upper for b in card.reference.score_bands]
    reference = _reference(bin_labels(uppers), [b.share for b in card.reference.score_bands])
    out = _stability(counts, reference, ["snapshot_date"], "psi")
    return out.rename({"bin_no": "band_no", "bin": "band"}).with_columns(
        pl.lit(card.version).alias("scorecard_version")
    )


def _feature_reference(feature: FeatureCard) -> pl.DataFrame:
    uppers = [b.upper for b in feature.bins]
    frame = _reference(bin_labels(uppers), [b.share for b in feature.bins])
    missing = _reference(["missing"], [feature.missing.share]).with_columns(
        pl.lit(-1, pl.Int32).alias("bin_no")
    )
    return pl.concat([missing, frame]).with_columns(pl.lit(feature.feature).alias("feature"))


def feature_counts(features: pl.LazyFrame, card: Scorecard) -> pl.LazyFrame:
    """Per snapshot_date, feature and bin with ACTIVE loans (``bin_no`` -1 = missing): their
    ``count``."""
    active = features.filter(pl.col("account_status") == "ACTIVE")
    indexed = pl.concat(
        [
            active.select(
                "snapshot_date",
                pl.lit(f.feature).alias("feature"),
                bin_index(pl.col(f.feature), [b.upper for b in f.bins]).alias("bin_no"),
            )
            for f in card.features
        ]
    )
    return _counted(indexed, ["snapshot_date", "feature"])


def characteristic_drift(features: pl.LazyFrame, card: Scorecard) -> pl.LazyFrame:
    """Per snapshot_date, feature and bin (``bin_no`` -1 = missing): reference and actual
    shares, contribution, and the feature's ``csi`` for the day (ACTIVE loans only)."""
    return characteristic_drift_of_counts(feature_counts(features, card), card)


def characteristic_drift_of_counts(counts: pl.LazyFrame, card: Scorecard) -> pl.LazyFrame:
    """``characteristic_drift`` from the bins' counts (``feature_counts``, summed over parts)."""
    reference = pl.concat([_feature_reference(f) for f in card.features])
    frame = _stability(counts, reference, ["snapshot_date", "feature"], "csi")
    order = {f.feature: i for i, f in enumerate(card.features)}
    return (
        frame.with_columns(
            pl.col("feature").replace_strict(order, return_dtype=pl.Int32).alias("feature_no"),
            pl.lit(card.version).alias("scorecard_version"),
        )
        .sort("snapshot_date", "feature_no", "bin_no")
        .drop("feature_no")
    )


def psi_summary(psi: pl.LazyFrame) -> pl.LazyFrame:
    """One row per snapshot_date: the day's total PSI and scored loans."""
    return (
        psi.group_by("snapshot_date", "scorecard_version")
        .agg(pl.col("psi").first(), pl.col("count").sum().alias("scored_loans"))
        .sort("snapshot_date")
    )
