"""Storage layout (DESIGN.md §3, §12), atomic writes and file fingerprints.

Nothing else in the package builds a path under ``data_root`` by hand: ask a ``Lake``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from loanrisk.errors import LandingFolderError
from loanrisk.lake.faults import crash_point, scratch_name, sweep_siblings
from loanrisk.lake.modes import file_mode, make_dirs, set_permissions
from loanrisk.lake.partitions import PARQUET_FILE, folder_files, write_frame, write_parquet  # noqa: F401
from loanrisk.quality.parsing import file_blocks

#: Curated tables written per business day (lake/curated/<table>/snapshot_date=D): each is a
#: view of warehouse.duckdb, and a day stopped by a gate has none of them.
CURATED_TABLES = (
    "loan_aging",
    "loan_state",
    "borrower_events_daily",
    "borrower_devices",
    "borrower_transaction_windows",
    "loan_pre_due_flows",
    "borrower_signals",
    "loan_risk",
    "risk_actions",
    "score_monitoring",
    "collections_queue",
    "collections_suppressed",
    "collections_movements",
    "reg_five_category",
    "reg_ifrs9_ecl",
    "reg_ifrs9_stage_transfers",
    "reg_write_offs",
)


@dataclass(frozen=True)
class Lake:
    """Paths of one data_root."""

    data_root: Path
    landing_dir: Path

    def landing_file(self, file_name: str) -> Path:
        return self.landing_dir / file_name

    def landed_file(self, file_name: str) -> Path:
        """The file a feed landed as: ``file_name`` (CSV), or the Parquet file beside it when
        only that one is there."""
        csv = self.landing_file(file_name)
        parquet = csv.with_suffix(".parquet")
        return parquet if not csv.exists() and parquet.exists() else csv

    def partition(self, zone: str, table: str, business_date: dt.date) -> Path:
        """``lake/<zone>/<table>/snapshot_date=YYYY-MM-DD`` (zone: raw, quarantine, curated)."""
        return self.data_root / "lake" / zone / table / f"snapshot_date={business_date.isoformat()}"

    def partition_file(self, zone: str, table: str, business_date: dt.date) -> Path:
        """The partition's first file: there when the partition is (``partition_files``)."""
        return self.partition(zone, table, business_date) / PARQUET_FILE

    def partition_files(self, zone: str, table: str, business_date: dt.date) -> list[Path]:
        """Every file of a day's partition, in order; [] when it was not written
        (``loanrisk.lake.partitions``: a big day is several files)."""
        return folder_files(self.partition(zone, table, business_date))

    def scan(self, zone: str, table: str, business_date: dt.date) -> pl.LazyFrame:
        """A day's partition of a table (all its files) as one frame."""
        return pl.scan_parquet(self.partition_files(zone, table, business_date), glob=False)

    def read(self, zone: str, table: str, business_date: dt.date) -> pl.DataFrame:
        """A day's partition of a table, read whole."""
        return pl.read_parquet(self.partition_files(zone, table, business_date), glob=False)

    def partition_inputs(self, zone: str, table: str, business_date: dt.date) -> Path:
        """What a partition carried from day to day was computed from:
        ``state/<zone>/<table>/snapshot_date=D.inputs.json`` (``state_of``)."""
        return self.state_of(self.partition(zone, table, business_date))

    def table_dir(self, zone: str, table: str | None = None) -> Path:
        """``lake/<zone>`` or ``lake/<zone>/<table>``."""
        zone_dir = self.data_root / "lake" / zone
        return zone_dir / table if table else zone_dir

    def table_glob(self, zone: str, table: str) -> Path:
        """Glob matching every partition's Parquet file of a table (for DuckDB views): the
        folders above ``snapshot_date=*`` are literal, to be passed through ``literal_glob``."""
        return self.data_root / "lake" / zone / table / "snapshot_date=*" / "*.parquet"

    def partition_dates(self, zone: str, table: str) -> list[dt.date]:
        """Business dates that have a partition file of a table, ascending."""
        folder = self.table_dir(zone, table)
        if not folder.is_dir():
            return []
        found = (
            dt.date.fromisoformat(p.name.split("=", 1)[1])
            for p in folder.glob("snapshot_date=*")
            if (p / PARQUET_FILE).exists()
        )
        return sorted(found)

    def shard_partition(self, table: str, business_date: dt.date, shard: str) -> Path:
        """``lake/shards/<table>/snapshot_date=D/<shard>``: one shard's part of a table, until
        the combine step publishes the whole (``loanrisk.lake.shards``)."""
        return self.partition("shards", table, business_date) / shard

    def shard_inputs(self, table: str, business_date: dt.date, shard: str) -> Path:
        """Fingerprints of the inputs a shard's part was computed from (``state_of``)."""
        return self.state_of(self.shard_partition(table, business_date, shard))

    def month_extract(self, table: str, month: dt.date) -> Path:
        """``lake/marts/<table>/month=YYYY-MM``: a complete month's extract the risk report
        reuses (``lake/vintage_cache.py``)."""
        return self.table_dir("marts", table) / f"month={month:%Y-%m}"

    def month_extract_inputs(self, table: str, month: dt.date) -> Path:
        """Fingerprint of the published days a month's extract was computed from
        (``state_of``)."""
        return self.state_of(self.month_extract(table, month))

    @property
    def state_dir(self) -> Path:
        """``state/``: what kept tables were computed from, outside the lake, which holds data
        only (DESIGN.md §12)."""
        return self.data_root / "state"

    def state_of(self, partition_dir: Path) -> Path:
        """The record of what a partition folder under ``lake/`` was computed from: its path
        under ``state/`` with ``.inputs.json`` appended."""
        relative = partition_dir.relative_to(self.data_root / "lake")
        return (self.state_dir / relative).with_name(f"{partition_dir.name}.inputs.json")

    def shard_state(self, table: str, business_date: dt.date) -> Path:
        """``state/shards/<table>/snapshot_date=D``: the input records of a day's shard parts."""
        return self.state_dir / self.partition("shards", table, business_date).relative_to(
            self.data_root / "lake"
        )

    @property
    def shard_states(self) -> Path:
        """``state/shards``: the records of every table's shard parts."""
        return self.state_dir / "shards"

    def shard_merged(self, table: str, business_date: dt.date) -> Path:
        """``state/shards/<table>/snapshot_date=D/merged.json``: the partition a combine
        published from the day's parts of ``table``, and its files as written
        (``loanrisk.lake.shards.own_rows``)."""
        return self.shard_state(table, business_date) / "merged.json"

    def shard_count(self, business_date: dt.date) -> Path:
        """``state/shard_counts/snapshot_date=D.json``: the day's number of shards, decided when
        its loans file was ingested (``loanrisk.lake.shards.decide_shards``)."""
        return self.state_dir / "shard_counts" / f"snapshot_date={business_date}.json"

    def zone(self, name: str) -> Path:
        """A top-level folder or file of data_root (``lake``, ``runs``, ``warehouse.duckdb``...)."""
        return self.data_root / name

    @property
    def published(self) -> Lake:
        """The data_root a rerun's shadow (``.versions/<id>/next``, ``loanrisk.lake.versions``)
        is switched into: what is published while the rerun works; this Lake otherwise."""
        root = self.data_root
        if root.name == "next" and root.parent.parent.name == ".versions":
            return Lake(root.parents[2], self.landing_dir)
        return self

    @property
    def versions_dir(self) -> Path:
        """``.versions/``: the published version a rerun keeps aside
        (``loanrisk.lake.versions``)."""
        return self.data_root / ".versions"

    @property
    def fingerprint_cache(self) -> Path:
        """sha256 of recently read inputs by size, modification time and inode
        (``loanrisk.lake.fingerprints``)."""
        return self.state_dir / "sha256_cache.json"

    def run_dir(self, business_date: dt.date) -> Path:
        return self.data_root / "runs" / business_date.isoformat()

    def run_manifest(self, business_date: dt.date) -> Path:
        return self.run_dir(business_date) / "manifest.json"

    def stage_report(self, business_date: dt.date, stage: str) -> Path:
        return self.run_dir(business_date) / "stages" / f"{stage}.json"

    def alerts_file(self, business_date: dt.date) -> Path:
        """``runs/D/alerts.jsonl``: the DAGs' failure and deadline alerts of the day."""
        return self.run_dir(business_date) / "alerts.jsonl"

    @property
    def runs_dir(self) -> Path:
        return self.data_root / "runs"

    def runs_glob(self) -> Path:
        return self.runs_dir / "*" / "manifest.json"

    @property
    def gx_root(self) -> Path:
        """Great Expectations file data context (suites, validation results)."""
        return self.data_root / "gx"

    @property
    def gx_archive(self) -> Path:
        """Validation results older than GX store's window (``loanrisk.quality.gx_archive``)."""
        return self.gx_root / "archive"

    @property
    def data_docs(self) -> Path:
        """Great Expectations Data Docs site."""
        return self.data_root / "reports" / "validation"

    @property
    def data_docs_validations(self) -> Path:
        """The Data Docs site's pages of validation results (one folder per suite)."""
        return self.data_docs / "validations"

    @property
    def data_docs_index(self) -> Path:
        """The Data Docs site's front page."""
        return self.data_docs / "index.html"

    def data_docs_page(self, result: Path) -> Path:
        """GX's Data Docs page of a stored result (``<feed>/<group>/<run name>/<run time>/
        <batch>.json``), removed by GX once the result leaves its store."""
        return self.data_docs_validations / result.with_suffix(".html")

    def kept_data_docs_page(self, business_date: dt.date, result: Path) -> Path:
        """The copy of ``result``'s Data Docs page kept with the day's reports
        (``reports/D/validation/<feed>/<group>.html``, a shard's ``<group>.shard=k-of-K.html``):
        outside the site, which GX walks whole at every build."""
        feed, group, run = result.parts[:3]
        shard = run.rpartition(" ")[2] if " shard=" in run else None
        name = f"{group}.{shard}.html" if shard else f"{group}.html"
        return self.validation_page(business_date).parent / feed / name

    def report_dir(self, business_date: dt.date) -> Path:
        """``reports/YYYY-MM-DD``: the day's human-readable reports."""
        return self.data_root / "reports" / business_date.isoformat()

    def month_report_dir(self, any_day: dt.date) -> Path:
        """``reports/YYYY-MM``: month-end reports of the month holding ``any_day``."""
        return self.data_root / "reports" / f"{any_day:%Y-%m}"

    def monitoring_summary(self, any_day: dt.date) -> Path:
        """``reports/YYYY-MM/monitoring.json``: the month's score stability, day by day."""
        return self.month_report_dir(any_day) / "monitoring.json"

    def risk_report(self, business_date: dt.date) -> Path:
        """The day's self-contained HTML risk report."""
        return self.report_dir(business_date) / "risk_report.html"

    @property
    def catalog_page(self) -> Path:
        """``reports/catalog.html``: the data catalog, from the data contracts (any day's)."""
        return self.data_root / "reports" / "catalog.html"

    def validation_page(self, business_date: dt.date) -> Path:
        """``reports/D/validation/index.html``: the day's GX results, linking the Data Docs."""
        return self.report_dir(business_date) / "validation" / "index.html"

    def extract_dir(self, kind: str, business_date: dt.date) -> Path:
        """``extracts/<kind>/YYYY-MM-DD``: files handed to other teams."""
        return self.data_root / "extracts" / kind / business_date.isoformat()

    def extract_manifest(self, kind: str, business_date: dt.date) -> Path:
        """``extracts/<kind>/YYYY-MM-DD/manifest.json``: the extract's files and totals."""
        return self.extract_dir(kind, business_date) / "manifest.json"

    @property
    def models_dir(self) -> Path:
        """Fitted scorecards and their reports (candidates until promoted into config/)."""
        return self.data_root / "models"

    def stage_log(self, business_date: dt.date) -> Path:
        """``logs/YYYY-MM-DD.jsonl``: one JSON line per stage run of the day (with timings)."""
        return self.data_root / "logs" / f"{business_date.isoformat()}.jsonl"

    @property
    def airflow_home(self) -> Path:
        """AIRFLOW_HOME of the embedded Airflow (SQLite metadata) used by the demo."""
        return self.data_root / "airflow"

    @property
    def lineage_file(self) -> Path:
        """OpenLineage events of the embedded Airflow's runs (file transport, JSON lines)."""
        return self.data_root / "lineage" / "openlineage.jsonl"

    @property
    def warehouse(self) -> Path:
        return self.data_root / "warehouse.duckdb"

    @property
    def warehouse_views(self) -> Path:
        """sha256 of the view statements ``warehouse.duckdb`` was last built with."""
        return self.data_root / "warehouse.views.sha256"

    @property
    def scratch(self) -> Path:
        """Same-filesystem scratch space for atomic renames, outside every table's glob."""
        return self.data_root / "lake" / "_tmp"

    def relative(self, path: Path) -> str:
        return path.relative_to(self.data_root).as_posix()

    def resolve(self, relative: str) -> Path:
        """The file a data_root-relative path (as stage reports record them) names."""
        return self.data_root / relative

    @property
    def run_lock_file(self) -> Path:
        """The data_root's run lock (``loanrisk.lake.locks``)."""
        return self.data_root / ".loanrisk-run.lock"


