"""Unit tests of rules pin their own small policy: none of them reads the project's config/, so a
legitimate policy edit there cannot break them (end-to-end tests run on a copy of it instead).

The check reads the modules' code (comments and docstrings aside): a name or attribute that
leads to config/ (``config_dir``, ``load_settings``, ``PROJECT`` ...), a string naming the
folder, a fixture or helper of conftest.py that reads it (found the same way, transitively)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent

#: Tests of pure rules (and of their stage on pinned settings): each pins the policy it needs.
UNIT_MODULES = (
    "test_aging.py",
    "test_collections.py",
    "test_collections_holds_v2.py",
    "test_continuity.py",
    "test_credit_report_v2.py",
    "test_ecl.py",
    "test_ecl_v2.py",
    "test_flow_rates.py",
    "test_history.py",
    "test_marts.py",
    "test_probation.py",
    "test_regulatory.py",
    "test_report.py",
    "test_risk_actions.py",
    "test_scorecard.py",
    "test_signals.py",
    "test_staging.py",
    "test_write_offs.py",
)
#: Names that lead to the project's config/ folder or load it.
CONFIG_NAMES = {
    "PROJECT",
    "SHIPPED",
    "shipped_config_dir",
    "config_dir",
    "default_config_dir",
    "load_risk_policies",
    "load_settings",
}


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring nodes of a module, its classes and functions."""
    owners = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, owners)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }


def config_reads(source: str, tainted: frozenset[str] = frozenset()) -> list[str]:
    """What in ``source`` reads config/: names, attributes, arguments and strings that lead to
    it, and the conftest helpers ``tainted`` requested as a fixture or imported (a local
    variable of the same name is not one)."""
    tree = ast.parse(source)
    docs, found = _docstrings(tree), []
    for node in ast.walk(tree):
        requested = isinstance(node, ast.arg | ast.alias) and _named(node) in tainted
        if _named(node) in CONFIG_NAMES or requested:
            found.append(f"line {node.lineno}: {_named(node)}")
        elif id(node) not in docs and _names_config(node):
            found.append(f"line {node.lineno}: {node.value!r}")
    return found


def _named(node: ast.AST) -> str | None:
    """The name a node uses or binds: a variable, an attribute, an argument, an import."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    if isinstance(node, ast.arg):
        return node.arg
    if isinstance(node, ast.alias):
        return node.asname or node.name
    return None


def _names_config(node: ast.AST) -> bool:
    """A string naming the config/ folder (or the variable that points at it)."""
    if not (isinstance(node, ast.Constant) and isinstance(node.value, str)):
        return False
    text = node.value
    return text == "config" or "config/" in text or "LOANRISK_CONFIG" in text


def tainted_helpers(conftest: str) -> frozenset[str]:
    """The functions of conftest.py (fixtures and helpers) that read config/, transitively."""
    functions = [n for n in ast.parse(conftest).body if isinstance(n, ast.FunctionDef)]
    tainted: set[str] = set()
    while True:
        more = {
            f.name
            for f in functions
            if f.name not in tainted
            and (config_reads(ast.unparse(f), frozenset(tainted)) or _calls(f, tainted))
        }
        if not more:
            return frozenset(tainted)
        tainted |= more


def _calls(function: ast.FunctionDef, names: set[str]) -> bool:
    return any(isinstance(n, ast.Name) and n.id in names for n in ast.walk(function))


@pytest.fixture(scope="module")
def tainted() -> frozenset[str]:
    return tainted_helpers((TESTS / "conftest.py").read_text(encoding="utf-8"))


def test_the_check_sees_the_ways_a_test_reads_config():
    conftest = (
        "def config_dir():\n    return PROJECT / 'config'\n"
        "def settings(tmp_path, config_dir):\n    return 1\n"
        "def policy():\n    return classification_policy()\n"
        "def shipped(tmp_path):\n    return settings(tmp_path, None)\n"
    )
    helpers = tainted_helpers(conftest)
    assert helpers == {"config_dir", "settings", "shipped"}
    reads = [
        "def cpolicy(config_dir):\n    return load_collections_policy(config_dir)",
        "CARD = load_scorecard(Path(__file__).parents[1] / 'config' / 'scorecard.yaml')",
        "POLICY = load_yaml_model(Path('config/ecl.yaml'), EclPolicy)",
        "def test_x(settings):\n    return settings.risk",
        "from conftest import shipped",
        "def test_y(tmp_path):\n    return load_settings(None, tmp_path).classification",
    ]
    for source in reads:
        assert config_reads(source, helpers), source
    pinned = '"""Not from config/."""\ndef test_z(tmp_path, policy):\n    settings = pin(policy)'
    assert config_reads(pinned, helpers) == []


@pytest.mark.parametrize("module", UNIT_MODULES)
def test_unit_tests_do_not_read_the_projects_config(module, tainted):
    source = (TESTS / module).read_text(encoding="utf-8")
    assert config_reads(source, tainted) == [], f"{module} reads config/: pin its policy instead"


def test_the_pinned_fixtures_are_not_read_from_config(tainted):
    assert "policy" not in tainted and "stage_settings" not in tainted
    assert {"config_dir", "settings"} <= tainted  # the end-to-end fixtures: a copy of config/
