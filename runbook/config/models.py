"""The runbook's configuration: one validated, immutable model per target environment.

An environment lives in a TOML file (`environments/staging.toml` is the real one, `environments/local.toml` the
simulator). Every name the runbook looks for is configuration, because the platform's own scripts disagree about
names. Secret-bearing values never live here: fields ending in `_env` name an environment variable and fields ending
in `_block` name a Prefect Secret block.
"""

import ipaddress
import re
from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

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

# --- value types -------------------------------------------------------------------------------------------------
# Each pattern has a sentence for people: config_file shows it instead of the regular expression.
RESOURCE_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
PROJECT_PATTERN = r"^([a-z][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]$"
REGION_PATTERN = r"^[a-z]+-[a-z]+[0-9]+$"
ENV_VAR_PATTERN = r"^[A-Z_][A-Z0-9_]*$"
BLOCK_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
SECRET_ID_PATTERN = r"^[A-Za-z0-9_-]+$"
CONNECTION_NAME_PATTERN = (
    r"^([a-z][-a-z0-9.]*[a-z0-9]:)?[a-z][-a-z0-9]{4,28}[a-z0-9]:[a-z]+-[a-z]+[0-9]+:[a-z]([-a-z0-9]*[a-z0-9])?$"
)
EMAIL_PATTERN = (
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?"
    r"(\.[A-Za-z0-9]([-A-Za-z0-9]*[A-Za-z0-9])?)+$"
)
PATH_PATTERN = r"^/[^\s#]*$"
ENVIRONMENT_PATTERN = r"^[a-z][a-z0-9-]*$"
DB_IDENTIFIER_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.@$+-]*$"
PROJECT_NUMBER_PATTERN = r"^[0-9]{6,20}$"
CHANNEL_PATTERN = r"^(#?[a-z0-9_][a-z0-9_.-]{0,79}|[CGDZ][A-Z0-9]{8,20})$"

PATTERN_DESCRIPTIONS: dict[str, str] = {
    RESOURCE_PATTERN: "a resource name: lowercase letters, digits and '-', starting with a letter (e.g. staging-vpc)",
    PROJECT_PATTERN: "a project id: 6-30 lowercase letters, digits and '-', from a letter (e.g. netra-staging)",
    REGION_PATTERN: "a region such as us-central1",
    ENV_VAR_PATTERN: (
        "the name of an environment variable (A-Z, 0-9, _), such as RUNBOOK_DB_PASSWORD; the secret itself never "
        "belongs in this file"
    ),
    BLOCK_PATTERN: (
        "the name of a Prefect Secret block (lowercase letters, digits and '-'), such as db-password; the secret "
        "itself never belongs in this file"
    ),
    SECRET_ID_PATTERN: "a Secret Manager secret id (letters, digits, '-' and '_'), not the secret's value",
    CONNECTION_NAME_PATTERN: "a Cloud SQL connection name project:region:instance (e.g. netra-staging:us-central1:db)",
    EMAIL_PATTERN: "an e-mail address such as e2e-tester@netrasystems.ai",
    PATH_PATTERN: "a path starting with '/' without spaces or '#' (e.g. /health)",
    ENVIRONMENT_PATTERN: "lowercase letters, digits and '-', starting with a letter (e.g. staging)",
    DB_IDENTIFIER_PATTERN: "a PostgreSQL name: letters, digits and _ . @ $ + -, starting with a letter or '_'",
    PROJECT_NUMBER_PATTERN: "the project number: 6 to 20 digits, as a string",
    CHANNEL_PATTERN: "a Slack channel: #name (lowercase, digits, '-', '_', '.') or a channel id such as C0123ABCD",
}

RULE_ERROR = "config_rule"


def rule_error(
    loc: tuple[str | int, ...], expected: str, found: str | None = None, value: object = None
) -> InitErrorDetails:
    """A problem found by a rule across fields, at `loc` below the model whose validator reports it.

    `found` is shown to the operator as it is: never put a value there that could be a secret. Without it, the
    error report describes `value` itself (and hides it when it looks like a secret).
    """
    context = {"expected": expected, "found": found or ""}
    error = PydanticCustomError(RULE_ERROR, "expected {expected}, found {found}", context)
    return InitErrorDetails(type=error, loc=loc, input=value)


def raise_rule_errors(title: str, problems: list[InitErrorDetails]) -> None:
    """Report every rule problem at once, each at its own key (pydantic prefixes the parents' keys)."""
    if problems:
        raise ValidationError.from_exception_data(title, problems)


# Sane bounds on arrays: far above any real environment (24 secrets, 3 services), far below a pasted dump.
MAX_SECRETS = 5000
MAX_SERVICES = 500
MAX_ITEMS = 100


