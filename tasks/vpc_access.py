"""Serverless VPC Access: the connector Cloud Run reaches Cloud SQL and Redis through.

Check `vpc-connector` (P0): the connector exists in the region, is READY and sits on the expected network; its IP
range and instance bounds are compared with the configured policy (WARN when off policy). A connector being
created or updated is re-read with a short backoff until the check's deadline before the check gives up on it.
"""

from collections.abc import Sequence
from typing import Any

from runbook.check_task import check_task
from runbook.checks import CheckAbort, CheckContext, Finding, classify_api_error, run_check
from runbook.config.models import RunbookConfig, VpcConnectorConfig
from runbook.google.calls import CallCounter, call_api
from runbook.google.clients import GoogleClients
from runbook.google.shared_reads import ConnectorReads
from runbook.results import CheckResult, Status

CHECK_ID = "vpc-connector"
TRANSITIONAL = frozenset({"CREATING", "UPDATING"})
LISTED_MAX = 20
THROUGHPUT_PER_INSTANCE = 100  # Mbps; connectors created before min/maxInstances existed only report throughput


def connector_state(connector: Any) -> str:
    """The connector's state name (`READY`, `CREATING`, ...)."""
    return str(connector.state.name)


def is_transitional(connector: Any) -> bool:
    """A state the connector leaves on its own (CREATING, UPDATING): worth waiting for."""
    return connector_state(connector) in TRANSITIONAL


def _short(name: str) -> str:
    return name.rstrip("/").rsplit("/", 1)[-1]


def _instances(connector: Any) -> tuple[int | None, int | None]:
    """(min, max) instances, derived from throughput for connectors that only report that; None when neither is.

    The API's JSON leaves zeros out and documents no default for these fields: a bound reported neither as instances
    nor as throughput is unknown, not 0 (a connector has at least 2 instances).
    """
    low = connector.min_instances or connector.min_throughput // THROUGHPUT_PER_INSTANCE
    high = connector.max_instances or connector.max_throughput // THROUGHPUT_PER_INSTANCE
    return (int(low) or None), (int(high) or None)


def _gcloud(verb: str, policy: VpcConnectorConfig, region: str, project: str, extra: str = "") -> str:
    command = (
        f"gcloud compute networks vpc-access connectors {verb} {policy.name} --region {region} --project {project}"
    )
    return f"{command} {extra}".rstrip()


def _create_flags(policy: VpcConnectorConfig) -> str:
    flags = f"--network {policy.network} --range {policy.ip_cidr_range or 'FREE_SLASH_28_RANGE'}"
    return f"{flags} --min-instances {policy.min_instances} --max-instances {policy.max_instances}"


