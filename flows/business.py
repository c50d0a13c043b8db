"""Phase 3 of the staging handoff: business validation, owned by the product team.

The page of the runbook it encodes:
  P0 golden-path          user login -> AI response over the WebSocket, every agent event, a non-empty result
  P1 performance          p50/p95 of /health and of the golden path against the thresholds (after golden-path)
  P2 stakeholder-summary  the run's summary for stakeholders, attached to the report (last)
The gate: no P0/P1 check FAIL or ERROR.
"""

import asyncio
from typing import Any

from prefect import flow
from prefect.states import Completed, State
from prefect.task_runners import ThreadPoolTaskRunner

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
from runbook.results import CheckResult, Phase, PhaseResult
from tasks.golden_path import golden_path
from tasks.performance import performance
from tasks.stakeholder import stakeholder_summary
from tasks.websocket import CredentialCache


@flow(
    name="business-validation",
    description="Phase 3 of the staging handoff: the golden path, performance, the stakeholder summary.",
    task_runner=ThreadPoolTaskRunner(max_workers=8),  # type: ignore[arg-type]
    flow_run_name=phase_run_name(Phase.business),
)
async def business_validation(
    environment: str = "staging",
    earlier_phases: list[PhaseResult] | None = None,
    skip_reason: str | None = None,
) -> PhaseResult | State:
    """Validate what users get from `environment`; `earlier_phases` feed the stakeholder summary."""
    if skip_reason:
        return Completed(name="Skipped", message=skip_reason, data=skipped_phase(Phase.business, skip_reason))
    config = load_config(environment)
    clock = PhaseClock()
    clients = GoogleClients(config.gcp)
    clients.prepare("secretmanager")  # built in the background; a check waits only for its own client

    credentials = CredentialCache()  # the test user's credentials (the E2E key) read once for the phase
    with run_tags():  # a deployment's tags reach every check's task run
        golden = golden_path.submit(config, clients, credentials)
        results: list[CheckResult] = [await settle(golden)]
        problem = prerequisite_problem(results[0], "performance")
        if problem:
            results.append(await settle(record_check(skipped(CATALOG["performance"], problem))))
        else:
            after_golden: list[Any] = [golden]
            results.append(
                await settle(
                    performance.submit(config, clients, credentials, wait_for=after_golden, return_state=False)
                )
            )
        summary = stakeholder_summary.submit(config, earlier_phases or [], list(results))
        results.append(await settle(summary))

    return await close_phase(config.name, Phase.business, results, clock)


if __name__ == "__main__":
    import sys

    asyncio.run(business_validation(sys.argv[1] if len(sys.argv) > 1 else "local"))
