"""Smoke run of the benchmark harness (benchmarks/) at a small size, so it never rots: the
two-day run, the floor, the baselines' equality with the pipeline, the backfill mode and the
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