def literal_glob(path: Path) -> str:
    """``path`` as a DuckDB glob matching that path only: DuckDB reads every path it is given
    (a list's items too) as a glob, so a data_root named ``lake[12]`` would read ``lake1`` and
    ``lake2``. Each glob character is bracketed (``[[]``, ``[*]``, ``[?]``): it matches itself."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in path.as_posix())


def lake_of(settings) -> Lake:
    """The Lake of loaded settings (anything with ``data_root`` and ``landing_dir``)."""
    return Lake(data_root=settings.data_root, landing_dir=settings.landing_dir)


def enter_data_root(settings, landing: bool = True) -> Lake:
    """What an entry point does before it writes under the settings' data_root: the data
    contracts checked against config (``quality.config_check``), this process's file modes
    from execution.yaml (``modes.set_permissions``), then, for a run (``landing``), the
    landing folder checked, so a mistyped data_root stops before anything is written, and
    the tree an older version left looser tightened once per policy (``modes.tighten_once``)."""
    from loanrisk.lake.modes import MODES_MARKER, tighten_once
    from loanrisk.quality.config_check import check_contracts  # ODCS models: load on entry

    check_contracts(settings)
    set_permissions(settings.execution.file_group_read)
    lake = lake_of(settings)
    if landing and not lake.landing_dir.is_dir():
        raise LandingFolderError(lake.landing_dir, lake.data_root)
    if landing:
        marker = lake.state_dir / MODES_MARKER
        tighten_once(lake.data_root, lake.landing_dir, marker, write_json_atomic)
    return lake


def write_partition(
    frame: pl.DataFrame, partition_dir: Path, scratch: Path, one_row_group: bool = False
) -> Path:
    """Write one partition atomically (``loanrisk.lake.partitions.PartitionWriter``): a reader
    sees the old partition or the new, never half. The caller sorts ``frame``; returns the
    partition's first file."""
    return write_frame(frame, partition_dir, scratch, one_row_group)


