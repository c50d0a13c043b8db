"""Scenarios: the simulated staging world as TOML data files, composable with '+'.

`load_scenario("sql-stopped+api-slow")` starts from `scenarios/healthy.toml` and deep-merges each named overlay in
order: tables merge recursively, the list `google.faults` concatenates, every other value (lists included) replaces.
"""

import tomllib
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from simulator.google.config import GoogleConfig

SCENARIO_DIR = Path(__file__).parent / "scenarios"
BASE_SCENARIO = "healthy"
_CONCATENATED_LISTS = {("google", "faults")}


class Scenario(BaseModel):
    """A loaded, validated scenario. `netra` and `slack` stay plain dicts for their own simulators to validate."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    google: GoogleConfig = Field(default_factory=GoogleConfig)
    netra: dict[str, Any] = Field(default_factory=dict)
    slack: dict[str, Any] = Field(default_factory=dict)


def list_scenarios() -> dict[str, str]:
    """Every scenario file by name, with its one-line description."""
    return {path.stem: _read(path).get("description", "") for path in sorted(SCENARIO_DIR.glob("*.toml"))}


def load_scenario(spec: str) -> Scenario:
    """Load `healthy` plus the '+'-separated overlays in `spec` (for example "sql-stopped+api-slow").

    Raises:
        ValueError: an unknown scenario name (the message lists the known ones) or an invalid scenario file.
    """
    names = [part.strip() for part in spec.split("+") if part.strip()]
    if not names:
        raise ValueError("empty scenario name; known scenarios: " + ", ".join(list_scenarios()))
    known = list_scenarios()
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ValueError(f"unknown scenario {', '.join(unknown)!s}; known scenarios: {', '.join(known)}")
    merged = _read(SCENARIO_DIR / f"{BASE_SCENARIO}.toml")
    for name in names:
        if name != BASE_SCENARIO:
            merged = deep_merge(merged, _read(SCENARIO_DIR / f"{name}.toml"))
    merged["description"] = " + ".join(known[name] for name in names)
    try:
        return Scenario(name="+".join(names), **merged)
    except ValidationError as error:
        raise ValueError(f"scenario {spec!r} is invalid (files in {SCENARIO_DIR}):\n{error}") from error


def deep_merge(base: dict[str, Any], overlay: dict[str, Any], _path: tuple[str, ...] = ()) -> dict[str, Any]:
    """Return `base` updated with `overlay` (inputs are not modified); see the module docstring for the rules."""
    result = dict(base)
    for key, value in overlay.items():
        path = (*_path, key)
        current = result.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            result[key] = deep_merge(current, value, path)
        elif path in _CONCATENATED_LISTS and isinstance(current, list) and isinstance(value, list):
            result[key] = current + value
        else:
            result[key] = value
    return result


def _read(path: Path) -> dict[str, Any]:
    with path.open("rb") as file:
        try:
            return tomllib.load(file)
        except tomllib.TOMLDecodeError as error:
            raise ValueError(f"{path}: {error}") from error
