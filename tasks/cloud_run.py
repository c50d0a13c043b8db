"""Cloud Run: the deployed services against the configuration.

Phase 1 (infrastructure validation): `service-drift`, which compares each configured service's revision template
(`services.get`, Cloud Run Admin API v2) with the configuration -- VPC connector, VPC egress, Cloud SQL instances and
the secrets it references -- and checks that every referenced VPC connector exists (`connectors.get`, VPC Access) and
every referenced secret exists in Secret Manager. When one of those lookups is denied, what could be compared is still
reported, and what could not is named. The platform's own
scripts disagree about these names (see reference/netra-staging.md), so naming each disagreement is the point.

This module reads; tasks/cloud_run_drift.py decides. Phase 2's checks of the same services are in
tasks/cloud_run_ready.py and tasks/cloud_run_redeploy.py.
"""

import asyncio
from collections.abc import Mapping
from typing import Any

from runbook.check_task import check_task
from runbook.checks import CheckAbort, CheckContext, run_check
from runbook.config.models import RunbookConfig
from runbook.google.clients import GoogleClients
from runbook.google.shared_reads import ConnectorReads
from runbook.results import CheckResult
from tasks.cloud_run_drift import DriftInputs, connector_resource, decide_service_drift, deployed_settings
from tasks.secret_manager import SecretInventory, list_secret_ids, short_name

DRIFT_CHECK_ID = "service-drift"


async def _optional_service(ctx: CheckContext, name: str) -> Any | None:
    try:
        return await ctx.call(
            "run",
            f"Cloud Run service {name}",
            ctx.clients.run_services.get_service,
            name=ctx.clients.service_name(name),
        )
    except CheckAbort as abort:
        if abort.http_status == 404:
            return None
        raise


async def _existing_services(ctx: CheckContext) -> list[str]:
    """Names of the services in the region (first page: only read to tell the operator what exists after a 404)."""
    answer = await ctx.call(
        "run",
        f"Cloud Run service list of {ctx.clients.location()}",
        ctx.clients.run_services.list_services,
        request={"parent": ctx.clients.location(), "page_size": 500},
    )
    return sorted(short_name(service.name) for service in answer.services)


async def _secret_ids(ctx: CheckContext, inventory: SecretInventory | None) -> tuple[frozenset[str] | None, str, str]:
    """The project's secret ids, or None, why and the fix (a Secret Manager problem must not hide the drift)."""
    try:
        return (await inventory.secret_ids(ctx) if inventory else await list_secret_ids(ctx)), "", ""
    except CheckAbort as abort:
        return None, abort.summary, abort.remediation


async def _connectors(
    ctx: CheckContext, services: Mapping[str, Any | None], shared: ConnectorReads | None = None
) -> tuple[dict[str, bool], str, str]:
    """Whether each connector the services' revisions reference exists (`connectors.get`, concurrently).

    Returns the map (full name -> exists), and why and how to fix it when the lookups could not answer (then the
    map holds what was learnt before). A 404 is an answer: the connector does not exist.
    """
    gcp = ctx.config.gcp
    references = {
        connector_resource(ref, gcp.project, gcp.region)
        for ref in (deployed_settings(s).connector_ref for s in services.values() if s is not None)
        if ref
    }
    if not references:
        return {}, "", ""
    reads = shared or ConnectorReads()  # shared: the connector vpc-connector reads is read once in the phase

    async def exists(name: str) -> bool:
        return await reads.connector(ctx, name) is not None

    found: dict[str, bool] = {}
    try:
        async with asyncio.TaskGroup() as group:
            jobs = {name: group.create_task(exists(name)) for name in sorted(references)}
    except ExceptionGroup as errors:
        abort = next((e for e in errors.exceptions if isinstance(e, CheckAbort)), None)
        if abort is None:
            raise errors.exceptions[0] from None
        found = {
            name: job.result()
            for name, job in jobs.items()
            if job.done() and not job.cancelled() and job.exception() is None
        }
        return found, abort.summary, abort.remediation
    return {name: job.result() for name, job in jobs.items()}, "", ""


async def _existing_connectors(ctx: CheckContext) -> list[str]:
    """The region's connectors (first page), to name them after a referenced one was not found; [] when unreadable."""
    try:
        answer = await ctx.call(
            "vpcaccess",
            f"connectors in {ctx.clients.location()}",
            ctx.clients.vpcaccess.list_connectors,
            request={"parent": ctx.clients.location(), "page_size": 100},
        )
    except CheckAbort:
        return []
    return sorted(short_name(connector.name) for connector in answer.connectors)


