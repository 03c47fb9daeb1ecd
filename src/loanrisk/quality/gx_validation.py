"""Great Expectations as the engine of record for the row rules.

The suite of each feed is generated from the same ``RowRule`` list that quarantines rows (never
written by hand), one suite per group of rules reading the same few columns, each validated on
a pandas frame of only its own columns (``loanrisk.quality.gx_workers``). Results are kept by a file
data context in ``<data_root>/gx`` and rendered as Data Docs under
``<data_root>/reports/validation``. Cost figures: ``benchmarks/README.md``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import operator
import time
from collections.abc import Mapping
from functools import cache, reduce
from pathlib import Path

import polars as pl

from loanrisk.quality.gx_archive import archive_old_results
from loanrisk.quality.gx_lock import setup_lock
from loanrisk.quality.gx_samples import samples_made_safe
from loanrisk.quality.gx_workers import arrow_table, validate_groups, without_data_fingerprint
from loanrisk.quality.rules import BUSINESS_DATE_PARAMETER, RowRule

SITE = "loanrisk"
# A group's frame holds at most this many cells (rows x columns), and at least 4 columns: small
# days validate as one group (GX's fixed cost per run), big days in narrow groups (GX copies
# the whole frame once or more per expectation).
GROUP_CELLS = 400_000
MIN_GROUP_COLUMNS = 4
# The Data Docs index lists the latest results only: it reads every result it lists, each run,
# so an unbounded index costs more every day kept.
DOCS_INDEX_RESULTS = 100

log = logging.getLogger(__name__)


def _columns_read(rules: list[RowRule]) -> list[str]:
    names: set[str] = set()
    for rule in rules:
        for key in ("column", "column_A", "column_B"):
            if key in rule.gx.kwargs:
                names.add(rule.gx.kwargs[key])
        names.update(column for column, _, _ in rule.gx.condition)
    return sorted(names)


def _row_condition(condition: tuple[tuple[str, str, object], ...]):
    if not condition:
        return None
    from great_expectations.expectations.row_conditions import Column

    tests = {"not_null": lambda ref, _: ref.is_not_null(), "eq": operator.eq, "ne": operator.ne}
    return reduce(operator.and_, (tests[op](Column(c), value) for c, op, value in condition))


def build_expectation(rule: RowRule):
    """The GX expectation object for one rule, tagged with the rule's reason code."""
    import great_expectations.expectations as gxe

    from loanrisk.quality.gx_custom import CUSTOM_EXPECTATIONS

    cls = getattr(gxe, rule.gx.expectation, None) or CUSTOM_EXPECTATIONS[rule.gx.expectation]
    kwargs = dict(rule.gx.kwargs)
    if (condition := _row_condition(rule.gx.condition)) is not None:
        kwargs["row_condition"] = condition
    severity = "warning" if rule.warning else "critical"
    return cls(**kwargs, meta={"reason": rule.reason}, severity=severity)


def fingerprint(rules: list[RowRule]) -> str:
    """Identity of a generated suite: changes exactly when a rule or its GX check does."""
    spec = [[r.reason, r.warning, r.gx.expectation, r.gx.kwargs, r.gx.condition] for r in rules]
    return hashlib.sha256(json.dumps(spec, sort_keys=True, default=str).encode()).hexdigest()


def suite_for(name: str, rules: list[RowRule]):
    from great_expectations.core.expectation_suite import ExpectationSuite

    return ExpectationSuite(
        name=name,
        expectations=[build_expectation(r) for r in rules],
        meta={"loanrisk_fingerprint": fingerprint(rules)},
    )


def _stored_definition(context, name: str, rules: list[RowRule], batch):
    """The validation definition for a group, (re)saved only when its rules changed."""
    import great_expectations as gx

    try:
        definition = context.validation_definitions.get(name)
        if definition.suite.meta.get("loanrisk_fingerprint") == fingerprint(rules):
            return definition
    except Exception:  # GX raises its own not-found errors; any miss means "build it"
        pass
    suite = context.suites.add_or_update(suite_for(name, rules))
    return context.validation_definitions.add_or_update(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )


