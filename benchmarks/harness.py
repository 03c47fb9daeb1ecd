"""The benchmark run: synthetic landing data (cached), the pipeline's two-day sequence timed
stage by stage, the I/O floor, the baselines and their equality with the pipeline.

Each business day runs in a process of its own, as ``loanrisk run`` and the Airflow tasks run
it (``benchmarks.one_day``): ``loanrisk.pipeline.runner.run_day`` with ``run_step`` of
``loanrisk.pipeline.runner`` wrapped for the duration so that each call is measured (wall, CPU
incl. children, peak RSS with VmHWM reset before the stage); what run_day does between stages
is ``unattributed``. Imports are warmed there before the first measurement; the whole process
(start, imports and all) is measured here too, as the day's ``process``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.measure import Cost, measured, timed

PROJECT = Path(__file__).resolve().parents[1]
SHIPPED_CONFIG = PROJECT / "src" / "loanrisk" / "project" / "config"
START = dt.date(2026, 3, 1)
#: Steps run by run_day (``loanrisk.pipeline.registry.DAILY``), timed one call at a time.
#: Steps run once per feed or shard are labelled ``<step>:<feed or shard>``.
#: Steps doing the shared core work (loans feed only for ingest and validate).
CORE_STAGES = ("ingest:loan_snapshot", "validate:loan_snapshot", "age_loans")
CORE_STAGES += ("build_collections", "recompute_later_days")
CORE_PREFIXES = ("age_loans_shard:",)
FEED_PREFIXES = (("loans", "loan_snapshot"), ("events", "events"), ("contacts", "contacts"))


def _child(command: list[str], log: Path, what: str) -> dict:
    """Run ``command`` (output to ``log``); its wall, CPU and peak RSS (from ``wait4``: the
    process's own and its waited-for children's, GX workers included). The peak of ``loanrisk
    synth`` also enters this process's RUSAGE_CHILDREN (the report says so)."""
    started = time.perf_counter()
    paths = [str(PROJECT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}  # ``benchmarks`` is not installed
    with open(log, "wb") as out:
        child = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {child.returncode}): {log.read_text()[-3000:]}")
    return {
        "wall_s": round(time.perf_counter() - started, 3),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 3),
    }


def landing(workdir: Path, loans: int, days: int, seed: int) -> tuple[Path, dict | None]:
    """The cached landing folder of ``loanrisk synth`` for (loans, days, seed); generated, and
    its cost returned, only when not there yet."""
    folder = workdir / f"landing-{loans}-{days}-{seed}"
    marker = folder / ".complete"
    if marker.exists():
        return folder, None
    shutil.rmtree(folder, ignore_errors=True)
    folder.parent.mkdir(parents=True, exist_ok=True)
    loanrisk = Path(sys.executable).with_name("loanrisk")
    command = [str(loanrisk), "synth", "--start", START.isoformat(), "--days", str(days)]
    command += ["--loans", str(loans), "--seed", str(seed), "--out", str(folder)]
    command += ["--config", str(SHIPPED_CONFIG)]
    cost = _child(command, folder.parent / f"{folder.name}.log", "loanrisk synth")
    marker.write_text("ok\n")
    return folder, cost


@dataclasses.dataclass(frozen=True)
class Execution:
    """The ``execution.yaml`` setting a benchmark runs with: ``shards`` (K or ``auto``) and,
    when given, ``max_shard_memory_gib``. None: the shipped file as it is."""

    shards: int | str | None = None
    max_shard_memory_gib: float | None = None

    @property
    def tag(self) -> str:
        """The setting in result file names: "" for the shipped file or K = 1 (the names of
        results committed before sharding), else ``-k8``, ``-kauto``, ``-kauto-m2``."""
        if self.shards in (None, 1) and self.max_shard_memory_gib is None:
            return ""
        tag = f"-k{self.shards if self.shards is not None else 'shipped'}"
        return tag + (f"-m{self.max_shard_memory_gib:g}" if self.max_shard_memory_gib else "")

    def as_dict(self) -> dict:
        return {"shards": self.shards, "max_shard_memory_gib": self.max_shard_memory_gib}


