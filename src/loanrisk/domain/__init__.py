"""Pure rules: delinquency aging, history, classification, staging, scoring, ECL, signals,
collections and the regulatory tables, as Polars expressions and frames, with the policy models
they read. No I/O beyond loading a policy file; imports nothing else of loanrisk but errors."""
