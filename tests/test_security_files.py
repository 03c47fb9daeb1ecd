"""Security corpus, the program's own files and inputs (DESIGN.md §5b "Owner-only by default",
"Safe inputs to the program itself"): what the pipeline writes under a data_root is owner-only
whatever the caller's umask (group-readable when configured); a system folder is refused as
data_root and a data_root without its landing folder stops before anything is written; a YAML
alias bomb is refused and echoed config values are capped; the config files are checked against
each other before any stage runs."""

from __future__ import annotations

import datetime as dt
import os
import shutil
import stat
import time
from pathlib import Path

import pytest
import yaml
from conftest import umask

from loanrisk.cli import main
from loanrisk.config import load_settings
from loanrisk.errors import ConfigError, LandingFolderError

DAY = dt.date(2026, 6, 1)


def modes(root: Path) -> dict[str, str]:
    """Permission bits (octal text) of every file and folder under ``root``, root included."""
    found = {".": oct(stat.S_IMODE(root.stat().st_mode))}
    for path in sorted(root.rglob("*")):
        if not path.is_symlink():
            found[path.relative_to(root).as_posix()] = oct(stat.S_IMODE(path.stat().st_mode))
    return found


def wrong_modes(root: Path, file_mode: int, dir_mode: int) -> dict[str, str]:
    """Files and folders under ``root`` whose mode is not the expected one."""
    expected = {True: oct(dir_mode), False: oct(file_mode)}
    return {
        name: mode for name, mode in modes(root).items() if mode != expected[(root / name).is_dir()]
    }


def project_copy(tmp_path: Path, config_dir: Path) -> Path:
    """A writable copy of the test project (config/, data_contracts/, dags/): its config dir."""
    root = tmp_path / "project"
    for folder in ("config", "data_contracts", "dags"):
        shutil.copytree(config_dir.parent / folder, root / folder)
    return root / "config"


def edit_yaml(path: Path, edit) -> None:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(document)
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")


# --------------------------------------------------------------------------- owner-only files


def _synth_and_run(root: Path, config_dir: Path, days: int) -> None:
    common = ["--data-root", str(root), "--config", str(config_dir)]
    synth = ["--start", str(DAY), "--days", str(days), "--loans", "200", "--seed", "3"]
    assert main(["synth", *synth, "--out", str(root / "landing"), "--config", str(config_dir)]) == 0
    end = DAY + dt.timedelta(days=days - 1)
    assert main(["backfill", "--start", str(DAY), "--end", str(end), *common]) == 0
    assert main(["report", "--date", str(end), *common]) == 0


@pytest.mark.slow
def test_every_file_of_a_run_is_owner_only_under_umask_000(tmp_path, config_dir):
    root = tmp_path / "data"
    with umask(0o000):
        _synth_and_run(root, config_dir, days=2)
    assert (root / "lake" / "raw").is_dir() and (root / "warehouse.duckdb").is_file()
    assert (root / "gx").is_dir() and (root / "logs").is_dir()
    assert wrong_modes(root, 0o600, 0o700) == {}


@pytest.mark.slow
@pytest.mark.parametrize("shards", [1, 3])  # 3: shard tasks in worker processes write too
def test_a_configured_group_may_read(tmp_path, config_dir, shards):
    config = project_copy(tmp_path, config_dir)
    edit_yaml(
        config / "execution.yaml", lambda doc: doc.update(file_group_read=True, shards=shards)
    )
    root = tmp_path / "data"
    root.mkdir()
    os.chmod(root, 0o750)  # the operator's folder, group-readable (whatever the umask)
    with umask(0o000):
        _synth_and_run(root, config, days=1)
    beyond = {  # nothing beyond group read anywhere
        name: mode
        for name, mode in modes(root).items()
        if int(mode, 8) & ~(0o750 if (root / name).is_dir() else 0o640)
    }
    assert beyond == {}
    # Everything the pipeline wrote is group-readable but the extracts, which stay owner-only
    # (they hold the personal data their channel needs; their owner hands them over), and the
    # template cache Jinja writes owner-only inside GX's folder. Landing is the feed's.
    owner_only = ("landing", "gx/data_docs_templates/")
    wrong = {
        name
        for name in wrong_modes(root, 0o640, 0o750)
        if not name.startswith(owner_only) and not name.startswith("extracts/")
    }
    assert wrong == set()
    assert wrong_modes(root / "extracts", 0o600, 0o750) == {}
    assert (root / "lake" / "raw").is_dir() and (root / "warehouse.duckdb").is_file()


