"""Policy files as validated models: YAML read with duplicate keys, anchors and aliases refused,
loaded into strict pydantic models whose errors name the file and the key (``key.sub: message
(got value)``, the value cut at ``ECHO_LIMIT`` characters)."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from itertools import pairwise
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


def strictly_ascending(values: Sequence[int]) -> bool:
    """Each value above the one before it (so none repeats)."""
    return all(a < b for a, b in pairwise(values))


def require_ascending(model: BaseModel, *keys: str) -> None:
    """A validator's check that the fields ``keys`` of ``model`` strictly ascend in that
    order; the ``ValueError`` names them (``a < b < c must hold (got [...])``)."""
    values = [getattr(model, key) for key in keys]
    if not strictly_ascending(values):
        raise ValueError(f"{' < '.join(keys)} must hold (got {values})")


#: The most characters of a config value (or of a message quoting one) an error echoes: a
#: value pasted by mistake (a whole file, a huge list) must not become a huge error line.
ECHO_LIMIT = 200


def capped(text: str, limit: int = ECHO_LIMIT) -> str:
    """``text``, cut at ``limit`` characters with a note of how long it was."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"


def _format_validation_error(path: Path, error: ValidationError) -> str:
    problems = []
    for item in error.errors():
        key = capped(".".join(str(p) for p in item["loc"]) or "(file)")
        got = item.get("input")
        shown = "" if isinstance(got, dict) else f" (got {capped(repr(got))})"
        # A validator's message quotes values it caps itself; this cap is the safety net.
        problems.append(f"{key}: {capped(item['msg'], 5 * ECHO_LIMIT)}{shown}")
    return f"{path}: " + "; ".join(problems)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML would keep the last one
    silently, so an edited policy could differ from what its reader sees), and any anchor or
    alias: settings never need them, and nested aliases expand exponentially (a few lines
    become gigabytes of lists: the "billion laughs")."""

    def compose_node(self, parent, index):
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            name = capped(event.anchor, 40)
            raise yaml.composer.ComposerError(
                None,
                None,
                f"YAML anchors and aliases (&{name}, *{name}) are not allowed in settings "
                f"(line {event.start_mark.line + 1})",
                event.start_mark,
            )
        return super().compose_node(parent, index)

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
        first = capped(str(exc).splitlines()[0])
        raise ConfigError(f"{path}: not valid YAML: {first}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{path}: expected a mapping of settings at the top level")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_validation_error(path, exc)) from None
