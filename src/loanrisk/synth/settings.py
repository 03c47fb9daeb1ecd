"""The synthetic generator's settings: ``config/synth.yaml``, validated on load.

Every probability or rate the simulation uses lives in that file. Probabilities are fractions in
[0, 1]; "per day" rates are daily hazards; ``*_30d`` values are probabilities over 30 days that the
simulation turns into daily hazards. Amounts are CNY decimal strings with at most 2 decimals.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from loanrisk.config import default_config_dir
from loanrisk.domain.yaml_models import StrictModel, load_yaml_model, strictly_ascending

Probability = Annotated[float, Field(ge=0, le=1)]
Rate = Annotated[float, Field(ge=0, le=1000)]
Multiplier = Annotated[float, Field(ge=0, le=1000)]
Amount = Annotated[Decimal, Field(gt=Decimal("0"), max_digits=18, decimal_places=2)]
Count = Annotated[int, Field(ge=0, le=100_000)]
Channel = Literal["SMS", "VOICE_BOT", "AGENT_CALL", "LETTER", "FIELD_VISIT", "AGENCY", "LEGAL"]
Outcome = Literal[
    "NO_ANSWER", "CONTACTED", "PROMISE_TO_PAY", "REFUSED", "WRONG_NUMBER", "DISPUTE_RAISED"
]
_SUM_TOLERANCE = 1e-6


def _sums_to_one(values: list[float], what: str) -> None:
    if abs(sum(values) - 1.0) > _SUM_TOLERANCE:
        raise ValueError(f"{what} must sum to 1 (got {sum(values):.6f})")


def cents(amount: Decimal) -> int:
    """A CNY amount as integer cents."""
    return int(amount * 100)


class BookConfig(StrictModel):
    seasoning_max_days: Annotated[int, Field(ge=1, le=3650)]
    loans_per_borrower: tuple[Probability, ...] = Field(min_length=1, max_length=10)
    daily_origination_share: Probability
    repeat_customer_share: Probability
    write_off_after_dpd: Annotated[int, Field(ge=1, le=10_000)]
    write_off_daily_probability: Probability
    write_off_daily_probability_litigation: Probability
    penalty_rate_multiplier: Multiplier
    fraud_borrower_share: Probability

    @model_validator(mode="after")
    def _shares(self) -> BookConfig:
        _sums_to_one(list(self.loans_per_borrower), "loans_per_borrower")
        return self


class RiskGrade(StrictModel):
    name: str = Field(min_length=1)
    share: Probability
    annual_rate: Annotated[float, Field(ge=0, le=0.36)]
    miss_probability: Probability
    cure_multiplier: Multiplier
    utilisation: Probability
    initial_delinquent_share: Probability
    past_episodes_mean: Annotated[float, Field(ge=0, le=100)]


class AmortisingProduct(StrictModel):
    share: Probability
    amount_min: Amount
    amount_max: Amount
    terms: tuple[Annotated[int, Field(ge=1, le=360)], ...] = Field(min_length=1)
    term_weights: tuple[Probability, ...] = Field(min_length=1)
    rate_offset: Annotated[float, Field(ge=-0.36, le=0.36)]
    early_payoff_annual: Probability

    @model_validator(mode="after")
    def _terms(self) -> AmortisingProduct:
        if len(self.terms) != len(self.term_weights):
            raise ValueError("terms and term_weights must have the same length")
        _sums_to_one(list(self.term_weights), "term_weights")
        if self.amount_min > self.amount_max:
            raise ValueError("amount_min must not exceed amount_max")
        return self


class CreditLineProduct(StrictModel):
    share: Probability
    limit_min: Amount
    limit_max: Amount
    line_term_months: Annotated[int, Field(ge=1, le=360)]
    rate_offset: Annotated[float, Field(ge=-0.36, le=0.36)]
    min_payment_share: Probability
    min_payment_floor: Amount
    draw_daily_probability: Probability
    draw_share_min: Probability
    draw_share_max: Probability
    early_payoff_annual: Probability

    @model_validator(mode="after")
    def _ranges(self) -> CreditLineProduct:
        if self.limit_min > self.limit_max:
            raise ValueError("limit_min must not exceed limit_max")
        if self.draw_share_min > self.draw_share_max:
            raise ValueError("draw_share_min must not exceed draw_share_max")
        return self


class ProductsConfig(StrictModel):
    CASH_LOAN: AmortisingProduct
    INSTALLMENT: AmortisingProduct
    CREDIT_LINE: CreditLineProduct

    @model_validator(mode="after")
    def _mix(self) -> ProductsConfig:
        _sums_to_one(
            [self.CASH_LOAN.share, self.INSTALLMENT.share, self.CREDIT_LINE.share], "product shares"
        )
        return self


class RepaymentConfig(StrictModel):
    partial_share_of_misses: Probability
    late_share_of_misses: Probability
    late_days_max: Annotated[int, Field(ge=1, le=60)]
    repeat_miss_multiplier: Multiplier
    repeat_episodes_cap: Count
    utilisation_slope: Multiplier
    fraud_first_payment_miss: Probability
    fraud_cure_multiplier: Multiplier
    flagged_miss_probability: Probability
    flagged_cure_multiplier: Multiplier
    young_loan_months: Annotated[int, Field(ge=1, le=120)]
    young_loan_miss_multiplier: Multiplier
    repaid_share_slope: Multiplier
    repeat_cure_multiplier: Multiplier
    utilisation_cure_slope: Multiplier


class DelinquencyBand(StrictModel):
    name: str = Field(min_length=1)
    max_dpd: Annotated[int, Field(ge=1, le=100_000)] | None
    initial_share: Probability
    cure_30d: Probability
    partial_30d: Probability

    @model_validator(mode="after")
    def _roll(self) -> DelinquencyBand:
        if self.cure_30d + self.partial_30d > 1:
            raise ValueError("cure_30d + partial_30d must not exceed 1 (the rest rolls)")
        return self


class ForbearanceConfig(StrictModel):
    min_dpd: Annotated[int, Field(ge=1, le=100_000)]
    max_dpd: Annotated[int, Field(ge=1, le=100_000)]
    daily_probability: Probability
    deferral_share: Probability
    cure_multiplier: Multiplier
    probation_days: Annotated[int, Field(ge=0, le=10_000)]


class FlagsConfig(StrictModel):
    litigation_min_dpd: Annotated[int, Field(ge=1, le=100_000)]
    litigation_daily_probability: Probability
    litigation_daily_probability_shallow: Probability
    dispute_daily_probability: Probability
    dispute_daily_probability_delinquent: Probability
    dispute_resolution_daily_probability: Probability
    bankruptcy_daily_probability: Probability
    bankruptcy_delinquent_multiplier: Multiplier
    deceased_daily_probability: Probability
    cease_contact_daily_probability_delinquent: Probability


class IdentityConfig(StrictModel):
    two_char_given_name_share: Probability
    age_min: Annotated[int, Field(ge=18, le=100)]
    age_max: Annotated[int, Field(ge=18, le=100)]
    xinjiang_urumqi_timezone_share: Probability


class EventsConfig(StrictModel):
    hour_weights: tuple[Annotated[float, Field(ge=0)], ...] = Field(min_length=24, max_length=24)
    login_rate: Rate
    login_typo_probability: Probability
    purchase_rate: Rate
    transfer_in_rate: Rate
    transfer_out_rate: Rate
    purchase_amount_median: Amount
    transfer_amount_median: Amount
    amount_sigma: Annotated[float, Field(ge=0, le=5)]
    burst_daily_probability: Probability
    burst_failures_min: Annotated[int, Field(ge=1, le=1000)]
    burst_failures_max: Annotated[int, Field(ge=1, le=1000)]
    burst_takeover_probability: Probability
    new_device_daily_probability: Probability
    spike_daily_probability: Probability
    spike_events_min: Annotated[int, Field(ge=1, le=1000)]
    spike_events_max: Annotated[int, Field(ge=1, le=1000)]
    spike_amount_multiplier: Multiplier
    cashout_probability: Probability
    cashout_probability_fraud: Probability
    fraud_signal_multiplier: Multiplier
    risk_signal_elasticity: Annotated[float, Field(ge=0, le=10)]
    drain_daily_probability: Probability
    drain_days_before_due: Annotated[int, Field(ge=1, le=60)]
    drain_events_min: Annotated[int, Field(ge=1, le=1000)]
    drain_events_max: Annotated[int, Field(ge=1, le=1000)]
    drain_amount_median: Amount
    travel_daily_probability: Probability
    device_unknown_share: Probability
    ip_unknown_share: Probability

    @model_validator(mode="after")
    def _ranges(self) -> EventsConfig:
        if sum(self.hour_weights) <= 0:
            raise ValueError("hour_weights must not all be 0")
        if self.burst_failures_min > self.burst_failures_max:
            raise ValueError("burst_failures_min must not exceed burst_failures_max")
        if self.spike_events_min > self.spike_events_max:
            raise ValueError("spike_events_min must not exceed spike_events_max")
        if self.drain_events_min > self.drain_events_max:
            raise ValueError("drain_events_min must not exceed drain_events_max")
        return self


class ContactTier(StrictModel):
    min_dpd: Annotated[int, Field(ge=1, le=100_000)]
    channel: Channel
    attempts_per_day: Rate


class FieldVisitConfig(StrictModel):
    min_dpd: Annotated[int, Field(ge=1, le=100_000)]
    min_overdue: Amount
    min_episodes: Count
    attempts_per_day: Rate


class ContactsConfig(StrictModel):
    hours: tuple[Annotated[int, Field(ge=0, le=24)], Annotated[int, Field(ge=0, le=24)]]
    tiers: tuple[ContactTier, ...] = Field(min_length=1)
    field_visit: FieldVisitConfig
    letter_attempts_per_day: Rate
    borrower_level_share: Probability
    outcomes: dict[Channel, dict[Outcome, Probability]]
    promise_days_max: Annotated[int, Field(ge=1, le=60)]
    promise_kept_probability: Probability

    @model_validator(mode="after")
    def _consistent(self) -> ContactsConfig:
        if self.hours[0] >= self.hours[1]:
            raise ValueError("hours must be [start, end) with start < end")
        edges = [t.min_dpd for t in self.tiers]
        if not strictly_ascending(edges):
            raise ValueError(f"tiers: min_dpd must strictly ascend (got {edges})")
        for channel, dist in self.outcomes.items():
            _sums_to_one(list(dist.values()), f"outcomes.{channel}")
        used = {t.channel for t in self.tiers} | {"FIELD_VISIT", "LETTER"}
        if missing := sorted(used - set(self.outcomes)):
            raise ValueError(f"outcomes: no distribution for channel(s) {missing}")
        return self


class SynthConfig(StrictModel):
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    book: BookConfig
    risk_grades: tuple[RiskGrade, ...] = Field(min_length=1, max_length=20)
    products: ProductsConfig
    repayment: RepaymentConfig
    delinquency: tuple[DelinquencyBand, ...] = Field(min_length=1)
    forbearance: ForbearanceConfig
    flags: FlagsConfig
    identity: IdentityConfig
    events: EventsConfig
    contacts: ContactsConfig

    @model_validator(mode="after")
    def _consistent(self) -> SynthConfig:
        _sums_to_one([g.share for g in self.risk_grades], "risk_grades shares")
        _sums_to_one([b.initial_share for b in self.delinquency], "delinquency initial_share")
        bounds = [b.max_dpd for b in self.delinquency]
        finite = [b for b in bounds[:-1] if b is not None]
        if bounds[-1] is not None or len(finite) != len(bounds) - 1:
            raise ValueError("delinquency: only the last band may (and must) have max_dpd null")
        if not strictly_ascending(finite):
            raise ValueError(f"delinquency: max_dpd must strictly ascend (got {finite})")
        return self


def load_synth_config(config_dir: Path | None = None) -> SynthConfig:
    """Load ``<config_dir>/synth.yaml`` (default: the project's config directory)."""
    directory = Path(config_dir) if config_dir else default_config_dir()
    return load_yaml_model(directory / "synth.yaml", SynthConfig)
