"""The runbook's configuration: one validated, immutable model per target environment.

An environment lives in a TOML file (`environments/staging.toml` is the real one, `environments/local.toml` the
simulator). Every name the runbook looks for is configuration, because the platform's own scripts disagree about
names. Secret-bearing values never live here: fields ending in `_env` name an environment variable and fields ending
in `_block` name a Prefect Secret block.
"""

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator
from pydantic_core import InitErrorDetails

from runbook.config.slack_models import SlackConfig, slack_value_problems
from runbook.config.timeouts import CHECK_IDS, PHASE_CHECKS, PROFILE_TIMEOUTS, CheckOverride, Profile, Timeouts
from runbook.config.validators import (
    ENVIRONMENT_PATTERN,
    MAX_ITEMS,
    MAX_SECRETS,
    MAX_SERVICES,
    PROJECT_NUMBER_PATTERN,
    PROJECT_PATTERN,
    REGION_PATTERN,
    RESOURCE_PATTERN,
    BlockName,
    Cidr28,
    ConnectionName,
    ConnectorName,
    DbIdentifier,
    Email,
    EnvVarName,
    Frozen,
    GrpcTarget,
    HostName,
    HttpUrl,
    ResourceName,
    SecretId,
    ServiceName,
    UrlPath,
    at_most,
    duplicate_errors,
    raise_rule_errors,
    rule_error,
)


