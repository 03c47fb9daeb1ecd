"""The steps: read -> pure transform -> write, one function per step in the step registry
(``loanrisk.pipeline.steps``), called the same way by the CLI and the Airflow DAGs."""
