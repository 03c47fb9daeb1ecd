"""ODCS v3 data contracts: the single source of truth for every feed's columns and types.

Each contract in ``data_contracts/`` is parsed with the ``open-data-contract-standard`` model and
checked against its JSON Schema. From it the code derives the Polars schema, the CSV parsing
(every column read as text, then cast by its contract type) and the column rules.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import polars as pl

from loanrisk.domain.yaml_models import read_yaml
from loanrisk.errors import ConfigError

_DECIMAL = re.compile(r"^decimal\((\d+),\s*(\d+)\)$")
_PHYSICAL_TYPES: dict[str, pl.DataType] = {
    "varchar": pl.String(),
    "date": pl.Date(),
    "int32": pl.Int32(),
    "int64": pl.Int64(),
    "double": pl.Float64(),
    "boolean": pl.Boolean(),
    "timestamp with time zone": pl.Datetime("us", "UTC"),
    "list<varchar>": pl.List(pl.String()),
    "list<date>": pl.List(pl.Date()),
    "list<struct<date:date,dpd:int32>>": pl.List(pl.Struct({"date": pl.Date(), "dpd": pl.Int32()})),
    "json": pl.String(),  # JSON text
}


@dataclass(frozen=True)
class Column:
    """One contract property, reduced to what the pipeline needs."""

    name: str
    dtype: pl.DataType
    physical_type: str
    required: bool
    unique: bool
    description: str
    enum: tuple[str, ...] = ()
    minimum: float | None = None
    exclusive_minimum: float | None = None
    pattern: str | None = None
    min_length: int | None = None
    pattern_is_warning: bool = False
    mask: str | None = None
    pii: bool = False


@dataclass(frozen=True)
class QualityRule:
    """A schema-level row rule across columns (ODCS ``quality`` entry of type custom)."""

    name: str
    kind: str
    severity: str
    description: str
    args: dict

    @property
    def column(self) -> str:
        """The column the rule is reported against."""
        return self.args.get("column") or self.args["a"]


@dataclass(frozen=True)
class Contract:
    """A parsed data contract for one feed or published table."""

    name: str
    version: str
    columns: tuple[Column, ...]
    landing_pattern: str | None
    required_feed: bool
    quality: tuple[QualityRule, ...] = ()

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def polars_schema(self) -> pl.Schema:
        return pl.Schema({c.name: c.dtype for c in self.columns})

    def conform(self, frame: pl.LazyFrame) -> pl.LazyFrame:
        """``frame``'s contract columns, in contract order, cast to their contract types."""
        return frame.select(pl.col(c.name).cast(c.dtype) for c in self.columns)

    def column(self, name: str) -> Column:
        for col in self.columns:
            if col.name == name:
                return col
        raise KeyError(name)

    def landing_file_name(self, business_date: str) -> str:
        if self.landing_pattern is None:
            raise ConfigError(f"contract {self.name} has no landingFilePattern")
        return self.landing_pattern.format(snapshot_date=business_date)


def polars_dtype(physical_type: str, where: str) -> pl.DataType:
    """Map an ODCS physicalType (``decimal(18,2)``, ``date``, ...) to a Polars dtype."""
    found = _DECIMAL.match(physical_type)
    if found:
        return pl.Decimal(int(found.group(1)), int(found.group(2)))
    try:
        return _PHYSICAL_TYPES[physical_type]
    except KeyError:
        allowed = ", ".join([*_PHYSICAL_TYPES, "decimal(p,s)"])
        raise ConfigError(
            f"{where}: physicalType {physical_type!r} is not one of {allowed}"
        ) from None


def _custom(props: list | None) -> dict:
    return {p.property: p.value for p in props or []}


def _column(prop, where: str) -> Column:
    options = prop.logicalTypeOptions or {}
    custom = _custom(prop.customProperties)
    if not prop.description:
        raise ConfigError(f"{where}.{prop.name}: every column needs a description")
    return Column(
        name=prop.name,
        dtype=polars_dtype(prop.physicalType or "", f"{where}.{prop.name}"),
        physical_type=prop.physicalType or "",
        required=bool(prop.required),
        unique=bool(prop.unique),
        description=prop.description,
        enum=tuple(str(e.value) for e in prop.enum or []),
        minimum=options.get("minimum"),
        exclusive_minimum=options.get("exclusiveMinimum"),
        pattern=options.get("pattern"),
        min_length=options.get("minLength"),
        pattern_is_warning=custom.get("patternSeverity") == "warning",
        mask=custom.get("mask"),
        pii=bool(custom.get("pii")),
    )


def _quality_rule(item, where: str) -> QualityRule:
    implementation = item.implementation
    if (
        item.type != "custom"
        or not isinstance(implementation, dict)
        or "rule" not in implementation
    ):
        raise ConfigError(
            f"{where}: quality {item.name!r} needs type custom and implementation.rule"
        )
    if item.severity not in ("error", "warning"):
        raise ConfigError(f"{where}: quality {item.name!r} severity must be error or warning")
    args = {k: v for k, v in implementation.items() if k != "rule"}
    return QualityRule(
        name=item.name or "",
        kind=implementation["rule"],
        severity=item.severity,
        description=item.description or "",
        args=args,
    )


def _validate_against_json_schema(raw: dict, path: Path) -> None:
    import jsonschema
    from open_data_contract_standard.model import OpenDataContractStandard

    schema = json.loads(OpenDataContractStandard.json_schema())
    errors = sorted(
        jsonschema.Draft201909Validator(schema).iter_errors(raw), key=lambda e: list(e.path)
    )
    if errors:
        first = errors[0]
        where = ".".join(str(p) for p in first.path) or "(top level)"
        raise ConfigError(f"{path}: not a valid ODCS v3 contract at {where}: {first.message}")


@cache
def load_contract(contracts_dir: Path, name: str) -> Contract:
    """Parse and validate ``<contracts_dir>/<name>.yaml``."""
    from open_data_contract_standard.model import OpenDataContractStandard

    path = Path(contracts_dir) / f"{name}.yaml"
    if not path.is_file():
        raise ConfigError(f"data contract {path} does not exist")
    raw = read_yaml(path)
    _validate_against_json_schema(raw, path)
    model = OpenDataContractStandard(**raw)
    objects = model.schema_ or []
    if len(objects) != 1:
        raise ConfigError(f"{path}: expected exactly one schema object, found {len(objects)}")
    where = f"{path.name}:{objects[0].name}"
    columns = tuple(_column(p, where) for p in objects[0].properties or [])
    custom = _custom(model.customProperties)
    quality = tuple(_quality_rule(q, where) for q in objects[0].quality or [])
    return Contract(
        name=model.name or name,
        version=model.version or "0",
        columns=columns,
        landing_pattern=custom.get("landingFilePattern"),
        required_feed=bool(custom.get("required", False)),
        quality=quality,
    )
