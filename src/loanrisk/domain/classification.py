"""The classification policy of ``config/classification.yaml``: aging buckets, the
five-category profiles and floors, the IFRS 9 staging thresholds and the history windows."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from loanrisk.domain.yaml_models import (
    Dpd,
    Money,
    StrictModel,
    require_ascending,
    strictly_ascending,
)

FiveCategory = Literal["NORMAL", "SPECIAL_MENTION", "SUBSTANDARD", "DOUBTFUL", "LOSS"]
FIVE_CATEGORY_ORDER: tuple[str, ...] = (
    "NORMAL",
    "SPECIAL_MENTION",
    "SUBSTANDARD",
    "DOUBTFUL",
    "LOSS",
)


class AgingBucket(StrictModel):
    name: str = Field(min_length=1)
    max_dpd: Dpd | None


class CategoryThresholds(StrictModel):
    """The lowest dpd of each category of one classification profile; NORMAL below
    special_mention_min_dpd."""

    special_mention_min_dpd: Annotated[int, Field(ge=1, le=100_000)]
    substandard_min_dpd: Annotated[int, Field(ge=1, le=100_000)]
    doubtful_min_dpd: Annotated[int, Field(ge=1, le=100_000)]
    loss_min_dpd: Annotated[int, Field(ge=1, le=100_000)]

    @model_validator(mode="after")
    def _thresholds_ascend(self) -> CategoryThresholds:
        require_ascending(
            self,
            "special_mention_min_dpd",
            "substandard_min_dpd",
            "doubtful_min_dpd",
            "loss_min_dpd",
        )
        return self


Months = Annotated[int, Field(ge=0, le=120)]


class FiveCategoryPolicy(StrictModel):
    """DESIGN.md §5 five-category classification: the profile in force (its dpd thresholds),
    the floors, and the conditions for upgrading a non-performing loan."""

    profile: str = Field(min_length=1)
    profiles: dict[str, CategoryThresholds] = Field(min_length=1)
    forbearance_floor: FiveCategory
    bankruptcy_floor: FiveCategory
    npl_categories: tuple[FiveCategory, ...] = Field(min_length=1)
    npl_upgrade_min_repayments: Annotated[int, Field(ge=0, le=120)]
    npl_upgrade_min_months: Months
    forbearance_observation_months: Months

    @model_validator(mode="after")
    def _profile_defined(self) -> FiveCategoryPolicy:
        if self.profile not in self.profiles:
            raise ValueError(
                f"profile {self.profile[:200]!r} is not one of the profiles defined "
                f"({', '.join(sorted(self.profiles))})"
            )
        return self

    @property
    def thresholds(self) -> CategoryThresholds:
        return self.profiles[self.profile]


class Ifrs9Policy(StrictModel):
    stage3_dpd_over: Dpd
    stage2_dpd_over: Dpd
    forbearance_is_stage2: bool
    bankruptcy_is_stage3: bool
    stage3_probation_months: Months
    stage2_probation_months: Months

    @model_validator(mode="after")
    def _stage2_below_stage3(self) -> Ifrs9Policy:
        if self.stage2_dpd_over >= self.stage3_dpd_over:
            raise ValueError(
                f"stage2_dpd_over ({self.stage2_dpd_over}) must be below "
                f"stage3_dpd_over ({self.stage3_dpd_over})"
            )
        return self


class HistoryPolicy(StrictModel):
    window_days: Annotated[int, Field(ge=1, le=3_660)]
    cure_window_days: Annotated[int, Field(ge=1, le=3_660)]


class ClassificationConfig(StrictModel):
    materiality_amount: Money
    aging_buckets: tuple[AgingBucket, ...] = Field(min_length=1)
    written_off_bucket: str = Field(min_length=1)
    closed_bucket: str = Field(min_length=1)
    five_category: FiveCategoryPolicy
    ifrs9: Ifrs9Policy
    history: HistoryPolicy

    @property
    def roll_chain(self) -> tuple[str, ...]:
        """Delinquency buckets in roll order, ending with written-off: M0 -> ... -> M7 -> WO."""
        return (*(b.name for b in self.aging_buckets), self.written_off_bucket)

    @property
    def bucket_names(self) -> tuple[str, ...]:
        """Every aging_bucket value in listing order: the roll chain, then closed."""
        return (*self.roll_chain, self.closed_bucket)

    @model_validator(mode="after")
    def _buckets_cover_all_dpd(self) -> ClassificationConfig:
        bounds = [b.max_dpd for b in self.aging_buckets]
        if bounds[-1] is not None or any(b is None for b in bounds[:-1]):
            raise ValueError("aging_buckets: only the last bucket may (and must) have max_dpd null")
        finite = [b for b in bounds[:-1] if b is not None]
        if not strictly_ascending(finite):
            raise ValueError(f"aging_buckets: max_dpd must strictly ascend (got {finite})")
        if finite and finite[0] != 0:
            raise ValueError("aging_buckets: the first bucket must be max_dpd 0 (current loans)")
        names = list(self.bucket_names)
        if len(set(names)) != len(names):
            raise ValueError(f"aging bucket names must be unique (got {names})")
        return self