async def read_drift_inputs(
    ctx: CheckContext, inventory: SecretInventory | None, connectors_read: ConnectorReads | None = None
) -> DriftInputs:
    """Every configured service and the secret list, concurrently; then the connectors the services reference.

    The service list is read only after a service was not found, the connector list only after a connector was not.
    """
    # Build both clients off the event loop: the first use imports the library (seconds, not milliseconds).
    await asyncio.to_thread(lambda: (ctx.clients.run_services, ctx.clients.secretmanager))
    try:
        async with asyncio.TaskGroup() as group:
            secrets_job = group.create_task(_secret_ids(ctx, inventory))
            jobs = {s.name: group.create_task(_optional_service(ctx, s.name)) for s in ctx.config.services}
            connectors_job = group.create_task(_connectors_after(ctx, jobs, connectors_read))
    except ExceptionGroup as errors:  # one failed read ends the check: report it, not the group
        raise errors.exceptions[0] from None
    services = {name: job.result() for name, job in jobs.items()}
    existing = await _existing_services(ctx) if None in services.values() else []
    secret_ids, secrets_error, secrets_fix = secrets_job.result()
    connectors, connectors_error, connectors_fix = connectors_job.result()
    in_region = await _existing_connectors(ctx) if False in connectors.values() else []
    return DriftInputs(
        services,
        existing,
        secret_ids,
        secrets_error,
        secrets_fix,
        connectors,
        connectors_error,
        connectors_fix,
        in_region,
    )


async def _connectors_after(
    ctx: CheckContext, jobs: Mapping[str, "asyncio.Task[Any | None]"], shared: ConnectorReads | None
) -> tuple[dict[str, bool], str, str]:
    """`_connectors` once every service is read (concurrently with the secret listing)."""
    await asyncio.wait(jobs.values())
    if any(job.exception() for job in jobs.values()):
        return {}, "", ""  # the failed service read ends the check
    return await _connectors(ctx, {name: job.result() for name, job in jobs.items()}, shared)


async def _check_service_drift(
    ctx: CheckContext, inventory: SecretInventory | None, connectors: ConnectorReads | None
) -> CheckResult:
    inputs = await read_drift_inputs(ctx, inventory, connectors)
    gcp = ctx.config.gcp
    return ctx.finish(decide_service_drift(ctx.config.services, inputs, gcp.project, gcp.region, gcp.project_number))


@check_task("service-drift")
async def service_drift_check(
    config: RunbookConfig,
    clients: GoogleClients,
    inventory: SecretInventory | None = None,
    connectors: ConnectorReads | None = None,
) -> CheckResult:
    """P1 `service-drift`: each Cloud Run service runs with the configured connector, egress, Cloud SQL and secrets.

    Verifies, for every `[[services]]` entry, that the service exists and that its revision template uses the
    configured VPC connector (none configured but one present is drift too) and egress (Cloud Run v2 enum names),
    mounts the configured Cloud SQL instances (volumes, and the older `run.googleapis.com/cloudsql-instances`
    annotation), references the configured secrets, and that every VPC connector and secret it references exists
    (a connector of the configured name in another project or region is drift too). When Secret Manager or VPC
    Access denies the lookup, the rest is still compared and the summary says what was not verified (WARN).
    Why it matters: the platform's deploy script, diagnostic script and terraform disagree about these names; a
    revision deployed with the wrong connector or egress loses its Cloud SQL socket, and a missing secret stops the
    next revision from starting.

    Args:
        config: The environment (`config.services`).
        clients: The Google client factory (`run_services`, `secretmanager`, `vpcaccess`).
        inventory: Shares the secret listing with the `secrets` check; None lists independently.
        connectors: Shares the connector reads with the `vpc-connector` check; None reads independently.

    Example:
        >>> result = await service_drift_check.fn(config, GoogleClients(config.gcp))
        >>> result.summary  # scenario "drift"
        '3 disagreement(s): netra-backend-staging uses connector staging-connector-v2, config says ...'
    """

    async def body(ctx: CheckContext) -> CheckResult:
        return await _check_service_drift(ctx, inventory, connectors)

    return await run_check(DRIFT_CHECK_ID, config, clients, body)
