"""The typed errors (``loanrisk.errors``): every class there, one per stable code, each keeping
the values that caused it, its message built from them, and the failed-day manifest written
from the error itself."""

from __future__ import annotations

import ast
import datetime as dt
import json
import pickle
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import polars as pl
import pytest

import loanrisk
from loanrisk import errors
from loanrisk.domain.feeds import FEEDS, LOANS
from loanrisk.errors import (
    AirflowRunError,
    GateError,
    HistoryGapError,
    LandingFileError,
    LoanriskError,
    ReconciliationError,
    RunLockedError,
    ShardError,
    StaleLockError,
    UsageError,
    ValidationMismatchError,
)
from loanrisk.lake import records
from loanrisk.lake.runs import fail_day, write_run_manifest
from loanrisk.lake.storage import lake_of, read_json
from loanrisk.pipeline.collections_stage import reconcile
from loanrisk.pipeline.reconciled import check_totals

DAY = dt.date(2026, 5, 2)
PACKAGE = Path(loanrisk.__file__).parent


def _subclasses(cls: type) -> list[type]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


def test_every_error_class_of_the_package_is_defined_in_loanrisk_errors():
    """No module but errors.py defines an exception class (a second ReconciliationError in a
    stage module is not caught by an ``except`` of the first)."""
    elsewhere = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == PACKAGE / "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
                if any(b.endswith(("Error", "Exception")) for b in bases):
                    elsewhere.append(f"{path.relative_to(PACKAGE)}: {node.name}")
    assert elsewhere == []
    assert {c.__module__ for c in _subclasses(LoanriskError)} == {"loanrisk.errors"}


def test_codes_are_unique_and_every_class_says_when_it_is_raised():
    classes = [LoanriskError, *_subclasses(LoanriskError)]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), codes
    assert all(c.__doc__ and c.__doc__.strip() for c in classes)
    assert LandingFileError in classes  # a landing file problem is a LoanriskError too


#: One error of each class with values, its exact message (tests, logs and failed manifests
#: compare it) and the values it keeps.
EXAMPLES = [
    (
        GateError("QUARANTINE_SHARE", "loans_2026-05-02.csv", "8 of 10 rows quarantined"),
        "loans_2026-05-02.csv: gate QUARANTINE_SHARE failed: 8 of 10 rows quarantined"
        " (to publish anyway: --accept-gate QUARANTINE_SHARE --reason '...')",
        {"gate": "QUARANTINE_SHARE", "file_name": "loans_2026-05-02.csv"},
    ),
    (
        GateError("FILE_EMPTY", "loans_2026-05-02.csv", "file is empty (0 bytes)"),
        "loans_2026-05-02.csv: gate FILE_EMPTY failed: file is empty (0 bytes)",
        {"gate": "FILE_EMPTY", "detail": "file is empty (0 bytes)"},
    ),
    (
        LandingFileError("FILE_EMPTY", "loans_2026-05-02.csv", "file is empty (0 bytes)"),
        "loans_2026-05-02.csv: file is empty (0 bytes)",
        {"gate": "FILE_EMPTY", "file_name": "loans_2026-05-02.csv"},
    ),
    (
        ValidationMismatchError("loans_2026-05-02.csv", ["dpd_range:loan_id"]),
        "loans_2026-05-02.csv: GX and quarantine counts differ on ['dpd_range:loan_id']",
        {"rules": ["dpd_range:loan_id"]},
    ),
    (
        ReconciliationError("reg_x", "loans", 3, 4),
        "reg_x: loans 3 does not reconcile to the source's 4",
        {"report": "reg_x", "name": "loans", "got": 3, "expected": 4},
    ),
    (
        ReconciliationError.rows("loans_2026-05-02.csv", 10, 8, 1),
        "loans_2026-05-02.csv: rows_in 10 != rows_valid 8 + rows_quarantined 1; not published",
        {"got": 10, "expected": {"rows_valid": 8, "rows_quarantined": 1}},
    ),
    (
        HistoryGapError("curated/loan_state/snapshot_date=2026-05-01", DAY, dt.date(2026, 4, 28)),
        "curated/loan_state/snapshot_date=2026-05-01: missing, the latest stored loan_state "
        "before 2026-05-02 is 2026-04-28; run the days between first (loanrisk backfill "
        "--start 2026-04-29 --end 2026-05-02) or accept the gap with --allow-gap",
        {"day": DAY, "previous_day": dt.date(2026, 4, 28)},
    ),
    (
        ShardError("shards/loan_aging/snapshot_date=2026-05-02", ["shard=1-of-2 missing"]),
        "shards/loan_aging/snapshot_date=2026-05-02: shard=1-of-2 missing; "
        "rerun the shard tasks of the day, then the combine step",
        {"problems": ["shard=1-of-2 missing"]},
    ),
    (
        ShardError.no_such_shard(2, 2),
        "shard 2 does not exist: shards are 0 .. 1",
        {"number": 2, "count": 2},
    ),
    (
        RunLockedError(Path("/d/.loanrisk-run.lock"), None, 0.3),
        "/d: another run holds the run lock after waiting 0.3s: another process (details not "
        "written yet); wait for it to finish (lock file /d/.loanrisk-run.lock)",
        {"holder": None, "waited": 0.3},
    ),
    (
        StaleLockError(
            Path("/d/.loanrisk-run.lock"),
            {"pid": 7, "host": "h", "business_date": "2026-05-02", "purpose": "run", "since": "s"},
            "not running",
        ),
        "stale run lock left by pid 7 on h (not running; run 2026-05-02) since s; that run died "
        "mid-way: check it, then remove /d/.loanrisk-run.lock or rerun with --break-stale-lock",
        {"state": "not running"},
    ),
    (
        AirflowRunError("airflow db migrate", "exit code 1"),
        "airflow db migrate failed: exit code 1",
        {"what": "airflow db migrate", "reason": "exit code 1"},
    ),
]


