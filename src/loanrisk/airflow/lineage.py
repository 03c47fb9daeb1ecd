"""OpenLineage datasets of the loanrisk tasks: an extractor for the OpenLineage provider.

The DAGs' Assets keep their logical ``loanrisk://`` URIs (``orchestration.outlets``): downstream
DAGs schedule on them (README, ``asset("published")``) and they must not change when a run's
conf points it at another data_root. The provider drops them (it has no converter for the
scheme), and a converter would not help: it is handed the Asset, never the run, so it cannot
know where the run wrote. This extractor can: at the end of a task (its COMPLETE or FAIL event)
the provider hands it the task instance, whose params name the run's ``data_root`` and
``config_dir``. The task's reads and writes are the step's (``loanrisk.pipeline.lineage``, the
same derivation as the data catalog, one feed's tables for a per-feed task), each an OpenLineage
file dataset: namespace ``file://<host>`` (the worker's hostname as Airflow reports it), name
the absolute path (a table's folder, so a lineage tool links the same table across runs).

Registered through the provider's ``[openlineage] extractors`` option: environment variable
``AIRFLOW__OPENLINEAGE__EXTRACTORS=loanrisk.airflow.lineage.StepExtractor`` (``airflow_local``'s
``airflow_env`` sets it; a deployment sets it beside its transport). A START event carries no
datasets: the provider calls the extractor without the task instance then, so the run's
data_root is not known. Tasks of other DAGs get what the provider gives a ``@task`` without an
extractor.
"""

from __future__ import annotations

import socket

from airflow.providers.openlineage.extractors.base import BaseExtractor, OperatorLineage

DAG_IDS = frozenset({"loan_daily", "loan_monthly"})
EXTRACTOR = f"{__name__}.StepExtractor"
#: What the sensors (glue, not registry steps) wait on: the day's loan snapshot in landing, the
#: published days' run manifests.
SENSOR_READS = {
    "wait_for_loans_file": ("landing", "loan_snapshot"),
    "wait_for_month_end": ("runs", "published"),
}


def task_uses(task_id: str, feed: str | None = None) -> frozenset[tuple[str, tuple[str, str]]]:
    """("read" | "write", (zone, table)) of a loanrisk task (none for ``shard_numbers``)."""
    from loanrisk.pipeline import lineage
    from loanrisk.pipeline.registry import STEPS

    if task_id in SENSOR_READS:
        return frozenset({("read", SENSOR_READS[task_id])})
    if task_id not in STEPS:
        return frozenset()
    return lineage.task_uses(STEPS[task_id], feed)


def task_datasets(uses, params, ds: str, host: str) -> tuple[list, list]:
    """(inputs, outputs): ``uses`` as OpenLineage file datasets under the run's data_root,
    sorted by path (a path read and written is in both). What is not there was neither read
    nor written by this run: left out (``reg_credit_report`` before its first reporting day)."""
    from openlineage.client.event_v2 import Dataset

    from loanrisk.lake.storage import lake_of
    from loanrisk.pipeline.lineage import dataset_path
    from loanrisk.pipeline.orchestration import parse_business_date, settings_of

    settings = settings_of(params)
    lake, day = lake_of(settings), parse_business_date(ds)
    found: dict[str, set[str]] = {"read": set(), "write": set()}
    for kind, where in uses:
        path = dataset_path(lake, where, day, settings.contracts_dir)
        if path.exists():
            found[kind].add(str(path))
    namespace = f"file://{host}"
    inputs, outputs = ([Dataset(namespace, path) for path in sorted(found[k])] for k in found)
    return inputs, outputs


class StepExtractor(BaseExtractor):
    """Inputs and outputs of the loanrisk DAGs' ``@task`` and ``@task.sensor`` tasks."""

    @classmethod
    def get_operator_classnames(cls) -> list[str]:
        return ["_PythonDecoratedOperator", "DecoratedSensorOperator"]

    def _execute_extraction(self) -> OperatorLineage:
        return OperatorLineage()  # START: no task instance, so no data_root (module doc)

    def extract_on_complete(self, task_instance) -> OperatorLineage:
        if self.operator.dag_id not in DAG_IDS:
            return OperatorLineage()  # the provider goes on to hook lineage, inlets/outlets
        feed = (getattr(self.operator, "op_kwargs", None) or {}).get("feed")
        uses = task_uses(self.operator.task_id, feed)
        if not uses:
            return OperatorLineage()
        context = task_instance.get_template_context()
        host = getattr(task_instance, "hostname", None) or socket.gethostname()
        inputs, outputs = task_datasets(uses, context["params"], context["ds"], host)
        return OperatorLineage(inputs=inputs, outputs=outputs)
