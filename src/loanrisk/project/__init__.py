"""The default project shipped in the package: ``config/`` (the policy), ``data_contracts/``
and ``dags/``, laid out as a project folder of ``loanrisk init`` or a checkout is. A run with no
``--config``, no ``$LOANRISK_CONFIG`` and no ``./config`` uses this policy, with its relative
data_root and landing folder taken from the working directory."""
