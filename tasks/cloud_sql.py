"""Cloud SQL: the platform's PostgreSQL instance, and a real connection to its database.

Check `cloud-sql-instance` (P0): the instance is RUNNABLE *and* activated (Cloud SQL has no STOPPED state: a stopped
instance is RUNNABLE with activationPolicy NEVER), has a private IP on the expected network, and enforces SSL.
An instance in maintenance or still being created is re-read with a short backoff until the check's deadline.

Check `database-connectivity` (P0) lives in `tasks.database` and is re-exported here: the two are one system.
"""

from collections.abc import Sequence
from typing import Any

from runbook.check_task import check_task
from runbook.checks import CheckAbort, CheckContext, Finding, classify_api_error, run_check
from runbook.config.models import CloudSqlConfig, RunbookConfig
from runbook.google.calls import CallCounter, call_api
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, Status
from tasks.database import database_connectivity

__all__ = ["cloud_sql_instance", "database_connectivity", "decide_instance", "decide_instance_missing"]

CHECK_ID = "cloud-sql-instance"
# States the instance leaves on its own: worth waiting for within the deadline.
TRANSITIONAL = frozenset({"MAINTENANCE", "PENDING_CREATE", "ONLINE_MAINTENANCE"})
SSL_ENFORCING = frozenset({"ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"})
LISTED_MAX = 20

_STATE_FIXES = {
    "SUSPENDED": "Cloud SQL suspends an instance for billing or policy reasons: check the project's billing account "
    "and the instance's suspension reason in the console, then",
    "FAILED": "The instance failed: look at its recent operations and error log, restore from a backup if needed "
    "(gcloud sql backups list --instance {instance} --project {project}), then",
    "PENDING_DELETE": "The instance is being deleted: if that is not intended, restore it from a backup; then",
    "REPAIRING": "Cloud SQL is repairing the instance: watch its operations and rerun when it is RUNNABLE; then",
}


def instance_state(instance: Any) -> str:
    return str(instance.state.name)


def is_transitional(instance: Any) -> bool:
    """MAINTENANCE, PENDING_CREATE: states the instance leaves on its own."""
    return instance_state(instance) in TRANSITIONAL


def private_ip(instance: Any) -> str | None:
    """The instance's PRIVATE address, if it has one."""
    return next((ip.ip_address for ip in instance.ip_addresses if ip.type_.name == "PRIVATE"), None)


def ssl_enforced(ip_config: Any) -> bool:
    """sslMode has priority over the legacy requireSsl; requireSsl counts only when sslMode is unset."""
    mode = ip_config.ssl_mode.name
    if mode != "SSL_MODE_UNSPECIFIED":
        return mode in SSL_ENFORCING
    return bool(ip_config.require_ssl)


def _network_matches(private_network: str, network: str) -> bool:
    return private_network == network or private_network.endswith(f"/networks/{network}")


def decide_instance(instance: Any, policy: CloudSqlConfig, project: str, waited_s: float = 0.0) -> Finding:
    """Decide `cloud-sql-instance` from a `sqladmin_v1beta4.DatabaseInstance`.

    Args:
        instance: The instance as the Cloud SQL Admin API returned it (after any polling).
        policy: The configured instance name, network and SSL policy.
        project: Project id (for the remediation commands).
        waited_s: How long the check waited for an instance in MAINTENANCE/PENDING_CREATE (0 when it did not).

    Returns:
        FAIL when the instance is not RUNNABLE, is stopped (activationPolicy NEVER), or has no private IP on the
        expected network; WARN when SSL is not enforced (and the policy requires it); PASS otherwise. Evidence holds
        `private_ip`, which `database-connectivity` connects to when no host is configured.
    """
    state = instance_state(instance)
    ip_config = instance.settings.ip_configuration
    activation = instance.settings.activation_policy.name
    address = private_ip(instance)
    evidence: dict[str, Any] = {
        "instance": instance.name or policy.instance,
        "state": state,
        "activation_policy": activation,
        "database_version": instance.database_version.name,
        "private_network": ip_config.private_network or None,
        "private_ip": address,
        "ssl_mode": ip_config.ssl_mode.name,
        "require_ssl": ip_config.require_ssl,
        "connection_name": instance.connection_name or None,
    }
    if waited_s:
        evidence["waited_s"] = round(waited_s, 1)
    name, target = policy.instance, f"--project {project}"
    describe = f"gcloud sql instances describe {name} {target}"
    operations = f"gcloud sql operations list --instance {name} {target} --limit 5"
    failures: list[str] = []
    warnings: list[str] = []
    fixes: list[str] = []

    if state in TRANSITIONAL:
        failures.append(f"still {state} after waiting {waited_s:.1f} s")
        fixes.append(f"Wait for the operation to finish and rerun; watch it with: {operations}")
    elif state != "RUNNABLE":
        failures.append(f"state {state}, expected RUNNABLE")
        lead = _STATE_FIXES.get(state, "Inspect the instance and its operations; then").format(
            instance=name, project=project
        )
        fixes.append(f"{lead} {describe} && {operations}")
    elif activation == "NEVER":
        failures.append("stopped (state RUNNABLE but activationPolicy NEVER)")
        fixes.append(f"Start it: gcloud sql instances patch {name} --activation-policy=ALWAYS {target}")

    network = ip_config.private_network
    if not _network_matches(network, policy.network):
        failures.append(f"private network {network or '(none)'}, expected {policy.network}")
        fixes.append(
            f"Attach a private IP on {policy.network}: gcloud sql instances patch {name} "
            f"--network=projects/{project}/global/networks/{policy.network} {target} (needs private services access "
            f"on the network: gcloud services vpc-peerings list --network={policy.network} {target}); or fix "
            "[cloud_sql] network if the deployed one is intended"
        )
    elif address is None:
        failures.append(f"no PRIVATE IP address although privateNetwork is {policy.network}")
        fixes.append(f"Check the instance's addresses ({describe}); a private IP needs private services access")

    if policy.require_ssl and not ssl_enforced(ip_config):
        warnings.append(f"SSL not enforced (sslMode {ip_config.ssl_mode.name}, requireSsl {ip_config.require_ssl})")
        fixes.append(f"Enforce TLS: gcloud sql instances patch {name} --ssl-mode=ENCRYPTED_ONLY {target}")

    label = f"instance {name}"
    if failures:
        return Finding(Status.FAIL, f"{label}: " + "; ".join(failures + warnings), evidence, "\n".join(fixes))
    if warnings:
        return Finding(Status.WARN, f"{label} is RUNNABLE but " + "; ".join(warnings), evidence, "\n".join(fixes))
    summary = (
        f"{label} RUNNABLE ({activation}), private IP {address} on {policy.network}, SSL {ip_config.ssl_mode.name}"
    )
    return Finding(Status.PASS, summary, evidence)


