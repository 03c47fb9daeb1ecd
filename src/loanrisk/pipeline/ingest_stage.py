"""The ingest stage of one feed: landing file -> ``lake/staging/<feed>``, every field as text,
with the file gates (DESIGN.md §11)."""

from __future__ import annotations

import datetime as dt
import shutil

from loanrisk.config import Settings
from loanrisk.domain.feeds import LOANS
from loanrisk.errors import GateError, LandingFileError
from loanrisk.lake import records
from loanrisk.lake.records import write_record
from loanrisk.lake.shards import decide_shards
from loanrisk.lake.storage import lake_of, write_partition
from loanrisk.quality.contracts import load_contract
from loanrisk.quality.parsing import extra_columns, read_text_and_facts


def ingest_feed(business_date: dt.date, settings: Settings, feed: str) -> records.Ingested:
    """Landing file -> ``lake/staging/<feed>/snapshot_date=D``: every field as text.

    File gates (missing, incomplete against its control file, unreadable, empty, column
    missing) stop the day for a required feed, and FILE_INCOMPLETE for any feed; an optional
    feed that is missing or empty (0 bytes, no header) is absent: a warning. With
    ``require_control_file``, the required feed without its control file is missing.
    """
    lake, contract = lake_of(settings), load_contract(settings.contracts_dir, feed)
    path = lake.landed_file(contract.landing_file_name(business_date.isoformat()))
    name, pipeline = f"ingest_{feed}", settings.pipeline
    required = pipeline.require_control_file and contract.required_feed
    try:
        text, facts = read_text_and_facts(path, contract, pipeline.input_encoding, required)
    except LandingFileError as exc:
        if exc.gate in ("FILE_MISSING", "FILE_EMPTY") and not contract.required_feed:
            shutil.rmtree(lake.partition("staging", feed, business_date), ignore_errors=True)
            landed = {"bytes": path.stat().st_size} if exc.gate == "FILE_EMPTY" else {}
            missing = records.Ingested(status="missing", input={"file": path.name, **landed})
            return write_record(lake, business_date, name, missing)
        raise GateError(exc.gate, path.name, exc.reason) from None
    # One row group: validation reads the text back as one chunk per column, which it needs,
    # instead of rechunking it (which would take twice the text's memory).
    staging = lake.partition("staging", feed, business_date)
    written = write_partition(text, staging, lake.scratch, one_row_group=True)
    landed = path.stat().st_size
    if feed == LOANS:  # the day's K, once: every later step reads it (loanrisk.lake.shards)
        decide_shards(lake, business_date, settings.execution, landed)
    staged = records.Ingested(
        status="staged",
        input={"file": path.name, "bytes": landed, "sha256": facts.sha256},
        rows_in=text.height,
        extra_columns=extra_columns(path, contract),
        output=lake.relative(written),
    )
    return write_record(lake, business_date, name, staged)
