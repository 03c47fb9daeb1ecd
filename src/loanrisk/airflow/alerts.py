"""Alerts from the DAGs: a task that finally failed or a run past its deadline becomes one JSON
line in ``<data_root>/runs/<ds>/alerts.jsonl`` and one message on each channel of the ``alerts:``
block of pipeline.yaml: mail through the SMTP provider's ``SmtpNotifier``, a Slack channel through
the Slack provider's ``SlackNotifier`` when a deployment installs it.

One message per failed task, not one per attempt: Airflow calls ``on_failure_callback`` only when
a task has no retry left (an attempt that will be retried calls ``on_retry_callback``, left
unset: the on-call engineer is woken for a day that stopped, not for a blip a retry absorbs), and
a data error (bad file, gate) fails at once without retries (``run_task``).

What leaves the process is plain text built here from ``errors.one_line``: the day, the DAG, the
task and the error's stable code, never a feed's value (a borrower's ID, phone or name)."""

from __future__ import annotations

import html
import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loanrisk.errors import LoanriskError, one_line
from loanrisk.pipeline.orchestration import parse_business_date, settings_of

if TYPE_CHECKING:
    from loanrisk.config import AlertsPolicy

log = logging.getLogger(__name__)


def write_alert(alert: dict[str, Any], params: dict | None) -> Path | None:
    """Log one alert and append it as a JSON line to ``<data_root>/runs/<ds>/alerts.jsonl``.

    Never raises: an alert hook that fails would hide the failure it reports."""
    log.error("loanrisk alert: %s", json.dumps(alert, sort_keys=True, default=str))
    try:
        from loanrisk.lake.modes import append_line
        from loanrisk.lake.storage import lake_of

        settings = settings_of(params)
        lake = lake_of(settings)
        path = lake.alerts_file(parse_business_date(str(alert["ds"])))
        append_line(path, json.dumps(alert, sort_keys=True, default=str))  # owner-only
        return path
    except Exception:
        log.exception("could not write the alert to alerts.jsonl")
        return None


# --- what the alert says -----------------------------------------------------------------------


def _our_error(exception: BaseException) -> LoanriskError | None:
    """Our error behind ``exception``: ``run_task`` raises ``AirflowFailException(str(error))
    from None``, which hides the chain from tracebacks but keeps it as ``__context__``."""
    seen: BaseException | None = exception
    for _ in range(8):  # a chain of causes, cut short should one loop
        if seen is None or isinstance(seen, LoanriskError):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def error_fields(exception: BaseException | None) -> dict[str, str | None]:
    """An alert's ``code`` (our error's stable code, else the exception's type), ``gate`` (the
    batch gate a ``GateError`` names) and ``exception`` (``one_line``: no feed values)."""
    if exception is None:  # a task Airflow found dead: no exception to report
        return {"code": None, "gate": None, "exception": None}
    ours = _our_error(exception)
    if ours is None:
        return {"code": type(exception).__name__, "gate": None, "exception": one_line(exception)}
    gate = getattr(ours, "gate", None)
    return {
        "code": ours.code,
        "gate": gate if isinstance(gate, str) else None,
        "exception": one_line(ours),
    }


