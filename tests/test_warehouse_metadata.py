"""BI metadata (issue 23, point 6): every view and column of ``warehouse.duckdb`` carries its
contract's description as a DuckDB comment, masked personal columns say so, quotes are escaped,
and the comments are part of the statements the warehouse is rebuilt from (their digest).

The warehouse is a real one: two days of 80 loans backfilled through the CLI, which creates
every kind of view (run records, raw, curated, quarantine, computed and stored marts)."""

from __future__ import annotations

import datetime as dt
import shutil

import duckdb
import pytest
import yaml
from conftest import CONTRACTS, backfilled_book

from loanrisk.config import load_settings
from loanrisk.domain.marts import MATERIALIZED, mart_views
from loanrisk.errors import ConfigError
from loanrisk.lake.storage import CURATED_TABLES, lake_of
from loanrisk.lake.warehouse import connect_warehouse, refresh_warehouse, view_statements
from loanrisk.lake.warehouse_comments import MART_VIEWS_DIR, comment_statements
from loanrisk.quality.contracts import load_contract

START = dt.date(2026, 5, 30)
MASKED = "PII: masked in this view"


@pytest.fixture(scope="module")
def settings(tmp_path_factory, config_dir):
    root = backfilled_book(tmp_path_factory.mktemp("metadata"), config_dir, START, 2, 80, 11)
    return load_settings(config_dir, root)


@pytest.fixture(scope="module")
def comments(settings):
    """{view: (view comment, {column: comment})} of the book's warehouse, as a BI tool reads it."""
    with connect_warehouse(lake_of(settings)) as con:
        views = dict(
            con.execute(
                "SELECT view_name, comment FROM duckdb_views() WHERE NOT internal"
            ).fetchall()
        )
        columns = con.execute(
            "SELECT table_name, column_name, comment FROM duckdb_columns() WHERE NOT internal"
        ).fetchall()
    return {
        view: (comment, {c: text for v, c, text in columns if v == view})
        for view, comment in views.items()
    }


def test_every_view_and_column_has_a_comment(comments, settings):
    """Lists what exists and fails on any view or column without a comment: a new table or
    column cannot ship undocumented."""
    expected = {
        "pipeline_runs",
        "loan_snapshot",
        "loan_quarantine",
        "reg_credit_report",
        *CURATED_TABLES,
        *mart_views(settings.classification),
        *MATERIALIZED,
    }
    assert set(comments) == expected  # every kind of view is in this warehouse
    missing = [v for v, (text, _) in comments.items() if not text]
    missing += [
        f"{v}.{c}" for v, (_, cols) in comments.items() for c, text in cols.items() if not text
    ]
    assert missing == []
    assert sum(len(cols) for _, cols in comments.values()) > 350


def test_comments_are_the_contracts_descriptions(comments, settings):
    """A view's comment opens with its contract's purpose; a column's is its description (a
    masked one with the masking note, a quarantined raw field's with where it comes from)."""
    snapshot = load_contract(settings.contracts_dir, "loan_snapshot")
    for view, (text, columns) in comments.items():
        computed = view in mart_views(settings.classification)
        folder = settings.contracts_dir / MART_VIEWS_DIR if computed else settings.contracts_dir
        raw = yaml.safe_load((folder / f"{view}.yaml").read_text(encoding="utf-8"))
        assert text.startswith(" ".join(raw["description"]["purpose"].split())), view
        assert raw["schema"][0]["dataGranularityDescription"] in text, view
        for column in load_contract(folder, view).columns:
            assert columns[column.name].startswith(column.description), (view, column.name)
    raw_fields = {c: t for c, t in comments["loan_quarantine"][1].items() if c.startswith("raw_")}
    assert sorted(raw_fields) == sorted(f"raw_{c}" for c in snapshot.column_names)
    assert snapshot.column("loan_id").description in raw_fields["raw_loan_id"]
    assert comments["loan_snapshot"][0].endswith("Published days only.")


def test_masked_columns_say_so_and_only_they(comments, settings):
    masked = set()
    for view in ("loan_snapshot", "reg_credit_report"):
        contract = load_contract(settings.contracts_dir, view)
        masked |= {(view, c.name, c.mask) for c in contract.columns if c.mask}
    snapshot = load_contract(settings.contracts_dir, "loan_snapshot")
    masked |= {("loan_quarantine", f"raw_{c.name}", c.mask) for c in snapshot.columns if c.mask}
    assert {(v, c) for v, c, _ in masked} >= {
        ("loan_snapshot", "national_id"),
        ("loan_snapshot", "mobile_phone"),
        ("loan_snapshot", "borrower_name"),
        ("reg_credit_report", "national_id"),
        ("loan_quarantine", "raw_national_id"),
    }
    for view, column, mask in masked:
        assert f"{MASKED} ({mask} mask)." in comments[view][1][column], (view, column)
    said = {
        (v, c) for v, (_, cols) in comments.items() for c, text in cols.items() if MASKED in text
    }
    assert said == {(v, c) for v, c, _ in masked}


