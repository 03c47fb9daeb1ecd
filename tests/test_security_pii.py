"""Security corpus: personal data and markup from a feed, and data_root paths (DESIGN.md §5b).

One small synthetic day (300 loans) is run with markup and malformed personal values injected
into its landing file; every page under ``reports/``, every file GX keeps under ``gx/`` and every
warehouse view must then hold no personal value in clear and no markup from the feed, while GX
still counts every bad row. Masking is checked alone (Python and SQL alike, never showing more
than it hides) and the views of a data_root whose name holds glob characters.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import duckdb
import polars as pl
import pytest

from loanrisk.config import load_settings
from loanrisk.domain.masking import MASK_CHAR, MASKS, mask_sql, mask_value
from loanrisk.lake.storage import Lake, lake_of, write_partition
from loanrisk.lake.warehouse import connect_warehouse
from loanrisk.pipeline.runner import run_day

DAY = dt.date(2026, 3, 1)
FILE = f"loans_{DAY}.csv"
PII = ("borrower_name", "mobile_phone", "national_id")
# Markers of injected markup: GX's own pages hold <script> tags of their own.
PRODUCT_XSS = "<script>alert('product')</script>"
PHONE_XSS = "<script>alert('phone')</script>"
NAME_XSS = "<img src=x onerror=alert('name')>"
INJECTED = {
    # line -> column -> value; line 1 is the header
    2: {"product_code": PRODUCT_XSS, "borrower_name": NAME_XSS},  # quarantined
    3: {"mobile_phone": PHONE_XSS},  # a format warning: published
    4: {"mobile_phone": "1391234567", "national_id": "=1+2"},  # short values
    5: {"national_id": "11010519900307123Y"},  # malformed
}


@pytest.fixture(scope="module")
def poisoned(tmp_path_factory, config_dir):
    """(settings, landing rows) of a published day whose file carries ``INJECTED``."""
    from loanrisk.synth import generate

    out = tmp_path_factory.mktemp("security-landing")
    generate(DAY, 1, 300, 11, out, config_dir)
    settings = load_settings(config_dir, tmp_path_factory.mktemp("security") / "data")
    settings.landing_dir.mkdir(parents=True)
    source = pl.read_csv(out / FILE, infer_schema=False)
    rows = source.to_dicts()
    for line, columns in INJECTED.items():
        rows[line - 2].update(columns)
    frame = pl.DataFrame(rows, schema=source.schema)
    frame.write_csv(settings.landing_dir / FILE)
    manifest = run_day(DAY, settings)
    assert manifest["status"] == "published"
    return settings, frame


def _personal_values(frame: pl.DataFrame) -> set[str]:
    """Every personal value of the landing file (names of two characters and more)."""
    values = set()
    for column in PII:
        values |= {v for v in frame[column].to_list() if v and len(v) >= 2}
    return values


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in (".html", ".json"))


def test_pages_and_results_show_no_personal_value(poisoned):
    settings, frame = poisoned
    values = _personal_values(frame)
    files = _files(settings.data_root / "reports") + _files(settings.data_root / "gx")
    assert any(p.suffix == ".html" for p in files) and any("validations" in p.parts for p in files)
    leaks = {
        p.relative_to(settings.data_root).as_posix(): sorted(v for v in values if v in text)[:3]
        for p in files
        if (text := p.read_text(encoding="utf-8", errors="replace"))
    }
    assert {page: found for page, found in leaks.items() if found} == {}


def test_markup_from_the_feed_is_never_emitted(poisoned):
    settings, _ = poisoned
    files = _files(settings.data_root / "reports") + _files(settings.data_root / "gx")
    markers = ("<script>alert(", "<img src=x")
    found = {
        p.relative_to(settings.data_root).as_posix()
        for p in files
        if any(m in p.read_text(encoding="utf-8", errors="replace") for m in markers)
    }
    assert found == set()


def _gx_counts(settings) -> dict[str, int]:
    """Unexpected rows per reason in the day's stored GX results."""
    from loanrisk.quality.gx_validation import results_store
    from loanrisk.report.validation_docs import latest_results

    lake = lake_of(settings)
    counts: dict[str, int] = {}
    for result in latest_results(results_store(lake.gx_root, lake.data_docs), "loan_snapshot", DAY):
        for item in json.loads(result.read_text(encoding="utf-8"))["results"]:
            reason = item["expectation_config"]["meta"]["reason"]
            counts[reason] = int(item["result"].get("unexpected_count") or 0)
    return counts


def test_gx_still_counts_every_bad_row(poisoned):
    settings, _ = poisoned
    counts = _gx_counts(settings)
    assert counts["FORMAT_WARNING:mobile_phone"] == 2
    assert counts["FORMAT_WARNING:national_id"] == 2
    assert counts["ENUM_OUTSIDE_SET:product_code"] == 1
    manifest = json.loads(lake_of(settings).run_manifest(DAY).read_text(encoding="utf-8"))
    feed = manifest["feeds"]["loan_snapshot"]
    assert {r: n for r, n in counts.items() if n} == feed["reasons"] | feed["warnings"]


