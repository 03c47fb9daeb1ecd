"""The DuckDB comments of ``warehouse.duckdb``: every view and column described by its contract.

A BI tool shows a view's comment as its description and a column's as the column's, so each
view carries its contract's purpose and grain (and which days it shows), each column its
contract description, and a masked personal column says it is masked. The contracts are those of
``data_contracts/``; the marts computed when queried (``loanrisk.domain.marts.mart_views``) have
theirs in ``data_contracts/mart_views/``, as they are views, not stored tables. A view with no
contract fails the build (``ConfigError`` naming the file). A column the contract names but the
view's files lack yet gets no comment (``warehouse._execute``): the build never fails on
metadata. ``tests/test_warehouse_metadata.py`` finds both a contract column a view lacks and a
view column with no comment, so no table ships undescribed.

``COMMENT ON`` is a statement like ``CREATE VIEW``: the comments are part of the statements the
warehouse is rebuilt from, and of their digest (``warehouse.refresh_warehouse``). No clock and
no path: the same contracts give the same statements.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from loanrisk.domain.sql import quote
from loanrisk.domain.yaml_models import read_yaml
from loanrisk.quality.contracts import Column, Contract, load_contract

#: Where the contracts of the views computed when queried live, under the contracts folder.
MART_VIEWS_DIR = "mart_views"
#: The quarantine keeps every field of the loan snapshot's landing row as text, as raw_<name>.
QUARANTINE, RAW_OF = "loan_quarantine", "loan_snapshot"
#: How every column comment statement starts.
COLUMN_COMMENT = "COMMENT ON COLUMN "


def _identifier(name: str) -> str:
    """A SQL identifier, double-quoted (a double quote in it doubled)."""
    return '"' + name.replace('"', '""') + '"'


def contract_home(contracts_dir: Path, view: str, computed: bool) -> Path:
    """The folder holding ``view``'s contract: ``mart_views/`` for a computed mart."""
    return Path(contracts_dir) / MART_VIEWS_DIR if computed else Path(contracts_dir)


@cache
def _summary(folder: Path, name: str) -> str:
    """A contract's purpose and grain, as one line (its document was validated on load)."""
    raw = read_yaml(folder / f"{name}.yaml")
    purpose = " ".join(str(raw["description"]["purpose"]).split())
    grain = raw["schema"][0]["dataGranularityDescription"]
    return f"{purpose} Grain: {grain}."


def column_comment(column: Column, raw: bool = False) -> str:
    """A column's description; ``raw``: the quarantine's text copy of a landing field. A masked
    column says so, with the mask applied (``loanrisk.domain.masking``)."""
    text = column.description
    if raw:
        text = f"Landing text of {RAW_OF}.{column.name}, as received: {text}"
    if column.mask:
        text += f" PII: masked in this view ({column.mask} mask)."
    elif column.pii:
        text += " PII."
    return text


def _columns(contracts_dir: Path, contract: Contract, view: str) -> list[tuple[str, str]]:
    """(column, comment) of every column of ``view``."""
    pairs = [(c.name, column_comment(c)) for c in contract.columns]
    if view == QUARANTINE:
        snapshot = load_contract(contracts_dir, RAW_OF)
        pairs += [(f"raw_{c.name}", column_comment(c, raw=True)) for c in snapshot.columns]
    return pairs


def comment_statements(
    contracts_dir: Path, view: str, scope: str = "", computed: bool = False
) -> list[str]:
    """``COMMENT ON VIEW`` and ``COMMENT ON COLUMN`` statements of ``view`` from its contract;
    ``scope``: which rows the view shows (``Published days only.``), added to its comment."""
    folder = contract_home(contracts_dir, view, computed)
    contract = load_contract(folder, view)
    summary = " ".join(part for part in (_summary(folder, view), scope) if part)
    statements = [f"COMMENT ON VIEW {_identifier(view)} IS {quote(summary)}"]
    for column, comment in _columns(contracts_dir, contract, view):
        target = f"{_identifier(view)}.{_identifier(column)}"
        statements.append(f"{COLUMN_COMMENT}{target} IS {quote(comment)}")
    return statements
