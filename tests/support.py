"""Test helpers: an environment pointed at a running simulator (and PostgreSQL), as config or as a TOML file."""

from pathlib import Path
from typing import Any

import tomli_w

from runbook.config import RunbookConfig
from runbook.config_file import PROJECT_ROOT, deep_merge, parse_config, read_toml


def local_data_for(sim: Any, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """environments/local.toml with every address replaced by the simulator's actual ports."""
    data = read_toml(PROJECT_ROOT / "environments" / "local.toml")
    data["gcp"]["endpoints"] = {"default": sim.url, "monitoring": sim.grpc_target}
    data["services"] = [{**s, "url": f"{sim.url}/services/{s['name']}"} for s in data["services"]]
    data["slack"]["api_base_url"] = f"{sim.url}/slack/api/"
    return deep_merge(data, overrides or {})


def config_for(sim: Any, overrides: dict[str, Any] | None = None) -> RunbookConfig:
    return parse_config(local_data_for(sim, overrides), "tests/support.py")


def env_file_for(sim: Any, directory: Path, overrides: dict[str, Any] | None = None, name: str = "sim") -> Path:
    """Write the simulator's environment to `directory/NAME.toml` (flows take an environment name or path)."""
    data = local_data_for(sim, overrides)
    data["name"] = name
    path = directory / f"{name}.toml"
    path.write_bytes(tomli_w.dumps(data).encode())
    return path
