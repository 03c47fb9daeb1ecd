"""Smoke run of the benchmark harness (benchmarks/) at a small size, so it never rots: the
two-day run, the floor, the baselines' equality with the pipeline, the backfill mode, K = 1
against K = 2 in one session (``compare-shards``), step records from child processes, and the
RESULTS.md rendering (to a temporary path, never the committed one)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
if str(PROJECT) not in sys.path:  # ``benchmarks`` is a folder of the project, not installed
    sys.path.insert(0, str(PROJECT))

LOANS = 10_000
COST_KEYS = {"wall_s", "cpu_s", "peak_rss_mib"}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """Results of ``python -m benchmarks run`` and ``backfill`` in a temporary workdir."""
    from benchmarks.__main__ import main

    root = tmp_path_factory.mktemp("bench")
    common = ["--workdir", str(root / "work"), "--results-dir", str(root / "results")]
    common += ["--results-md", str(root / "RESULTS.md")]
    assert main(["run", "--loans", str(LOANS), *common]) == 0
    assert main(["backfill", "--loans", "3000", "--days", "2", *common]) == 0
    shards = ["compare-shards", "--loans", str(LOANS), "--shards", "1", "2"]
    assert main([*shards, *common]) == 0
    return root


def _run(root) -> dict:
    return json.loads((root / "results" / f"run-{LOANS}.json").read_text())


def test_every_stage_is_measured_on_both_days(bench):
    from loanrisk.domain.feeds import FEEDS
    from loanrisk.pipeline.registry import DAILY

    run = _run(bench)  # unsharded: no shard step runs
    expected = {f"{s.name}:{f}" for s in DAILY if s.per == "feed" for f in FEEDS}
    expected |= {s.name for s in DAILY if s.per == "day"}
    assert len(run["days"]) == 2
    for day in run["days"]:
        recorded = {r["stage"] for r in day["stages"]}
        assert expected <= recorded, expected - recorded
        assert day["unattributed_wall_s"] < day["end_to_end"]["wall_s"] / 2
        for record in [*day["stages"], day["end_to_end"], day["process"]]:
            assert set(record) >= COST_KEYS
            assert record["wall_s"] >= 0 and record["peak_rss_mib"] > 0
        # each day ran in a process of its own (as ``loanrisk run`` runs it), measured whole
        assert day["process"]["wall_s"] >= day["end_to_end"]["wall_s"]
        assert day["rows"]["rows_in"] > 0
    assert set(run["floor"]["all_feeds_text"]) >= COST_KEYS
    assert {"cores", "memory_gib", "polars", "duckdb", "pandas"} <= set(run["machine"])


def test_baselines_equal_the_pipeline(bench):
    core = _run(bench)["core"]
    for name in ("pipeline_core", "pandas", "duckdb"):
        assert core[name]["equal"], core[name]["comparison"]
        assert set(core[name]) >= COST_KEYS
    assert all(rows > 0 for rows in core["rows"].values())


def test_comparison_catches_a_difference(bench):
    """One changed dpd in a baseline's result is reported, not hidden by the sort."""
    import polars as pl

    from benchmarks.compare import compare

    frame = pl.DataFrame({"loan_id": ["a", "b"], "dpd": [0, 5]})
    tables = {"aging": frame, "roll_rates": frame, "channels": frame}
    changed = {**tables, "aging": frame.with_columns(pl.Series("dpd", [0, 6]))}
    result = compare(tables, changed)
    assert not result["aging"]["equal"] and result["aging"]["only_in_baseline"] == 1
    assert result["channels"]["equal"]


def test_results_markdown_renders(bench):
    text = (bench / "RESULTS.md").read_text()
    assert "## Targets" in text and "## Machine" in text and "## Backfills" in text
    assert f"| {LOANS:,} |" in text
    assert "1M loans a day end to end <= 10 s: not measured" in text
    backfill = json.loads((bench / "results" / "backfill-3000x2.json").read_text())
    assert len(backfill["per_day"]) == 2 and set(backfill["total"]) >= COST_KEYS


def _session(root) -> dict:
    return json.loads((root / "results" / f"compare-shards-{LOANS}-k1-k2.json").read_text())


