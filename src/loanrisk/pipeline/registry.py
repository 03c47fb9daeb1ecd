"""The step registry: every step of the pipeline by name, in run order (DESIGN.md §11).

One name per step: the registry key, the function's name (in ``module``) and the Airflow task
id are the same word, and the stage log, ``run_day``, the CLI's ``loanrisk step`` and both DAGs
find a step here. Import-light (no Polars): the DAG files read it when they are parsed; the
function is imported only when the step runs.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from loanrisk.domain.marts import MATERIALIZED
from loanrisk.errors import UsageError

DAILY_MODULE = "loanrisk.pipeline.steps"
MONTHLY_MODULE = "loanrisk.pipeline.month_steps"
CURATED, EXTRACTS = "lake/curated", "extracts"


@dataclass(frozen=True)
class DayRun:
    """What a run of a day was asked for, besides the date; every step is handed it.

    ``accepted``: batch gates the operator accepted (name -> reason); ``allow_gap``: the day may
    continue history from the latest stored day; ``recomputed``: the later days
    ``recompute_later_days`` rebuilt, for the steps that publish them again; ``reason``: why the
    day is rerun, for the restatement history of a manifest it replaces."""

    accepted: Mapping[str, str] = field(default_factory=dict)
    allow_gap: bool = False
    recomputed: tuple[dt.date, ...] = ()
    reason: str | None = None  # why the day is rerun (kept in a restated manifest's history)


@dataclass(frozen=True)
class Step:
    """One step: what it is called, where its function is and how it runs.

    ``per``: the step runs once per day, per feed, per borrower shard or per feed and shard.
    ``locked``: it holds the data_root's run lock (shard steps write only their own part and run
    side by side).
    ``side_by_side``: its parts are independent (each feed's ingest), so ``run_day`` runs them
    at once in worker processes when the day may be sharded, as Airflow's mapped tasks run.
    ``stops_day``: a failure records the day as failed (a month-end rebuild of a published day
    must not). ``assets``: the (zone, table) it publishes, the Airflow Assets of its task.
    ``when``: the run param that must be true for the step to run (else it is skipped)."""

    name: str
    module: str = DAILY_MODULE
    per: Literal["day", "feed", "shard", "feed_shard"] = "day"
    locked: bool = True
    side_by_side: bool = False
    stops_day: bool = True
    assets: tuple[tuple[str, str], ...] = ()
    when: str | None = None  # run only when this run param is true (else skipped)

    @property
    def per_shard(self) -> bool:
        """It runs once per borrower shard (``shard`` or ``feed_shard``)."""
        return self.per in ("shard", "feed_shard")

    @property
    def function(self) -> Callable:
        return getattr(importlib.import_module(self.module), self.name)


DAILY: tuple[Step, ...] = (
    Step("ingest", per="feed", side_by_side=True),
    Step("validate_shard", per="feed_shard", locked=False),
    Step("validate", per="feed"),
    Step("age_loans_shard", per="shard", locked=False),
    Step("age_loans", assets=((CURATED, "loan_aging"), (CURATED, "loan_state"))),
    Step("compute_signals_shard", per="shard", locked=False),
    Step(
        "compute_signals",
        assets=tuple(
            (CURATED, table)
            for table in (
                "borrower_events_daily",
                "borrower_devices",
                "borrower_transaction_windows",
                "loan_pre_due_flows",
                "borrower_signals",
            )
        ),
    ),
    Step("score_loans_shard", per="shard", locked=False),
    Step(
        "score_loans",
        assets=((CURATED, "loan_risk"), (CURATED, "risk_actions"), (CURATED, "score_monitoring")),
    ),
    Step(
        "build_regulatory",
        assets=(
            *(
                (CURATED, table)
                for table in (
                    "reg_five_category",
                    "reg_ifrs9_ecl",
                    "reg_ifrs9_stage_transfers",
                    "reg_write_offs",
                    "reg_credit_report",
                )
            ),
            (EXTRACTS, "regulatory"),
        ),
    ),
    Step("build_collections_shard", per="shard", locked=False),
    Step(
        "build_collections",
        assets=(
            (CURATED, "collections_queue"),
            (CURATED, "collections_suppressed"),
            (CURATED, "collections_movements"),
            (EXTRACTS, "collections"),
        ),
    ),
    Step("recompute_later_days"),
    Step("publish_warehouse", stops_day=False, assets=(("warehouse", "warehouse.duckdb"),)),
    Step(
        "finalize_run",
        assets=(("runs", "published"), *(("lake/marts", table) for table in MATERIALIZED)),
    ),
    Step("build_report", stops_day=False, assets=(("reports", "risk_report"),)),
)

MONTHLY: tuple[Step, ...] = (
    Step("rebuild_regulatory", module=MONTHLY_MODULE, stops_day=False),
    Step("score_monitoring_summary", module=MONTHLY_MODULE, locked=False, stops_day=False),
    Step("refit_scorecard", module=MONTHLY_MODULE, locked=False, stops_day=False, when="refit"),
)

#: Every step by name; ``publish_warehouse`` also runs in loan_monthly, after the rebuild.
STEPS: dict[str, Step] = {step.name: step for step in (*DAILY, *MONTHLY)}


def step(name: str) -> Step:
    try:
        return STEPS[name]
    except KeyError:
        raise UsageError(f"unknown step {name!r}: one of {', '.join(STEPS)}") from None
