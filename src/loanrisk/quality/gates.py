"""Batch gates: checks on a whole day's file that stop the day when breached.

File gates (missing, incomplete against its control file, unreadable, empty, column missing)
stop the day outright. Data gates (quarantine share, day-over-day row count and outstanding
balance) can be accepted by an operator with a reason, which the run manifest records.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from decimal import Decimal

from loanrisk.config import ValidationPolicy
from loanrisk.errors import GateError

FILE_GATES = ("FILE_MISSING", "FILE_INCOMPLETE", "FILE_UNREADABLE", "FILE_EMPTY", "COLUMN_MISSING")


@dataclass(frozen=True)
class GateResult:
    gate: str
    status: str  # passed | failed | accepted
    value: float | None
    limit: float | None
    detail: str
    reason: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in asdict(self).items() if v is not None}


def _share_change(today: Decimal | int, previous: Decimal | int) -> float:
    if previous == 0:
        return 0.0 if today == 0 else float("inf")
    return float(abs(Decimal(today) - Decimal(previous)) / Decimal(previous))


def _judge(gate: str, value: float, limit: float, detail: str, accepted: dict) -> GateResult:
    """``detail`` describes the measurement; the verdict adds the limit as a percentage."""
    if value <= limit:
        return GateResult(gate, "passed", round(value, 6), limit, f"{detail} <= max {limit:.2%}")
    detail = f"{detail} > max {limit:.2%}"
    if gate in accepted:
        return GateResult(gate, "accepted", round(value, 6), limit, detail, accepted[gate])
    return GateResult(gate, "failed", round(value, 6), limit, detail)


def quarantine_share_gate(
    rows_in: int, rows_quarantined: int, policy: ValidationPolicy, accepted: dict[str, str]
) -> GateResult:
    share = rows_quarantined / rows_in if rows_in else 0.0
    detail = f"{rows_quarantined} of {rows_in} rows quarantined ({share:.2%})"
    return _judge("QUARANTINE_SHARE", share, policy.max_quarantine_share, detail, accepted)


def change_gates(
    today: dict,
    previous: dict | None,
    policy: ValidationPolicy,
    accepted: dict[str, str],
) -> list[GateResult]:
    """Row count and outstanding balance against the previous processed day (if any)."""
    if previous is None:
        return []
    rows = _share_change(today["rows"], previous["rows"])
    balance = _share_change(Decimal(today["outstanding"]), Decimal(previous["outstanding"]))
    return [
        _judge(
            "ROW_COUNT_CHANGE",
            rows,
            policy.max_row_count_change,
            f"{today['rows']} valid rows vs {previous['rows']} on {previous['date']} "
            f"(change {rows:.1%})",
            accepted,
        ),
        _judge(
            "OUTSTANDING_CHANGE",
            balance,
            policy.max_outstanding_change,
            f"outstanding {today['outstanding']} vs {previous['outstanding']} on "
            f"{previous['date']} (change {balance:.1%})",
            accepted,
        ),
    ]


def raise_on_failure(results: list[GateResult], file_name: str) -> None:
    for result in results:
        if result.status == "failed":
            raise GateError(result.gate, file_name, result.detail)
