"""Finding, reading and validating an environment's TOML file, with errors a person can act on.

Every problem becomes one line: file, key, what was expected, what was found. A value that looks like a secret
(any `*_env`, `*_block` or `*_secret` value that is wrong, a URL with credentials, a token) is described, never
printed. Odd files (binary, Latin-1, UTF-16, a directory, huge, nested too deep) are problems like any other:
never a traceback.
"""

import datetime
import difflib
import json
import os
import re
import stat
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from runbook.config.models import RunbookConfig
from runbook.config.validators import (
    ENVIRONMENT_PATTERN,
    HIDDEN_TEXT_EXPECTED,
    PATTERN_DESCRIPTIONS,
    RULE_ERROR,
    hidden_character_problems,
)

PROJECT_ROOT = Path(__file__).resolve().parents[2]

# An environment file is a few kilobytes; a megabyte is already a pasted dump. Bounding it keeps every answer fast
# (tomllib reads about 2 MB/s on a busy 2-core machine).
MAX_FILE_BYTES = 1024 * 1024
# Past this many, the rest are counted rather than listed: nobody reads problem 201.
MAX_PROBLEMS = 200


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
    """The configuration cannot be used. Carries one problem per mistake (the first MAX_PROBLEMS of them)."""

    def __init__(self, problems: list[ConfigProblem], omitted: int = 0) -> None:
        self.problems = problems
        self.omitted = omitted
        lines = [str(p) for p in problems] + ([f"... and {omitted} more problem(s)"] if omitted else [])
        super().__init__("\n".join(lines))


def environment_dirs() -> list[Path]:
    """Where `--env NAME` is looked up: $RUNBOOK_ENVIRONMENTS_DIR, ./environments, then the project's own."""
    dirs = [Path(p) for p in os.environ.get("RUNBOOK_ENVIRONMENTS_DIR", "").split(os.pathsep) if p]
    dirs += [Path.cwd() / "environments", PROJECT_ROOT / "environments"]
    return dirs


def available_environments() -> list[str]:
    """Names `--env` accepts: the stems of the .toml files in the environment directories."""
    return sorted({p.stem for d in environment_dirs() if d.is_dir() for p in d.glob("*.toml")})


def _safe_name(text: str) -> str:
    """A file name or --env value as it can be printed: shortened, escaped when odd, hidden when secret-like."""
    if looks_like_secret(text):
        return "<a name that looks like a secret>"
    shown = text if text.isprintable() and text.isascii() else ascii(text)  # look-alike letters shown escaped
    return shown if len(shown) <= 200 else f"{shown[:180]}... ({len(text)} characters)"


def _file_problem(env: str, expected: str, found: str) -> ConfigError:
    return ConfigError([ConfigProblem(_safe_name(env), "(file)", expected, found)])


def _existing(path: Path) -> bool:
    try:
        return os.path.lexists(path)  # a dangling or looping symlink exists too: read_toml says what is wrong
    except (OSError, ValueError):  # a name too long, a NUL byte: not an existing file either way
        return False


def resolve_environment(env: str) -> Path:
    """`staging` -> environments/staging.toml; a path is taken as it is."""
    candidate = Path(env)
    if candidate.suffix == ".toml" or os.sep in env or (os.altsep and os.altsep in env):
        if _existing(candidate):
            return candidate  # read_toml says what is wrong with it, if anything
        raise _file_problem(env, "an existing TOML file", "no such file")
    for directory in environment_dirs():
        path = directory / f"{env}.toml"
        if _existing(path):
            return path
    known = ", ".join(available_environments()) or "none"
    name = _safe_name(env)
    expected = f"one of: {known}, or a path to a .toml file"
    raise ConfigError([ConfigProblem(name, "(environment)", expected, repr(name))])


def _decode(path: Path, data: bytes) -> str:
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        raise _file_problem(str(path), "UTF-8 text", "UTF-32 (save the file as UTF-8)")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise _file_problem(str(path), "UTF-8 text", "UTF-16 (save the file as UTF-8)")
    if b"\x00" in data:
        offset = data.index(b"\x00")
        raise _file_problem(str(path), "UTF-8 text", f"binary data (a NUL byte at offset {offset})")
    try:
        return data.removeprefix(b"\xef\xbb\xbf").decode("utf-8")  # an editor's byte-order mark is harmless
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        found = f"a byte that is not UTF-8 on line {line} (Latin-1 or another encoding? save the file as UTF-8)"
        raise _file_problem(str(path), "UTF-8 text", found) from None


