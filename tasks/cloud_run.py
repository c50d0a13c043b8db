"""Cloud Run: the deployed services against the configuration.

Phase 1 (infrastructure validation): `service-drift`, which compares each configured service's revision template
(`services.get`, Cloud Run Admin API v2) with the configuration -- VPC connector, VPC egress, Cloud SQL instances and
the secrets it references -- and checks that every referenced secret exists in Secret Manager. The platform's own
scripts disagree about these names (see reference/netra-staging.md), so naming each disagreement is the point.

Phase 2 (service restoration) checks of the same service belong in this module too, below the phase 1 section.
"""

import asyncio
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from runbook.checks import CheckAbort, CheckContext, Finding, run_check
from runbook.config import RunbookConfig, ServiceConfig
from runbook.gcp import GoogleClients
from runbook.results import CheckResult, Status
from tasks.secret_manager import SecretInventory, list_secret_ids, listed, short_name

CLOUDSQL_ANNOTATION = "run.googleapis.com/cloudsql-instances"
EGRESS_FLAGS = {"ALL_TRAFFIC": "all-traffic", "PRIVATE_RANGES_ONLY": "private-ranges-only"}
DEFAULT_EGRESS = "PRIVATE_RANGES_ONLY"  # what Cloud Run applies when a template leaves egress unspecified
SHOWN = 4  # disagreements spelled out in the one-line summary before "+N more"


# === phase 1: service-drift ====================================================================================

DRIFT_CHECK_ID = "service-drift"


@dataclass(frozen=True)
class DeployedSettings:
    """What a service's revision template says, in the configuration's terms."""

    connector: str | None  # short name
    direct_vpc: bool  # Direct VPC egress (network interfaces) instead of a connector
    egress: str | None  # VpcEgress enum name; None without any VPC access
    cloudsql_instances: tuple[str, ...]
    secrets: tuple[str, ...]  # as referenced: `id` or `projects/P/secrets/id`


@dataclass(frozen=True)
class Drift:
    """One disagreement between a service and the configuration, and how to resolve it."""

    service: str
    text: str
    flags: tuple[str, ...] = ()  # for `gcloud run services update SERVICE`
    command: str = ""  # a separate command (e.g. creating a secret)
    status: Status = Status.FAIL


def deployed_settings(service: Any) -> DeployedSettings:
    """Read a Cloud Run v2 `Service`'s template: VPC access, Cloud SQL volumes (and the older annotation), secrets."""
    template = service.template
    vpc = template.vpc_access
    connector = short_name(vpc.connector) if vpc.connector else None
    direct_vpc = bool(vpc.network_interfaces)
    egress = vpc.egress.name if (connector or direct_vpc) else None
    instances: list[str] = []
    secrets: list[str] = []
    for volume in template.volumes:
        instances.extend(volume.cloud_sql_instance.instances)
        if volume.secret.secret:
            secrets.append(volume.secret.secret)
    for annotations in (service.annotations, template.annotations):
        value = annotations.get(CLOUDSQL_ANNOTATION, "")
        instances.extend(part.strip() for part in value.split(",") if part.strip())
    for container in template.containers:
        for env in container.env:
            reference = env.value_source.secret_key_ref.secret
            if reference:
                secrets.append(reference)
    return DeployedSettings(connector, direct_vpc, egress, _unique(instances), _unique(secrets))


