"""Month-end work of the ``loan_monthly`` DAG (DESIGN.md §11): which day closes a month, the
month's score-monitoring summary and the optional scorecard refit.

A month's run is identified by any date inside it (Airflow's ``ds`` of the monthly run is the
month's first day); its *month-end day* is the month's latest published business day, which
the DAG waits for before anything else runs.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json

import polars as pl

from loanrisk.config import Settings
from loanrisk.errors import InputFileError
from loanrisk.lake.runs import previous_published
from loanrisk.lake.storage import Lake, lake_of, write_bytes_atomic

MONITORING = "score_monitoring"


def month_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    """First and last calendar day of ``day``'s month."""
    last = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1), day.replace(day=last)


def is_published(lake: Lake, day: dt.date) -> bool:
    manifest = lake.run_manifest(day)
    if not manifest.exists():
        return False
    return json.loads(manifest.read_text(encoding="utf-8")).get("status") == "published"


def last_published_day(lake: Lake, day: dt.date) -> dt.date | None:
    """The latest published business day of ``day``'s month, if any."""
    first, last = month_bounds(day)
    found = previous_published(lake, last + dt.timedelta(days=1))
    if found is None:
        return None
    published = dt.date.fromisoformat(found["snapshot_date"])
    return published if published >= first else None


def month_closed(lake: Lake, day: dt.date) -> dt.date | None:
    """The month-end day when the month's last calendar day is published, else None (the
    month's last daily run has not finished yet)."""
    _, last = month_bounds(day)
    return last if is_published(lake, last) else None


def _daily_monitoring(frame: pl.DataFrame) -> list[dict]:
    """Per processed day of ``score_monitoring`` rows: the scorecard, the scored loans, the
    score's PSI and the characteristic with the largest CSI."""
    per_char = frame.group_by("snapshot_date", "scorecard_version", "characteristic").agg(
        pl.col("stability_index").first(), pl.col("count").sum().alias("count")
    )
    score = per_char.filter(pl.col("characteristic") == "score").sort("snapshot_date")
    features = (
        per_char.filter(pl.col("characteristic") != "score")
        .sort(
            "snapshot_date",
            pl.col("stability_index"),
            "characteristic",
            descending=[False, True, False],
        )
        .group_by("snapshot_date", maintain_order=True)
        .first()
    )
    worst_feature = {r["snapshot_date"]: r for r in features.iter_rows(named=True)}
    rows = []
    for r in score.iter_rows(named=True):  # one row per day of the month
        top = worst_feature.get(r["snapshot_date"])
        rows.append(
            {
                "snapshot_date": r["snapshot_date"].isoformat(),
                "scorecard_version": r["scorecard_version"],
                "scored_loans": int(r["count"]),
                "psi": round(float(r["stability_index"]), 6),
                "max_csi_feature": None if top is None else top["characteristic"],
                "max_csi": None if top is None else round(float(top["stability_index"]), 6),
            }
        )
    return rows


def monitoring_summary(settings: Settings, day: dt.date):
    """Summarise the month's ``score_monitoring``: per processed day the score PSI, the scored
    loans and the feature with the largest CSI; the month's worst PSI and its reading by the
    scorecard's ``stability`` policy. Read-only over the lake; an error when the month has no
    monitoring partition at all."""
    lake = lake_of(settings)
    first, last = month_bounds(day)
    days = [d for d in lake.partition_dates("curated", MONITORING) if first <= d <= last]
    if not days:
        raise InputFileError(
            f"{lake.relative(lake.table_dir('curated', MONITORING))}: no partition in "
            f"{first:%Y-%m}: run the month's days first"
        )
    frame = pl.concat(
        [lake.read("curated", MONITORING, d) for d in days],
        how="vertical_relaxed",
    )
    rows = _daily_monitoring(frame)
    worst = max((r["psi"] for r in rows), default=None)
    stability = settings.risk.scorecard.stability
    document = {
        "month": f"{first:%Y-%m}",
        "days": len(rows),
        "max_psi": worst,
        "reading": stability.reading(worst),
        "thresholds": {"watch": stability.watch, "shift": stability.shift},
        "daily": rows,
    }
    path = lake.monitoring_summary(first)
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    write_bytes_atomic(text.encode("utf-8"), path)
    return path


def refit_window(lake: Lake, day: dt.date) -> tuple[dt.date, dt.date]:
    """Observation window of a month-end refit: every stored scored day up to the month-end."""
    _, last = month_bounds(day)
    stored = [d for d in lake.partition_dates("curated", "loan_risk") if d <= last]
    if not stored:
        raise InputFileError(f"no scored day up to {last}: nothing to refit on")
    return stored[0], stored[-1]


def refit(settings: Settings, day: dt.date) -> dict:
    """Fit a candidate scorecard on the stored history up to the month-end, into
    ``<data_root>/models`` (a candidate: promoting it into config/ is a reviewed change)."""
    from loanrisk.modelling.fit_scorecard import fit_scorecard

    lake = lake_of(settings)
    start, end = refit_window(lake, day)
    return fit_scorecard(settings, start, end, lake.models_dir)
