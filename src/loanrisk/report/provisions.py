"""The "Expected credit loss (IFRS 9)" section: the day's loss allowance by product and ECL stage
(``loan_risk``), with stage and product totals and a grouped bar chart of ECL by stage."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from loanrisk.report import bars, charts, fmt
from loanrisk.report.data import ReportData
from loanrisk.report.fmt import esc
from loanrisk.report.risk_data import EclCell
from loanrisk.report.tables import figure, not_available, section, table

STAGES = {1: "12-month ECL", 2: "lifetime ECL", 3: "credit-impaired"}
HEADERS = ["Loans", "EAD (CNY)", "ECL (CNY)", "Coverage"]
NUMERIC = [True] * len(HEADERS)


def _figures(cells: Iterable[EclCell]) -> tuple[int, Decimal, Decimal]:
    cells = list(cells)
    loans = sum(c.loans for c in cells)
    return loans, sum((c.ead for c in cells), Decimal(0)), sum((c.ecl for c in cells), Decimal(0))


def _values(loans: int, ead: Decimal, ecl: Decimal) -> list[str]:
    return [fmt.count(loans), fmt.money(ead), fmt.money(ecl), fmt.pct(fmt.share(ecl, ead))]


def _stage_label(stage: int) -> str:
    """``Stage 2``, its meaning as a tooltip; never wrapped."""
    tip = f' title="{esc(STAGES[stage])}"' if stage in STAGES else ""
    return f'<span class="nowrap"{tip}>{esc(f"Stage {stage}")}</span>'


def _by_stage(cells: list[EclCell], stages: list[int]) -> str:
    total_ecl = _figures(cells)[2]
    rows = []
    for stage in stages:
        figures = _figures(c for c in cells if c.stage == stage)
        share = fmt.pct(fmt.share(figures[2], total_ecl), 1)
        rows.append([_stage_label(stage), *_values(*figures), share])
    foot = ["Total", *_values(*_figures(cells)), "100.0%"]
    headers = ["Stage", *HEADERS, "Share of ECL"]
    return table(headers, rows, [False, *NUMERIC, True], foot, caption="By stage")


def _by_product(cells: list[EclCell], products: list[str]) -> str:
    """Each product's stages, then the product's total in bold; the grand total in the foot."""
    rows = []
    for product in products:
        own = [c for c in cells if c.product == product]
        rows += [[esc(product), _stage_label(c.stage), *_values(*_figures([c]))] for c in own]
        total = [f"<strong>{v}</strong>" for v in _values(*_figures(own))]
        rows.append([f"<strong>{esc(product)}</strong>", "<strong>All stages</strong>", *total])
    foot = ["Total", "All stages", *_values(*_figures(cells))]
    headers = ["Product", "Stage", *HEADERS]
    return table(headers, rows, [False, False, *NUMERIC], foot, caption="By product and stage")


def _chart(cells: list[EclCell], products: list[str], stages: list[int]) -> str:
    by_key = {(c.product, c.stage): float(c.ecl) for c in cells}
    groups = [
        bars.Bars(product, tuple(by_key.get((product, s), 0.0) for s in stages), color)
        for product, color in zip(products, charts.PALETTE, strict=False)
    ]
    svg = bars.grouped_bar_chart(
        "ecl_by_stage",
        "ECL by stage and product (CNY)",
        [f"Stage {s}" for s in stages],
        groups,
        fmt.money_short,
    )
    return figure(svg, "ECL (CNY) by ECL stage, one bar per product")


def ecl(data: ReportData) -> str:
    """Loans, EAD, ECL and coverage (ECL / EAD) of the day's non-closed loans by product and
    ``ecl_stage``; stage totals beside the chart, product totals in the detail table."""
    title = "Expected credit loss (IFRS 9)"
    cells = data.ecl_cells
    if not cells:
        return section("ecl", title, not_available("loan_risk", data.views))
    products = sorted({c.product for c in cells})
    stages = sorted({c.stage for c in cells})
    lead = (
        "Loss allowance of the day's loans that are not closed, by product and the IFRS 9 stage "
        "used for ECL (the aging stage, raised from 1 to 2 by the SICR PD rule): stage 1 holds "
        "12-month ECL, stage 2 lifetime ECL, stage 3 LGD × EAD. Coverage = ECL / EAD."
    )
    head = f'<div class="row">{_chart(cells, products, stages)}{_by_stage(cells, stages)}</div>'
    return section("ecl", title, head + _by_product(cells, products), lead)
