"""The Prefect API a `runbook run` talks to: a running server when there is one, else a private one it owns.

Prefect's own ephemeral mode starts its server only when the flow first needs the API (after the client imports),
and the server outlives a SIGKILLed run holding the database open. Here the CLI decides up front:

1. `PREFECT_API_URL` set (the operator's server, Prefect Cloud): use it.
2. A server answers `GET /api/health` at `PREFECT_SERVER_API_HOST:PREFECT_SERVER_API_PORT` (default
   127.0.0.1:4200, where `prefect server start` listens): reuse it, so a run costs no server start at all.
3. Otherwise start Prefect's API app (SQLite in PREFECT_HOME, no UI, no background services) on a free loopback
   port, in its own session so a terminal's Ctrl-C reaches the run first and the run decides when it stops. It
   starts while the CLI loads the config and the clients; `wait_ready` is called only when the flow needs it.
   It dies with the run: Linux's parent-death signal (set in the child before it imports anything), a watchdog
   thread that polls the parent pid (other platforms, and the window before prctl), and `stop()` on every exit
   path. Its files are created with umask 077 (0600 files, 0700 directories), like the runbook's own stores.
"""

import contextlib
import ctypes
import ctypes.util
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

PROBE_TIMEOUT_S = 0.3  # a local server answers /api/health in a few ms; nothing listening refuses at once
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4200
STOP_TIMEOUT_S = 5.0
FLUSH_TIMEOUT_S = 5.0  # what the run logged last reaches a local server in tens of milliseconds
_PR_SET_PDEATHSIG = 1
_WATCHDOG_PERIOD_S = 0.5


class PrefectServerError(RuntimeError):
    """The private server did not start (or died): the message says where and with what output."""


def is_healthy(api_url: str, timeout: float = PROBE_TIMEOUT_S) -> bool:
    """True when a Prefect API answers `GET {api_url}/health` with 200 within `timeout` seconds."""
    try:
        response = httpx.get(f"{api_url.rstrip('/')}/health", timeout=timeout)
    except httpx.HTTPError:
        return False
    return response.status_code == 200


def local_api_url() -> str:
    """Where `prefect server start` listens by default (its own settings, read from the environment)."""
    host = os.environ.get("PREFECT_SERVER_API_HOST") or DEFAULT_HOST
    if host in ("0.0.0.0", "::", ""):
        host = DEFAULT_HOST
    port = os.environ.get("PREFECT_SERVER_API_PORT") or str(DEFAULT_PORT)
    return f"http://{host}:{port}/api"


def free_port() -> int:
    """A loopback port nobody listens on right now (the server binds it a moment later)."""
    with contextlib.closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind((DEFAULT_HOST, 0))
        return int(sock.getsockname()[1])


def prefect_home() -> Path:
    """PREFECT_HOME as Prefect resolves it: the variable, else ~/.prefect."""
    return Path(os.environ.get("PREFECT_HOME") or "~/.prefect").expanduser()


@dataclass
class PrefectServer:
    """The API a run uses; `owned` when this process started it (and must stop it)."""

    api_url: str
    owned: bool
    source: str  # "PREFECT_API_URL", "running server" or "private server"
    process: subprocess.Popen[bytes] | None = None
    log_path: Path | None = None
    started_at: float = field(default_factory=time.monotonic)

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def wait_ready(self, timeout: float, give_up: Callable[[], bool] = lambda: False) -> float:
        """Block until the API answers its health check (or `give_up()`); returns the seconds waited.

        Raises PrefectServerError when the server exits or does not answer within `timeout` seconds.
        """
        t0 = time.monotonic()
        if not self.owned:
            return 0.0
        deadline = t0 + timeout
        with httpx.Client(timeout=1.0) as client:
            while not give_up():
                if self.process is not None and self.process.poll() is not None:
                    raise PrefectServerError(
                        f"the private Prefect server exited with code {self.process.returncode} before it was "
                        f"ready ({self.api_url}); its output: {self._output_tail()}"
                    )
                with contextlib.suppress(httpx.HTTPError):
                    if client.get(f"{self.api_url}/health").status_code == 200:
                        return time.monotonic() - t0
                if time.monotonic() > deadline:
                    self.stop()
                    raise PrefectServerError(
                        f"the private Prefect server did not answer {self.api_url}/health within {timeout:.0f} s "
                        f"(PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS); its output: {self._output_tail()}"
                    )
                time.sleep(0.05)
        return time.monotonic() - t0

    def stop(self) -> None:
        """Stop an owned server and everything it started (its process group): TERM, then KILL after 5 s.

        What the run sent Prefect last (its final log lines, state events) is delivered first: left queued, it would
        go to a server that is gone, and Prefect's client retries a lost connection at interpreter exit with
        exponential backoff, holding the process more than a minute after the report.
        """
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        flush_to_api(FLUSH_TIMEOUT_S)
        for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT_S), (signal.SIGKILL, STOP_TIMEOUT_S)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, sig)
            try:
                process.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue

    def _output_tail(self) -> str:
        if self.log_path is None:
            return "(none)"
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(unreadable)"
        return text[-2000:].strip() or "(empty)"