def config_with(execution: Execution, workdir: Path) -> Path:
    """The shipped config folder, or (a setting given) a copy of it under ``workdir`` with the
    setting written into its ``execution.yaml`` (the shipped file is never edited). Data
    contracts are the shipped ones (a project without its own reads those)."""
    if execution.shards is None and execution.max_shard_memory_gib is None:
        return SHIPPED_CONFIG
    target = workdir / f"project{execution.tag or '-k1'}" / "config"
    shutil.rmtree(target.parent, ignore_errors=True)
    shutil.copytree(SHIPPED_CONFIG, target)
    path = target / "execution.yaml"
    text = path.read_text(encoding="utf-8")
    for key in ("shards", "max_shard_memory_gib"):
        value = getattr(execution, key)
        if value is not None:
            text, found = re.subn(rf"(?m)^{key}:.*$", f"{key}: {value}", text)
            if found != 1:
                raise ValueError(f"{path}: no single top-level {key} line to set")
    path.write_text(text, encoding="utf-8")
    return target


def settings_for(data_root: Path, landing_dir: Path, config_dir: Path | None = None):
    """Settings of ``config_dir`` (the shipped config by default) on a fresh ``data_root``,
    reading ``landing_dir``; the config is validated as the pipeline loads it."""
    from loanrisk.config import load_settings

    shutil.rmtree(data_root, ignore_errors=True)
    settings = load_settings(config_dir or SHIPPED_CONFIG, data_root)
    return dataclasses.replace(settings, landing_dir=landing_dir)


def run_one_day(day: dt.date, settings, recompute_later: bool = True) -> dict:
    """``day`` run in a process of its own (``benchmarks.one_day``), as ``loanrisk run`` runs
    it: end-to-end cost, each stage's cost and the manifest's counts, as measured in that
    process, and the whole process's cost (``process``). Its record and output are kept
    beside the data_root (``<data_root>-<day>.json`` and ``.log``)."""
    base = f"{settings.data_root.name}-{day.isoformat()}"
    record, log = (settings.data_root.parent / f"{base}{end}" for end in (".json", ".log"))
    record.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchmarks.one_day", "--date", day.isoformat()]
    command += ["--config", str(settings.config_dir), "--data-root", str(settings.data_root)]
    command += ["--landing", str(settings.landing_dir), "--out", str(record)]
    command += [] if recompute_later else ["--no-recompute"]
    process = _child(command, log, f"the benchmark's day {day.isoformat()}")
    measured_day = json.loads(record.read_text(encoding="utf-8"))
    # The child resets its VmHWM before each stage, which the kernel's peak (wait4) follows:
    # the process's peak is the larger of that and the peaks measured in it.
    peak = max(process["peak_rss_mib"], measured_day["end_to_end"]["peak_rss_mib"])
    # wait4's peak is the largest process of the day's whole tree (its waited-for descendants
    # included), the day process's own peak after its last VmHWM reset aside: the largest
    # process is the larger of that and the peaks the day measured.
    peaks = measured_day.get("peaks", {})
    largest = max(peak, peaks.get("largest_process_mib", 0))
    measured_day["peaks"] = {**peaks, "largest_process_mib": largest}
    return {**measured_day, "process": {**process, "peak_rss_mib": peak}}


def floor(landing_dir: Path, day: dt.date, scratch: Path) -> dict:
    """The I/O floor: each feed's CSV read by Polars with every column as text (as the
    pipeline's ingest reads it) and written to Parquet, no logic; plus the loans file typed by
    Polars' inference, for reference."""
    import polars as pl

    scratch.mkdir(parents=True, exist_ok=True)
    out = {}
    for prefix, feed in FEED_PREFIXES:
        source = landing_dir / f"{prefix}_{day.isoformat()}.csv"
        target = scratch / f"{feed}.parquet"
        _, out[feed] = timed(
            lambda s=source, t=target: pl.read_csv(s, infer_schema=False).write_parquet(t)
        )
    source = landing_dir / f"loans_{day.isoformat()}.csv"
    _, out["loan_snapshot_inferred"] = timed(
        lambda: pl.read_csv(source).write_parquet(scratch / "inferred.parquet")
    )
    keys = [feed for _, feed in FEED_PREFIXES]
    out["all_feeds_text"] = {k: round(sum(out[f][k] for f in keys), 3) for k in ("wall_s", "cpu_s")}
    out["all_feeds_text"]["peak_rss_mib"] = max(out[f]["peak_rss_mib"] for f in keys)
    shutil.rmtree(scratch, ignore_errors=True)
    return out


