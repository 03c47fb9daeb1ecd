"""Typed errors, all of them: one class per stable ``code`` (failed-day manifests and the stage
log carry it, so a code never changes). Each error keeps the values that caused it as
attributes, builds its one-line message from them, and gives them back JSON-safe with
``details()``. The CLI prints ``str(error)``: ``[CODE] message``.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path


def _json_safe(value: object) -> object:
    """``value`` as JSON types: paths, dates and decimals as text, tuples as lists."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_json_safe(v) for v in value]
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, Path | Decimal):
        return str(value)
    return str(value)


def _rebuilt(cls: type[LoanriskError], message: str, details: dict) -> LoanriskError:
    """An error of ``cls`` from its message and details, without its constructor (unpickling,
    and the alternative constructors whose message is not the class's usual one)."""
    error = cls.__new__(cls)
    LoanriskError.__init__(error, message, **details)
    return error


class LoanriskError(Exception):
    """Base class: an expected failure with a one-line reason for the operator."""

    code = "LOANRISK_ERROR"

    def __init__(self, message: str, /, **details: object) -> None:
        super().__init__(message)
        self._details = details
        for name, value in details.items():
            setattr(self, name, value)

    @property
    def message(self) -> str:
        """The one-line reason, without the code."""
        return str(self.args[0]) if self.args else ""

    def details(self) -> dict:
        """The values that caused the error, JSON-safe, by name."""
        return {name: _json_safe(value) for name, value in self._details.items()}

    def failure(self) -> dict:
        """The failed day's record in its run manifest: what stopped it (the code), the file a
        batch gate names (none here) and the message."""
        return {"gate": self.code, "file": None, "message": str(self)}

    def __reduce__(self):
        return _rebuilt, (type(self), self.message, self._details)

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class ConfigError(LoanriskError):
    """A configuration file or model is missing or invalid."""

    code = "CONFIG_INVALID"


class ContractConfigMismatchError(ConfigError):
    """A data contract's rule and a config key name different products (the loans contract's
    credit_limit rule and ecl.yaml's credit_line_products): each file passes on its own, the
    day would validate one set of products and compute with another. The products come as
    the caller's text (sorted, joined, capped like any echoed config value)."""

    code = "CONFIG_CONTRACT_MISMATCH"

    def __init__(
        self,
        contract: str,
        rule: str,
        file: str,
        key: str,
        contract_products: str,
        config_products: str,
    ):
        super().__init__(
            f"{contract}: rule {rule} names products {contract_products or '(none)'} but"
            f" {file} {key}: {config_products or '(none)'}; they must name the same products"
            " (nothing was run)",
            contract=contract,
            rule=rule,
            file=file,
            key=key,
            contract_products=contract_products,
            config_products=config_products,
        )


class DataRootRefusedError(ConfigError):
    """The data_root is a system folder (``/``, ``/etc``, the user's home ...): the pipeline
    would write its lake, runs and reports among the system's files."""

    code = "DATA_ROOT_REFUSED"

    def __init__(self, data_root: Path, reason: str):
        super().__init__(
            f"data_root {data_root}: {reason}; point --data-root (or pipeline.yaml data_root) "
            "at a folder of its own",
            data_root=data_root,
            reason=reason,
        )


class LandingFolderError(LoanriskError):
    """A run was asked for on a data_root whose landing folder does not exist (a mistyped
    data_root, most likely): it stops before writing anything."""

    code = "LANDING_FOLDER_MISSING"

    def __init__(self, landing_dir: Path, data_root: Path):
        super().__init__(
            f"landing folder {landing_dir} does not exist: is data_root {data_root} right? "
            "(nothing was written)",
            landing_dir=landing_dir,
            data_root=data_root,
        )


class InputFileError(LoanriskError):
    """The day's input file is missing, unreadable, empty or structurally broken, or a stage's
    input partition has not been written yet."""

    code = "INPUT_FILE"


class UsageError(LoanriskError):
    """A command or call asked for something that does not exist or does not fit together."""

    code = "USAGE"


class LandingFileError(LoanriskError):
    """Reading a landing file found a file-level problem; ``gate`` names the batch gate it
    trips (FILE_MISSING, FILE_INCOMPLETE, FILE_UNREADABLE, FILE_EMPTY, COLUMN_MISSING). The
    ingest stage turns it into a ``GateError`` (or a warning for a missing or empty optional
    feed)."""

    code = "LANDING_FILE"

    def __init__(self, gate: str, file_name: str, reason: str, **values: object):
        super().__init__(
            f"{file_name}: {reason}", gate=gate, file_name=file_name, reason=reason, **values
        )


