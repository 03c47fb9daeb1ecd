"""data_root as an fsspec URL, and paths under it built by ``loanrisk.lake.storage.Lake`` only."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from conftest import PROJECT, outputs

from loanrisk.cli import main
from loanrisk.config import load_settings
from loanrisk.errors import ConfigError

DAY = dt.date(2026, 7, 1)


def test_a_day_runs_with_data_root_as_a_file_url(tmp_path, config_dir):
    from loanrisk.synth import generate

    by_path, by_url = tmp_path / "path", tmp_path / "url"
    for root in (by_path, by_url):
        generate(DAY, 1, 120, 4, root / "landing", config_dir)
    config = ["--config", str(config_dir)]
    assert main(["run", "--date", str(DAY), "--data-root", str(by_path), *config]) == 0
    assert main(["run", "--date", str(DAY), "--data-root", by_url.as_uri(), *config]) == 0
    published = outputs(by_path)
    assert any(p.startswith("lake/curated/loan_aging/") for p in published)
    assert outputs(by_url) == published


@pytest.mark.parametrize("url", ["memory://lake", "s3://bank-risk/lake"])
def test_object_storage_data_root_is_refused_naming_the_key(url, config_dir):
    with pytest.raises(ConfigError, match=rf"data_root: {re.escape(url)}: .* not supported"):
        load_settings(config_dir, url)


def test_only_storage_builds_paths_under_data_root():
    """Every path under data_root comes from a ``Lake`` method: no module but storage.py joins
    onto ``data_root`` (config.py only resolves it)."""
    joins = re.compile(r"data_root\s*/")
    found = [
        f"{path.relative_to(PROJECT)}:{n}"
        for path in sorted((PROJECT / "src" / "loanrisk").rglob("*.py"))
        if path.name not in ("storage.py", "config.py")
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if joins.search(line)
    ]
    assert found == []
