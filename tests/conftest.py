"""Shared fixtures. Airflow reads its settings at import, so its environment is set here first."""

from __future__ import annotations

import atexit
import contextlib
import copy
import datetime as dt
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
#: The default project shipped in the package: config/, data_contracts/, dags/.
SHIPPED = PROJECT / "src" / "loanrisk" / "project"
_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="loanrisk-airflow-"))
atexit.register(shutil.rmtree, _AIRFLOW_HOME, ignore_errors=True)  # left in /tmp otherwise
os.environ.setdefault("AIRFLOW_HOME", str(_AIRFLOW_HOME))
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(SHIPPED / "dags"))
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault(
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", f"sqlite:///{_AIRFLOW_HOME / 'airflow.db'}"
)


#: The project's data contracts (read-only; the tests' frames follow them).
CONTRACTS = SHIPPED / "data_contracts"


@pytest.fixture(scope="session")
def config_dir(tmp_path_factory) -> Path:
    """A copy of the project's config/ (with the data_contracts/ and dags/ it points at) for the
    end-to-end tests: they run with the shipped policy but never write the project's files.
    Unit tests of rules pin their own policy instead (tests/test_policy_pinned.py)."""
    import shutil

    root = tmp_path_factory.mktemp("project")
    for folder in ("config", "data_contracts", "dags"):
        shutil.copytree(SHIPPED / folder, root / folder)
    return root / "config"


@pytest.fixture
def settings(tmp_path, config_dir):
    """Settings of the copied project config on a tmp data_root (end-to-end tests)."""
    from loanrisk.config import load_settings

    return load_settings(config_dir, tmp_path / "data")


@pytest.fixture(scope="session")
def policy():
    """The classification policy of the rule tests: ``classification_policy`` with the eight
    buckets of DESIGN.md §5, pinned here (not read from config/)."""
    return classification_policy(aging_buckets=AGING_BUCKETS)


def write_policy(folder: Path, name: str, document: dict) -> Path:
    """``document`` written as ``folder/name`` (YAML); the folder, for a policy loader."""
    import yaml

    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return folder


#: The products of the stage tests' pinned settings.
PRODUCTS = ("CASH_LOAN", "INSTALLMENT", "CREDIT_LINE")


def edited_policy(folder: Path, name: str, document: dict, edit) -> Path:
    """``folder/name``: a deep copy of ``document`` changed by ``edit(copy)``, as YAML."""
    changed = copy.deepcopy(document)
    edit(changed)
    return write_policy(folder, name, changed)


def stage_settings(data_root: Path, products=PRODUCTS):
    """Settings for a stage test on a tmp data_root, every policy pinned here: ``products``,
    the classification of ``policy``, no risk policies (a stage test passes the one its stage
    needs, so a stage that read another from the settings would fail loudly) and a fixed
    config hash. Contracts are the project's."""
    import hashlib

    from loanrisk.config import PipelineConfig, Settings

    pipeline = PipelineConfig.model_validate(
        {
            "data_root": str(data_root),
            "products": list(products),
            "annual_interest_rate_cap": "0.36",
            "validation": {
                "max_quarantine_share": 0.01,
                "max_row_count_change": 0.2,
                "max_outstanding_change": 0.2,
            },
        }
    )
    return Settings(
        config_dir=data_root / "no-config",
        data_root=data_root,
        landing_dir=data_root / "landing",
        contracts_dir=CONTRACTS,
        pipeline=pipeline,
        classification=classification_policy(aging_buckets=AGING_BUCKETS),
        config_hash=hashlib.sha256(b"pinned test policy").hexdigest(),
        risk=None,
    )


