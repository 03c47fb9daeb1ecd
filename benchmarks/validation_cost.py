"""What validating a day costs against ingesting it: loans feed, one process, imports warmed.

    .venv/bin/python benchmarks/validation_cost.py --loans 1000000 --json /tmp/cost-1m.json

Generates (or reuses) one synthetic day with ``loanrisk synth`` under ``--workdir``, then
times, separately and in this order:

* ingest: ``read_text`` of the landing CSV + writing the staging Parquet (``ingest_feed``);
* polars: ``flag_staged`` (reading the staging Parquet, ``type_text``, ``flag_rows``) and
  ``rule_counts``, as ``check_feed`` calls them;
* gx: ``run_suite`` on the flagged frame, on a fresh file context (``--gx-runs`` times: the
  first run also opens the context and stores the suites, later runs are the daily steady
  state), broken down as ``run_suite`` logs it: ``convert`` (Polars -> Arrow -> pandas) and
  ``runs`` (GX validation runs), both summed over groups and processes, ``validate`` (their
  wall time), ``archive`` (moving results out of the store's window) and ``other`` (context,
  stored definitions, the Arrow table). The Data Docs are built once a day, not here.

CPU seconds (user + system, forked workers included) are given beside wall seconds: on a shared
machine they move less than wall time. Peak RSS is measured per phase (``VmHWM``, reset before
each phase); forked GX workers report theirs through ``RUSAGE_CHILDREN`` (pages shared with the
parent included). Prints a Markdown table, writes the figures as JSON, and exits non-zero if GX
and Polars count a rule differently.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import resource
import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(PROJECT))  # run as a script: benchmarks/ is on the path, not its parent

from benchmarks.measure import cpu_seconds, peak_mib, reset_peak  # noqa: E402

DAY = dt.date(2026, 3, 1)
FEED = "loan_snapshot"


class Clock:
    """Wall time, CPU time and peak RSS of named phases."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.cpu: dict[str, float] = {}
        self.peaks: dict[str, float] = {}

    @contextmanager
    def phase(self, name: str):
        reset_peak()
        start, cpu = time.perf_counter(), cpu_seconds()
        yield
        self.seconds[name] = time.perf_counter() - start
        self.cpu[name] = cpu_seconds() - cpu
        self.peaks[name] = peak_mib()


