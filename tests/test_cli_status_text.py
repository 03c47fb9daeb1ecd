"""``loanrisk status`` prints the recorded reasons as text: a reason holds what a feed, a
control file or an operator wrote (a failure message, a gate's accepted reason), which the
table must show as written, never read as console markup (a link, a style)."""

from __future__ import annotations

import datetime as dt

from loanrisk.cli import main
from loanrisk.lake.storage import Lake, write_json_atomic

DAY = dt.date(2026, 6, 1)
REASON = "loans_2026-06-01.csv: control file describes another file ('[link=http://x]y[/link]')"


def test_status_shows_a_reason_with_markup_as_written(tmp_path, config_dir, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "300")  # one line per day: the reason is not wrapped
    root = tmp_path / "data"
    lake = Lake(root, root / "landing")
    failed = {"status": "failed", "failure": {"gate": "FILE_INCOMPLETE", "message": REASON}}
    write_json_atomic(failed, lake.run_manifest(DAY))
    assert main(["status", "--data-root", str(root), "--config", str(config_dir)]) == 0
    assert REASON in capsys.readouterr().out