class IncompleteFileError(LandingFileError):
    """A landing file is not the one its control file (``.done``) describes: its row count or
    its sha256 differs (cut short, still being written, altered). Gate FILE_INCOMPLETE."""

    code = "FILE_INCOMPLETE"

    def __init__(
        self,
        file_name: str,
        control_file: str,
        expected_rows: int,
        found_rows: int | None,
        expected_sha256: str,
        found_sha256: str,
    ):
        found = "could not be read" if found_rows is None else f"has {found_rows} rows"
        reason = (
            f"the file {found} (sha256 {found_sha256[:16]}...), its control file "
            f"{control_file} says {expected_rows} rows (sha256 {expected_sha256[:16]}...): "
            "incomplete or altered since the core wrote it"
        )
        super().__init__(
            "FILE_INCOMPLETE",
            file_name,
            reason,
            control_file=control_file,
            expected_rows=expected_rows,
            found_rows=found_rows,
            expected_sha256=expected_sha256,
            found_sha256=found_sha256,
        )


#: The data gates an operator may accept with a reason (the others stop the day outright).
ACCEPTABLE_GATES = ("QUARANTINE_SHARE", "ROW_COUNT_CHANGE", "OUTSTANDING_CHANGE")


class GateError(LoanriskError):
    """A batch gate (a file gate, or a data gate not accepted) stopped the day; ``str()`` is
    the one line the operator reads."""

    code = "GATE"

    def __init__(self, gate: str, file_name: str, detail: str):
        hint = (
            f" (to publish anyway: --accept-gate {gate} --reason '...')"
            if gate in ACCEPTABLE_GATES
            else ""
        )
        super().__init__(
            f"{file_name}: gate {gate} failed: {detail}{hint}",
            gate=gate,
            file_name=file_name,
            detail=detail,
        )

    def failure(self) -> dict:
        """The gate and the file it judged, rather than the code."""
        return {"gate": self.gate, "file": self.file_name, "message": str(self)}


class ValidationMismatchError(LoanriskError):
    """Great Expectations and the quarantine count a feed's rule breaches differently: a bug,
    never publish on it."""

    code = "GX_MISMATCH"

    def __init__(self, file_name: str, rules: list[str]):
        super().__init__(
            f"{file_name}: GX and quarantine counts differ on {rules}",
            file_name=file_name,
            rules=rules,
        )


class ReconciliationError(LoanriskError):
    """A count or control total does not match its source, so the day is not published: an
    extract's control total against its source (``ReconciliationError(report, name, got,
    expected)``), the loan feed's rows (``rows``) or the collections lists against the aged
    loans (``collections``)."""

    code = "RECONCILIATION"

    def __init__(self, report: str, name: str, got: object, expected: object):
        super().__init__(
            f"{report}: {name} {got} does not reconcile to the source's {expected}",
            report=report,
            name=name,
            got=got,
            expected=expected,
        )

    @classmethod
    def rows(
        cls, file_name: str, rows_in: int, rows_valid: int, rows_quarantined: int
    ) -> ReconciliationError:
        """A feed's rows in are not its valid plus its quarantined rows."""
        message = (
            f"{file_name}: rows_in {rows_in} != rows_valid {rows_valid} + rows_quarantined "
            f"{rows_quarantined}; not published"
        )
        values = {"rows_valid": rows_valid, "rows_quarantined": rows_quarantined}
        return cls._of(message, file_name, "rows_in", rows_in, values)

    @classmethod
    def collections(cls, totals: dict) -> ReconciliationError:
        """The loans and overdue listed (queue + suppressed) are not the source's."""
        message = f"collections do not reconcile to loan_aging: {totals}"
        listed = {k: v for k, v in totals.items() if k.startswith("listed_")}
        source = {k: v for k, v in totals.items() if k.startswith("source_")}
        return cls._of(message, "collections", "listed", listed, source)

    @classmethod
    def _of(
        cls, message: str, report: str, name: str, got: object, expected: object
    ) -> ReconciliationError:
        details = {"report": report, "name": name, "got": got, "expected": expected}
        return _rebuilt(cls, message, details)


class HistoryGapError(LoanriskError):
    """The previous day's loan_state is missing and the gap was not allowed: aging would
    restart the delinquency history."""

    code = "HISTORY_GAP"

    def __init__(self, missing: str, day: dt.date, previous_day: dt.date):
        super().__init__(
            f"{missing}: missing, the latest stored loan_state before {day} is {previous_day}; "
            f"run the days between first (loanrisk backfill --start "
            f"{previous_day + dt.timedelta(days=1)} --end {day}) "
            "or accept the gap with --allow-gap",
            missing=missing,
            day=day,
            previous_day=previous_day,
        )


