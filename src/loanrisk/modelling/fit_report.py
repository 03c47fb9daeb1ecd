"""Metrics and the Markdown model report of ``loanrisk fit-scorecard``.

Discrimination (AUC, Gini = 2 AUC - 1, KS = max |TPR - FPR|) of the fitted card's pd_12m on
the train and out-of-time holdout samples; stability: the PSI of the holdout against the new
card's reference (its training population), and the PSI and characteristic drift of the whole
sample scored by the current card against the current card's reference population.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from loanrisk.domain.score_monitoring import characteristic_drift, score_psi
from loanrisk.domain.scorecard import Scorecard, apply_scorecard
from loanrisk.lake.storage import write_bytes_atomic


def discrimination(scored: pl.DataFrame) -> dict:
    """rows, defaults, default rate, AUC, Gini and KS of ``pd_12m`` against ``target``."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y, p = scored["target"].to_numpy(), scored["pd_12m"].to_numpy()
    fpr, tpr, _ = roc_curve(y, p)
    auc = float(roc_auc_score(y, p))
    return {
        "rows": scored.height,
        "defaults": int(y.sum()),
        "default_rate": round(float(y.mean()), 6),
        "auc": round(auc, 4),
        "gini": round(2 * auc - 1, 4),
        "ks": round(float((tpr - fpr).max()), 4),
    }


def _pooled(frame: pl.DataFrame) -> pl.LazyFrame:
    """The whole sample as one 'day', for the monitoring functions."""
    return frame.lazy().with_columns(pl.lit(frame["snapshot_date"].max()).alias("snapshot_date"))


def evaluate(card: Scorecard, current: Scorecard, train: pl.DataFrame, holdout: pl.DataFrame):
    """Metrics for the report; ``summary`` holds the headline numbers."""
    scored = {
        n: apply_scorecard(f.lazy(), card).collect()
        for n, f in (("train", train), ("holdout", holdout))
    }
    summary = {name: discrimination(frame) for name, frame in scored.items()}
    holdout_psi = score_psi(_pooled(scored["holdout"]), card).collect()
    sample = pl.concat([train, holdout])
    by_current = apply_scorecard(_pooled(sample), current)
    current_psi = score_psi(by_current, current).collect()
    drift = characteristic_drift(_pooled(sample), current).collect()
    summary["psi_holdout_vs_new_reference"] = round(float(holdout_psi["psi"][0]), 4)
    summary["psi_sample_vs_current_reference"] = round(float(current_psi["psi"][0]), 4)
    return {
        "summary": summary,
        "holdout_psi": holdout_psi,
        "current_psi": current_psi,
        "drift": drift,
        "scored": scored,
    }


def _table(frame: pl.DataFrame, columns: list[str], digits: int = 4) -> list[str]:
    rows = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in frame.select(columns).iter_rows():
        cells = [f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def _metrics_lines(summary: dict) -> list[str]:
    lines = ["| sample | rows | defaults | default rate | AUC | Gini | KS |", "|---" * 7 + "|"]
    for name in ("train", "holdout"):
        m = summary[name]
        lines.append(
            f"| {name} | {m['rows']} | {m['defaults']} | {m['default_rate']:.4f} | "
            f"{m['auc']:.4f} | {m['gini']:.4f} | {m['ks']:.4f} |"
        )
    return lines


def _bins_lines(card: Scorecard, binned, coefficients: dict) -> list[str]:
    points = {f.feature: f for f in card.features}
    lines = ["## Bins (training sample): WoE and IV", ""]
    for fb in binned:
        kept = fb.feature in points
        status = f"kept, coefficient {coefficients[fb.feature]:.4f}" if kept else "dropped"
        lines += [f"### {fb.feature}: IV {fb.iv:.4f} ({status})", ""]
        table = fb.table
        if kept:
            f = points[fb.feature]
            values = [f.missing.points, *(b.points for b in f.bins)]
            table = table.with_columns(pl.Series("points", values))
        columns = ["bin", "count", "share", "bads", "bad_rate", "woe", "iv_part"]
        lines += [*_table(table, columns + (["points"] if kept else [])), ""]
    return lines


def _stability_lines(current: Scorecard, metrics: dict) -> list[str]:
    summary = metrics["summary"]
    drift = metrics["drift"].group_by("feature", maintain_order=True).agg(pl.col("csi").first())
    columns = ["band", "reference_share", "actual_share", "contribution"]
    return [
        "## Stability",
        "",
        f"PSI of the holdout against the new card's training reference: "
        f"{summary['psi_holdout_vs_new_reference']:.4f}",
        "",
        f"PSI of the whole sample scored by the current card ({current.version}) against its "
        f"reference population: {summary['psi_sample_vs_current_reference']:.4f}",
        "",
        *_table(metrics["current_psi"], columns),
        "",
        f"Characteristic drift (CSI) against the current card's reference ({current.version}):",
        "",
        *_table(drift, ["feature", "csi"]),
        "",
    ]


def write_report(
    path: Path, card: Scorecard, current: Scorecard, binned, metrics: dict, model
) -> Path:
    """The Markdown model report: metrics, model, bins with WoE and IV, PSI and drift."""
    intercept, coefficients = model
    scaling = card.scaling
    lines = [
        f"# Scorecard {card.version}",
        "",
        card.description,
        "",
        "## Discrimination (pd_12m of the card as written)",
        "",
        *_metrics_lines(metrics["summary"]),
        "",
        "## Model",
        "",
        f"Logistic regression on WoE, intercept {intercept:.4f}; scaling base_score "
        f"{scaling.base_score:g} at odds {scaling.base_odds:g}, pdo {scaling.pdo:g}.",
        "",
        *_bins_lines(card, binned, coefficients),
        *_stability_lines(current, metrics),
    ]
    return write_bytes_atomic("\n".join(lines).encode("utf-8"), path)
