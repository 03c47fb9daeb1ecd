"""Validation: typed raw rows, quarantined rows with every reason, gates, overrides."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import shutil
from urllib.parse import unquote

import jinja2
import polars as pl
import pyarrow.parquet as pq
import pytest

from loanrisk.errors import GateError
from loanrisk.lake.storage import lake_of
from loanrisk.lake.warehouse import connect_warehouse
from loanrisk.pipeline.runner import run_day
from loanrisk.quality.gx_archive import STORE_DAYS, archive_old_results
from loanrisk.quality.gx_validation import results_store
from loanrisk.report.validation_docs import build_validation_docs, relinked

pytestmark = pytest.mark.slow

DAY = dt.date(2026, 3, 1)
FILE = "loans_2026-03-01.csv"


@pytest.fixture(scope="session")
def small_landing(tmp_path_factory, config_dir):
    from loanrisk.synth import generate

    out = tmp_path_factory.mktemp("landing-small")
    generate(DAY, 1, 300, 11, out, config_dir)
    return out


@pytest.fixture
def landed(settings, small_landing):
    shutil.copytree(small_landing, settings.landing_dir)
    return settings


def rewrite(settings, change) -> None:
    path = settings.landing_dir / FILE
    frame = pl.read_csv(path, infer_schema=False)
    change(frame).write_csv(path)


def at_line(line: int, column: str, value: str | None) -> pl.Expr:
    """Replace ``column`` on the data row at 1-based file line ``line`` (header is line 1)."""
    here = pl.int_range(pl.len()) + 2 == line
    return pl.when(here).then(pl.lit(value)).otherwise(pl.col(column)).alias(column)


def quarantine(settings) -> pl.DataFrame:
    path = lake_of(settings).partition_file("quarantine", "loan_snapshot", DAY)
    return pl.read_parquet(path)


def manifest(settings) -> dict:
    return json.loads(lake_of(settings).run_manifest(DAY).read_text())


def test_valid_rows_are_typed_by_contract(landed):
    result = run_day(DAY, landed)
    path = lake_of(landed).partition_file("raw", "loan_snapshot", DAY)
    schema = pq.read_schema(path)
    assert str(schema.field("principal_amount").type) == "decimal128(18, 2)"
    assert str(schema.field("annual_interest_rate").type) == "decimal128(9, 6)"
    assert str(schema.field("snapshot_date").type) == "date32[day]"
    assert str(schema.field("installments_total").type) == "int32"
    assert str(schema.field("dispute_flag").type) == "bool"
    source = pl.read_csv(landed.landing_dir / FILE, infer_schema=False)
    assert result["rows_in"] == source.height == result["rows_valid"]
    assert result["rows_quarantined"] == 0
    assert pl.read_parquet(path)["loan_id"].to_list() == sorted(source["loan_id"].to_list())


def test_bad_rows_are_quarantined_with_every_reason(landed):
    rewrite(
        landed,
        lambda f: f.with_columns(
            at_line(2, "principal_amount", "12.345"),
            at_line(3, "outstanding_principal", "1,234.00"),
            at_line(4, "account_status", "OPEN"),
            at_line(4, "origination_date", "2026-02-31"),
            at_line(5, "snapshot_date", "2026-02-28"),
        ),
    )
    result = run_day(DAY, landed, {"QUARANTINE_SHARE": "test: 4 of 300 rows"})
    bad = quarantine(landed)
    reasons = dict(zip(bad["source_line"].to_list(), bad["reason_codes"].to_list(), strict=True))
    assert reasons[2] == ["PARSE_ERROR:principal_amount"]
    assert reasons[3] == ["PARSE_ERROR:outstanding_principal"]
    assert reasons[4] == ["ENUM_OUTSIDE_SET:account_status", "PARSE_ERROR:origination_date"]
    assert reasons[5] == ["SNAPSHOT_DATE_MISMATCH:snapshot_date"]
    assert bad.filter(pl.col("source_line") == 3)["raw_outstanding_principal"].item() == "1,234.00"
    assert result["rows_in"] == result["rows_valid"] + result["rows_quarantined"]
    assert result["rows_quarantined"] == 4
    gate = next(g for g in result["gates"] if g["gate"] == "QUARANTINE_SHARE")
    assert gate["status"] == "accepted" and gate["reason"] == "test: 4 of 300 rows"


def test_quarantine_share_gate_stops_the_day_and_publishes_nothing(landed):
    bad_lines = pl.int_range(pl.len()).is_between(0, 7)
    rewrite(
        landed,
        lambda f: f.with_columns(
            pl.when(bad_lines).then(pl.lit("cny")).otherwise("currency").alias("currency")
        ),
    )
    with pytest.raises(GateError, match=rf"{FILE}: gate QUARANTINE_SHARE failed: 8 of"):
        run_day(DAY, landed)
    lake = lake_of(landed)
    assert manifest(landed)["status"] == "failed"
    assert manifest(landed)["failure"]["gate"] == "QUARANTINE_SHARE"
    assert not lake.partition("curated", "loan_aging", DAY).exists()
    assert quarantine(landed).height == 8  # kept for diagnosis
    with connect_warehouse(lake) as con:
        assert con.execute("SELECT count(*) FROM loan_snapshot").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM loan_quarantine").fetchone()[0] == 8
        status = con.execute("SELECT status, failure->>'gate' FROM pipeline_runs").fetchall()
        assert status == [("failed", "QUARANTINE_SHARE")]
    indexed_pages(landed, DAY, {"loan_snapshot"})  # the stopped day's results, for diagnosis
    assert "PATTERN_MISMATCH:currency: 8" in lake.validation_page(DAY).read_text()


def test_missing_column_is_a_file_gate(landed):
    rewrite(landed, lambda f: f.drop("overdue_fees"))
    with pytest.raises(GateError, match=rf"{FILE}: gate COLUMN_MISSING failed: .*overdue_fees"):
        run_day(DAY, landed)


def test_missing_required_file_is_a_gate_but_optional_feeds_only_warn(landed):
    (landed.landing_dir / "events_2026-03-01.csv").unlink()
    result = run_day(DAY, landed)
    assert result["feeds"]["events"]["status"] == "missing"
    (landed.landing_dir / FILE).unlink()
    with pytest.raises(GateError, match=f"{FILE}: gate FILE_MISSING failed"):
        run_day(DAY, landed)


def test_undeclared_gbk_names_the_line_and_declared_gbk_reads(landed):
    path = landed.landing_dir / FILE
    text = path.read_text(encoding="utf-8")
    path.write_bytes(text.encode("gbk"))
    with pytest.raises(GateError, match=r"gate FILE_UNREADABLE failed: not valid utf-8 at line 2"):
        run_day(DAY, landed)
    pipeline = landed.pipeline.model_copy(update={"input_encoding": "gbk"})
    gbk = type(landed)(**{**landed.__dict__, "pipeline": pipeline})
    run_day(DAY, gbk)
    names = pl.read_parquet(lake_of(gbk).partition_file("raw", "loan_snapshot", DAY))
    source = pl.read_csv(text.encode(), infer_schema=False)
    assert sorted(names["borrower_name"].to_list()) == sorted(source["borrower_name"].to_list())


def test_parquet_landing_file_is_accepted(landed):
    path = landed.landing_dir / FILE
    rows = pl.read_csv(path, infer_schema=False)
    rows.write_parquet(path.with_suffix(".parquet"))
    path.unlink()
    assert run_day(DAY, landed)["rows_valid"] == rows.height


def test_blank_identifiers_are_quarantined(landed):
    rewrite(landed, lambda f: f.with_columns(at_line(2, "borrower_id", "   ")))
    run_day(DAY, landed)
    bad = quarantine(landed)
    assert bad["reason_codes"].to_list() == [["BLANK_VALUE:borrower_id"]]
    assert bad["raw_borrower_id"].to_list() == ["   "]


def day_page_links(settings, day: dt.date) -> set:
    """The files the day's ``reports/D/validation/index.html`` links."""
    day_page = lake_of(settings).validation_page(day)
    links = re.findall(r'href="([^"]+)"', day_page.read_text())
    return {(day_page.parent / unquote(html.unescape(link))).resolve() for link in links}