class GxCost(logging.Handler):
    """Collects the cost breakdown ``run_suite`` logs (``record.gx_cost``, DEBUG level)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.cost: dict[str, float] = {}
        self.message = ""

    def emit(self, record: logging.LogRecord) -> None:
        if hasattr(record, "gx_cost"):
            self.cost, self.message = dict(record.gx_cost), record.getMessage()


def landing(workdir: Path, loans: int, seed: int) -> Path:
    """The landing folder of the synthetic day, generated once per (loans, seed)."""
    from loanrisk.synth import generate

    folder = workdir / f"landing-{loans}-{seed}"
    if not (folder / f"loans_{DAY.isoformat()}.csv").exists():
        shutil.rmtree(folder, ignore_errors=True)
        generate(DAY, 1, loans, seed, folder, PROJECT / "src" / "loanrisk" / "project" / "config")
    return folder


def warm_imports() -> None:
    import great_expectations  # noqa: F401
    import pandas  # noqa: F401
    import polars  # noqa: F401
    import pyarrow  # noqa: F401


def measure(args: argparse.Namespace) -> dict:
    import loanrisk.quality.gx_validation as gxv
    from loanrisk.config import load_settings
    from loanrisk.lake.storage import Lake, write_partition
    from loanrisk.pipeline.validation_stage import flag_staged
    from loanrisk.quality.contracts import load_contract
    from loanrisk.quality.gx_samples import personal_masks
    from loanrisk.quality.parsing import read_text
    from loanrisk.quality.validation import feed_rules, rule_counts

    data_root = args.workdir / "data"
    shutil.rmtree(data_root, ignore_errors=True)
    settings = load_settings(PROJECT / "src" / "loanrisk" / "project" / "config", data_root)
    lake = Lake(data_root=data_root, landing_dir=landing(args.workdir, args.loans, args.seed))
    contract = load_contract(settings.contracts_dir, FEED)
    path = lake.landing_file(contract.landing_file_name(DAY.isoformat()))
    warm_imports()
    workers = args.workers or settings.execution.gx_workers
    clock = Clock()
    with clock.phase("ingest"):
        text = read_text(path, contract, settings.pipeline.input_encoding)
        write_partition(text, lake.partition("staging", FEED, DAY), lake.scratch)
    del text
    with clock.phase("polars"):
        rules = feed_rules(contract, DAY, settings)
        flagged = flag_staged(lake.partition_file("staging", FEED, DAY), contract, rules, settings)
        counts = rule_counts(flagged, rules)
    masks = personal_masks(contract)
    runs = [
        gx_run(gxv, data_root, flagged, rules, counts, workers, masks) for _ in range(args.gx_runs)
    ]
    return {
        "loans": args.loans,
        "rows": flagged.height,
        "rules": len(rules),
        "seconds": {k: round(v, 3) for k, v in clock.seconds.items()},
        "cpu_seconds": {k: round(v, 3) for k, v in clock.cpu.items()},
        "peak_rss_mib": {k: round(v) for k, v in clock.peaks.items()},
        "gx": runs,
    }


def gx_run(
    gxv, data_root: Path, flagged, rules, counts: dict[str, int], workers: int, masks: dict
) -> dict:
    """One ``run_suite`` call, its logged breakdown, peak RSS and the count comparison."""
    handler = GxCost()
    logger = logging.getLogger(gxv.__name__)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    clock = Clock()
    from loanrisk.lake.storage import Lake

    lake = Lake(data_root, data_root / "landing")
    try:
        with clock.phase("gx"):
            table = gxv.suite_table(flagged, rules)
            gx_counts = gxv.run_suite(
                lake.gx_root,
                lake.data_docs,
                lake.gx_archive,
                FEED,
                DAY,
                table,
                rules,
                workers=workers,
                masks=masks,
            )
    finally:
        logger.removeHandler(handler)
    total = clock.seconds["gx"]
    parts = {k: round(v, 3) for k, v in handler.cost.items()}
    timed = handler.cost.get("validate", 0) + handler.cost.get("archive", 0)
    parts["other"] = round(total - timed, 3)
    differ = sorted(k for k in counts if counts[k] != gx_counts.get(k))
    return {
        "seconds": round(total, 3),
        "cpu_seconds": round(clock.cpu["gx"], 3),
        "breakdown": parts,
        "groups": handler.message,
        "peak_rss_mib": round(clock.peaks["gx"]),
        "worker_peak_rss_mib": round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024),
        "counts_equal": not differ and set(counts) == set(gx_counts),
        "differing": differ,
        "unexpected_total": sum(gx_counts.values()),
    }


def table(result: dict) -> str:
    s, cpu, peaks = result["seconds"], result["cpu_seconds"], result["peak_rss_mib"]
    lines = [
        f"loans feed: {result['rows']:,} rows, {result['rules']} rules",
        "",
        "| phase | seconds | CPU seconds | peak RSS MiB |",
        "|---|---:|---:|---:|",
        f"| ingest (read_text + staging Parquet) | {s['ingest']:.2f} | {cpu['ingest']:.2f} "
        f"| {peaks['ingest']} |",
        f"| Polars (read staging, type, flag, count) | {s['polars']:.2f} | {cpu['polars']:.2f} "
        f"| {peaks['polars']} |",
    ]
    for i, run in enumerate(result["gx"], 1):
        parts = ", ".join(f"{k} {v:.2f}" for k, v in run["breakdown"].items())
        peak = run["peak_rss_mib"]
        if run["worker_peak_rss_mib"]:
            peak = f"{peak} (workers {run['worker_peak_rss_mib']})"
        ok = "counts equal" if run["counts_equal"] else f"COUNTS DIFFER {run['differing']}"
        label = f"GX run {i}: {run['groups']}; {parts}; {ok}"
        lines.append(f"| {label} | {run['seconds']:.2f} | {run['cpu_seconds']:.2f} | {peak} |")
    gx, gx_cpu = result["gx"][-1]["seconds"], result["gx"][-1]["cpu_seconds"]
    lines += [
        "",
        f"GX / ingest = {gx / s['ingest']:.2f}; "
        f"(Polars + GX) / ingest = {(s['polars'] + gx) / s['ingest']:.2f} (last GX run); "
        f"in CPU seconds {(cpu['polars'] + gx_cpu) / cpu['ingest']:.2f}",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/loanrisk-validation-cost"))
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--gx-runs", type=int, default=2)
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="GX worker processes (default: gx_workers of execution.yaml)",
    )
    args = parser.parse_args(argv)
    result = measure(args)
    print(table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0 if all(run["counts_equal"] for run in result["gx"]) else 1


if __name__ == "__main__":
    sys.exit(main())