def backfilled_book(
    folder: Path, config_dir: Path, start: dt.date, days: int, loans: int, seed: int
) -> Path:
    """``folder/data``: ``days`` days of synthetic landing files for ``loans`` loans from
    ``start``, backfilled through the CLI."""
    from loanrisk.cli import main
    from loanrisk.synth import generate

    root = folder / "data"
    generate(start, days, loans, seed, root / "landing", config_dir)
    end = start + dt.timedelta(days=days - 1)
    args = ["--start", str(start), "--end", str(end), "--data-root", str(root)]
    assert main(["backfill", *args, "--config", str(config_dir)]) == 0
    return root


#: The small book end-to-end modules share (each module backfills its own copy): 300 loans.
BOOK_START, BOOK_DAYS = dt.date(2026, 5, 1), 4
BOOK_END = BOOK_START + dt.timedelta(days=BOOK_DAYS - 1)


@pytest.fixture(scope="module")
def book(tmp_path_factory, config_dir):
    """A data_root with 4 days of landing files for 300 loans, backfilled through the CLI."""
    folder = tmp_path_factory.mktemp("book")
    return backfilled_book(folder, config_dir, BOOK_START, BOOK_DAYS, 300, 5)


#: The landing corpus of the bad-input and security tests: two synthetic days of 300 loans.
CORPUS_DAY, CORPUS_LOANS = dt.date(2026, 3, 1), 300
CORPUS_FILE = f"loans_{CORPUS_DAY}.csv"


@pytest.fixture(scope="session")
def corpus_landing(tmp_path_factory, config_dir) -> Path:
    """Two synthetic days of ``CORPUS_LOANS`` loans from ``CORPUS_DAY``, every feed, without
    control files (copied by the tests, never modified)."""
    from loanrisk.synth import generate

    out = tmp_path_factory.mktemp("corpus-landing")
    generate(CORPUS_DAY, 2, CORPUS_LOANS, 11, out, config_dir)
    return out


@pytest.fixture(scope="session")
def corpus_source(corpus_landing):
    """The corpus's first loans file, every field as text."""
    import polars as pl

    return pl.read_csv(corpus_landing / CORPUS_FILE, infer_schema=False)


@pytest.fixture
def corpus_day(settings, corpus_landing):
    """A fresh data_root whose landing folder holds the corpus's first loans file only (the
    optional events and contacts feeds are left out: a third of the GX time)."""
    import shutil

    settings.landing_dir.mkdir(parents=True)
    shutil.copy(corpus_landing / CORPUS_FILE, settings.landing_dir / CORPUS_FILE)
    return settings


def outputs(root: Path) -> dict[str, str]:
    """sha256 of every published file of a data_root (lake Parquet, run records, extracts):
    what "a rerun gives the same bytes" compares. A run manifest's ``execution`` (how the day
    ran: its shards) is set aside, so any K compares equal to K = 1."""
    from loanrisk.lake.storage import sha256_file

    shards = root / "lake" / "shards"  # shard tasks' work, not published (kept_parts)
    files = (
        sorted(p for p in (root / "lake").rglob("*.parquet") if not p.is_relative_to(shards))
        + sorted((root / "runs").rglob("*.json"))
        + sorted(p for p in (root / "extracts").rglob("*") if p.is_file())
    )
    return {p.relative_to(root).as_posix(): _manifest_sha256(p) or sha256_file(p) for p in files}


#: The parts a combine keeps for the day's later shard tasks to read (``shards.own_rows``),
#: until ``finalize_run`` drops every part of the day: raw rows, aging, and scoring's.
KEPT_PARTS = {
    "raw_loan_snapshot",
    "raw_events",
    "raw_contacts",
    "loan_aging",
    "scored_loan_risk",
    "restaged_loan_aging",
}


def kept_parts(root: Path) -> set[str]:
    """The tables with parts left under ``lake/shards`` (a combine drops what no later shard
    task reads; ``KEPT_PARTS`` stay until the day is finalized)."""
    return {
        p.relative_to(root / "lake" / "shards").parts[0]
        for p in (root / "lake" / "shards").rglob("*.parquet")
    }


