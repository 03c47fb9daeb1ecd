"""The steps: read -> pure transform -> write, one function per entry of the step registry
(``loanrisk.pipeline.registry``), each run through ``loanrisk.pipeline.runner.run_step`` by the
CLI, ``run_day`` and the Airflow DAGs alike."""
