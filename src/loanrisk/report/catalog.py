"""``reports/catalog.html``: the data catalog, one self-contained page from the data contracts.

Every contract of ``data_contracts/`` is a table: its purpose, grain, where it is stored, its
BI view, the steps that write it (upstream) and read it (downstream), and every column with its
type, unit, time zone, required flag, PII flag and mask and description. The lineage is handed
in (``TableLineage``, derived by ``loanrisk.pipeline.lineage``; the report layer does not see
the steps). Units and time zones are what the contract states: the unit a column's description
gives in its closing words (``(CNY)``, ``(count)``, ``(share 0-1)``, ...), the time zone of a
timestamp's ``logicalTypeOptions`` or the zone a date's description names.

No clock, no network, inline CSS, every value escaped: the same contracts and lineage give the
same bytes, written atomically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape
from pathlib import Path

from loanrisk.domain.yaml_models import read_yaml
from loanrisk.lake.storage import Lake, write_bytes_atomic
from loanrisk.quality.contracts import Column, Contract, load_contract


@dataclass(frozen=True)
class TableLineage:
    """Where a table is stored and which steps write and read it, in run order."""

    zone: str
    written_by: tuple[str, ...]
    read_by: tuple[str, ...]
    bi_view: bool


@dataclass(frozen=True)
class CatalogTable:
    """One contract as the catalog shows it."""

    contract: Contract
    description: str
    grain: str
    purpose: str
    time_zones: dict[str, str]  # column -> its logicalTypeOptions time zone


#: A unit as the contract's descriptions state it, first match wins.
UNITS = (
    (re.compile(r"\(CNY[);]|\bin CNY\b"), "CNY"),
    (re.compile(r"\bin currency units\b"), "the loan's currency"),
    (re.compile(r"\((?:share )?0-1\b|\bshare 0-1\b"), "share 0-1"),
    (re.compile(r"\(count\b"), "count"),
    (re.compile(r"\(days[);]|\bcalendar days\)"), "days"),
    (re.compile(r"\(points\b"), "points"),
)
_ZONE = re.compile(r"\b(?:Asia|Europe|America|Africa|Australia|Pacific)/[A-Za-z_]+\b|\bUTC\b")

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1200px;color:#1d2330}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 4px;padding-top:8px;
border-top:2px solid #d7dce5}h2 small{font-weight:normal;color:#5b6475}
table{border-collapse:collapse;width:100%;margin:8px 0}th,td{text-align:left;vertical-align:top;
padding:4px 8px;border-bottom:1px solid #e3e6ec}th{background:#f2f4f8;font-weight:600}
code{font:12px ui-monospace,monospace}dl{display:grid;grid-template-columns:9em 1fr;gap:2px 12px;
margin:8px 0}dt{color:#5b6475}dd{margin:0}.pii{color:#a4161a;font-weight:600}
.note{color:#5b6475}
"""


def _raw_schema(contracts_dir: Path, name: str) -> tuple[dict, dict]:
    """The contract's document and its one schema object (already validated by the loader)."""
    raw = read_yaml(Path(contracts_dir) / f"{name}.yaml")
    return raw, raw["schema"][0]


def catalog_table(contracts_dir: Path, name: str) -> CatalogTable:
    contract = load_contract(contracts_dir, name)
    raw, schema = _raw_schema(contracts_dir, name)
    zones = {}
    for prop in schema.get("properties") or []:
        options = prop.get("logicalTypeOptions") or {}
        if options.get("timezone"):
            zones[prop["name"]] = str(options.get("defaultTimezone") or "UTC")
    return CatalogTable(
        contract=contract,
        description=str(schema.get("description") or ""),
        grain=str(schema.get("dataGranularityDescription") or ""),
        purpose=str((raw.get("description") or {}).get("purpose") or ""),
        time_zones=zones,
    )


def unit_of(column: Column) -> str:
    for pattern, unit in UNITS:
        if pattern.search(column.description):
            return unit
    return ""


def time_zone_of(table: CatalogTable, column: Column) -> str:
    if column.name in table.time_zones:
        return table.time_zones[column.name]
    if column.physical_type in ("date", "list<date>") and (
        found := _ZONE.search(column.description)
    ):
        return found.group(0)
    return ""


def _steps(names: tuple[str, ...]) -> str:
    return ", ".join(f"<code>{escape(n)}</code>" for n in names) or '<span class="note">none</span>'


