"""Typed model of a scenario's `[google]` table: the Google Cloud world the simulator serves.

Field names are snake_case simulator settings; the API modules turn them into Google's JSON (camelCase, enum values
exactly as in Google's discovery documents). Every model forbids unknown keys so a typo in a scenario file fails at
load time with the offending key named, instead of silently serving a different world.
"""

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ApiName = Literal["vpcaccess", "sqladmin", "run", "secretmanager", "compute", "monitoring"]
API_NAMES: tuple[str, ...] = ("vpcaccess", "sqladmin", "run", "secretmanager", "compute", "monitoring")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FaultConfig(_Strict):
    """One `[[google.faults]]` entry: what to do to the matching requests."""

    api: ApiName | Literal["*"] = Field("*", description="Which API the fault applies to; '*' for all.")
    method: str = Field("*", description="HTTP verb (GET, POST, PATCH) or gRPC method name (ListTimeSeries); '*' any.")
    path_regex: str = Field("", description="re.search() against the request path; empty matches every path.")
    status: int = Field(0, ge=0, le=599, description="HTTP status to answer with (gRPC: the matching code); 0 = none.")
    message: str = Field("", description="Error message; a Google-style default is derived from the status.")
    times: int | None = Field(None, ge=1, description="How many matching requests get the fault; absent = always.")
    latency_ms: int = Field(0, ge=0, le=600_000, description="Extra delay before answering.")
    hang: bool = Field(False, description="Accept the request and never answer (until disconnect or stop).")
    malformed: bool = Field(False, description="Answer 200 with a body that is not valid JSON / protobuf.")
    retry_after: int | None = Field(None, ge=0, description="Retry-After header (seconds) on the error answer.")


class ConnectorConfig(_Strict):
    """A Serverless VPC Access connector in the project's region."""

    exists: bool = True
    state: Literal["READY", "CREATING", "DELETING", "ERROR", "UPDATING"] = "READY"
    network: str = "staging-vpc"
    ip_cidr_range: str = "10.2.0.0/28"
    min_instances: int = Field(2, ge=0)
    max_instances: int = Field(10, ge=0)
    machine_type: str = "e2-micro"
    connected_projects: list[str] = Field(default_factory=list)
    ready_after_seconds: float | None = Field(
        None, ge=0, description="CREATING/UPDATING becomes READY this long after the connector's first read."
    )
    ready_after_requests: int | None = Field(None, ge=1, description="...or after this many GETs of the connector.")


class IpAddressConfig(_Strict):
    """One entry of DatabaseInstance.ipAddresses."""

    type: Literal["PRIMARY", "OUTGOING", "PRIVATE"] = "PRIVATE"
    ip_address: str


class SqlInstanceConfig(_Strict):
    """A Cloud SQL instance (a stopped one is RUNNABLE with activation_policy NEVER, as in the real API)."""

    exists: bool = True
    database_version: str = "POSTGRES_15"
    state: Literal[
        "RUNNABLE",
        "SUSPENDED",
        "PENDING_DELETE",
        "PENDING_CREATE",
        "MAINTENANCE",
        "FAILED",
        "ONLINE_MAINTENANCE",
        "REPAIRING",
    ] = "RUNNABLE"
    activation_policy: Literal["ALWAYS", "NEVER", "ON_DEMAND"] = "ALWAYS"
    tier: str = "db-custom-2-7680"
    zone: str = "us-central1-a"
    ipv4_enabled: bool = False
    private_network: str = Field("", description="Empty string = no private network (the field is omitted).")
    ssl_mode: Literal["ALLOW_UNENCRYPTED_AND_ENCRYPTED", "ENCRYPTED_ONLY", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"] = (
        "ENCRYPTED_ONLY"
    )
    require_ssl: bool | None = Field(
        None,
        description="The legacy requireSsl; default derived from ssl_mode as Cloud SQL does. Set explicitly, it must "
        "be a pair Cloud SQL accepts (PostgreSQL/MySQL: true only with TRUSTED_CLIENT_CERTIFICATE_REQUIRED).",
    )
    ip_addresses: list[IpAddressConfig] = Field(default_factory=list)

    @property
    def effective_require_ssl(self) -> bool:
        """requireSsl as Cloud SQL reports it for `ssl_mode` (SQL Server also says true for ENCRYPTED_ONLY)."""
        if self.database_version.startswith("SQLSERVER"):
            return self.ssl_mode != "ALLOW_UNENCRYPTED_AND_ENCRYPTED"
        return self.ssl_mode == "TRUSTED_CLIENT_CERTIFICATE_REQUIRED"

    @model_validator(mode="after")
    def _ssl_pair(self) -> "SqlInstanceConfig":
        if self.require_ssl is not None and self.require_ssl != self.effective_require_ssl:
            raise ValueError(
                f"require_ssl {str(self.require_ssl).lower()} does not go with ssl_mode {self.ssl_mode} on "
                f"{self.database_version}: Cloud SQL reports requireSsl {str(self.effective_require_ssl).lower()} "
                "for it (drop require_ssl to derive it)"
            )
        return self


