"""The month-end steps of ``loan_monthly`` (DESIGN.md §11), run for the month-end day (the
month's last published business day) through the same ``run_step`` as the daily steps. None of
them stops the day: the month-end day stays published whatever happens here.
"""

from __future__ import annotations

import datetime as dt

from loanrisk.config import Settings
from loanrisk.lake import records
from loanrisk.lake.records import write_record
from loanrisk.lake.storage import lake_of
from loanrisk.pipeline import monthly
from loanrisk.pipeline.registry import DayRun
from loanrisk.pipeline.regulatory_stage import regulatory_day


def rebuild_regulatory(
    business_date: dt.date, settings: Settings, run: DayRun
) -> records.Regulatory:
    """The month-end day's regulatory tables and extracts again (five-category, IFRS 9 and
    the credit-bureau report of the month), so a corrected day or policy is reported."""
    lake = lake_of(settings)
    built = regulatory_day(lake, settings, settings.risk.regulatory, business_date)
    result = records.Regulatory.model_validate({"reports": built})
    return write_record(lake, business_date, "rebuild_regulatory", result)


def score_monitoring_summary(business_date: dt.date, settings: Settings, run: DayRun) -> str:
    """``reports/YYYY-MM/monitoring.json``: the month's score stability, day by day."""
    return str(monthly.monitoring_summary(settings, business_date))


def refit_scorecard(business_date: dt.date, settings: Settings, run: DayRun) -> dict:
    """A candidate scorecard fitted on the stored history into ``<data_root>/models``."""
    return monthly.refit(settings, business_date)
