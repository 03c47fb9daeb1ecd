"""GX validation when each business day runs in a process of its own, as ``loanrisk run`` and
the Airflow tasks run it: a day opens the file data context its earlier days stored and may add
suites to it.

A feed's rules are split into column groups by the day's row count (``column_groups``), so the
first day whose row count crosses a group-width boundary validates suites no earlier day
stored. Such a day, in a new process, must validate (in this process and in forked workers)
like any other.
"""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import pytest

from loanrisk.lake.storage import Lake

pytestmark = pytest.mark.slow

DAY1 = dt.date(2026, 3, 1)
DAY2 = DAY1 + dt.timedelta(days=1)

# ``loanrisk`` (the CLI's main) in a new interpreter, with GX's group size and the forking
# threshold of a big day when asked: narrow groups and forked workers at a test's size.
CLI = """
import sys
from loanrisk.quality import gx_validation, gx_workers
if sys.argv[1] == "big":
    gx_validation.GROUP_CELLS = 1
    gx_workers.PARALLEL_ROWS = 0
from loanrisk.cli import main
sys.exit(main(sys.argv[2:]))
"""

# The feed's batch definition as a new process finds it in a stored data context: does its
# data source belong to that context (what GX needs to fetch a batch)?
BATCH_OWNER = """
import sys
from pathlib import Path
from loanrisk.quality.gx_validation import _batch_definition, _context
context = _context(Path(sys.argv[1]), Path(sys.argv[2]))
batch = _batch_definition(context, "loan_snapshot")
print(batch.data_asset.datasource.data_context is context)
"""


def run_day(root, config_dir, day: dt.date, size: str) -> subprocess.CompletedProcess:
    args = ["run", "--date", str(day), "--data-root", str(root), "--config", str(config_dir)]
    return subprocess.run(
        [sys.executable, "-c", CLI, size, "--debug", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def stored_suites(root, day: dt.date) -> set[str]:
    """Names of the suites whose results the day stored (``<feed>.<group>``)."""
    store = Lake(root, root / "landing").gx_root / "gx" / "uncommitted" / "validations"
    return {
        f"{path.parents[2].parent.name}.{path.parents[2].name}"
        for path in store.glob("*/*/*/*/*.json")
        if path.parents[1].name.endswith(day.isoformat())
    }


@pytest.fixture(scope="module")
def day_one(tmp_path_factory, config_dir):
    """A fresh data_root whose first day ran in its own process at the shipped sizes (one
    group per feed at this book's size)."""
    from loanrisk.synth import generate

    root = tmp_path_factory.mktemp("gx-processes") / "data"
    generate(DAY1, 2, 300, 7, root / "landing", config_dir)
    done = run_day(root, config_dir, DAY1, "shipped")
    assert done.returncode == 0, done.stderr[-3000:]
    return root


def test_a_new_process_finds_the_feeds_batch_definition_in_its_own_context(day_one):
    """The feed's stored data asset, found in a context opened by a new process, is that
    context's: GX fetches the day's batch through it (its data source's context)."""
    lake = Lake(day_one, day_one / "landing")
    gx_root, docs = lake.gx_root, lake.data_docs
    done = subprocess.run(
        [sys.executable, "-c", BATCH_OWNER, str(gx_root), str(docs)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "True"


def test_a_day_in_its_own_process_validates_suites_no_earlier_day_stored(day_one, config_dir):
    """Day 2 in a new process, big enough for narrow groups and forked workers: it adds its
    suites to the stored context and validates them (in this process and the workers)."""
    before = stored_suites(day_one, DAY1)
    done = run_day(day_one, config_dir, DAY2, "big")
    assert done.returncode == 0, done.stderr[-3000:]
    assert "MissingDataContextError" not in done.stderr
    after = stored_suites(day_one, DAY2)
    assert after - before, "day 2 was to validate suites no earlier day stored"
