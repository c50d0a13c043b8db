"""A real `runbook run` stopped by SIGTERM or SIGKILL: the report, the Slack parent, the Prefect state, no leftovers.

Each run is a real CLI process against the simulator with its own private Prefect server (PREFECT_HOME per
test). The world's agent is slow (30 s between WebSocket events), so the run is inside the business phase's
golden path, with infrastructure and restoration recorded, when the signal comes. The Prefect states are read
from the SQLite database the private server kept in PREFECT_HOME, after every server is gone.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from runbook.app.run_registry import RunRegistry
from simulator.server import Simulator
from tests.support import env_file_for

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "xoxb-sim-token-not-a-secret"
RUN_TIMEOUT_S = 240.0  # a private Prefect server starts in 6-30 s here, depending on the machine's load


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator("slow-agent") as simulator:
        yield simulator


def _environ(home: Path) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k != "PREFECT_API_URL"}
    environ.update(
        PREFECT_HOME=str(home),
        # no running server on the default port may be reused here: the test is about the private one
        PREFECT_SERVER_API_PORT="9",
        SLACK_BOT_TOKEN=TOKEN,
        NO_GCE_CHECK="true",
        PREFECT_LOGGING_LEVEL="WARNING",
    )
    return environ


def _start(
    sim: Simulator, tmp_path: Path, home: Path, name: str, *phases: str, overrides: dict[str, Any] | None = None
) -> tuple[subprocess.Popen[str], Path]:
    # No PostgreSQL here: the database check is switched off; everything else runs against the simulator.
    env_file = env_file_for(
        sim, tmp_path, {"checks": {"database-connectivity": {"enabled": False}}, **(overrides or {})}
    )
    report = tmp_path / f"{name}.json"
    args = [sys.executable, "-m", "runbook.app.cli", "run", "--env", str(env_file), "--report", str(report)]
    for phase in phases:
        args += ["--phase", phase]
    process = subprocess.Popen(
        args,
        cwd=ROOT,
        env=_environ(home),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, report


def _wait_for(what: str, condition: Any, process: subprocess.Popen[str], timeout: float = RUN_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            out, err = process.communicate()
            pytest.fail(f"the run ended ({process.returncode}) before {what}:\n{out[-3000:]}\n{err[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"no {what} within {timeout:.0f} s")
        time.sleep(0.2)


def _in_golden_path(sim: Simulator) -> bool:
    """The business phase's golden path has sent its message and waits for the slow agent."""
    return sim.log.count("netra", method="WS_MESSAGE") > 0


def _servers_of(pid: int) -> list[int]:
    """Pids of private Prefect servers started by the CLI process `pid` (their command line names the parent)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"runbook.app.prefect_server" in argv and str(pid).encode() in argv:
            state = (entry / "stat").read_text().rsplit(")", 1)[-1].split()[0] if (entry / "stat").exists() else "?"
            if state != "Z":
                found.append(int(entry.name))
    return found


def _parents(sim: Simulator) -> list[dict[str, Any]]:
    """The runbook channel's parent messages as Slack shows them now (the simulator's read-back)."""
    answer = httpx.get(f"{sim.url}/_simulator/slack/conversation", params={"format": "json"}, timeout=5)
    answer.raise_for_status()
    channels = answer.json()
    return [m for c in channels for m in c["messages"] if "staging handoff" in json.dumps(m).lower()] or [
        m for c in channels[:1] for m in c["messages"]
    ]


def _open_runs(home: Path) -> list[tuple[str, str, str]]:
    """(kind, name, state type) of every flow run and task run that is not final: nothing may stay Running."""
    final = "('COMPLETED', 'FAILED', 'CANCELLED', 'CRASHED')"
    with sqlite3.connect(home / "prefect.db") as db:
        flows = db.execute(f"SELECT 'flow', name, state_type FROM flow_run WHERE state_type NOT IN {final}")
        tasks = db.execute(f"SELECT 'task', name, state_type FROM task_run WHERE state_type NOT IN {final}")
        return [tuple(row) for row in [*flows.fetchall(), *tasks.fetchall()]]


def _flow_runs(home: Path) -> dict[str, tuple[str, str, str]]:
    """flow run id -> (state type, state name, message) of the handoff runs, straight from the server's database."""
    with sqlite3.connect(home / "prefect.db") as db:
        rows = db.execute(
            "SELECT fr.id, fr.state_type, fr.state_name, COALESCE(s.message, '') FROM flow_run fr "
            "JOIN flow f ON f.id = fr.flow_id LEFT JOIN flow_run_state s ON s.id = fr.state_id "
            "WHERE f.name = 'staging-handoff'"
        ).fetchall()
    return {str(row[0]).replace("-", ""): (row[1], row[2], row[3]) for row in rows}


def _state_of(home: Path, flow_run_id: str) -> tuple[str, str, str]:
    return _flow_runs(home)[flow_run_id.replace("-", "")]


