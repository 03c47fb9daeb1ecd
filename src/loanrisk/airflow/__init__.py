"""Airflow glue: DAG defaults, sensors, alert callbacks and the local ``dag.test`` runner. The
DAG files in ``dags/`` import only this package and ``loanrisk.pipeline.orchestration``."""
