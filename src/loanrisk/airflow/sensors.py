"""The DAGs' sensors, one poke each: the day's landing file, with its control file when the
configuration requires one (loan_daily), and the month-end day's published run (loan_monthly).
Import-light, like ``loanrisk.pipeline.orchestration``: the DAG files call these from tasks,
and nothing heavy is imported until a poke runs.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from loanrisk.errors import LoanriskError
from loanrisk.pipeline.orchestration import parse_business_date, settings_of

log = logging.getLogger(__name__)


def _landing_file(settings, ds: str) -> Path:
    from loanrisk.domain.feeds import LOANS
    from loanrisk.lake.storage import lake_of
    from loanrisk.quality.contracts import load_contract

    contract = load_contract(settings.contracts_dir, LOANS)
    day = parse_business_date(ds).isoformat()
    return lake_of(settings).landed_file(contract.landing_file_name(day))


def expected_landing_file(ds: str, params: dict | None) -> Path:
    """``<landing>/loans_<ds>.csv``, or the ``.parquet`` beside it when only that one exists."""
    return _landing_file(settings_of(params), ds)


def awaited_files(ds: str, params: dict | None) -> list[Path]:
    """What the day needs in landing before it can run: the loan snapshot (.csv or .parquet)
    and, with ``require_control_file: true``, its control file ``loans_<ds>.done``, which the
    lending core writes last (DESIGN.md §4 v2)."""
    from loanrisk.quality.control_file import control_path

    settings = settings_of(params)
    path = _landing_file(settings, ds)
    if not settings.pipeline.require_control_file:
        return [path]
    return [path, control_path(path)]


def landing_file_ready(ds: str, params: dict | None) -> bool:
    """True when the day's loan snapshot (and its control file, when required) is in the
    landing folder.

    Without a required control file, the lending core must move the file into place when it
    is complete (write, then rename): a file still being written would be seen as ready."""
    return all(path.is_file() for path in awaited_files(ds, params))


def poke_landing_file(ds: str, params: dict | None) -> bool:
    """One poke of ``wait_for_loans_file``: True when the file is there; when the sensor's
    timeout has passed, fail (no retry) with a message naming the missing file."""
    try:
        awaited = awaited_files(ds, params)
    except LoanriskError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(str(exc)) from None
    path, missing = awaited[0], [p.name for p in awaited if not p.is_file()]
    if not missing:
        log.info("landing file %s is there", " and ".join(str(p) for p in awaited))
        return True
    from airflow.sdk import get_current_context

    context = get_current_context()
    timeout = float(context["task"].timeout)
    started = context["ti"].get_first_reschedule_date(context)
    waited = 0.0 if started is None else (dt.datetime.now(dt.UTC) - started).total_seconds()
    if waited >= timeout:
        from airflow.sdk.exceptions import AirflowSensorTimeout

        raise AirflowSensorTimeout(
            f"landing file {path.name} (or {path.with_suffix('.parquet').name}) did not arrive "
            f"in {path.parent} within {timeout / 3600:g} h (missing: {', '.join(missing)}): "
            f"the day {ds} cannot run; ask the lending core for the extract, then clear this task"
        )
    log.info("waiting for %s in %s (%.0f s of %.0f s)", missing, path.parent, waited, timeout)
    return False


def poke_month_end(ds: str, params: dict | None):
    """One poke of ``wait_for_month_end``: done, with the month-end day for XCom, once the
    last calendar day of ``ds``'s month has a published run manifest."""
    from airflow.sdk import PokeReturnValue

    from loanrisk.pipeline import monthly

    settings = settings_of(params)
    closed = monthly.month_closed(monthly.lake_of(settings), parse_business_date(ds))
    if closed is None:
        log.info("waiting for the month-end day of %s to be published", ds[:7])
        return PokeReturnValue(is_done=False)
    return PokeReturnValue(is_done=True, xcom_value=closed.isoformat())