def decide_connector(
    connector: Any, policy: VpcConnectorConfig, region: str, project: str, waited_s: float = 0.0
) -> Finding:
    """Decide `vpc-connector` from a `vpcaccess_v1.Connector`.

    Args:
        connector: The connector as the VPC Access API returned it (after any polling).
        policy: The configured connector: name, network, IP range and instance bounds.
        region: Region the connector was looked up in (for the remediation commands).
        project: Project id (for the remediation commands).
        waited_s: How long the check waited for a CREATING/UPDATING connector (0 when it did not wait).

    Returns:
        FAIL when the connector is not READY or is on another network; WARN when its IP range or instance bounds are
        off policy; PASS otherwise. Every problem is listed, not only the first.
    """
    state = connector_state(connector)
    low, high = _instances(connector)
    network = _short(connector.network) if connector.network else ""
    evidence: dict[str, Any] = {
        "connector": _short(connector.name) or policy.name,
        "state": state,
        "network": network or None,
        "ip_cidr_range": connector.ip_cidr_range or None,
        "min_instances": low,
        "max_instances": high,
        "machine_type": connector.machine_type or None,
    }
    if waited_s:
        evidence["waited_s"] = round(waited_s, 1)
    failures: list[str] = []
    warnings: list[str] = []
    fixes: list[str] = []
    describe = _gcloud("describe", policy, region, project)

    if state in TRANSITIONAL:
        failures.append(f"still {state} after waiting {waited_s:.1f} s")
        fixes.append(f"Wait for the operation to finish, then rerun; watch it with: {describe}")
    elif state == "ERROR":
        failures.append("state ERROR, expected READY")
        fixes.append(
            f"A connector in ERROR cannot serve traffic; inspect it ({describe}), then delete and recreate it: "
            f"{_gcloud('delete', policy, region, project, '--quiet')} && "
            f"{_gcloud('create', policy, region, project, _create_flags(policy))}"
        )
    elif state == "DELETING":
        failures.append("state DELETING, expected READY")
        fixes.append(
            "The connector is being deleted; once it is gone, recreate it: "
            f"{_gcloud('create', policy, region, project, _create_flags(policy))}"
        )
    elif state != "READY":
        failures.append(f"state {state}, expected READY")
        fixes.append(f"Inspect the connector: {describe}")

    if not network and connector.subnet.name:
        warnings.append(f"uses subnet {connector.subnet.name}; its network could not be compared with {policy.network}")
        fixes.append(f"Confirm subnet {connector.subnet.name} belongs to network {policy.network}: {describe}")
    elif network != policy.network:
        failures.append(f"on network {network or '(none)'}, expected {policy.network}")
        fixes.append(
            "A connector's network cannot be changed: create one on the right network "
            f"({_gcloud('create', policy, region, project, _create_flags(policy))}) "
            f"or fix [vpc_connector] network if {network or 'the deployed one'} is intended"
        )

    if policy.ip_cidr_range and connector.ip_cidr_range and connector.ip_cidr_range != policy.ip_cidr_range:
        warnings.append(f"IP range {connector.ip_cidr_range}, policy {policy.ip_cidr_range}")
        fixes.append(
            f"The range cannot be changed in place: recreate the connector with --range {policy.ip_cidr_range}, "
            f'or set [vpc_connector] ip_cidr_range = "{connector.ip_cidr_range}" if the deployed range is intended'
        )
    wanted = f"policy at least min {policy.min_instances} / max {policy.max_instances}"
    if low is None or high is None:
        warnings.append(f"instance bounds not reported (min {low or '?'} / max {high or '?'}), {wanted}")
        fixes.append(f"Read the connector's bounds: {describe}")
    elif low < policy.min_instances or high < policy.max_instances:
        warnings.append(f"instances min {low} / max {high}, {wanted}")
        fixes.append(
            _gcloud(
                "update",
                policy,
                region,
                project,
                f"--min-instances {max(low, policy.min_instances)} --max-instances {max(high, policy.max_instances)}",
            )
        )

    name = f"connector {policy.name} ({region})"
    if failures:
        return Finding(Status.FAIL, f"{name}: " + "; ".join(failures + warnings), evidence, "\n".join(fixes))
    if warnings:
        return Finding(
            Status.WARN, f"{name} is READY but off policy: " + "; ".join(warnings), evidence, "\n".join(fixes)
        )
    where = connector.ip_cidr_range or f"subnet {connector.subnet.name or '(none reported)'}"
    return Finding(Status.PASS, f"{name} READY on {policy.network}, {where}, min {low} / max {high}", evidence)


def decide_connector_missing(
    policy: VpcConnectorConfig, region: str, project: str, existing: Sequence[Any] | None, listing_error: str = ""
) -> Finding:
    """Decide `vpc-connector` when the connector does not exist (the API answered 404).

    Args:
        policy: The configured connector.
        region: Region it was looked up in.
        project: Project id.
        existing: The connectors that do exist in the region (`vpcaccess_v1.Connector`), or None when listing
            them failed too.
        listing_error: Why listing failed, when it did.

    Returns:
        FAIL naming the connector looked for and the connectors found instead, with the command that creates it.
    """
    names = sorted(_short(c.name) for c in existing or ())
    if existing is None:
        found = f"the connectors in the region could not be listed ({listing_error or 'unknown error'})"
    elif names:
        shown = ", ".join(names[:LISTED_MAX]) + (f" +{len(names) - LISTED_MAX} more" if len(names) > LISTED_MAX else "")
        found = f"connectors in {region}: {shown}"
    else:
        found = f"no connector exists in {region}"
    summary = f"connector {policy.name} not found in {project}/{region}; {found}"
    remediation = (
        f"If one of the existing connectors is the right one, set [vpc_connector] name to it; otherwise create it: "
        f"{_gcloud('create', policy, region, project, _create_flags(policy))}"
    )
    evidence = {"looked_for": policy.name, "region": region, "existing": None if existing is None else names}
    return Finding(Status.FAIL, summary, evidence, remediation)


