"""Alerts that reach people: a failed task or a missed deadline is mailed through the SMTP
provider's notifier to the recipients of ``alerts.smtp`` in pipeline.yaml (the server from an
Airflow connection), and still appended to ``runs/<ds>/alerts.jsonl``. Mail goes to a real SMTP
server (aiosmtpd) started by the test on a free localhost port."""

from __future__ import annotations

import datetime as dt
import email
import email.policy
import json
import shutil
import socket
import sys
import types
from importlib.machinery import ModuleSpec
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

DAY = dt.date(2026, 3, 1)
ONCALL = ["risk-oncall@bank.example", "data-eng@bank.example"]
SENDER = "loanrisk-alerts@bank.example"
#: A national ID and a phone as a library would quote them in its message (a Polars cast error).
NATIONAL_ID, PHONE = "110101199003074578", "13800138000"


class _Inbox:
    """aiosmtpd handler: every message the server accepts, parsed."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list = []

    async def handle_DATA(self, server, session, envelope):  # aiosmtpd calls it by this name
        self.envelopes.append(envelope)
        self.messages.append(
            email.message_from_bytes(envelope.content, policy=email.policy.default)
        )
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _smtp_conn(port: int) -> str:
    """An Airflow SMTP connection (JSON form) to a plain, unauthenticated local server."""
    extra = {"disable_tls": True, "disable_ssl": True, "retry_limit": 0, "timeout": 5}
    return json.dumps({"conn_type": "smtp", "host": "127.0.0.1", "port": port, "extra": extra})


@pytest.fixture
def inbox(monkeypatch):
    """A real SMTP server on a free localhost port, given to Airflow as ``smtp_default``."""
    from aiosmtpd.controller import Controller

    handler = _Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", _smtp_conn(controller.port))
    try:
        yield handler
    finally:
        controller.stop()


def _project_with_alerts(config_dir: Path, folder: Path, alerts: dict) -> Path:
    """A copy of the project (config, contracts, dags) whose pipeline.yaml has ``alerts``."""
    for name in ("config", "data_contracts", "dags"):
        shutil.copytree(config_dir.parent / name, folder / name)
    path = folder / "config" / "pipeline.yaml"
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    document["alerts"] = alerts
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return folder / "config"


@pytest.fixture
def mailing_config(tmp_path, config_dir) -> Path:
    """The shipped config with mail to the on-call list through the default connection."""
    alerts = {"smtp": {"from_email": SENDER, "to": ONCALL}}
    return _project_with_alerts(config_dir, tmp_path / "project", alerts)


def _alert_lines(root: Path, day: str) -> list[dict]:
    path = root / "runs" / day / "alerts.jsonl"
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _body(message) -> str:
    return message.get_body(preferencelist=("html", "plain")).get_content()


@pytest.mark.airflow
@pytest.mark.slow
def test_a_day_stopped_by_a_gate_sends_one_mail_naming_day_task_and_code(
    tmp_path, mailing_config, inbox
):
    """loan_daily through dag.test: the loans file lacks a column, so ingest stops the day on
    the COLUMN_MISSING gate; one mail to the on-call list, and alerts.jsonl still gets its line."""
    import polars as pl

    from loanrisk.airflow.airflow_local import run_dag_test
    from loanrisk.config import load_settings
    from loanrisk.errors import AirflowRunError
    from loanrisk.synth import generate

    root = tmp_path / "data"
    generate(DAY, 1, 40, 7, root / "landing", mailing_config)
    loans = root / "landing" / f"loans_{DAY}.csv"
    pl.read_csv(loans, infer_schema=False).drop("overdue_fees").write_csv(loans)
    settings = load_settings(mailing_config, root)
    with pytest.raises(AirflowRunError):  # the run ends failed
        run_dag_test(DAY, settings)

    [line] = _alert_lines(root, str(DAY))
    assert line["kind"] == "task_failed" and line["task_id"] == "ingest"
    assert (line["code"], line["gate"]) == ("GATE", "COLUMN_MISSING")
    assert "overdue_fees" in line["exception"]
    [mail] = inbox.messages
    assert sorted(inbox.envelopes[0].rcpt_tos) == sorted(ONCALL)
    assert mail["From"] == SENDER
    subject, body = str(mail["Subject"]), _body(mail)
    for text in (subject, body):
        for word in (str(DAY), "loan_daily", "ingest", "GATE", "COLUMN_MISSING"):
            assert word in text, (word, text)
    assert "overdue_fees" in body


def _failure_context(params: dict, exception: BaseException) -> dict:
    """What Airflow hands an ``on_failure_callback`` (the parts the hook reads)."""
    ti = SimpleNamespace(
        task_id="score_loans", dag_id="loan_daily", run_id="scheduled__2026-03-01", try_number=3
    )
    return {
        "ti": ti,
        "dag": SimpleNamespace(dag_id="loan_daily"),
        "ds": str(DAY),
        "params": params,
        "exception": exception,
    }


def test_a_task_failure_mails_the_code_of_the_error_behind_airflow_s(
    tmp_path, mailing_config, inbox
):
    """run_task raises AirflowFailException ``from None`` over our error: the mail still names
    the error's code, and its one line whole."""
    from airflow.sdk.exceptions import AirflowFailException

    from loanrisk.airflow.alerts import on_task_failure
    from loanrisk.errors import HistoryGapError

    root = tmp_path / "data"
    params = {"data_root": str(root), "config_dir": str(mailing_config)}
    try:
        try:
            raise HistoryGapError("loan_state 2026-02-28", DAY, dt.date(2026, 2, 20))
        except HistoryGapError as exc:
            raise AirflowFailException(str(exc)) from None
    except AirflowFailException as failed:
        on_task_failure(_failure_context(params, failed))
    [mail] = inbox.messages
    assert "HISTORY_GAP" in str(mail["Subject"]) and "score_loans" in str(mail["Subject"])
    assert "[HISTORY_GAP] loan_state 2026-02-28: missing" in _body(mail)
    [line] = _alert_lines(root, str(DAY))
    assert line["code"] == "HISTORY_GAP" and line["gate"] is None
    assert line["exception"].startswith("[HISTORY_GAP] loan_state 2026-02-28")


