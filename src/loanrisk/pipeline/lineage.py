"""Which steps write each table and which read it: the data catalog's upstream and downstream.

The step registry records what a step publishes (``Step.assets``) and nothing of what it reads.
Reads (and the writes the assets leave out) are derived from the steps' own code: the step
function and every function of ``loanrisk.pipeline`` and ``loanrisk.report`` it calls, followed
through its module's names, are parsed with ``ast``; a call of a lake reader (``READERS``) or of
``write_table`` with a zone literal and a table (a literal or a module constant) is a read or a
write of that table, and opening ``warehouse.duckdb`` is a read of the warehouse. Three things
the code names by parameter are taken from what the registry records instead: a per-feed step
reads and writes its feed (``FEED_USES``: ``ingest`` the landing file into staging, ``validate``
staging into raw and quarantine); ``publish_warehouse`` (its asset) reads every table that has a
BI view; the month-end ``rebuild_regulatory`` writes what ``build_regulatory`` publishes; a table
read in a loop over table names is not seen (the carried signal tables, the marts), nor are the
shard steps' parts (``lake/shards``, not a published table).

``dataset_path`` names where a (zone, table) of one run is stored, for the OpenLineage datasets
of the Airflow tasks (``loanrisk.airflow.lineage``).
"""

from __future__ import annotations

import ast
import datetime as dt
import inspect
import sys
import textwrap
from collections.abc import Callable, Iterable, Iterator
from functools import cache
from pathlib import Path
from types import FunctionType

from loanrisk.domain.feeds import FEEDS, LOANS
from loanrisk.domain.marts import MATERIALIZED
from loanrisk.lake.storage import CURATED_TABLES, Lake
from loanrisk.pipeline.registry import DAILY, MONTHLY, STEPS, Step
from loanrisk.report.catalog import TableLineage, write_catalog

#: What a per-feed step reads and writes of the feed it runs for ((kind, zone) of the feed).
FEED_USES = {
    "ingest": (("read", "landing"), ("write", "staging")),
    "validate": (("read", "staging"), ("write", "raw"), ("write", "quarantine")),
    "validate_shard": (("read", "staging"),),  # its shard's part of the staged text
}
READERS = frozenset(
    {
        *("scan_partitions", "scan_days", "scan_partition_if_any", "partition_dates"),
        *("partition_file", "partition_files", "scan", "read"),  # Lake's: a day's files, read
    }
)
WRITERS = frozenset({"write_table"})
ZONES = frozenset({"staging", "raw", "quarantine", "curated", "marts"})
FOLLOWED = ("loanrisk.pipeline.", "loanrisk.report.")
WAREHOUSE = ("warehouse", "warehouse.duckdb")
#: The tables with a view in warehouse.duckdb (``lake.warehouse.view_statements``).
VIEWED = frozenset({*CURATED_TABLES, *MATERIALIZED, LOANS, "loan_quarantine"}) | {
    "reg_credit_report",
    "pipeline_runs",
}


def location(table: str) -> tuple[str, str]:
    """Where a contract's table lives: (zone, name) as the steps read and write it."""
    if table in FEEDS:
        return ("raw", table)
    if table == "loan_quarantine":
        return ("quarantine", LOANS)
    if table == "pipeline_runs":
        return ("runs", "published")
    return ("marts" if table in MATERIALIZED else "curated", table)


def stored_in(where: tuple[str, str]) -> str:
    """Where a table is stored, relative to the data_root, for the catalog."""
    zone, table = where
    return "runs/D/manifest.json" if zone == "runs" else f"lake/{zone}/{table}/"


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _value(node: ast.expr, names: dict) -> object:
    """A literal, or a module-level name's value, or None."""
    if isinstance(node, ast.Constant):
        return node.value
    return names.get(node.id) if isinstance(node, ast.Name) else None


def _zone_table(args: list[ast.expr], names: dict) -> tuple[str, str] | None:
    for i, arg in enumerate(args[:-1]):
        zone, table = _value(arg, names), _value(args[i + 1], names)
        if zone in ZONES and isinstance(table, str):
            return (zone, table)
    return None


def _target(node: ast.expr, names: dict) -> object:
    """The object a call's function names (``f`` or ``module.f``), or None."""
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return getattr(names.get(node.value.id), node.attr, None)
    return None