def _contracts_copy(tmp_path, edit=None):
    """A copy of the project's contracts, ``edit(folder)`` applied to it."""
    folder = tmp_path / "data_contracts"
    shutil.copytree(CONTRACTS, folder)
    if edit:
        edit(folder)
    return folder


def _describe(folder, name, column, text, computed=False):
    """Set ``column``'s description in ``name``'s contract under ``folder``."""
    path = (folder / MART_VIEWS_DIR if computed else folder) / f"{name}.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    for prop in document["schema"][0]["properties"]:
        if prop["name"] == column:
            prop["description"] = text
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


def test_a_quote_in_a_description_is_escaped(tmp_path):
    text = "Back in M0 (the 'cure'); \"quoted\"; '); DROP VIEW delinquency_cures; --"
    folder = _contracts_copy(
        tmp_path,
        lambda f: _describe(f, "delinquency_cures", "cure_date", text, computed=True),
    )
    statements = comment_statements(folder, "delinquency_cures", computed=True)
    con = duckdb.connect()
    con.execute(
        "CREATE VIEW delinquency_cures AS SELECT 'L1' AS loan_id, DATE '2026-05-30' AS cure_date"
    )
    for statement in statements:
        con.execute(statement)
    got = con.execute(
        "SELECT comment FROM duckdb_columns() WHERE table_name = 'delinquency_cures' "
        "AND column_name = 'cure_date'"
    ).fetchone()[0]
    assert got == text
    assert con.execute("SELECT count(*) FROM delinquency_cures").fetchone()[0] == 1


def test_a_view_without_a_contract_fails_the_build(settings, tmp_path):
    folder = _contracts_copy(tmp_path, lambda f: (f / MART_VIEWS_DIR / "flow_rates.yaml").unlink())
    with pytest.raises(ConfigError, match=r"mart_views/flow_rates\.yaml"):
        view_statements(lake_of(settings), folder, settings.classification)


def test_a_changed_description_rebuilds_the_warehouse_and_a_rerun_does_not(settings, tmp_path):
    """Comments are statements: part of the digest. The same contracts leave the file as it is
    (same inode, same bytes); a changed description rebuilds it with the new comment."""
    lake = lake_of(settings)
    refresh = lambda contracts: refresh_warehouse(lake, contracts, settings.classification)  # noqa: E731
    refresh(settings.contracts_dir)
    before, inode = lake.warehouse.read_bytes(), lake.warehouse.stat().st_ino
    refresh(settings.contracts_dir)
    assert (lake.warehouse.read_bytes(), lake.warehouse.stat().st_ino) == (before, inode)
    text = "Borrower's identifier in the lending core (edited)."
    folder = _contracts_copy(tmp_path, lambda f: _describe(f, "loan_risk", "loan_id", text))
    try:
        refresh(folder)
        assert lake.warehouse.stat().st_ino != inode
        with connect_warehouse(lake) as con:
            got = con.execute(
                "SELECT comment FROM duckdb_columns() "
                "WHERE table_name = 'loan_risk' AND column_name = 'loan_id'"
            ).fetchone()[0]
        assert got == text
    finally:
        refresh(settings.contracts_dir)  # the module's other tests read the project's comments


def test_a_table_behind_its_contract_still_builds(tmp_path, policy):
    """A lake whose files lack a column its contract names (a contract ahead of the stored
    partitions) still gets its warehouse: the column it has is described, the one it lacks has
    no comment to carry. The refresh of a failed day runs in its error path: it must not fail
    on metadata."""
    import polars as pl

    from loanrisk.lake.storage import Lake, write_partition

    lake = Lake(tmp_path / "data", tmp_path / "data" / "landing")
    frame = pl.DataFrame({"snapshot_date": [START], "loan_id": ["L1"]})
    write_partition(frame, lake.partition("curated", "loan_risk", START), lake.scratch)
    refresh_warehouse(lake, CONTRACTS, policy)
    with connect_warehouse(lake) as con:
        got = dict(
            con.execute(
                "SELECT column_name, comment FROM duckdb_columns() WHERE table_name = 'loan_risk'"
            ).fetchall()
        )
    contract = load_contract(CONTRACTS, "loan_risk")
    assert got == {c: contract.column(c).description for c in ("snapshot_date", "loan_id")}
