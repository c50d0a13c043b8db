"""Every check of the handoff plan: id, phase, severity, the Google API calls it makes, what else it reads, and
what it waits for.

The flows, `runbook plan`, the reports and Slack all take names and severities from here. `calls` is the list
reviewers approve IAM against (`runbook plan` shows it): tests/test_plan_calls.py runs every check against the
simulator and fails when a check calls a Google API method that its `calls` do not list, or lists one it never calls.
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from runbook.config.models import RunbookConfig
from runbook.results import Phase, Severity


def _always(config: RunbookConfig) -> bool:
    return True


@dataclass(frozen=True)
class ApiCall:
    """One Google API method a check calls.

    `api` is the client's name (vpcaccess, sqladmin, run, secretmanager, compute, monitoring); `method` is the
    method as Google's discovery document names it, without the `projects.`/`locations.` parents
    (`services.revisions.get` for run.projects.locations.services.revisions.get). `when` says when the call is
    made if not always, and `applies` whether a configuration ever makes it (a plan for a file in direct database
    mode leaves out the connector's calls); `role` is the least-privilege role when it is not the API's viewer
    role; `note` says what the call is for people who know it by another name.
    """

    api: str
    method: str
    when: str = ""
    role: str = ""
    note: str = ""
    applies: Callable[[RunbookConfig], bool] = field(default=_always, compare=False, repr=False)

    def __str__(self) -> str:
        detail = "; ".join(part for part in (self.note, self.when) if part)
        return f"{self.method} ({detail})" if detail else self.method


@dataclass(frozen=True)
class CheckSpec:
    """What a check is, before it runs."""

    id: str
    title: str
    phase: Phase
    severity: Severity
    verifies: str
    calls: tuple[ApiCall, ...] = ()  # every Google API method it may call
    reads: tuple[str, ...] = ()  # what else it reads (HTTPS, WebSocket, PostgreSQL)
    depends_on: tuple[str, ...] = ()

    def calls_for(self, config: RunbookConfig) -> list[ApiCall]:
        """The calls this check may make with `config` (a call whose condition the file rules out is left out)."""
        return [call for call in self.calls if call.applies(config)]

    def calls_by_api(self, config: RunbookConfig) -> dict[str, list[ApiCall]]:
        """The calls it may make with `config`, grouped by API, in declaration order."""
        grouped: dict[str, list[ApiCall]] = {}
        for call in self.calls_for(config):
            grouped.setdefault(call.api, []).append(call)
        return grouped


ON_404 = "after a 404, to name what exists"
CONNECTOR = "[database] mode = connector"


def _connector_mode(config: RunbookConfig) -> bool:
    return config.database.mode == "connector"


def _key_from_secret_manager(config: RunbookConfig) -> bool:
    golden = config.golden_path
    return golden.auth == "e2e-bypass" and not golden.bypass_key_block and bool(golden.bypass_key_secret)


# The one secret payload the runbook reads: the test user's E2E key, for a token (never logged or stored).
E2E_KEY = ApiCall(
    "secretmanager",
    "secrets.versions.access",
    "auth = e2e-bypass with bypass_key_secret",
    "roles/secretmanager.secretAccessor on that secret only",
    "the E2E key's payload",
    _key_from_secret_manager,
)
# cloud-sql-python-connector's two Cloud SQL Admin calls before its TLS connection to port 3307.
CONNECT_SETTINGS = ApiCall(
    "sqladmin", "connect.get", CONNECTOR, "roles/cloudsql.client", "connectSettings", _connector_mode
)
EPHEMERAL_CERT = ApiCall(
    "sqladmin",
    "connect.generateEphemeral",
    CONNECTOR,
    "roles/cloudsql.client",
    "generateEphemeralCert",
    _connector_mode,
)


_SPECS = (
    CheckSpec(
        "vpc-connector",
        "VPC connector",
        Phase.infrastructure,
        Severity.P0,
        "The Serverless VPC Access connector is READY on the expected network, sized as the policy asks.",
        calls=(ApiCall("vpcaccess", "connectors.get"), ApiCall("vpcaccess", "connectors.list", ON_404)),
    ),
    CheckSpec(
        "cloud-sql-instance",
        "Cloud SQL instance",
        Phase.infrastructure,
        Severity.P0,
        "The instance is RUNNABLE and activated, with a private IP on the expected network and SSL enforced.",
        calls=(ApiCall("sqladmin", "instances.get"), ApiCall("sqladmin", "instances.list", ON_404)),
    ),
    CheckSpec(
        "database-connectivity",
        "Database connectivity",
        Phase.infrastructure,
        Severity.P0,
        "A real connection and SELECT 1 within the profile's timeout.",
        calls=(CONNECT_SETTINGS, EPHEMERAL_CERT),
        reads=("postgresql: connect + SELECT 1",),
        depends_on=("cloud-sql-instance",),  # only when no host is configured
    ),
    CheckSpec(
        "secrets",
        "Secret Manager secrets",
        Phase.infrastructure,
        Severity.P1,
        "Every expected secret exists and its latest version is ENABLED. Payloads are never read.",
        calls=(
            ApiCall("secretmanager", "secrets.list"),
            ApiCall("secretmanager", "secrets.versions.get", note="latest, metadata only"),
        ),
    ),
    CheckSpec(
        "load-balancer",
        "Load balancer",
        Phase.infrastructure,
        Severity.P1,
        "Backend service timeouts are long enough for WebSockets; health checks meet the policy.",
        calls=(
            ApiCall("compute", "backendServices.get"),
            ApiCall("compute", "backendServices.getHealth"),
            ApiCall("compute", "healthChecks.get"),
            ApiCall("compute", "backendServices.list", ON_404),
            ApiCall("compute", "healthChecks.list", ON_404),
        ),
    ),
    CheckSpec(
        "service-drift",
        "Service configuration drift",
        Phase.infrastructure,
        Severity.P1,
        "Each Cloud Run service uses the configured connector, egress, Cloud SQL instances and existing secrets.",
        calls=(
            ApiCall("run", "services.get"),
            ApiCall("run", "services.list", ON_404),
            ApiCall("vpcaccess", "connectors.get", note="the connectors the revisions reference"),
            ApiCall("vpcaccess", "connectors.list", ON_404),
            ApiCall("secretmanager", "secrets.list"),
        ),
    ),
    CheckSpec(
        "monitoring",
        "Monitoring",
        Phase.infrastructure,
        Severity.P2,
        "The 5xx ratio of each service over the window is under the platform's alert threshold.",
        calls=(ApiCall("monitoring", "timeSeries.list", note="run.googleapis.com/request_count"),),
    ),
    CheckSpec(
        "redeploy",
        "Approved redeploy",
        Phase.restoration,
        Severity.P0,
        "Only with redeploy on and approved: rolls a new revision of each service and waits for the operation.",
        calls=(
            ApiCall("run", "services.get"),
            ApiCall("run", "services.patch", note="mutates", role="roles/run.developer"),
            ApiCall("run", "operations.get"),
            ApiCall("run", "services.revisions.get", note="the new revision"),
        ),
    ),
    CheckSpec(
        "cloud-run-ready",
        "Cloud Run services ready",
        Phase.restoration,
        Severity.P0,
        "Each service's Ready condition succeeded, its latest created revision is ready and serves the traffic.",
        calls=(ApiCall("run", "services.get"), ApiCall("run", "services.revisions.get", "a revision is not ready")),
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
        calls=(E2E_KEY,),
        reads=("https: auth token endpoint", "wss: backend /ws"),
        depends_on=("health-endpoints",),
    ),
    CheckSpec(
        "post-restore-monitoring",
        "Post-restore monitoring",
        Phase.restoration,
        Severity.P2,
        "The 5xx ratio of each service since the restoration started.",
        calls=(ApiCall("monitoring", "timeSeries.list", note="run.googleapis.com/request_count"),),
    ),
    CheckSpec(
        "golden-path",
        "Golden path",
        Phase.business,
        Severity.P0,
        "User login -> AI response: a token, the WebSocket, and every agent event up to a non-empty result.",
        calls=(E2E_KEY,),
        reads=("https: auth token endpoint", "wss: /ws"),
        depends_on=("health-endpoints",),
    ),
    CheckSpec(
        "performance",
        "Performance",
        Phase.business,
        Severity.P1,
        "p50/p95 of /health probes and of golden-path runs against the thresholds.",
        calls=(E2E_KEY,),
        reads=("https: backend /health", "https: auth token endpoint", "wss: /ws"),
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
