"""GX validation results beyond the store's window move to the archive, unchanged."""

from __future__ import annotations

import datetime as dt

from loanrisk.quality.gx_archive import STORE_DAYS, archive_old_results

DAY = dt.date(2026, 5, 31)


def stored(root, feed: str, suite: str, day: dt.date, run_time: str) -> None:
    folder = root / feed / suite / f"{feed} {day.isoformat()}" / run_time
    folder.mkdir(parents=True)
    (folder / "batch.json").write_text(f'{{"day": "{day}"}}')


def test_results_older_than_the_window_are_archived_and_kept(tmp_path):
    store, archive = tmp_path / "store", tmp_path / "archive"
    first_kept = DAY - dt.timedelta(days=STORE_DAYS)
    for offset in range(-3, STORE_DAYS):
        for suite in ("a--b", "c"):
            stored(store, "contacts", suite, first_kept + dt.timedelta(days=offset), "t1")
    stored(store, "events", "x", DAY - dt.timedelta(days=40), "t1")  # another feed: not touched
    moved = archive_old_results(store, archive, "contacts", DAY)
    assert moved == 6  # 3 old days x 2 suites
    kept = sorted(p.parent.name for p in store.glob("contacts/a--b/*/t1"))
    assert kept[0] == f"contacts {first_kept.isoformat()}"
    archived = sorted(p.relative_to(archive).as_posix() for p in archive.rglob("*.json"))
    assert len(archived) == 6 and archived[0].startswith("contacts/a--b/contacts 2026-05-")
    assert (store / "events" / "x").is_dir()


def test_a_rerun_of_an_archived_day_merges_into_its_archive(tmp_path):
    store, archive = tmp_path / "store", tmp_path / "archive"
    old = DAY - dt.timedelta(days=STORE_DAYS + 5)
    stored(store, "loan_snapshot", "s", old, "t1")
    archive_old_results(store, archive, "loan_snapshot", DAY)
    stored(store, "loan_snapshot", "s", old, "t2")  # reprocessed later, stored again
    assert archive_old_results(store, archive, "loan_snapshot", DAY) == 1
    runs = sorted(p.name for p in (archive / "loan_snapshot/s" / f"loan_snapshot {old}").iterdir())
    assert runs == ["t1", "t2"] and not list(store.rglob("*.json"))