class ShardError(LoanriskError):
    """A shard's part is missing, or was computed from other inputs than today's
    (``ShardError(partition, problems)``), or a shard number is out of range
    (``no_such_shard``)."""

    code = "SHARD_INCOMPLETE"

    def __init__(self, partition: str, problems: list[str]):
        super().__init__(
            f"{partition}: {', '.join(problems)}; "
            "rerun the shard tasks of the day, then the combine step",
            partition=partition,
            problems=problems,
        )

    @classmethod
    def no_such_shard(cls, number: int, count: int) -> ShardError:
        message = f"shard {number} does not exist: shards are 0 .. {count - 1}"
        return _rebuilt(cls, message, {"number": number, "count": count})


class RunLockedError(LoanriskError):
    """Another run holds the data_root's run lock (``holder``: its description, None when it
    has not written it yet)."""

    code = "RUN_LOCKED"

    def __init__(self, lock_file: Path, holder: str | None, waited: float):
        who = holder or "another process (details not written yet)"
        after = f" after waiting {waited:g}s" if waited else ""
        super().__init__(
            f"{lock_file.parent}: another run holds the run lock{after}: {who}; "
            f"wait for it to finish (lock file {lock_file})",
            lock_file=lock_file,
            holder=holder,
            waited=waited,
        )


class StaleLockError(LoanriskError):
    """A run died holding the lock; its details (``holder``: pid, host, business_date,
    purpose, since) are still in the lock file. ``state``: whether its pid still runs."""

    code = "RUN_LOCK_STALE"

    def __init__(self, lock_file: Path, holder: dict, state: str):
        super().__init__(
            f"stale run lock left by pid {holder['pid']} on {holder['host']} "
            f"({state}; {holder['purpose']} {holder['business_date']}) "
            f"since {holder['since']}; "
            f"that run died mid-way: check it, then remove {lock_file} or rerun with "
            "--break-stale-lock",
            lock_file=lock_file,
            holder=holder,
            state=state,
        )


class UnlockedWriteError(LoanriskError):
    """A task that runs without the run lock on an ``s3://`` data_root (a shard task) changed
    or deleted files other than its own shard's (``paths``, data_root-relative): nothing of the
    task is pushed to the store."""

    code = "UNLOCKED_WRITE"

    def __init__(self, task: str, paths: list[str]):
        shown = ", ".join(paths[:5]) + (f" and {len(paths) - 5} more" if len(paths) > 5 else "")
        super().__init__(
            f"{task} runs without the store's run lock, so it may only add its own shard's parts, "
            f"input records and GX results, but it changed or deleted {shown}; nothing was "
            "pushed",
            task=task,
            paths=paths,
        )


class RestatementSetAsideError(LoanriskError):
    """A task of an Airflow run that reruns a stored day found that run's shadow
    (``loanrisk.lake.versions``) set aside: it stopped, or a later run superseded it. Its
    tasks cannot go on alone; the whole run must be cleared."""

    code = "RESTATEMENT_SET_ASIDE"

    def __init__(self, owner: str, version: str, state: str):
        super().__init__(
            f"Airflow run {owner} reruns a stored day in {version}, which is {state}: nothing "
            "of it was published; clear the whole run (every task) to rerun the day",
            owner=owner,
            version=version,
            state=state,
        )


class AirflowRunError(LoanriskError):
    """An Airflow command of the local DAG test run failed."""

    code = "AIRFLOW_RUN"

    def __init__(self, what: str, reason: str):
        super().__init__(f"{what} failed: {reason}", what=what, reason=reason)


class DeploymentError(LoanriskError):
    """The local Airflow deployment (``loanrisk.airflow.deploy``: its PostgreSQL server, an
    Airflow component or command) did not start or failed."""

    code = "AIRFLOW_DEPLOY"

    def __init__(self, what: str, reason: object):
        super().__init__(f"{what} failed: {reason}", what=what, reason=reason)


#: Text a library quotes in its messages: the values that failed (a Polars cast error lists
#: them, a KeyError is its key), which may be a borrower's name, phone or ID.
_QUOTED = re.compile(r"`[^`]*(`|$)|\"[^\"]*(\"|$)|'[^']*('|$)|\[[^\]]*(\]|$)")


def redacted(text: str) -> str:
    """The first line of ``text`` with every quoted or bracketed part replaced by ``…``."""
    lines = text.strip().splitlines()
    return _QUOTED.sub("…", lines[0]) if lines else ""


def one_line(exc: BaseException) -> str:
    """An error as one line that may leave the process (alerts, manifests, journals, logs):
    our own errors whole (their messages name files, gates and counts, never a feed's value);
    any other with its type and its message's first line, quoted values taken out."""
    if isinstance(exc, LoanriskError):
        return str(exc)
    if isinstance(exc, OSError):  # errno, strerror and a path: no feed value
        return f"{type(exc).__name__}: {exc}"
    reason = redacted(str(exc))
    return f"{type(exc).__name__}: {reason}" if reason else type(exc).__name__