def _own_uses(function: Callable) -> Iterator[tuple[str, tuple[str, str]] | Callable]:
    """("read" | "write", (zone, table)) of each lake call in ``function``, and each function
    of the followed packages it calls."""
    names = vars(sys.modules[function.__module__])
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
    except OSError:  # installed without its sources (.pyc only): the registry's writes alone
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr == "warehouse":
            yield ("read", WAREHOUSE)
        if not isinstance(node, ast.Call):
            continue
        called = _name(node.func)
        if called in READERS | WRITERS and (found := _zone_table(node.args, names)):
            yield ("write" if called in WRITERS else "read", found)
        if called == "connect_warehouse":
            yield ("read", WAREHOUSE)
        target = _target(node.func, names)
        if isinstance(wrapped := getattr(target, "__wrapped__", None), FunctionType):
            target = wrapped  # a cached function: its own code
        if isinstance(target, FunctionType) and target.__module__.startswith(FOLLOWED):
            yield target


@cache
def step_uses(step: Step) -> frozenset[tuple[str, tuple[str, str]]]:
    """Every ("read" | "write", (zone, table)) of a step, through the functions it calls."""
    found, seen, todo = set(), set(), [step.function]
    while todo:
        function = todo.pop()
        if function in seen:
            continue
        seen.add(function)
        for use in _own_uses(function):
            (todo.append if callable(use) else found.add)(use)
    assets = STEPS["build_regulatory"].assets if step.name == "rebuild_regulatory" else step.assets
    recorded = {("write", (zone.removeprefix("lake/"), table)) for zone, table in assets}
    for kind, zone in FEED_USES.get(step.name, ()):
        recorded |= {(kind, (zone, feed)) for feed in FEEDS}
    if step.name == "publish_warehouse":
        recorded |= {("read", location(table)) for table in VIEWED}
    return frozenset(found | recorded)


def task_uses(step: Step, feed: str | None = None) -> frozenset[tuple[str, tuple[str, str]]]:
    """``step_uses`` of one task: a per-feed step's task for ``feed`` keeps only that feed's
    tables (and the tables that are no feed's)."""
    uses = step_uses(step)
    if feed is None:
        return uses
    return frozenset(use for use in uses if use[1][1] not in FEEDS or use[1][1] == feed)


def dataset_path(lake: Lake, where: tuple[str, str], day: dt.date, contracts_dir: Path) -> Path:
    """Where (zone, table) of ``step_uses`` is stored under ``lake`` for business date ``day``:
    a table's folder (all its days: one dataset across runs), the extracts' folder of a kind, the
    warehouse file, the runs folder (the published manifests), and the day's own file of what
    is one file a day (a feed's landing file, the risk report)."""
    zone, table = where
    if zone == "landing":
        from loanrisk.quality.contracts import load_contract

        name = load_contract(contracts_dir, table).landing_file_name(day.isoformat())
        return lake.landed_file(name)
    if zone == "extracts":
        return lake.extract_dir(table, day).parent
    if where == WAREHOUSE:
        return lake.warehouse
    if zone == "runs":
        return lake.runs_dir
    if zone == "reports":
        return lake.risk_report(day)
    return lake.table_dir(zone, table)


def table_lineage(tables: Iterable[str]) -> dict[str, TableLineage]:
    """Each table's writing and reading steps, in run order (daily, then month-end)."""
    steps = (*DAILY, *MONTHLY)
    lineage = {}
    for table in tables:
        where = location(table)
        writers = tuple(s.name for s in steps if ("write", where) in step_uses(s))
        readers = tuple(s.name for s in steps if ("read", where) in step_uses(s))
        lineage[table] = TableLineage(
            zone=stored_in(where), written_by=writers, read_by=readers, bi_view=table in VIEWED
        )
    return lineage


def warehouse_readers() -> tuple[str, ...]:
    """The steps that read SQL over the warehouse's views (the marts, the report)."""
    return tuple(s.name for s in (*DAILY, *MONTHLY) if ("read", WAREHOUSE) in step_uses(s))


def build_catalog(lake: Lake, contracts_dir: Path) -> Path:
    """``reports/catalog.html`` of every contract in ``contracts_dir``, with its lineage."""
    names = sorted(path.stem for path in Path(contracts_dir).glob("*.yaml"))
    return write_catalog(lake, contracts_dir, table_lineage(names), warehouse_readers())