class Endpoints(Frozen):
    """Per-API endpoint overrides. Set -> anonymous credentials against that address (the simulator).

    Unset -> Google's real endpoint with Application Default Credentials.
    """

    default: HttpUrl | None = Field(default=None, description="Base URL used for every REST API not set below.")
    vpcaccess: HttpUrl | None = Field(default=None, description="VPC Access API base URL.")
    sqladmin: HttpUrl | None = Field(default=None, description="Cloud SQL Admin API base URL.")
    run: HttpUrl | None = Field(default=None, description="Cloud Run Admin API v2 base URL.")
    secretmanager: HttpUrl | None = Field(default=None, description="Secret Manager API base URL.")
    compute: HttpUrl | None = Field(default=None, description="Compute Engine API base URL.")
    monitoring: GrpcTarget | None = Field(
        default=None, description="Cloud Monitoring gRPC target, `host:port` (plaintext)."
    )

    @field_validator("default", "vpcaccess", "sqladmin", "run", "secretmanager", "compute")
    @classmethod
    def _no_trailing_slash(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else value

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

    project: str = Field(max_length=64, pattern=PROJECT_PATTERN, description="Project id, e.g. netra-staging.")
    project_number: str | None = Field(
        default=None,
        pattern=PROJECT_NUMBER_PATTERN,
        description="Project number (Secret Manager names use it); optional.",
    )
    region: str = Field(max_length=32, pattern=REGION_PATTERN, description="Region of the connector and services.")
    endpoints: Endpoints = Field(default_factory=Endpoints, description="Per-API endpoint overrides.")


class VpcConnectorConfig(Frozen):
    """The Serverless VPC Access connector and the policy it must meet."""

    name: ConnectorName = Field(description="Connector name (at most 25 characters), e.g. staging-connector.")
    network: ResourceName = Field(description="VPC network the connector must be on.")
    ip_cidr_range: Cidr28 | None = Field(default=None, description="Expected /28 range; WARN when different.")
    min_instances: int = Field(default=2, ge=2, le=9, description="Policy: minInstances at least this (WARN below).")
    max_instances: int = Field(default=10, ge=3, le=1000, description="Policy: maxInstances at least this.")

    @model_validator(mode="after")
    def _min_within_max(self) -> "VpcConnectorConfig":
        if self.min_instances > self.max_instances:
            expected = f"at most max_instances ({self.max_instances})"
            raise_rule_errors("VpcConnectorConfig", [rule_error(("min_instances",), expected, f"{self.min_instances}")])
        return self


class CloudSqlConfig(Frozen):
    """The Cloud SQL instance of the platform."""

    instance: str = Field(
        min_length=1, max_length=98, pattern=RESOURCE_PATTERN, description="Instance name, e.g. netra-staging-db."
    )
    network: ResourceName = Field(description="VPC network its private IP must be on.")
    require_ssl: bool = Field(default=True, description="Policy: SSL/TLS enforced (WARN when not).")


class DatabaseConfig(Frozen):
    """A real connection to the database: `SELECT 1` within the profile's timeout."""

    mode: Literal["direct", "connector"] = Field(
        default="direct", description="`direct` to host:port, or through cloud-sql-python-connector."
    )
    host: HostName | None = Field(
        default=None, description="Host name or IP to connect to; unset -> the instance's private IP."
    )
    port: int = Field(default=5432, ge=1, le=65535, description="PostgreSQL port.")
    name: DbIdentifier = Field(description="Database name.")
    user: DbIdentifier = Field(description="Database user (no password: that comes from password_env/_block).")
    password_env: EnvVarName | None = Field(default=None, description="Environment variable holding the password.")
    password_block: BlockName | None = Field(default=None, description="Prefect Secret block holding the password.")
    sslmode: Literal["disable", "prefer", "require", "verify-ca", "verify-full"] = Field(
        default="prefer", description="libpq sslmode for direct connections."
    )

    @model_validator(mode="after")
    def _one_password_source(self) -> "DatabaseConfig":
        if self.password_env and self.password_block:
            expected = "password_env or password_block, not both (which one is read would be undefined)"
            raise_rule_errors("DatabaseConfig", [rule_error(("password_block",), expected, "both set")])
        return self


class SecretsConfig(Frozen):
    """The secrets that must exist in Secret Manager with an ENABLED latest version."""

    expected: Annotated[tuple[SecretId, ...], at_most(MAX_SECRETS, at_least=1)] = Field(
        strict=False,
        json_schema_extra={"minItems": 1},
        description="Secret ids (not the env var names they are mounted as).",
    )
    concurrency: int = Field(default=8, ge=1, le=64, description="Parallel version lookups.")
    page_size: int = Field(default=100, ge=1, le=25000, description="Secrets listed per page.")

    @field_validator("expected")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        raise_rule_errors("SecretsConfig", duplicate_errors(value, (), None, "secret id"))
        return value


class ServiceConfig(Frozen):
    """A Cloud Run service of the platform and what its revision must reference."""

    name: ServiceName = Field(description="Cloud Run service name (at most 49 characters).")
    role: Literal["backend", "auth", "frontend", "other"] = Field(
        description="What the service is in the platform (one backend and one auth service at most)."
    )
    url: HttpUrl = Field(description="Base URL the runbook probes (health, WebSocket).")
    vpc_connector: ConnectorName | None = Field(default=None, description="Connector the service must use, if any.")
    vpc_egress: Literal["ALL_TRAFFIC", "PRIVATE_RANGES_ONLY"] | None = Field(
        default=None, description="Expected VPC egress setting (Cloud Run v2 enum)."
    )
    cloudsql_instances: Annotated[tuple[ConnectionName, ...], at_most(MAX_ITEMS)] = Field(
        default=(), strict=False, description="Connection names `project:region:instance` the service must mount."
    )
    secrets: Annotated[tuple[SecretId, ...], at_most(MAX_SECRETS)] = Field(
        default=(), strict=False, description="Secret ids its revision must reference."
    )
    health_paths: Annotated[tuple[UrlPath, ...], at_most(MAX_ITEMS)] = Field(
        default=("/health",), strict=False, description="Health endpoints probed in phase 2."
    )
    load_balancer_backend: ResourceName | None = Field(
        default=None, description="Compute backend service fronting it (listed in [load_balancer] backend_services)."
    )
    traffic: Literal["latest", "any"] = Field(default="latest", description="Expected traffic: 100 % to latest.")

    @field_validator("health_paths")
    @classmethod
    def _paths_once(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        raise_rule_errors("ServiceConfig", duplicate_errors(value, (), None, "health path"))
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
        problems = []
        if self.min_timeout_s > self.max_timeout_s:
            expected = f"at most max_timeout_s ({self.max_timeout_s})"
            problems.append(rule_error(("min_timeout_s",), expected, str(self.min_timeout_s)))
        if self.min_unhealthy_threshold > self.max_unhealthy_threshold:
            expected = f"at most max_unhealthy_threshold ({self.max_unhealthy_threshold})"
            problems.append(rule_error(("min_unhealthy_threshold",), expected, str(self.min_unhealthy_threshold)))
        raise_rule_errors("HealthCheckPolicy", problems)
        return self


class LoadBalancerConfig(Frozen):
    """The external load balancer's backend services and health checks."""

    backend_services: Annotated[tuple[BackendServicePolicy, ...], at_most(MAX_SERVICES)] = Field(
        default=(), strict=False, description="Backend services to review (each name once)."
    )
    health_checks: Annotated[tuple[HealthCheckPolicy, ...], at_most(MAX_SERVICES)] = Field(
        default=(), strict=False, description="Health checks to review (each name once)."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> "LoadBalancerConfig":
        problems = duplicate_errors((b.name for b in self.backend_services), ("backend_services",), "name", "name")
        problems += duplicate_errors((h.name for h in self.health_checks), ("health_checks",), "name", "name")
        raise_rule_errors("LoadBalancerConfig", problems)
        return self


class MonitoringConfig(Frozen):
    """Cloud Monitoring: 5xx ratio of each service (the platform alerts above 5 % over 300 s)."""

    window_s: int = Field(default=600, ge=60, le=86400, description="Window of requests looked at.")
    ingestion_delay_s: int = Field(default=180, ge=0, le=600, description="Cloud Run metrics arrive this late.")
    max_5xx_ratio: float = Field(
        default=0.05, gt=0, lt=1, allow_inf_nan=False, description="Above this 5xx ratio the check warns."
    )
    min_requests: int = Field(
        default=1, ge=0, le=1_000_000_000, description="Fewer requests than this: no verdict on the ratio."
    )


class GoldenPathConfig(Frozen):
    """User login -> AI response over the WebSocket."""

    mode: Literal["strict", "lenient"] = Field(default="strict", description="All five events in order, or lenient.")
    auth: Literal["login", "e2e-bypass"] = Field(default="e2e-bypass", description="How the test user gets a token.")
    email: Email = Field(description="Test user's email.")
    password_env: EnvVarName | None = Field(default=None, description="Env var with the test user's password.")
    bypass_key_secret: SecretId | None = Field(
        default=None, description="Secret Manager secret id holding the E2E bypass key (read only for this)."
    )
    bypass_key_block: BlockName | None = Field(
        default=None, description="Prefect Secret block with the E2E bypass key."
    )
    message: str = Field(
        default="What is the status of my staging environment?",
        min_length=1,
        max_length=4000,
        description="Message sent.",
    )
    websocket_path: UrlPath = Field(default="/ws", description="WebSocket path on the backend.")

    @model_validator(mode="after")
    def _credentials_source(self) -> "GoldenPathConfig":
        if self.auth == "login" and not self.password_env:
            expected = "the environment variable with the test user's password when auth = 'login'"
            raise_rule_errors("GoldenPathConfig", [rule_error(("password_env",), expected, "nothing")])
        if self.auth == "e2e-bypass" and not (self.bypass_key_secret or self.bypass_key_block):
            expected = "a Secret Manager secret id (or bypass_key_block) when auth = 'e2e-bypass'"
            raise_rule_errors("GoldenPathConfig", [rule_error(("bypass_key_secret",), expected, "neither key set")])
        return self


class PerformanceConfig(Frozen):
    """Latency probes of phase 3."""

    health_probes: int = Field(default=10, ge=1, le=1000, description="Number of `/health` probes.")
    golden_path_probes: int = Field(default=1, ge=0, le=50, description="Number of extra golden-path runs.")
    health_p95_ms: float = Field(
        default=2000, gt=0, le=3_600_000, allow_inf_nan=False, description="p95 of `/health` at most this."
    )
    golden_path_p95_ms: float = Field(
        default=60000, gt=0, le=3_600_000, allow_inf_nan=False, description="p95 of the golden path at most this."
    )


class RunbookConfig(Frozen):
    """One target environment, validated and immutable."""

    name: str = Field(max_length=63, pattern=ENVIRONMENT_PATTERN, description="Environment name, e.g. staging.")
    # Lax: TOML gives the profile as a string; anything but "staging" or "dev" is still an error.
    profile: Profile = Field(default=Profile.staging, strict=False, description="Timeout profile: staging or dev.")
    timeouts: Timeouts = Field(description="Effective timeouts (the profile's, with `[timeouts]` overrides).")
    checks: dict[str, CheckOverride] = Field(default_factory=dict, description="Per-check overrides by check id.")
    gcp: GcpConfig
    vpc_connector: VpcConnectorConfig
    cloud_sql: CloudSqlConfig
    database: DatabaseConfig
    secrets: SecretsConfig
    services: Annotated[tuple[ServiceConfig, ...], at_most(MAX_SERVICES, at_least=1)] = Field(
        strict=False,
        json_schema_extra={"minItems": 1},
        description="Cloud Run services of the platform (unique names; one backend and one auth service at most).",
    )
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
            # An unknown profile is reported once, as `profile`; the staging defaults fill `timeouts` meanwhile so
            # the operator is not told about timeout keys they never wrote.
            known = isinstance(profile, str) and profile in Profile.__members__.values()
            defaults = PROFILE_TIMEOUTS[Profile(profile) if known else Profile.staging]
            overrides = data.get("timeouts", {})
            if isinstance(overrides, dict):
                data = {**data, "timeouts": {**defaults, **overrides}}
        return data

    @field_validator("checks")
    @classmethod
    def _known_checks(cls, value: dict[str, CheckOverride]) -> dict[str, CheckOverride]:
        expected = f"a check id, one of {', '.join(CHECK_IDS)}"
        unknown = [rule_error((name,), expected, repr(name)[:80]) for name in value if name not in CHECK_IDS]
        raise_rule_errors("checks", unknown)
        return value

    @field_validator("slack")
    @classmethod
    def _slack_values(cls, slack: SlackConfig) -> SlackConfig:
        raise_rule_errors("slack", slack_value_problems(slack))
        return slack

    @model_validator(mode="after")
    def _cross_references(self) -> "RunbookConfig":
        problems = duplicate_errors((s.name for s in self.services), ("services",), "name", "service name")
        problems += self._unique_roles() + self._known_backends() + self._golden_path_services()
        for check_id, override in self.checks.items():
            if override.timeout_s is not None and override.timeout_s > self.check_deadline(check_id):
                expected = f"at most the check's deadline ({self.check_deadline(check_id):g} s)"
                problems.append(rule_error(("checks", check_id, "timeout_s"), expected, f"{override.timeout_s:g}"))
            elif override.deadline_s is not None and override.deadline_s < self.call_timeout(check_id):
                expected = (
                    f"at least the per-call timeout ({self.call_timeout(check_id):g} s, timeouts.api_call_s): one "
                    "call must fit in the check; or set this check's timeout_s at most its deadline"
                )
                problems.append(rule_error(("checks", check_id, "deadline_s"), expected, f"{override.deadline_s:g}"))
        raise_rule_errors("RunbookConfig", problems + self._something_checked())
        return self

    def _something_checked(self) -> list[InitErrorDetails]:
        """A phase whose every check is disabled would pass having looked at nothing: refused, naming the phase."""
        problems = []
        for phase, check_ids in PHASE_CHECKS.items():
            if not any(self.check_enabled(check_id) for check_id in check_ids):
                expected = f"at least one check of the {phase} phase enabled (a phase that checks nothing never passes)"
                found = "every one disabled: " + ", ".join(f"checks.{check_id}" for check_id in check_ids)
                problems.append(rule_error(("checks",), expected, found))
        return problems

    def _unique_roles(self) -> list[InitErrorDetails]:
        # The golden path, health probes and the WebSocket use the backend and the auth service: one each.
        problems = []
        for role in ("backend", "auth"):
            indexes = [i for i, s in enumerate(self.services) if s.role == role]
            for index in indexes[1:]:
                found = f"{role!r} again ({self.services[index].name}; {self.services[indexes[0]].name} has it)"
                problems.append(rule_error(("services", index, "role"), f"one service with role {role!r}", found))
        return problems

    def _known_backends(self) -> list[InitErrorDetails]:
        listed = {b.name for b in self.load_balancer.backend_services}
        known = ", ".join(sorted(listed)) or "none listed"
        return [
            rule_error(
                ("services", index, "load_balancer_backend"),
                f"a backend service listed in [load_balancer] backend_services ({known})",
                repr(service.load_balancer_backend),
            )
            for index, service in enumerate(self.services)
            if service.load_balancer_backend is not None and service.load_balancer_backend not in listed
        ]

    def _golden_path_services(self) -> list[InitErrorDetails]:
        if not self.check_enabled("golden-path"):
            return []
        roles = {s.role for s in self.services}
        missing = [role for role in ("backend", "auth") if role not in roles]
        if not missing:
            return []
        expected = "a service with role = 'backend' and one with role = 'auth' (the golden path logs in and chats)"
        found = f"no {' and no '.join(repr(r) for r in missing)} service"
        return [rule_error(("services",), expected, found)]

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