class RunServiceConfig(_Strict):
    """A Cloud Run service and its recent revisions."""

    exists: bool = True
    port: int = Field(8080, ge=1, le=65535)
    min_instances: int = Field(0, ge=0)
    max_instances: int = Field(100, ge=1)
    image: str = Field("", description="Container image; default derived from the service name.")
    timeout: str = Field("300s", pattern=r"^\d+s$")
    vpc_connector: str = Field("", description="Connector short name or full path; empty = none.")
    vpc_egress: Literal["ALL_TRAFFIC", "PRIVATE_RANGES_ONLY"] = "PRIVATE_RANGES_ONLY"
    cloudsql_instances: list[str] = Field(default_factory=list, description="Connection names of the cloudsql volume.")
    secret_env: dict[str, str] = Field(default_factory=dict, description="ENV_NAME -> secret id (version latest).")
    env: dict[str, str] = Field(default_factory=dict, description="Plain environment variables.")
    revision: int = Field(42, ge=1, description="Number of the latest created revision.")
    ready_revision: int | None = Field(None, ge=1, description="Latest ready revision; default = revision.")
    failed_revision_reason: str = "HEALTH_CHECK_CONTAINER_ERROR"
    failed_message: str = Field("", description="Message on a failed latest revision's Ready condition.")
    traffic_revision: int | None = Field(None, ge=1, description="Pin 100 % traffic to this revision; None = LATEST.")


class RunConfig(_Strict):
    """Cloud Run v2: services, and how long a revision created by an update takes to become ready."""

    revision_ready_after_seconds: float = Field(0.5, ge=0, le=600)
    services: dict[str, RunServiceConfig] = Field(default_factory=dict)


VersionState = Literal["ENABLED", "DISABLED", "DESTROYED"]
DEFAULT_VERSIONS: tuple[VersionState, ...] = ("DISABLED", "ENABLED")


class SecretConfig(_Strict):
    """A Secret Manager secret; versions are numbered 1..n in list order."""

    exists: bool = True
    versions: list[VersionState] = Field(default_factory=lambda: list(DEFAULT_VERSIONS))
    payload: str | None = Field(None, description="Payload of every version; default a dummy per version.")


class SecretManagerConfig(_Strict):
    default_page_size: int = Field(25, ge=1, le=25000)
    secrets: dict[str, SecretConfig] = Field(default_factory=dict)


class BackendServiceConfig(_Strict):
    """A global backend service with one serverless NEG backend pointing at a Cloud Run service."""

    exists: bool = True
    timeout_sec: int = Field(30, ge=1)
    protocol: Literal["HTTP", "HTTPS", "HTTP2"] = "HTTPS"
    cloud_run_service: str = ""
    health_checks: list[str] = Field(default_factory=list)


class HealthCheckConfig(_Strict):
    exists: bool = True
    type: Literal["HTTP", "HTTPS", "HTTP2", "TCP"] = "HTTP"
    request_path: str = "/health"
    port: int = 80
    check_interval_sec: int = Field(10, ge=1)
    timeout_sec: int = Field(5, ge=1)
    healthy_threshold: int = Field(2, ge=1)
    unhealthy_threshold: int = Field(3, ge=1)


class ComputeConfig(_Strict):
    backend_services: dict[str, BackendServiceConfig] = Field(default_factory=dict)
    health_checks: dict[str, HealthCheckConfig] = Field(default_factory=dict)


class ServiceTrafficConfig(_Strict):
    """Request traffic of one Cloud Run service, as Cloud Monitoring reports it."""

    requests_per_5min: int = Field(1000, ge=0)
    ratio_5xx: float = Field(0.0, ge=0, le=1)
    ratio_4xx: float = Field(0.0, ge=0, le=1)


class MonitoringConfig(_Strict):
    ingestion_delay_seconds: int = Field(0, ge=0, description="Points younger than this are not returned yet.")
    services: dict[str, ServiceTrafficConfig] = Field(default_factory=dict)


class VpcAccessConfig(_Strict):
    connectors: dict[str, ConnectorConfig] = Field(default_factory=dict)


class SqlAdminConfig(_Strict):
    instances: dict[str, SqlInstanceConfig] = Field(default_factory=dict)
    proxy_upstream: str = Field(
        "", description="host:port of a PostgreSQL behind the simulated server proxy (cloud-sql-python-connector)."
    )
    proxy_port: int = Field(
        3307, ge=0, le=65535, description="The proxy's port: cloud-sql-python-connector always dials 3307."
    )
    proxy_host: str = Field(
        "auto",
        pattern=r"^(auto|127\.\d{1,3}\.\d{1,3}\.\d{1,3})$",
        description="The loopback address the proxy listens on. `auto`: an address of its own in 127.0.0.0/8, "
        "chosen by binding (another simulator already on one makes it take the next), so simulators side by side "
        "each have port 3307. Instances whose address is on loopback are then reported at the proxy's address, "
        "as Cloud SQL's server proxy listens on the instance's own IP.",
    )


class GoogleConfig(_Strict):
    """The `[google]` table of a scenario."""

    project: str = "netra-staging"
    project_number: str = Field("123456789012", pattern=r"^\d+$")
    region: str = "us-central1"
    latency_ms: int = Field(0, ge=0, le=600_000, description="Added to every Google call.")
    api_latency_ms: dict[ApiName, int] = Field(default_factory=dict, description="Added per API.")
    max_hang_seconds: float = Field(600, gt=0, le=3600, description="Upper bound of a hanging request.")
    vpcaccess: VpcAccessConfig = Field(default_factory=VpcAccessConfig)
    sqladmin: SqlAdminConfig = Field(default_factory=SqlAdminConfig)
    run: RunConfig = Field(default_factory=RunConfig)
    secretmanager: SecretManagerConfig = Field(default_factory=SecretManagerConfig)
    compute: ComputeConfig = Field(default_factory=ComputeConfig)
    monitoring: MonitoringConfig = Field(default_factory=MonitoringConfig)
    faults: list[FaultConfig] = Field(default_factory=list)

    def is_project(self, project: str) -> bool:
        """True when `project` names this project by id or by number (the APIs accept both)."""
        return project in (self.project, self.project_number)