@pytest.mark.slow
def test_sigterm_mid_run_exits_143_with_the_phases_so_far_and_tells_slack_and_prefect(
    sim: Simulator, tmp_path: Path
) -> None:
    home = tmp_path / "prefect-home"
    process, report = _start(sim, tmp_path, home, "term")
    _wait_for("golden path under way", lambda: _in_golden_path(sim), process)
    servers = _servers_of(process.pid)
    assert len(servers) == 1, f"expected the run's private Prefect server, found {servers}"
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)

    assert process.returncode == 143, f"{out[-2000:]}\n{err[-2000:]}"
    assert "Traceback" not in err and "Traceback" not in out, err
    data = json.loads(report.read_text())
    assert data["interrupted"] is True and data["interrupted_by"] == "SIGTERM"
    assert data["verdict"] == "interrupted"
    assert [p["id"] for p in data["phases"]] == ["infrastructure", "restoration"]
    assert "verdict: interrupted" in out

    parent = _parents(sim)[0]
    assert "interrupted by SIGTERM during business" in json.dumps(parent), parent

    assert _servers_of(process.pid) == [], "the private Prefect server outlived the run"
    assert RunRegistry(home / "runbook" / "runs").entries() == []
    (state_type, _, message), *others = _flow_runs(home).values()
    assert others == [] and state_type == "CANCELLED" and "interrupted by SIGTERM" in message
    assert _open_runs(home) == []  # the business phase and its golden-path task included
    # what the project created under PREFECT_HOME, the server's database included, is private
    for path in [home / "runbook", home / "prefect.db"]:
        assert path.stat().st_mode & 0o077 == 0, f"{path} is {oct(path.stat().st_mode)}"


