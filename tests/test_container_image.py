"""The image without a Docker daemon: .dockerignore, and the Dockerfile's install steps run in a fresh venv.

The Dockerfile is read as Docker reads it (continuation lines, ENV, WORKDIR, COPY, RUN). Its paths are moved under a
temp dir ("/opt/venv" becomes TMP/opt/venv), COPY copies the build context as .dockerignore filters it, and every RUN
step that installs into the image's venv runs verbatim with `sh -c` (its `--mount` cache options dropped: the
machine's pip and uv caches stand in for them). Then the project must import from anywhere, with exactly the
versions of requirements.lock.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from runbook.config.files import PROJECT_ROOT

DOCKERFILE = PROJECT_ROOT / "Dockerfile"
DOCKERIGNORE = PROJECT_ROOT / ".dockerignore"
INSTALL_TIMEOUT_S = 420


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions: comments dropped, continuation lines joined."""
    out, pending = [], ""
    for line in text.splitlines():
        if line.strip().startswith("#") or (not line.strip() and not pending):
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        whole = (pending + line).strip()
        pending = ""
        keyword, _, args = whole.partition(" ")
        out.append(Instruction(keyword.upper(), args.strip()))
    return out


def ignore_patterns(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]


def _regex(pattern: str) -> re.Pattern[str]:
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins (`!` re-includes); a pattern matching a folder covers its files."""
    parts = path.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    result = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        regex = _regex(os.path.normpath(pattern.removeprefix("!").strip()).lstrip("/"))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            result = not negated
    return result


def build_context(root: Path, patterns: list[str]) -> Iterator[Path]:
    """The files `docker build` sends for `root`, relative to it (ignored folders are not walked)."""
    for folder, dirs, files in os.walk(root):
        here = Path(folder).relative_to(root)
        dirs[:] = [d for d in dirs if not ignored((here / d).as_posix(), patterns)]
        for name in files:
            if not ignored((here / name).as_posix(), patterns):
                yield here / name


def _expand(value: str, env: dict[str, str]) -> str:
    return re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: env.get(m.group(1), ""), value)


class FakeBuild:
    """Docker's build of the Dockerfile's steps on this machine, with `/` moved to `root`."""

    def __init__(self, root: Path, base_env: dict[str, str]) -> None:
        self.root = root
        self.env = dict(base_env)
        self.workdir = root
        self.ran: list[str] = []
        self.context = list(build_context(PROJECT_ROOT, ignore_patterns(DOCKERIGNORE.read_text())))

    def path(self, value: str) -> str:
        return str(self.root / value.lstrip("/")) if value.startswith("/") else value

    def apply(self, step: Instruction) -> None:
        if step.keyword == "ENV":
            for pair in shlex.split(step.args):
                key, _, value = pair.partition("=")
                self.env[key] = _expand(self.path(value), self.env)
        elif step.keyword == "WORKDIR":
            self.workdir = Path(self.path(_expand(step.args, self.env)))
            self.workdir.mkdir(parents=True, exist_ok=True)
        elif step.keyword == "COPY":
            *sources, dest = shlex.split(step.args)
            target = self.workdir / dest
            for source in sources:
                files = self.context if source == "." else [Path(source)]
                for file in files:
                    assert file in self.context, f"COPY {source}: {file} is not in the build context"
                    (target / file).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(PROJECT_ROOT / file, target / file)
        elif step.keyword == "RUN" and "$VENV" in step.args:  # the install steps (not `useradd`)
            command = re.sub(r"^(--mount=\S+\s+)+", "", step.args)
            done = subprocess.run(
                ["sh", "-c", command],
                cwd=self.workdir,
                env=self.env,
                capture_output=True,
                text=True,
                timeout=INSTALL_TIMEOUT_S,
                check=False,
            )
            assert done.returncode == 0, f"RUN {command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
            self.ran.append(command)


def test_dockerignore_keeps_machine_state_out_and_what_the_image_needs_in() -> None:
    patterns = ignore_patterns(DOCKERIGNORE.read_text())
    for path in (
        ".venv/bin/python",
        ".prefect/runbook/runs/abc.json",  # a machine's run registry and history
        ".prefect/prefect.db",
        ".run/pg/data/PG_VERSION",
        ".git/HEAD",
        "runbook/__pycache__/cli.cpython-311.pyc",
        ".pytest_cache/v/cache/nodeids",
        "tests/test_cli.py",
    ):
        assert ignored(path, patterns), path
    for path in (
        "requirements.lock",
        "pyproject.toml",
        "README.md",  # the project's metadata (readme) needs it to install
        "flows/handoff.py",
        "tasks/vpc_access.py",
        "runbook/app/cli.py",
        "environments/staging.toml",
        "deployments/prefect-cloud-run.yaml",
    ):
        assert not ignored(path, patterns), path
    context = {p.as_posix() for p in build_context(PROJECT_ROOT, patterns)}
    assert "flows/handoff.py" in context and "requirements.lock" in context
    assert not [p for p in context if p.split("/")[0] in {".venv", ".prefect", ".run", ".git"}]


def test_the_matcher_reads_patterns_as_docker_does() -> None:
    assert ignored("a/b/__pycache__/x.pyc", ["**/__pycache__"])
    assert ignored("__pycache__/x.pyc", ["**/__pycache__"])
    assert not ignored("src/.venv/x", [".venv"])  # root-relative, as Docker's patterns are
    assert not ignored("docs/keep.md", ["docs", "!docs/keep.md"])
    parsed = instructions('FROM x\n# note\nRUN a \\\n  && b\nCMD ["y"]\n')
    assert [i.keyword for i in parsed] == ["FROM", "RUN", "CMD"]
    assert instructions("RUN a \\\n    # inside\n    && b\n")[0].args == "a      && b"


@pytest.mark.slow
@pytest.mark.timeout(INSTALL_TIMEOUT_S * 2)
def test_the_dockerfile_install_steps_work_in_a_fresh_venv(tmp_path: Path) -> None:
    steps = instructions(DOCKERFILE.read_text())
    base = steps[0]
    assert base.keyword == "FROM"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert base.args.startswith(f"python:{version}"), f"{base.args}: this test builds with Python {version}"
    shims = tmp_path / "shims"
    shims.mkdir()
    (shims / "python").symlink_to(sys._base_executable)  # the base image's `python`: no venv of ours
    host_path = [p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(str(PROJECT_ROOT))]
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONDONTWRITEBYTECODE"}
        and not key.startswith("PREFECT_")
    }
    env["PATH"] = os.pathsep.join([str(shims), *host_path])
    build = FakeBuild(tmp_path / "image", env)
    for step in steps[1:]:
        build.apply(step)

    assert any("-r requirements.lock" in command for command in build.ran), build.ran
    assert any("--no-deps -e ." in command for command in build.ran), build.ran
    project = build.workdir
    assert not (project / ".venv").exists() and not (project / ".prefect").exists()
    python = Path(build.env["VENV"]) / "bin" / "python"
    # From another directory: the editable install puts the project on the path; the CLI entry points exist.
    done = subprocess.run(
        [str(python), "-c", "import flows.handoff, runbook.config.files as f; print(f.PROJECT_ROOT)"],
        cwd=tmp_path,
        env=build.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == str(project)
    assert (python.parent / "prefect").exists() and (python.parent / "runbook").exists()
    # Exactly the locked versions.
    frozen = subprocess.run(
        [str(python.parent / "uv"), "pip", "freeze", "--python", str(python)],
        env=build.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    installed = {line.split("==")[0].lower(): line for line in frozen.splitlines() if "==" in line}
    locked = [line for line in (PROJECT_ROOT / "requirements.lock").read_text().splitlines() if "==" in line]
    assert [pin for pin in locked if installed.get(pin.split("==")[0].lower()) != pin] == []
