"""Report sections for collections performance (cure and flow rates) and data validation."""

from __future__ import annotations

import json

from loanrisk.report import fmt
from loanrisk.report.data import CURE_MONTHS, FLOW_MONTHS, ReportData, Run
from loanrisk.report.fmt import esc
from loanrisk.report.tables import not_available, pill, section, table


def cure_rates(data: ReportData) -> str:
    """Loans entering M1 by month and product, and the share back in M0 within the mart's
    cure_window_days (config history.cure_window_days, shown from the data, never assumed)."""
    if not data.cure_rates:
        title = "Cure rates (M1 → M0)"
        return section("cure-rates", title, not_available("cure_rates", data.views))
    windows = sorted({row[2] for row in data.cure_rates})
    title = f"Cure rates (M1 → M0 within {' / '.join(map(str, windows))} days)"
    rows = [
        [
            esc(f"{month:%Y-%m}"),
            esc(product),
            fmt.count(entered),
            fmt.count(observed),
            fmt.count(cured),
            fmt.pct(rate, 1),
        ]
        for month, product, _window, entered, observed, cured, rate in data.cure_rates
    ]
    headers = ["Entry month", "Product", "Entered", "Observed", "Cured", "Cure rate"]
    lead = f"The latest {CURE_MONTHS} entry months up to the business date."
    body = table(headers, rows, [False, False, True, True, True, True])
    return section("cure-rates", title, body, lead)


def flow_rates(data: ReportData) -> str:
    """Month-end flow from each bucket to the next or a worse one (loan-level), with the loss
    rate."""
    title = "Flow rates (month end)"
    if not data.flow_rates:
        return section("flow-rates", title, not_available("flow_rates", data.views))
    rows = [
        [
            esc(month_end),
            f"{esc(src)} → {esc(dst) or '–'}",
            fmt.money(from_balance),
            fmt.money(rolled_balance),
            fmt.pct(roll, 1),
            fmt.pct(loss, 2),
        ]
        for month_end, src, dst, from_balance, rolled_balance, roll, loss in data.flow_rates
    ]
    headers = ["Month end", "Flow", "From balance", "Rolled balance", "Roll rate", "Loss rate"]
    lead = (
        f"The latest {FLOW_MONTHS} month ends up to the business date; balances in CNY. Roll"
        " rate: the share of a bucket's balance at the month end before whose loans are in"
        " the next bucket or a worse one (written off included) at this one."
    )
    body = table(headers, rows, [False, False, True, True, True, True])
    return section("flow-rates", title, body, lead)


def _gate_rows(gates: list) -> list[list[str]]:
    rows = []
    for gate in gates:
        value, limit = gate.get("value"), gate.get("limit")
        rows.append(
            [
                esc(gate.get("gate", "")),
                pill(str(gate.get("status", ""))),
                fmt.pct(value) if isinstance(value, int | float) else esc(value),
                fmt.pct(limit) if isinstance(limit, int | float) else esc(limit),
                esc(gate.get("detail", ""))
                + (f" — accepted: {esc(gate['reason'])}" if gate.get("reason") else ""),
            ]
        )
    return rows


def _facts(run: Run) -> str:
    share = fmt.share(run.rows_quarantined, run.rows_in)
    values = [run.rows_in, run.rows_valid, run.rows_quarantined]
    return table(
        ["Status", "Rows in", "Rows valid", "Rows quarantined", "Quarantined share"],
        [[pill(run.status), *(fmt.count(v) for v in values), fmt.pct(share)]],
        [False, True, True, True, True],
    )


def _failure(run: Run) -> str:
    if not run.failure:
        return ""
    message = run.failure.get("message") if isinstance(run.failure, dict) else run.failure
    return f'<p class="na bad">Failed: {esc(message or json.dumps(run.failure))}</p>'


def _warnings(run: Run) -> str:
    if not run.warnings:
        return '<p class="muted">No warnings.</p>'
    rows = [[f"<code>{esc(rule)}</code>", fmt.count(n)] for rule, n in run.warnings.items()]
    return table(
        ["Warning rule", "Rows"], rows, [False, True], caption="Warnings by rule", narrow=True
    )


def _gates(run: Run) -> str:
    if not run.gates:
        return '<p class="muted">No gates evaluated.</p>'
    headers = ["Gate", "Status", "Value", "Limit", "Detail"]
    rows = _gate_rows(run.gates)
    return table(headers, rows, [False, False, True, True, False], caption="Batch gates")


def validation(data: ReportData, docs_href: str) -> str:
    """The day's pipeline_runs row: status, row reconciliation, warnings by rule, gates, and a
    link to the Great Expectations Data Docs."""
    title = "Data validation"
    link = (
        f'<p class="docs">Full expectation results: <a href="{esc(docs_href)}">'
        "Great Expectations Data Docs</a></p>"
    )
    run = data.run
    if run is None:
        return section("validation", title, not_available("pipeline_runs", data.views) + link)
    body = f"{_facts(run)}{_failure(run)}{_gates(run)}{_warnings(run)}{link}"
    return section("validation", title, body)
