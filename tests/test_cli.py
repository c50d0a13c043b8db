"""`runbook run` and `runbook plan` from the command line: exit codes, reports, no network before a valid config."""

import json
from pathlib import Path
from xml.etree import ElementTree as ET

import pytest
from typer.testing import CliRunner

from runbook.app.cli import app
from simulator.server import Simulator
from tests.pg import PostgresServer
from tests.support import env_file_for

runner = CliRunner()


def test_plan_shows_phases_checks_dependencies_and_gates_without_network() -> None:
    result = runner.invoke(app, ["plan", "--env", "staging"])
    assert result.exit_code == 0, result.output
    for text in (
        "1. Infrastructure validation (owner: infrastructure team)",
        "3. Business validation",
        "database-connectivity",
        "cloud-sql-instance",
        "websocket-handshake",
        "health-endpoints",
        "Gate: no P0/P1 check FAIL or ERROR",
        "staging-connector",
        "netra-staging-db",
    ):
        assert text in result.output, text


def test_dry_run_prints_the_plan_and_calls_nothing(tmp_path: Path) -> None:
    with Simulator("healthy") as sim:
        env_file = env_file_for(sim, tmp_path)
        result = runner.invoke(app, ["run", "--env", str(env_file), "--dry-run"])
        assert result.exit_code == 0, result.output
        assert "Plan for sim" in result.output and sim.log.entries() == []


@pytest.mark.parametrize(
    "phases",
    [
        ["--phase", "infrastructure", "restoration"],  # as README's table writes it
        ["--phase", "infrastructure", "--phase", "restoration"],
        ["-p", "restoration", "infrastructure"],  # always run in plan order
    ],
)
def test_phases_follow_one_phase_option_or_repeat_it(phases: list[str]) -> None:
    result = runner.invoke(app, ["run", "--env", "local", *phases, "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "Dry run of phases infrastructure, restoration: nothing was called." in result.output


def test_an_unknown_phase_is_a_usage_error() -> None:
    result = runner.invoke(app, ["run", "--env", "local", "--phase", "infrastructure", "restore", "--dry-run"])
    assert result.exit_code == 2 and "'restore' is not one of" in result.output


def test_redeploy_without_approve_is_refused_before_anything_runs(tmp_path: Path) -> None:
    with Simulator("healthy") as sim:
        result = runner.invoke(app, ["run", "--env", str(env_file_for(sim, tmp_path)), "--redeploy"])
        assert result.exit_code == 2
        assert "refuses without --approve" in result.output and sim.log.entries() == []


def test_a_broken_config_exits_2_before_any_request(tmp_path: Path) -> None:
    with Simulator("healthy") as sim:
        env_file = env_file_for(sim, tmp_path, {"monitoring": {"max_5xx_ratio": 5}})
        result = runner.invoke(app, ["run", "--env", str(env_file)])
        assert result.exit_code == 2
        assert "monitoring.max_5xx_ratio: expected less than 1, found 5" in result.output
        assert sim.log.entries() == []


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(("scenario", "exit_code", "verdict"), [("healthy", 0, "passed"), ("sql-stopped", 1, "failed")])
def test_run_exit_code_json_report_and_junit_follow_the_verdict(
    scenario: str,
    exit_code: int,
    verdict: str,
    tmp_path: Path,
    postgres: PostgresServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RUNBOOK_DB_PASSWORD", postgres.password)
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    database = {"host": postgres.host, "port": postgres.port, "name": postgres.dbname, "user": postgres.user}
    with Simulator(scenario) as sim:
        env_file = env_file_for(sim, tmp_path, {"database": database})
        report, junit = tmp_path / "report.json", tmp_path / "junit.xml"
        result = runner.invoke(
            app,
            [
                "run",
                "--env",
                str(env_file),
                "--phase",
                "infrastructure",
                "--report",
                str(report),
                "--junit",
                str(junit),
            ],
        )
    assert result.exit_code == exit_code, result.output
    data = json.loads(report.read_text())
    assert data["verdict"] == verdict and data["environment"] == "sim" and data["trigger"] == "cli"
    assert [p["id"] for p in data["phases"]] == ["infrastructure"]
    checks = {c["id"]: c for c in data["phases"][0]["checks"]}
    assert set(checks) == {
        "vpc-connector",
        "cloud-sql-instance",
        "database-connectivity",
        "secrets",
        "load-balancer",
        "service-drift",
        "monitoring",
    }
    cases = ET.parse(junit).getroot().findall(".//testcase")
    assert len(cases) == 7
    if scenario == "sql-stopped":
        assert checks["cloud-sql-instance"]["status"] == "FAIL"
        assert "activation-policy=ALWAYS" in checks["cloud-sql-instance"]["remediation"]
        assert "cloud-sql-instance" in result.output and "verdict: failed" in result.output
        failed = [c for c in cases if c.find("failure") is not None]
        assert [c.get("name") for c in failed] == ["cloud-sql-instance"]