def test_the_mail_is_plain_escaped_text_without_feed_values(tmp_path, mailing_config, inbox):
    """A library's message quoting a national ID and a phone, with markup, a template and a
    line break: none of the values reach the mail, the markup is escaped, the template is not
    rendered, and the subject stays one line."""
    from loanrisk.airflow.alerts import on_task_failure

    params = {"data_root": str(tmp_path / "data"), "config_dir": str(mailing_config)}
    error = ValueError(
        f"<b>cast</b> {{{{ 7 * 7 }}}} failed for '{NATIONAL_ID}' [{PHONE}]\nsecond line {PHONE}"
    )
    on_task_failure(_failure_context(params, error))
    [mail] = inbox.messages
    raw = inbox.envelopes[0].content.decode("utf-8", "replace")
    body, subject = _body(mail), str(mail["Subject"])  # (the body travels base64-encoded)
    for value in (NATIONAL_ID, PHONE):
        assert value not in raw and value not in body and value not in subject
    assert "&lt;b&gt;cast&lt;/b&gt;" in body and "<b>" not in body
    assert "{{ 7 * 7 }}" in body and "49" not in body
    assert "\n" not in subject and "ValueError" in subject


def test_a_missed_deadline_sends_one_mail_through_a_configured_connection(
    tmp_path, config_dir, monkeypatch
):
    """on_deadline_missed with the context Airflow gives a DeadlineAlert callback: one mail
    through the connection ``alerts.smtp.conn_id`` names, one line in alerts.jsonl."""
    from aiosmtpd.controller import Controller

    from loanrisk.airflow.alerts import on_deadline_missed

    alerts = {"smtp": {"conn_id": "loanrisk_mail", "from_email": SENDER, "to": ONCALL[:1]}}
    project = _project_with_alerts(config_dir, tmp_path / "project", alerts)
    handler = _Inbox()
    controller = Controller(handler, hostname="127.0.0.1", port=_free_port())
    controller.start()
    monkeypatch.setenv("AIRFLOW_CONN_LOANRISK_MAIL", _smtp_conn(controller.port))
    root = tmp_path / "data"
    run = {
        "dag_id": "loan_daily",
        "dag_run_id": "scheduled__2026-03-01T00:00:00+00:00",
        "logical_date": "2026-03-01T00:00:00Z",
        "conf": {"data_root": str(root), "config_dir": str(project)},
    }
    try:
        on_deadline_missed(
            context={"dag_run": run, "deadline": {"deadline_time": "2026-03-02T06:00:00Z"}}
        )
    finally:
        controller.stop()
    [mail] = handler.messages
    assert handler.envelopes[0].rcpt_tos == ONCALL[:1]
    subject, body = str(mail["Subject"]), _body(mail)
    assert str(DAY) in subject and "loan_daily" in subject and "deadline" in subject
    assert "2026-03-02T06:00:00Z" in body
    [line] = _alert_lines(root, str(DAY))
    assert line["kind"] == "deadline_missed"