def _facts(table: CatalogTable, lineage: TableLineage | None) -> str:
    contract = table.contract
    upstream, downstream, zone, view = "not recorded", "not recorded", "", "no"
    if lineage is not None:
        upstream = _steps(lineage.written_by)
        downstream = _steps(lineage.read_by)
        zone = escape(lineage.zone)
        view = "yes, <code>" + escape(contract.name) + "</code>" if lineage.bi_view else "no"
    rows = [
        ("grain", escape(table.grain)),
        ("version", escape(contract.version)),
        ("stored in", zone),
        ("BI view", view),
        ("upstream", upstream),
        ("downstream", downstream),
    ]
    if contract.landing_pattern:
        rows.insert(2, ("landing file", f"<code>{escape(contract.landing_pattern)}</code>"))
    return "<dl>" + "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows) + "</dl>"


def _column_row(table: CatalogTable, column: Column) -> str:
    pii = ""
    if column.pii or column.mask:
        pii = '<span class="pii">PII</span>' + (
            f" masked as {escape(column.mask)}" if column.mask else ""
        )
    cells = (
        f"<code>{escape(column.name)}</code>",
        f"<code>{escape(column.physical_type)}</code>",
        escape(unit_of(column)),
        escape(time_zone_of(table, column)),
        "yes" if column.required else "no",
        pii,
        escape(column.description),
    )
    return f'<tr data-column="{escape(column.name)}">' + "".join(f"<td>{c}</td>" for c in cells)


def _section(table: CatalogTable, lineage: TableLineage | None) -> str:
    name = escape(table.contract.name)
    head = "".join(
        f"<th>{h}</th>"
        for h in ("column", "type", "unit", "time zone", "required", "PII", "description")
    )
    rows = "".join(_column_row(table, c) + "</tr>" for c in table.contract.columns)
    return (
        f'<section id="table-{name}" data-table="{name}">'
        f"<h2>{name} <small>{escape(table.description)}</small></h2>"
        f"<p>{escape(table.purpose)}</p>{_facts(table, lineage)}"
        f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></section>"
    )


def _index(tables: list[CatalogTable], lineage: dict[str, TableLineage]) -> str:
    rows = []
    for table in tables:
        name, found = escape(table.contract.name), lineage.get(table.contract.name)
        rows.append(
            f'<tr><td><a href="#table-{name}">{name}</a></td><td>{escape(table.grain)}</td>'
            f"<td>{escape(found.zone) if found else ''}</td>"
            f"<td>{len(table.contract.columns)}</td></tr>"
        )
    head = "<tr><th>table</th><th>grain</th><th>stored in</th><th>columns</th></tr>"
    return f"<table><thead>{head}</thead><tbody>{''.join(rows)}</tbody></table>"


def render_catalog(
    contracts_dir: Path, lineage: dict[str, TableLineage], warehouse_readers: tuple[str, ...]
) -> str:
    """The catalog page of every contract in ``contracts_dir``, tables in name order."""
    names = sorted(p.stem for p in Path(contracts_dir).glob("*.yaml"))
    tables = [catalog_table(contracts_dir, name) for name in names]
    columns = sum(len(t.contract.columns) for t in tables)
    readers = _steps(warehouse_readers)
    intro = (
        f"<p>{len(tables)} tables, {columns} columns, from the data contracts (ODCS v3). "
        "Upstream: the steps that write a table; downstream: the steps that read it. "
        f"Through the BI views of <code>warehouse.duckdb</code> the tables are also read by "
        f"{readers}.</p>"
    )
    body = _index(tables, lineage) + "".join(
        _section(t, lineage.get(t.contract.name)) for t in tables
    )
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>loanrisk data catalog</title><style>{CSS}</style></head><body>"
        f"<h1>loanrisk data catalog</h1>{intro}{body}</body></html>\n"
    )


def write_catalog(
    lake: Lake,
    contracts_dir: Path,
    lineage: dict[str, TableLineage],
    warehouse_readers: tuple[str, ...],
) -> Path:
    """``reports/catalog.html``, written atomically (the same inputs give the same bytes)."""
    page = render_catalog(contracts_dir, lineage, warehouse_readers)
    return write_bytes_atomic(page.encode("utf-8"), lake.catalog_page)