def write_table(
    lake: Lake, zone: str, table: str, business_date: dt.date, frame: pl.DataFrame
) -> dict:
    """Write a table's partition for a day atomically; return its {path, rows, sha256} entry
    for stage reports and run manifests."""
    folder = lake.partition(zone, table, business_date)
    write_partition(frame, folder, lake.scratch)
    return partition_entry(lake, folder, frame.height)


def partition_entry(lake: Lake, folder: Path, rows: int) -> dict:
    """A written partition as stage reports and run manifests record it: {path, rows, sha256}
    of its file, or, for a day of several files, of the folder, the sha256 being that of the
    files' ``<name> <sha256>`` lines."""
    files = folder_files(folder)
    path = files[0] if len(files) == 1 else folder
    digest = files_digest([(f.name, sha256_file(f)) for f in files])
    return {"path": lake.relative(path), "rows": rows, "sha256": digest}


def files_digest(named: list[tuple[str, str | None]]) -> str | None:
    """The content id of a partition from its files' (name, sha256): a one-file partition's is
    its file's sha256 (as before partitions had several files), several files' the sha256 of
    their ``<name> <sha256>`` lines; None when there is no file."""
    if not named:
        return None
    if len(named) == 1:
        return named[0][1]
    return hashlib.sha256("".join(f"{n} {d}\n" for n, d in named).encode()).hexdigest()