def test_a_run_tightens_what_an_older_version_left(tmp_path, config_dir, capsys):
    """A data_root written under umask 000 by a version before owner-only files: the next run
    takes every file and folder down to 0600 / 0700 (the day itself may fail: its file is not
    there), the landing folder's files stay the core's."""
    root = tmp_path / "data"
    old = ["reports/2026-05-31/risk_report.html", "logs/2026-05-31.jsonl", "state/x.json"]
    with umask(0o000):
        for name in [*old, "landing/loans_2026-05-31.csv"]:
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            (root / name).write_bytes(b"x")
        assert oct(stat.S_IMODE((root / "reports").stat().st_mode)) == "0o777"
        main(["run", "--date", str(DAY), "--data-root", str(root), "--config", str(config_dir)])
    assert "FILE_MISSING" in capsys.readouterr().err
    landing = modes(root / "landing")
    assert landing == {".": "0o777", "loans_2026-05-31.csv": "0o666"}
    shutil.rmtree(root / "landing")
    assert wrong_modes(root, 0o600, 0o700) == {}


def test_the_cli_leaves_the_callers_umask_as_it_was(tmp_path, config_dir):
    with umask(0o002):
        main(["status", "--data-root", str(tmp_path / "data"), "--config", str(config_dir)])
        assert os.umask(0o002) == 0o002


def test_file_group_read_is_validated(tmp_path, config_dir):
    config = project_copy(tmp_path, config_dir)
    edit_yaml(config / "execution.yaml", lambda doc: doc.update(file_group_read="maybe"))
    with pytest.raises(ConfigError, match="file_group_read"):
        load_settings(config, tmp_path / "data")


def test_library_writes_are_owner_only_under_umask_000(tmp_path, config_dir):
    """Writes through the storage layer, the stage log and the alert hook set their modes
    themselves: a caller that never went through an entry point gets owner-only files too."""
    import polars as pl

    from loanrisk.airflow.alerts import write_alert
    from loanrisk.lake.storage import Lake, write_json_atomic, write_partition
    from loanrisk.pipeline.stage_log import logged

    root = tmp_path / "data"
    lake = Lake(root, root / "landing")
    with umask(0o000):
        write_partition(pl.DataFrame({"a": [1]}), lake.partition("raw", "t", DAY), lake.scratch)
        write_json_atomic({"a": 1}, lake.run_manifest(DAY))
        with logged(lake, "ingest", DAY, {}):
            pass
        params = {"data_root": str(root), "config_dir": str(config_dir)}
        assert write_alert({"ds": str(DAY), "kind": "task_failed"}, params) is not None
    assert (root / "logs").is_dir() and (root / "runs" / str(DAY) / "alerts.jsonl").is_file()
    assert wrong_modes(root, 0o600, 0o700) == {}


# --------------------------------------------------------------------------- data_root, landing


@pytest.mark.parametrize(
    "folder", ["/", "/etc", "/usr", "/var", "/home", "/tmp", "/etc/..", str(Path.home())]
)
def test_a_system_folder_is_refused_as_data_root(config_dir, folder):
    with pytest.raises(ConfigError, match="data_root") as caught:
        load_settings(config_dir, Path(folder))
    assert "\n" not in str(caught.value)


def test_a_system_folder_is_refused_from_pipeline_yaml(tmp_path, config_dir):
    config = project_copy(tmp_path, config_dir)
    edit_yaml(config / "pipeline.yaml", lambda doc: doc.update(data_root="/"))
    with pytest.raises(ConfigError, match="data_root"):
        load_settings(config)


def test_a_folder_below_home_is_accepted(config_dir):
    assert load_settings(config_dir, Path.home() / "loanrisk-data").data_root.name