def _manifest_sha256(path: Path) -> str | None:
    """sha256 of a run manifest without its ``execution`` details (None for other files)."""
    import hashlib
    import json

    if path.name != "manifest.json" or path.parent.parent.name != "runs":
        return None
    document = json.loads(path.read_text(encoding="utf-8"))
    document.pop("execution", None)
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def correct_day(landing: Path, day: dt.date) -> str:
    """Rewrite a day's loans file as a corrected resend: one current loan was 20 days past due."""
    import polars as pl

    path = landing / f"loans_{day}.csv"
    rows = pl.read_csv(path, infer_schema=False)
    loan = rows.filter(pl.col("oldest_unpaid_due_date").is_null())["loan_id"][0]
    overdue = pl.col("loan_id") == loan
    rows.with_columns(
        pl.when(overdue)
        .then(pl.lit(str(day - dt.timedelta(days=20))))
        .otherwise(pl.col("oldest_unpaid_due_date"))
        .alias("oldest_unpaid_due_date"),
        pl.when(overdue)
        .then(pl.lit("50.00"))
        .otherwise(pl.col("overdue_principal"))
        .alias("overdue_principal"),
    ).write_csv(path)
    return loan


def credit_report_of(rows, period, previous, policy):
    """The credit report of ``period`` (``domain.credit_report``) from ``rows``, the processed
    days' loan_snapshot and loan_aging columns as one frame, assembled as the regulatory stage
    does: each loan's last row in the period with its snapshot, and the period's payments due;
    ``previous`` is the earlier report and its months back, or None."""
    import polars as pl

    from loanrisk.domain import credit_report as cr
    from loanrisk.pipeline.regulatory_stage import AGING_COLUMNS, SNAPSHOT_COLUMNS

    in_period = rows.filter(pl.col("snapshot_date") >= period.first_day).lazy()
    snapshots = rows.lazy().select(SNAPSHOT_COLUMNS)
    last = cr.last_rows(
        in_period.select(AGING_COLUMNS),
        snapshots,
        in_period.select("snapshot_date", "loan_id", "first_delinquency_date"),
    )
    payments = cr.payments_due(snapshots, period)
    return cr.credit_report(last, payments, previous, period, policy).collect()


#: The eight dpd buckets of DESIGN.md §5 (M0 current ... M7 over 180 days), pinned for tests.
AGING_BUCKETS = [
    {"name": f"M{n}", "max_dpd": edge}
    for n, edge in enumerate((0, 30, 60, 90, 120, 150, 180, None))
]


def classification_policy(**changes):
    """A classification policy pinned for unit tests (cbirc_2023 thresholds, two buckets), not
    read from config/; ``changes`` override top-level (e.g. aging_buckets), five_category or
    ifrs9 keys."""
    from loanrisk.domain.classification import ClassificationConfig

    five = {
        "profile": "cbirc_2023",
        "profiles": {
            "cbirc_2023": {
                "special_mention_min_dpd": 1,
                "substandard_min_dpd": 91,
                "doubtful_min_dpd": 271,
                "loss_min_dpd": 361,
            }
        },
        "forbearance_floor": "SPECIAL_MENTION",
        "bankruptcy_floor": "SUBSTANDARD",
        "npl_categories": ["SUBSTANDARD", "DOUBTFUL", "LOSS"],
        "npl_upgrade_min_repayments": 2,
        "npl_upgrade_min_months": 0,
        "forbearance_observation_months": 0,
    }
    ifrs9 = {
        "stage3_dpd_over": 90,
        "stage2_dpd_over": 30,
        "forbearance_is_stage2": True,
        "bankruptcy_is_stage3": True,
        "stage3_probation_months": 3,
        "stage2_probation_months": 0,
    }
    top = {
        "materiality_amount": "0.00",
        "aging_buckets": [{"name": "M0", "max_dpd": 0}, {"name": "M1", "max_dpd": None}],
        "written_off_bucket": "WO",
        "closed_bucket": "CLOSED",
        "history": {"window_days": 365, "cure_window_days": 30},
    }
    for key, value in changes.items():
        (top if key in top else five if key in five else ifrs9)[key] = value
    return ClassificationConfig.model_validate({**top, "five_category": five, "ifrs9": ifrs9})