def core_comparison(settings, day1: dt.date, day2: dt.date) -> dict:
    """Time the shared core work by the pipeline's functions and by each baseline, and check
    every result against the pipeline's published tables."""
    from benchmarks import pipeline_core
    from benchmarks.baselines import duckdb_baseline, load_rules, pandas_baseline
    from benchmarks.compare import all_equal, canonical_all, compare

    rules = load_rules(settings.config_dir)
    published = canonical_all(pipeline_core.published(settings, day1, day2))
    result = {"rows": {t: f.height for t, f in published.items()}}
    runs = {
        "pipeline_core": (lambda: pipeline_core.core(settings, day1, day2), False),
        "pandas": (lambda: pandas_baseline.core(settings.landing_dir, day1, day2, rules), True),
        "duckdb": (lambda: duckdb_baseline.core(settings.landing_dir, day1, day2, rules), False),
    }
    for name, (run, in_cents) in runs.items():
        frames, cost = timed(run)
        comparison = compare(published, canonical_all(frames, in_cents))
        result[name] = {**cost, "equal": all_equal(comparison), "comparison": comparison}
        if "parse_wall_s" in frames:
            result[name]["parse_wall_s"] = frames["parse_wall_s"]
        del frames
    _, result["roll_rates_view"] = timed(pipeline_core.query_roll_rates, settings, day2)
    return result


def stage_core_cost(days: list[dict], roll_rates_view: dict) -> dict:
    """The two days' cost of the stages doing the core work (CORE_STAGES) plus the roll-rate
    view query: what the pipeline as it runs spends on it (it also validates with GX,
    quarantines and writes)."""
    rows = [
        r
        for d in days
        for r in d["stages"]
        if r["stage"] in CORE_STAGES or r["stage"].startswith(CORE_PREFIXES)
    ]
    return {
        "wall_s": round(sum(r["wall_s"] for r in rows) + roll_rates_view["wall_s"], 3),
        "cpu_s": round(sum(r["cpu_s"] for r in rows) + roll_rates_view["cpu_s"], 3),
        "stages": [*CORE_STAGES, "roll_rates view query"],
    }


def run_benchmark(
    loans: int,
    seed: int,
    workdir: Path,
    baselines: bool = True,
    execution: Execution = Execution(),
) -> dict:
    """The two-day benchmark at ``loans`` loans with the ``execution`` setting: synth
    (cached), day 1 and day 2 through run_day, the floor on day 2's files, and
    (``baselines``) the core-work comparison."""
    from benchmarks.measure import machine

    landing_dir, synth_cost = landing(workdir, loans, 2, seed)
    config_dir = config_with(execution, workdir)
    data_root = workdir / f"data-{loans}-{seed}{execution.tag}"
    settings = settings_for(data_root, landing_dir, config_dir)
    day1, day2 = START, START + dt.timedelta(days=1)
    result = {
        "kind": "run",
        "loans": loans,
        "seed": seed,
        "execution": execution.as_dict(),
        "machine": machine(),
        "synth": synth_cost,
        "days": [run_one_day(day1, settings), run_one_day(day2, settings)],
    }
    result["floor"] = floor(landing_dir, day2, workdir / "floor-scratch")
    if baselines:
        core = core_comparison(settings, day1, day2)
        core["pipeline_stages"] = stage_core_cost(result["days"], core["roll_rates_view"])
        result["core"] = core
    return result


def run_backfill(loans: int, days: int, seed: int, workdir: Path) -> dict:
    """``days`` business days at ``loans`` loans run in order as ``loanrisk backfill`` does
    (run_day per day, later days recomputed only after the last): total and per-day cost."""
    from benchmarks.measure import machine

    landing_dir, synth_cost = landing(workdir, loans, days, seed)
    settings = settings_for(workdir / f"backfill-{loans}-{days}-{seed}", landing_dir)
    dates = [START + dt.timedelta(days=n) for n in range(days)]
    per_day, total = [], Cost()
    with measured(total):
        for day in dates:
            run = run_one_day(day, settings, recompute_later=day == dates[-1])
            stages = {r["stage"]: r["wall_s"] for r in run["stages"]}
            per_day.append(
                {"date": run["date"], **run["end_to_end"], "rows": run["rows"], "stages": stages}
            )
    walls = sorted(d["wall_s"] for d in per_day)
    summary = total.as_dict()
    summary["peak_rss_mib"] = max(d["peak_rss_mib"] for d in per_day)
    return {
        "kind": "backfill",
        "loans": loans,
        "days": days,
        "seed": seed,
        "machine": machine(),
        "synth": synth_cost,
        "total": summary,
        "day_wall_s": {"min": walls[0], "median": walls[len(walls) // 2], "max": walls[-1]},
        "per_day": per_day,
    }