@pytest.mark.slow
def test_sigkill_leaves_no_server_and_the_next_run_marks_the_lost_run_crashed(sim: Simulator, tmp_path: Path) -> None:
    home = tmp_path / "prefect-home"
    registry = RunRegistry(home / "runbook" / "runs")
    killed, _ = _start(sim, tmp_path, home, "killed")
    _wait_for("golden path under way", lambda: _in_golden_path(sim), killed)
    servers = _servers_of(killed.pid)
    assert len(servers) == 1, f"expected the run's private Prefect server, found {servers}"
    (entry,) = registry.entries()
    killed.kill()
    killed.communicate(timeout=30)
    deadline = time.monotonic() + 5
    while _servers_of(killed.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _servers_of(killed.pid) == [], "the private Prefect server outlived a SIGKILLed run"
    assert _state_of(home, entry.flow_run_id)[0] == "RUNNING"
    assert [name for kind, name, state in _open_runs(home) if kind == "flow" and state == "RUNNING"][-1].startswith(
        "business · sim · "
    ), _open_runs(home)
    assert "interrupted" not in json.dumps(_parents(sim)[0])  # nobody told Slack yet

    second, report = _start(sim, tmp_path, home, "next", "infrastructure")
    out, err = second.communicate(timeout=RUN_TIMEOUT_S)
    assert second.returncode == 0, f"{out[-2000:]}\n{err[-2000:]}"
    assert f"flow run {entry.flow_run_id}" in out and "marked Crashed" in out
    assert json.loads(report.read_text())["verdict"] == "passed"

    state_type, _, message = _state_of(home, entry.flow_run_id)
    assert (state_type, message) == ("CRASHED", "interrupted, no result")
    assert _open_runs(home) == []
    first_parent = _parents(sim)[0]
    assert "interrupted, no result" in json.dumps(first_parent), first_parent
    assert registry.entries() == []
    assert _servers_of(second.pid) == []


def _task_states(home: Path) -> dict[str, str]:
    """task run name -> state type, for every task run of the server's database (one run per test)."""
    with sqlite3.connect(home / "prefect.db") as db:
        return {str(name): str(state) for name, state in db.execute("SELECT name, state_type FROM task_run")}


def _crashed(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "prefect.db") as db:
        flows = db.execute("SELECT 'flow', name FROM flow_run WHERE state_type = 'CRASHED'").fetchall()
        tasks = db.execute("SELECT 'task', name FROM task_run WHERE state_type = 'CRASHED'").fetchall()
    return [tuple(row) for row in [*flows, *tasks]]


@pytest.mark.slow
def test_sigterm_in_phase_1_stops_the_checks_within_a_second_and_keeps_every_finished_check(tmp_path: Path) -> None:
    """VPC Access answers 503 for good: vpc-connector and service-drift retry it until the signal, the other checks
    finish first. After SIGTERM no check calls an API past a second; the finished ones are in the report (a phase
    `interrupted`), in Prefect (their outcome states; the stopped ones Cancelled) and in the Slack update."""
    home = tmp_path / "prefect-home"
    with Simulator("api-503-always") as sim:
        process, report = _start(sim, tmp_path, home, "term-phase-1", "infrastructure")
        _wait_for(
            "the other checks' reads while VPC Access is retried",
            lambda: sim.log.count("vpcaccess") >= 3 and sim.log.count("monitoring") > 0 and sim.log.count("compute"),
            process,
        )
        time.sleep(2.0)  # the checks that do not read VPC Access finish meanwhile
        signalled = time.monotonic()
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
        exited = time.monotonic() - signalled
        late = [(e.api, e.method, round(e.at - signalled, 2)) for e in sim.log.entries() if e.api != "slack"]
        late = [entry for entry in late if entry[2] > 1.0]
        parent = json.dumps(_parents(sim)[0])

    assert process.returncode == 143, f"{out[-2000:]}\n{err[-2000:]}"
    assert late == [], f"API calls more than 1 s after SIGTERM: {late}"
    data = json.loads(report.read_text())
    assert data["verdict"] == "interrupted" and data["interrupted_by"] == "SIGTERM"
    (phase,) = data["phases"]
    assert phase["id"] == "infrastructure" and phase["status"] == "interrupted", phase
    finished = {check["id"]: check["status"] for check in phase["checks"]}
    assert {"cloud-sql-instance", "secrets", "load-balancer", "monitoring"} <= set(finished), finished
    assert "vpc-connector" not in finished and "service-drift" not in finished
    assert "interrupted (" in out and "verdict: interrupted" in out

    tasks = _task_states(home)
    assert all(tasks[check] in ("COMPLETED", "FAILED") for check in finished), tasks
    assert tasks["vpc-connector"] == tasks["service-drift"] == "CANCELLED", tasks
    assert _crashed(home) == [] and _open_runs(home) == []
    (_, _, message), *others = _flow_runs(home).values()
    assert others == [] and "infrastructure checks finished before it stopped: " in message
    assert "secrets PASS" in message and "secrets PASS" in parent, parent
    assert exited < 15, f"exited {exited:.1f} s after SIGTERM"


@pytest.mark.slow
def test_sigint_during_phase_2_leaves_the_whole_tree_cancelled(tmp_path: Path) -> None:
    """Ctrl-C as phase 2 starts (its first Cloud Run read; phase 1's service-drift made three). Every run of the tree
    ends Cancelled: the restoration subflow and its task in the handoff run included, which Prefect's engine marks
    Crashed ("Execution was cancelled by the runtime environment") as the cancellation reaches them."""
    home = tmp_path / "prefect-home"
    with Simulator("healthy") as sim:
        process, report = _start(sim, tmp_path, home, "int-phase-2")
        _wait_for("phase 2's first Cloud Run read", lambda: sim.log.count("run") > 3, process)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)

    assert process.returncode == 130, f"{out[-2000:]}\n{err[-2000:]}"
    data = json.loads(report.read_text())
    assert [p["id"] for p in data["phases"]][:1] == ["infrastructure"] and data["interrupted_by"] == "SIGINT"
    assert _crashed(home) == [], _crashed(home)
    assert _open_runs(home) == []
    with sqlite3.connect(home / "prefect.db") as db:
        flows = dict(db.execute("SELECT name, state_type FROM flow_run").fetchall())
        tasks = dict(db.execute("SELECT name, state_type FROM task_run").fetchall())
    restoration = [name for name in flows if name.startswith("restoration · sim · ")]
    assert len(restoration) == 1 and flows[restoration[0]] == "CANCELLED", flows
    assert [state for name, state in flows.items() if name.startswith("sim · ")] == ["CANCELLED"], flows
    assert [state for name, state in tasks.items() if name.startswith("service-restoration")] == ["CANCELLED"], tasks


def test_an_interrupted_report_says_so_in_json_junit_and_the_terminal() -> None:
    from datetime import UTC, datetime
    from xml.etree import ElementTree as ET

    from rich.console import Console

    from runbook.report import junit_xml, print_report
    from runbook.results import Phase, PhaseResult, PhaseStatus, RunReport

    done = PhaseResult(phase=Phase.infrastructure, status=PhaseStatus.passed)
    report = RunReport(
        environment="sim", started_at=datetime.now(UTC), phases=(done,), interrupted=True, interrupted_by="SIGINT"
    )
    data = report.to_json()
    assert (data["verdict"], data["interrupted"], data["interrupted_by"]) == ("interrupted", True, "SIGINT")
    assert RunReport(**{**report.__dict__, "interrupted": False}).to_json()["verdict"] == "passed"
    (error,) = ET.fromstring(junit_xml(report)).findall(".//testcase[@name='completed']/error")
    assert error.get("message") == "interrupted by SIGINT: 1 phase(s) finished"
    console = Console(record=True, width=120)
    print_report(report, console)
    assert "verdict: interrupted (sim, 0.0 s, by SIGINT, 1 phase(s) finished)" in console.export_text()
