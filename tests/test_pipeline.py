"""End to end through the CLI on a small synthetic book: outputs, reruns, BI views, errors."""

from __future__ import annotations

import datetime as dt
import json
import shutil
import subprocess
import sys
from decimal import Decimal

import pytest
from conftest import BOOK_DAYS, BOOK_END, BOOK_START, correct_day, outputs

from loanrisk.cli import main
from loanrisk.domain.marts import MATERIALIZED
from loanrisk.lake.storage import Lake, read_json, sha256_file
from loanrisk.lake.warehouse import connect_warehouse

pytestmark = pytest.mark.slow

START, DAYS, END = BOOK_START, BOOK_DAYS, BOOK_END  # the conftest ``book``


def test_every_day_is_published_and_reconciles(book):
    for n in range(DAYS):
        day = (START + dt.timedelta(days=n)).isoformat()
        manifest = json.loads((book / "runs" / day / "manifest.json").read_text())
        assert manifest["status"] == "published"
        assert manifest["rows_in"] == manifest["rows_out"] + manifest["rows_quarantined"]
        assert manifest["input_sha256"] == sha256_file(book / "landing" / f"loans_{day}.csv")
        assert len(manifest["config_hash"]) == 64 and manifest["code_version"]
        for output in manifest["outputs"].values():
            assert sha256_file(book / output["path"]) == output["sha256"]


def test_rerun_gives_identical_bytes(book, config_dir):
    before = outputs(book)
    assert (
        main(["run", "--date", str(START), "--data-root", str(book), "--config", str(config_dir)])
        == 0
    )
    assert outputs(book) == before
    assert not list((book / "lake" / "_tmp").iterdir())


def test_warehouse_is_rebuilt_only_when_its_views_change(book, config_dir):
    """A published day needs no rebuild (views read the lake by glob); a changed view set does."""
    from loanrisk.config import load_settings
    from loanrisk.lake.storage import lake_of
    from loanrisk.lake.warehouse import connect_warehouse, refresh_warehouse

    settings = load_settings(config_dir, book)
    lake, refresh = (
        lake_of(settings),
        lambda: refresh_warehouse(
            lake_of(settings), settings.contracts_dir, settings.classification
        ),
    )
    before = lake.warehouse.stat().st_ino
    refresh()
    assert lake.warehouse.stat().st_ino == before  # same views: the file is left as it is
    lake.warehouse_views.write_text("another view set\n")
    refresh()
    assert lake.warehouse.stat().st_ino != before  # rebuilt, and its digest recorded
    assert lake.warehouse_views.read_text() != "another view set\n"
    with connect_warehouse(lake) as con:
        assert con.execute("SELECT count(*) FROM pipeline_runs").fetchone()[0] == DAYS


def test_a_past_report_rebuilt_later_shows_what_was_known_that_day(book, config_dir):
    """Each report section reads history up to its business date only (``lake/scope.py``):
    day 2's report, rebuilt once days 3 and 4 are published, has the bytes it was built with."""
    day = START + dt.timedelta(days=1)
    report = book / "reports" / str(day) / "risk_report.html"
    first = report.read_bytes()
    args = ["--date", str(day), "--data-root", str(book), "--config", str(config_dir)]
    assert main(["report", *args]) == 0
    assert report.read_bytes() == first


def test_the_reports_run_table_holds_the_days_run_and_every_days_status(book):
    """``scope.snapshot_runs`` reads the day's manifest alone in full, the others' statuses."""
    from loanrisk.lake import scope

    day = START + dt.timedelta(days=2)
    with connect_warehouse(Lake(book, book / "landing")) as con:
        runs = "SELECT * FROM pipeline_runs WHERE snapshot_date = ?"
        statuses = "SELECT snapshot_date, status FROM pipeline_runs ORDER BY 1"
        expected = (con.execute(runs, [day]).fetchall(), con.execute(statuses).fetchall())
        scope.snapshot_runs(con, scope.relations(con), Lake(book, book / "landing"), day)
        got = (con.execute(runs, [day]).fetchall(), con.execute(statuses).fetchall())
    assert got == expected and len(got[1]) == DAYS and got[0][0][2] > 0  # rows_in


