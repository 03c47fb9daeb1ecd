"""One business day of the benchmark in a process of its own, as ``loanrisk run`` and the
Airflow tasks run each day (a day never inherits what an earlier day's process opened or
cached):

    python -m benchmarks.one_day --date D --config C --data-root R --landing L --out F

runs ``run_day`` for D on R with every step measured wherever it runs (``benchmarks.stages``:
this process or a child) and writes the day's record to F as JSON: end-to-end cost, each
step's cost, this process's peak RSS and its largest descendant's, the K the day used and the
manifest's counts. Imports are warmed before the first measurement.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import os
import resource
import sys
import time
from pathlib import Path

from benchmarks import stages
from benchmarks.measure import Cost, measured


def warm_imports() -> None:
    """Import what the stages import lazily, so no stage pays for an import."""
    import great_expectations  # noqa: F401
    import pandas  # noqa: F401


def largest_child_mib() -> float:
    """Peak RSS of the largest process among this one's waited-for descendants (GX's forked
    workers, shard steps run in child processes, their own children): the kernel keeps the
    largest of the whole tree in RUSAGE_CHILDREN."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def shards_used(manifest: dict, settings, day: dt.date) -> dict | None:
    """The K the day ran with: the manifest's ``execution`` or, before manifests recorded it,
    ``state/shard_counts/snapshot_date=D.json``; None when neither is there."""
    if isinstance(manifest.get("execution"), dict):
        return manifest["execution"]
    from loanrisk.lake.storage import lake_of

    path = lake_of(settings).shard_count(day)
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None


def day_stages(settings, day: dt.date, records_file: Path, since: float) -> list[dict]:
    """Every step run of the day, measured where it ran (``benchmarks.stages``); a step no
    wrapper reached comes from the stage log (no peak), marked ``source``."""
    from loanrisk.lake.storage import lake_of

    records = stages.read(records_file)
    records += stages.unmeasured(lake_of(settings).stage_log(day), records, since)
    own = os.getpid()
    for record in records:
        record["in_child"] = record["pid"] != own
    return sorted(records, key=lambda r: r["started"])


def measure_day(day: dt.date, settings, records_file: Path, recompute_later: bool = True) -> dict:
    """run_day for ``day`` in this process: end-to-end cost, each step's cost (in this process
    or a child), the peaks of this process and of its largest descendant, the day's K and the
    manifest's counts."""
    from loanrisk.pipeline.runner import run_day

    records_file.unlink(missing_ok=True)
    stages.install(records_file)
    stages.export_to_children(records_file)
    total, since = Cost(), time.time()
    with measured(total):
        manifest = run_day(day, settings, recompute_later=recompute_later)
    records = day_stages(settings, day, records_file, since)
    end_to_end = total.as_dict()
    # VmHWM is reset before each step: this process's peak is the largest one measured in it.
    own = [r["peak_rss_mib"] for r in records if not r["in_child"] and r["peak_rss_mib"]]
    end_to_end["peak_rss_mib"] = max([end_to_end["peak_rss_mib"], *own])
    # Shard tasks run in processes forked from runner.ShardWorkers' fork server, a child that
    # outlives run_day: neither their CPU nor their peaks reach this process's
    # RUSAGE_CHILDREN, so they come from their own records (each with its GX forks).
    workers = [r for r in records if r["in_child"]]
    end_to_end["cpu_s"] = round(end_to_end["cpu_s"] + sum(r["cpu_s"] for r in workers), 3)
    tree = [r.get("peak_rss_mib") or 0 for r in workers]
    tree += [r.get("children_peak_rss_mib") or 0 for r in records]
    child = round(max([largest_child_mib(), *tree]), 3)
    return {
        "date": day.isoformat(),
        "end_to_end": end_to_end,
        "peaks": {
            "day_process_mib": end_to_end["peak_rss_mib"],
            "largest_child_mib": child,
            "largest_process_mib": max(end_to_end["peak_rss_mib"], child),
        },
        "shards": shards_used(manifest, settings, day),
        "unattributed_wall_s": round(end_to_end["wall_s"] - stages.covered_seconds(records), 3),
        "stages": records,
        "rows": {k: manifest.get(k) for k in ("rows_in", "rows_out", "rows_quarantined")},
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.one_day", description=__doc__)
    parser.add_argument("--date", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--data-root", type=Path, required=True)
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True, help="the day's record (JSON)")
    parser.add_argument("--no-recompute", action="store_true", help="later days are not recomputed")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from loanrisk.config import load_settings

    args = parse(argv)
    settings = load_settings(args.config, args.data_root)
    settings = dataclasses.replace(settings, landing_dir=args.landing)
    warm_imports()
    records_file = args.out.with_suffix(".stages.jsonl")
    record = measure_day(args.date, settings, records_file, not args.no_recompute)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