def read_toml(path: Path) -> dict[str, Any]:
    """Read a TOML file: every way it can be unreadable becomes a ConfigError, never a traceback."""
    where = str(path)
    try:
        info = path.stat()
        if stat.S_ISDIR(info.st_mode):
            raise _file_problem(where, "a TOML file", "a directory")
        if not stat.S_ISREG(info.st_mode):
            raise _file_problem(where, "a regular TOML file", "a device, socket or pipe")
        if info.st_size > MAX_FILE_BYTES:
            found = f"{info.st_size / 1024 / 1024:.1f} MiB"
            raise _file_problem(where, f"an environment file of at most {MAX_FILE_BYTES // 1024 // 1024} MiB", found)
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)  # the file may have grown since stat
    except OSError as error:
        raise _file_problem(where, "a readable file", error.strerror or type(error).__name__) from None
    if len(data) > MAX_FILE_BYTES:
        raise _file_problem(where, f"an environment file of at most {MAX_FILE_BYTES} bytes", "a larger file")
    text = _decode(path, data)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError([ConfigProblem(where, "(syntax)", "valid TOML", str(error))]) from None
    except RecursionError:
        found = "arrays or tables nested too deep to read"
        raise ConfigError([ConfigProblem(where, "(syntax)", "TOML nested a few levels deep", found)]) from None
    except ValueError as error:  # an integer of thousands of digits, and the like
        raise ConfigError([ConfigProblem(where, "(syntax)", "valid TOML", str(error)[:200])]) from None


# --- describing what was found, without ever printing a secret -------------------------------------------------------

SECRET_KEY_SUFFIXES = ("_env", "_block", "_secret", "password", "token", "api_key")
_SECRET_SHAPES = re.compile(
    r"""
    ://[^/\s]*@                                  # a URL with user (and password)
    | ^[^\s/@:]+:[^\s/@]+@                        # user:password@host
    | xox[abposre]-  | xapp-  | hooks\.slack\.com/services/
    | -----BEGIN  | ^AIza[0-9A-Za-z_-]{20,}  | ^sk-  | ^gh[pousr]_  | ^eyJ[A-Za-z0-9_-]{8,}\.
    | (password|passwd|pwd|secret|token|api[_-]?key)\s*[=:]
    """,
    re.IGNORECASE | re.VERBOSE,
)
SECRET_HIDDEN = "a value that looks like a secret (not shown)"


def looks_like_secret(value: str) -> bool:
    """Credentials in a URL, a token's shape, `password=...`, or a long random-looking string."""
    if _SECRET_SHAPES.search(value):
        return True
    random_looking = (
        len(value) >= 20
        and not any(c.isspace() for c in value)
        and not value.startswith(("http://", "https://", "/"))
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
        and any(c.isdigit() for c in value)
    )
    return random_looking


def _describe_string(value: str, secret_key: bool) -> str:
    if secret_key or looks_like_secret(value):
        return SECRET_HIDDEN
    text = ascii(value)  # non-ASCII escaped: a Cyrillic letter in a rejected name must not look like a Latin 'a'
    return text if len(text) <= 80 else f"{text[:60]}... ({len(value)} characters)"


def describe(value: object, secret_key: bool = False) -> str:
    """What was found, for people: the value when it is short and safe, else its TOML type and size."""
    if value is None:
        return "nothing"
    if isinstance(value, str):
        return _describe_string(value, secret_key)
    if secret_key:  # a number where a secret's name belongs may be the secret (a PIN) itself
        return f"{toml_type(value) or 'a value'} (not shown)"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value) if abs(value) < 10**30 else f"an integer of {len(str(abs(value)))} digits"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, list | tuple):
        return f"an array of {len(value)} item(s)"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return f"{value.isoformat()} (a TOML date/time)"
    return f"a {type(value).__name__}"


