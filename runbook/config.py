"""The runbook's configuration: one validated, immutable model per target environment.

An environment lives in a TOML file (`environments/staging.toml` is the real one, `environments/local.toml` the
simulator). Every name the runbook looks for is configuration, because the platform's own scripts disagree about
names. Secret-bearing values never live here: fields ending in `_env` name an environment variable and fields ending
in `_block` name a Prefect Secret block.
"""

import ipaddress
import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

CHECK_IDS = (
    "vpc-connector",
    "cloud-sql-instance",
    "database-connectivity",
    "secrets",
    "load-balancer",
    "service-drift",
    "monitoring",
    "cloud-run-ready",
    "health-endpoints",
    "websocket-handshake",
    "redeploy",
    "post-restore-monitoring",
    "golden-path",
    "performance",
    "stakeholder-summary",
)

Seconds = Annotated[float, Field(gt=0, le=3600)]
ResourceName = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[a-z]([-a-z0-9_.:]*[a-z0-9])?$")]
EnvVarName = Annotated[str, Field(pattern=r"^[A-Z_][A-Z0-9_]*$", description="Name of an environment variable.")]


class Frozen(BaseModel):
    """Base of every config model: immutable, unknown keys are errors (a typo must not pass silently)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Profile(StrEnum):
    """Infrastructure-aware timeout profiles of the handoff plan."""

    staging = "staging"
    dev = "dev"


class Timeouts(Frozen):
    """How long the runbook waits. Defaults come from the profile; any field can be overridden."""

    database_connect_s: Seconds = Field(description="Connect plus `SELECT 1` on the database (staging 10 s, dev 5 s).")
    readiness_s: Seconds = Field(description="Readiness probes of the services (staging 60 s, dev 30 s).")
    e2e_s: Seconds = Field(description="End-to-end steps such as the WebSocket handshake (staging 60 s, dev 30 s).")
    golden_path_s: Seconds = Field(description="Whole golden path: login, WebSocket, every agent event (staging 90 s).")
    api_call_s: Seconds = Field(description="One Google API call (each retry attempt gets this much).")
    check_deadline_s: Seconds = Field(description="Hard deadline of one check, retries and polling included.")
    health_s: Seconds = Field(description="One basic health request (`/health`, expected under 2 s).")


PROFILE_TIMEOUTS: dict[Profile, dict[str, float]] = {
    Profile.staging: {
        "database_connect_s": 10,
        "readiness_s": 60,
        "e2e_s": 60,
        "golden_path_s": 90,
        "api_call_s": 10,
        "check_deadline_s": 120,
        "health_s": 10,
    },
    Profile.dev: {
        "database_connect_s": 5,
        "readiness_s": 30,
        "e2e_s": 30,
        "golden_path_s": 45,
        "api_call_s": 5,
        "check_deadline_s": 60,
        "health_s": 5,
    },
}


class CheckOverride(Frozen):
    """Per-check overrides under `[checks.<check-id>]`."""

    enabled: bool = Field(default=True, description="Run this check at all (a disabled check is reported SKIPPED).")
    deadline_s: Seconds | None = Field(default=None, description="This check's hard deadline instead of the profile's.")
    timeout_s: Seconds | None = Field(default=None, description="Per-call timeout instead of the profile's.")


class Endpoints(Frozen):
    """Per-API endpoint overrides. Set -> anonymous credentials against that address (the simulator).

    Unset -> Google's real endpoint with Application Default Credentials.
    """

    default: str | None = Field(default=None, description="Base URL used for every REST API not set below.")
    vpcaccess: str | None = Field(default=None, description="VPC Access API base URL.")
    sqladmin: str | None = Field(default=None, description="Cloud SQL Admin API base URL.")
    run: str | None = Field(default=None, description="Cloud Run Admin API v2 base URL.")
    secretmanager: str | None = Field(default=None, description="Secret Manager API base URL.")
    compute: str | None = Field(default=None, description="Compute Engine API base URL.")
    monitoring: str | None = Field(default=None, description="Cloud Monitoring gRPC target, `host:port` (plaintext).")

    @field_validator("default", "vpcaccess", "sqladmin", "run", "secretmanager", "compute")
    @classmethod
    def _rest_url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+(/.*)?$", value):
            raise ValueError(f"expected a URL such as http://127.0.0.1:8765, found {value!r}")
        return value.rstrip("/") if value else value

    @field_validator("monitoring")
    @classmethod
    def _grpc_target(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^[\w.\-]+:\d{1,5}$", value):
            raise ValueError(f"expected a gRPC target host:port such as 127.0.0.1:8766, found {value!r}")
        return value

    def for_api(self, api: str) -> str | None:
        """The override for `api`, falling back to `default` (REST APIs only)."""
        own: str | None = getattr(self, api)
        if api == "monitoring":
            return own
        return own or self.default

    @property
    def any_set(self) -> bool:
        return any(getattr(self, name) for name in type(self).model_fields)


class GcpConfig(Frozen):
    """The Google Cloud project under validation."""

    project: ResourceName = Field(description="Project id, e.g. netra-staging.")
    project_number: str | None = Field(
        default=None, pattern=r"^\d{6,20}$", description="Project number (Secret Manager names use it); optional."
    )
    region: str = Field(pattern=r"^[a-z]+-[a-z]+\d+$", description="Region of the connector and services.")
    endpoints: Endpoints = Field(default_factory=Endpoints, description="Per-API endpoint overrides.")


class VpcConnectorConfig(Frozen):
    """The Serverless VPC Access connector and the policy it must meet."""

    name: ResourceName = Field(description="Connector name, e.g. staging-connector.")
    network: ResourceName = Field(description="VPC network the connector must be on.")
    ip_cidr_range: str | None = Field(default=None, description="Expected /28 range; WARN when different.")
    min_instances: int = Field(default=2, ge=2, le=9, description="Policy: minInstances at least this (WARN below).")
    max_instances: int = Field(default=10, ge=3, le=1000, description="Policy: maxInstances at least this.")

    @field_validator("ip_cidr_range")
    @classmethod
    def _cidr(cls, value: str | None) -> str | None:
        if value is not None:
            ipaddress.ip_network(value)
        return value


class CloudSqlConfig(Frozen):
    """The Cloud SQL instance of the platform."""

    instance: ResourceName = Field(description="Instance name, e.g. netra-staging-db.")
    network: ResourceName = Field(description="VPC network its private IP must be on.")
    require_ssl: bool = Field(default=True, description="Policy: SSL/TLS enforced (WARN when not).")


class DatabaseConfig(Frozen):
    """A real connection to the database: `SELECT 1` within the profile's timeout."""

    mode: Literal["direct", "connector"] = Field(
        default="direct", description="`direct` to host:port, or through cloud-sql-python-connector."
    )
    host: str | None = Field(default=None, description="Host to connect to; unset -> the instance's private IP.")
    port: int = Field(default=5432, ge=1, le=65535, description="PostgreSQL port.")
    name: str = Field(min_length=1, description="Database name.")
    user: str = Field(min_length=1, description="Database user.")
    password_env: EnvVarName | None = Field(default=None, description="Environment variable holding the password.")
    password_block: str | None = Field(default=None, description="Prefect Secret block holding the password.")
    sslmode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] = Field(
        default="prefer", description="libpq sslmode for direct connections."
    )


