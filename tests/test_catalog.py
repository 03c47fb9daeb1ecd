"""The data catalog page (``reports/catalog.html``): every contract's table with its grain,
columns, units, time zones, PII and lineage; escaped, deterministic, self-contained; written by
a day's run and by ``loanrisk report``; rendered in headless Chromium like the risk report."""

from __future__ import annotations

import re
import shutil
from html import unescape

import pytest
import yaml
from conftest import CONTRACTS, CORPUS_DAY, CORPUS_FILE
from test_report_browser import browser, open_report  # noqa: F401 (the fixture)

from loanrisk.cli import main
from loanrisk.lake.storage import Lake
from loanrisk.pipeline.lineage import VIEWED, build_catalog, table_lineage, warehouse_readers
from loanrisk.pipeline.registry import DAILY
from loanrisk.quality.contracts import load_contract
from loanrisk.report.catalog import TableLineage, render_catalog, write_catalog

NAMES = sorted(p.stem for p in CONTRACTS.glob("*.yaml"))


@pytest.fixture(scope="module")
def page() -> str:
    return render_catalog(CONTRACTS, table_lineage(NAMES), warehouse_readers())


def section(page: str, table: str) -> str:
    found = re.search(f'<section id="table-{table}" data-table="{table}">(.*?)</section>', page)
    assert found, table
    return found.group(1)


def cell(page: str, table: str, column: str, index: int) -> str:
    """The text of one cell of a column's row (0 column, 1 type, 2 unit, 3 time zone, ...)."""
    row = re.search(f'<tr data-column="{column}">(.*?)</tr>', section(page, table)).group(1)
    cells = re.findall(r"<td>(.*?)</td>", row)
    return unescape(re.sub(r"<[^>]+>", "", cells[index]))


def facts(page: str, table: str) -> dict[str, str]:
    pairs = re.findall(r"<dt>(.*?)</dt><dd>(.*?)</dd>", section(page, table))
    return {k: unescape(re.sub(r"<[^>]+>", "", v)) for k, v in pairs}


def test_every_contract_table_and_column_is_in_the_page(page):
    assert page.count("<section ") == len(NAMES) == 26
    for name in NAMES:
        contract = load_contract(CONTRACTS, name)
        body = section(page, name)
        assert [re.findall(r'<tr data-column="([^"]+)">', body)] == [contract.column_names]
        for column in contract.columns:
            assert cell(page, name, column.name, 1) == column.physical_type
            assert cell(page, name, column.name, 6) == column.description
        raw = yaml.safe_load((CONTRACTS / f"{name}.yaml").read_text(encoding="utf-8"))
        assert facts(page, name)["grain"] == raw["schema"][0]["dataGranularityDescription"]
        assert f'<a href="#table-{name}">' in page


def test_units_time_zones_and_personal_columns(page):
    assert cell(page, "loan_risk", "ead", 2) == "CNY"
    assert cell(page, "loan_risk", "pd_12m", 2) == "share 0-1"
    assert cell(page, "loan_snapshot", "principal_amount", 2) == "the loan's currency"
    assert cell(page, "loan_risk", "signal_new_device", 2) == "count"
    assert cell(page, "loan_risk", "loan_id", 2) == ""
    assert cell(page, "collections_queue", "contact_window_start_utc", 3) == "UTC"
    assert cell(page, "loan_risk", "snapshot_date", 3) == "Asia/Shanghai"
    assert cell(page, "loan_risk", "score", 3) == ""
    assert cell(page, "loan_snapshot", "national_id", 5) == "PII masked as national_id"
    assert cell(page, "loan_snapshot", "loan_id", 5) == ""


def test_upstream_and_downstream_steps(page):
    risk = facts(page, "loan_risk")
    assert risk["upstream"].startswith("score_loans")
    assert {"build_regulatory", "build_collections", "publish_warehouse"} <= set(
        risk["downstream"].split(", ")
    )
    assert facts(page, "contacts")["downstream"].startswith("build_collections")
    assert facts(page, "loan_snapshot")["landing file"] == "loans_{snapshot_date}.csv"
    assert facts(page, "loan_quarantine")["stored in"] == "lake/quarantine/loan_snapshot/"
    assert facts(page, "events")["BI view"] == "no"
    assert "finalize_run" in page and "build_report" in warehouse_readers()