def indexed_pages(settings, day: dt.date, feeds: set[str]) -> list:
    """The day's Data Docs pages of ``feeds``, each asserted linked from the index and, by its
    kept copy, from the day's ``reports/D/validation/index.html`` (which links nothing else but
    the index)."""
    docs = settings.data_root / "reports" / "validation"
    index = (docs / "index.html").read_text()
    pages = sorted(docs.glob("validations/**/*.html"))
    day_pages = [p for p in pages if day.isoformat() in str(p)]
    assert feeds == {p.relative_to(docs).parts[1] for p in day_pages}
    lake = lake_of(settings)
    kept = [lake.kept_data_docs_page(day, p.relative_to(docs / "validations")) for p in day_pages]
    for page, copy in zip(day_pages, kept, strict=True):
        assert page.relative_to(docs).as_posix().replace(" ", "%20") in index or (
            page.relative_to(docs).as_posix() in index
        )
        assert copy.parent.parent == lake.validation_page(day).parent
        # The copy is GX's page whose links into the site still reach it from the day's folder.
        assert copy.read_bytes() == relinked(page.read_bytes(), copy, docs)
        up_links = re.findall(r'(?:href|src)="(\.\.[^"#]*)"', copy.read_text())
        assert (docs / "index.html").resolve() in {(copy.parent / u).resolve() for u in up_links}
        assert all((copy.parent / u).resolve().is_relative_to(docs.resolve()) for u in up_links)
    linked = day_page_links(settings, day)
    assert linked == {p.resolve() for p in kept} | {(docs / "index.html").resolve()}
    return day_pages


