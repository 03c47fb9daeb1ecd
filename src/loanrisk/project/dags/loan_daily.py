"""loan_daily: one business day of the loanrisk pipeline.

Runs once a day for the business date ``ds``: the data interval [D 00:00, D+1 00:00) UTC, so
the run for D starts at 00:00 UTC on D+1 (08:00 Asia/Shanghai), after the lending core's
end-of-day extract of D has landed.
Every task is one step of the registry (``loanrisk.pipeline.registry``), named as the step and
run by the same ``run_step`` as ``loanrisk run``; ``ingest`` and ``validate`` are mapped over the
feeds, the shard steps over the shards. XCom carries only the shard numbers and the later days
``recompute_later_days`` rebuilt (which ``finalize_run`` and ``build_report`` publish again).
Set ``data_root`` / ``config_dir`` in the run conf to point a run elsewhere than the
configured defaults.

Operations (timings in the ``airflow:`` block of ``config/pipeline.yaml``):

* ``wait_for_loans_file`` waits for ``landing/loans_<ds>.csv`` (or ``.parquet``) in reschedule
  mode (no worker slot held) and fails, naming the file, when it has not come in time;
* a failed task appends an alert to ``runs/<ds>/alerts.jsonl`` (``on_task_failure``), and so does
  a run still unfinished ``run_deadline_hours`` after it was queued (a ``DeadlineAlert``);
* each step's published tables are Airflow Assets (``loanrisk://lake/curated/<table>``, ...)
  that downstream DAGs can be scheduled on; ``loanrisk://runs/published`` marks a published day;
* ``age_loans`` depends on the past: a day's delinquency history needs the day before;
* ``validate``, ``age_loans``, ``compute_signals``, ``score_loans`` and ``build_collections``
  combine the parts of their mapped shard tasks (one per shard of ``shards: K`` in
  ``execution.yaml``, by borrower, K decided at ingest; ``validate_shard`` per feed and shard;
  with K = 1 the shard tasks have nothing to do and the combine step computes the whole book,
  see ``loanrisk.lake.shards``).
"""

from __future__ import annotations

import datetime as dt

from airflow.sdk import CronDataIntervalTimetable, Param, dag, task

from loanrisk.airflow.dag_defaults import DAG_SETTINGS, lake_params, late_run_alert
from loanrisk.domain.feeds import FEEDS
from loanrisk.pipeline.orchestration import airflow_policy, outlets, run_pool, run_task

POLICY = airflow_policy()


@dag(
    dag_id="loan_daily",
    # One run per UTC day D, started once D has ended; ds = D is the business date.
    schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
    **DAG_SETTINGS,
    params=lake_params(
        accept_gates=Param(
            {}, type="object", description='gates to accept: {"GATE_NAME": "reason"}'
        ),
        allow_gap=Param(
            False, type="boolean", description="continue history across unprocessed days"
        ),
    ),
    deadline=late_run_alert("loan_daily", POLICY.run_deadline_hours),
    tags=["loanrisk", "daily"],
    doc_md=__doc__,
)
def loan_daily():
    @task.sensor(
        mode="reschedule",
        poke_interval=POLICY.landing_poke_interval_seconds,
        timeout=dt.timedelta(hours=POLICY.landing_timeout_hours),
        soft_fail=False,
    )
    def wait_for_loans_file(ds=None, params=None) -> bool:
        from loanrisk.airflow.sensors import poke_landing_file

        return poke_landing_file(ds, params)

    @task(pool=run_pool("ingest"))
    def ingest(feed: str, ds=None, params=None) -> None:
        run_task("ingest", ds, params, feed=feed)

    @task(pool=run_pool("validate_shard"))
    def validate_shard(feed: str, shard: int, ds=None, params=None) -> None:
        run_task("validate_shard", ds, params, feed=feed, shard=shard)

    @task(pool=run_pool("validate"))
    def validate(feed: str, ds=None, params=None) -> None:
        run_task("validate", ds, params, feed=feed)

    @task
    def shard_numbers(ds=None, params=None) -> list[int]:
        from loanrisk.pipeline.orchestration import shard_numbers

        return shard_numbers(ds, params)

    @task(pool=run_pool("age_loans_shard"))
    def age_loans_shard(shard: int, ds=None, params=None) -> None:
        run_task("age_loans_shard", ds, params, shard=shard)

    @task(outlets=outlets("age_loans"), depends_on_past=True, pool=run_pool("age_loans"))
    def age_loans(ds=None, params=None) -> None:
        run_task("age_loans", ds, params)

    @task(pool=run_pool("compute_signals_shard"))
    def compute_signals_shard(shard: int, ds=None, params=None) -> None:
        run_task("compute_signals_shard", ds, params, shard=shard)

    @task(outlets=outlets("compute_signals"), pool=run_pool("compute_signals"))
    def compute_signals(ds=None, params=None) -> None:
        run_task("compute_signals", ds, params)

    @task(pool=run_pool("score_loans_shard"))
    def score_loans_shard(shard: int, ds=None, params=None) -> None:
        run_task("score_loans_shard", ds, params, shard=shard)

    @task(outlets=outlets("score_loans"), pool=run_pool("score_loans"))
    def score_loans(ds=None, params=None) -> None:
        run_task("score_loans", ds, params)

    @task(outlets=outlets("build_regulatory"), pool=run_pool("build_regulatory"))
    def build_regulatory(ds=None, params=None) -> None:
        run_task("build_regulatory", ds, params)

    @task(pool=run_pool("build_collections_shard"))
    def build_collections_shard(shard: int, ds=None, params=None) -> None:
        run_task("build_collections_shard", ds, params, shard=shard)

    @task(outlets=outlets("build_collections"), pool=run_pool("build_collections"))
    def build_collections(ds=None, params=None) -> None:
        run_task("build_collections", ds, params)

    @task(pool=run_pool("recompute_later_days"))
    def recompute_later_days(ds=None, params=None) -> list[str]:
        return run_task("recompute_later_days", ds, params)

    @task(outlets=outlets("publish_warehouse"), pool=run_pool("publish_warehouse"))
    def publish_warehouse(ds=None, params=None) -> None:
        run_task("publish_warehouse", ds, params)

    @task(outlets=outlets("finalize_run"), pool=run_pool("finalize_run"))
    def finalize_run(recomputed: list[str], ds=None, params=None) -> None:
        run_task("finalize_run", ds, params, recomputed)

    @task(outlets=outlets("build_report"), pool=run_pool("build_report"))
    def build_report(recomputed: list[str], ds=None, params=None) -> None:
        run_task("build_report", ds, params, recomputed)

    feeds = list(FEEDS)
    staged = ingest.expand(feed=feeds)
    wait_for_loans_file() >> staged
    shards = shard_numbers()  # 0 .. K-1 (the day's K, recorded at ingest); one task each below
    staged >> shards
    validated = validate_shard.expand(feed=feeds, shard=shards) >> validate.expand(feed=feeds)
    aged = validated >> age_loans_shard.expand(shard=shards) >> age_loans()
    signals = validated >> compute_signals_shard.expand(shard=shards) >> compute_signals()
    scoring = score_loans_shard.expand(shard=shards)
    [aged, signals] >> scoring
    scored = scoring >> score_loans()
    collections = scored >> build_collections_shard.expand(shard=shards) >> build_collections()
    extracts = [scored >> build_regulatory(), collections]
    recomputed = recompute_later_days()
    extracts >> recomputed
    published = finalize_run(recomputed)
    recomputed >> publish_warehouse() >> published
    published >> build_report(recomputed)


DAG = loan_daily()  # a module global too: the shim of `loanrisk init` imports it