def _view_text(con, view: str) -> list[str]:
    """Every text value of a view, lists flattened."""
    columns = con.execute(f"DESCRIBE {view}").fetchall()
    texts = [name for name, kind, *_ in columns if kind == "VARCHAR"]
    if not texts:
        return []
    listed = ", ".join(f'"{c}"' for c in texts)
    rows = con.execute(f"SELECT {listed} FROM {view}").fetchall()
    return [v for row in rows for v in row if v is not None]


def test_every_view_masks_personal_values(poisoned):
    settings, frame = poisoned
    values = _personal_values(frame)
    with connect_warehouse(lake_of(settings)) as con:
        listed = "SELECT view_name FROM duckdb_views() WHERE NOT internal"
        views = [v for (v,) in con.execute(listed).fetchall()]
        assert {"loan_snapshot", "loan_quarantine"} <= set(views)
        leaks = {v: sorted(set(_view_text(con, v)) & values)[:3] for v in views}
        assert {v: found for v, found in leaks.items() if found} == {}
        quarantined = con.execute(
            "SELECT raw_borrower_name, raw_mobile_phone, raw_national_id FROM loan_quarantine"
        ).fetchall()
        phones = dict(con.execute("SELECT loan_id, mobile_phone FROM loan_snapshot").fetchall())
    line = INJECTED[2]
    assert quarantined and quarantined[0][0] == MASK_CHAR * len(line["borrower_name"])
    assert phones[frame["loan_id"][4 - 2]] == MASK_CHAR * 10  # line 4's 10-digit phone


# --------------------------------------------------------------------------- masking alone

SAMPLES = [
    None, "", "=1+2", "1391234567", "13912345678", "139123456789", "110105199003071234",
    "11010519900307123X", "11010519900307123", "王", "王芳", "王小明", "A", "Ab", PHONE_XSS,
    "Zhang Wei", "1\n2", "e\u0301e\u0301",
]  # fmt: skip


@pytest.mark.parametrize("kind", sorted(MASKS))
def test_masking_never_shows_more_than_it_hides(kind):
    for value in SAMPLES:
        masked = mask_value(kind, value)
        if value is None:
            assert masked is None
            continue
        assert len(masked) == len(value)
        shown = sum(a == b for a, b in zip(masked, value, strict=True) if b != MASK_CHAR)
        assert shown <= len(value) - shown, (kind, value, masked)


@pytest.mark.parametrize("kind", sorted(MASKS))
def test_python_and_sql_masking_agree(kind):
    con = duckdb.connect()
    for value in SAMPLES:
        select = f"SELECT {mask_sql(kind, 'x')} FROM (SELECT $1::VARCHAR AS x)"
        assert con.execute(select, [value]).fetchone()[0] == mask_value(kind, value), value


def test_short_and_malformed_values_are_masked_whole():
    assert mask_value("national_id", "=1+2") == "****"
    assert mask_value("mobile_phone", "1391234567") == "*" * 10
    assert mask_value("national_id", "11010519900307123Y") == "*" * 18
    assert mask_value("name", "王") == "*"
    assert mask_value("name", PHONE_XSS) == "*" * len(PHONE_XSS)


# --------------------------------------------------------------------------- paths as globs


def _partition(root: Path, table: str, value: str) -> None:
    lake = Lake(root, root / "landing")
    frame = pl.DataFrame({"snapshot_date": [DAY], "loan_id": [value]})
    write_partition(frame, lake.partition("curated", table, DAY), lake.scratch)


@pytest.mark.parametrize("name", ["lake[12]", "lake*", "lake[!x]"])
def test_views_never_read_a_sibling_lake(tmp_path, policy, name):
    from loanrisk.lake.warehouse import refresh_warehouse
    from tests.conftest import CONTRACTS

    own = tmp_path / name
    _partition(own, "loan_risk", "own")
    for sibling in ("lake1", "lake2", "lakex", "lake-other"):
        _partition(tmp_path / sibling, "loan_risk", sibling)
    refresh_warehouse(Lake(own, own / "landing"), CONTRACTS, policy)
    with connect_warehouse(Lake(own, own / "landing")) as con:
        assert con.execute("SELECT loan_id FROM loan_risk").fetchall() == [("own",)]


def test_bounded_history_never_reads_a_sibling_lake(tmp_path):
    from loanrisk.lake.scope import limit_history

    own = tmp_path / "lake[12]"
    for root, value in ((own, "own"), (tmp_path / "lake1", "lake1")):
        _partition(root, "loan_aging", value)
    with duckdb.connect() as con:
        con.execute("CREATE TEMP TABLE pipeline_runs (snapshot_date DATE, status VARCHAR)")
        con.execute("INSERT INTO pipeline_runs VALUES (?, 'published')", [DAY])
        views = {"pipeline_runs", "loan_aging"}
        limit_history(con, views, Lake(own, own / "landing"), DAY, DAY, {"loan_aging": "curated"})
        assert con.execute("SELECT loan_id FROM loan_aging").fetchall() == [("own",)]
