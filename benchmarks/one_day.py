"""One business day of the benchmark in a process of its own, as ``loanrisk run`` and the
Airflow tasks run each day (a day never inherits what an earlier day's process opened or
cached):

    python -m benchmarks.one_day --date D --config C --data-root R --landing L --out F

runs ``run_day`` for D on R with every step measured (``stage_timers``) and writes
the day's record (end-to-end cost, each step's cost, the manifest's counts) to F as JSON.
Imports are warmed before the first measurement.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import functools
import json
import sys
from contextlib import contextmanager
from pathlib import Path

from benchmarks.measure import Cost, measured


def warm_imports() -> None:
    """Import what the stages import lazily, so no stage pays for an import."""
    import great_expectations  # noqa: F401
    import pandas  # noqa: F401


@contextmanager
def stage_timers(records: list):
    """Wrap ``loanrisk.pipeline.runner.run_step`` so that run_day's calls append
    ``{"stage", "wall_s", "cpu_s", "peak_rss_mib"}`` to ``records``; restored on exit."""
    import loanrisk.pipeline.runner as runner

    original = runner.run_step

    @functools.wraps(original)
    def timed(name, business_date, settings, run=None, **part):
        label = ":".join([name, *(str(v) for v in part.values())])
        cost = Cost()
        try:
            with measured(cost):
                return original(name, business_date, settings, run, **part)
        finally:
            records.append({"stage": label, **cost.as_dict()})

    runner.run_step = timed
    try:
        yield
    finally:
        runner.run_step = original


def measure_day(day: dt.date, settings, recompute_later: bool = True) -> dict:
    """run_day for ``day`` in this process: end-to-end cost, each stage's cost, and the
    manifest's counts."""
    from loanrisk.pipeline.runner import run_day

    records: list[dict] = []
    total = Cost()
    with stage_timers(records), measured(total):
        manifest = run_day(day, settings, recompute_later=recompute_later)
    end_to_end = total.as_dict()
    end_to_end["peak_rss_mib"] = max(
        [end_to_end["peak_rss_mib"]] + [r["peak_rss_mib"] for r in records]
    )
    attributed = sum(r["wall_s"] for r in records)
    return {
        "date": day.isoformat(),
        "end_to_end": end_to_end,
        "unattributed_wall_s": round(end_to_end["wall_s"] - attributed, 3),
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
    record = measure_day(args.date, settings, recompute_later=not args.no_recompute)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