@pytest.mark.parametrize(
    "command", [["run", "--date", str(DAY)], ["reprocess", "--date", str(DAY)]]
)
def test_a_run_without_landing_folder_writes_nothing(tmp_path, config_dir, capsys, command):
    typo = tmp_path / "dta"
    args = [*command, "--data-root", str(typo), "--config", str(config_dir)]
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert LandingFolderError.code in err and str(typo / "landing") in err
    assert not typo.exists()


def test_a_backfill_without_landing_folder_writes_nothing(tmp_path, config_dir, capsys):
    typo = tmp_path / "dta"
    span = ["--start", str(DAY), "--end", str(DAY)]
    assert main(["backfill", *span, "--data-root", str(typo), "--config", str(config_dir)]) == 1
    assert str(typo / "landing") in capsys.readouterr().err
    assert not typo.exists()


def test_an_airflow_task_without_landing_folder_writes_nothing(tmp_path, config_dir):
    from airflow.sdk.exceptions import AirflowFailException

    from loanrisk.pipeline.orchestration import run_task

    typo = tmp_path / "dta"
    params = {"data_root": str(typo), "config_dir": str(config_dir)}
    with pytest.raises(AirflowFailException, match="landing"):
        run_task("ingest", str(DAY), params, feed="loan_snapshot")
    assert not typo.exists()


# --------------------------------------------------------------------------- YAML and echoes


BOMB = "\n".join(
    ["a0: &a0 [" + ", ".join(["x"] * 9) + "]"]
    + [f"a{n}: &a{n} [" + ", ".join([f"*a{n - 1}"] * 9) + "]" for n in range(1, 9)]
    + ["products: *a8"]
)


def test_a_yaml_alias_bomb_is_refused_quickly(tmp_path, config_dir):
    config = project_copy(tmp_path, config_dir)
    (config / "pipeline.yaml").write_text(BOMB + "\n", encoding="utf-8")
    started = time.perf_counter()
    with pytest.raises(ConfigError, match=r"alias|anchor") as caught:
        load_settings(config, tmp_path / "data")
    assert time.perf_counter() - started < 5
    assert len(str(caught.value)) < 500 and "pipeline.yaml" in str(caught.value)


def test_a_single_alias_is_refused(tmp_path):
    from loanrisk.domain.yaml_models import read_yaml

    path = tmp_path / "x.yaml"
    path.write_text("a: &one 1\nb: *one\n", encoding="utf-8")
    with pytest.raises(yaml.YAMLError, match=r"anchor|alias"):
        read_yaml(path)


@pytest.mark.parametrize("value", [["Z" * 100_000], "Z" * 100_000], ids=["list", "text"])
def test_echoed_config_values_are_capped(tmp_path, config_dir, value):
    config = project_copy(tmp_path, config_dir)
    edit_yaml(config / "pipeline.yaml", lambda doc: doc.update(input_encoding=value))
    with pytest.raises(ConfigError, match="input_encoding") as caught:
        load_settings(config, tmp_path / "data")
    assert len(str(caught.value)) < 800
    assert "Z" * 201 not in str(caught.value)


# --------------------------------------------------------------------------- cross-checks


def _with(tmp_path, config_dir, name, edit) -> Path:
    config = project_copy(tmp_path, config_dir)
    edit_yaml(config / name, edit)
    return config


def test_a_fourth_product_without_lgd_is_refused_at_load(tmp_path, config_dir):
    config = _with(
        tmp_path,
        config_dir,
        "pipeline.yaml",
        lambda doc: doc.update(products=[*doc["products"], "PAYDAY"]),
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, tmp_path / "data")
    text = str(caught.value)
    assert "ecl.yaml" in text and "lgd" in text and "PAYDAY" in text and "pipeline.yaml" in text


def test_a_credit_line_product_not_configured_is_refused(tmp_path, config_dir):
    def edit(doc):
        doc["lgd"]["REVOLVER"] = 0.8
        doc["credit_line_products"] = ["CREDIT_LINE", "REVOLVER"]

    config = _with(tmp_path, config_dir, "ecl.yaml", edit)
    with pytest.raises(ConfigError, match=r"ecl\.yaml.*credit_line_products.*REVOLVER"):
        load_settings(config, tmp_path / "data")


