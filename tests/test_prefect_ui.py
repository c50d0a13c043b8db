"""Issue 18, the Prefect UI: what a real run leaves on a real Prefect server for people to read.

One handoff (all three phases, a P2 warning, an approved redeploy) on the session's harness server, then the server is
read back as the UI reads it: the run's artifacts are keyed (titled cards, none untitled), the stakeholder summary is
on the run the operator started, the report markdown says who approved the redeploy and why, verdicts are in words in
titles, descriptions and log lines, and the phase subflows' names carry their time; nothing the run writes under
PREFECT_HOME is readable by others. A name typed in Custom run stays.
"""

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flows.handoff import staging_handoff
from runbook.approval import preapproved_by_cli
from runbook.parameters import HandoffParameters
from runbook.results import RunReport
from simulator.server import Simulator
from tests.pg import PostgresServer
from tests.support import env_file_for

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

FAST = {
    "timeouts": {"golden_path_s": 15, "e2e_s": 10, "readiness_s": 10, "health_s": 5},
    "performance": {"health_probes": 3, "golden_path_probes": 1},
}
TIME = r"\d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC"


@pytest.fixture
def env_file(tmp_path: Path, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RUNBOOK_DB_PASSWORD", postgres.password)
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-sim-token-not-a-secret")
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect-home"))
    with Simulator("high-5xx") as sim:  # monitoring's 5xx ratio is a P2 FAIL: the run passes with warnings
        database = {"host": postgres.host, "port": postgres.port, "name": postgres.dbname, "user": postgres.user}
        yield env_file_for(sim, tmp_path, {**FAST, "database": database}, name="uitest")


async def _run(env_file: Path, name: str | None = None, **parameters: Any) -> tuple[Any, Any]:
    """Create the flow run the way a deployment or the CLI does (with or without a typed name), then run it."""
    from prefect import get_client
    from prefect.flow_engine import run_flow_async

    kwargs = HandoffParameters(environment=str(env_file), **parameters).flow_kwargs()
    async with get_client() as client:
        flow_run = await client.create_flow_run(staging_handoff, parameters=kwargs, name=name)
        state = await run_flow_async(staging_handoff, flow_run=flow_run, parameters=kwargs, return_type="state")
        return await client.read_flow_run(flow_run.id), state


async def test_what_a_run_leaves_for_the_ui(env_file: Path) -> None:
    import re

    from prefect import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
        LogFilter,
        LogFilterFlowRunId,
    )

    home = env_file.parent / "prefect-home"  # what the run reads as PREFECT_HOME (the fixture sets it)
    umask = os.umask(0o022)  # a worker's usual umask: nothing of the runbook's may depend on a stricter one
    try:
        with preapproved_by_cli("ops-alice"):
            flow_run, state = await _run(env_file, redeploy=True)
    finally:
        os.umask(umask)
    # A deployment's run keeps nothing under PREFECT_HOME (its memory is on the server); a folder it made is 0700.
    ours = home / "runbook"
    assert not ours.exists() or ours.stat().st_mode & 0o077 == 0, oct(ours.stat().st_mode)
    report = await state.aresult(raise_on_failure=False)
    assert isinstance(report, RunReport) and report.verdict.value == "passed_with_warnings", report
    assert re.fullmatch(f"uitest · manual · {TIME}", flow_run.name), flow_run.name

    async with get_client() as client:
        artifacts = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run.id]))
        )
        subflows = await client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run.id]))
        )
        logs = await client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=[flow_run.id])))

    shown = [a for a in artifacts if a.type != "result"]
    assert all(a.key for a in shown), [(a.type, a.description) for a in shown]  # no untitled card
    assert sorted(a.key for a in shown) == [
        "uitest-handoff-business-checks",
        "uitest-handoff-checks",
        "uitest-handoff-infrastructure-checks",
        "uitest-handoff-report",
        "uitest-handoff-restoration-checks",
        "uitest-handoff-stakeholder-summary",
    ]
    by_key = {a.key: a for a in shown}
    assert "Staging (uitest) is ready for use" in str(by_key["uitest-handoff-stakeholder-summary"].data)
    markdown = str(by_key["uitest-handoff-report"].data)
    assert markdown.startswith("# Staging handoff: uitest: passed with warnings")
    assert "- **Approved redeploy** (`redeploy`): approved up front (--approve) by ops-alice" in markdown
    said = [a.description or "" for a in shown] + [markdown] + [log.message for log in logs]
    assert not [text for text in said if "passed_with_warnings" in text]
    assert any("Infrastructure validation passed with warnings (7 checks" in log.message for log in logs), [
        log.message for log in logs
    ]

    names = sorted(run.name for run in subflows)
    assert len(names) == 3 and all(
        re.fullmatch(f"(business|infrastructure|restoration) · uitest · {TIME}", n) for n in names
    ), names


async def test_a_run_name_typed_in_custom_run_is_kept(env_file: Path) -> None:
    typed, _ = await _run(env_file, name="rollback check after INC-1278", dry_run=True)
    assert typed.name == "rollback check after INC-1278"
    made_up, _ = await _run(env_file, dry_run=True)  # no name given: Prefect makes one up, the flow names it
    assert made_up.name.startswith("uitest · manual · ")
