"""The risk report page: one HTML template with inline CSS, no scripts and no external
resources (fonts are the system's), so it opens offline and prints cleanly."""

from __future__ import annotations

from loanrisk.report import monitoring, provisions, scores, sections, write_offs
from loanrisk.report.data import ReportData
from loanrisk.report.fmt import esc
from loanrisk.report.tables import pill

CSS = """
:root{--ink:#1f2937;--muted:#6b7280;--line:#e5e7eb;--bg:#f5f7fa;--navy:#1f4e79;--red:#b42318;
--green:#067647;--amber:#b54708}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);
font:14px/1.45 -apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans CJK SC",
"PingFang SC","Microsoft YaHei",sans-serif}
header{background:var(--navy);color:#fff;padding:22px 32px}
header h1{margin:0;font-size:22px;font-weight:600}
header .meta{margin-top:4px;color:#cbd5e1;font-size:13px}
header .pill{margin-left:6px}
main{max-width:1180px;margin:0 auto;padding:20px 32px 40px}
nav{font-size:13px;margin:0 0 16px}
nav a{color:var(--navy);margin-right:14px;text-decoration:none}
nav a:hover{text-decoration:underline}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(190px,1fr));gap:14px;
margin-bottom:18px}
.card{background:#fff;border:1px solid var(--line);border-top:3px solid var(--navy);
border-radius:6px;padding:14px 16px}
.card.risk{border-top-color:var(--red)}
.card .label{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.card .value{font-size:26px;font-weight:600;margin-top:4px;font-variant-numeric:tabular-nums}
.card .sub{color:var(--muted);font-size:12px;margin-top:2px}
section{background:#fff;border:1px solid var(--line);border-radius:6px;padding:16px 20px;
margin-bottom:18px}
h2{font-size:16px;margin:0 0 6px;color:var(--navy)}
.lead{color:var(--muted);margin:0 0 12px;font-size:13px}
.row{display:flex;flex-wrap:wrap;gap:18px;align-items:flex-start}
.row>table{flex:1 1 340px}
figure{margin:0 0 10px}
figcaption{color:var(--muted);font-size:12px;text-align:center}
svg.chart{max-width:100%;height:auto;display:block;font-size:11px}
svg.chart .tick,svg.chart .label{fill:#4b5563}
svg.chart .value{fill:var(--ink);font-size:10.5px}
svg.chart .legend{fill:var(--ink);font-size:11.5px}
svg.chart .axis-title{fill:var(--muted);font-size:11px}
svg.chart .cell{font-size:10.5px}
table.data{border-collapse:collapse;width:100%;margin:6px 0 12px;font-size:13px}
table.data.narrow{width:auto;min-width:50%}
table.data caption{text-align:left;font-weight:600;padding:0 0 6px;color:var(--ink)}
table.data th{text-align:left;color:var(--muted);font-weight:600;font-size:12px;
border-bottom:2px solid var(--line);padding:6px 10px;white-space:nowrap}
table.data td{padding:5px 10px;border-bottom:1px solid var(--line)}
table.data tfoot td{font-weight:600;border-top:2px solid var(--line);border-bottom:0}
table.data tbody tr:hover{background:#f9fafb}
.num{text-align:right!important;font-variant-numeric:tabular-nums;white-space:nowrap}
.muted{color:var(--muted)}
.nowrap{white-space:nowrap}
.tag{font-size:10px;font-weight:600;color:var(--red);border:1px solid #fecdca;
background:#fef3f2;border-radius:3px;padding:0 4px;margin-left:4px}
.pill{display:inline-block;border-radius:10px;padding:1px 9px;font-size:12px;font-weight:600}
.pill.ok{background:#ecfdf3;color:var(--green)}
.pill.bad{background:#fef3f2;color:var(--red)}
.pill.warn{background:#fffaeb;color:var(--amber)}
.na{color:var(--muted);font-style:italic;margin:4px 0}
.na.bad{color:var(--red);font-style:normal}
.verdict{margin:0 0 12px;font-size:14px}
.verdict strong{font-size:18px;font-variant-numeric:tabular-nums}
.docs a{color:var(--navy);font-weight:600}
code{font:12px ui-monospace,SFMono-Regular,Menlo,Consolas,monospace}
footer{color:var(--muted);font-size:12px;text-align:center;padding:0 0 24px}
@media print{body{background:#fff}section,.card{break-inside:avoid}nav{display:none}}
"""

NAV = (
    ("buckets", "Buckets"),
    ("five-category", "Five categories"),
    ("ecl", "ECL"),
    ("write-offs", "Write-offs"),
    ("roll-rates", "Roll rates"),
    ("par-trend", "PAR trend"),
    ("vintages", "Vintages"),
    ("cure-rates", "Cure rates"),
    ("flow-rates", "Flow rates"),
    ("scores", "Scores"),
    ("risk-actions", "Risk actions"),
    ("validation", "Validation"),
)


def render(data: ReportData, docs_href: str) -> str:
    """The whole page for one business date."""
    day = esc(data.business_date.isoformat())
    status = pill(data.run.status) if data.run else ""
    nav = "".join(f'<a href="#{ident}">{esc(label)}</a>' for ident, label in NAV)
    body = "".join(
        (
            sections.headline(data),
            sections.buckets(data),
            sections.five_category(data),
            provisions.ecl(data),
            write_offs.write_offs(data.write_offs, data.views),
            sections.roll_rates(data),
            sections.par_trend(data),
            sections.vintages(data),
            monitoring.cure_rates(data),
            monitoring.flow_rates(data),
            scores.scores(data),
            scores.risk_actions(data),
            monitoring.validation(data, docs_href),
        )
    )
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Risk report {day} · loanrisk</title><style>{CSS}</style></head>"
        f"<body><header><h1>Consumer-loan risk report</h1>"
        f'<div class="meta">Business date {day} · amounts in CNY · run {status}</div></header>'
        f"<main><nav>{nav}</nav>{body}</main>"
        "<footer>Generated by loanrisk from warehouse.duckdb for the business date above; "
        "rebuild with <code>loanrisk report --date "
        f"{day}</code>.</footer></body></html>\n"
    )
