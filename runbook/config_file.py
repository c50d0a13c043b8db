"""Finding, reading and validating an environment's TOML file, with errors a person can act on."""

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runbook.config import RunbookConfig

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in a config file: where, what was expected, what was found."""

    file: str
    key: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.file}: {self.key}: expected {self.expected}, found {self.found}"


class ConfigError(Exception):
    """The configuration cannot be used. Carries one problem per mistake."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def environment_dirs() -> list[Path]:
    """Where `--env NAME` is looked up: $RUNBOOK_ENVIRONMENTS_DIR, ./environments, then the project's own."""
    dirs = [Path(p) for p in os.environ.get("RUNBOOK_ENVIRONMENTS_DIR", "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "environments", PROJECT_ROOT / "environments"]
    return dirs


def available_environments() -> list[str]:
    return sorted({p.stem for d in environment_dirs() if d.is_dir() for p in d.glob("*.toml")})


def resolve_environment(env: str) -> Path:
    """`staging` -> environments/staging.toml; a path is taken as it is."""
    candidate = Path(env)
    if candidate.suffix == ".toml" or os.sep in env:
        if candidate.is_file():
            return candidate
        raise ConfigError([ConfigProblem(env, "(file)", "an existing TOML file", "no such file")])
    for directory in environment_dirs():
        path = directory / f"{env}.toml"
        if path.is_file():
            return path
    known = ", ".join(available_environments()) or "none"
    raise ConfigError([ConfigProblem(env, "(environment)", f"one of: {known}, or a path to a .toml file", repr(env))])


def _describe_input(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _problems(file: str, error: ValidationError) -> list[ConfigProblem]:
    problems = []
    for item in error.errors(include_url=False):
        key = ".".join(str(part) for part in item["loc"]) or "(top level)"
        if item["type"] == "missing":
            problems.append(ConfigProblem(file, key, "this key to be set", "nothing"))
        elif item["type"] == "extra_forbidden":
            problems.append(ConfigProblem(file, key, "no such key (misspelled or misplaced?)", "an unknown key"))
        else:
            message = item["msg"].removeprefix("Value error, ")
            if message.startswith("expected "):
                expected, _, found = message.removeprefix("expected ").partition(", found ")
                problems.append(ConfigProblem(file, key, expected, found or _describe_input(item.get("input"))))
            else:
                expected = message.removeprefix("Input should be ").removeprefix("Value should be ")
                expected = expected.replace("String should match pattern", "a string matching the pattern")
                problems.append(ConfigProblem(file, key, expected, _describe_input(item.get("input"))))
    return problems


def parse_config(data: dict[str, Any], file: str = "<config>") -> RunbookConfig:
    """Validate already-parsed TOML data; raise ConfigError with every problem at once."""
    try:
        return RunbookConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError(_problems(file, error)) from None


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([ConfigProblem(str(path), "(syntax)", "valid TOML", str(error))]) from None
    except OSError as error:
        problem = ConfigProblem(str(path), "(file)", "a readable file", error.strerror or str(error))
        raise ConfigError([problem]) from None


def load_config(env: str, overrides: dict[str, Any] | None = None) -> RunbookConfig:
    """Load `environments/<env>.toml` (or a path) into a validated RunbookConfig. No network involved.

    `overrides` are deep-merged over the file (tests point the config at a simulator on a free port).
    """
    path = resolve_environment(env)
    data = read_toml(path)
    if overrides:
        data = deep_merge(data, overrides)
    return parse_config(data, str(path))


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