def test_a_limit_product_not_configured_is_refused(tmp_path, config_dir):
    config = _with(
        tmp_path,
        config_dir,
        "risk_actions.yaml",
        lambda doc: doc["reduce_limit"].update(products=["CREDIT_LNE"]),
    )
    with pytest.raises(
        ConfigError, match=r"risk_actions\.yaml.*reduce_limit\.products.*CREDIT_LNE"
    ):
        load_settings(config, tmp_path / "data")


def test_the_shipped_config_passes_the_cross_checks(config_dir, tmp_path):
    assert load_settings(config_dir, tmp_path / "data").pipeline.products


# --------------------------------------------------------------------------- contract vs config


def _second_credit_line(tmp_path, config_dir) -> Path:
    """A project whose config names a second credit-line product, REVOLVER, consistently across
    config/ (products, lgd, credit_line_products) while the loans contract's CREDIT_LIMIT_MISSING
    rule still names CREDIT_LINE only: a REVOLVER without credit_limit would pass validation."""

    def ecl(doc):
        doc["lgd"]["REVOLVER"] = 0.8
        doc["credit_line_products"] = ["CREDIT_LINE", "REVOLVER"]

    config = _with(tmp_path, config_dir, "ecl.yaml", ecl)
    edit_yaml(
        config / "pipeline.yaml",
        lambda doc: doc.update(products=[*doc["products"], "REVOLVER"]),
    )
    return config


def test_a_contract_credit_line_rule_unlike_the_config_stops_a_run(tmp_path, config_dir, capsys):
    from loanrisk.errors import ContractConfigMismatchError

    config = _second_credit_line(tmp_path, config_dir)
    root = tmp_path / "data"
    assert load_settings(config, root).risk.ecl.credit_line_products  # config agrees with itself
    (root / "landing").mkdir(parents=True)
    assert main(["run", "--date", str(DAY), "--data-root", str(root), "--config", str(config)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and ContractConfigMismatchError.code in err
    for fragment in ("loan_snapshot.yaml", "CREDIT_LIMIT_MISSING", "ecl.yaml"):
        assert fragment in err
    assert "credit_line_products: CREDIT_LINE, REVOLVER" in err
    assert sorted(p.name for p in root.iterdir()) == ["landing"]  # nothing written


def test_a_contract_naming_more_credit_lines_than_the_config_is_refused(tmp_path, config_dir):
    from loanrisk.errors import ContractConfigMismatchError
    from loanrisk.lake.storage import enter_data_root

    config = project_copy(tmp_path, config_dir)
    contract = config.parent / "data_contracts" / "loan_snapshot.yaml"
    text = contract.read_text(encoding="utf-8")
    rule = "values: [CREDIT_LINE]}"
    assert text.count(rule) == 1
    contract.write_text(text.replace(rule, "values: [CREDIT_LINE, CASH_LOAN]}"), encoding="utf-8")
    settings = load_settings(config, tmp_path / "data")
    with pytest.raises(ContractConfigMismatchError) as caught:
        enter_data_root(settings, landing=False)
    assert caught.value.details() == {
        "contract": "loan_snapshot.yaml",
        "rule": "CREDIT_LIMIT_MISSING",
        "file": "ecl.yaml",
        "key": "credit_line_products",
        "contract_products": "CASH_LOAN, CREDIT_LINE",
        "config_products": "CREDIT_LINE",
    }
    assert "CREDIT_LINE, CASH_LOAN" not in str(caught.value)  # both sides sorted
    assert "CASH_LOAN, CREDIT_LINE" in str(caught.value)


def test_the_shipped_contracts_agree_with_the_shipped_config(tmp_path, config_dir):
    from loanrisk.lake.modes import owner_only
    from loanrisk.lake.storage import enter_data_root
    from loanrisk.quality.config_check import credit_line_rule_products

    settings = load_settings(config_dir, tmp_path / "data")
    assert credit_line_rule_products(settings) == ("CREDIT_LIMIT_MISSING", ("CREDIT_LINE",))
    with owner_only():  # enter_data_root sets the process's umask: put it back after
        enter_data_root(settings, landing=False)