def test_bi_views_read_back_from_duckdb(book):
    with connect_warehouse(Lake(book, book / "landing")) as con:
        views = {
            r[0]
            for r in con.execute(
                "SELECT view_name FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        }
        assert {"loan_snapshot", "loan_aging", "pipeline_runs"} <= views
        per_day = con.execute(
            "SELECT a.snapshot_date, count(*) FROM loan_aging a GROUP BY ALL ORDER BY 1"
        ).fetchall()
        raw = con.execute(
            "SELECT snapshot_date, count(*) FROM loan_snapshot GROUP BY ALL ORDER BY 1"
        ).fetchall()
        assert per_day == raw and len(per_day) == DAYS
        balance = con.execute("SELECT sum(outstanding_principal) FROM loan_aging").fetchone()[0]
        assert isinstance(balance, Decimal)
        typed = dict(con.execute("DESCRIBE loan_aging").fetchall()[i][:2] for i in range(3))
        assert typed["snapshot_date"] == "DATE"
        phones, ids, names = zip(
            *con.execute(
                "SELECT mobile_phone, national_id, borrower_name FROM loan_snapshot"
            ).fetchall(),
            strict=True,
        )
        assert all(p[3:7] == "****" and len(p) == 11 for p in phones)
        assert all(i[6:14] == "********" and len(i) == 18 for i in ids)
        assert all(set(n[1:]) == {"*"} for n in names)
        runs = con.execute(
            "SELECT snapshot_date, status, rows_in, rows_valid, rows_quarantined, outstanding_valid"
            " FROM pipeline_runs ORDER BY snapshot_date"
        ).fetchall()
        assert len(runs) == DAYS and {r[1] for r in runs} == {"published"}
        assert runs[0][0] == START and isinstance(runs[0][5], Decimal)
        assert all(r[2] == r[3] + r[4] for r in runs)
        assert con.execute("SELECT count(*) FROM loan_quarantine").fetchone()[0] == 0


CONTRACT_VIEWS = ("loan_aging", "loan_state", "loan_quarantine", "pipeline_runs", "reg_write_offs")


@pytest.mark.parametrize("view", [*CONTRACT_VIEWS, *MATERIALIZED])
def test_published_views_carry_their_contract_columns(book, config_dir, view):
    from loanrisk.quality.contracts import load_contract

    contract = load_contract(config_dir.parent / "data_contracts", view)
    with connect_warehouse(Lake(book, book / "landing")) as con:
        described = {row[0]: row[1] for row in con.execute(f"DESCRIBE {view}").fetchall()}
    assert set(contract.column_names) <= set(described)
    for column in contract.columns:
        if column.physical_type.startswith("decimal"):
            assert described[column.name] == column.physical_type.upper().replace(" ", "")
        if column.physical_type == "date":
            assert described[column.name] == "DATE"


MARTS = ("roll_rates", "roll_rates_monthly", "flow_rates", "portfolio_summary")
MARTS += ("vintage_curves", "cure_rates")


def test_marts_reconcile_with_loan_aging(book):
    with connect_warehouse(Lake(book, book / "landing")) as con:
        for mart in MARTS:
            con.execute(f"SELECT * FROM {mart}").fetchall()  # every mart is a working view
        # every loan of the earlier day goes somewhere; every loan of the later day came from
        # somewhere
        moved = con.execute(
            """
            SELECT r.snapshot_date,
                   sum(loans) FILTER (WHERE from_bucket <> 'NEW'),
                   sum(loans) FILTER (WHERE to_bucket <> 'EXIT'),
                   (SELECT count(*) FROM loan_aging a WHERE a.snapshot_date = r.previous_date),
                   (SELECT count(*) FROM loan_aging a WHERE a.snapshot_date = r.snapshot_date)
            FROM roll_rates r GROUP BY r.snapshot_date, r.previous_date ORDER BY 1
            """
        ).fetchall()
        assert len(moved) == DAYS - 1
        assert all(m[1] == m[3] and m[2] == m[4] for m in moved)
        summary = con.execute(
            """
            SELECT s.loans, s.outstanding, a.loans, a.outstanding
            FROM portfolio_summary s JOIN (
                SELECT snapshot_date, count(*) AS loans, sum(outstanding_principal) AS outstanding
                FROM loan_aging GROUP BY ALL) a USING (snapshot_date)
            WHERE s.product_code = 'ALL' AND s.aging_bucket = 'ALL'
            """
        ).fetchall()
        assert len(summary) == DAYS and all(r[:2] == r[2:] for r in summary)


def test_buckets_and_classes_are_consistent_in_published_table(book):
    with connect_warehouse(Lake(book, book / "landing")) as con:
        broken = con.execute(
            """
            SELECT count(*) FROM loan_aging
            WHERE (account_status = 'ACTIVE' AND dpd = 0 AND aging_bucket <> 'M0')
               OR (account_status = 'ACTIVE' AND dpd > 180 AND aging_bucket <> 'M7')
               OR (account_status = 'WRITTEN_OFF' AND aging_bucket <> 'WO')
               OR (account_status = 'WRITTEN_OFF' AND five_category <> 'LOSS')
               OR (account_status = 'CLOSED' AND five_category IS NOT NULL)
               OR (is_npl <> (five_category IN ('SUBSTANDARD', 'DOUBTFUL', 'LOSS')))
               OR overdue_amount <> overdue_principal + overdue_interest + overdue_fees
            """
        ).fetchone()[0]
        assert broken == 0


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "loanrisk.cli", *args], capture_output=True, text=True, check=False
    )