async def _get_connector(ctx: CheckContext) -> Any:
    from google.cloud import vpcaccess_v1

    name = ctx.clients.connector_name(ctx.config.vpc_connector.name)
    request = vpcaccess_v1.GetConnectorRequest(name=name)
    return await ctx.call("vpcaccess", f"connector {name}", ctx.clients.vpcaccess.get_connector, request=request)


async def _list_connectors(ctx: CheckContext) -> tuple[list[Any] | None, str]:
    """The first page of connectors in the region (one LIST call), or None and why it failed."""
    from google.cloud import vpcaccess_v1

    parent = ctx.clients.location()
    request = vpcaccess_v1.ListConnectorsRequest(parent=parent, page_size=100)
    what, fn = f"connectors in {parent}", ctx.clients.vpcaccess.list_connectors
    try:
        # A diagnostic read with its own counter: a 404 stays one attempt at the connector itself.
        listing = CallCounter()
        pager = await call_api(fn, request=request, deadline=ctx.deadline, timeout=ctx.timeout, counter=listing)
    except Exception as error:
        return None, classify_api_error("vpcaccess", what, error, listing.attempts, ctx.config.gcp.project).summary
    # Only the first page: iterating the pager would fetch more pages outside the call policy.
    return list(pager.connectors), ""


async def _first_read(ctx: CheckContext, shared: ConnectorReads | None) -> Any | None:
    """The connector, or None when it does not exist (404); read once with service-drift when `shared`."""
    if shared is None:
        try:
            return await _get_connector(ctx)
        except CheckAbort as abort:
            if abort.http_status != 404:
                raise
            return None
    return await shared.connector(ctx, ctx.clients.connector_name(ctx.config.vpc_connector.name))


async def _body(ctx: CheckContext, shared: ConnectorReads | None = None) -> CheckResult:
    policy, gcp = ctx.config.vpc_connector, ctx.config.gcp
    connector = await _first_read(ctx, shared)
    if connector is None:
        existing, why = await _list_connectors(ctx)
        return ctx.finish(decide_connector_missing(policy, gcp.region, gcp.project, existing, why))
    waited = 0.0
    if is_transitional(connector):
        connector, waited = await ctx.poll(connector, lambda: _get_connector(ctx), lambda c: not is_transitional(c))
    return ctx.finish(decide_connector(connector, policy, gcp.region, gcp.project, waited))


@check_task(CHECK_ID)
async def vpc_connector(
    config: RunbookConfig, clients: GoogleClients, connectors: ConnectorReads | None = None
) -> CheckResult:
    """P0: the Serverless VPC Access connector is READY on the expected network and sized as the policy asks.

    Cloud Run reaches the private IP of Cloud SQL (and Redis) only through this connector: when it is missing, in
    ERROR or on the wrong network, every database call of the backend and the auth service fails, whatever the
    services themselves look like. A connector being created or updated is waited for until the check's deadline.

    Reads `connectors.get` (and one `connectors.list` when the connector is not found).

    Args:
        config: The environment; `[vpc_connector]` holds the name, network, range and instance policy.
        clients: The Google client factory.
        connectors: Shares the first read of the connector with `service-drift`; None reads independently.

    Returns:
        The check's result; evidence holds the connector's state, network, range and instance bounds.

    Example:
        >>> result = await vpc_connector.fn(load_config("local"), GoogleClients(config.gcp))  # doctest: +SKIP
        >>> result.status
        <Status.PASS: 'PASS'>
    """
    return await run_check(CHECK_ID, config, clients, lambda ctx: _body(ctx, connectors))