def test_an_unreachable_mail_server_only_logs_and_the_line_is_kept(
    tmp_path, mailing_config, monkeypatch, caplog
):
    from loanrisk.airflow.alerts import on_task_failure

    monkeypatch.setenv("AIRFLOW_CONN_SMTP_DEFAULT", _smtp_conn(_free_port()))  # nobody listens
    root = tmp_path / "data"
    params = {"data_root": str(root), "config_dir": str(mailing_config)}
    on_task_failure(_failure_context(params, ValueError("boom")))  # does not raise
    assert len(_alert_lines(root, str(DAY))) == 1
    assert "could not send the alert by smtp" in caplog.text


def test_no_channel_configured_sends_nothing(tmp_path, config_dir, inbox):
    """The shipped config mails nobody until an operator names the recipients."""
    from loanrisk.airflow.alerts import on_task_failure

    root = tmp_path / "data"
    params = {"data_root": str(root), "config_dir": str(config_dir)}
    on_task_failure(_failure_context(params, ValueError("boom")))
    assert inbox.messages == []
    assert len(_alert_lines(root, str(DAY))) == 1


# --- the alerts: block, validated on load -----------------------------------------------------

#: A small pipeline.yaml of these tests' own (not the project's policy).
PIPELINE = {
    "data_root": "data",
    "products": ["CASH_LOAN"],
    "annual_interest_rate_cap": "0.36",
    "validation": {
        "max_quarantine_share": 0.01,
        "max_row_count_change": 0.2,
        "max_outstanding_change": 0.2,
    },
}


def _load_alerts(folder: Path, alerts: dict):
    from loanrisk.config import PipelineConfig
    from loanrisk.domain.yaml_models import load_yaml_model

    path = folder / "pipeline.yaml"
    path.write_text(yaml.safe_dump({**PIPELINE, "alerts": alerts}), encoding="utf-8")
    return load_yaml_model(path, PipelineConfig).alerts


def test_alerts_block_defaults_to_no_channel(tmp_path):
    from loanrisk.config import PipelineConfig

    assert PipelineConfig.model_validate(PIPELINE).alerts.channels() == ()
    smtp = _load_alerts(tmp_path, {"smtp": {"from_email": SENDER, "to": ONCALL}}).smtp
    assert smtp.conn_id == "smtp_default" and smtp.to == tuple(ONCALL) and smtp.cc == ()


@pytest.mark.parametrize(
    "alerts, key",
    [
        ({"smtp": {"from_email": SENDER, "to": []}}, "alerts.smtp.to"),
        ({"smtp": {"from_email": SENDER, "to": ["oncall@bank.example\nBcc: x@y.z"]}}, "to.0"),
        ({"smtp": {"from_email": "not an address", "to": ONCALL}}, "alerts.smtp.from_email"),
        ({"smtp": {"to": ONCALL}}, "alerts.smtp.from_email"),
        ({"smtp": {"from_email": SENDER, "to": ONCALL, "password": "x"}}, "smtp.password"),
        ({"smtp": {"conn_id": "smtp default", "from_email": SENDER, "to": ONCALL}}, "conn_id"),
        ({"pager": {"to": ONCALL}}, "alerts.pager"),
    ],
)
def test_a_bad_alerts_block_is_refused_naming_the_key(tmp_path, alerts, key):
    from loanrisk.errors import ConfigError

    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _load_alerts(tmp_path, alerts)


