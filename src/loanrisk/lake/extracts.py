"""Extract files handed to other teams: CSV (+ Parquet) written atomically, owner-only, with a
manifest of row counts, control totals and sha256 of every file (DESIGN.md §3, §12).

CSV text cells that a spreadsheet would read as a formula (``=``, ``+``, ``-``, ``@``, tab or
carriage return first) get a leading ``'`` (OWASP CSV injection); Parquet keeps the raw value.
Same frame in, same bytes out: callers sort their frames.
"""

from __future__ import annotations

import datetime as dt
from functools import partial

import polars as pl

from loanrisk import __version__
from loanrisk.config import Settings
from loanrisk.lake.modes import OWNER_ONLY_MODES
from loanrisk.lake.storage import (
    Lake,
    read_json,
    sha256_file,
    write_file_atomic,
    write_json_atomic,
    write_parquet,
)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
#: Extract files stay owner-only even where execution.yaml grants the group read.
OWNER_ONLY = OWNER_ONLY_MODES[0]


def neutralise_formulas(frame: pl.DataFrame) -> pl.DataFrame:
    """Prefix every text cell that starts like a spreadsheet formula with ``'``; list columns
    are joined with ``,`` first (CSV has no lists)."""
    lists = [c for c, t in frame.schema.items() if isinstance(t, pl.List)]
    frame = frame.with_columns(pl.col(c).list.join(",") for c in lists)
    texts = [c for c, t in frame.schema.items() if t == pl.String]
    return frame.with_columns(
        pl.when(pl.any_horizontal(pl.col(c).str.starts_with(p) for p in FORMULA_PREFIXES))
        .then(pl.lit("'") + pl.col(c))
        .otherwise(pl.col(c))
        .alias(c)
        for c in texts
    )


def _file_entry(lake: Lake, path, rows: int) -> dict:
    return {"path": lake.relative(path), "rows": rows, "sha256": sha256_file(path)}


def write_extract_files(
    lake: Lake,
    kind: str,
    business_date: dt.date,
    name: str,
    frame: pl.DataFrame,
    parquet: bool = True,
) -> list[dict]:
    """``extracts/<kind>/D/<name>.csv`` (formulas neutralised) and ``<name>.parquet`` (raw
    values), both owner-only; returns their manifest entries."""
    folder = lake.extract_dir(kind, business_date)
    csv = folder / f"{name}.csv"
    write_file_atomic(csv, neutralise_formulas(frame).write_csv, OWNER_ONLY)
    entries = [_file_entry(lake, csv, frame.height)]
    if parquet:
        target = folder / f"{name}.parquet"
        write_file_atomic(target, partial(write_parquet, frame), OWNER_ONLY)
        entries.append(_file_entry(lake, target, frame.height))
    return entries


def run_manifests(lake: Lake, days: list[dt.date]) -> list[dict]:
    """The runs an extract was built from: each day's run manifest path and the sha256 of its
    loans input file (from the day's ingest report, so the extract of the day being run does
    not depend on the run manifest it is itself listed in)."""
    found = []
    for day in sorted(set(days)):
        ingest = lake.stage_report(day, "ingest_loan_snapshot")
        entry = {"date": day.isoformat(), "manifest": lake.relative(lake.run_manifest(day))}
        if ingest.exists():
            entry["input_sha256"] = read_json(ingest).get("input", {}).get("sha256")
        found.append(entry)
    return found


def write_extract_manifest(
    lake: Lake,
    settings: Settings,
    kind: str,
    business_date: dt.date,
    files: list[dict],
    control_totals: dict,
    source_days: list[dt.date],
) -> dict:
    """``extracts/<kind>/D/manifest.json``: files, control totals, sources, versions."""
    manifest = {
        "extract": kind,
        "business_date": business_date.isoformat(),
        "files": sorted(files, key=lambda f: f["path"]),
        "control_totals": control_totals,
        "run_manifests": run_manifests(lake, source_days),
        "config_hash": settings.config_hash,
        "code_version": __version__,
    }
    path = lake.extract_manifest(kind, business_date)
    write_json_atomic(manifest, path, OWNER_ONLY)
    return {**manifest, "path": lake.relative(path)}