def test_gx_results_are_kept_and_rendered_as_data_docs(landed, monkeypatch):
    run_day(DAY, landed)
    day_pages = indexed_pages(landed, DAY, {"loan_snapshot", "events", "contacts"})
    results = sorted((landed.data_root / "gx").glob("**/uncommitted/validations/**/*.json"))
    assert len(results) == len(day_pages)
    # Days later the results leave GX's store and GX deletes their pages at its next build:
    # the day's page still links its kept copies, and no emptied folder is left to walk.
    lake = lake_of(landed)
    later = DAY + dt.timedelta(days=STORE_DAYS + 1)
    store = results_store(lake.gx_root, lake.data_docs)
    for feed in ("loan_snapshot", "events", "contacts"):
        archive_old_results(store, lake.gx_archive, feed, later)
    build_validation_docs(lake, later)
    assert not any(p.exists() for p in day_pages)
    assert not [d for d in (lake.data_docs / "validations").rglob("*") if d.is_dir()]
    assert sorted(p.name for p in lake.data_docs.iterdir()) == [
        "index.html",
        "static",
        "validations",
    ]
    build_validation_docs(lake, DAY)  # the day's page rebuilt from the archive
    kept = {p: p.read_bytes() for p in lake.validation_page(DAY).parent.rglob("*.html")}
    # GX's Jinja templates were compiled at the first build, and are not at the later ones.
    compiled = []
    monkeypatch.setattr(jinja2.Environment, "compile", lambda *a, **k: compiled.append(a[1]))
    build_validation_docs(lake, DAY)
    assert compiled == []
    # The pages are the same bytes at every build, and their logo is the site's own: GX's
    # comes from its S3 bucket with the data context's id and the time of rendering.
    assert {p: p.read_bytes() for p in kept} == kept
    copies = [p for p in kept if p != lake.validation_page(DAY)]
    for page in [*copies, lake.data_docs / "index.html"]:
        logos = re.findall(r'<img[^>]*src="([^"]*logo[^"]*)"', page.read_text())
        assert logos and all((page.parent / logo).is_file() for logo in logos), page
        assert "dataContextId" not in page.read_text()
    linked = day_page_links(landed, DAY) - {(lake.data_docs / "index.html").resolve()}
    assert len(linked) == len(day_pages) and all(p.is_file() for p in linked)
