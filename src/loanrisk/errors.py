"""Typed errors. Each carries a stable code; the CLI prints ``str(error)`` as one line."""

from __future__ import annotations

from dataclasses import dataclass, field


class LoanriskError(Exception):
    """Base class: an expected failure with a one-line reason for the operator."""

    code = "LOANRISK_ERROR"

    def __str__(self) -> str:
        return f"[{self.code}] {super().__str__()}"


class ConfigError(LoanriskError):
    code = "CONFIG_INVALID"


class InputFileError(LoanriskError):
    """The day's input file is missing, unreadable, empty or structurally broken."""

    code = "INPUT_FILE"


class UsageError(LoanriskError):
    code = "USAGE"


@dataclass(frozen=True)
class RuleViolation:
    """One contract rule broken by one or more rows of a file."""

    code: str
    column: str
    rows: int
    sample_lines: tuple[int, ...] = field(default=())
    sample_values: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        lines = ",".join(str(n) for n in self.sample_lines)
        values = ",".join(repr(v) for v in self.sample_values)
        detail = f" e.g. line {lines}" if lines else ""
        detail += f" value {values}" if values else ""
        return f"{self.code}({self.column}) x{self.rows}{detail}"


class ContractViolationError(LoanriskError):
    """All the rule violations found in a file, reported together."""

    code = "CONTRACT_VIOLATION"

    def __init__(self, file_name: str, violations: list[RuleViolation]):
        self.file_name = file_name
        self.violations = violations
        summary = "; ".join(v.describe() for v in violations)
        super().__init__(f"{file_name}: {len(violations)} rule(s) broken: {summary}")
