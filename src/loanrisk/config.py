"""Settings: the YAML files in ``config/``, validated on load with errors that name the key."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, StrictBool, field_validator, model_validator

from loanrisk.domain.classification import ClassificationConfig
from loanrisk.domain.yaml_models import Share, StrictModel, capped, load_yaml_model
from loanrisk.errors import ConfigError, DataRootRefusedError

if TYPE_CHECKING:
    from loanrisk.domain.collections import CollectionsPolicy
    from loanrisk.domain.ecl import EclPolicy
    from loanrisk.domain.regulatory import RegulatoryPolicy
    from loanrisk.domain.risk_actions import RiskActionPolicy
    from loanrisk.domain.scorecard import Scorecard
    from loanrisk.domain.signals import SignalPolicy


class ValidationPolicy(StrictModel):
    max_quarantine_share: Share
    max_row_count_change: Annotated[float, Field(ge=0, le=100)]
    max_outstanding_change: Annotated[float, Field(ge=0, le=100)]


class AirflowPolicy(StrictModel):
    """Operational timings of the Airflow DAGs (read when a DAG file is parsed)."""

    landing_poke_interval_seconds: Annotated[int, Field(ge=10, le=86_400)] = 600
    landing_timeout_hours: Annotated[float, Field(gt=0, le=168)] = 8
    run_deadline_hours: Annotated[float, Field(gt=0, le=168)] = 6
    month_end_poke_interval_seconds: Annotated[int, Field(ge=10, le=86_400)] = 1_800
    month_end_timeout_hours: Annotated[float, Field(gt=0, le=744)] = 48
    #: Every task's retries: how many, the first delay, doubled each time up to the maximum.
    retries: Annotated[int, Field(ge=0, le=10)] = 2
    retry_delay_minutes: Annotated[float, Field(gt=0, le=1_440)] = 5
    retry_exponential_backoff: bool = True
    max_retry_delay_minutes: Annotated[float, Field(gt=0, le=1_440)] = 30

    @model_validator(mode="after")
    def _first_delay_within_maximum(self) -> AirflowPolicy:
        if self.retry_delay_minutes > self.max_retry_delay_minutes:
            raise ValueError(
                f"retry_delay_minutes ({self.retry_delay_minutes}) must not exceed "
                f"max_retry_delay_minutes ({self.max_retry_delay_minutes})"
            )
        return self

    @model_validator(mode="after")
    def _poke_within_timeout(self) -> AirflowPolicy:
        for poke, hours, what in (
            (self.landing_poke_interval_seconds, self.landing_timeout_hours, "landing"),
            (self.month_end_poke_interval_seconds, self.month_end_timeout_hours, "month_end"),
        ):
            if poke >= hours * 3600:
                raise ValueError(
                    f"{what}_poke_interval_seconds ({poke}) must be below "
                    f"{what}_timeout_hours ({hours}) in seconds"
                )
        return self


#: An address alone (``name@domain``): no display name, space, comma or line break, so a value
#: can neither add a recipient nor a mail header.
EmailAddress = Annotated[str, Field(pattern=r"^[^@\s,;<>\"']+@[^@\s,;<>\"']+$", max_length=254)]
#: An Airflow connection id (the credentials live in the connection, never in config/).
ConnId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,200}$")]


class SmtpAlerts(StrictModel):
    """Mail through the SMTP provider; the server and its login are the Airflow connection."""

    conn_id: ConnId = "smtp_default"
    from_email: EmailAddress
    to: tuple[EmailAddress, ...] = Field(min_length=1)
    cc: tuple[EmailAddress, ...] = ()


class SlackAlerts(StrictModel):
    """A Slack channel through the Slack provider (installed by the deployment, not by us)."""

    conn_id: ConnId = "slack_api_default"
    channel: Annotated[str, Field(pattern=r"^[#@]?[A-Za-z0-9_.-]{1,80}$")]

    @model_validator(mode="after")
    def _provider_installed(self) -> SlackAlerts:
        from importlib.util import find_spec

        try:
            found = find_spec("airflow.providers.slack") is not None
        except (ImportError, ValueError):
            found = False
        if not found:
            raise ValueError("needs apache-airflow-providers-slack, which is not installed")
        return self


class AlertsPolicy(StrictModel):
    """Where a failed task or a missed deadline is sent besides ``runs/<ds>/alerts.jsonl``
    (``loanrisk.airflow.alerts``); no channel set: the file only."""

    smtp: SmtpAlerts | None = None
    slack: SlackAlerts | None = None

    def channels(self) -> tuple[str, ...]:
        return tuple(name for name in ("smtp", "slack") if getattr(self, name) is not None)


class PipelineConfig(StrictModel):
    data_root: str = Field(min_length=1)  # a path, or a file:// URL
    landing_dir: Path | None = None
    contracts_dir: Path = Path("data_contracts")
    input_encoding: str = "utf-8"
    #: A loans file counts as arrived only beside its control file ``loans_D.done``
    #: (DESIGN.md §4 v2): the sensor waits for it, ``loanrisk run`` stops with FILE_MISSING.
    require_control_file: StrictBool = False
    products: tuple[str, ...] = Field(min_length=1)
    annual_interest_rate_cap: Annotated[Decimal, Field(ge=Decimal("0"), le=Decimal("10"))]
    validation: ValidationPolicy
    airflow: AirflowPolicy = AirflowPolicy()
    alerts: AlertsPolicy = AlertsPolicy()

    @model_validator(mode="after")
    def _encoding_exists(self) -> PipelineConfig:
        import codecs

        try:
            codecs.lookup(self.input_encoding)
        except LookupError:
            raise ValueError(
                f"input_encoding {capped(repr(self.input_encoding))} is not a known codec"
            ) from None
        return self


#: The most shards a day may have (``shards: K`` and ``auto`` alike).
MAX_SHARDS = 256


class ExecutionConfig(StrictModel):
    """How the pipeline runs, not what it computes (``config/execution.yaml``): no setting here
    changes a published byte, so the file is outside the config hash of the manifests."""

    #: Shards of the per-loan stages (age_loans, score_loans): 1 runs them whole; K > 1 runs K
    #: shard tasks by borrower and a combine step (``loanrisk.lake.shards``); ``auto`` picks K
    #: for each day from its loans file's size and ``max_shard_memory_gib``
    #: (``loanrisk.lake.shards.shards_for``), decided when the file is ingested.
    shards: int | Literal["auto"] = 1
    #: With ``shards: auto``: the memory one shard step may take (GiB, estimated).
    max_shard_memory_gib: Annotated[float, Field(gt=0, le=1_024)] = 4
    #: With ``shards: auto``: the shard tasks that run at once where the days run (Airflow's
    #: worker slots; ``loanrisk run``: the machine's cores). A K above 1 is rounded up to a
    #: multiple of it, so no wave of shard tasks leaves a worker idle.
    shard_slots: Annotated[int, Field(ge=1, le=MAX_SHARDS)] = 1
    #: Processes a big day's GX validation runs its suites in (this one and gx_workers - 1
    #: forked ones; ``loanrisk.quality.gx_workers``); 1 validates in this process only.
    gx_workers: Annotated[int, Field(ge=1, le=64)] = 2
    #: Files the pipeline writes under data_root are owner-only (0600, folders 0700) whatever
    #: the umask; true grants the data_root's group read (0640, folders 0750), e.g. for a BI
    #: service account reading warehouse.duckdb and the lake's Parquet (DESIGN.md §5b).
    file_group_read: StrictBool = False
    #: A data_root on object storage (``s3://bucket/prefix``) runs on a local working copy in
    #: this folder (``loanrisk.lake.working_copy``); None: ``~/.cache/loanrisk/object-store``.
    object_store_cache: Path | None = None
    #: The store's run lock is stale after this long (taken over only with
    #: ``--break-stale-lock``; an Airflow task takes a stale one over): above a day's run time.
    object_store_lock_ttl_minutes: Annotated[float, Field(gt=0, le=10_080)] = 360

    @field_validator("object_store_cache")
    @classmethod
    def _cache_absolute(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_absolute():
            raise ValueError(f"{capped(str(value))} must be an absolute path (or start with ~)")
        return value

    @field_validator("shards", mode="before")
    @classmethod
    def _shards_auto_or_count(cls, value: object) -> object:
        """One message for both forms (a union would report each alternative's failure)."""
        if value == "auto" or (type(value) is int and 1 <= value <= MAX_SHARDS):
            return value
        raise ValueError(f"must be auto or a whole number from 1 to {MAX_SHARDS}")


def shipped_config_dir() -> Path:
    """The policy shipped in the package (``loanrisk/project/config``)."""
    return Path(__file__).resolve().parent / "project" / "config"


def shipped_dags() -> Path:
    """The DAG files shipped in the package (``loanrisk/project/dags``): Airflow's dags_folder,
    or the target of the shim ``loanrisk init`` writes."""
    return shipped_config_dir().parent / "dags"


def default_config_dir() -> Path:
    """``$LOANRISK_CONFIG``, else ``./config``, else the policy shipped in the package."""
    if env := os.environ.get("LOANRISK_CONFIG"):
        return Path(env)
    if Path("config/pipeline.yaml").is_file():
        return Path("config")
    return shipped_config_dir()


def _project_paths(config_dir: Path, pipeline: PipelineConfig) -> tuple[Path, Path]:
    """Where the relative paths of ``pipeline.yaml`` start, and its contracts folder. A
    project's are relative to its folder (``config/``'s parent); the shipped policy's data
    paths to the working directory (never into the package). A project with no contracts
    folder of its own reads the contracts shipped in the package."""
    shipped = shipped_config_dir()
    base = Path.cwd() if config_dir == shipped else config_dir.parent
    contracts = (config_dir.parent / pipeline.contracts_dir).resolve()
    if not contracts.is_dir() and not pipeline.contracts_dir.is_absolute():
        contracts = (shipped.parent / pipeline.contracts_dir).resolve()
    return base, contracts


@dataclass(frozen=True)
class Settings:
    """Everything a stage needs besides the business date."""

    config_dir: Path
    data_root: Path
    landing_dir: Path
    contracts_dir: Path
    pipeline: PipelineConfig
    classification: ClassificationConfig
    config_hash: str
    risk: RiskPolicies
    execution: ExecutionConfig = field(default_factory=ExecutionConfig)


@dataclass(frozen=True)
class RiskPolicies:
    """Scoring, provisioning, monitoring and collections policies, each validated by its own
    module's model."""

    scorecard: Scorecard
    ecl: EclPolicy
    signals: SignalPolicy
    actions: RiskActionPolicy
    collections: CollectionsPolicy
    regulatory: RegulatoryPolicy


#: How the pipeline runs (shards): not part of the config hash (see ExecutionConfig).
EXECUTION_FILE = "execution.yaml"
#: What the pipeline computes: the config hash every manifest carries is over these files.
POLICY_FILES = (
    "pipeline.yaml",
    "classification.yaml",
    "scorecard.yaml",
    "ecl.yaml",
    "signals.yaml",
    "risk_actions.yaml",
    "collections.yaml",
    "regulatory.yaml",
)


def load_risk_policies(config_dir: Path) -> RiskPolicies:
    # Imported here: they import Polars, which DAG files reading the Airflow policy through this
    # module must not pay for.
    from loanrisk.domain.collections import load_collections_policy
    from loanrisk.domain.ecl import load_ecl_policy
    from loanrisk.domain.regulatory import load_regulatory_policy
    from loanrisk.domain.risk_actions import load_risk_action_policy
    from loanrisk.domain.scorecard import load_scorecard
    from loanrisk.domain.signals import load_signal_policy

    return RiskPolicies(
        scorecard=load_scorecard(config_dir / "scorecard.yaml"),
        ecl=load_ecl_policy(config_dir),
        signals=load_signal_policy(config_dir),
        actions=load_risk_action_policy(config_dir),
        collections=load_collections_policy(config_dir),
        regulatory=load_regulatory_policy(config_dir),
    )


def config_hash(config_dir: Path, files: tuple[str, ...] = POLICY_FILES) -> str:
    """sha256 over the policy files' bytes, so a manifest pins the exact policy used."""
    digest = hashlib.sha256()
    for name in files:
        digest.update(name.encode())
        digest.update((config_dir / name).read_bytes())
    return digest.hexdigest()


def local_root(value: str | Path) -> Path:
    """A data_root given as a path or an fsspec URL, as the local folder it names.

    Only a local filesystem (a path, ``file://``) is taken: the lake's atomic writes are POSIX
    renames, the run lock is ``flock`` and DuckDB's views read local files. An ``s3://``
    data_root is entered as a local working copy before settings are loaded
    (``loanrisk.lake.working_copy``), so it never reaches here from a run."""
    text = str(value)
    if "://" not in text:
        return Path(text)
    from fsspec.core import split_protocol

    protocol, path = split_protocol(text)
    if protocol not in ("file", "local"):
        raise ConfigError(
            f"data_root: {text}: {protocol}:// is not supported; the lake needs a local "
            "filesystem (a path or a file:// URL)"
        )
    return Path(path)


_TREES = "bin boot dev etc lib lib32 lib64 proc sbin sys usr/bin usr/lib usr/sbin System"
_SHARED = (
    "home media mnt opt private private/tmp private/var root run srv tmp usr usr/local var "
    "var/lib var/log var/tmp Users Volumes Library Applications"
)
#: System trees: neither one of these folders nor any folder inside one is taken as data_root.
SYSTEM_TREES = frozenset(f"/{name}" for name in _TREES.split())
#: Shared system folders: refused as data_root themselves (a folder of its own inside is fine).
SYSTEM_FOLDERS = frozenset(["/", *(f"/{name}" for name in _SHARED.split())])


def refuse_system_folder(root: Path) -> None:
    """Raise ``DataRootRefusedError`` when the resolved ``root`` is a system folder, inside a
    system tree, the user's home or one of its parents."""
    home = Path.home().resolve()
    if root == home:
        raise DataRootRefusedError(root, "the user's home folder")
    if root in home.parents:
        raise DataRootRefusedError(root, f"a parent of the user's home folder {home}")
    if root.as_posix() in SYSTEM_FOLDERS | SYSTEM_TREES:
        raise DataRootRefusedError(root, "a system folder")
    for tree in map(Path, SYSTEM_TREES):
        if tree in root.parents:
            raise DataRootRefusedError(root, f"inside the system folder {tree}")


def check_products(config_dir: Path, products: tuple[str, ...], risk: RiskPolicies) -> None:
    """The policy files against pipeline.yaml's products, before any stage runs: every product
    has an LGD, and the product lists of the policies name configured products only."""
    where = f"(pipeline.yaml products: {capped(', '.join(products))})"
    if missing := [p for p in products if p not in risk.ecl.lgd]:
        raise ConfigError(
            f"{config_dir / 'ecl.yaml'}: lgd: no value for product "
            f"{capped(', '.join(missing))} {where}; every configured product needs one",
            file="ecl.yaml",
            key="lgd",
            products=missing,
        )
    for name, key, listed in (
        ("ecl.yaml", "credit_line_products", risk.ecl.credit_line_products),
        ("risk_actions.yaml", "reduce_limit.products", risk.actions.reduce_limit.products),
    ):
        if unknown := [p for p in listed if p not in products]:
            raise ConfigError(
                f"{config_dir / name}: {key}: {capped(', '.join(unknown))} is not a configured "
                f"product {where}",
                file=name,
                key=key,
                products=unknown,
            )


def load_settings(config_dir: Path | None = None, data_root: Path | None = None) -> Settings:
    """Load and validate ``config/``; ``data_root`` overrides the configured one."""
    config_dir = Path(config_dir or default_config_dir()).resolve()
    pipeline = load_yaml_model(config_dir / "pipeline.yaml", PipelineConfig)
    classification = load_yaml_model(config_dir / "classification.yaml", ClassificationConfig)
    base, contracts = _project_paths(config_dir, pipeline)
    root = local_root(data_root) if data_root else base / local_root(pipeline.data_root)
    root = root.resolve()
    refuse_system_folder(root)
    landing = pipeline.landing_dir
    landing = (base / landing).resolve() if landing else root / "landing"
    risk = load_risk_policies(config_dir)
    check_products(config_dir, pipeline.products, risk)
    return Settings(
        config_dir=config_dir,
        data_root=root,
        landing_dir=landing,
        contracts_dir=contracts,
        pipeline=pipeline,
        classification=classification,
        config_hash=config_hash(config_dir),
        risk=risk,
        execution=load_yaml_model(config_dir / EXECUTION_FILE, ExecutionConfig),
    )
