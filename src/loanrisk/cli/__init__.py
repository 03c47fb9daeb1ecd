"""The ``loanrisk`` command line."""

from loanrisk.cli.main import main

__all__ = ["main"]
