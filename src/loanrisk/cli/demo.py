"""``loanrisk demo``: a synthetic book, a backfill, the last day through Airflow, a summary."""

from __future__ import annotations

import datetime as dt
import time

from rich.console import Console
from rich.table import Table

from loanrisk.config import Settings
from loanrisk.lake.storage import lake_of
from loanrisk.lake.summary import day_summary
from loanrisk.pipeline.batch import backfill

DEMO_START = dt.date(2026, 8, 1)


def print_day_summary(console: Console, settings: Settings, day: dt.date) -> None:
    figures = day_summary(lake_of(settings), day)
    console.print(
        f"\n[bold]{day}[/]: {figures['active_loans']:,} active loans, "
        f"balance CNY {figures['active_balance']:,.2f}, NPL ratio {figures['npl_ratio']:.2%}, "
        f"{figures['written_off_today']} written off and {figures['closed_today']} closed today"
    )
    if figures.get("ecl") is not None:
        console.print(
            f"IFRS 9 ECL CNY {figures['ecl']:,.2f} on EAD CNY {figures['ead']:,.2f} "
            f"(coverage {figures['ecl'] / figures['ead']:.2%})"
        )
    order = settings.classification.bucket_names
    table = Table("aging_bucket", "loans", "outstanding (CNY)", "share of loans")
    total = sum(loans for _, loans, _ in figures["buckets"]) or 1
    for name, loans, balance in sorted(figures["buckets"], key=lambda b: order.index(b[0])):
        table.add_row(name, f"{loans:,}", f"{balance:,.2f}", f"{loans / total:.1%}")
    console.print(table)


def demo(settings: Settings, loans: int, days: int, seed: int) -> None:
    """Synthetic book -> backfill all days but the last -> last day through Airflow -> summary."""
    from loanrisk.airflow.airflow_local import run_dag_test
    from loanrisk.synth import generate

    console = Console(soft_wrap=True)
    lake = lake_of(settings)
    end = DEMO_START + dt.timedelta(days=days - 1)
    console.print(f"synth: {loans:,} loans x {days} days into {settings.landing_dir}")
    started = time.perf_counter()
    generate(DEMO_START, days, loans, seed, settings.landing_dir, settings.config_dir)
    console.print(f"synth: done in {time.perf_counter() - started:.1f}s")
    if days > 1:
        backfill(settings, DEMO_START, end - dt.timedelta(days=1), console)
    console.print(f"airflow: running loan_daily for {end} with dag.test() (SQLite metadata)")
    started = time.perf_counter()
    run_dag_test(end, settings)
    console.print(f"airflow: loan_daily {end} succeeded in {time.perf_counter() - started:.1f}s")
    print_day_summary(console, settings, end)
    console.print("\n[bold]Where everything is[/]")
    for label, path in (
        ("landing files", settings.landing_dir),
        ("typed snapshots", lake.table_dir("raw", "loan_snapshot")),
        ("quarantine", lake.table_dir("quarantine")),
        ("loan_aging", lake.table_dir("curated", "loan_aging")),
        ("loan_state", lake.table_dir("curated", "loan_state")),
        ("scores and ECL", lake.table_dir("curated", "loan_risk")),
        ("marts", lake.table_dir("marts")),
        ("extracts", lake.extract_dir("collections", end).parent.parent),
        ("risk report", lake.risk_report(end)),
        ("day's validation", lake.validation_page(end)),
        ("GX Data Docs", lake.data_docs_index),
        ("run manifests", lake.runs_dir),
        ("BI warehouse", lake.warehouse),
        ("Airflow home", lake.airflow_home),
    ):
        console.print(f"  {label:<16} {path}")
    query = "SELECT snapshot_date, aging_bucket, count(*) FROM loan_aging GROUP BY ALL"
    console.print(
        "\nQuery it (the views name the lake relative to the data_root: set file_search_path):"
        f"\n  .venv/bin/python -c \"import duckdb; c = duckdb.connect('{lake.warehouse}', "
        f"read_only=True); c.sql('SET file_search_path = ' + repr('{lake.data_root}')); "
        f"c.sql('{query} ORDER BY ALL DESC LIMIT 10').show()\""
    )