class SecretsConfig(Frozen):
    """The secrets that must exist in Secret Manager with an ENABLED latest version."""

    expected: tuple[Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,255}$")], ...] = Field(
        min_length=1, description="Secret ids (not the env var names they are mounted as)."
    )
    concurrency: int = Field(default=8, ge=1, le=64, description="Parallel version lookups.")
    page_size: int = Field(default=100, ge=1, le=25000, description="Secrets listed per page.")

    @field_validator("expected")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        dupes = sorted({v for v in value if value.count(v) > 1})
        if dupes:
            raise ValueError(f"expected unique secret ids, found duplicates {dupes}")
        return value


class ServiceConfig(Frozen):
    """A Cloud Run service of the platform and what its revision must reference."""

    name: ResourceName = Field(description="Cloud Run service name.")
    role: Literal["backend", "auth", "frontend", "other"] = Field(description="What the service is in the platform.")
    url: str = Field(pattern=r"^https?://", description="Base URL the runbook probes (health, WebSocket).")
    vpc_connector: ResourceName | None = Field(default=None, description="Connector the service must use, if any.")
    vpc_egress: Literal["ALL_TRAFFIC", "PRIVATE_RANGES_ONLY"] | None = Field(
        default=None, description="Expected VPC egress setting (Cloud Run v2 enum)."
    )
    cloudsql_instances: tuple[str, ...] = Field(
        default=(), description="Connection names `project:region:instance` the service must mount."
    )
    secrets: tuple[str, ...] = Field(default=(), description="Secret ids its revision must reference.")
    health_paths: tuple[str, ...] = Field(default=("/health",), description="Health endpoints probed in phase 2.")
    load_balancer_backend: str | None = Field(default=None, description="Compute backend service fronting it.")
    traffic: Literal["latest", "any"] = Field(default="latest", description="Expected traffic: 100 % to latest.")

    @field_validator("health_paths")
    @classmethod
    def _paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for path in value:
            if not path.startswith("/"):
                raise ValueError(f"expected a path starting with '/', found {path!r}")
        return value