def partition_sha256(folder: Path) -> str | None:
    """``files_digest`` of a partition folder (None: not written)."""
    return files_digest([(f.name, sha256_file(f)) for f in folder_files(folder)])


def write_file_atomic(path: Path, write: Callable[[Path], object], mode: int | None = None) -> Path:
    """Have ``write`` fill a temporary sibling of ``path``, then sync and rename it into place;
    its mode (``mode``, else the process's file mode: owner-only unless group read is granted)
    is set before anything is written, and before the file appears under its name."""
    mode = file_mode() if mode is None else mode
    make_dirs(path.parent)
    sweep_siblings(path)
    tmp = path.with_name(f".{path.name}.{scratch_name('')}.tmp")
    os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode))
    os.chmod(tmp, mode)  # whatever the umask
    write(tmp)
    with open(tmp, "rb+") as handle:
        os.fsync(handle.fileno())
    crash_point(f"write_bytes_atomic:{path.name}")
    os.replace(tmp, path)
    return path


def write_bytes_atomic(data: bytes, path: Path, mode: int | None = None) -> Path:
    """Write ``data`` to ``path`` atomically (``write_file_atomic``)."""
    return write_file_atomic(path, lambda tmp: tmp.write_bytes(data), mode)


def write_json_atomic(document: dict, path: Path, mode: int | None = None) -> Path:
    """Deterministic JSON (sorted keys, fixed indent) written atomically."""
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False, default=str) + "\n"
    return write_bytes_atomic(text.encode("utf-8"), path, mode)


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    for block in file_blocks(path):
        digest.update(block)
    return digest.hexdigest()
