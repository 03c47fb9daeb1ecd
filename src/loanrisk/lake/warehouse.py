"""``warehouse.duckdb``: one view per published table over the lake's Parquet (DESIGN.md §6).

The file holds views only, so it is rebuilt whole into a temporary file and renamed into place:
a BI tool never opens a half-built warehouse. Views read Parquet with DuckDB's built-in reader
(no extension download) and name the lake by paths relative to the data_root, so a copied,
restored or mounted data_root (or a rerun's shadow, ``loanrisk.lake.versions``) reads its own
lake: whoever opens the warehouse sets DuckDB's ``file_search_path`` to the data_root
(``connect_warehouse``; README shows the setting for BI tools). Every personal column is masked
(``loanrisk.domain.masking``), the quarantine's raw text included (DESIGN.md §5b).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from loanrisk.domain.classification import ClassificationConfig
from loanrisk.domain.marts import MATERIALIZED, mart_views
from loanrisk.domain.masking import mask_sql
from loanrisk.domain.sql import quote
from loanrisk.lake.faults import crash_point, scratch_name, sweep_siblings
from loanrisk.lake.modes import file_mode, make_dirs
from loanrisk.lake.storage import CURATED_TABLES, Lake, literal_glob, write_bytes_atomic
from loanrisk.lake.warehouse_comments import COLUMN_COMMENT, comment_statements
from loanrisk.quality.contracts import Contract, load_contract

_DUCKDB_TYPES = {"date": "DATE", "varchar": "VARCHAR", "int64": "BIGINT", "json": "JSON"}


def _manifest_columns(runs_contract: Contract) -> str:
    """read_json column types for the run manifest's headline fields, from its contract."""
    return ", ".join(
        f"{c.name}: '{_DUCKDB_TYPES.get(c.physical_type, c.physical_type.upper())}'"
        for c in runs_contract.columns
    )


def _quarantine_select(snapshot: Contract) -> str:
    """Quarantined rows: every raw field (``raw_<column>``), the personal ones masked as in
    ``loan_snapshot``; row_number counts data rows (header excluded)."""
    raw = [(c.mask, f'"raw_{c.name}"') for c in snapshot.columns if c.mask]
    masked = ", ".join(f"{mask_sql(kind, name)} AS {name}" for kind, name in raw)
    return f"* REPLACE ({masked}), source_line - 1 AS row_number"


def _quote_glob(lake: Lake, glob: Path) -> str:
    """A two-level glob (``folder/part=*/*.parquet``) under the data_root as a DuckDB string
    literal relative to it: the folder read as it is named, the last two levels as patterns."""
    folder = glob.parent.parent.relative_to(lake.data_root)
    return quote(f"{literal_glob(folder)}/{glob.parent.name}/{glob.name}")


def _parquet_source(lake: Lake, glob: Path) -> str:
    return f"read_parquet({_quote_glob(lake, glob)}, union_by_name = true)"


def connect_warehouse(lake: Lake):
    """``warehouse.duckdb`` opened read-only as every reader must open it: ``file_search_path``
    at the data_root, which the views' paths are relative to."""
    import duckdb

    con = duckdb.connect(str(lake.warehouse), read_only=True)
    con.execute(f"SET file_search_path = {quote(str(lake.data_root))}")
    return con


def masked_select(contract: Contract) -> str:
    """SELECT list of a contract's columns with every masked column masked."""
    items = []
    for col in contract.columns:
        ident = f'"{col.name}"'
        if col.mask:
            items.append(f"{mask_sql(col.mask, ident)} AS {ident}")
        else:
            items.append(ident)
    return ", ".join(items)


#: What each kind of view shows, in its comment.
_PUBLISHED, _RECORDED = "Published days only.", "Days with a run record only."
_LATEST = "The curves as known on the latest of those days only."


def view_statements(lake: Lake, contracts_dir: Path, policy: ClassificationConfig) -> list[str]:
    """CREATE VIEW statements for every table that has at least one file on disk, then the
    marts over them (``marts.py``); each view followed by its comments (``warehouse_comments``).

    ``loan_snapshot`` shows published days only: a day stopped by a gate keeps its rows in the
    lake for diagnosis but never reaches BI.
    """
    statements = []
    for name, select, scope, computed in _views(lake, contracts_dir, policy):
        statements.append(f"CREATE OR REPLACE VIEW {name} AS {select}")
        statements += comment_statements(contracts_dir, name, scope, computed)
    return statements


#: A view to create: (name, SELECT, which rows it shows, a mart computed when queried?).
View = tuple[str, str, str, bool]


