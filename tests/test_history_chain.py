"""The stored loan_state chain of a 90-day synthetic portfolio equals a recomputation from every
stored day; gaps stop the run; rerunning an earlier day recomputes the days after it.

Validation is exercised elsewhere: here the synthetic files are typed straight into
``lake/raw`` and the real ``age_loans`` stage runs day by day on them.
"""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from loanrisk.domain.history import DAY_COLUMNS, STATE_SCHEMA, state_from_history
from loanrisk.lake.storage import lake_of, read_json, write_partition
from loanrisk.pipeline.aging_stage import rebuild_later_days
from loanrisk.pipeline.registry import DayRun
from loanrisk.pipeline.runner import run_step
from loanrisk.quality.contracts import load_contract

pytestmark = pytest.mark.slow

START, DAYS = dt.date(2026, 3, 1), 90


def age_loans(day, settings, allow_gap=False):
    """The age_loans step for one day, as the pipeline runs it."""
    return run_step("age_loans", day, settings, DayRun(allow_gap=allow_gap))


def day(n: int) -> dt.date:
    return START + dt.timedelta(days=n)


def stage_raw(settings, n: int) -> None:
    lake = lake_of(settings)
    contract = load_contract(settings.contracts_dir, "loan_snapshot")
    landing = lake.landing_file(contract.landing_file_name(day(n).isoformat()))
    frame = pl.read_csv(landing, schema=contract.polars_schema).sort("loan_id")
    write_partition(frame, lake.partition("raw", "loan_snapshot", day(n)), lake.scratch)


@pytest.fixture(scope="module")
def chain(tmp_path_factory, config_dir):
    from loanrisk.config import load_settings
    from loanrisk.synth import generate

    settings = load_settings(config_dir, tmp_path_factory.mktemp("chain") / "data")
    generate(START, DAYS, 1500, 11, settings.landing_dir, config_dir)
    for n in range(DAYS):
        stage_raw(settings, n)
        age_loans(day(n), settings)
    return settings


def stored(settings, table: str, n: int) -> pl.DataFrame:
    return pl.read_parquet(lake_of(settings).partition_file("curated", table, day(n)))


def assert_chain_matches_scratch(settings, first: int = 0) -> None:
    window = settings.classification.history.window_days
    history = pl.scan_parquet(
        lake_of(settings).table_glob("curated", "loan_aging"), hive_partitioning=False
    ).select("snapshot_date", *DAY_COLUMNS)
    for n in range(first, DAYS):
        scratch = state_from_history(history, day(n), window).collect()
        # the history columns; the probation columns after them are tested in test_probation
        history_columns = stored(settings, "loan_state", n).select(STATE_SCHEMA.names())
        assert history_columns.equals(scratch), f"loan_state {day(n)}"


def test_stored_chain_equals_recomputation_from_every_stored_day(chain):
    assert_chain_matches_scratch(chain)
    last = stored(chain, "loan_state", DAYS - 1)
    # the portfolio is rich enough for the check to mean something
    assert last.filter(pl.col("loan_episodes_12m") >= 2).height > 0
    assert last["cure_date"].is_not_null().sum() > 10
    assert last.filter(~pl.col("in_snapshot")).height > 0
    aging = stored(chain, "loan_aging", DAYS - 1)
    assert aging["episodes_12m"].null_count() == aging["max_dpd_12m"].null_count() == 0
    assert (aging["max_dpd_12m"] >= aging["dpd"]).all()


def test_missing_previous_day_stops_unless_the_gap_is_allowed(chain, tmp_path, config_dir):
    from loanrisk.config import load_settings
    from loanrisk.errors import HistoryGapError

    settings = load_settings(config_dir, tmp_path / "gap")
    lake = lake_of(settings)
    for n in (0, 2):
        source = lake_of(chain).partition_file("raw", "loan_snapshot", day(n))
        frame = pl.read_parquet(source)
        write_partition(frame, lake.partition("raw", "loan_snapshot", day(n)), lake.scratch)
    age_loans(day(0), settings)
    with pytest.raises(HistoryGapError, match=r"backfill --start 2026-03-02 --end 2026-03-03"):
        age_loans(day(2), settings)
    report = age_loans(day(2), settings, allow_gap=True)
    assert report.history.model_dump() == {
        "previous_state_date": day(0).isoformat(),
        "starts_history": False,
        "gap_allowed": True,
    }


def test_rerunning_an_earlier_day_recomputes_the_days_after_it(chain):
    n = 60
    lake = lake_of(chain)
    raw = lake.partition_file("raw", "loan_snapshot", day(n))
    original = pl.read_parquet(raw)
    current = original.filter(
        (pl.col("account_status") == "ACTIVE") & pl.col("oldest_unpaid_due_date").is_null()
    )["loan_id"][0]
    # a corrected file: this loan was in fact 20 days past due that day
    corrected = original.with_columns(
        pl.when(pl.col("loan_id") == current)
        .then(pl.lit(day(n) - dt.timedelta(days=20)))
        .otherwise(pl.col("oldest_unpaid_due_date"))
        .alias("oldest_unpaid_due_date"),
        pl.when(pl.col("loan_id") == current)
        .then(pl.lit(100).cast(pl.Decimal(18, 2)))
        .otherwise(pl.col("overdue_principal"))
        .alias("overdue_principal"),
    )
    write_partition(corrected, raw.parent, lake.scratch)
    age_loans(day(n), chain)
    recomputed = rebuild_later_days(lake, chain, day(n))
    assert recomputed, "a changed day must recompute the days after it"
    assert recomputed[0] == day(n + 1).isoformat()
    rebuilt = read_json(lake.stage_report(day(n + 1), "age_loans"))
    assert rebuilt["output"]["sha256"] == _sha(lake, n + 1)
    assert_chain_matches_scratch(chain, first=n)
    later = stored(chain, "loan_state", n + 1).filter(pl.col("loan_id") == current)
    assert later["episode_start_dates_12m"][0].to_list()[-1] in (day(n), day(n + 1))


def _sha(lake, n: int) -> str:
    from loanrisk.lake.storage import sha256_file

    return sha256_file(lake.partition_file("curated", "loan_aging", day(n)))
