"""The benchmark's Prefect: offline, its own PREFECT_HOME under .prefect/bench, a `prefect server start` of its own.

Every wait is bounded and the server is stopped in a finally block (its process group, started by us).
"""

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PREFECT_HOME = ROOT / ".prefect" / "bench"
SERVER_START_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = 15.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bench_env(home: Path, api_url: str | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of every subprocess: offline Prefect in `home`, against `api_url` (None: ephemeral)."""
    env = dict(os.environ)
    env.update(
        {
            "PREFECT_HOME": str(home),
            "DO_NOT_TRACK": "1",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "120",
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "NO_GCE_CHECK": "true",
            "PYTHONPATH": str(ROOT) + os.pathsep + env.get("PYTHONPATH", ""),
        }
    )
    env.pop("PREFECT_API_URL", None)
    if api_url:
        env["PREFECT_API_URL"] = api_url
    env.update(extra or {})
    return env


def executable(name: str) -> str:
    """A console script of this venv (prefect, runbook)."""
    return str(Path(sys.executable).parent / name)


@contextlib.contextmanager
def prefect_server(home: Path = PREFECT_HOME / "server", database_url: str | None = None) -> Iterator[str]:
    """`prefect server start` on a free loopback port; yields its API URL once /api/health answers.

    Its database: SQLite under `home`, or `database_url` (postgresql+asyncpg://...).
    """
    home.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = f"http://127.0.0.1:{port}/api"
    log = (home / "server.log").open("wb")
    extra = {"PREFECT_API_DATABASE_CONNECTION_URL": database_url} if database_url else None
    process = subprocess.Popen(
        [executable("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
        env=bench_env(home, None, extra),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group: stopped as a whole, by its id
        cwd=ROOT,
    )
    try:
        _wait_healthy(url, process)
        yield url
    finally:
        _stop(process)
        log.close()


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + SERVER_START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"prefect server exited with {process.returncode} (see .prefect/bench/server)")
        with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
            if answer.status == 200:
                return
        time.sleep(0.25)
    raise RuntimeError(f"prefect server not healthy within {SERVER_START_TIMEOUT_S:g} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(STOP_TIMEOUT_S)
