"""Extract writing: formula neutralising, owner-only files, manifest."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from loanrisk.lake.extracts import neutralise_formulas, write_extract_files, write_extract_manifest
from loanrisk.lake.storage import lake_of, sha256_file

DAY = dt.date(2026, 10, 29)


def test_text_cells_that_look_like_formulas_get_a_leading_quote():
    frame = pl.DataFrame(
        {
            "name": ['=HYPERLINK("x")', "+86 138", "-1", "@SUM(A1)", "\tx", "\rx", "王小明", None],
            "amount": [-1.5, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0],
            "loan_ids": [["=a", "b"]] * 8,
        }
    )
    out = neutralise_formulas(frame)
    assert out["name"].to_list() == [
        '\'=HYPERLINK("x")',
        "'+86 138",
        "'-1",
        "'@SUM(A1)",
        "'\tx",
        "'\rx",
        "王小明",
        None,
    ]
    assert out["amount"].to_list() == frame["amount"].to_list()  # numbers are not text
    assert out["loan_ids"][0] == "'=a,b"


def test_extract_files_are_owner_only_and_the_manifest_matches_them(settings):
    lake = lake_of(settings)
    frame = pl.DataFrame({"borrower_id": ["B1", "=B2"], "balance": [1.0, 2.0]})
    files = write_extract_files(lake, "test_kind", DAY, "queue", frame)
    manifest = write_extract_manifest(lake, settings, "test_kind", DAY, files, {"rows": 2}, [])
    folder = lake.extract_dir("test_kind", DAY)
    for name in ("queue.csv", "queue.parquet", "manifest.json"):
        assert (folder / name).stat().st_mode & 0o777 == 0o600
    stored = json.loads((folder / "manifest.json").read_text())
    assert stored["files"] == manifest["files"]
    assert {f["path"]: f["sha256"] for f in stored["files"]} == {
        f"extracts/test_kind/{DAY}/{n}": sha256_file(folder / n)
        for n in ("queue.csv", "queue.parquet")
    }
    assert pl.read_parquet(folder / "queue.parquet")["borrower_id"][1] == "=B2"  # raw kept
    assert "'=B2" in (folder / "queue.csv").read_text()
    again = write_extract_files(lake, "test_kind", DAY, "queue", frame)
    assert again == files  # same frame, same bytes