def _views(lake: Lake, contracts_dir: Path, policy: ClassificationConfig) -> list[View]:
    """Every view to create, in order: the run records, the lake's tables, the marts."""
    views = []
    runs = lake.runs_glob()
    published = recorded = ""
    if _has_files(runs):
        columns = _manifest_columns(load_contract(contracts_dir, "pipeline_runs"))
        source = (
            f"read_json({_quote_glob(lake, runs)}, union_by_name = true, columns = {{{columns}}})"
        )
        views.append(("pipeline_runs", f"SELECT * FROM {source}", "", False))
        published = (
            " WHERE snapshot_date IN "
            "(SELECT snapshot_date FROM pipeline_runs WHERE status = 'published')"
        )
        recorded = " WHERE snapshot_date IN (SELECT snapshot_date FROM pipeline_runs)"
    scope = _PUBLISHED if published else ""
    views += _lake_views(lake, contracts_dir, published, recorded)
    if all(_has_files(lake.table_glob("curated", t)) for t in ("loan_aging", "loan_state")):
        views += [(name, select, scope, True) for name, select in mart_views(policy).items()]
    return views + _stored_mart_views(lake, published, scope)


def _lake_views(lake: Lake, contracts_dir: Path, published: str, recorded: str) -> list[View]:
    """Views of the raw, curated and quarantined tables that have a file; the personal columns
    masked. ``published``/``recorded``: the WHERE clause keeping published / recorded days."""
    snapshot = load_contract(contracts_dir, "loan_snapshot")
    credit_report = load_contract(contracts_dir, "reg_credit_report")
    scope, kept = (_PUBLISHED, _RECORDED) if published else ("", "")
    sources = {  # name -> (glob, SELECT list[, WHERE, which rows]): published days by default
        "loan_snapshot": (lake.table_glob("raw", "loan_snapshot"), masked_select(snapshot)),
        **{table: (lake.table_glob("curated", table), "*") for table in CURATED_TABLES},
        "loan_quarantine": (
            lake.table_glob("quarantine", "loan_snapshot"),
            _quarantine_select(snapshot),
            recorded,
            kept,
        ),
        "reg_credit_report": (
            lake.table_glob("curated", "reg_credit_report"),
            masked_select(credit_report),
        ),
    }
    views = []
    for name, (glob, select, *rows) in sources.items():
        where, shows = rows or (published, scope)
        if _has_files(glob):
            source = _parquet_source(lake, glob)
            views.append((name, f"SELECT {select} FROM {source}{where}", shows, False))
    return views


def _stored_mart_views(lake: Lake, published: str, scope: str) -> list[View]:
    """Views of the marts stored per published day; ``vintage_curves`` shows the latest day's
    curves (each day's partition holds every vintage as known that day)."""
    views = []
    for name in MATERIALIZED:
        glob = lake.table_glob("marts", name)
        if not _has_files(glob):
            continue
        rows, shows = f"SELECT * FROM {_parquet_source(lake, glob)}{published}", scope
        if name == "vintage_curves":
            latest = f"(SELECT max(snapshot_date) FROM ({rows}))"
            rows = f"SELECT * FROM ({rows}) WHERE snapshot_date = {latest}"
            shows = f"{scope} {_LATEST}".strip()
        views.append((name, rows, shows, False))
    return views


def _has_files(glob: Path) -> bool:
    """True when a two-level glob (``table/part=*/*.parquet``) matches at least one file."""
    return any(glob.parent.parent.glob(f"{glob.parent.name}/{glob.name}"))


def refresh_warehouse(lake: Lake, contracts_dir: Path, policy: ClassificationConfig) -> Path:
    """Rebuild warehouse.duckdb with the current views, atomically; skipped when the views are
    the ones it already has.

    Views read the lake's files by glob when queried, so a new day needs no rebuild: only a
    change of the view set (a table's first file, the first manifest, a contract or a policy
    change, or another DuckDB version) does: the views hold no path of the data_root's own.
    Building binds every view, which reads the footer of every partition file, a cost that
    grows with each day kept.
    """
    import duckdb

    target = lake.warehouse
    statements = view_statements(lake, contracts_dir, policy)
    digest = hashlib.sha256("\n".join([duckdb.__version__, *statements]).encode()).hexdigest()
    crash_point("refresh_warehouse")
    if target.exists() and _built_with(lake) == digest:
        return target
    make_dirs(target.parent)
    sweep_siblings(target)  # a crashed refresh's half-built file
    staged = target.with_name(f".{target.name}.{scratch_name('')}.tmp")
    with duckdb.connect(str(staged)) as con:
        con.execute(f"SET file_search_path = {quote(str(lake.data_root))}")  # to bind the views
        for statement in statements:
            _execute(con, statement)
        con.execute("CHECKPOINT")
    os.chmod(staged, file_mode())  # DuckDB creates it by the umask
    crash_point("refresh_warehouse:built")
    staged.replace(target)
    # Written after the rename: a crash in between leaves an old digest, so the next refresh
    # rebuilds (never the other way round).
    write_bytes_atomic(digest.encode(), lake.warehouse_views)
    return target


def _execute(con, statement: str) -> None:
    """Run one statement of the build. A column comment on a column the view lacks (its contract
    ahead of the stored files) is left out rather than failing the build: a failed day's refresh
    runs in its error path. ``tests/test_warehouse_metadata.py`` finds such a column."""
    import duckdb

    try:
        con.execute(statement)
    except duckdb.BinderException:
        if not statement.startswith(COLUMN_COMMENT):
            raise


def _built_with(lake: Lake) -> str | None:
    path = lake.warehouse_views
    return path.read_text(encoding="utf-8").strip() if path.exists() else None
