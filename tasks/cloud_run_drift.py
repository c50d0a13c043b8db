"""Cloud Run: the deployed services' settings against the configuration, decided (`service-drift`). Pure, no I/O.

Each configured service's revision template -- VPC connector, VPC egress, Cloud SQL instances and the secrets it
references -- is compared with the configuration, and every referenced VPC connector and secret with what exists.
The platform's own scripts disagree about these names (see reference/netra-staging.md), so naming each disagreement
is the point. The reads and the check task are in tasks/cloud_run.py.
"""

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from runbook.checks import Finding
from runbook.config.models import ServiceConfig
from runbook.results import Status
from tasks.secret_manager import listed, short_name

CLOUDSQL_ANNOTATION = "run.googleapis.com/cloudsql-instances"
EGRESS_FLAGS = {"ALL_TRAFFIC": "all-traffic", "PRIVATE_RANGES_ONLY": "private-ranges-only"}
DEFAULT_EGRESS = "PRIVATE_RANGES_ONLY"  # what Cloud Run applies when a template leaves egress unspecified
SHOWN = 4  # disagreements spelled out in the one-line summary before "+N more"


@dataclass(frozen=True)
class DeployedSettings:
    """What a service's revision template says, in the configuration's terms."""

    connector: str | None  # short name
    direct_vpc: bool  # Direct VPC egress (network interfaces) instead of a connector
    egress: str | None  # VpcEgress enum name (Cloud Run's default when unset); None without any VPC access
    cloudsql_instances: tuple[str, ...]
    secrets: tuple[str, ...]  # as referenced: `id` or `projects/P/secrets/id`
    connector_ref: str | None = None  # as referenced: a short name or `projects/P/locations/R/connectors/N`
    egress_unset: bool = False  # the template leaves egress out: DEFAULT_EGRESS applies


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
    unset = egress == "VPC_EGRESS_UNSPECIFIED"  # VpcAccess.egress left out: "defaults to PRIVATE_RANGES_ONLY"
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
    return DeployedSettings(
        connector,
        direct_vpc,
        DEFAULT_EGRESS if unset else egress,
        _unique(instances),
        _unique(secrets),
        vpc.connector or None,
        egress_unset=unset,
    )


def connector_resource(reference: str, project: str, region: str) -> str:
    """The full name of a revision's connector reference.

    Cloud Run v2 takes `template.vpcAccess.connector` either as `projects/P/locations/R/connectors/N` (P an id or a
    number) or as a bare name, which means a connector in the service's own project and region.
    """
    if reference.startswith("projects/"):
        return reference.rstrip("/")
    return f"projects/{project}/locations/{region}/connectors/{reference}"