#: The ECL tests' policy values, pinned for unit tests (config/ecl.yaml has the same today).
ECL_POLICY = {
    "pd_term_structure": {"method": "constant_hazard"},
    "lgd": {"CASH_LOAN": 0.75, "INSTALLMENT": 0.65, "CREDIT_LINE": 0.80},
    "credit_line_products": ["CREDIT_LINE"],
    "ccf": 0.5,
    "rate_convention": "nominal",
    "behavioural_life_months": 36,
    "twelve_month_horizon_months": 12,
    "min_lifetime_months": 12,
    "period_months": 1,
    "sicr": {"relative_multiplier": 2.0, "absolute_increase": 0.02},
}


def ecl_policy(**changes):
    """``ECL_POLICY`` with ``changes``, validated."""
    from loanrisk.domain.ecl import EclPolicy

    return EclPolicy.model_validate({**ECL_POLICY, **changes})


def ecl_schema() -> dict:
    """Column types of the ECL tests' loans (the inputs expected_credit_loss reads)."""
    import polars as pl

    money = pl.Decimal(18, 2)
    return {
        "loan_id": pl.String,
        "snapshot_date": pl.Date,
        "product_code": pl.String,
        "account_status": pl.String,
        "outstanding_principal": money,
        "overdue_interest": money,
        "overdue_fees": money,
        "credit_limit": money,
        "annual_interest_rate": pl.Decimal(9, 6),
        "maturity_date": pl.Date,
        "ifrs9_stage": pl.Int32,
        "pd_12m": pl.Float64,
        "line_frozen": pl.Boolean,
    }


def collections_policy(cap: int = 7, window: int = 7, lookback: int = 30):
    """A small collections policy pinned for tests of the holds and the contact window."""
    from loanrisk.domain.collections import CHANNELS, CollectionsPolicy

    rules = {"queue_min_dpd": 1, "voice_bot_min_dpd": 4, "agent_call_min_dpd": 16}
    rules |= {"agency_min_dpd": 91, "field_visit_min_dpd": 61, "legal_min_dpd": 181}
    rules |= {"field_visit_min_overdue": "30000.00", "field_visit_min_episodes_12m": 3}
    rules |= {"field_visit_on_litigation": True}
    holds = {"contact_cap_attempts": cap, "contact_cap_window_days": window}
    holds |= {"phone_channels": ["VOICE_BOT", "AGENT_CALL"], "promise_lookback_days": lookback}
    return CollectionsPolicy.model_validate(
        {
            "business_timezone": "Asia/Shanghai",
            "rules": rules,
            "holds": holds,
            "priority": {"missing_pd_12m": 1.0},
            "contact_window": {"days_after_business_date": 1, "start": "08:00", "end": "21:00"},
            "channels": [{"name": c, "daily_capacity": 10, "pii": []} for c in CHANNELS],
            "agencies": [{"agency_id": "AGY_A", "weight": 1.0}],
        }
    )


@dataclass(frozen=True)
class Rooted:
    """The two paths ``lake_of`` and ``versions.restatement`` read of a Settings."""

    data_root: Path
    landing_dir: Path


def rooted(root: Path) -> Rooted:
    return Rooted(root, root / "landing")


@contextlib.contextmanager
def umask(value: int):
    """The process umask set to ``value`` for the block (restored after)."""
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


@pytest.fixture(autouse=True)
def _process_modes_restored():
    """The umask and file modes as they were before each test: an in-process Airflow task
    (``run_task`` -> ``enter_data_root``) sets them for its process, as an entry point does,
    and a later test of the same worker would inherit them."""
    from loanrisk.lake.modes import restore_permissions, set_permissions

    previous = set_permissions(False)
    restore_permissions(previous)
    yield
    restore_permissions(previous)