def at_most(limit: int, at_least: int = 0) -> BeforeValidator:
    """Check an array's length before its items are validated.

    Before, because a pasted 700,000-line list must answer at once, and because pydantic's own `min_length` also
    fires when the only item is invalid ("at least 1 item" beside the item's real problem).
    """

    def check(value: object) -> object:
        if isinstance(value, list | tuple) and len(value) > limit:
            raise ValueError(f"expected at most {limit} items, found {len(value)} items")
        if isinstance(value, list | tuple) and len(value) < at_least:
            raise ValueError(f"expected at least {at_least} item(s), found {len(value)}")
        return value

    return BeforeValidator(check)


_HOST_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def is_host(value: str) -> bool:
    """A DNS host name or an IP address literal: no user, password, port, path or spaces."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    labels = value.removesuffix(".").split(".")
    if len(value) > 253 or labels[-1].isdigit():  # 300.1.1.1 is neither an address nor a name
        return False
    return all(_HOST_LABEL.match(label) for label in labels)


def _host(value: str) -> str:
    if "@" in value:
        raise ValueError(
            "expected a host name or IP address, never user:password@host (the password comes from password_env "
            "or password_block)"
        )
    if not is_host(value):
        raise ValueError("expected a host name or IP address such as 10.20.0.3 or db.internal")
    return value


URL_EXAMPLE = "https://netra-backend-staging-pnovr5vsba-uc.a.run.app or http://127.0.0.1:8765"


def check_http_url(value: str) -> str:
    """An http(s) base URL with a host, a port from 1 to 65535 when given, no credentials, query or fragment."""
    if any(char.isspace() or not char.isprintable() for char in value):
        raise ValueError(f"expected a URL without spaces or control characters, such as {URL_EXAMPLE}")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError(
            f"expected a URL with a valid host and a port from 1 to 65535, such as {URL_EXAMPLE}"
        ) from None
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"expected an http:// or https:// URL, such as {URL_EXAMPLE}")
    if "@" in parts.netloc:
        raise ValueError("expected a URL without user or password (credentials never belong in this file)")
    if not parts.hostname or not is_host(parts.hostname):
        raise ValueError(f"expected a URL with a host name or IP address, such as {URL_EXAMPLE}")
    if port is not None and not 1 <= port <= 65535:
        raise ValueError("expected a URL whose port is from 1 to 65535")
    if parts.query or parts.fragment or value.endswith(("?", "#")):
        raise ValueError("expected a base URL without ?query or #fragment")
    return value


def _grpc_target(value: str) -> str:
    host, colon, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not re.fullmatch(r"[0-9]{1,5}", port) or not is_host(host):
        raise ValueError("expected a gRPC target host:port such as 127.0.0.1:8766")
    if not 1 <= int(port) <= 65535:
        raise ValueError("expected a gRPC target host:port whose port is from 1 to 65535")
    return value


def _cidr_28(value: str) -> str:
    try:
        network = ipaddress.ip_network(value)
    except ValueError:
        raise ValueError("expected an IPv4 range in CIDR notation such as 10.2.0.0/28 (host bits zero)") from None
    if network.version != 4 or network.prefixlen != 28:
        raise ValueError("expected an IPv4 /28 range such as 10.2.0.0/28 (VPC connectors use a /28)")
    return value


Seconds = Annotated[float, Field(gt=0, le=3600, allow_inf_nan=False)]
ResourceName = Annotated[str, Field(min_length=1, max_length=63, pattern=RESOURCE_PATTERN)]
ConnectorName = Annotated[str, Field(min_length=1, max_length=25, pattern=RESOURCE_PATTERN)]
ServiceName = Annotated[str, Field(min_length=1, max_length=49, pattern=RESOURCE_PATTERN)]
EnvVarName = Annotated[
    str, Field(min_length=1, max_length=128, pattern=ENV_VAR_PATTERN, description="Name of an environment variable.")
]
BlockName = Annotated[
    str, Field(min_length=1, max_length=128, pattern=BLOCK_PATTERN, description="Name of a Prefect Secret block.")
]
SecretId = Annotated[str, Field(min_length=1, max_length=255, pattern=SECRET_ID_PATTERN)]
HttpUrl = Annotated[
    str, Field(min_length=1, max_length=2048, json_schema_extra={"format": "uri"}), AfterValidator(check_http_url)
]
UrlPath = Annotated[str, Field(min_length=1, max_length=2048, pattern=PATH_PATTERN)]
HostName = Annotated[str, Field(min_length=1, max_length=253), AfterValidator(_host)]
GrpcTarget = Annotated[str, Field(min_length=1, max_length=260), AfterValidator(_grpc_target)]
ConnectionName = Annotated[str, Field(min_length=1, max_length=160, pattern=CONNECTION_NAME_PATTERN)]
DbIdentifier = Annotated[str, Field(min_length=1, max_length=63, pattern=DB_IDENTIFIER_PATTERN)]
Email = Annotated[str, Field(min_length=3, max_length=254, pattern=EMAIL_PATTERN)]
Channel = Annotated[str, Field(min_length=1, max_length=81, pattern=CHANNEL_PATTERN)]


def duplicate_errors(
    names: Iterable[str], container: tuple[str | int, ...], field: str | None, what: str
) -> list[InitErrorDetails]:
    """One problem per repeat, at its own index (at most 10, then one summary). Linear: 700,000 ids are quick."""
    first: dict[str, int] = {}
    problems: list[InitErrorDetails] = []
    repeats = 0
    for index, name in enumerate(names):
        if name not in first:
            first[name] = index
            continue
        repeats += 1
        if repeats <= 10:
            loc = (*container, index, field) if field else (*container, index)
            problems.append(rule_error(loc, f"each {what} listed once", f"{name!r} again (first at {first[name]})"))
    if repeats > 10:
        problems.append(rule_error(container, f"each {what} listed once", f"{repeats - 10} more repeats"))
    return problems


class Frozen(BaseModel):
    """Base of every config model: immutable, strict, unknown keys are errors (a typo must not pass silently).

    Strict: TOML already gives real integers, floats and booleans, so "28772" for a port or "yes" for a flag is a
    mistake to report, never a value to coerce. Arrays (TOML gives lists) and enums are the only lax fields.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


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

    @model_validator(mode="after")
    def _call_within_deadline(self) -> "Timeouts":
        if self.api_call_s > self.check_deadline_s:
            expected = f"at most check_deadline_s ({self.check_deadline_s:g} s): one call must fit in a check"
            raise_rule_errors("Timeouts", [rule_error(("api_call_s",), expected, f"{self.api_call_s:g}")])
        return self


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

    @model_validator(mode="after")
    def _call_within_deadline(self) -> "CheckOverride":
        if self.timeout_s is not None and self.deadline_s is not None and self.timeout_s > self.deadline_s:
            expected = f"at most deadline_s ({self.deadline_s:g} s): one call must fit in the check"
            raise_rule_errors("CheckOverride", [rule_error(("timeout_s",), expected, f"{self.timeout_s:g}")])
        return self


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
    ip_cidr_range: Annotated[str, Field(max_length=18), AfterValidator(_cidr_28)] | None = Field(
        default=None, description="Expected /28 range; WARN when different."
    )
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


