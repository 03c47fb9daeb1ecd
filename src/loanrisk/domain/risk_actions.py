"""Risk actions per borrower per day: freeze, limit cut, watchlist, blacklist
and risk-based pricing tier, each row naming the rule that fired. Pure Polars; policy in
``config/risk_actions.yaml``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import polars as pl
from pydantic import Field, model_validator

from loanrisk.domain.features import SIGNAL_COLUMNS
from loanrisk.domain.lists import sorted_list
from loanrisk.domain.yaml_models import StrictModel, load_yaml_model

Signal = str
Score = Annotated[float, Field(ge=0, le=2_000)]


class FreezeLine(StrictModel):
    min_dpd: Annotated[int, Field(ge=1, le=100_000)]
    fraud_signals: tuple[Signal, ...]


class ReduceLimit(StrictModel):
    score_below: Score
    products: tuple[str, ...] = Field(min_length=1)


class Watchlist(StrictModel):
    signals: tuple[Signal, ...] = Field(min_length=1)


class Blacklist(StrictModel):
    min_episodes_12m: Annotated[int, Field(ge=1, le=1_000)]
    dpd_over: Annotated[int, Field(ge=0, le=100_000)]
    days_without_payment: Annotated[int, Field(ge=1, le=3_660)]


class PricingTier(StrictModel):
    tier: str = Field(min_length=1)
    min_score: Score | None


class RiskActionPolicy(StrictModel):
    freeze_line: FreezeLine
    reduce_limit: ReduceLimit
    watchlist: Watchlist
    blacklist: Blacklist
    pricing_tiers: tuple[PricingTier, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _known_signals_and_ordered_tiers(self) -> RiskActionPolicy:
        for key, names in (
            ("freeze_line.fraud_signals", self.freeze_line.fraud_signals),
            ("watchlist.signals", self.watchlist.signals),
        ):
            unknown = sorted(set(names) - set(SIGNAL_COLUMNS))
            if unknown:
                raise ValueError(f"{key}: unknown signal(s) {unknown}; known: {SIGNAL_COLUMNS}")
        bounds = [t.min_score for t in self.pricing_tiers]
        if bounds[-1] is not None or None in bounds[:-1]:
            raise ValueError("pricing_tiers: only the last tier may (and must) have min_score null")
        if bounds[:-1] != sorted(bounds[:-1], reverse=True) or len(set(bounds)) != len(bounds):
            raise ValueError(f"pricing_tiers: min_score must strictly descend (got {bounds})")
        return self


def load_risk_action_policy(config_dir: Path) -> RiskActionPolicy:
    return load_yaml_model(config_dir / "risk_actions.yaml", RiskActionPolicy)


ACTION_COLUMNS = (
    "snapshot_date",
    "borrower_id",
    "action",
    "action_value",
    "rule",
    "loan_ids",
    "borrower_dpd",
    "borrower_score",
)


#: The scored-loan columns the actions read.
LOAN_COLUMNS = (
    "snapshot_date",
    "loan_id",
    "borrower_id",
    "account_status",
    "product_code",
    "dpd",
    "score",
    "episodes_12m",
    "last_payment_date",
    *SIGNAL_COLUMNS,
)


def borrowers(loans: pl.LazyFrame, policy: RiskActionPolicy) -> pl.LazyFrame:
    """One row per borrower with ACTIVE loans: loan_ids, max dpd, lowest score, episodes_12m,
    signal counts, whether a limit product is held and the loans meeting the blacklist test."""
    rule = policy.blacklist
    unpaid_since = pl.col("snapshot_date") - pl.duration(days=rule.days_without_payment)
    silent = pl.col("last_payment_date").is_null() | (pl.col("last_payment_date") <= unpaid_since)
    evading = (pl.col("dpd") > rule.dpd_over) & silent
    return (
        loans.filter(pl.col("account_status") == "ACTIVE")
        .group_by("snapshot_date", "borrower_id")
        .agg(
            pl.col("loan_id").alias("loan_ids"),
            pl.col("dpd").max().alias("borrower_dpd"),
            pl.col("score").min().alias("borrower_score"),
            pl.col("episodes_12m").max(),
            *(pl.col(s).max() for s in SIGNAL_COLUMNS),
            pl.col("product_code").is_in(list(policy.reduce_limit.products)).any().alias("limited"),
            pl.col("loan_id").filter(evading).alias("evading_loans"),
        )
        .with_columns(sorted_list("loan_ids"), sorted_list("evading_loans"))
    )


def _reasons(parts: list[tuple[pl.Expr, pl.Expr]]) -> tuple[pl.Expr, pl.Expr]:
    """(whether any condition holds, the '; '-joined texts of those that do)."""
    fires = pl.any_horizontal(cond for cond, _ in parts)
    texts = [pl.when(cond).then(text) for cond, text in parts]
    return fires, pl.concat_str(texts, separator="; ", ignore_nulls=True)


def _signal_parts(names: tuple[str, ...]) -> list[tuple[pl.Expr, pl.Expr]]:
    return [(pl.col(n) > 0, pl.format(f"{n} = {{}}", pl.col(n))) for n in names]


def freeze_line_rule(policy: RiskActionPolicy) -> tuple[pl.Expr, pl.Expr]:
    """FREEZE_LINE on a borrower row: borrower_dpd >= min_dpd or a fraud signal above 0 (the
    one freeze rule: the action and the ECL's ``line_frozen`` both use it)."""
    freeze, dpd = policy.freeze_line, pl.col("borrower_dpd")
    past_due = (dpd >= freeze.min_dpd, pl.format(f"borrower_dpd {{}} >= {freeze.min_dpd}", dpd))
    return _reasons([past_due, *_signal_parts(freeze.fraud_signals)])


def with_line_frozen(loans: pl.LazyFrame, policy: RiskActionPolicy) -> pl.LazyFrame:
    """``loans`` with ``line_frozen``: the loan's borrower gets FREEZE_LINE today (the action's
    rule over the same borrower rows), so the ECL adds no undrawn limit (DESIGN.md §5 v2)."""
    fires, _ = freeze_line_rule(policy)
    frozen = (
        borrowers(loans, policy)
        .filter(fires)
        .select("snapshot_date", "borrower_id", pl.lit(True).alias("line_frozen"))
    )
    keys = ["snapshot_date", "borrower_id"]
    joined = loans.join(frozen, on=keys, how="left", maintain_order="left")
    return joined.with_columns(pl.col("line_frozen").fill_null(False))


def action_rules(policy: RiskActionPolicy) -> dict[str, tuple[pl.Expr, pl.Expr]]:
    """Action -> (whether it fires for the borrower row, the rule text). The text is built for
    the rows that fire only: formatting it for every borrower is work thrown away."""
    cut, rule = policy.reduce_limit, policy.blacklist
    blacklisted = (pl.col("episodes_12m") >= rule.min_episodes_12m) & (
        pl.col("evading_loans").list.len() > 0
    )
    limited = pl.col("limited") & (pl.col("borrower_score") < cut.score_below)
    return {
        "FREEZE_LINE": freeze_line_rule(policy),
        "REDUCE_LIMIT": (
            limited.fill_null(False),
            pl.format(f"score {{}} < {cut.score_below:g}", pl.col("borrower_score").round(1)),
        ),
        "WATCHLIST": _reasons(_signal_parts(policy.watchlist.signals)),
        "BLACKLIST": (
            blacklisted.fill_null(False),
            pl.format(
                f"episodes_12m {{}} >= {rule.min_episodes_12m}; dpd > {rule.dpd_over} and no "
                f"payment in {rule.days_without_payment} days on {{}}",
                pl.col("episodes_12m"),
                pl.col("evading_loans").list.join(","),
            ),
        ),
    }


def pricing_tier(policy: RiskActionPolicy) -> tuple[pl.Expr, pl.Expr]:
    """(tier, rule) by the borrower's lowest score; no score -> the last (riskiest) tier."""
    score = pl.col("borrower_score")
    tier, text = pl.when(pl.lit(False)).then(pl.lit(None, pl.String)), pl.lit(None, pl.String)
    for band in policy.pricing_tiers[:-1]:
        tier = tier.when(score >= band.min_score).then(pl.lit(band.tier))
    last = policy.pricing_tiers[-1].tier
    tier = tier.otherwise(pl.lit(last))
    text = pl.when(score.is_null()).then(pl.lit("no score: riskiest tier"))
    text = text.otherwise(pl.format("score {}", score.round(1)))
    return tier, text


def risk_actions(loans: pl.LazyFrame, policy: RiskActionPolicy) -> pl.LazyFrame:
    """Every action that fires for every borrower of the day, sorted by borrower and action."""
    rows = borrowers(loans, policy)
    fired = [
        rows.filter(fires).with_columns(
            pl.lit(action).alias("action"),
            pl.lit(None, pl.String).alias("action_value"),
            text.alias("rule"),
        )
        for action, (fires, text) in action_rules(policy).items()
    ]
    tier, text = pricing_tier(policy)
    fired.append(
        rows.with_columns(
            pl.lit("PRICING_TIER").alias("action"),
            tier.alias("action_value"),
            text.alias("rule"),
        )
    )
    return pl.concat([f.select(ACTION_COLUMNS) for f in fired]).sort("borrower_id", "action")
