"""Typed errors. Each carries a stable code; the CLI prints ``str(error)`` as one line."""

from __future__ import annotations


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
