"""Money has one type, defined once (``loanrisk.domain.money``), for Polars and for DuckDB."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import polars as pl

import loanrisk
from loanrisk.domain.money import MONEY, MONEY_SQL

PACKAGE = Path(loanrisk.__file__).parent


def test_money_is_decimal_18_2_in_polars_and_duckdb():
    import duckdb

    assert pl.Decimal(18, 2) == MONEY
    assert duckdb.sql(f"SELECT CAST(1.005 AS {MONEY_SQL}) AS m").pl().schema["m"] == MONEY


def _spelled_out(path: Path) -> list[int]:
    """Lines of ``path`` whose code (not a docstring) writes the money type itself."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    documented = (ast.Module, ast.ClassDef, ast.FunctionDef)
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, documented) and node.body and isinstance(node.body[0], ast.Expr)
    }
    lines = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and ast.unparse(node.func).endswith("Decimal"):
            spelled = [ast.unparse(a) for a in node.args] == ["18", "2"]
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            spelled = id(node) not in docstrings and "DECIMAL(18,2)" in node.value.upper()
        else:
            spelled = False
        if spelled:
            lines.append(node.lineno)
    return lines


def test_no_other_module_spells_the_money_type():
    found = {
        str(path.relative_to(PACKAGE)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "money.py" and (lines := _spelled_out(path))
    }
    assert found == {}


def test_the_sql_type_does_not_import_polars():
    """The DAG files import the marts' SQL when they are parsed."""
    code = (
        "import sys; from loanrisk.domain.money import MONEY_SQL; import loanrisk.domain.marts; "
        "print('polars' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
