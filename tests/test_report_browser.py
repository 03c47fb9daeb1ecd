"""The risk report in headless Chromium: every chart renders, nothing errors, nothing is fetched;
and the report of a real pipeline run over a small synthetic book.

Uses Debian's ``chromium`` (``make browser`` installs it; never ``playwright install``). Without
it the test skips, unless ``LOANRISK_REQUIRE_BROWSER=1`` (CI), where a missing browser fails.
"""

from __future__ import annotations

import datetime as dt
import os
import re
from pathlib import Path

import pytest
from conftest import SHIPPED
from test_report import CHARTS, CLASSIFICATION, DAY, RISK_CHARTS, make_lake

from loanrisk.domain.scorecard import load_scorecard
from loanrisk.lake.storage import Lake
from loanrisk.report import build_risk_report

#: The PSI reading the pipeline's reports use (config/scorecard.yaml).
STABILITY = load_scorecard(SHIPPED / "config" / "scorecard.yaml").stability
CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
MARKS = "rect, path, circle, polyline"


def _unavailable(reason: str) -> None:
    if os.environ.get("LOANRISK_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (LOANRISK_REQUIRE_BROWSER=1)")
    pytest.skip(f"{reason}; run `make browser` to install Debian's chromium")


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} not found")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield launched
        launched.close()


def open_report(browser, path: Path, screenshot: Path | None = None) -> dict:
    """Load the report from file://, record what the page logged and fetched."""
    seen: dict[str, list] = {"console": [], "errors": [], "failed": [], "requests": []}
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.on("console", lambda m: seen["console"].append((m.type, m.text)))
    page.on("pageerror", lambda e: seen["errors"].append(str(e)))
    page.on("requestfailed", lambda r: seen["failed"].append(r.url))
    page.on("request", lambda r: seen["requests"].append(r.url))
    page.goto(path.as_uri(), wait_until="load")
    seen["page"] = page
    if screenshot:
        page.screenshot(path=str(screenshot), full_page=True)
    return seen


def assert_clean_and_charted(seen: dict, charts: list[str]) -> None:
    page = seen["page"]
    assert [c for c in seen["console"] if c[0] in ("error", "warning")] == []
    assert seen["errors"] == [] and seen["failed"] == []
    assert [u for u in seen["requests"] if not u.startswith("file://")] == []
    for name in charts:
        svg = page.locator(f'svg[data-chart="{name}"]')
        assert svg.count() == 1, name
        assert svg.is_visible(), name
        box = svg.bounding_box()
        assert box and box["width"] > 0 and box["height"] > 0, name
        assert svg.locator(MARKS).count() > 0, f"{name}: nothing drawn"
        assert svg.locator(":scope > title").text_content(), f"{name}: no <title>"


def assert_risk_sections(page) -> None:
    """The ECL, scores and risk-actions sections are on screen with their tables filled."""
    for ident, heading in (
        ("ecl", "Expected credit loss (IFRS 9)"),
        ("scores", "Scores"),
        ("risk-actions", "Risk actions"),
    ):
        section = page.locator(f"section#{ident}")
        assert section.is_visible(), ident
        assert section.locator("h2").text_content() == heading
        assert section.locator("table.data tbody tr").count() > 0, ident
        assert section.locator(".na").count() == 0, ident
    assert page.locator("#scores .verdict .pill").is_visible()
    bars = page.locator('svg[data-chart="score_distribution"] rect:has(title)')
    assert bars.count() % 2 == 0 and bars.count() >= 2  # reference and actual per band
    assert page.locator('svg[data-chart="psi_trend"] polyline').count() >= 2


@pytest.mark.browser
def test_report_renders_every_chart_without_errors(browser, tmp_path):
    lake = make_lake(tmp_path / "data")
    path = build_risk_report(lake, DAY, STABILITY, CLASSIFICATION)
    seen = open_report(browser, path, tmp_path / "risk_report.png")
    try:
        assert_clean_and_charted(seen, CHARTS)
        assert seen["page"].locator("svg[data-chart]").count() == len(CHARTS)
        assert seen["page"].locator(".card .label", has_text="ECL (CNY)").is_visible()
        assert_risk_sections(seen["page"])
        href = seen["page"].get_attribute("#validation .docs a", "href")
        assert href == "../validation/index.html"
    finally:
        seen["page"].close()


@pytest.mark.browser
def test_report_without_marts_still_renders(browser, tmp_path):
    path = build_risk_report(
        make_lake(tmp_path / "data", marts=(), risk=()), DAY, STABILITY, CLASSIFICATION
    )
    seen = open_report(browser, path)
    try:
        assert_clean_and_charted(seen, ["bucket_loans", "bucket_balance"])
        assert seen["page"].get_by_text("view is not in the warehouse").count() == 8
        assert seen["page"].locator("section#scores .na").is_visible()
    finally:
        seen["page"].close()


START = dt.date(2026, 5, 31)  # a month end: roll_rates_monthly needs two, so flow_rates is empty
END = START + dt.timedelta(days=1)


@pytest.fixture(scope="module")
def pipeline_report(tmp_path_factory, config_dir) -> Path:
    """The risk report of the last day of a 2-day backfill of 200 synthetic loans."""
    from loanrisk.cli import main
    from loanrisk.synth import generate

    root = tmp_path_factory.mktemp("report-book") / "data"
    generate(START, 2, 200, 5, root / "landing", config_dir)
    args = ["--start", str(START), "--end", str(END), "--data-root", str(root)]
    assert main(["backfill", *args, "--config", str(config_dir)]) == 0
    return build_risk_report(Lake(root, root / "landing"), END, STABILITY, CLASSIFICATION)


@pytest.mark.slow
def test_pipeline_report_has_every_section_filled(pipeline_report):
    page = pipeline_report.read_text(encoding="utf-8")
    # flow rates need two complete months of history; every other section has its figures
    missing = re.findall(r'<p class="na">(.*?)</p>', page)
    assert len(missing) == 1 and "flow" in missing[0].lower(), missing
    assert page.count("<svg") == len(CHARTS) and all(f'data-chart="{c}"' in page for c in CHARTS)
    assert "NPL ratio" in page and "PAR30" in page and "ECL (CNY)" in page
    for ident in ("ecl", "scores", "risk-actions"):
        assert f'<section id="{ident}">' in page
    assert all(name in page for name in ("FREEZE_LINE", "PRICING_TIER", "Stage 1", "PSI"))
    assert '<a href="../validation/index.html">' in page
    assert (pipeline_report.parent.parent / "validation" / "index.html").exists()
    again = build_risk_report(
        Lake(pipeline_report.parents[2], Path("unused")), END, STABILITY, CLASSIFICATION
    )
    assert again.read_text(encoding="utf-8") == page


@pytest.mark.slow
@pytest.mark.browser
def test_pipeline_report_renders_in_chromium(browser, pipeline_report):
    seen = open_report(browser, pipeline_report)
    try:
        assert_clean_and_charted(seen, CHARTS)
        assert_risk_sections(seen["page"])
        for name in RISK_CHARTS:
            box = seen["page"].locator(f'svg[data-chart="{name}"]').bounding_box()
            assert box["width"] > 200 and box["height"] > 100, name
    finally:
        seen["page"].close()
