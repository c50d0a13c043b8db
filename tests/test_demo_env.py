"""`make demo SIM_PORT=... PG_PORT=...`: the environment file the demo runs against follows the ports."""

from pathlib import Path

import pytest

from runbook.config.files import load_config
from scripts.demo_env import write


def test_the_demo_environment_is_local_toml_on_the_demos_ports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(9765, 56432, tmp_path / "environments")
    monkeypatch.setenv("RUNBOOK_ENVIRONMENTS_DIR", str(path.parent))
    config = load_config("local")  # searched first: --env local is the demo's file, its name still local
    assert config.name == "local" and config.database.port == 56432
    assert (
        config.gcp.endpoints.default == "http://127.0.0.1:9765" and config.gcp.endpoints.monitoring == "127.0.0.1:9766"
    )
    assert {s.url for s in config.services} == {f"http://127.0.0.1:9765/services/{s.name}" for s in config.services}
    assert config.slack.api_base_url == "http://127.0.0.1:9765/slack/api/"
