"""What every regulatory table shares: scanning the source days, totals, the reconciliation of
an extract's control totals with its source, and publishing the curated table with its extract."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import polars as pl

from loanrisk.config import Settings
from loanrisk.domain.regulatory import PORTFOLIO
from loanrisk.errors import ReconciliationError
from loanrisk.lake.extracts import write_extract_files, write_extract_manifest
from loanrisk.lake.storage import Lake, write_table
from loanrisk.lake.tables import conformed, scan_partitions


def extract_kind(report: str) -> str:
    return f"regulatory/{report}"


def scan_days(lake: Lake, zone: str, table: str, days: list[dt.date]) -> pl.LazyFrame:
    """The daily tables a regulatory table reads, written by the stages before it."""
    return scan_partitions(lake, zone, table, days, run="the stages before regulatory")


def contract_select(frame: pl.LazyFrame, settings: Settings, table: str) -> pl.DataFrame:
    return conformed(settings.contracts_dir, table, frame).collect()


def totals_of(frame: pl.LazyFrame, *totals: pl.Expr) -> dict:
    """One row of source totals, as a dict."""
    return frame.select(*totals).collect().row(0, named=True)


def money_text(value: Decimal | None) -> str:
    return f"{Decimal(value or 0):.2f}"


def split_portfolio(frame: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(product rows, portfolio rows) of a report with ``product_code = 'ALL'`` rows."""
    portfolio = pl.col("product_code") == PORTFOLIO
    return frame.filter(~portfolio), frame.filter(portfolio)


def portfolio_totals(frame: pl.DataFrame, columns: dict[str, str]) -> tuple[dict, dict]:
    """``{name: total}`` of the portfolio rows, and the same of the product rows (the expected
    values); ``columns``: name -> "count" or "money"."""
    products, portfolio = split_portfolio(frame)

    def total(rows: pl.DataFrame, name: str) -> int | str:
        value = rows[name].sum()
        return int(value) if columns[name] == "count" else money_text(value)

    return (
        {f"portfolio_{n}": total(portfolio, n) for n in columns},
        {f"portfolio_{n}": total(products, n) for n in columns},
    )


def check_totals(report: str, totals: dict, source: dict) -> dict:
    """Raise unless every source total equals the extract's total of the same name."""
    for name, expected in source.items():
        if totals[name] != expected:
            raise ReconciliationError(report, name, totals[name], expected)
    return {**totals, "reconciled_with_source": sorted(source)}


def publish_reconciled(
    lake: Lake,
    settings: Settings,
    report: str,
    day: dt.date,
    frames: dict[str, pl.DataFrame],
    totals: dict,
    source_days: list[dt.date],
) -> dict:
    """Curated partitions, then the extract files and their manifest."""
    written, files = {}, []
    for table, frame in frames.items():
        written[table] = write_table(lake, "curated", table, day, frame)
        files += write_extract_files(lake, extract_kind(report), day, table, frame)
    manifest = write_extract_manifest(
        lake, settings, extract_kind(report), day, files, totals, source_days
    )
    return {"outputs": written, "manifest": manifest["path"], "control_totals": totals}
