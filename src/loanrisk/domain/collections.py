"""Collections work queues (DESIGN.md §5 "Collections"): borrower consolidation, the
channel rules 1-10, priority and daily capacity. Pure Polars; policy in
``config/collections.yaml``. Holds and the contact window are in ``collections_holds``, agencies,
episodes and movements in ``collections_assign``, I/O in ``collections_stage``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import polars as pl
from pydantic import Field, field_validator, model_validator

from loanrisk.domain.lists import sorted_list
from loanrisk.domain.money import MONEY
from loanrisk.domain.yaml_models import Money, StrictModel, load_yaml_model, require_ascending

CHANNELS = ("SMS", "VOICE_BOT", "AGENT_CALL", "LETTER", "FIELD_VISIT", "AGENCY", "LEGAL")
SUPPRESSIONS = ("DECEASED", "BANKRUPTCY", "DISPUTE")
PII_COLUMNS = ("borrower_name", "mobile_phone", "national_id", "region_code")
FLAGS = (
    "deceased_flag",
    "bankruptcy_flag",
    "dispute_flag",
    "cease_contact_flag",
    "litigation_flag",
)
Channel = Literal["SMS", "VOICE_BOT", "AGENT_CALL", "LETTER", "FIELD_VISIT", "AGENCY", "LEGAL"]
Days = Annotated[int, Field(ge=1, le=100_000)]
Count = Annotated[int, Field(ge=0, le=100_000_000)]
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")


class ChannelRules(StrictModel):
    queue_min_dpd: Days
    voice_bot_min_dpd: Days
    agent_call_min_dpd: Days
    agency_min_dpd: Days
    field_visit_min_dpd: Days
    field_visit_min_overdue: Money
    field_visit_min_episodes_12m: Days
    field_visit_on_litigation: bool
    legal_min_dpd: Days

    @model_validator(mode="after")
    def _thresholds_ascend(self) -> ChannelRules:
        require_ascending(
            self,
            "queue_min_dpd",
            "voice_bot_min_dpd",
            "agent_call_min_dpd",
            "agency_min_dpd",
            "legal_min_dpd",
        )
        if not self.queue_min_dpd <= self.field_visit_min_dpd < self.legal_min_dpd:
            raise ValueError("field_visit_min_dpd must lie in [queue_min_dpd, legal_min_dpd)")
        return self


#: Channels that contact by phone, the only ones CONTACT_CAP counts and holds (DESIGN.md §5
#: Collections: VOICE_BOT, AGENT_CALL; an SMS, a letter or a visit is not a phone attempt).
PhoneChannel = Literal["VOICE_BOT", "AGENT_CALL"]


class Holds(StrictModel):
    contact_cap_attempts: Days
    contact_cap_window_days: Days
    phone_channels: tuple[PhoneChannel, ...] = Field(min_length=1)
    promise_lookback_days: Days

    @field_validator("phone_channels")
    @classmethod
    def _phone_channels_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"a channel repeats (got {list(value)})")
        return value


class PriorityPolicy(StrictModel):
    missing_pd_12m: Annotated[float, Field(ge=0, le=1)]


class ContactWindow(StrictModel):
    days_after_business_date: Annotated[int, Field(ge=0, le=30)]
    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _hh_mm(cls, value: str) -> str:
        if not _HHMM.match(value):
            raise ValueError(f"expected HH:MM (got {value!r})")
        return value

    @model_validator(mode="after")
    def _start_before_end(self) -> ContactWindow:
        if self.start >= self.end:
            raise ValueError(f"start ({self.start}) must be before end ({self.end})")
        return self


class ChannelPolicy(StrictModel):
    name: Channel
    daily_capacity: Count
    pii: tuple[Literal["borrower_name", "mobile_phone", "national_id", "region_code"], ...]

    @model_validator(mode="after")
    def _national_id_in_legal_only(self) -> ChannelPolicy:
        if "national_id" in self.pii and self.name != "LEGAL":
            raise ValueError(f"{self.name}: national_id may only go to LEGAL")
        if len(set(self.pii)) != len(self.pii):
            raise ValueError(f"{self.name}: pii columns repeat")
        return self


class Agency(StrictModel):
    agency_id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_]+$")
    weight: Annotated[float, Field(ge=0, le=1_000)]


class CollectionsPolicy(StrictModel):
    business_timezone: str
    rules: ChannelRules
    holds: Holds
    priority: PriorityPolicy
    contact_window: ContactWindow
    channels: tuple[ChannelPolicy, ...]
    agencies: tuple[Agency, ...] = Field(min_length=1)

    @field_validator("business_timezone")
    @classmethod
    def _iana_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"{value!r} is not a known IANA time zone") from None
        return value

    @model_validator(mode="after")
    def _every_channel_once_and_agencies(self) -> CollectionsPolicy:
        names = [c.name for c in self.channels]
        if sorted(names) != sorted(CHANNELS):
            raise ValueError(f"channels: list each of {list(CHANNELS)} once (got {names})")
        ids = [a.agency_id for a in self.agencies]
        if len(set(ids)) != len(ids):
            raise ValueError(f"agencies: agency_id repeats (got {ids})")
        if not any(a.weight > 0 for a in self.agencies):
            raise ValueError("agencies: at least one agency needs a weight above 0")
        return self

    @property
    def channel_order(self) -> tuple[str, ...]:
        """Channels from least to most severe."""
        return tuple(c.name for c in self.channels)

    def channel(self, name: str) -> ChannelPolicy:
        return next(c for c in self.channels if c.name == name)


def load_collections_policy(config_dir: Path) -> CollectionsPolicy:
    return load_yaml_model(Path(config_dir) / "collections.yaml", CollectionsPolicy)


def collections_borrowers(
    aging: pl.LazyFrame, snapshot: pl.LazyFrame, risk: pl.LazyFrame, min_dpd: int
) -> pl.LazyFrame:
    """One row per borrower with an ACTIVE loan at ``min_dpd`` or more (DESIGN.md §5 Collections:
    loans consolidated; ``queue_min_dpd`` for the queue).

    borrower_dpd = max dpd, borrower_overdue = sum of overdue_amount, flags = any, episodes_12m =
    max, pd_12m = max over the ACTIVE loans; contact details (name, phone, id, region, zone) come
    from the most recently originated ACTIVE loan (loan_id breaks ties)."""
    details = ("borrower_name", "mobile_phone", "national_id", "region_code", "borrower_timezone")
    extra = snapshot.select(
        "loan_id", "origination_date", *(f for f in FLAGS if f != "bankruptcy_flag"), *details
    )
    active = aging.filter(pl.col("account_status") == "ACTIVE")
    # Borrowers below min_dpd are left out before consolidating, not after: they are most of
    # the book, and consolidating them is work thrown away.
    listed = active.filter(pl.col("dpd") >= min_dpd).select("borrower_id").unique()
    loans = (
        active.join(listed, on="borrower_id", how="semi")
        .select(
            "snapshot_date",
            "loan_id",
            "borrower_id",
            "dpd",
            "overdue_amount",
            "episodes_12m",
            "bankruptcy_flag",
        )
        .join(extra, on="loan_id", how="left")
        .join(risk.select("loan_id", "pd_12m"), on="loan_id", how="left")
    )
    newest = [pl.col("origination_date"), pl.col("loan_id")]
    borrowers = loans.group_by("snapshot_date", "borrower_id").agg(
        pl.col("loan_id").alias("loan_ids"),
        pl.len().cast(pl.Int32).alias("loans"),
        pl.col("dpd").max().cast(pl.Int32).alias("borrower_dpd"),
        pl.col("overdue_amount").sum().cast(MONEY).alias("borrower_overdue"),
        pl.col("episodes_12m").max().fill_null(0).cast(pl.Int32),
        *(pl.col(f).fill_null(False).any() for f in FLAGS),
        pl.col("pd_12m").max(),
        *(pl.col(c).sort_by(newest, descending=True).first() for c in details),
    )
    return borrowers.with_columns(sorted_list("loan_ids"))


def field_visit_trigger(rules: ChannelRules) -> tuple[pl.Expr, pl.Expr]:
    """(condition, rule text) of rule 6: dpd >= field_visit_min_dpd and a large amount,
    repeated defaults or a lawsuit; the text lists the triggers that fired
    (DESIGN.md §5 rule 6)."""
    overdue = pl.col("borrower_overdue") >= pl.lit(rules.field_visit_min_overdue, MONEY)
    episodes = pl.col("episodes_12m") >= rules.field_visit_min_episodes_12m
    triggers = [
        (overdue, f"borrower_overdue >= {rules.field_visit_min_overdue}"),
        (episodes, f"episodes_12m >= {rules.field_visit_min_episodes_12m}"),
    ]
    if rules.field_visit_on_litigation:
        triggers.append((pl.col("litigation_flag"), "litigation_flag"))
    fired = pl.concat_str(
        [pl.when(c).then(pl.lit(t)) for c, t in triggers], separator="; ", ignore_nulls=True
    )
    condition = (pl.col("borrower_dpd") >= rules.field_visit_min_dpd) & pl.any_horizontal(
        c for c, _ in triggers
    )
    text = pl.format(f"rule 6: borrower_dpd >= {rules.field_visit_min_dpd} and ({{}})", fired)
    return condition, text


def collections_channel(rules: ChannelRules) -> tuple[pl.Expr, pl.Expr]:
    """(disposition, rule): a channel or a suppression reason, and the rule that decided it
    (DESIGN.md §5 Collections rules 1-10, first match wins)."""
    flags = (
        (1, "deceased_flag", "DECEASED"),
        (2, "bankruptcy_flag", "BANKRUPTCY"),
        (3, "dispute_flag", "DISPUTE"),
        (4, "cease_contact_flag", "LETTER"),
    )
    steps = [(pl.col(flag), outcome, pl.lit(f"rule {n}: {flag}")) for n, flag, outcome in flags]
    ladder = [
        (5, "LEGAL", rules.legal_min_dpd),
        (7, "AGENCY", rules.agency_min_dpd),
        (8, "AGENT_CALL", rules.agent_call_min_dpd),
        (9, "VOICE_BOT", rules.voice_bot_min_dpd),
        (10, "SMS", rules.queue_min_dpd),
    ]
    dpd = pl.col("borrower_dpd")
    steps += [(dpd >= m, c, pl.lit(f"rule {n}: borrower_dpd >= {m}")) for n, c, m in ladder]
    visit, visit_text = field_visit_trigger(rules)
    steps.insert(5, (visit, "FIELD_VISIT", visit_text))  # after LEGAL (rule 5), before AGENCY
    disposition = pl.when(pl.lit(False)).then(pl.lit(None, pl.String))
    rule = pl.when(pl.lit(False)).then(pl.lit(None, pl.String))
    for condition, outcome, text in steps:
        disposition = disposition.when(condition).then(pl.lit(outcome))
        rule = rule.when(condition).then(text)
    return disposition, rule


def classify_borrowers(borrowers: pl.LazyFrame, rules: ChannelRules) -> pl.LazyFrame:
    """Borrowers at queue_min_dpd or more with their disposition and rule (DESIGN.md §5: borrowers
    at dpd 0 are not in the queue; the suppressions apply to the ones that would be)."""
    disposition, rule = collections_channel(rules)
    return borrowers.filter(pl.col("borrower_dpd") >= rules.queue_min_dpd).with_columns(
        disposition.alias("disposition"), rule.alias("rule")
    )


def collections_priority(policy: PriorityPolicy) -> pl.Expr:
    """Expected loss = borrower pd_12m (max over ACTIVE loans) × borrower_overdue, CNY rounded to
    cents (DESIGN.md §5 Collections, priority)."""
    pd_12m = pl.col("pd_12m").fill_null(policy.missing_pd_12m)
    loss = (pd_12m * pl.col("borrower_overdue").cast(pl.Float64)).round(2)
    return loss.cast(MONEY)


def collections_capacity(queue: pl.DataFrame, policy: CollectionsPolicy) -> pl.DataFrame:
    """priority_rank within the channel (priority desc, borrower_id asc) and within_capacity:
    contact-allowed borrowers in rank order up to the channel's daily_capacity (held borrowers
    take no capacity) (DESIGN.md §5 Collections, priority)."""
    capacity = {c.name: c.daily_capacity for c in policy.channels}
    allowed = pl.col("contact_allowed")
    return (
        queue.sort(["channel", "priority", "borrower_id"], descending=[False, True, False])
        .with_columns(
            pl.int_range(1, pl.len() + 1, dtype=pl.Int32).over("channel").alias("priority_rank"),
            allowed.cast(pl.Int32).cum_sum().over("channel").alias("_allowed_rank"),
        )
        .with_columns(
            (
                allowed & (pl.col("_allowed_rank") <= pl.col("channel").replace_strict(capacity))
            ).alias("within_capacity")
        )
        .drop("_allowed_rank")
    )
