"""Plain re-implementations of the pipeline's core rules, to time and to check it against.

The shared core work, for a two-day sequence D1, D2 of landing files: parse each day's loans
CSV; dpd, aging_bucket, five_category, ifrs9_stage per loan; borrower episodes_12m over the two
days (history from scratch at D1, DESIGN §5); the D1 -> D2 roll-rate matrix (loans and
balance per from_bucket x to_bucket, NEW and EXIT included); the collections disposition per
borrower and day (channel or suppression reason, DESIGN §5 rules 1-10).

``Rules`` holds the policy numbers, read from ``config/classification.yaml`` and
``config/collections.yaml`` with plain YAML (not the pipeline's loaders). Each baseline module
has ``core(landing_dir, day1, day2, rules) -> dict[str, frame]`` with the result tables of
``RESULT_COLUMNS`` (money as exact two-decimal text, dates as ISO text).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import yaml

FIVE_CATEGORIES = ("NORMAL", "SPECIAL_MENTION", "SUBSTANDARD", "DOUBTFUL", "LOSS")
FLAGS = ("deceased_flag", "bankruptcy_flag", "dispute_flag", "cease_contact_flag")

#: Result tables compared with the pipeline, and their columns (the sort key first).
RESULT_COLUMNS = {
    "aging": (
        "snapshot_date",
        "loan_id",
        "borrower_id",
        "account_status",
        "overdue_amount",
        "dpd",
        "aging_bucket",
        "five_category",
        "ifrs9_stage",
        "episodes_12m",
    ),
    "roll_rates": ("from_bucket", "to_bucket", "loans", "balance"),
    "channels": (
        "snapshot_date",
        "borrower_id",
        "disposition",
        "borrower_dpd",
        "borrower_overdue",
        "loans",
    ),
}


@dataclass(frozen=True)
class Rules:
    """The policy numbers the baselines apply (DESIGN §5), as configured."""

    materiality_cents: int
    buckets: tuple[tuple[str, int | None], ...]  # (name, inclusive max dpd), last open-ended
    written_off_bucket: str
    closed_bucket: str
    five_min_dpd: dict  # category -> lowest dpd (SPECIAL_MENTION..LOSS)
    forbearance_floor: str
    bankruptcy_floor: str
    stage3_dpd_over: int
    stage2_dpd_over: int
    forbearance_is_stage2: bool
    bankruptcy_is_stage3: bool
    channel: dict  # config/collections.yaml ``rules``, field_visit_min_overdue in cents

    def rank(self, category: str) -> int:
        return FIVE_CATEGORIES.index(category)


def cents(text: str) -> int:
    return int(Decimal(str(text)) * 100)


def load_rules(config_dir: Path) -> Rules:
    """Rules from the YAML files in ``config_dir``."""
    cls = yaml.safe_load((config_dir / "classification.yaml").read_text(encoding="utf-8"))
    col = yaml.safe_load((config_dir / "collections.yaml").read_text(encoding="utf-8"))
    five, ifrs9 = cls["five_category"], cls["ifrs9"]
    thresholds = five["profiles"][five["profile"]]
    channel = dict(col["rules"])
    channel["field_visit_min_overdue"] = cents(channel["field_visit_min_overdue"])
    return Rules(
        materiality_cents=cents(cls["materiality_amount"]),
        buckets=tuple((b["name"], b["max_dpd"]) for b in cls["aging_buckets"]),
        written_off_bucket=cls["written_off_bucket"],
        closed_bucket=cls["closed_bucket"],
        five_min_dpd={
            "SPECIAL_MENTION": thresholds["special_mention_min_dpd"],
            "SUBSTANDARD": thresholds["substandard_min_dpd"],
            "DOUBTFUL": thresholds["doubtful_min_dpd"],
            "LOSS": thresholds["loss_min_dpd"],
        },
        forbearance_floor=five["forbearance_floor"],
        bankruptcy_floor=five["bankruptcy_floor"],
        stage3_dpd_over=ifrs9["stage3_dpd_over"],
        stage2_dpd_over=ifrs9["stage2_dpd_over"],
        forbearance_is_stage2=ifrs9["forbearance_is_stage2"],
        bankruptcy_is_stage3=ifrs9["bankruptcy_is_stage3"],
        channel=channel,
    )


def loans_file(landing_dir: Path, day: dt.date) -> Path:
    """The day's loans landing CSV (DESIGN §3 naming)."""
    return Path(landing_dir) / f"loans_{day.isoformat()}.csv"


def ladder(rules: Rules) -> list[tuple[str, str]]:
    """Collections rules 5-10 after the flags, as (disposition, condition over borrower columns
    ``dpd``, ``overdue_cents``, ``episodes``, ``litigation``) in SQL/pandas-eval syntax."""
    r = rules.channel
    triggers = [
        f"overdue_cents >= {r['field_visit_min_overdue']}",
        f"episodes >= {r['field_visit_min_episodes_12m']}",
    ]
    if r["field_visit_on_litigation"]:
        triggers.append("litigation")
    visit = f"dpd >= {r['field_visit_min_dpd']} and ({' or '.join(triggers)})"
    return [
        ("LEGAL", f"dpd >= {r['legal_min_dpd']}"),
        ("FIELD_VISIT", visit),
        ("AGENCY", f"dpd >= {r['agency_min_dpd']}"),
        ("AGENT_CALL", f"dpd >= {r['agent_call_min_dpd']}"),
        ("VOICE_BOT", f"dpd >= {r['voice_bot_min_dpd']}"),
        ("SMS", f"dpd >= {r['queue_min_dpd']}"),
    ]


#: Collections rules 1-4: (flag, disposition), first match wins.
FLAG_RULES = (
    ("deceased_flag", "DECEASED"),
    ("bankruptcy_flag", "BANKRUPTCY"),
    ("dispute_flag", "DISPUTE"),
    ("cease_contact_flag", "LETTER"),
)