class BackendServicePolicy(Frozen):
    """A load balancer backend service and the timeout it needs."""

    name: ResourceName = Field(description="Compute backend service name.")
    min_timeout_s: int = Field(ge=1, le=86400, description="timeoutSec at least this (WebSockets need long ones).")


class HealthCheckPolicy(Frozen):
    """Policy every listed health check must meet (Compute requires timeoutSec <= checkIntervalSec)."""

    name: ResourceName = Field(description="Compute health check name.")
    max_timeout_s: int = Field(default=60, ge=1, le=300, description="timeoutSec at most this.")
    min_timeout_s: int = Field(default=1, ge=1, le=300, description="timeoutSec at least this.")
    max_interval_s: int = Field(default=60, ge=1, le=300, description="checkIntervalSec at most this.")
    max_unhealthy_threshold: int = Field(default=10, ge=1, le=10, description="unhealthyThreshold at most this.")
    min_unhealthy_threshold: int = Field(default=2, ge=1, le=10, description="unhealthyThreshold at least this.")
    max_healthy_threshold: int = Field(default=10, ge=1, le=10, description="healthyThreshold at most this.")

    @model_validator(mode="after")
    def _ranges(self) -> "HealthCheckPolicy":
        if self.min_timeout_s > self.max_timeout_s:
            raise ValueError(
                f"expected min_timeout_s <= max_timeout_s, found {self.min_timeout_s} > {self.max_timeout_s}"
            )
        if self.min_unhealthy_threshold > self.max_unhealthy_threshold:
            raise ValueError(
                "expected min_unhealthy_threshold <= max_unhealthy_threshold, found "
                f"{self.min_unhealthy_threshold} > {self.max_unhealthy_threshold}"
            )
        return self


class LoadBalancerConfig(Frozen):
    """The external load balancer's backend services and health checks."""

    backend_services: tuple[BackendServicePolicy, ...] = Field(default=(), description="Backend services to review.")
    health_checks: tuple[HealthCheckPolicy, ...] = Field(default=(), description="Health checks to review.")


class MonitoringConfig(Frozen):
    """Cloud Monitoring: 5xx ratio of each service (the platform alerts above 5 % over 300 s)."""

    window_s: int = Field(default=600, ge=60, le=86400, description="Window of requests looked at.")
    ingestion_delay_s: int = Field(default=180, ge=0, le=600, description="Cloud Run metrics arrive this late.")
    max_5xx_ratio: float = Field(default=0.05, gt=0, lt=1, description="Above this 5xx ratio the check warns.")
    min_requests: int = Field(default=1, ge=0, description="Fewer requests than this: no verdict on the ratio.")


class GoldenPathConfig(Frozen):
    """User login -> AI response over the WebSocket."""

    mode: Literal["strict", "lenient"] = Field(default="strict", description="All five events in order, or lenient.")
    auth: Literal["login", "e2e-bypass"] = Field(default="e2e-bypass", description="How the test user gets a token.")
    email: str = Field(min_length=3, description="Test user's email.")
    password_env: EnvVarName | None = Field(default=None, description="Env var with the test user's password.")
    bypass_key_secret: str | None = Field(
        default=None, description="Secret Manager secret holding the E2E bypass key (read only for this)."
    )
    bypass_key_block: str | None = Field(default=None, description="Prefect Secret block with the E2E bypass key.")
    message: str = Field(default="What is the status of my staging environment?", description="Message sent.")
    websocket_path: str = Field(default="/ws", description="WebSocket path on the backend.")

    @model_validator(mode="after")
    def _credentials_source(self) -> "GoldenPathConfig":
        if self.auth == "login" and not self.password_env:
            raise ValueError("expected password_env with auth = 'login', found none")
        if self.auth == "e2e-bypass" and not (self.bypass_key_secret or self.bypass_key_block):
            raise ValueError("expected bypass_key_secret or bypass_key_block with auth = 'e2e-bypass', found neither")
        return self


class PerformanceConfig(Frozen):
    """Latency probes of phase 3."""

    health_probes: int = Field(default=10, ge=1, le=1000, description="Number of `/health` probes.")
    golden_path_probes: int = Field(default=1, ge=0, le=50, description="Number of extra golden-path runs.")
    health_p95_ms: float = Field(default=2000, gt=0, description="p95 of `/health` at most this.")
    golden_path_p95_ms: float = Field(default=60000, gt=0, description="p95 of the golden path at most this.")


