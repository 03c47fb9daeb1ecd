"""``loanrisk validate FILE``: one landing file checked against its contract, nothing written.

Files are the landing corpus (conftest: two synthetic days of 300 loans) copied and edited here;
the policy is the project config's copy (``config_dir``): at most 1% of rows quarantined, 20%
day-over-day change.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path

import polars as pl
import pytest
from conftest import CORPUS_DAY, CORPUS_FILE, CORPUS_LOANS

from loanrisk.cli import main
from loanrisk.cli.main import build_parser
from loanrisk.lake.storage import sha256_file

NEXT_DAY = CORPUS_DAY + dt.timedelta(days=1)
NEXT_FILE = f"loans_{NEXT_DAY}.csv"


def validate(capsys, config_dir: Path, *args: str) -> tuple[int, str, str]:
    code = main(["validate", *args, "--config", str(config_dir)])
    out, err = capsys.readouterr()
    return code, out, err


def tree(root: Path) -> dict[str, tuple[int, int, int]]:
    """Every path under ``root`` with its size, mtime and mode: what "writes nothing" compares."""
    return {
        p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns, p.stat().st_mode)
        for p in sorted(root.rglob("*"))
    }


def edited(source: pl.DataFrame, folder: Path, rows: int, **values: str) -> Path:
    """The corpus's first day with the first ``rows`` rows' ``values`` replaced."""
    first = pl.int_range(pl.len()) < rows
    frame = source.with_columns(
        pl.when(first).then(pl.lit(v)).otherwise(pl.col(c)).alias(c) for c, v in values.items()
    )
    folder.mkdir(exist_ok=True)
    frame.write_csv(folder / CORPUS_FILE)
    return folder / CORPUS_FILE


def test_a_clean_file_passes_with_its_counts_and_no_data_root_is_made(
    capsys, config_dir, corpus_landing
):
    default_root = config_dir.parent / "data"  # config's data_root (relative to the project)
    before = tree(corpus_landing)
    code, out, err = validate(capsys, config_dir, str(corpus_landing / CORPUS_FILE))
    assert (code, err) == (0, "")
    assert f"rows: {CORPUS_LOANS} in, {CORPUS_LOANS} valid, 0 quarantined" in out
    assert "quarantine reasons: none" in out
    assert "QUARANTINE_SHARE: passed" in out
    assert out.rstrip().endswith("result: the day would go on")
    assert not default_root.exists()
    assert tree(corpus_landing) == before  # nothing written beside the file either


def test_bad_rows_are_counted_by_reason_code(capsys, config_dir, corpus_source, tmp_path):
    path = edited(corpus_source, tmp_path / "landing", 2, principal_amount="-5.00")
    path = edited(pl.read_csv(path, infer_schema=False), tmp_path / "landing", 1, currency="cny")
    code, out, err = validate(capsys, config_dir, str(path))
    assert (code, err) == (0, "")
    assert f"{CORPUS_LOANS} in, {CORPUS_LOANS - 2} valid, 2 quarantined" in out
    reasons = out.split("quarantine reasons:")[1].split("warnings:")[0]
    assert [line.split() for line in reasons.strip().splitlines()] == [
        ["PATTERN_MISMATCH:currency", "1"],
        ["RANGE_BREACH:principal_amount", "2"],
    ]
    assert "cny" not in out and "-5.00" not in out  # counts only, never a value of the file


def test_a_file_over_the_quarantine_share_exits_non_zero(
    capsys, config_dir, corpus_source, tmp_path
):
    path = edited(corpus_source, tmp_path / "landing", 10, loan_id="")
    code, out, err = validate(capsys, config_dir, str(path))
    assert code == 1
    assert "quarantine reasons:" in out and "10 quarantined" in out
    assert "QUARANTINE_SHARE: failed" in out
    assert err.count("\n") == 1
    assert f"{CORPUS_FILE}: gate QUARANTINE_SHARE failed" in err


@pytest.mark.parametrize(
    ("content", "gate"),
    [
        (b"snapshot_date,loan_id\n2026-03-01,L1\n", "COLUMN_MISSING"),
        (b"", "FILE_EMPTY"),
        (b"snapshot_date,loan_id\n\xff\xfe,L1\n", "FILE_UNREADABLE"),
    ],
)
def test_a_broken_file_prints_one_line_naming_the_file_and_the_gate(
    capsys, config_dir, tmp_path, content, gate
):
    path = tmp_path / CORPUS_FILE
    path.write_bytes(content)
    code, out, err = validate(capsys, config_dir, str(path))
    assert (code, out) == (1, "")
    assert err.count("\n") == 1
    assert err.startswith(f"loanrisk: error: [GATE] {CORPUS_FILE}: gate {gate} failed")


def test_a_control_file_that_disagrees_stops_it(capsys, config_dir, corpus_landing, tmp_path):
    """The lending core's ``.done`` file beside the data file is checked as ingest checks it."""
    path = tmp_path / CORPUS_FILE
    shutil.copy(corpus_landing / CORPUS_FILE, path)
    done = {"file": CORPUS_FILE, "rows": CORPUS_LOANS + 1, "sha256": sha256_file(path)}
    path.with_suffix(".done").write_text(json.dumps(done), encoding="utf-8")
    code, out, err = validate(capsys, config_dir, str(path))
    assert (code, out) == (1, "")
    assert err.startswith(f"loanrisk: error: [GATE] {CORPUS_FILE}: gate FILE_INCOMPLETE failed")