def test_bad_date_is_one_line_usage_error():
    done = cli("run", "--date", "2026-13-01")
    assert done.returncode == 2
    assert "bad date '2026-13-01'" in done.stderr and "Traceback" not in done.stderr


def test_missing_file_is_one_line_naming_the_file(tmp_path, config_dir):
    (tmp_path / "landing").mkdir()  # without it the run stops earlier: LANDING_FOLDER_MISSING
    done = cli(
        "run", "--date", "2026-01-01", "--data-root", str(tmp_path), "--config", str(config_dir)
    )
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "loans_2026-01-01.csv: gate FILE_MISSING failed: file not found" in done.stderr


def test_bad_config_is_one_line_naming_the_key(tmp_path, config_dir):
    shutil.copytree(config_dir, tmp_path / "config")
    shutil.copytree(config_dir.parent / "data_contracts", tmp_path / "data_contracts")
    path = tmp_path / "config" / "classification.yaml"
    path.write_text(path.read_text().replace('materiality_amount: "0.00"', "materiality_amount: x"))
    done = cli("run", "--date", "2026-01-01", "--config", str(tmp_path / "config"))
    assert done.returncode == 1
    assert done.stderr.strip().count("\n") == 0
    assert "materiality_amount" in done.stderr and "[CONFIG_INVALID]" in done.stderr


def test_rerunning_a_corrected_earlier_day_recomputes_the_days_after_it(book, tmp_path, config_dir):

    root = tmp_path / "data"
    shutil.copytree(book, root)
    fixed = START + dt.timedelta(days=1)
    loan = correct_day(root / "landing", fixed)
    later = START + dt.timedelta(days=2)
    before = json.loads((root / "runs" / str(later) / "manifest.json").read_text())
    report = root / "reports" / str(later) / "risk_report.html"
    report.unlink()
    report.write_text("stale")
    args = ["--data-root", str(root), "--config", str(config_dir)]
    assert main(["run", "--date", str(fixed), *args]) == 0
    after = json.loads((root / "runs" / str(later) / "manifest.json").read_text())
    aging = after["outputs"]["curated/loan_aging"]
    assert aging["sha256"] != before["outputs"]["curated/loan_aging"]["sha256"]
    assert aging["sha256"] == sha256_file(root / aging["path"])
    with connect_warehouse(Lake(root, root / "landing")) as con:
        max_dpd = con.execute(
            "SELECT max_dpd_12m FROM loan_aging WHERE loan_id = ? AND snapshot_date = ?",
            [loan, later],
        ).fetchone()[0]
    assert max_dpd >= 20  # the corrected day's delinquency reached the later day
    assert str(later) in report.read_text()  # the later day's report was rebuilt