SLACK_ID_HELP = (
    "Slack pings only ids, a literal @handle notifies nobody. A user group's id: in Slack, People > User groups > "
    "the group > ⋯ (More) > Copy group ID, or the usergroups.list API; a person's: their profile > ⋯ (More) > "
    "Copy member ID"
)
_SLACK_ID = re.compile(r"[SUW][A-Z0-9]{6,20}")
_SLACK_MARKUP = re.compile(r"<(?:!subteam\^|@)([A-Z0-9]+)(?:\|[^>]*)?>")  # a mention pasted from a message


class TeamRoute(Frozen):
    """Who owns a phase in Slack: the user group (or person) pinged about its problems, and the team's channel.

    Slack notifies only `<!subteam^S...>` (a user group) and `<@U...>` (a member); a literal `@infra-oncall` in a
    message is plain text that pings nobody. So the route takes the id, and the handle only for people to read.
    """

    id: str = Field(
        description="User-group id (S0123ABCD) or member id (U0123ABCD, W0123ABCD) to ping. " + SLACK_ID_HELP + "."
    )
    handle: str = Field(
        pattern=r"^@?[A-Za-z0-9][A-Za-z0-9._-]{0,79}$",
        description="Readable handle shown with the mention and where nobody is pinged, e.g. @infra-oncall.",
    )
    channel: str | None = Field(default=None, description="The team's own channel for a short pointer.")

    @model_validator(mode="before")
    @classmethod
    def _no_literal_mention(cls, data: object) -> object:
        if isinstance(data, dict) and "mention" in data:
            raise ValueError(
                "expected `id` (a Slack user-group id S... or member id U.../W...) and `handle` instead of "
                f"`mention`, found mention = {data['mention']!r}: {SLACK_ID_HELP}"
            )
        return data

    @field_validator("id", mode="before")
    @classmethod
    def _slack_id(cls, value: object) -> object:
        if isinstance(value, str):
            markup = _SLACK_MARKUP.fullmatch(value.strip())
            candidate = markup.group(1) if markup else value.strip()
            if _SLACK_ID.fullmatch(candidate):
                return candidate
        raise ValueError(
            "expected a Slack user-group id (S0123ABCD) or member id (U0123ABCD, W0123ABCD), "
            f"found {value!r}: {SLACK_ID_HELP}"
        )

    @field_validator("handle")
    @classmethod
    def _at_handle(cls, value: str) -> str:
        return value if value.startswith("@") else f"@{value}"

    @property
    def mention(self) -> str:
        """The markup that pings: `<!subteam^S0123ABCD|@infra-oncall>` for a group, `<@U0123ABCD>` for a person."""
        if self.id.startswith("S"):
            return f"<!subteam^{self.id}|{self.handle}>"
        return f"<@{self.id}>"


class ChatOpsConfig(Frozen):
    """Slack ChatOps (`runbook slack-bot`, Socket Mode): who may approve a redeploy, and the app-level token.

    The app-level token (xapp-...) opens the Socket Mode connection; the bot token is `[slack] token_env` /
    `token_block`. Neither is ever in this file.
    """

    approvers: tuple[str, ...] = Field(
        min_length=1,
        description="Who may approve or reject a redeploy of this environment: Slack member ids (U0123ABCD, W0123ABCD) "
        "or user-group ids (S0123ABCD, members checked with usergroups.users.list). " + SLACK_ID_HELP + ".",
    )
    app_token_env: EnvVarName | None = Field(
        default="SLACK_APP_TOKEN", description="Env var with the app-level token (xapp-..., scope connections:write)."
    )
    app_token_block: str | None = Field(default=None, description="Prefect Secret block with the app-level token.")
    command: str = Field(
        default="/runbook", pattern=r"^/[a-z0-9_-]{1,31}$", description="The slash command the app defines."
    )
    runners: tuple[str, ...] = Field(
        default=(),
        description="Who may start runs (slash command, Rerun button): ids like `approvers`; empty: anyone in the "
        "workspace (runs are read-only; a redeploy still waits for an approver).",
    )
    deployment: str = Field(
        default="staging-handoff/manual",
        pattern=r"^[^/\s]+/[^/\s]+$",
        description="The deployment a slash command or a Rerun button starts (flow name/deployment name).",
    )

    @field_validator("approvers", "runners", mode="before")
    @classmethod
    def _slack_ids(cls, value: object) -> object:
        if not isinstance(value, list | tuple):
            return value
        ids = []
        for item in value:
            markup = _SLACK_MARKUP.fullmatch(item.strip()) if isinstance(item, str) else None
            candidate = markup.group(1) if markup else (item.strip() if isinstance(item, str) else item)
            if not isinstance(candidate, str) or not _SLACK_ID.fullmatch(candidate):
                raise ValueError(
                    "expected Slack member ids (U0123ABCD, W0123ABCD) or user-group ids (S0123ABCD), "
                    f"found {item!r}: {SLACK_ID_HELP}"
                )
            ids.append(candidate)
        return tuple(dict.fromkeys(ids))


