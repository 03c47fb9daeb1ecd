"""Policy files as validated models: YAML read with duplicate keys refused, loaded into strict
pydantic models whose errors name the file and the key (``key.sub: message (got value)``)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from loanrisk.errors import ConfigError


class StrictModel(BaseModel):
    """Settings model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


Share = Annotated[float, Field(ge=0, le=1)]


Dpd = Annotated[int, Field(ge=0, le=100_000)]
Money = Annotated[Decimal, Field(ge=Decimal("0"), max_digits=18, decimal_places=2)]


M = TypeVar("M", bound=BaseModel)


def _format_validation_error(path: Path, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        key = ".".join(str(p) for p in item["loc"]) or "(file)"
        got = item.get("input")
        shown = "" if isinstance(got, dict) else f" (got {got!r})"
        problems.append(f"{key}: {item['msg']}{shown}")
    return f"{path}: " + "; ".join(problems)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last one
    silently, so an edited policy could differ from what its reader sees)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} given twice (line {key_node.start_mark.line + 1})",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: Path):
    """YAML text as Python objects; duplicate keys are an error."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=_UniqueKeyLoader)


def load_yaml_model(path: Path, model: type[M]) -> M:
    """Load one YAML settings file into a pydantic model; errors name the file and the key."""
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        raw = read_yaml(path) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, exc)) from None
