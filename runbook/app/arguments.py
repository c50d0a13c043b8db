"""`runbook run`'s arguments, checked before anything starts, and its report files, written after the verdict.

Everything the command line says is checked before the configuration is read, Prefect is asked or a Google API is
called: a mistake costs nothing and is one line (exit 2). `--report` and `--junit` are tried then too: a directory, a
missing folder, a device such as /dev/full, a file that cannot be written, or both options naming one file. A write
that still fails once the run has its verdict is one line, and the exit status says so (`EXIT_NOT_WRITTEN`).
"""

import contextlib
import os
import stat
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from runbook.parameters import HandoffParameters
from runbook.report import VERDICT_WORDS, junit_xml, write_json
from runbook.results import RunReport

# The run reached its verdict (printed above) but --report or --junit was not written: CI must not read a stale file.
EXIT_NOT_WRITTEN = 3

OPTIONS = {
    "environment": "--env",
    "phases": "--phase",
    "redeploy": "--redeploy",
    "approval_timeout_s": "--approval-timeout",
    "trigger": "--trigger",
}


class ArgumentError(ValueError):
    """A command-line argument the run cannot use; the message is one line naming the option."""


def _shown(value: object) -> str:
    text = str(value)
    text = text if text.isprintable() and text.isascii() else ascii(text)
    return text if len(text) <= 120 else f"{text[:100]}... ({len(text)} characters)"


def _said(item: Any) -> str:
    """One pydantic error as "expected ..., found ..." for an option's value."""
    kind, context, value = item["type"], item.get("ctx") or {}, item.get("input")
    if kind == "string_too_long":
        return f"expected at most {context['max_length']} characters, found {len(value)}"
    if kind == "string_too_short":
        return "expected some text, found none"
    if kind in ("greater_than_equal", "less_than_equal"):
        bound = context.get("ge", context.get("le"))
        return f"expected {'at least' if kind == 'greater_than_equal' else 'at most'} {bound}, found {_shown(value)}"
    return str(item["msg"]).removeprefix("Value error, ")


def run_parameters(**fields: Any) -> HandoffParameters:
    """The run's parameters from the command line, validated now (before Prefect is contacted)."""
    try:
        return HandoffParameters(**fields)
    except ValidationError as error:
        item = error.errors(include_url=False)[0]
        option = OPTIONS.get(str(item["loc"][0]) if item["loc"] else "", "an argument")
        raise ArgumentError(f"{option}: {_said(item)}") from None


def _unwritable(path: Path) -> str | None:
    """Why `path` cannot take a report, found without changing anything there; None when it can."""
    try:
        info = path.stat()
    except FileNotFoundError:
        info = None
    except OSError as error:
        return f"cannot be reached ({error.strerror or type(error).__name__})"
    if info is not None:
        return _existing_unwritable(path, info)
    folder = path.parent
    if not folder.is_dir():
        return f"its folder {_shown(folder)} {'is not a folder' if folder.exists() else 'does not exist'}"
    try:  # create it, then remove it: the folder's permissions, a read-only file system, a full disk show now
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, b"{")
        finally:
            os.close(fd)
            path.unlink(missing_ok=True)
    except OSError as error:
        return f"cannot be created ({error.strerror or type(error).__name__})"
    return None


def _existing_unwritable(path: Path, info: os.stat_result) -> str | None:
    if stat.S_ISDIR(info.st_mode):
        return "is a directory; give a file path such as report.json"
    if stat.S_ISFIFO(info.st_mode):
        return None  # a pipe someone reads (`--report >(jq .)`)
    if stat.S_ISCHR(info.st_mode):
        if os.path.realpath(path) == os.devnull or _is_terminal(path):
            return None  # thrown away on purpose, or shown
        return "is a device, not a file (what is written there is lost); give a file path"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file; give a file path"
    try:
        with path.open("ab"):  # opened for writing, nothing written: the file stays as it is
            pass
    except OSError as error:
        return f"cannot be written ({error.strerror or type(error).__name__})"
    return None


def _is_terminal(path: Path) -> bool:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | os.O_NOCTTY)
        try:
            return os.isatty(fd)
        finally:
            os.close(fd)
    return False


def _same_file(first: Path, second: Path) -> bool:
    with contextlib.suppress(OSError):
        if first.exists() and second.exists():
            return os.path.samefile(first, second)
    return os.path.realpath(first) == os.path.realpath(second)


def check_output_paths(report: Path | None, junit: Path | None) -> None:
    """Raise ArgumentError when --report or --junit could not be written, or both name the same file."""
    for option, path in (("--report", report), ("--junit", junit)):
        problem = _unwritable(path) if path is not None else None
        if problem:
            raise ArgumentError(f"{option} {_shown(path)}: {problem}")
    if report is not None and junit is not None and _same_file(report, junit):
        raise ArgumentError(
            f"--report and --junit both name {_shown(report)}: the JSON report and the JUnit XML need a file each"
        )


def write_outputs(result: RunReport, report: Path | None, junit: Path | None) -> tuple[list[str], list[str]]:
    """Write the files asked for: (a line per file written, a line per file that could not be written)."""
    written, failed = [], []
    for option, title, path, write in (
        ("--report", "JSON report", report, lambda p: write_json(result, p)),
        ("--junit", "JUnit XML", junit, lambda p: p.write_text(junit_xml(result))),
    ):
        if path is None:
            continue
        try:
            write(path)
        except OSError as error:
            why = error.strerror or type(error).__name__
            verdict = VERDICT_WORDS[result.verdict.value]
            failed.append(f"{option} {_shown(path)} not written ({why}); the run's verdict: {verdict}")
            continue
        written.append(f"{title}: {path}")
    return written, failed
