"""Every check of the handoff plan: id, phase, severity, what it reads and what it waits for.

The flows, `runbook plan`, the reports and Slack all take names and severities from here.
"""

from dataclasses import dataclass

from runbook.results import Phase, Severity


@dataclass(frozen=True)
class CheckSpec:
    """What a check is, before it runs."""

    id: str
    title: str
    phase: Phase
    severity: Severity
    verifies: str
    reads: tuple[str, ...] = ()
    depends_on: tuple[str, ...] = ()


_SPECS = (
    CheckSpec(
        "vpc-connector",
        "VPC connector",
        Phase.infrastructure,
        Severity.P0,
        "The Serverless VPC Access connector is READY on the expected network, sized as the policy asks.",
        reads=("vpcaccess: connectors.get (connectors.list on 404)",),
    ),
    CheckSpec(
        "cloud-sql-instance",
        "Cloud SQL instance",
        Phase.infrastructure,
        Severity.P0,
        "The instance is RUNNABLE and activated, with a private IP on the expected network and SSL enforced.",
        reads=("sqladmin: instances.get (instances.list on 404)",),
    ),
    CheckSpec(
        "database-connectivity",
        "Database connectivity",
        Phase.infrastructure,
        Severity.P0,
        "A real connection and SELECT 1 within the profile's timeout.",
        reads=("postgresql: connect + SELECT 1",),
        depends_on=("cloud-sql-instance",),  # only when no host is configured
    ),
    CheckSpec(
        "secrets",
        "Secret Manager secrets",
        Phase.infrastructure,
        Severity.P1,
        "Every expected secret exists and its latest version is ENABLED. Payloads are never read.",
        reads=("secretmanager: secrets.list, secrets.versions.get(latest)",),
    ),
    CheckSpec(
        "load-balancer",
        "Load balancer",
        Phase.infrastructure,
        Severity.P1,
        "Backend service timeouts are long enough for WebSockets; health checks meet the policy.",
        reads=("compute: backendServices.get, backendServices.getHealth, healthChecks.get",),
    ),
    CheckSpec(
        "service-drift",
        "Service configuration drift",
        Phase.infrastructure,
        Severity.P1,
        "Each Cloud Run service uses the configured connector, egress, Cloud SQL instances and existing secrets.",
        reads=(
            "run: services.get",
            "vpcaccess: connectors.get (connectors.list on 404)",
            "secretmanager: secrets.list",
        ),
    ),
    CheckSpec(
        "monitoring",
        "Monitoring",
        Phase.infrastructure,
        Severity.P2,
        "The 5xx ratio of each service over the window is under the platform's alert threshold.",
        reads=("monitoring: timeSeries.list run.googleapis.com/request_count",),
    ),
    CheckSpec(
        "redeploy",
        "Approved redeploy",
        Phase.restoration,
        Severity.P0,
        "Only with redeploy on and approved: rolls a new revision of each service and waits for the operation.",
        reads=("run: services.get, services.patch (mutates), operations.get",),
    ),
    CheckSpec(
        "cloud-run-ready",
        "Cloud Run services ready",
        Phase.restoration,
        Severity.P0,
        "Each service's Ready condition succeeded, its latest created revision is ready and serves the traffic.",
        reads=("run: services.get",),
        depends_on=("redeploy",),  # only when a redeploy runs
    ),
    CheckSpec(
        "health-endpoints",
        "Health endpoints",
        Phase.restoration,
        Severity.P0,
        "Backend /health, /health/ready (and /health/infrastructure), auth /health/ready with the database connected.",
        reads=("https: service health endpoints",),
    ),
    CheckSpec(
        "websocket-handshake",
        "WebSocket handshake",
        Phase.restoration,
        Severity.P1,
        "The backend's /ws accepts a valid token and sends connection_established.",
        reads=("https: auth token endpoint", "wss: backend /ws"),
        depends_on=("health-endpoints",),
    ),
    CheckSpec(
        "post-restore-monitoring",
        "Post-restore monitoring",
        Phase.restoration,
        Severity.P2,
        "The 5xx ratio of each service since the restoration started.",
        reads=("monitoring: timeSeries.list run.googleapis.com/request_count",),
    ),
    CheckSpec(
        "golden-path",
        "Golden path",
        Phase.business,
        Severity.P0,
        "User login -> AI response: a token, the WebSocket, and every agent event up to a non-empty result.",
        reads=("https: auth token endpoint", "secretmanager: E2E key payload (only if configured)", "wss: /ws"),
        depends_on=("health-endpoints",),
    ),
    CheckSpec(
        "performance",
        "Performance",
        Phase.business,
        Severity.P1,
        "p50/p95 of /health probes and of golden-path runs against the thresholds.",
        reads=("https: backend /health", "wss: /ws"),
        depends_on=("golden-path",),
    ),
    CheckSpec(
        "stakeholder-summary",
        "Stakeholder summary",
        Phase.business,
        Severity.P2,
        "The run's summary for stakeholders, attached to the report.",
        depends_on=("golden-path", "performance"),
    ),
)

CATALOG: dict[str, CheckSpec] = {spec.id: spec for spec in _SPECS}


def phase_checks(phase: Phase) -> list[CheckSpec]:
    return [spec for spec in _SPECS if spec.phase == phase]