def decide_instance_missing(
    policy: CloudSqlConfig, project: str, existing: Sequence[Any] | None, listing_error: str = ""
) -> Finding:
    """Decide `cloud-sql-instance` when the instance does not exist (the API answered 404).

    Args:
        policy: The configured instance.
        project: Project id.
        existing: The instances that do exist in the project (`DatabaseInstance`), or None when listing failed.
        listing_error: Why listing failed, when it did.

    Returns:
        FAIL naming the instance looked for and the instances found instead.
    """
    names = sorted(i.name for i in existing or ())
    if existing is None:
        found = f"the project's instances could not be listed ({listing_error or 'unknown error'})"
    elif names:
        shown = ", ".join(names[:LISTED_MAX]) + (f" +{len(names) - LISTED_MAX} more" if len(names) > LISTED_MAX else "")
        found = f"instances in {project}: {shown}"
    else:
        found = f"no Cloud SQL instance exists in {project}"
    remediation = (
        "If one of the existing instances is the right one, set [cloud_sql] instance to it "
        f"(gcloud sql instances list --project {project}); otherwise create or restore {policy.instance}."
    )
    evidence = {"looked_for": policy.instance, "existing": None if existing is None else names}
    return Finding(Status.FAIL, f"instance {policy.instance} not found in {project}; {found}", evidence, remediation)


async def _get_instance(ctx: CheckContext) -> Any:
    from google.cloud import sqladmin_v1beta4

    project, instance = ctx.config.gcp.project, ctx.config.cloud_sql.instance
    request = sqladmin_v1beta4.SqlInstancesGetRequest(project=project, instance=instance)
    return await ctx.call("sqladmin", f"instance {instance}", ctx.clients.sql_instances.get, request=request)


async def _list_instances(ctx: CheckContext) -> tuple[list[Any] | None, str]:
    """The first page of the project's instances (one LIST call), or None and why it failed."""
    from google.cloud import sqladmin_v1beta4

    project = ctx.config.gcp.project
    request = sqladmin_v1beta4.SqlInstancesListRequest(project=project, max_results=100)
    what, fn = f"instances in {project}", ctx.clients.sql_instances.list
    try:
        # A diagnostic read with its own counter: a 404 stays one attempt at the instance itself.
        listing = CallCounter()
        pager = await call_api(fn, request=request, deadline=ctx.deadline, timeout=ctx.timeout, counter=listing)
    except Exception as error:
        return None, classify_api_error("sqladmin", what, error, listing.attempts, project).summary
    # Only the first page: iterating the pager would fetch more pages outside the call policy.
    return list(pager.items), ""


async def _body(ctx: CheckContext) -> CheckResult:
    policy, project = ctx.config.cloud_sql, ctx.config.gcp.project
    try:
        instance = await _get_instance(ctx)
    except CheckAbort as abort:
        if abort.http_status != 404:
            raise
        existing, why = await _list_instances(ctx)
        return ctx.finish(decide_instance_missing(policy, project, existing, why))
    waited = 0.0
    if is_transitional(instance):
        instance, waited = await ctx.poll(instance, lambda: _get_instance(ctx), lambda i: not is_transitional(i))
    return ctx.finish(decide_instance(instance, policy, project, waited))


@check_task(CHECK_ID)
async def cloud_sql_instance(config: RunbookConfig, clients: GoogleClients) -> CheckResult:
    """P0: the Cloud SQL instance is RUNNABLE and activated, private on the expected network, with SSL enforced.

    The backend and the auth service keep their users, threads and sessions in this instance; when it is stopped,
    suspended or off the VPC, both fail their readiness checks. A check on `state` alone passes a stopped instance,
    so the activation policy is checked too. Instances in maintenance or being created are waited for.

    Reads `instances.get` (and one `instances.list` when the instance is not found).

    Args:
        config: The environment; `[cloud_sql]` holds the instance name, network and SSL policy.
        clients: The Google client factory.

    Returns:
        The check's result; evidence holds the state, activation policy, network, `private_ip` and SSL mode.

    Example:
        >>> result = await cloud_sql_instance.fn(config, GoogleClients(config.gcp))  # doctest: +SKIP
        >>> result.evidence["private_ip"]
        '10.20.0.3'
    """
    return await run_check(CHECK_ID, config, clients, _body)
