"""Entry point: build ``reports/D/risk_report.html`` from the warehouse, atomically."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from loanrisk.domain.classification import ClassificationConfig
from loanrisk.domain.scorecard import Stability
from loanrisk.lake.storage import Lake, write_bytes_atomic
from loanrisk.report.data import load_report_data
from loanrisk.report.page import render


def docs_link(lake: Lake, business_date: dt.date) -> str:
    """Relative URL from the report's folder to the GX Data Docs index (works offline)."""
    target = lake.data_docs_index
    return Path(os.path.relpath(target, lake.report_dir(business_date))).as_posix()


def build_risk_report(
    lake: Lake,
    business_date: dt.date,
    stability: Stability,
    classification: ClassificationConfig,
) -> Path:
    """Render the day's risk report (PSI and CSI read by ``stability``, the scorecard's policy;
    aging buckets listed in ``classification``'s order); the same warehouse contents and
    policies give the same bytes."""
    data = load_report_data(lake, business_date, stability, classification)
    page = render(data, docs_link(lake, business_date))
    return write_bytes_atomic(page.encode("utf-8"), lake.risk_report(business_date))
