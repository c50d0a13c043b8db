"""Phase 1 of the staging handoff: infrastructure validation, owned by the infrastructure team.

The page of the runbook it encodes:
  P0 vpc-connector          the Serverless VPC Access connector is READY on the expected network
  P0 cloud-sql-instance     the Cloud SQL instance is RUNNABLE, activated, private, SSL enforced
  P0 database-connectivity  a real connection and SELECT 1 in time (after cloud-sql-instance when the
                            database address comes from the instance)
  P1 secrets                every expected secret exists, latest version ENABLED (payloads never read)
  P1 load-balancer          backend timeouts long enough for WebSockets, health checks within policy
  P1 service-drift          each Cloud Run service uses the configured connector, egress, database, secrets
  P2 monitoring             5xx ratio of each service under the alert threshold
Independent checks run concurrently. The gate: no P0/P1 check FAIL or ERROR. A failed gate fails the flow run.
"""

import asyncio
from typing import Annotated, Any

from prefect import allow_failure, flow, get_run_logger
from prefect.context import FlowRunContext
from prefect.futures import PrefectFuture
from prefect.states import Failed, State
from prefect.task_runners import ThreadPoolTaskRunner
from pydantic import Field, JsonValue

from runbook.config.files import available_environments, load_config
from runbook.config.models import RunbookConfig
from runbook.env_lock import EnvironmentBusy, env_tag, hold_environment, tag_run
from runbook.google.clients import GoogleClients
from runbook.google.shared_reads import ConnectorReads
from runbook.phases import PhaseClock, close_phase, phase_run_name, run_tags, settle
from runbook.results import Phase, PhaseResult
from tasks.cloud_run import service_drift_check
from tasks.cloud_sql import cloud_sql_instance
from tasks.database import database_connectivity
from tasks.load_balancer import load_balancer_check
from tasks.monitoring import monitoring_check
from tasks.secret_manager import SecretInventory, secrets_check
from tasks.vpc_access import vpc_connector

PHASE_CLIENTS = (
    "vpcaccess",
    "sql_instances",
    "secretmanager",
    "backend_services",
    "health_checks",
    "run_services",
    "monitoring",
)


def _submit_checks(config: RunbookConfig, clients: GoogleClients) -> list[PrefectFuture[Any]]:
    inventory = SecretInventory()  # secrets and service-drift share one listing of Secret Manager
    connectors = ConnectorReads()  # vpc-connector and service-drift read the configured connector once
    instance = cloud_sql_instance.submit(config, clients)
    # Without a configured host the database address is the instance's private IP: wait for the instance.
    needs_instance = config.database.host is None and config.database.mode == "direct"
    # allow_failure: a FAIL/ERROR instance is a Failed task run, and the database check still runs to say it skipped.
    prerequisite: Any = allow_failure(instance) if needs_instance else None
    database = database_connectivity.submit(
        config, clients, prerequisite, wait_for=[prerequisite] if prerequisite else [], return_state=False
    )
    return [
        vpc_connector.submit(config, clients, connectors),
        instance,
        database,
        secrets_check.submit(config, clients, inventory),
        load_balancer_check.submit(config, clients),
        service_drift_check.submit(config, clients, inventory, connectors),
        monitoring_check.submit(config, clients),
    ]


@flow(
    name="infrastructure-validation",
    description="Phase 1 of the staging handoff: VPC connector, Cloud SQL, database, secrets, load balancer, drift.",
    task_runner=ThreadPoolTaskRunner(max_workers=16),  # type: ignore[arg-type]
    flow_run_name=phase_run_name(Phase.infrastructure),
    log_prints=True,
)
async def infrastructure_validation(
    environment: Annotated[
        str, Field(json_schema_extra={"enum": list[JsonValue](available_environments())})
    ] = "staging",
) -> PhaseResult | State:
    """Validate the infrastructure of `environment` (a name in environments/ or a path to a TOML file).

    Args:
        environment: Environment to validate: staging (the real one) or local (the simulator).
    """
    config = load_config(environment)
    context = FlowRunContext.get()
    run = context.flow_run if context is not None else None
    if run is None or run.parent_task_run_id is not None:  # a phase of the handoff: the handoff holds the environment
        return await _validate(config)
    # Run alone (the on-demand deployment): it holds its environment like any handoff, and carries its tag.
    await tag_run(str(run.id), config.name, run.tags or [])
    try:
        async with hold_environment(config.name, flow_run_id=str(run.id), run_name=run.name, required=False):
            return await _validate(config, env_tag(config.name))
    except EnvironmentBusy as busy:
        get_run_logger().error("%s", busy)
        return Failed(message=str(busy))


async def _validate(config: RunbookConfig, *tags: str) -> PhaseResult | State:
    clock = PhaseClock()
    clients = GoogleClients(config.gcp)
    clients.prepare(*PHASE_CLIENTS)  # built in the background; a check waits only for its own client
    with run_tags(*tags):  # a deployment's tags reach every check's task run
        results = await asyncio.gather(*(settle(future) for future in _submit_checks(config, clients)))
    return await close_phase(config.name, Phase.infrastructure, results, clock)


if __name__ == "__main__":
    import sys

    asyncio.run(infrastructure_validation(sys.argv[1] if len(sys.argv) > 1 else "local"))