def test_slack_is_refused_without_its_provider(tmp_path):
    from loanrisk.errors import ConfigError

    with pytest.raises(ConfigError, match=r"alerts\.slack: .*apache-airflow-providers-slack"):
        _load_alerts(tmp_path, {"slack": {"channel": "#loanrisk-alerts"}})


@pytest.fixture
def slack_provider(monkeypatch):
    """The Slack provider's notifier module, recording what it is asked to send (the provider
    is not a dependency of the project: a deployment installs it to use ``alerts.slack``)."""
    sent = []

    class SlackNotifier:
        def __init__(self, *, slack_conn_id, text, channel):
            self.kwargs = {"slack_conn_id": slack_conn_id, "text": text, "channel": channel}

        def notify(self, context):
            sent.append(self.kwargs)

    package = types.ModuleType("airflow.providers.slack")
    package.__spec__ = ModuleSpec("airflow.providers.slack", None, is_package=True)
    module = types.ModuleType("airflow.providers.slack.notifications.slack")
    module.SlackNotifier = SlackNotifier
    monkeypatch.setitem(sys.modules, "airflow.providers.slack", package)
    monkeypatch.setitem(sys.modules, "airflow.providers.slack.notifications.slack", module)
    return sent


def test_slack_gets_the_same_plain_text_when_its_provider_is_installed(
    tmp_path, slack_provider, inbox
):
    from loanrisk.airflow.alerts import send_alert

    policy = _load_alerts(
        tmp_path,
        {
            "smtp": {"from_email": SENDER, "to": ONCALL},
            "slack": {"conn_id": "slack_oncall", "channel": "#loanrisk-alerts"},
        },
    )
    alert = {
        "kind": "task_failed",
        "dag_id": "loan_daily",
        "task_id": "validate",
        "ds": str(DAY),
        "code": "GATE",
        "gate": "QUARANTINE_SHARE",
        "exception": "[GATE] loans_2026-03-01.csv: gate QUARANTINE_SHARE failed: 8 of 10",
    }
    assert send_alert(alert, policy, {}) == ["smtp", "slack"]
    [sent] = slack_provider
    assert sent["slack_conn_id"] == "slack_oncall" and sent["channel"] == "#loanrisk-alerts"
    assert "QUARANTINE_SHARE" in sent["text"] and str(DAY) in sent["text"]
    assert sent["text"] == _body(inbox.messages[0]).removeprefix("<pre>").removesuffix("</pre>")


def test_tasks_alert_once_through_the_hook_and_never_by_airflow_s_own_mail():
    """Every task's defaults: the failure hook (called once, when no retry is left), no hook on
    a retry, and Airflow's built-in error mail off (it would quote the raw exception, and mail
    each retry with ``email_on_retry``)."""
    from loanrisk.airflow.alerts import on_task_failure
    from loanrisk.airflow.dag_defaults import default_args
    from loanrisk.config import AirflowPolicy

    args = default_args(AirflowPolicy(retries=2))
    assert args["on_failure_callback"] is on_task_failure
    assert "on_retry_callback" not in args
    assert args["email_on_failure"] is False and args["email_on_retry"] is False


def test_a_run_whose_config_is_broken_still_alerts_the_deployment_s_channels(
    tmp_path, mailing_config, inbox, monkeypatch
):
    """A day that failed on CONFIG_INVALID: its config_dir names no channel it can read, so the
    deployment's default config ($LOANRISK_CONFIG) says who is told."""
    from loanrisk.airflow.alerts import on_task_failure

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "pipeline.yaml").write_text("alerts: [not, a, mapping]\n", encoding="utf-8")
    monkeypatch.setenv("LOANRISK_CONFIG", str(mailing_config))
    params = {"data_root": str(tmp_path / "data"), "config_dir": str(broken)}
    on_task_failure(_failure_context(params, ValueError("boom")))
    [mail] = inbox.messages
    assert "score_loans" in str(mail["Subject"])
