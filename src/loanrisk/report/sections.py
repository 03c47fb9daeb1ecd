"""The risk report's sections, each a function of ``ReportData`` returning escaped HTML.

A section whose data is missing says "not available" and why, instead of failing.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from itertools import pairwise

from loanrisk.report import charts, fmt
from loanrisk.report.data import MAX_VINTAGES, TREND_DAYS, BucketOrder, ReportData
from loanrisk.report.fmt import esc
from loanrisk.report.tables import (
    FIVE_CATEGORIES,
    card,
    figure,
    not_available,
    ordered,
    section,
    table,
)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def headline(data: ReportData) -> str:
    """Active loans and balance (loan_aging), NPL ratio and PAR30 (portfolio_summary, ALL/ALL),
    ECL and coverage (loans not closed) only when the loan_risk view exists."""
    head, book = data.headline, data.portfolio
    cards = []
    if head:
        closed = f"{fmt.count(head.written_off)} written off, {fmt.count(head.closed)} closed today"
        cards.append(card("Active loans", fmt.count(head.active_loans), closed))
        cards.append(card("Active balance (CNY)", fmt.money(head.active_balance), "outstanding"))
    else:
        cards.append(card("Active loans", fmt.NOT_AVAILABLE, "no loan_aging rows"))
    if book:
        npl = f"NPL balance {fmt.money(book.npl_outstanding)}"
        cards.append(card("NPL ratio", fmt.pct(book.npl_ratio), npl, "risk"))
        par = f"PAR1 {fmt.pct(book.par1)} · PAR90 {fmt.pct(book.par90)}"
        cards.append(card("PAR30", fmt.pct(book.par30), par, "risk"))
    else:
        missing = "portfolio_summary not available"
        cards += [card("NPL ratio", fmt.NOT_AVAILABLE, missing), card("PAR30", fmt.NOT_AVAILABLE)]
    if "loan_risk" in data.views:
        cards.append(_ecl_card(data))
    return f'<div class="cards">{"".join(cards)}</div>'


def _ecl_card(data: ReportData) -> str:
    """Total ECL of the day and coverage = ECL / EAD, both over loans not closed."""
    ecl = data.ecl
    if ecl is None:
        return card("ECL (CNY)", fmt.NOT_AVAILABLE, "no loan_risk rows", "risk")
    sub = (
        f"coverage {fmt.pct(fmt.share(ecl.ecl, ecl.ead))} of EAD {fmt.money_short(float(ecl.ead))}"
    )
    return card("ECL (CNY)", fmt.money(ecl.ecl), sub, "risk")


def _bucket_charts(names: list[str], loans: list[int], balances: list[Decimal]) -> str:
    by_count = charts.bar_chart(
        "bucket_loans", "Loans by aging bucket", names, loans, fmt.count_short
    )
    by_balance = charts.bar_chart(
        "bucket_balance",
        "Outstanding principal by aging bucket (CNY)",
        names,
        [float(b) for b in balances],
        fmt.money_short,
        color=charts.PALETTE[4],
    )
    return figure(by_count, "Loans") + figure(by_balance, "Outstanding principal (CNY)")


def buckets(data: ReportData) -> str:
    """Loans and outstanding by aging_bucket on the day (loan_aging)."""
    if not data.buckets:
        return section("buckets", "Aging buckets", not_available("loan_aging", data.views))
    by_name = {name: (loans, balance) for name, loans, balance in data.buckets}
    names = ordered(by_name, data.bucket_order.names)
    loans = [by_name[n][0] for n in names]
    balances = [by_name[n][1] for n in names]
    charts_html = _bucket_charts(names, loans, balances)
    total_loans, total_balance = sum(loans), sum(balances, Decimal(0))
    rows = [
        [
            esc(n),
            fmt.count(c),
            fmt.pct(fmt.share(c, total_loans), 1),
            fmt.money(b),
            fmt.pct(fmt.share(b, total_balance), 1),
        ]
        for n, c, b in zip(names, loans, balances, strict=True)
    ]
    foot = ["Total", fmt.count(total_loans), "100.0%", fmt.money(total_balance), "100.0%"]
    headers = ["Bucket", "Loans", "Share", "Outstanding (CNY)", "Share"]
    body = f'<div class="row">{charts_html}</div>' + table(
        headers, rows, [False, True, True, True, True], foot
    )
    return section(
        "buckets",
        "Aging buckets",
        body,
        "Every loan in the day's snapshot by DPD bucket; WO = written off.",
    )


def five_category(data: ReportData) -> str:
    """Five-category classification (loans, outstanding, share of outstanding); CLOSED excluded."""
    title = "Five-category classification"
    if not data.five_category:
        return section("five-category", title, not_available("loan_aging", data.views))
    by_name = {name: (loans, balance) for name, loans, balance in data.five_category}
    total_loans = sum(v[0] for v in by_name.values())
    total = sum((v[1] for v in by_name.values()), Decimal(0))
    rows = []
    for name in ordered(by_name, tuple(FIVE_CATEGORIES)):
        loans, balance = by_name[name]
        npl = ' <span class="tag">NPL</span>' if name in ("SUBSTANDARD", "DOUBTFUL", "LOSS") else ""
        label = f"{esc(FIVE_CATEGORIES.get(name, name))}{npl}"
        rows.append(
            [label, fmt.count(loans), fmt.money(balance), fmt.pct(fmt.share(balance, total))]
        )
    foot = ["Total", fmt.count(total_loans), fmt.money(total), "100.00%"]
    body = table(
        ["Category", "Loans", "Outstanding (CNY)", "Share of outstanding"],
        rows,
        [False, True, True, True],
        foot,
    )
    return section("five-category", title, body + _probation_note(data))


def _probation_note(data: ReportData) -> str:
    """How many loans probation holds (DESIGN.md §5 v2): a class kept after the arrears cleared
    until the upgrade conditions hold, a stage 3 kept until its probation ends."""
    if data.probation is None:
        return ""
    npl, stage3 = data.probation
    return (
        f'<p class="muted" id="probation">In upgrade probation: {fmt.count(npl)} loans keep a '
        f"non-performing class after their arrears cleared (upgrade conditions not yet met); "
        f"{fmt.count(stage3)} loans are held in IFRS 9 stage 3 until their probation ends.</p>"
    )


def roll_rates(data: ReportData) -> str:
    """Share of each from_bucket's loans that moved to each to_bucket since the previous day."""
    title = "Roll rates"
    if not data.roll_rates:
        return section("roll-rates", title, not_available("roll_rates", data.views))
    cells = {(r[0], r[1]): r[5] for r in data.roll_rates if r[5] is not None}
    order = data.bucket_order.names
    rows = ordered({r[0] for r in data.roll_rates}, ("NEW", *order))
    cols = ordered({r[1] for r in data.roll_rates}, (*order, "EXIT"))
    previous = data.roll_rates[0][2]
    svg = charts.heatmap(
        "roll_rates",
        f"Roll rates by loan count, {previous} to {data.business_date}",
        rows,
        cols,
        cells,
        lambda v: fmt.pct(v, 1),
        (f"from {previous}", f"to {data.business_date}"),
    )
    lead = (
        f"Loans by bucket on {esc(previous)} (rows) and on {esc(data.business_date)} "
        "(columns), as a share of the row; NEW = not on the book the previous day, "
        "EXIT = no longer in the snapshot."
    )
    rolls = _forward_rolls(data.roll_rates, data.bucket_order)
    body = f'<div class="row">{figure(svg)}{rolls}</div>'
    return section("roll-rates", title, body, lead)