def test_loan_risk_scores_every_active_loan_and_carries_the_first_pd(book):
    with connect_warehouse(Lake(book, book / "landing")) as con:
        missing = con.execute(
            """
            SELECT count(*) FROM loan_aging a ANTI JOIN loan_risk r USING (snapshot_date, loan_id)
            """
        ).fetchone()[0]
        assert missing == 0
        unscored = con.execute(
            "SELECT count(*) FROM loan_risk WHERE account_status = 'ACTIVE' AND "
            "(score IS NULL OR pd_12m NOT BETWEEN 0 AND 1 OR ecl IS NULL OR ecl < 0)"
        ).fetchone()[0]
        assert unscored == 0
        # a loan's first recorded PD is its PD on the first day it was scored
        drift = con.execute(
            """
            SELECT count(*) FROM loan_risk r JOIN (
                SELECT loan_id, arg_min(pd_12m, snapshot_date) AS first_pd FROM loan_risk
                WHERE pd_12m IS NOT NULL GROUP BY loan_id) f USING (loan_id)
            WHERE r.first_pd_12m IS DISTINCT FROM f.first_pd AND r.pd_12m IS NOT NULL
            """
        ).fetchone()[0]
        assert drift == 0
        staged = con.execute(
            "SELECT count(*) FROM loan_risk WHERE ecl_stage < ifrs9_stage"
        ).fetchone()[0]
        assert staged == 0
        tiers = con.execute(
            "SELECT count(DISTINCT borrower_id) FROM risk_actions WHERE action = 'PRICING_TIER' "
            "AND snapshot_date = ?",
            [END],
        ).fetchone()[0]
        borrowers = con.execute(
            "SELECT count(DISTINCT borrower_id) FROM loan_aging WHERE snapshot_date = ? "
            "AND account_status = 'ACTIVE'",
            [END],
        ).fetchone()[0]
        assert tiers == borrowers
    folder = book / "extracts" / "risk_actions" / str(END)
    extract = folder / "risk_actions.csv"
    assert extract.stat().st_mode & 0o777 == 0o600
    assert extract.read_text().splitlines()[0].startswith("snapshot_date,borrower_id,action")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {f["path"]: f["sha256"] for f in manifest["files"]} == {
        f"extracts/risk_actions/{END}/{name}": sha256_file(folder / name)
        for name in ("risk_actions.csv", "risk_actions.parquet")
    }
    assert manifest["control_totals"]["rows"] == len(extract.read_text().splitlines()) - 1


