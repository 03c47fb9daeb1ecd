"""Self-contained HTML risk report per business day (``reports/D/risk_report.html``)."""

from loanrisk.report.build import build_risk_report

__all__ = ["build_risk_report"]