@pytest.mark.parametrize("error, message, values", EXAMPLES, ids=lambda x: type(x).__name__)
def test_each_error_keeps_its_values_and_builds_its_message_from_them(error, message, values):
    assert str(error) == f"[{error.code}] {message}"
    assert error.message == message
    for name, value in values.items():
        assert getattr(error, name) == value
    details = error.details()
    assert json.loads(json.dumps(details)) == details  # JSON-safe as it is
    assert {n: errors._json_safe(v) for n, v in values.items()}.items() <= details.items()
    again = pickle.loads(pickle.dumps(error))  # e.g. across a process boundary
    assert (type(again), str(again), again.details()) == (type(error), str(error), details)


def test_details_are_json_safe():
    error = ReconciliationError("reg_x", "balance", Decimal("1.00"), (Path("a"), DAY))
    assert error.details() == {
        "report": "reg_x",
        "name": "balance",
        "got": "1.00",
        "expected": ["a", "2026-05-02"],
    }
    assert UsageError("no such table").details() == {}


# --- one ReconciliationError, whichever step does not reconcile ---------------------------------


def test_a_regulatory_total_that_does_not_reconcile():
    with pytest.raises(ReconciliationError) as caught:
        check_totals("reg_x", {"loans": 3}, {"loans": 4})
    assert caught.value.details() == {"report": "reg_x", "name": "loans", "got": 3, "expected": 4}


def test_collections_that_do_not_reconcile_to_loan_aging():
    dpd = 1
    policy = SimpleNamespace(rules=SimpleNamespace(queue_min_dpd=dpd))  # all reconcile reads
    aging = pl.DataFrame(
        {
            "borrower_id": ["B1", "B2"],
            "account_status": ["ACTIVE", "ACTIVE"],
            "dpd": [dpd, dpd],
            "overdue_amount": [Decimal("10.00"), Decimal("5.00")],
        }
    )
    listed = pl.DataFrame({"loans": [1], "borrower_overdue": [Decimal("10.00")]})
    with pytest.raises(ReconciliationError, match="collections do not reconcile") as caught:
        reconcile(aging, listed, policy)
    assert caught.value.got == {"listed_loans": 1, "listed_overdue": "10.00", "listed_borrowers": 1}
    assert caught.value.expected == {"source_loans": 2, "source_overdue": "15.00"}


def test_a_loan_feed_whose_rows_do_not_add_up_is_not_published(settings):
    lake = lake_of(settings)
    for feed in FEEDS:
        ingested = records.Ingested(status="staged", input={"file": f"{feed}.csv"}, rows_in=10)
        records.write_record(lake, DAY, f"ingest_{feed}", ingested)
        validated = records.Validated(
            status="validated", warnings={}, rows_in=10, rows_valid=8, rows_quarantined=1
        )
        records.write_record(lake, DAY, f"validate_{feed}", validated)
    with pytest.raises(ReconciliationError, match="rows_in 10 != rows_valid 8") as caught:
        write_run_manifest(DAY, settings)
    assert caught.value.report == f"{LOANS}.csv"
    assert not lake.run_manifest(DAY).exists()


# --- the failed-day manifest ------------------------------------------------------------------


@pytest.mark.parametrize(
    "error, gate, file",
    [
        (GateError("FILE_MISSING", "loans.csv", "file not found"), "FILE_MISSING", "loans.csv"),
        (ValidationMismatchError("loans.csv", ["x"]), "GX_MISMATCH", None),
        (ReconciliationError("reg_x", "loans", 3, 4), "RECONCILIATION", None),
    ],
)
def test_fail_day_records_what_stopped_the_day_from_the_error(settings, error, gate, file):
    """A batch gate is recorded by its gate and the file it judged; any other error by its
    code, with no file (a GX mismatch names its file in the message only)."""
    lake = lake_of(settings)
    fail_day(lake, DAY, settings, error)
    manifest = read_json(lake.run_manifest(DAY))
    assert manifest["status"] == "failed"
    assert manifest["failure"] == {"gate": gate, "file": file, "message": str(error)}