def test_fit_scorecard_without_enough_history_is_one_line(book, config_dir):
    done = cli(
        "fit-scorecard",
        "--from",
        str(START),
        "--to",
        str(END),
        "--data-root",
        str(book),
        "--config",
        str(config_dir),
    )
    assert done.returncode != 0
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_extracts_reconcile_to_the_published_tables(book):
    with connect_warehouse(Lake(book, book / "landing")) as con:
        five = con.execute(
            """
            SELECT f.loans, f.outstanding, a.loans, a.outstanding FROM (
                SELECT snapshot_date, sum(loans) AS loans,
                       sum(outstanding_principal) AS outstanding
                FROM reg_five_category WHERE product_code <> 'ALL' GROUP BY ALL) f
            JOIN (SELECT snapshot_date, count(*) AS loans,
                         sum(outstanding_principal) AS outstanding
                  FROM loan_aging WHERE account_status = 'ACTIVE' GROUP BY ALL) a
            USING (snapshot_date)
            """
        ).fetchall()
        assert len(five) == DAYS and all(r[:2] == r[2:] for r in five)
        ecl = con.execute(
            "SELECT (SELECT sum(ecl) FROM reg_ifrs9_ecl WHERE product_code <> 'ALL'),"
            " (SELECT sum(ecl) FROM loan_risk WHERE account_status = 'ACTIVE')"
        ).fetchone()
        assert ecl[0] == ecl[1]
        # every overdue yuan of a delinquent borrower is queued or suppressed, never lost
        listed, owed = con.execute(
            """
            SELECT
              (SELECT sum(borrower_overdue) FROM collections_queue WHERE snapshot_date = $1)
              + (SELECT coalesce(sum(borrower_overdue), 0) FROM collections_suppressed
                 WHERE snapshot_date = $1),
              (SELECT sum(overdue_amount) FROM loan_aging WHERE snapshot_date = $1
                 AND account_status = 'ACTIVE' AND borrower_id IN (
                   SELECT borrower_id FROM loan_aging WHERE snapshot_date = $1
                     AND account_status = 'ACTIVE' GROUP BY ALL HAVING max(dpd) >= 1))
            """,
            [END],
        ).fetchone()
        assert listed == owed and listed > 0
    folder = book / "extracts" / "collections" / str(END)
    manifest = json.loads((folder / "manifest.json").read_text())
    for entry in manifest["files"]:
        assert sha256_file(book / entry["path"]) == entry["sha256"]
        assert (book / entry["path"]).stat().st_mode & 0o777 == 0o600
    header = (folder / "SMS.csv").read_text().splitlines()[0]
    assert "national_id" not in header and "mobile_phone" in header


def test_reprocess_ends_as_if_the_corrected_file_had_arrived_on_time(book, tmp_path, config_dir):
    fixed = START + dt.timedelta(days=1)
    late, on_time = tmp_path / "late" / "data", tmp_path / "on_time" / "data"
    shutil.copytree(book, late)
    shutil.copytree(book / "landing", on_time / "landing")
    for root in (late, on_time):
        correct_day(root / "landing", fixed)
    on_time_args = ["--data-root", str(on_time), "--config", str(config_dir)]
    assert main(["backfill", "--start", str(START), "--end", str(END), *on_time_args]) == 0
    late_args = ["--data-root", str(late), "--config", str(config_dir)]
    assert main(["reprocess", "--date", str(fixed), *late_args]) == 0
    manifests = {f"runs/{d}/manifest.json" for d in (START, fixed, END)}
    assert {k: v for k, v in outputs(late).items() if k.startswith("runs/") is False} == {
        k: v for k, v in outputs(on_time).items() if k.startswith("runs/") is False
    }
    for name in sorted(manifests):
        restated, clean = read_json(late / name), read_json(on_time / name)
        history = restated.pop("restatements", [])
        assert restated == clean, name  # the same day, and a trace of the version it replaced
        assert bool(history) == (name != f"runs/{START}/manifest.json"), name


def test_a_copied_data_root_reads_its_own_lake(book, tmp_path):
    """Fault 17 of issue 22 (issue 23 point 6): the views name the lake relative to the
    data_root, so a copy (a restore, another mount) opened with ``file_search_path`` at the copy
    reads the copy's files, never the original's; the warehouse holds no absolute path."""
    copy = tmp_path / "restored"
    shutil.copytree(book, copy, symlinks=True)
    first = copy / "lake" / "curated" / "loan_aging" / f"snapshot_date={BOOK_START}"
    shutil.rmtree(first)
    count = "SELECT count(*) FROM loan_aging"
    with connect_warehouse(Lake(book, book / "landing")) as con:
        original = con.execute(count).fetchone()[0]
        first_day = con.execute(f"{count} WHERE snapshot_date = ?", [BOOK_START]).fetchone()[0]
    with connect_warehouse(Lake(copy, copy / "landing")) as con:
        assert con.execute(count).fetchone()[0] == original - first_day > 0
    assert str(book).encode() not in (copy / "warehouse.duckdb").read_bytes()