def toml_type(value: object) -> str:
    """The TOML name of a value's type, for type errors: `'28772'` alone does not say "a string" to everyone."""
    names = [(bool, "a boolean"), (int, "an integer"), (float, "a float"), (str, "a string")]
    return next((name for kind, name in names if isinstance(value, kind)), "")


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]{1,60}")


def format_key(loc: tuple[int | str, ...]) -> str:
    """`services.0.name`; odd key parts quoted (and shortened), secret-looking ones hidden."""
    parts = []
    for part in loc:
        if part == "[key]":
            continue
        text = str(part)
        if isinstance(part, str) and looks_like_secret(text):
            parts.append('"<a key that looks like a secret>"')
        elif isinstance(part, int) or _BARE_KEY.fullmatch(text):
            parts.append(text)
        else:
            quoted = json.dumps(text, ensure_ascii=True)
            parts.append(quoted if len(quoted) <= 62 else quoted[:58] + '..."')
    return ".".join(parts) or "(top level)"


def _is_secret_key(loc: tuple[int | str, ...], value: object) -> bool:
    names = [str(part).lower() for part in loc if isinstance(part, str) and part != "[key]"]
    if not names:
        return False
    # `user = "app:password"`: the shape of credentials pasted where only the user name belongs.
    pasted_credentials = names[-1] == "user" and isinstance(value, str) and ":" in value
    return names[-1].endswith(SECRET_KEY_SUFFIXES) or pasted_credentials


def _model_in(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The config model in an annotation (through Optional, tuple, Annotated); True when a dict key leads to it."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    if get_origin(annotation) is dict:
        return _model_in(get_args(annotation)[1])[0], True
    for argument in get_args(annotation):
        model, keyed = _model_in(argument)
        if model is not None:
            return model, keyed
    return None, False


def known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """The keys the table at `loc` accepts (for "did you mean"); empty when `loc` is not a table of the model."""
    model: type[BaseModel] | None = RunbookConfig
    keyed = False
    for part in loc:
        if isinstance(part, int) or model is None:
            continue
        if keyed:  # `checks.<check-id>`: the id is a dict key, not a field
            keyed = False
            continue
        field = model.model_fields.get(part)
        if field is None:
            return []
        model, keyed = _model_in(field.annotation)
    return list(model.model_fields) if model is not None and not keyed else []


_TYPE_EXPECTED = {
    "int_type": "an integer (not a string, float or boolean)",
    "int_from_float": "an integer (not a float)",
    "float_type": "a number (not a string or boolean)",
    "bool_type": "true or false (not a string or number)",
    "string_type": "a string",
    "tuple_type": "an array",
    "list_type": "an array",
    "dict_type": "a table",
    "model_type": "a table",
    "model_attributes_type": "a table",
    "finite_number": "a finite number (not nan or inf)",
}


def _problem(file: str, item: Any) -> ConfigProblem:
    loc = tuple(item["loc"])
    key = format_key(loc)
    value = item.get("input")
    secret_key = _is_secret_key(loc, value)
    found = describe(value, secret_key)
    kind = item["type"]
    if kind == "missing":
        return ConfigProblem(file, key, "this key to be set", "nothing")
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(loc[-1]), known_keys(loc[:-1]), n=1)
        expected = f"no such key (did you mean {close[0]}?)" if close else "no such key (misspelled or misplaced?)"
        return ConfigProblem(file, key, expected, "an unknown key")
    if kind == RULE_ERROR:
        context = item.get("ctx") or {}
        return ConfigProblem(file, key, str(context.get("expected")), str(context.get("found") or found))
    if kind in _TYPE_EXPECTED:
        typed = f"{found} ({toml_type(value)})" if toml_type(value) and not secret_key else found
        return ConfigProblem(file, key, _TYPE_EXPECTED[kind], typed)
    if kind == "string_pattern_mismatch":
        pattern = str((item.get("ctx") or {}).get("pattern", ""))
        expected = PATTERN_DESCRIPTIONS.get(pattern, f"a string matching the pattern {pattern}")
        return ConfigProblem(file, key, expected, found)
    if kind in ("string_too_short", "string_too_long", "too_short", "too_long"):
        expected = re.sub(r"^\w+ should (have )?", "", str(item["msg"]).split(" after validation")[0])
        if isinstance(value, str):
            found = f"a string of {len(value)} characters" if value else "an empty string"
        return ConfigProblem(file, key, expected, found)
    message = str(item["msg"]).removeprefix("Value error, ")
    if message.startswith("expected "):
        expected, separator, stated = message.removeprefix("expected ").partition(", found ")
        # A validator's own "found" may quote the value: keep it only when the value is safe to show.
        hide = found == SECRET_HIDDEN or (separator and looks_like_secret(stated))
        return ConfigProblem(file, key, expected, found if hide or not separator else stated)
    expected = message.removeprefix("Input should be ").removeprefix("Value should be ")
    return ConfigProblem(file, key, expected, found)


