"""An error's text that leaves the process (an alert line, a published manifest's
``after_publishing``, a rerun's journal) never carries a feed's value: a library's message can
quote the values that failed (a Polars cast error lists them), so only our own errors are
written whole (DESIGN.md §5b)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from loanrisk.errors import InputFileError, one_line

NATIONAL_ID, PHONE = "11010519491231002X", "13812345678"
LEAKY = [
    ValueError(
        f"conversion from `str` to `date` failed in column 'national_id' for 1 out of 2 "
        f'values: ["{NATIONAL_ID}"]\n\nYou might want to try ...'
    ),
    RuntimeError(f"bad row `{PHONE}` in 'mobile_phone'"),
    KeyError(NATIONAL_ID),
]


@pytest.mark.parametrize("exc", LEAKY, ids=lambda e: type(e).__name__)
def test_a_librarys_message_loses_its_quoted_values(exc):
    text = one_line(exc)
    assert NATIONAL_ID not in text and PHONE not in text
    assert text.startswith(type(exc).__name__) and "\n" not in text


def test_our_own_errors_and_plain_messages_are_kept_whole():
    assert one_line(InputFileError("runs/x.json: missing")) == "[INPUT_FILE] runs/x.json: missing"
    assert one_line(ValueError("no previous day")) == "ValueError: no previous day"
    assert one_line(OSError(28, "No space left on device")) == (
        "OSError: [Errno 28] No space left on device"
    )


def test_alerts_and_after_publishing_records_carry_no_feed_value(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from loanrisk.airflow.alerts import on_task_failure
    from loanrisk.lake.runs import record_after_publishing
    from loanrisk.lake.storage import Lake, read_json, write_json_atomic
    from loanrisk.pipeline import runner

    lake = Lake(tmp_path, tmp_path / "landing")
    day = dt.date(2026, 5, 2)
    write_json_atomic({"status": "published"}, lake.run_manifest(day))
    runner._record_after_publishing(lake, day, "build_report", LEAKY[0])
    assert NATIONAL_ID not in json.dumps(read_json(lake.run_manifest(day)))
    monkeypatch.setattr(
        "loanrisk.airflow.alerts.settings_of",
        lambda params: SimpleNamespace(data_root=tmp_path, landing_dir=tmp_path / "landing"),
    )
    ti = SimpleNamespace(task_id="score_loans", dag_id="loan_daily", run_id="r1", try_number=1)
    on_task_failure({"ti": ti, "ds": str(day), "params": {}, "exception": LEAKY[1]})
    assert PHONE not in lake.alerts_file(day).read_text()
    assert record_after_publishing  # the manifest writer the runner calls


def test_the_cli_names_an_internal_error_without_its_values(monkeypatch, capsys):
    import sys

    from loanrisk.cli import main

    def leaky(args):
        raise LEAKY[0]

    monkeypatch.setattr(sys.modules["loanrisk.cli.main"], "cmd_status", leaky)
    assert main(["status"]) == 1
    err = capsys.readouterr().err
    assert "internal error: ValueError" in err and NATIONAL_ID not in err
