"""The ``age_loans`` stage: valid snapshot + previous day's ``loan_state`` -> ``loan_aging`` and
today's ``loan_state`` (DESIGN.md §5).

History is a chain: a day's state needs the previous processed day's. The first day processed
in a data_root starts the chain; a missing previous day stops the run (``HISTORY_GAP``) unless
the operator allows the gap. After a rerun of an earlier day, ``rebuild_later_days`` rebuilds
the stored days after it, in order, from their validated snapshots, until a day comes out
unchanged (the ``recompute_later_days`` step, after the day's last computation).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl

from loanrisk.config import Settings
from loanrisk.domain.aging import is_npl, loan_aging
from loanrisk.domain.feeds import LOANS
from loanrisk.domain.history import DAY_COLUMNS, advance_state
from loanrisk.domain.ordering import sorted_by
from loanrisk.domain.probation import carried_probation, probation_state, with_probation
from loanrisk.errors import HistoryGapError, InputFileError
from loanrisk.lake import records
from loanrisk.lake.runs import write_run_manifest
from loanrisk.lake.shards import (
    Shard,
    combine_parts,
    drop_parts,
    in_shard,
    input_fingerprints,
    own_rows,
    write_part,
)
from loanrisk.lake.storage import Lake, partition_sha256, read_json, write_table
from loanrisk.pipeline.collections_stage import collections_day
from loanrisk.pipeline.regulatory_stage import regulatory_day
from loanrisk.pipeline.risk_stage import score_day
from loanrisk.pipeline.validation_shards import raw_table
from loanrisk.quality.contracts import load_contract

STATE, AGING = "loan_state", "loan_aging"


def previous_state_date(lake: Lake, business_date: dt.date, allow_gap: bool) -> dt.date | None:
    """The processed day whose state today's builds on: the day before, or with ``allow_gap``
    the latest stored one before it; None when today starts the history."""
    earlier = [d for d in lake.partition_dates("curated", STATE) if d < business_date]
    if not earlier:
        return None
    latest, yesterday = earlier[-1], business_date - dt.timedelta(days=1)
    if latest != yesterday and not allow_gap:
        missing = lake.relative(lake.partition("curated", STATE, yesterday))
        raise HistoryGapError(missing, business_date, latest)
    return latest


def aging_inputs(lake: Lake, business_date: dt.date, previous: dt.date | None) -> list[Path]:
    """The files a day's aging reads: the valid snapshot and the previous day's state."""
    source = lake.partition_file("raw", LOANS, business_date)
    if not source.exists():
        raise InputFileError(f"{lake.relative(source)}: not validated yet; run validate first")
    sources = lake.partition_files("raw", LOANS, business_date)
    if previous is None:
        return sources
    return [*sources, *lake.partition_files("curated", STATE, previous)]


def aged_day(
    lake: Lake,
    settings: Settings,
    business_date: dt.date,
    previous: dt.date | None,
    shard: Shard | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read the day's valid snapshot and the previous state (of ``shard``'s borrowers only,
    when given); return (loan_aging, loan_state)."""
    aging_inputs(lake, business_date, previous)  # the day is validated
    policy = settings.classification
    source = lake.scan("raw", LOANS, business_date)
    source = own_rows(lake, source, ("raw", LOANS, business_date), raw_table(LOANS), shard)
    rules = loan_aging(source, policy).collect()
    before = lake.scan("curated", STATE, previous) if previous else None
    prior = in_shard(before, shard) if before is not None else None
    history_state = advance_state(
        prior, rules.lazy().select(DAY_COLUMNS), business_date, policy.history.window_days
    )
    held = with_probation(rules.lazy(), carried_probation(prior), policy)
    held = held.with_columns(is_npl(policy)).collect()
    state = history_state.join(
        probation_state(held.lazy()), on="loan_id", how="left", maintain_order="left"
    ).collect()
    history = state.filter("in_snapshot").select("loan_id", "episodes_12m", "max_dpd_12m")
    joined = held.drop("episodes_12m", "max_dpd_12m").join(history, on="loan_id", how="left")
    contract = load_contract(settings.contracts_dir, AGING)
    aged = sorted_by(contract.conform(joined.lazy()).collect(), "loan_id")
    return aged, state


def age_day(
    lake: Lake, settings: Settings, business_date: dt.date, previous: dt.date | None
) -> dict:
    """Compute and write one day's loan_aging and loan_state; return the stage report."""
    aged, state = aged_day(lake, settings, business_date, previous)
    return _write_aged(lake, business_date, previous, aged, state)