def flush_to_api(timeout: float) -> None:
    """Deliver the log lines and events Prefect's client still holds (its background workers), within `timeout`.

    Nothing to do when Prefect was never imported. The workers stop once drained; a later log line or event starts
    new ones.
    """
    if "prefect" not in sys.modules:
        return
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker

    deadline = time.monotonic() + timeout
    for worker in (APILogWorker, EventsWorker):  # logs first: a log line's flow run event follows it
        with contextlib.suppress(Exception):  # delivery is best effort; stopping the server is not
            worker.drain_all(timeout=max(0.0, deadline - time.monotonic()))


def find_running_server() -> PrefectServer | None:
    """The configured (PREFECT_API_URL) or already running local server, else None. Costs one short probe."""
    configured = os.environ.get("PREFECT_API_URL")
    if configured:
        return PrefectServer(api_url=configured.rstrip("/"), owned=False, source="PREFECT_API_URL")
    if "prefect" in sys.modules:  # an in-process caller (tests' prefect_test_harness) may have set it in settings
        from prefect.settings import PREFECT_API_URL

        url = PREFECT_API_URL.value()
        if url:
            return PrefectServer(api_url=str(url).rstrip("/"), owned=False, source="Prefect settings")
    url = local_api_url()
    if is_healthy(url):
        return PrefectServer(api_url=url, owned=False, source="running server")
    return None


def start_private_server(home: Path | None = None) -> PrefectServer:
    """Start Prefect's API on a free loopback port as a child that dies with this process; returns at once."""
    home = home or prefect_home()
    home.mkdir(mode=0o700, parents=True, exist_ok=True)
    log_dir = home / "runbook"
    log_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    from runbook.app.run_registry import stop_orphaned_prefect_servers

    stop_orphaned_prefect_servers(home)  # a server left by a killed run holds this database open
    for path in [log_dir, *home.glob("prefect.db*")]:  # made by an earlier Prefect with the default umask
        with contextlib.suppress(OSError):
            path.chmod(0o700 if path.is_dir() else 0o600)
    port = free_port()
    log_path = log_dir / "prefect-server.log"
    env = {
        **os.environ,
        "PREFECT_HOME": str(home),
        "PREFECT_UI_ENABLED": "0",
        "PREFECT__SERVER_EPHEMERAL": "1",  # no background services (scheduler, late runs...), as Prefect's own
        "PREFECT__SERVER_FINAL": "1",
    }
    env.pop("PREFECT_API_URL", None)
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        process = subprocess.Popen(
            [sys.executable, "-m", "runbook.app.prefect_server", str(os.getpid()), str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            start_new_session=True,  # its own group: stop() kills the group; a terminal's Ctrl-C reaches only the run
            close_fds=True,
        )
    finally:
        os.close(fd)
    return PrefectServer(
        api_url=f"http://{DEFAULT_HOST}:{port}/api",
        owned=True,
        source="private server",
        process=process,
        log_path=log_path,
    )


def prepare_server() -> PrefectServer:
    """Reuse a configured or running server, else start a private one (not waited for: see `wait_ready`)."""
    return find_running_server() or start_private_server()


# ---- the child process ----------------------------------------------------------------------------------------------


def _die_with_parent(parent_pid: int) -> None:
    """Make this process die when `parent_pid` does: prctl on Linux, and a watchdog thread everywhere."""
    libc_name = ctypes.util.find_library("c")
    if sys.platform.startswith("linux") and libc_name:
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(libc_name, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_WATCHDOG_PERIOD_S)
        os._exit(1)  # a reparented server must not keep the database open

    threading.Thread(target=watch, name="parent-watchdog", daemon=True).start()


def _serve(parent_pid: int, port: int) -> None:
    """The child: tie its life to the parent, then serve Prefect's API app with uvicorn on 127.0.0.1:port."""
    _die_with_parent(parent_pid)
    os.umask(0o077)  # the SQLite database and everything else the server writes in PREFECT_HOME: 0600/0700
    import uvicorn

    uvicorn.run(
        "prefect.server.api.server:create_app",
        factory=True,
        host=DEFAULT_HOST,
        port=port,
        log_level="error",
        lifespan="on",
        timeout_graceful_shutdown=2,
    )


if __name__ == "__main__":  # pragma: no cover - the server child, started by start_private_server
    _serve(int(sys.argv[1]), int(sys.argv[2]))
