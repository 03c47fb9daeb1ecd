"""``loanrisk status`` and the per-stage JSON log, on a small data_root."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pytest

from loanrisk.cli import main
from loanrisk.lake.status import day_statuses
from loanrisk.lake.storage import lake_of

pytestmark = pytest.mark.slow

START = dt.date(2026, 6, 1)


def test_status_lists_published_gated_not_run_and_missing_days(settings, config_dir, capsys):
    from loanrisk.synth import generate

    generate(START, 5, 120, 3, settings.landing_dir, config_dir)
    lake = lake_of(settings)
    args = ["--data-root", str(settings.data_root), "--config", str(config_dir)]
    assert main(["run", "--date", str(START), *args]) == 0
    # day 2 arrives as a header-only file: the day is gated
    day2 = settings.landing_dir / f"loans_{START + dt.timedelta(days=1)}.csv"
    day2.write_text(day2.read_text().splitlines()[0] + "\n")
    assert main(["run", "--date", str(START + dt.timedelta(days=1)), *args]) != 0
    # day 4 never landed; days 3 and 5 landed but were not run
    (settings.landing_dir / f"loans_{START + dt.timedelta(days=3)}.csv").unlink()
    statuses = {d["date"]: (d["status"], d["reason"]) for d in day_statuses(lake)}
    assert [s for s, _ in statuses.values()] == [
        "published",
        "gated",
        "not run",
        "missing",
        "not run",
    ]
    assert statuses[str(START)][1].endswith("loans, 0 quarantined")
    assert "FILE_EMPTY" in statuses[str(START + dt.timedelta(days=1))][1]
    capsys.readouterr()
    assert main(["status", "--json", *args]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed == day_statuses(lake)

    log = [json.loads(line) for line in lake.stage_log(START).read_text().splitlines()]
    stages = [line["stage"] for line in log]
    assert stages[:2] == ["ingest", "ingest"] and "build_report" in stages
    assert all(line["status"] == "ok" and line["seconds"] >= 0 for line in log)
    day2_log = lake.stage_log(START + dt.timedelta(days=1)).read_text().splitlines()
    failed = [json.loads(line) for line in day2_log]
    assert failed[0]["status"] == "failed" and failed[0]["error_code"] == "GATE"
    shutil.rmtree(settings.data_root / "logs")  # logs are not outputs: nothing else needs them
    assert day_statuses(lake) == printed