def slack_routes(slack: SlackConfig) -> list[tuple[str, TeamRoute]]:
    """The team routes that are set, by team (infrastructure, platform, product)."""
    routes = [("infrastructure", slack.infrastructure), ("platform", slack.platform), ("product", slack.product)]
    return [(team, route) for team, route in routes if route is not None]


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
        # SlackConfig and TeamRoute have their own owners; their values are checked for what they are here.
        problems = []
        try:
            check_http_url(slack.api_base_url)
        except ValueError as error:
            problems.append(
                rule_error(("api_base_url",), str(error).removeprefix("expected "), value=slack.api_base_url)
            )
        channels: list[tuple[tuple[str | int, ...], str | None]] = [
            (("channel",), slack.channel),
            (("stakeholder_channel",), slack.stakeholder_channel),
        ]
        channels += [((team, "channel"), route.channel) for team, route in slack_routes(slack)]
        for loc, channel in channels:
            if channel is not None and not re.fullmatch(CHANNEL_PATTERN, channel):
                problems.append(rule_error(loc, PATTERN_DESCRIPTIONS[CHANNEL_PATTERN], value=channel))
        blocks: list[tuple[tuple[str | int, ...], str | None]] = [(("token_block",), slack.token_block)]
        if slack.chatops is not None:
            blocks.append((("chatops", "app_token_block"), slack.chatops.app_token_block))
        for loc, block in blocks:
            if block is not None and not re.fullmatch(BLOCK_PATTERN, block):
                problems.append(rule_error(loc, PATTERN_DESCRIPTIONS[BLOCK_PATTERN], value=block))
        raise_rule_errors("slack", problems)
        return slack

    @model_validator(mode="after")
    def _cross_references(self) -> "RunbookConfig":
        problems = duplicate_errors((s.name for s in self.services), ("services",), "name", "service name")
        problems += self._unique_roles() + self._known_backends() + self._golden_path_services()
        for check_id, override in self.checks.items():
            if override.timeout_s is not None and override.timeout_s > self.check_deadline(check_id):
                expected = f"at most the check's deadline ({self.check_deadline(check_id):g} s)"
                problems.append(rule_error(("checks", check_id, "timeout_s"), expected, f"{override.timeout_s:g}"))
        raise_rule_errors("RunbookConfig", problems)
        return self

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
