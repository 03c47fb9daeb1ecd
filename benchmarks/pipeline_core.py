"""The pipeline's side of the shared core work (see ``benchmarks.baselines``).

* ``published``: the pipeline's results read back from a data_root after the two days ran:
  ``lake/curated/loan_aging``, the ``roll_rates`` view of ``warehouse.duckdb`` (day 2) and
  ``collections_queue`` (channel) + ``collections_suppressed`` (reason).
* ``core``: the same work done in memory by the pipeline's own functions, with no validation,
  no scoring and no writing: ``casting.read_landing`` (the contract's typing), ``aging.loan_aging``,
  ``history.advance_state``, ``collections.collections_borrowers`` + ``classify_borrowers``,
  and ``marts.roll_rates_sql`` in DuckDB over the two aged days. This is what the baselines'
  times are compared with; the stages' own times (which also validate with GX, quarantine,
  score and write) are reported beside it.
"""

from __future__ import annotations

import datetime as dt
import time

import duckdb
import polars as pl

from loanrisk.config import Settings
from loanrisk.domain.aging import five_category, ifrs9_stage, loan_aging
from loanrisk.domain.collections import classify_borrowers, collections_borrowers
from loanrisk.domain.feeds import LOANS
from loanrisk.domain.history import DAY_COLUMNS, advance_state
from loanrisk.domain.marts import roll_rates_sql
from loanrisk.lake.storage import lake_of
from loanrisk.lake.warehouse import connect_warehouse
from loanrisk.quality.casting import read_landing
from loanrisk.quality.contracts import load_contract

ROLL_COLUMNS = "from_bucket, to_bucket, loans, balance"


def _roll_rates(con: duckdb.DuckDBPyConnection, day2: dt.date) -> pl.DataFrame:
    sql = f"SELECT {ROLL_COLUMNS} FROM ({roll_rates_sql()}) WHERE snapshot_date = ?"
    return pl.from_arrow(con.sql(sql, params=[day2]).to_arrow_table())


def _disposition(queue: pl.DataFrame, suppressed: pl.DataFrame) -> pl.DataFrame:
    columns = ("snapshot_date", "borrower_id", "borrower_dpd", "borrower_overdue", "loans")
    return pl.concat(
        [
            queue.select(*columns, pl.col("channel").alias("disposition")),
            suppressed.select(*columns, pl.col("reason").alias("disposition")),
        ]
    )


def published(settings: Settings, day1: dt.date, day2: dt.date) -> dict[str, pl.DataFrame]:
    """The pipeline's published results of the two days, as ``RESULT_COLUMNS`` tables."""
    lake = lake_of(settings)

    def read(table: str) -> pl.DataFrame:
        files = [lake.partition_file("curated", table, d) for d in (day1, day2)]
        return pl.concat([pl.read_parquet(f) for f in files], how="vertical_relaxed")

    with connect_warehouse(lake) as con:
        sql = f"SELECT {ROLL_COLUMNS} FROM roll_rates WHERE snapshot_date = ?"
        roll = pl.from_arrow(con.sql(sql, params=[day2]).to_arrow_table())
    # The shared core is the dpd rules: the baselines implement neither the PD rule that
    # score_loans adds to the published stage nor upgrade probation, so both sides are compared
    # on the rules' class and stage, recomputed from the published columns.
    policy = settings.classification
    aging = read("loan_aging").with_columns(five_category(policy), ifrs9_stage(policy))
    return {
        "aging": aging,
        "roll_rates": roll,
        "channels": _disposition(read("collections_queue"), read("collections_suppressed")),
    }


def query_roll_rates(settings: Settings, day2: dt.date) -> pl.DataFrame:
    """The day's roll-rate matrix as a BI tool gets it: the ``roll_rates`` view of the
    warehouse (the pipeline computes no roll-rate table of its own; the view is the mart)."""
    with connect_warehouse(lake_of(settings)) as con:  # file_search_path at the data_root
        sql = "SELECT * FROM roll_rates WHERE snapshot_date = ?"
        return pl.from_arrow(con.sql(sql, params=[day2]).to_arrow_table())


def _aged(snapshot: pl.DataFrame, state: pl.DataFrame | None, day: dt.date, settings: Settings):
    policy = settings.classification
    rules = loan_aging(snapshot.lazy(), policy).collect()
    prior = None if state is None else state.lazy()
    state = advance_state(
        prior, rules.lazy().select(DAY_COLUMNS), day, policy.history.window_days
    ).collect()
    history = state.filter("in_snapshot").select("loan_id", "episodes_12m", "max_dpd_12m")
    aged = rules.drop("episodes_12m", "max_dpd_12m").join(history, on="loan_id", how="left")
    return aged, state


def _channels(aged: pl.DataFrame, snapshot: pl.DataFrame, settings: Settings) -> pl.DataFrame:
    risk = aged.select("loan_id", pl.lit(None, pl.Float64).alias("pd_12m")).lazy()
    rules = settings.risk.collections.rules
    borrowers = collections_borrowers(aged.lazy(), snapshot.lazy(), risk, rules.queue_min_dpd)
    classified = classify_borrowers(borrowers, rules).collect()
    return classified


def core(settings: Settings, day1: dt.date, day2: dt.date) -> dict:
    """The shared core work by the pipeline's own functions, in memory (module docstring);
    ``parse_wall_s``: the part spent reading and typing the two CSVs (all 35 contract columns,
    with the contract's format checks; the baselines read only the 13 columns they need)."""
    contract = load_contract(settings.contracts_dir, LOANS)
    lake, state = lake_of(settings), None
    agings, channels, parse_s = [], [], 0.0
    for day in (day1, day2):
        path = lake.landing_file(contract.landing_file_name(day.isoformat()))
        started = time.perf_counter()
        typed = read_landing(path, contract, settings.pipeline.input_encoding)
        snapshot = typed.select(contract.column_names)
        parse_s += time.perf_counter() - started
        aged, state = _aged(snapshot, state, day, settings)
        agings.append(aged)
        channels.append(_channels(aged, snapshot, settings))
    with duckdb.connect() as con:
        con.register(
            "loan_aging",
            pl.concat(agings).select(
                "snapshot_date", "loan_id", "aging_bucket", "outstanding_principal"
            ),
        )
        roll = _roll_rates(con, day2)
    return {
        "aging": pl.concat(agings),
        "roll_rates": roll,
        "channels": pl.concat(channels),
        "parse_wall_s": round(parse_s, 3),
    }
