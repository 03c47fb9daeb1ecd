"""The daily input feeds, in processing order. Import-light: the DAG file reads it."""

LOANS = "loan_snapshot"
FEEDS = (LOANS, "events", "contacts")
