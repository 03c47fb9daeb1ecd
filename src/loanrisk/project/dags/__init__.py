"""The loanrisk DAGs (``loan_daily``, ``loan_monthly``): Airflow's dags_folder may point here,
or at a project's ``dags/`` holding the shim ``loanrisk init`` writes."""