def age_shard(
    lake: Lake, settings: Settings, business_date: dt.date, previous: dt.date | None, shard: Shard
) -> dict:
    """Compute one shard's part of the day's loan_aging and loan_state
    (``loanrisk.lake.shards``)."""
    aged, state = aged_day(lake, settings, business_date, previous, shard)
    inputs = input_fingerprints(lake, aging_inputs(lake, business_date, previous))
    return {
        "shard": shard.label,
        "rows_out": aged.height,
        "output": write_part(lake, AGING, business_date, shard, aged, inputs),
        "state": write_part(lake, STATE, business_date, shard, state, inputs),
    }


def combine_aging(lake: Lake, business_date: dt.date, previous: dt.date | None, count: int) -> dict:
    """Publish the day's loan_aging and loan_state from the parts of ``count`` shards."""
    inputs = input_fingerprints(lake, aging_inputs(lake, business_date, previous))
    output = combine_parts(lake, AGING, business_date, count, inputs, ["loan_id"])
    state = combine_parts(lake, STATE, business_date, count, inputs, ["loan_id"])
    drop_parts(lake, STATE, business_date)  # loan_aging's are kept for scoring's shards
    history = _history(business_date, previous)
    return {"rows_out": output["rows"], "output": output, "state": state, "history": history}


def _write_aged(
    lake: Lake,
    business_date: dt.date,
    previous: dt.date | None,
    aged: pl.DataFrame,
    state: pl.DataFrame,
) -> dict:
    return {
        "rows_out": aged.height,
        "output": write_table(lake, "curated", AGING, business_date, aged),
        "state": write_table(lake, "curated", STATE, business_date, state),
        "history": _history(business_date, previous),
    }


def _history(business_date: dt.date, previous: dt.date | None) -> dict:
    """Where the day's history came from, for the stage report."""
    expected_previous = business_date - dt.timedelta(days=1)
    return {
        "previous_state_date": None if previous is None else previous.isoformat(),
        "starts_history": previous is None,
        "gap_allowed": previous is not None and previous != expected_previous,
    }


#: Tables whose partition shows that a later stage ran for a day, in pipeline order.
DOWNSTREAM = ("loan_risk", "reg_five_category", "collections_queue")


def fingerprints(lake: Lake, business_date: dt.date) -> tuple[str | None, ...]:
    tables = (AGING, STATE, *DOWNSTREAM)
    return tuple(partition_sha256(lake.partition("curated", t, business_date)) for t in tables)


def _rebuilders(settings: Settings) -> tuple:
    """(step name, its record's model, rebuild(lake, day)) for each of DOWNSTREAM."""
    policies = settings.risk
    return (
        ("score_loans", records.Scored, lambda lake, day: score_day(lake, settings, day)),
        (
            "build_regulatory",
            lambda built: records.Regulatory.model_validate({"reports": built}),
            lambda lake, day: regulatory_day(lake, settings, policies.regulatory, day),
        ),
        (
            "build_collections",
            records.Collections,
            lambda lake, day: collections_day(lake, settings, policies.collections, day),
        ),
    )


def _typed(model, report):
    return model.model_validate(report) if isinstance(model, type) else model(report)


def rebuild_later_days(
    lake: Lake, settings: Settings, business_date: dt.date, reason: str | None = None
) -> list[str]:
    """Rebuild each stored day after ``business_date`` from its validated snapshot and the day
    before it, in order (aging and history, then every later step the day had run), until one
    comes out unchanged; each rebuilt day gets fresh step records and, if it was published, a
    fresh manifest. Returns the days rebuilt."""
    later = [d for d in lake.partition_dates("curated", STATE) if d > business_date]
    previous, rebuilt = business_date, []
    for day in later:
        before = fingerprints(lake, day)
        results = {"age_loans": records.Aged.model_validate(age_day(lake, settings, day, previous))}
        for ran, (name, model, rebuild) in zip(before[2:], _rebuilders(settings), strict=True):
            if ran is not None:
                results[name] = _typed(model, rebuild(lake, day))
        if fingerprints(lake, day) == before:
            break
        for name, result in results.items():
            records.write_record(lake, day, name, result)
        manifest = lake.run_manifest(day)
        if manifest.exists() and (old := read_json(manifest)).get("status") == "published":
            why = f"recomputed after {business_date} was rerun" + (f": {reason}" if reason else "")
            write_run_manifest(day, settings, old.get("accepted_gates"), why)
        rebuilt.append(day.isoformat())
        previous = day
    return rebuilt