@cache
def _context(gx_root: Path, docs_dir: Path):
    """The file data context of a data_root (one per process: it is costly to open)."""
    import great_expectations as gx

    import loanrisk.quality.gx_custom  # noqa: F401  registers the custom expectations stored suites use

    context = gx.get_context(mode="file", project_root_dir=str(gx_root))
    if context.variables.config_variables_file_path:
        # No secrets or substitutions are used here, and GX re-reads and parses that YAML file
        # on every config lookup (hundreds of times a run, whatever the book's size); the
        # provider is built when the context opens, hence the reopening.
        context.variables.config_variables_file_path = None
        context.variables.save()
        context = gx.get_context(mode="file", project_root_dir=str(gx_root))
    bars = context.variables.progress_bars
    if bars is None or dict(bars).get("globally", True):
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    from loanrisk.quality.gx_docs_views import site_config

    site = site_config(docs_dir, gx_root / "data_docs_templates", DOCS_INDEX_RESULTS)
    if SITE not in context.get_site_names():
        context.add_data_docs_site(SITE, site)
    elif dict(context.variables.data_docs_sites[SITE]) != site:
        context.update_data_docs_site(SITE, site)
    return context


def _batch_definition(context, feed: str):
    """The feed's whole-dataframe batch definition, added once. (Re-adding the data source each
    run rewrote great_expectations.yml and gave the asset a new id every time.)

    The asset is taken with ``get_asset``, which makes it the data source's own: in a context
    opened from its files (each day's new process), the assets listed by ``source.assets``
    still point to a data source of no context, and a suite saved with such a batch definition
    put that data source in the context, so every run after it failed with GX's
    ``MissingDataContextError``."""
    try:
        source = context.data_sources.get("loanrisk")
    except KeyError:
        source = context.data_sources.add_pandas(name="loanrisk")
    try:
        asset = source.get_asset(feed)
    except LookupError:
        asset = source.add_dataframe_asset(name=feed)
    try:
        return asset.get_batch_definition("day")
    except KeyError:
        return asset.add_batch_definition_whole_dataframe("day")