def _forward_rolls(rows: list[tuple], order: BucketOrder) -> str:
    """Each bucket's roll to the next one along the chain (M0 -> M1, ..., M7 -> WO): loans in
    the bucket the previous day, how many rolled forward, and the shares by count and balance."""
    steps = dict(pairwise(order.chain))
    cells = []
    for src in ordered({r[0] for r in rows if r[0] in steps}, order.chain):
        dst = steps[src]
        loans = sum(r[3] for r in rows if r[0] == src)
        rolled = [r for r in rows if r[0] == src and r[1] == dst]
        moved, share, balance_share = (
            (rolled[0][3], rolled[0][5], rolled[0][6]) if rolled else (0, 0.0, 0.0)
        )
        cells.append(
            [
                f"{esc(src)} → {esc(dst)}",
                fmt.count(loans),
                fmt.count(moved),
                fmt.pct(share),
                fmt.pct(balance_share),
            ]
        )
    headers = ["Roll", "Loans before", "Rolled", "Share (count)", "Share (balance)"]
    return table(headers, cells, [False, True, True, True, True], caption="Forward roll rates")


def date_ticks(days: list[dt.date], count: int = 7) -> list[tuple[float, str]]:
    if not days:
        return []
    picks = sorted({round(i * (len(days) - 1) / max(count - 1, 1)) for i in range(count)})
    return [(days[i].toordinal(), f"{MONTHS[days[i].month - 1]} {days[i].day}") for i in picks]


def par_trend(data: ReportData) -> str:
    """PAR1, PAR30 and PAR90 (portfolio_summary, ALL/ALL) over the last 90 days ending D."""
    title = f"Portfolio at risk, last {TREND_DAYS} days"
    if not data.par_trend:
        return section("par-trend", title, not_available("portfolio_summary", data.views))
    days = [row[0] for row in data.par_trend]
    series = [
        charts.Series(name, tuple((r[0].toordinal(), r[i]) for r in data.par_trend), color)
        for i, name, color in (
            (1, "PAR1", charts.PALETTE[0]),
            (2, "PAR30", charts.PALETTE[1]),
            (3, "PAR90", charts.PALETTE[2]),
        )
    ]
    svg = charts.line_chart("par_trend", title, series, date_ticks(days), fmt.pct_axis)
    lead = "Share of active outstanding principal more than 0, 30 and 90 days past due."
    return section("par-trend", title, figure(svg), lead)


def vintages(data: ReportData) -> str:
    """Ever-30+ rate (by count) by months on book, one line per origination month."""
    title = "Vintage curves"
    if not data.vintages:
        return section("vintages", title, not_available("vintage_curves", data.views))
    months = sorted({r[0] for r in data.vintages})
    span = max(len(months) - 1, 1)
    series = [
        charts.Series(
            f"{month:%Y-%m}",
            tuple((r[1], r[2]) for r in data.vintages if r[0] == month),
            charts.heat_color(0.3 + 0.7 * i / span),
        )
        for i, month in enumerate(months)
    ]
    mobs = sorted({r[1] for r in data.vintages})
    ticks = [(float(t), f"{t:g}") for t in charts.nice_ticks(mobs[0], mobs[-1], 6) if t == int(t)]
    svg = charts.line_chart(
        "vintages",
        "Ever 30+ DPD rate by months on book",
        series,
        ticks,
        fmt.pct_axis,
        legend_width=90,
    )
    lead = (
        f"Share of each origination month's loans ever more than 30 days past due, by months "
        f"on book; the latest {MAX_VINTAGES} vintages, darker = more recent."
    )
    return section("vintages", title, figure(svg, "Months on book"), lead)