def test_a_name_that_matches_no_feed_is_a_usage_error(capsys, config_dir, corpus_landing, tmp_path):
    path = tmp_path / "extract.csv"
    shutil.copy(corpus_landing / CORPUS_FILE, path)
    code, _, err = validate(capsys, config_dir, str(path))
    assert code == 2 and "give --feed and --date" in err
    code, out, _ = validate(
        capsys, config_dir, str(path), "--feed", "loan_snapshot", "--date", str(CORPUS_DAY)
    )
    assert code == 0 and f"business date {CORPUS_DAY}" in out


def test_every_option_has_help_and_the_command_an_example(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    command = sub.choices["validate"]
    for action in command._actions:
        assert action.help, action.dest
    with pytest.raises(SystemExit) as done:
        parser.parse_args(["validate", "--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "examples:" in text and "loanrisk validate landing/loans_" in text


@pytest.mark.slow
def test_day_over_day_gates_against_a_data_root_that_stays_untouched(
    capsys, config_dir, corpus_landing, tmp_path
):
    root = tmp_path / "data"
    (root / "landing").mkdir(parents=True)
    shutil.copy(corpus_landing / CORPUS_FILE, root / "landing" / CORPUS_FILE)
    run = ["run", "--date", str(CORPUS_DAY), "--data-root", str(root), "--config", str(config_dir)]
    assert main(run) == 0
    capsys.readouterr()
    before = tree(root)

    next_day = str(corpus_landing / NEXT_FILE)
    code, out, err = validate(capsys, config_dir, next_day, "--data-root", str(root))
    assert (code, err) == (0, "")
    assert "ROW_COUNT_CHANGE: passed" in out and "OUTSTANDING_CHANGE: passed" in out
    assert "not judged" not in out

    half = pl.read_csv(corpus_landing / NEXT_FILE, infer_schema=False).head(CORPUS_LOANS // 2)
    (tmp_path / "sent").mkdir()
    half.write_csv(tmp_path / "sent" / NEXT_FILE)
    code, out, err = validate(
        capsys, config_dir, str(tmp_path / "sent" / NEXT_FILE), "--data-root", str(root)
    )
    assert code == 1 and "ROW_COUNT_CHANGE: failed" in out
    assert f"{NEXT_FILE}: gate ROW_COUNT_CHANGE failed" in err
    assert tree(root) == before


def test_an_empty_optional_feed_is_absent_as_the_day_treats_it(capsys, config_dir, tmp_path):
    """A 0-byte events file: the day goes on without it (FEED_MISSING warning), so the check
    exits 0 saying so; a 0-byte loans file is still the FILE_EMPTY gate."""
    events, loans = tmp_path / f"events_{CORPUS_DAY}.csv", tmp_path / f"loans_{CORPUS_DAY}.csv"
    events.write_bytes(b"")
    loans.write_bytes(b"")
    code, out, err = validate(capsys, config_dir, str(events))
    assert (code, err) == (0, "")
    assert "FEED_MISSING:events" in out and "result: the day would go on" in out
    code, _, err = validate(capsys, config_dir, str(loans))
    assert code == 1 and "FILE_EMPTY" in err