def column_groups(
    rules: list[RowRule], rows: int, text: frozenset[str] = frozenset()
) -> list[list[RowRule]]:
    """Rules split into a few groups, each reading a narrow set of columns.

    GX's pandas engine copies its whole batch once or more per expectation (to drop the
    column's nulls, or the rows a condition or a missing pair value leaves out), so cost grows
    with expectations x batch width. Rules reading a common column stay together (a raw text
    column and its typed value are two columns: checks of the text never copy the typed values
    and the other way round); those sets are packed into groups of at most
    ``GROUP_CELLS / rows`` columns, each validated on a frame of only its own columns. Sets
    are packed by their share of ``text`` columns, typed values first: a group holds text or
    typed values, seldom both, so the copies a typed check makes hold no text.
    """
    width = max(MIN_GROUP_COLUMNS, GROUP_CELLS // max(rows, 1))
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    for rule in rules:
        first, *others = _columns_read([rule])
        for other in others:
            parent[root(other)] = root(first)
    components: dict[str, list[RowRule]] = {}
    for rule in rules:
        components.setdefault(root(_columns_read([rule])[0]), []).append(rule)
    groups: list[list[RowRule]] = [[]]
    for key in sorted(components, key=lambda key: (_text_share(components[key], text), key)):
        widths = len(_columns_read(groups[-1] + components[key]))
        if groups[-1] and widths > width:
            groups.append([])
        groups[-1].extend(components[key])
    return groups


def _text_share(rules: list[RowRule], text: frozenset[str]) -> float:
    columns = _columns_read(rules)
    return sum(c in text for c in columns) / len(columns)


def _text_columns(table) -> frozenset[str]:
    """Names of the string columns of an Arrow table."""
    import pyarrow as pa

    kinds = (pa.types.is_string, pa.types.is_large_string, pa.types.is_string_view)
    return frozenset(f.name for f in table.schema if any(kind(f.type) for kind in kinds))


def _group_name(feed: str, rules: list[RowRule]) -> str:
    # GX stores a suite under its name split at dots: ".." would make an empty path part, and
    # results so stored never match their identifiers, so Data Docs skipped their pages.
    names = _columns_read(rules)
    return f"{feed}.{names[0]}" if len(names) == 1 else f"{feed}.{names[0]}--{names[-1]}"


def _result_pages(names: list[str], run_id, batch_ids: list[str]) -> list:
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    return [
        ValidationResultIdentifier(ExpectationSuiteIdentifier(name=name), run_id, batch_id)
        for name, batch_id in zip(names, batch_ids, strict=True)
    ]


def build_docs(gx_root: Path, docs_dir: Path, results: list[Path]) -> Path:
    """Data Docs pages of stored ``results`` (paths in the results store:
    ``<feed>/<group>/<run name>/<run time>/<batch id>.json``) and the index listing the latest
    ``DOCS_INDEX_RESULTS`` results, in one GX build.

    Built once a day, by the report or when a stage stops the day, not once per feed: each
    build has a fixed cost, and the index lists every page of the site and reads each result it
    shows. GX renders every page when given no identifiers; with no result to render, an
    identifier of no stored result renders the index alone.
    """
    from great_expectations.core.run_identifier import RunIdentifier

    pages = [
        _result_pages([f"{feed}.{group}"], RunIdentifier(run_name, run_time), [Path(name).stem])[0]
        for feed, group, run_name, run_time, name in (result.parts for result in results)
    ] or _result_pages(["loanrisk.index"], RunIdentifier(run_name="index"), ["none"])
    _context(gx_root, docs_dir).build_data_docs(site_names=[SITE], resource_identifiers=pages)
    return docs_dir / "index.html"


def _jobs(context, feed: str, names: list[str], groups: list, columns: list[str]) -> list:
    """(stored validation definition, the ``columns`` its rules read) per group."""
    batch = _batch_definition(context, feed)
    return [
        (
            _stored_definition(context, name, group, batch),
            [c for c in _columns_read(group) if c in columns],
        )
        for name, group in zip(names, groups, strict=True)
    ]


def _results_store(context) -> Path:
    return Path(context.validation_results_store.store_backend.full_base_directory)


def results_store(gx_root: Path, docs_dir: Path) -> Path:
    """Folder of the validation results GX keeps (``<feed>/<group>/<run name>/...``)."""
    return _results_store(_context(gx_root, docs_dir))


def suite_table(frame: pl.DataFrame, rules: list[RowRule]):
    """The columns of ``frame`` that ``rules`` read, as the one Arrow table every suite runs
    on. Built before validating so the caller can let go of the (much wider) frame first: the
    typed and raw columns of a big day are most of its memory."""
    return arrow_table(frame, sorted(c for c in _columns_read(rules) if c in frame.columns))


def run_suite(
    gx_root: Path,
    docs_dir: Path,
    archive: Path,
    feed: str,
    business_date: dt.date,
    table,
    rules: list[RowRule],
    *,
    workers: int,
    masks: Mapping[str, str],
    shard_label: str | None = None,
) -> dict[str, int]:
    """Validate ``table`` (``suite_table``) with the feed's generated suites, in up to
    ``workers`` processes (``gx_workers``); return unexpected rows per reason.

    One suite per group of columns checked together (``<feed>.<first column>[--<last>]``);
    results are stored in the file context under the run name ``<feed> <business date>``, or
    ``<feed> <business date> <shard label>`` for one borrower shard's rows (``shard_label``,
    e.g. ``shard=2-of-8``: each shard task validates its own rows, one result per shard)
    (rendered as Data Docs once a day, ``build_docs``); results of days before the store's
    window move to ``archive``. GX's samples of unexpected values are stored masked for the
    personal columns of ``masks`` (``gx_samples.personal_masks``) and escaped for the others.
    Cost (seconds) is logged at DEBUG level as ``record.gx_cost``.
    """
    from great_expectations.core.run_identifier import RunIdentifier

    groups = column_groups(rules, table.num_rows, _text_columns(table))
    names = [_group_name(feed, group) for group in groups]
    with setup_lock(gx_root):  # shard tasks of a day run at once on the same context
        context = _context(gx_root, docs_dir)
        jobs = _jobs(context, feed, names, groups, table.column_names)
    run_name = " ".join([feed, business_date.isoformat(), *([shard_label] if shard_label else [])])
    run_id = RunIdentifier(run_name=run_name)
    parameters = {BUSINESS_DATE_PARAMETER: [business_date.isoformat()]}
    start = time.perf_counter()
    with without_data_fingerprint(), samples_made_safe(masks):
        outcomes, used = validate_groups(table, jobs, parameters, run_id, workers)
    validated = time.perf_counter()
    with setup_lock(gx_root):
        archive_old_results(_results_store(context), archive, feed, business_date)
    cost = {k: sum(seconds[k] for _, _, seconds in outcomes) for k in ("convert", "runs")}
    cost.update(validate=validated - start, archive=time.perf_counter() - validated)
    log.debug("%s: %d groups, %d process(es)", feed, len(groups), used, extra={"gx_cost": cost})
    return {reason: n for counts, _, _ in outcomes for reason, n in counts.items()}