class SlackConfig(Frozen):
    """Where progress goes. The token is never here: env var or Prefect Secret block."""

    enabled: bool = Field(default=True, description="Post to Slack at all.")
    api_base_url: str = Field(default="https://slack.com/api/", description="Slack Web API base URL.")
    token_env: EnvVarName | None = Field(default="SLACK_BOT_TOKEN", description="Env var with the bot token.")
    token_block: str | None = Field(default=None, description="Prefect Secret block with the bot token.")
    webhook_url_env: EnvVarName | None = Field(default=None, description="Env var with an incoming webhook URL.")
    channel: str = Field(default="#staging-deploys", description="Runbook channel (the parent message).")
    stakeholder_channel: str | None = Field(default=None, description="Channel for the stakeholder summary.")
    quiet: bool = Field(default=False, description="A passing run mentions nobody (the nightly schedule).")
    next_update: str = Field(
        default="when the runbook runs again after the fix",
        min_length=1,
        max_length=300,
        description="Told to stakeholders when a run stops before business validation: when they hear next.",
    )
    infrastructure: TeamRoute | None = Field(
        default=None, description='Infrastructure team (phase 1): `{ id = "S0123ABCD", handle = "@infra-oncall" }`.'
    )
    platform: TeamRoute | None = Field(default=None, description="Platform team (phase 2), like `infrastructure`.")
    product: TeamRoute | None = Field(default=None, description="Product team (phase 3), like `infrastructure`.")
    chatops: ChatOpsConfig | None = Field(
        default=None, description="Approvals and commands from Slack (`runbook slack-bot`, Socket Mode); unset: off."
    )


class RunbookConfig(Frozen):
    """One target environment, validated and immutable."""

    name: str = Field(pattern=r"^[a-z][a-z0-9-]*$", description="Environment name, e.g. staging.")
    profile: Profile = Field(default=Profile.staging, description="Timeout profile: staging or dev.")
    timeouts: Timeouts = Field(description="Effective timeouts (the profile's, with `[timeouts]` overrides).")
    checks: dict[str, CheckOverride] = Field(default_factory=dict, description="Per-check overrides by check id.")
    gcp: GcpConfig
    vpc_connector: VpcConnectorConfig
    cloud_sql: CloudSqlConfig
    database: DatabaseConfig
    secrets: SecretsConfig
    services: tuple[ServiceConfig, ...] = Field(min_length=1, description="Cloud Run services of the platform.")
    load_balancer: LoadBalancerConfig = Field(default_factory=LoadBalancerConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    golden_path: GoldenPathConfig
    performance: PerformanceConfig = Field(default_factory=PerformanceConfig)
    slack: SlackConfig = Field(default_factory=SlackConfig)

    @model_validator(mode="before")
    @classmethod
    def _apply_profile(cls, data: object) -> object:
        if isinstance(data, dict):
            profile = data.get("profile", Profile.staging.value)
            overrides = data.get("timeouts", {})
            if profile in PROFILE_TIMEOUTS and isinstance(overrides, dict):
                data = {**data, "timeouts": {**PROFILE_TIMEOUTS[Profile(profile)], **overrides}}
        return data

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, value: dict[str, CheckOverride]) -> dict[str, CheckOverride]:
        unknown = sorted(set(value) - set(CHECK_IDS))
        if unknown:
            raise ValueError(f"expected check ids from {list(CHECK_IDS)}, found {unknown}")
        return value

    @model_validator(mode="after")
    def _unique_services(self) -> "RunbookConfig":
        names = [s.name for s in self.services]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"expected unique service names, found duplicates {dupes}")
        return self

    def service(self, role: str) -> ServiceConfig | None:
        """The first service with this role (backend, auth, frontend)."""
        return next((s for s in self.services if s.role == role), None)

    def check_deadline(self, check_id: str) -> float:
        override = self.checks.get(check_id)
        return (override.deadline_s if override and override.deadline_s else None) or self.timeouts.check_deadline_s

    def call_timeout(self, check_id: str) -> float:
        override = self.checks.get(check_id)
        return (override.timeout_s if override and override.timeout_s else None) or self.timeouts.api_call_s

    def check_enabled(self, check_id: str) -> bool:
        override = self.checks.get(check_id)
        return override.enabled if override else True