def test_compare_shards_runs_each_setting_with_its_k(bench):
    """K = 2 runs on a copy of the config with ``shards: 2``; each day records the K it used
    (from the manifest), every shard step, and the peaks of the largest process."""
    session = _session(bench)
    k1, k2 = session["runs"]
    assert [r["execution"]["shards"] for r in (k1, k2)] == [1, 2]
    for run, count in ((k1, 1), (k2, 2)):
        for day in run["days"]:
            assert day["shards"]["shards"] == count
            peaks = day["peaks"]
            assert peaks["largest_process_mib"] >= max(
                peaks["day_process_mib"], peaks["largest_child_mib"]
            )
            assert peaks["day_process_mib"] > 0
    for day in k2["days"]:
        # the shard tasks' processes (forked from runner's fork server, not this day's
        # children) count in the day's CPU and largest process
        workers = [r for r in day["stages"] if r["in_child"]]
        assert workers
        assert day["end_to_end"]["cpu_s"] >= sum(r["cpu_s"] for r in workers)
        assert day["peaks"]["largest_child_mib"] >= max(r["peak_rss_mib"] for r in workers)
        labels = {r["stage"] for r in day["stages"]}
        assert {"age_loans_shard:0", "age_loans_shard:1", "score_loans_shard:1"} <= labels
        assert all(r["peak_rss_mib"] for r in day["stages"] if "source" not in r)
    assert not any(r["stage"].endswith("_shard:0") for d in k1["days"] for r in d["stages"])
    shipped = PROJECT / "src" / "loanrisk" / "project" / "config" / "execution.yaml"
    assert "\nshards: 1\n" in shipped.read_text()
    copied = bench / "work" / "project-k2" / "config" / "execution.yaml"
    assert "\nshards: 2\n" in copied.read_text()


def test_compare_shards_reports_ratios_side_by_side(bench):
    session = _session(bench)
    (ratio,) = session["ratios"]
    first, second = (s["days"][-1] for s in session["summaries"])
    assert ratio["wall_s"] == pytest.approx(second["wall_s"] / first["wall_s"], rel=1e-2)
    assert ratio["largest_process_mib"] > 0 and ratio["cpu_s_per_million"] > 0
    assert ratio["wall_over_floor"] == pytest.approx(
        second["wall_over_floor"] / first["wall_over_floor"], rel=1e-2
    )
    text = (bench / "RESULTS.md").read_text()
    assert "### Session `compare-shards`: 10,000, 10,000 loans" in text
    assert "| 10,000 | shards: 2 | 2 (2026-03-02) | 2 |" in text
    assert "K = 1 vs K = 8 at 1M loans side by side: not measured" in text
    assert "10M loans, shards: auto" in text and "30M loans completes" in text


def test_a_child_process_measures_its_steps(tmp_path):
    """A Python process started afresh by a benchmark day (as run_day may start shard steps)
    installs the step wrapper once it imports the runner, and records a step it runs (here
    one that fails: its record is still written)."""
    import os
    import subprocess

    from benchmarks import stages

    records = tmp_path / "stages.jsonl"
    code = (
        "import sys, datetime\n"
        "assert 'loanrisk.pipeline.runner' not in sys.modules\n"
        "import loanrisk.pipeline.runner as r\n"
        "try:\n    r.run_step('no_such_step', datetime.date(2026, 3, 1), None)\n"
        "except Exception:\n    pass\n"
    )
    env = dict(os.environ)
    saved = dict(os.environ)
    try:
        stages.export_to_children(records)
        env = dict(os.environ)
    finally:
        os.environ.clear()
        os.environ.update(saved)
    subprocess.run([sys.executable, "-c", code], env=env, check=True)
    (record,) = stages.read(records)
    assert record["stage"] == "no_such_step" and record["pid"] != os.getpid()
    assert record["ended"] >= record["started"] and record["peak_rss_mib"] > 0


def test_steps_outside_any_wrapper_come_from_the_stage_log(tmp_path):
    from benchmarks import stages

    log = tmp_path / "2026-03-01.jsonl"
    lines = [
        {
            "event": "stage",
            "stage": "age_loans_shard",
            "args": ["0"],
            "pid": 7,
            "seconds": 2.0,
            "cpu_seconds": 1.5,
            "at": "2026-03-01T00:00:10.000+00:00",
        },
        {
            "event": "stage",
            "stage": "ingest",
            "args": ["loan_snapshot"],
            "pid": 5,
            "seconds": 1.0,
            "cpu_seconds": 1.0,
            "at": "2026-03-01T00:00:01.000+00:00",
        },
    ]
    log.write_text("".join(json.dumps(line) + "\n" for line in lines))
    measured = [{"stage": "ingest:loan_snapshot", "pid": 5, "started": 0.0, "ended": 1.0}]
    since = lines[1]["at"]
    import datetime as dt

    found = stages.unmeasured(log, measured, dt.datetime.fromisoformat(since).timestamp())
    assert [(r["stage"], r["pid"], r["peak_rss_mib"]) for r in found] == [
        ("age_loans_shard:0", 7, None)
    ]
    assert found[0]["wall_s"] == 2.0 and found[0]["source"] == "stage log"


def test_covered_seconds_counts_parallel_steps_once():
    from benchmarks.stages import covered_seconds

    steps = [(0, 4), (1, 3), (2, 6), (8, 9)]
    records = [{"started": a, "ended": b} for a, b in steps]
    assert covered_seconds(records) == 7