def _connector_elsewhere(resource: str, project: str, region: str, project_number: str | None) -> str | None:
    """Where a connector lives when that is not this project and region (None when it is ours)."""
    parts = resource.split("/")
    if len(parts) != 6 or parts[0] != "projects" or parts[2] != "locations" or parts[4] != "connectors":
        return f"an unrecognised reference {resource!r}"
    ours = parts[1] in (project, project_number) or (project_number is None and parts[1].isdigit())
    if ours and parts[3] == region:
        return None
    return f"projects/{parts[1]}/locations/{parts[3]}"


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
    *,
    region: str | None = None,
    connectors: Mapping[str, bool] | None = None,
) -> list[Drift]:
    """Every disagreement of one service with its configuration (empty when it matches).

    FAIL for what breaks the service (wrong or missing connector, a connector of the configured name in another
    project or region, a referenced connector that does not exist, wrong egress, a configured Cloud SQL instance
    or secret not mounted, a referenced secret that does not exist); WARN for extras the configuration does not
    list (a connector where none is configured, an additional Cloud SQL instance). `existing_secrets` None: not
    verified. `connectors` maps full connector names to whether they exist; a name not in it was not verified.
    `region` None: the connector's project and region are not compared.
    """
    name = expected.name
    drifts: list[Drift] = []
    want_egress = expected.vpc_egress
    resource = connector_resource(deployed.connector_ref, project, region or "") if deployed.connector_ref else None
    elsewhere = (
        _connector_elsewhere(resource, project, region, project_number) if resource and region is not None else None
    )
    if expected.vpc_connector and deployed.connector == expected.vpc_connector and elsewhere:
        text = (
            f"{name} uses connector {deployed.connector_ref} ({elsewhere}), config says {expected.vpc_connector} "
            f"in projects/{project}/locations/{region}"
        )
        drifts.append(Drift(name, text, (f"--vpc-connector {expected.vpc_connector}",)))
    elif expected.vpc_connector and deployed.connector != expected.vpc_connector:
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
    if resource and connectors is not None and connectors.get(resource) is False:
        short = short_name(resource)
        text = f"{name} references VPC connector {resource}, which does not exist"
        where = resource.rsplit("/connectors/", 1)[0]
        parts = where.split("/")
        command = (
            f"Create connector {short} (gcloud compute networks vpc-access connectors create {short} --region "
            f"{parts[-1]} --project {parts[1]} --network NETWORK --range CIDR_28) or deploy {name} with an existing one"
            if len(parts) == 4
            else f"Deploy {name} with an existing VPC connector"
        )
        fix_flags: tuple[str, ...] = (f"--vpc-connector {expected.vpc_connector}",) if expected.vpc_connector else ()
        if expected.vpc_connector and short == expected.vpc_connector:
            fix_flags = ()  # the configured connector itself is missing: creating it is the fix, not an update
        drifts.append(Drift(name, text, fix_flags, command=command))
    if want_egress and deployed.egress is not None and deployed.egress != want_egress:
        unset = " (unset: Cloud Run's default)" if deployed.egress_unset else ""
        text = f"{name} uses VPC egress {deployed.egress}{unset}, config says {want_egress}"
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
    secrets_remediation: str = ""  # e.g. the role to grant when listing secrets was denied
    connectors: Mapping[str, bool] = field(default_factory=dict)  # full connector name -> exists
    connectors_error: str = ""  # why the referenced connectors' existence was not verified
    connectors_remediation: str = ""
    existing_connectors: Sequence[str] = ()  # the region's connectors, read only when a referenced one is missing


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
        that exist); WARN when only extras were found, or when everything that could be compared matches but a
        lookup was denied or failed (whether referenced secrets or VPC connectors exist): the summary says what was
        compared and what was not, and the remediation how to let the runbook see it.
    """
    drifts: list[Drift] = []
    evidence: dict[str, Any] = {"services": {}}
    compared = 0
    for expected in configured:
        service = inputs.services.get(expected.name)
        if service is None:
            there = ", ".join(inputs.existing_services) or "none"
            text = f"service {expected.name} not found in {region} (existing: {there})"
            command = f"Deploy {expected.name} to {region}, or fix [[services]] name = {expected.name!r} in the config."
            drifts.append(Drift(expected.name, text, command=command))
            evidence["services"][expected.name] = "not found"
            continue
        compared += 1
        deployed = deployed_settings(service)
        drifts += service_drift(
            expected,
            deployed,
            inputs.existing_secrets,
            project,
            project_number,
            region=region,
            connectors=inputs.connectors,
        )
        evidence["services"][expected.name] = {
            "connector": deployed.connector,
            "egress": deployed.egress,
            "cloudsql_instances": list(deployed.cloudsql_instances),
            "secrets_referenced": len(deployed.secrets),
        }
    missing_connectors = [name for name, exists in inputs.connectors.items() if not exists]
    if missing_connectors:
        evidence["connectors_missing"] = missing_connectors
        evidence["connectors_in_region"] = list(inputs.existing_connectors)
    not_verified: dict[str, str] = {}
    if inputs.connectors_error:
        not_verified["connectors"] = inputs.connectors_error
    if inputs.existing_secrets is None:
        not_verified["secrets"] = inputs.secrets_error or "secret list unavailable"
    if not_verified:
        evidence["not_verified"] = not_verified
    evidence["drift"] = [d.text for d in drifts]
    remediation = _remediation(drifts, project, region)
    access = "\n".join(
        fix for fix in (inputs.connectors_remediation, inputs.secrets_remediation) if fix and not_verified
    )
    unverified = "; ".join(
        f"whether referenced {'VPC connectors' if what == 'connectors' else 'secrets'} exist ({why})"
        for what, why in not_verified.items()
    )
    failures = [d for d in drifts if d.status == Status.FAIL]
    if failures:
        summary = _summary(drifts) + (f"; not verified: {unverified}" if unverified else "")
        return Finding(Status.FAIL, summary, evidence, "\n".join(filter(None, (remediation, access))))
    if not_verified:
        checked = (
            "connector, egress, Cloud SQL and secret references"
            + ("" if "connectors" in not_verified else ", connectors exist")
            + ("" if "secrets" in not_verified else ", secrets exist")
        )
        summary = f"{compared} of {len(configured)} services match the configuration ({checked}); not verified: "
        summary += unverified + ("; " + _summary(drifts) if drifts else "")
        return Finding(Status.WARN, summary, evidence, "\n".join(filter(None, (remediation, access))))
    if drifts:
        return Finding(Status.WARN, _summary(drifts), evidence, remediation)
    return Finding(
        Status.PASS,
        f"all {len(configured)} services match the configuration (connector exists, egress, Cloud SQL, secrets)",
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
