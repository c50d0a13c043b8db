"""Phase 2 of the staging handoff: service restoration, owned by the platform team.

The page of the runbook it encodes:
  P0 redeploy                 only when asked: pause for approval, then roll a new revision of each service
  P0 cloud-run-ready          each service Ready, latest created revision ready and serving (after the redeploy)
  P0 health-endpoints         backend /health, /health/ready, /health/infrastructure; auth /health/ready
  P1 websocket-handshake      /ws accepts a valid token and sends connection_established (after health-endpoints)
  P2 post-restore-monitoring  the 5xx ratio since the restoration started
The gate: no P0/P1 check FAIL or ERROR. A failed gate fails the flow run and stops the handoff.
"""

import asyncio
from datetime import UTC, datetime
from typing import Any

from prefect import allow_failure, flow
from prefect.futures import PrefectFuture
from prefect.states import Completed, State
from prefect.task_runners import ThreadPoolTaskRunner

from runbook.approval import ApprovalOutcome
from runbook.catalog import CATALOG
from runbook.check_task import record_check
from runbook.checks import skipped
from runbook.config.files import load_config
from runbook.google.clients import GoogleClients
from runbook.phases import (
    PhaseClock,
    close_phase,
    phase_run_name,
    prerequisite_problem,
    run_tags,
    settle,
    skipped_phase,
)
from runbook.results import CheckResult, Phase, PhaseResult, Status
from tasks.cloud_run_ready import cloud_run_ready
from tasks.cloud_run_redeploy import redeploy
from tasks.golden_path import websocket_handshake
from tasks.http_health import health_endpoints
from tasks.monitoring import post_restore_monitoring

DECLINED_TITLES = {"rejected": "Redeploy rejected", "expired": "Redeploy approval expired"}


def declined_redeploy(outcome: ApprovalOutcome) -> CheckResult:
    """The redeploy's result when it was not approved: FAIL, with the decision, who and the note as evidence.

    Titled as it is (rejected, approval expired, not approved), never "Approved redeploy": that is the action's
    title, for a redeploy that was approved and then ran.
    """
    spec = CATALOG["redeploy"]
    return CheckResult(
        id=spec.id,
        title=DECLINED_TITLES.get(outcome.said, "Redeploy not approved"),
        phase=spec.phase,
        severity=spec.severity,
        status=Status.FAIL,
        summary=f"redeploy not done: {outcome.reason}",
        evidence={"approval": outcome.evidence()},
        remediation=(
            "Rerun with redeploy on and approve it on the paused run's form (Prefect UI: Resume), "
            "or from a shell: runbook run --redeploy --approve; or rerun without redeploy."
        ),
        attempts=0,
    )


@flow(
    name="service-restoration",
    description="Phase 2 of the staging handoff: Cloud Run ready, health endpoints, WebSocket, optional redeploy.",
    task_runner=ThreadPoolTaskRunner(max_workers=16),  # type: ignore[arg-type]
    flow_run_name=phase_run_name(Phase.restoration),
)
async def service_restoration(
    environment: str = "staging",
    redeploy_services: bool = False,
    approval: ApprovalOutcome | None = None,
    skip_reason: str | None = None,
) -> PhaseResult | State:
    """Restore and verify the services of `environment` (a name in environments/ or a TOML path).

    Args:
        environment: Environment name or TOML path.
        redeploy_services: Roll a new revision of every service first (only when `approval` approves it).
        approval: The decision the handoff obtained before this phase (the run it belongs to paused for it).
        skip_reason: Why an earlier gate stops this phase; the phase is recorded as skipped.
    """
    if skip_reason:
        return Completed(name="Skipped", message=skip_reason, data=skipped_phase(Phase.restoration, skip_reason))
    config = load_config(environment)
    clock = PhaseClock()
    clients = GoogleClients(config.gcp)
    # Built in the background; a check waits only for its own client (the wait is not counted against its deadline).
    clients.prepare("run_services", "run_revisions", "secretmanager", "monitoring")
    restoration_started = datetime.now(UTC)
    results: list[CheckResult] = []
    before_ready: list[PrefectFuture[Any]] = []

    with run_tags():  # a deployment's tags reach every check's task run
        if redeploy_services:
            outcome = approval or ApprovalOutcome(
                approved=False, decision="not asked: no approval was asked for", status="not-asked"
            )
            if outcome.approved:
                restoration_started = datetime.now(UTC)
                names = [s.name for s in config.services]
                before_ready.append(redeploy.submit(config, clients, names, outcome.evidence()))
            else:
                results.append(await settle(record_check(declined_redeploy(outcome))))

        after_redeploy = [allow_failure(future) for future in before_ready]  # ready reports even a failed rollout
        ready = cloud_run_ready.submit(config, clients, wait_for=after_redeploy, return_state=False)
        health = health_endpoints.submit(config, clients)
        monitoring = post_restore_monitoring.submit(config, clients, restoration_started)
        results += [await settle(future) for future in before_ready]

        health_result = await settle(health)
        results.append(health_result)
        problem = prerequisite_problem(health_result, "websocket-handshake")
        if problem:
            results.append(await settle(record_check(skipped(CATALOG["websocket-handshake"], problem))))
        else:
            handshake = websocket_handshake.submit(config, clients, wait_for=[health], return_state=False)
            results.append(await settle(handshake))
        results += [await settle(ready), await settle(monitoring)]

    return await close_phase(config.name, Phase.restoration, results, clock)


if __name__ == "__main__":
    import sys

    asyncio.run(service_restoration(sys.argv[1] if len(sys.argv) > 1 else "local"))
