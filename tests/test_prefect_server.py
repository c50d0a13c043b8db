"""Which Prefect API `runbook run` uses, and that the private server it starts cannot outlive it.

Fast tests: a stand-in health endpoint plays the running server; the parent-death guard is tested on the real
child process without waiting for Prefect to come up. The full start (and a SIGKILLed run) is in test_interrupt.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from runbook.app.interrupts import Interrupts
from runbook.app.prefect_server import (
    PrefectServer,
    PrefectServerError,
    find_running_server,
    is_healthy,
    start_private_server,
)
from runbook.app.run_registry import RunEntry, RunRegistry, is_alive, process_start_time, stop_orphaned_server
from tests.support import refusing_port, serve

ROOT = Path(__file__).resolve().parent.parent


async def _health(request: Request) -> Response:
    return JSONResponse(True)


@pytest.fixture
def health_url() -> Iterator[str]:
    """A stand-in for `prefect server start`: answers GET /api/health with 200."""
    with serve(Starlette(routes=[Route("/api/health", _health)])) as url:
        yield url


def _no_configured_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PREFECT_API_URL", raising=False)
    monkeypatch.delitem(sys.modules, "prefect", raising=False)  # no in-process harness settings either


def test_a_configured_api_url_is_used_without_probing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PREFECT_API_URL", "http://127.0.0.1:9/api/")  # nothing listens there: not probed
    server = find_running_server()
    assert server is not None and (server.api_url, server.owned) == ("http://127.0.0.1:9/api", False)
    assert server.wait_ready(0.1) == 0.0


def test_a_server_running_on_the_local_port_is_reused(monkeypatch: pytest.MonkeyPatch, health_url: str) -> None:
    _no_configured_api(monkeypatch)
    monkeypatch.setenv("PREFECT_SERVER_API_HOST", "127.0.0.1")
    monkeypatch.setenv("PREFECT_SERVER_API_PORT", health_url.rsplit(":", 1)[1])
    t0 = time.monotonic()
    server = find_running_server()
    assert server is not None and server.source == "running server" and not server.owned
    assert server.api_url == f"{health_url}/api"
    assert time.monotonic() - t0 < 1.0


def test_nothing_on_the_local_port_means_no_server_found_quickly(monkeypatch: pytest.MonkeyPatch) -> None:
    _no_configured_api(monkeypatch)
    monkeypatch.setenv("PREFECT_SERVER_API_PORT", "9")  # discard: nobody listens
    t0 = time.monotonic()
    assert find_running_server() is None
    assert time.monotonic() - t0 < 1.0


def test_a_server_that_does_not_answer_is_not_healthy_within_the_probe_timeout() -> None:
    import socket

    with socket.socket() as listener:  # accepts connections (the kernel's backlog) and never answers
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        t0 = time.monotonic()
        assert not is_healthy(f"http://127.0.0.1:{listener.getsockname()[1]}/api", timeout=0.3)
        assert time.monotonic() - t0 < 1.5


def test_a_private_server_that_exits_early_is_an_error_with_its_output(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", "print('database is locked', flush=True); raise SystemExit(3)"],
            stdout=out,
            stderr=out,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{refusing_port()}/api"
    server = PrefectServer(url, owned=True, source="test", process=process, log_path=log)
    with pytest.raises(PrefectServerError, match=r"exited with code 3.*database is locked"):
        server.wait_ready(30)


def test_the_private_server_dies_with_a_sigkilled_parent_and_writes_private_files(tmp_path: Path) -> None:
    home = tmp_path / "home"
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time; from runbook.app.prefect_server import start_private_server; "
            f"s = start_private_server(__import__('pathlib').Path({str(home)!r})); print(s.pid, flush=True); "
            "time.sleep(120)",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    time.sleep(1.0)  # long enough for the child to have set its parent-death signal, not for Prefect to start
    assert is_alive(child, process_start_time(child)), "the server child is not running"
    parent.kill()
    parent.wait(10)
    deadline = time.monotonic() + 5
    while is_alive(child, None) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not is_alive(child, None), "the private Prefect server outlived its SIGKILLed parent"
    for path in (home, home / "runbook", home / "runbook" / "prefect-server.log"):
        assert path.stat().st_mode & 0o077 == 0, f"{path} is {oct(path.stat().st_mode)}"


def test_start_private_server_listens_on_loopback_with_its_own_process_group(tmp_path: Path) -> None:
    server = start_private_server(tmp_path / "home")
    try:
        assert server.api_url.startswith("http://127.0.0.1:") and server.owned
        assert server.pid is not None and os.getpgid(server.pid) == server.pid
    finally:
        server.stop()
    assert server.process is None


def _entry(run_id: str, pid: int, started: float | None, environment: str = "sim") -> RunEntry:
    return RunEntry(
        flow_run_id=run_id,
        environment=environment,
        pid=pid,
        pid_started=started,
        started_at="2026-12-01T00:00:00+00:00",
        api_url="http://127.0.0.1:9/api",
        owned_server=True,
    )


def test_registry_entries_of_dead_or_reused_pids_are_stale_live_ones_are_not(tmp_path: Path) -> None:
    registry = RunRegistry(tmp_path / "runbook" / "runs")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    me, my_start = os.getpid(), process_start_time(os.getpid())
    assert my_start is not None
    registry.add(_entry("live", me, my_start))
    registry.add(_entry("dead", dead.pid, 1.0))
    registry.add(_entry("reused", me, my_start - 1))  # same pid, another process's start time
    registry.add(_entry("elsewhere", dead.pid, 1.0, environment="staging"))
    assert sorted(e.flow_run_id for e in registry.stale("sim")) == ["dead", "reused"]
    assert [e.flow_run_id for e in registry.stale("staging")] == ["elsewhere"]
    assert (tmp_path / "runbook" / "runs").stat().st_mode & 0o777 == 0o700
    assert (tmp_path / "runbook" / "runs" / "live.json").stat().st_mode & 0o777 == 0o600
    registry.remove("dead")
    assert "dead" not in {e.flow_run_id for e in registry.entries()}
    (tmp_path / "runbook" / "runs" / "junk.json").write_text("{not json")
    assert len(registry.entries()) == 3  # an unreadable entry is skipped, never fatal
    with pytest.raises(ValueError, match="not a flow run id"):
        registry.remove("../escape")


def test_an_orphaned_server_of_a_dead_run_is_stopped(tmp_path: Path) -> None:
    orphan = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        entry = _entry("gone", 999_999_999, None)
        entry = RunEntry(
            **{**entry.__dict__, "server_pid": orphan.pid, "server_started": process_start_time(orphan.pid)}
        )
        assert stop_orphaned_server(entry)
        assert orphan.wait(5) == -signal.SIGKILL
        assert not stop_orphaned_server(entry)  # already gone: nothing to stop
    finally:
        if orphan.poll() is None:
            orphan.kill()


def test_a_signal_before_the_flow_can_be_cancelled_cancels_it_as_soon_as_it_can() -> None:
    calls: list[str] = []
    interrupts = Interrupts()
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with interrupts.installed():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.05)  # the handler runs in the main thread between bytecodes
        assert interrupts.name == "SIGTERM" and not interrupts.again
        interrupts.set_cancel(lambda: calls.append("cancel"))
        assert calls == ["cancel"]
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        assert interrupts.again and interrupts.name == "SIGTERM"  # the first signal decides the exit code
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def _orphan(home: Path, ephemeral: str) -> int:
    """A process that looks like Prefect's ephemeral server on `home`, whose parent has exited (reparented)."""
    environ = {**os.environ, "PREFECT_HOME": str(home), "PREFECT__SERVER_EPHEMERAL": ephemeral}
    command = f'"{sys.executable}" -c "import time; time.sleep(30)" prefect.server.api.server:create_app'
    shell = subprocess.run(
        ["sh", "-c", f"{command} >/dev/null 2>&1 & echo $!"],
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(shell.stdout.strip())


def test_an_orphaned_ephemeral_server_on_this_home_is_stopped_others_are_left_alone(tmp_path: Path) -> None:
    from runbook.app.run_registry import orphaned_prefect_servers, stop_orphaned_prefect_servers

    home, other = tmp_path / "home", tmp_path / "other"
    ours, operators, elsewhere = _orphan(home, "1"), _orphan(home, ""), _orphan(other, "1")
    try:
        time.sleep(0.3)  # the shell has exited: they are orphans now
        assert orphaned_prefect_servers(home) == [ours]
        assert stop_orphaned_prefect_servers(home) == [ours]
        deadline = time.monotonic() + 5
        while is_alive(ours, None) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not is_alive(ours, None)
        assert is_alive(operators, None) and is_alive(elsewhere, None)
    finally:
        for pid in (ours, operators, elsewhere):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