def test_lineage_agrees_with_the_registry():
    """Every table has a writing step, and each step the registry says publishes a table is
    found writing it; every table a BI view shows is a contract."""
    lineage = table_lineage(NAMES)
    assert all(found.written_by for found in lineage.values()), lineage
    for step in DAILY:
        for zone, table in step.assets:
            if table in lineage and zone.startswith("lake/"):
                assert step.name in lineage[table].written_by, (step.name, table)
    assert set(NAMES) >= VIEWED


def test_every_value_is_escaped(tmp_path):
    contracts = tmp_path / "contracts"
    shutil.copytree(CONTRACTS, contracts)
    path = contracts / "loan_risk.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("One row per loan in the day's snapshot.", "<script>alert(1)</script> & Co")
    path.write_text(text, encoding="utf-8")
    lineage = {"loan_risk": TableLineage("lake/<b>x</b>/", ('<img src="x">',), (), True)}
    page = render_catalog(contracts, lineage, ("<i>step</i>",))
    assert "<script>" not in page and "<img" not in page and "<b>" not in page
    assert "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Co" in page
    assert "&lt;img src=&quot;x&quot;&gt;" in page


def test_written_atomically_with_the_same_bytes(tmp_path, page):
    lake = Lake(tmp_path / "data", tmp_path / "data" / "landing")
    first = build_catalog(lake, CONTRACTS)
    assert first == lake.catalog_page == tmp_path / "data" / "reports" / "catalog.html"
    assert first.read_text(encoding="utf-8") == page
    again = write_catalog(lake, CONTRACTS, table_lineage(NAMES), warehouse_readers())
    assert again.read_bytes() == page.encode("utf-8")
    assert sorted(p.name for p in first.parent.iterdir()) == ["catalog.html"]


@pytest.mark.browser
def test_catalog_renders_in_chromium(browser, tmp_path):  # noqa: F811 (the fixture)
    lake = Lake(tmp_path / "data", tmp_path / "data" / "landing")
    seen = open_report(browser, build_catalog(lake, CONTRACTS), tmp_path / "catalog.png")
    page = seen["page"]
    try:
        assert [c for c in seen["console"] if c[0] in ("error", "warning")] == []
        assert seen["errors"] == [] and seen["failed"] == []
        assert [u for u in seen["requests"] if not u.startswith("file://")] == []
        assert page.locator("section[data-table]").count() == len(NAMES)
        assert page.locator("h1").text_content() == "loanrisk data catalog"
        page.locator('a[href="#table-loan_risk"]').click()
        heading = page.locator("#table-loan_risk h2")
        assert heading.is_visible() and heading.text_content().startswith("loan_risk")
        assert page.url.endswith("#table-loan_risk")
        rows = page.locator("#table-loan_snapshot tbody tr")
        assert rows.count() == len(load_contract(CONTRACTS, "loan_snapshot").columns)
        assert page.locator('#table-loan_snapshot tr[data-column="national_id"] .pii').is_visible()
    finally:
        page.close()


@pytest.mark.slow
def test_a_days_run_and_loanrisk_report_write_it(capsys, config_dir, corpus_landing, tmp_path):
    root = tmp_path / "data"
    (root / "landing").mkdir(parents=True)
    shutil.copy(corpus_landing / CORPUS_FILE, root / "landing" / CORPUS_FILE)
    common = ["--date", str(CORPUS_DAY), "--data-root", str(root), "--config", str(config_dir)]
    assert main(["run", *common]) == 0
    lake = Lake(root, root / "landing")
    contracts = config_dir.parent / "data_contracts"
    names = sorted(p.stem for p in contracts.glob("*.yaml"))
    expected = render_catalog(contracts, table_lineage(names), warehouse_readers())
    assert lake.catalog_page.read_text(encoding="utf-8") == expected

    import duckdb

    with duckdb.connect(str(lake.warehouse), read_only=True) as con:
        views = {row[0] for row in con.sql("SELECT view_name FROM duckdb_views()").fetchall()}
    assert views & set(names) <= VIEWED  # a view the catalog does not show as one would be

    lake.catalog_page.unlink()
    capsys.readouterr()
    assert main(["report", *common]) == 0
    assert f"data catalog {lake.catalog_page}" in capsys.readouterr().out
    assert lake.catalog_page.read_text(encoding="utf-8") == expected