def _problems(file: str, error: ValidationError) -> tuple[list[ConfigProblem], int]:
    problems: list[ConfigProblem] = []
    for item in error.errors(include_url=False, include_context=True):
        problem = _problem(file, item)
        if problem not in problems[-5:]:  # a rule can fire for several aliases of one mistake
            problems.append(problem)
    return problems[:MAX_PROBLEMS], max(0, len(problems) - MAX_PROBLEMS)


def _hidden_characters(file: str, data: dict[str, Any]) -> list[ConfigProblem]:
    """A control character or bidi mark in any value: one problem at its key, saying which character and where."""
    try:
        found = hidden_character_problems(data)
    except RecursionError:  # nested too deep: the model says so
        return []
    return [ConfigProblem(file, format_key(loc), HIDDEN_TEXT_EXPECTED, what) for loc, what in found]


def parse_config(data: dict[str, Any], file: str = "<config>") -> RunbookConfig:
    """Validate already-parsed TOML data; raise ConfigError with every problem at once."""
    hidden = _hidden_characters(file, data)
    try:
        config = RunbookConfig.model_validate(data)
    except ValidationError as error:
        problems, omitted = _problems(file, error)
        keys = {problem.key for problem in hidden}  # one mistake, one message: the hidden character says it
        problems = [*hidden, *(problem for problem in problems if problem.key not in keys)]
        raise ConfigError(problems[:MAX_PROBLEMS], omitted + max(0, len(problems) - MAX_PROBLEMS)) from None
    except RecursionError:  # pydantic-core guards its own recursion; this is belt and braces for odd inputs
        raise ConfigError([ConfigProblem(file, "(top level)", "values nested a few levels deep", "deeper")]) from None
    if hidden:
        raise ConfigError(hidden[:MAX_PROBLEMS], max(0, len(hidden) - MAX_PROBLEMS))
    return config


def load_config(env: str, overrides: dict[str, Any] | None = None) -> RunbookConfig:
    """Load `environments/<env>.toml` (or a path) into a validated RunbookConfig. No network involved.

    `overrides` are deep-merged over the file (tests point the config at a simulator on a free port).
    """
    path = resolve_environment(env)
    data = read_toml(path)
    if overrides:
        data = deep_merge(data, overrides)
    mismatch = _name_mismatch(path, data)
    try:
        config = parse_config(data, str(path))
    except ConfigError as error:
        if mismatch:
            error.problems.insert(0, mismatch)
        omitted = error.omitted + max(0, len(error.problems) - MAX_PROBLEMS)
        raise ConfigError(error.problems[:MAX_PROBLEMS], omitted) from None
    if mismatch:
        raise ConfigError([mismatch])
    return config


def _name_mismatch(path: Path, data: dict[str, Any]) -> ConfigProblem | None:
    """The environment is named once: `name` must be the file's name (`--env`, deployments and run names use the
    file's, Slack, artifacts and `runbook slack-bot` the `name` inside). None when they agree, or when `name` is
    missing or invalid (that problem is reported on its own)."""
    name = data.get("name")
    if not isinstance(name, str) or len(name) > 63 or not re.fullmatch(ENVIRONMENT_PATTERN, name) or name == path.stem:
        return None
    expected = f"{_safe_name(path.stem)!r} (the file's name; rename the file or change name so they agree)"
    return ConfigProblem(str(path), "name", expected, repr(name))


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """`overlay` over `base`, tables merged key by key, anything else replaced."""
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
