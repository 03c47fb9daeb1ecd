"""The ingest stage of one feed: landing file -> ``lake/staging/<feed>``, every field as text,
with the file gates (DESIGN.md §11); with K > 1 shards, the staging parts ``staging_<feed>``
too, in the same pass (``pipeline.ingest_shards``)."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

from loanrisk.config import Settings
from loanrisk.domain.feeds import LOANS
from loanrisk.errors import GateError, LandingFileError
from loanrisk.lake import records
from loanrisk.lake.partitions import PartitionWriter
from loanrisk.lake.records import read_record, write_record
from loanrisk.lake.shards import decide_shards, drop_parts
from loanrisk.lake.storage import Lake, lake_of
from loanrisk.pipeline.ingest_shards import PartWriters, regroup_duplicates
from loanrisk.quality.contracts import Contract, load_contract
from loanrisk.quality.parsing import extra_columns
from loanrisk.quality.text_blocks import TextBlocks


def part_table(feed: str) -> str:
    """The name of a feed's staging parts (``lake/shards/staging_<feed>``)."""
    return f"staging_{feed}"


def part_inputs(file: str, sha256: str) -> dict:
    """What a staging part was computed from: the landing file's name and sha256."""
    return {"file": file, "sha256": sha256}


def staged_part_inputs(lake: Lake, business_date: dt.date, feed: str) -> dict:
    """``part_inputs`` of the day's staging parts of ``feed``, from its ingest record (what
    validation checks the parts against: ``shards.checked_parts``)."""
    ingested = read_record(lake, business_date, f"ingest_{feed}", records.Ingested)
    return part_inputs(ingested.input.file, ingested.input.sha256 or "")


def day_shards(lake: Lake, business_date: dt.date, settings: Settings, loans: Contract) -> int:
    """The day's K, decided by every feed's ingest from the loans landing file's size (feeds
    are ingested side by side: whichever comes first decides the same K). Without a loans
    file, 0 bytes: the fixed K, or 1 for ``auto``. ``loans``: the loans feed's contract."""
    path = lake.landed_file(loans.landing_file_name(business_date.isoformat()))
    landed = path.stat().st_size if path.is_file() else 0
    return int(decide_shards(lake, business_date, settings.execution, landed)["shards"])


def _stage(lake: Lake, feed: str, business_date: dt.date, blocks: TextBlocks, count: int) -> Path:
    """One pass over ``blocks``: the staging partition (file order, one row group a file) and,
    with ``count`` > 1, the parts; returns the partition's first file."""
    staging = lake.partition("staging", feed, business_date)
    writer = PartitionWriter(staging, lake.scratch, one_row_group=True)
    parts = PartWriters(lake, part_table(feed), business_date, count) if count > 1 else None
    try:
        for frame in blocks:
            writer.add(frame)
            if parts is not None:
                parts.add(frame)
        if parts is not None:
            parts.finish()  # every part written before the staged day is put in place
    except BaseException:
        shutil.rmtree(writer.staged, ignore_errors=True)
        if parts is not None:
            parts.abort()
        raise
    written = writer.close()
    if parts is not None:
        parts.close(part_inputs(blocks.path.name, blocks.facts.sha256))
    return written


def _regroup(lake: Lake, feed: str, day: dt.date, contract: Contract, count: int, inputs: dict):
    """Every copy of a contract-unique key in one part (``ingest_shards.regroup_duplicates``)."""
    keys = [c.name for c in contract.columns if c.unique]
    if count > 1 and keys:
        regroup_duplicates(
            lake, part_table(feed), day, lake.scan("staging", feed, day), count, keys, inputs
        )


def ingest_feed(business_date: dt.date, settings: Settings, feed: str) -> records.Ingested:
    """Landing file -> ``lake/staging/<feed>/snapshot_date=D``: every field as text, read and
    written a block at a time (``quality.text_blocks``); with K > 1 the K staging parts.

    File gates (missing, incomplete against its control file, unreadable, empty, column
    missing) stop the day for a required feed, and FILE_INCOMPLETE for any feed; an optional
    feed that is missing or empty (0 bytes, no header) is absent: a warning. With
    ``require_control_file``, the required feed without its control file is missing.
    """
    lake, contract = lake_of(settings), load_contract(settings.contracts_dir, feed)
    path = lake.landed_file(contract.landing_file_name(business_date.isoformat()))
    name, pipeline = f"ingest_{feed}", settings.pipeline
    required = pipeline.require_control_file and contract.required_feed
    loans = contract if feed == LOANS else load_contract(settings.contracts_dir, LOANS)
    count = day_shards(lake, business_date, settings, loans)
    drop_parts(lake, part_table(feed), business_date)  # another K's, or another file's
    blocks = TextBlocks(path, contract, pipeline.input_encoding, required)
    try:
        written = _stage(lake, feed, business_date, blocks, count)
    except LandingFileError as exc:
        if exc.gate in ("FILE_MISSING", "FILE_EMPTY") and not contract.required_feed:
            shutil.rmtree(lake.partition("staging", feed, business_date), ignore_errors=True)
            landed = {"bytes": path.stat().st_size} if exc.gate == "FILE_EMPTY" else {}
            missing = records.Ingested(status="missing", input={"file": path.name, **landed})
            return write_record(lake, business_date, name, missing)
        raise GateError(exc.gate, path.name, exc.reason) from None
    _regroup(
        lake, feed, business_date, contract, count, part_inputs(path.name, blocks.facts.sha256)
    )
    staged = records.Ingested(
        status="staged",
        input={"file": path.name, "bytes": path.stat().st_size, "sha256": blocks.facts.sha256},
        rows_in=blocks.rows,
        extra_columns=extra_columns(path, contract),
        output=lake.relative(written),
    )
    return write_record(lake, business_date, name, staged)