#: The body's lines: label, alert key (a line only for a value that is set).
_FIELDS = (
    ("day", "ds"),
    ("DAG", "dag_id"),
    ("task", "task_id"),
    ("map index", "map_index"),
    ("run", "run_id"),
    ("try", "try_number"),
    ("code", "code"),
    ("gate", "gate"),
    ("error", "exception"),
    ("deadline", "deadline"),
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


def _plain(value: object, limit: int = 1_000) -> str:
    """``value`` as one line of text: control characters (line breaks) as spaces, capped."""
    text = _CONTROL.sub(" ", str(value)).strip()
    return text if len(text) <= limit else f"{text[:limit]}…"


def alert_subject(alert: dict[str, Any]) -> str:
    """One line: ``[loanrisk] loan_daily 2026-03-01: ingest failed (GATE COLUMN_MISSING)``."""
    if alert.get("kind") == "task_failed":
        what = f"{alert.get('task_id')} failed"
    else:
        what = "run not finished by its deadline"
    code = " ".join(str(alert[key]) for key in ("code", "gate") if alert.get(key))
    subject = f"[loanrisk] {alert.get('dag_id')} {alert.get('ds')}: {what}"
    return _plain(subject + (f" ({code})" if code else ""), 200)


def alert_text(alert: dict[str, Any]) -> str:
    """The message as plain text: what happened, then one ``label: value`` line per field."""
    if alert.get("kind") == "task_failed":
        title = "a task failed (no retry left)"
    else:
        title = "a run is not finished by its deadline"
    lines = [f"loanrisk: {title}", ""]
    for label, key in _FIELDS:
        if alert.get(key) is not None:
            lines.append(f"{label + ':':<10} {_plain(alert[key])}")
    lines += [
        "",
        f"The day's records are under the data_root in runs/{_plain(alert.get('ds'), 40)}/ "
        "(alerts.jsonl, manifest.json); `loanrisk status` lists every day.",
    ]
    return "\n".join(lines)


# --- where it goes -----------------------------------------------------------------------------


def alerts_policy(params: dict | None) -> AlertsPolicy | None:
    """The ``alerts:`` block of the run's pipeline.yaml (its ``config_dir`` param), read alone.
    When that file is broken (a CONFIG_INVALID day, maybe) the deployment's default config
    names the channels instead: an alert must still reach someone."""
    from loanrisk.config import PipelineConfig, default_config_dir
    from loanrisk.domain.yaml_models import load_yaml_model

    folders = [(params or {}).get("config_dir"), default_config_dir()]
    for folder in dict.fromkeys(str(f) for f in folders if f):
        try:
            return load_yaml_model(Path(folder) / "pipeline.yaml", PipelineConfig).alerts
        except LoanriskError as exc:
            log.error("alerts: no channels from %s: %s", folder, one_line(exc))
    return None


def _notifier(name: str, channel: Any, alert: dict[str, Any]):
    """The provider's notifier of channel ``name``, its text already written (escaped: the mail
    is HTML, Slack reads ``<``, ``>``, ``&`` as markup)."""
    text = html.escape(alert_text(alert), quote=False)
    if name == "smtp":
        from airflow.providers.smtp.notifications.smtp import SmtpNotifier

        return SmtpNotifier(
            to=list(channel.to),
            cc=list(channel.cc) or None,
            from_email=channel.from_email,
            subject=alert_subject(alert),
            html_content=f"<pre>{text}</pre>",
            smtp_conn_id=channel.conn_id,
        )
    from airflow.providers.slack.notifications.slack import SlackNotifier

    return SlackNotifier(slack_conn_id=channel.conn_id, text=text, channel=channel.channel)


def send_alert(alert: dict[str, Any], policy: AlertsPolicy, context: dict) -> list[str]:
    """Send ``alert`` on every channel of ``policy``; the names of those that took it.

    ``notify`` is called, not the notifier itself: calling it renders its fields as Jinja
    templates, so an error message holding ``{{ ... }}`` would be evaluated. Never raises."""
    sent = []
    for name in policy.channels():
        try:
            _notifier(name, getattr(policy, name), alert).notify(context)
            sent.append(name)
        except Exception as exc:
            log.error("could not send the alert by %s: %s", name, one_line(exc))
    return sent


def raise_alert(alert: dict[str, Any], params: dict | None, context: dict) -> list[str]:
    """The alert line in alerts.jsonl, then the configured channels; never raises."""
    write_alert(alert, params)
    try:
        policy = alerts_policy(params)
    except Exception as exc:
        log.error("alerts: no channels: %s", one_line(exc))
        return []
    return [] if policy is None else send_alert(alert, policy, context)


# --- the callbacks -----------------------------------------------------------------------------


def on_task_failure(context: dict) -> None:
    """``on_failure_callback`` of every loanrisk task (called once its retries are spent)."""
    ti = context.get("ti") or context.get("task_instance")
    dag = context.get("dag")
    map_index = getattr(ti, "map_index", None)
    alert = {
        "kind": "task_failed",
        "dag_id": getattr(dag, "dag_id", None) or getattr(ti, "dag_id", None),
        "task_id": getattr(ti, "task_id", None),
        "map_index": map_index if isinstance(map_index, int) and map_index >= 0 else None,
        "run_id": context.get("run_id") or getattr(ti, "run_id", None),
        "try_number": getattr(ti, "try_number", None),
        "ds": context.get("ds"),
        **error_fields(context.get("exception")),
    }
    raise_alert(alert, context.get("params"), context)


def on_deadline_missed(context: dict | None = None, **kwargs: Any) -> None:
    """Callback of the DAGs' ``DeadlineAlert``: the run had not finished in time.

    Airflow calls it (in the executor, not in a task) with ``context = {"dag_run": {...},
    "deadline": {...}}``; the run conf's ``data_root`` / ``config_dir`` say where to write."""
    context = context or {}
    run = context.get("dag_run") or {}
    logical = run.get("logical_date") or run.get("run_after") or ""
    alert = {
        "kind": "deadline_missed",
        "dag_id": run.get("dag_id"),
        "task_id": None,
        "run_id": run.get("dag_run_id") or run.get("run_id"),
        "ds": str(logical)[:10],
        "deadline": (context.get("deadline") or {}).get("deadline_time"),
        "exception": None,
        **kwargs,
    }
    raise_alert(alert, run.get("conf") or {}, context)
