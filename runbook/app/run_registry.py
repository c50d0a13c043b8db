"""Which `runbook run` processes on the CLI's private Prefect server are under way, to clean up after a SIGKILL.

Only where Prefect cannot help: a run on the CLI's own private server (no PREFECT_API_URL, nothing on :4200). That
server dies with the run (its database stays in PREFECT_HOME) and runs no automations, so nothing marks a killed run
Crashed or frees the environment it held until the next run on that PREFECT_HOME looks here. A run against a shared
server is not registered: the server's automation marks it Crashed when its heartbeats stop (runbook.app.automations).

One small JSON file per run, `$PREFECT_HOME/runbook/runs/<flow_run_id>.json` (file 0600, directory 0700), written
when the flow run is created and removed when the run ends, however it ends short of SIGKILL. An entry whose
process is gone (or whose pid now belongs to another process: the start time differs) is stale: its flow run
never reached a final state and its Slack parent still says "running".
"""

import contextlib
import json
import os
import signal
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RUNS_DIR = "runs"


def default_store_dir() -> Path:
    """`$PREFECT_HOME/runbook/`, or `.runbook/` when PREFECT_HOME is not set."""
    home = os.environ.get("PREFECT_HOME")
    return Path(home).expanduser() / "runbook" if home else Path(".runbook")


@dataclass(frozen=True)
class RunEntry:
    """One run in progress: who runs it, against which environment and Prefect API."""

    flow_run_id: str
    environment: str
    pid: int
    pid_started: float | None  # the process's start time (Linux: clock ticks since boot), None when unknown
    started_at: str
    api_url: str
    owned_server: bool  # the run started a private server on PREFECT_HOME's database
    server_pid: int | None = None
    server_started: float | None = None
    trigger: str = "cli"
    slack_done: bool = False  # a stale entry whose Slack parent was updated but whose flow run is still open


def process_start_time(pid: int) -> float | None:
    """When `pid` started (clock ticks since boot, from /proc), or None when it does not exist or is unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (field 2) may contain spaces and parentheses: the fields after it follow the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    try:
        return float(fields[19])  # field 22 of the whole line: starttime
    except (IndexError, ValueError):
        return None


def is_alive(pid: int, started: float | None) -> bool:
    """True when `pid` is the same process that was recorded (not dead, not a zombie, not a reused pid)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    if not Path("/proc").is_dir():
        return True  # no /proc: existence is all we can know
    if _is_zombie(pid):
        return False
    now = process_start_time(pid)
    return now is not None and (started is None or now == started)


def _is_zombie(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat[stat.rindex(")") + 2 :].startswith("Z")


class RunRegistry:
    """The runs in progress under one directory (default `$PREFECT_HOME/runbook/runs/`)."""

    def __init__(self, directory: Path | str | None = None) -> None:
        self.directory = Path(directory) if directory is not None else default_store_dir() / RUNS_DIR

    def _path(self, flow_run_id: str) -> Path:
        if not flow_run_id or "/" in flow_run_id or flow_run_id.startswith("."):
            raise ValueError(f"not a flow run id: {flow_run_id!r}")
        return self.directory / f"{flow_run_id}.json"

    def add(self, entry: RunEntry) -> None:
        """Record a run (atomically; file 0600 in a 0700 directory)."""
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            self.directory.chmod(0o700)
            self.directory.parent.chmod(0o700)
        fd, temporary = tempfile.mkstemp(prefix=".run.", dir=self.directory)  # mkstemp: mode 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                json.dump(asdict(entry), file, indent=1, sort_keys=True)
            os.replace(temporary, self._path(entry.flow_run_id))
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def remove(self, flow_run_id: str) -> None:
        self._path(flow_run_id).unlink(missing_ok=True)

    def entries(self) -> list[RunEntry]:
        """Every readable entry; an unreadable or foreign file is skipped (it must never break a run)."""
        found: list[RunEntry] = []
        if not self.directory.is_dir():
            return found
        for path in sorted(self.directory.glob("*.json")):
            try:
                data: Any = json.loads(path.read_text(encoding="utf-8"))
                found.append(RunEntry(**data))
            except (OSError, ValueError, TypeError):
                continue
        return found

    def stale(self, environment: str) -> list[RunEntry]:
        """Entries of `environment` whose process is gone: runs that ended without cleaning up (SIGKILL)."""
        return [e for e in self.entries() if e.environment == environment and not is_alive(e.pid, e.pid_started)]


def stop_orphaned_server(entry: RunEntry) -> bool:
    """Kill the private server a dead run left behind, if it is still the same process; True when one was."""
    if entry.server_pid is None or not is_alive(entry.server_pid, entry.server_started):
        return False
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(entry.server_pid, signal.SIGKILL)  # it leads its own process group (start_new_session)
    return True


_SERVER_MARKERS = (b"prefect.server.api.server:create_app", b"runbook.app.prefect_server")


def orphaned_prefect_servers(home: Path) -> list[int]:
    """Ephemeral Prefect servers on `home`'s database whose parent is gone (reparented to init).

    Prefect's own ephemeral server (what `runbook run` used before it owned its server) survives a SIGKILLed run
    and keeps the SQLite database open; so would ours if both of its guards failed. Linux only (reads /proc).
    """
    found: list[int] = []
    proc = Path("/proc")
    if not proc.is_dir():
        return found
    wanted = str(home.expanduser().resolve()).encode()
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes()
            if not any(marker in argv for marker in _SERVER_MARKERS):
                continue
            environ = dict(
                item.split(b"=", 1) for item in (entry / "environ").read_bytes().split(b"\0") if b"=" in item
            )
            parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if environ.get(b"PREFECT__SERVER_EPHEMERAL") != b"1":
            continue  # an operator's `prefect server start` is never ours to stop
        home_of = environ.get(b"PREFECT_HOME")
        if home_of is None or str(Path(home_of.decode(errors="replace")).expanduser().resolve()).encode() != wanted:
            continue
        if parent == 1 or not is_alive(parent, None):
            found.append(int(entry.name))
    return found


def stop_orphaned_prefect_servers(home: Path) -> list[int]:
    """SIGKILL the orphaned Prefect servers of `home` (see `orphaned_prefect_servers`); returns their pids."""
    stopped = []
    for pid in orphaned_prefect_servers(home):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
            stopped.append(pid)
    return stopped
