"""Great Expectations as the engine of record for the row rules.

The suite of each feed is generated from the same ``RowRule`` list that quarantines rows (never
written by hand). GX has no Polars engine, so it gets pandas via Arrow, reduced to the columns
the rules read: money as float64 (exact enough for comparisons at 2 decimals), dates as ISO
text (which orders like the dates). Results are kept by a file data context in
``<data_root>/gx`` and rendered as Data Docs under ``<data_root>/reports/validation``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from functools import cache
from pathlib import Path

import polars as pl

from loanrisk.rules import BUSINESS_DATE_PARAMETER, RowRule

SITE = "loanrisk"


def _columns_read(rules: list[RowRule]) -> list[str]:
    names: set[str] = set()
    for rule in rules:
        for key in ("column", "column_A", "column_B"):
            if key in rule.gx.kwargs:
                names.add(rule.gx.kwargs[key])
        names.update(column for column, _, _ in rule.gx.condition)
    return sorted(names)


def gx_frame(frame: pl.DataFrame, rules: list[RowRule]):
    """The pandas (Arrow-backed) frame GX validates: only the columns the rules read."""
    columns = [c for c in _columns_read(rules) if c in frame.columns]
    converted = []
    for name in columns:
        dtype = frame.schema[name]
        if isinstance(dtype, pl.Decimal):
            converted.append(pl.col(name).cast(pl.Float64))
        elif dtype in (pl.Date,) or isinstance(dtype, pl.Datetime):
            converted.append(pl.col(name).dt.to_string("%Y-%m-%d" if dtype == pl.Date else "%+"))
        else:
            converted.append(pl.col(name))
    return frame.select(converted).to_pandas()


def _row_condition(condition: tuple[tuple[str, str, object], ...]):
    if not condition:
        return None
    from great_expectations.expectations.row_conditions import Column

    parts = []
    for column, op, value in condition:
        ref = Column(column)
        parts.append(
            ref.is_not_null()
            if op == "not_null"
            else (ref == value if op == "eq" else ref != value)
        )
    combined = parts[0]
    for part in parts[1:]:
        combined = combined & part
    return combined


def build_expectation(rule: RowRule):
    """The GX expectation object for one rule, tagged with the rule's reason code."""
    import great_expectations.expectations as gxe

    from loanrisk.gx_custom import CUSTOM_EXPECTATIONS

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

    import loanrisk.gx_custom  # noqa: F401  registers the custom expectations stored suites use

    context = gx.get_context(mode="file", project_root_dir=str(gx_root))
    bars = context.variables.progress_bars
    if bars is None or dict(bars).get("globally", True):
        from great_expectations.data_context.types.base import ProgressBarsConfig

        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        context.variables.save()
    if SITE not in context.get_site_names():
        context.add_data_docs_site(
            site_name=SITE,
            site_config={
                "class_name": "SiteBuilder",
                "store_backend": {
                    "class_name": "TupleFilesystemStoreBackend",
                    "base_directory": str(docs_dir),
                },
                "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
            },
        )
    return context


# A group's frame holds at most this many cells (rows x columns), and at least 8 columns:
# small days validate as one group (fixed GX overhead per group), big days in narrow groups.
GROUP_CELLS = 8_000_000
MIN_GROUP_COLUMNS = 8


def _base(column: str) -> str:
    return column.removesuffix("__raw")


def column_groups(rules: list[RowRule], rows: int) -> list[list[RowRule]]:
    """Rules split into a few groups, each reading a narrow set of columns.

    GX's pandas engine copies its whole batch once per expectation (to drop the column's
    nulls), so cost grows with expectations x batch width. Rules that read the same column
    (its raw text included) stay together; those sets are packed into groups of at most
    ``GROUP_CELLS / rows`` columns, each validated on a frame of only its own columns.
    """
    width = max(MIN_GROUP_COLUMNS, GROUP_CELLS // max(rows, 1))
    parent: dict[str, str] = {}

    def root(name: str) -> str:
        while parent.setdefault(name, name) != name:
            name = parent[name]
        return name

    for rule in rules:
        first, *others = (_base(c) for c in _columns_read([rule]))
        for other in others:
            parent[root(other)] = root(first)
    components: dict[str, list[RowRule]] = {}
    for rule in rules:
        components.setdefault(root(_base(_columns_read([rule])[0])), []).append(rule)
    groups: list[list[RowRule]] = [[]]
    for key in sorted(components):
        widths = len(_columns_read(groups[-1] + components[key]))
        if groups[-1] and widths > width:
            groups.append([])
        groups[-1].extend(components[key])
    return groups


def _group_name(feed: str, rules: list[RowRule]) -> str:
    names = sorted({_base(c) for c in _columns_read(rules)})
    return f"{feed}.{names[0]}" if len(names) == 1 else f"{feed}.{names[0]}..{names[-1]}"


def run_suite(
    gx_root: Path,
    docs_dir: Path,
    feed: str,
    business_date: dt.date,
    frame: pl.DataFrame,
    rules: list[RowRule],
) -> dict[str, int]:
    """Validate ``frame`` with the feed's generated suites; return unexpected rows per reason.

    One suite per group of columns checked together (``<feed>.<first column>``); results are
    stored in the file context under the run name ``<feed> <business date>`` and rendered as
    Data Docs.
    """
    from great_expectations.core.run_identifier import RunIdentifier
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )

    context = _context(gx_root, docs_dir)
    source = context.data_sources.add_or_update_pandas(name="loanrisk")
    asset = next((a for a in source.assets if a.name == feed), None) or (
        source.add_dataframe_asset(name=feed)
    )
    batch = next((b for b in asset.batch_definitions if b.name == "day"), None) or (
        asset.add_batch_definition_whole_dataframe("day")
    )
    run_id = RunIdentifier(run_name=f"{feed} {business_date.isoformat()}")
    unexpected: dict[str, int] = {}
    pages = []
    for group in column_groups(rules, frame.height):
        name = _group_name(feed, group)
        definition = _stored_definition(context, name, group, batch)
        result = definition.run(
            batch_parameters={"dataframe": gx_frame(frame, group)},
            expectation_parameters={BUSINESS_DATE_PARAMETER: [business_date.isoformat()]},
            result_format="SUMMARY",
            run_id=run_id,
        )
        for item in result.results:
            reason = item.expectation_config.meta["reason"]
            unexpected[reason] = int(item.result.get("unexpected_count") or 0)
        pages.append(
            ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=name),
                run_id=run_id,
                batch_identifier=result.batch_id,
            )
        )
    # Render only this run's pages (and the index): a full rebuild grows with every day kept.
    context.build_data_docs(site_names=[SITE], resource_identifiers=pages)
    return unexpected