def _unique(items: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


def _own_secret(reference: str, project: str, project_number: str | None) -> str | None:
    """The secret id of a reference to this project's Secret Manager, None for another project's secret.

    Without a configured project number, a numeric project in the reference is taken to be this project's.
    """
    if "/" not in reference:
        return reference
    parts = reference.split("/")
    if len(parts) >= 4 and parts[0] == "projects" and parts[2] == "secrets":
        ours = parts[1] in (project, project_number) or (project_number is None and parts[1].isdigit())
        return parts[3] if ours else None
    return short_name(reference)


def service_drift(
    expected: ServiceConfig,
    deployed: DeployedSettings,
    existing_secrets: Collection[str] | None,
    project: str,
    project_number: str | None = None,
) -> list[Drift]:
    """Every disagreement of one service with its configuration (empty when it matches).

    FAIL for what breaks the service (wrong or missing connector, wrong egress, a configured Cloud SQL instance or
    secret not mounted, a referenced secret that does not exist); WARN for extras the configuration does not list
    (a connector where none is configured, an additional Cloud SQL instance). `existing_secrets` None: not verified.
    """
    name = expected.name
    drifts: list[Drift] = []
    want_egress = expected.vpc_egress
    if expected.vpc_connector and deployed.connector != expected.vpc_connector:
        found = f"uses connector {deployed.connector}" if deployed.connector else "has no VPC connector"
        if deployed.direct_vpc and not deployed.connector:
            found += " (Direct VPC egress)"
        flags = [f"--vpc-connector {expected.vpc_connector}"]
        if want_egress:
            flags.append(f"--vpc-egress {EGRESS_FLAGS[want_egress]}")
        drifts.append(Drift(name, f"{name} {found}, config says {expected.vpc_connector}", tuple(flags)))
    elif not expected.vpc_connector and deployed.connector:
        text = f"{name} uses connector {deployed.connector}, config says none"
        drifts.append(Drift(name, text, ("--clear-vpc-connector",), status=Status.WARN))
    if want_egress and deployed.egress is not None:
        effective = DEFAULT_EGRESS if deployed.egress == "VPC_EGRESS_UNSPECIFIED" else deployed.egress
        if effective != want_egress:
            text = f"{name} uses VPC egress {deployed.egress}, config says {want_egress}"
            drifts.append(Drift(name, text, (f"--vpc-egress {EGRESS_FLAGS[want_egress]}",)))
    missing_sql = [i for i in expected.cloudsql_instances if i not in deployed.cloudsql_instances]
    extra_sql = [i for i in deployed.cloudsql_instances if i not in expected.cloudsql_instances]
    if missing_sql:
        mounted = ", ".join(deployed.cloudsql_instances) or "none"
        text = f"{name} does not mount Cloud SQL instance {', '.join(missing_sql)} (mounts {mounted}), config says so"
        drifts.append(Drift(name, text, (f"--add-cloudsql-instances {','.join(missing_sql)}",)))
    if extra_sql:
        configured = ", ".join(expected.cloudsql_instances) or "none"
        text = f"{name} also mounts Cloud SQL instance {', '.join(extra_sql)}, config lists {configured}"
        flag = f"--remove-cloudsql-instances {','.join(extra_sql)}"
        drifts.append(Drift(name, text, (flag,), status=Status.WARN))
    referenced = {short_name(r) for r in deployed.secrets}
    for secret in expected.secrets:
        if secret not in referenced:
            text = f"{name} does not reference secret {secret}, config says it must"
            drifts.append(Drift(name, text, (f"--update-secrets ENV_NAME={secret}:latest",)))
    if existing_secrets is not None:
        for reference in deployed.secrets:
            own = _own_secret(reference, project, project_number)
            if own is not None and own not in existing_secrets:
                text = f"{name} references secret {own}, which does not exist in Secret Manager"
                command = f"gcloud secrets create {own} --project {project} --replication-policy=automatic"
                drifts.append(Drift(name, text, command=command))
    return drifts


@dataclass(frozen=True)
class DriftInputs:
    """What the APIs reported: each configured service's `Service` (None on 404), what exists, what failed."""

    services: Mapping[str, Any | None]
    existing_services: Sequence[str] = ()
    existing_secrets: Collection[str] | None = None
    secrets_error: str = ""  # why existing_secrets is None


def decide_service_drift(
    configured: Sequence[ServiceConfig],
    inputs: DriftInputs,
    project: str,
    region: str,
    project_number: str | None = None,
) -> Finding:
    """Decide `service-drift`: every disagreement of every service, each named, with one fix per service.

    Returns:
        PASS when every service matches; FAIL naming each disagreement (and each missing service, listing the ones
        that exist); WARN when only extras were found; ERROR when nothing disagrees but the secrets' existence could
        not be verified.
    """
    drifts: list[Drift] = []
    evidence: dict[str, Any] = {"services": {}}
    for expected in configured:
        service = inputs.services.get(expected.name)
        if service is None:
            there = ", ".join(inputs.existing_services) or "none"
            text = f"service {expected.name} not found in {region} (existing: {there})"
            command = f"Deploy {expected.name} to {region}, or fix [[services]] name = {expected.name!r} in the config."
            drifts.append(Drift(expected.name, text, command=command))
            evidence["services"][expected.name] = "not found"
            continue
        deployed = deployed_settings(service)
        drifts += service_drift(expected, deployed, inputs.existing_secrets, project, project_number)
        evidence["services"][expected.name] = {
            "connector": deployed.connector,
            "egress": deployed.egress,
            "cloudsql_instances": list(deployed.cloudsql_instances),
            "secrets_referenced": len(deployed.secrets),
        }
    if inputs.existing_secrets is None:
        evidence["secrets_not_verified"] = inputs.secrets_error or "secret list unavailable"
    evidence["drift"] = [d.text for d in drifts]
    remediation = _remediation(drifts, project, region)
    failures = [d for d in drifts if d.status == Status.FAIL]
    if failures:
        return Finding(Status.FAIL, _summary(drifts), evidence, remediation)
    if inputs.existing_secrets is None:
        summary = f"could not verify that referenced secrets exist: {inputs.secrets_error}"
        if drifts:
            summary += "; " + _summary(drifts)
        return Finding(Status.ERROR, summary, evidence, remediation)
    if drifts:
        return Finding(Status.WARN, _summary(drifts), evidence, remediation)
    return Finding(
        Status.PASS,
        f"all {len(configured)} services match the configuration (connector, egress, Cloud SQL, secrets)",
        evidence,
    )


def _summary(drifts: Sequence[Drift]) -> str:
    ordered = sorted(drifts, key=lambda d: d.status != Status.FAIL)
    return f"{len(drifts)} disagreement(s): " + listed((d.text for d in ordered), SHOWN, "; ")


def _remediation(drifts: Sequence[Drift], project: str, region: str) -> str:
    flags: dict[str, list[str]] = {}
    commands: list[str] = []
    for drift in drifts:
        if drift.flags:
            flags.setdefault(drift.service, []).extend(f for f in drift.flags if f not in flags.get(drift.service, []))
        if drift.command and drift.command not in commands:
            commands.append(drift.command)
    updates = [
        f"gcloud run services update {service} --region {region} --project {project} " + " ".join(service_flags)
        for service, service_flags in flags.items()
    ]
    return "\n".join(updates + commands)


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


async def _secret_ids(ctx: CheckContext, inventory: SecretInventory | None) -> tuple[frozenset[str] | None, str]:
    """The project's secret ids, or None and why (a Secret Manager problem must not hide the service's drift)."""
    try:
        return (await inventory.secret_ids(ctx) if inventory else await list_secret_ids(ctx)), ""
    except CheckAbort as abort:
        return None, abort.summary


async def read_drift_inputs(ctx: CheckContext, inventory: SecretInventory | None) -> DriftInputs:
    """Every configured service and the secret list, concurrently; the service list only after a 404."""
    # Build both clients off the event loop: the first use imports the library (seconds, not milliseconds).
    await asyncio.to_thread(lambda: (ctx.clients.run_services, ctx.clients.secretmanager))
    try:
        async with asyncio.TaskGroup() as group:
            secrets_job = group.create_task(_secret_ids(ctx, inventory))
            jobs = {s.name: group.create_task(_optional_service(ctx, s.name)) for s in ctx.config.services}
    except ExceptionGroup as errors:  # one failed read ends the check: report it, not the group
        raise errors.exceptions[0] from None
    services = {name: job.result() for name, job in jobs.items()}
    existing = await _existing_services(ctx) if None in services.values() else []
    secret_ids, secrets_error = secrets_job.result()
    return DriftInputs(services, existing, secret_ids, secrets_error)


async def _check_service_drift(ctx: CheckContext, inventory: SecretInventory | None) -> CheckResult:
    inputs = await read_drift_inputs(ctx, inventory)
    gcp = ctx.config.gcp
    return ctx.finish(decide_service_drift(ctx.config.services, inputs, gcp.project, gcp.region, gcp.project_number))


@task(name="service-drift", cache_policy=NO_CACHE)
async def service_drift_check(
    config: RunbookConfig, clients: GoogleClients, inventory: SecretInventory | None = None
) -> CheckResult:
    """P1 `service-drift`: each Cloud Run service runs with the configured connector, egress, Cloud SQL and secrets.

    Verifies, for every `[[services]]` entry, that the service exists and that its revision template uses the
    configured VPC connector (none configured but one present is drift too) and egress (Cloud Run v2 enum names),
    mounts the configured Cloud SQL instances (volumes, and the older `run.googleapis.com/cloudsql-instances`
    annotation), references the configured secrets, and that every secret it references exists in Secret Manager.
    Why it matters: the platform's deploy script, diagnostic script and terraform disagree about these names; a
    revision deployed with the wrong connector or egress loses its Cloud SQL socket, and a missing secret stops the
    next revision from starting.

    Args:
        config: The environment (`config.services`).
        clients: The Google client factory (`run_services`, `secretmanager`).
        inventory: Shares the secret listing with the `secrets` check; None lists independently.

    Example:
        >>> result = await service_drift_check.fn(config, GoogleClients(config.gcp))
        >>> result.summary  # scenario "drift"
        '3 disagreement(s): netra-backend-staging uses connector staging-connector-v2, config says ...'
    """

    async def body(ctx: CheckContext) -> CheckResult:
        return await _check_service_drift(ctx, inventory)

    return await run_check(DRIFT_CHECK_ID, config, clients, body)
