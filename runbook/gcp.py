"""One factory for the official Google Cloud clients, built lazily (importing them all costs ~3 s and ~180 MB).

Production: Google's endpoints with Application Default Credentials. With `[gcp.endpoints]` set (the simulator):
that address with anonymous credentials. REST transport everywhere the library has one; gRPC for Cloud
Monitoring, plaintext to a local target.
"""

import contextlib
import importlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from runbook.config import GcpConfig

T = TypeVar("T")

# The least-privilege role that lets each check read what it needs (shown when Google answers 403).
VIEWER_ROLES = {
    "vpcaccess": "roles/vpcaccess.viewer",
    "sqladmin": "roles/cloudsql.viewer",
    "run": "roles/run.viewer",
    "secretmanager": "roles/secretmanager.viewer",
    "compute": "roles/compute.viewer",
    "monitoring": "roles/monitoring.viewer",
}


# The client libraries, by the names `prepare` takes. Importing them costs seconds of CPU (compute_v1 the most).
CLIENT_MODULES = {
    "vpcaccess": "google.cloud.vpcaccess_v1",
    "sql_instances": "google.cloud.sqladmin_v1beta4",
    "run_services": "google.cloud.run_v2",
    "run_revisions": "google.cloud.run_v2",
    "secretmanager": "google.cloud.secretmanager_v1",
    "backend_services": "google.cloud.compute_v1",
    "health_checks": "google.cloud.compute_v1",
    "monitoring": "google.cloud.monitoring_v3",
}


def preload_in_background() -> threading.Thread:
    """Import the client libraries in a daemon thread while Prefect starts the run (waits on its API, not CPU).

    The phase flows' `prepare` then finds them imported, or waits for the import already under way.
    """

    def load() -> None:
        for module in dict.fromkeys(CLIENT_MODULES.values()):
            with contextlib.suppress(Exception):  # an import error surfaces where the client is built
                importlib.import_module(module)

    thread = threading.Thread(target=load, name="preload-google-clients", daemon=True)
    thread.start()
    return thread


class GoogleClients:
    """Clients for one project, created on first use and shared by the checks of a run (thread-safe)."""

    def __init__(self, gcp: GcpConfig) -> None:
        self.gcp = gcp
        self._lock = threading.Lock()
        self._clients: dict[str, Any] = {}

    def _get(self, key: str, build: Callable[[], T]) -> T:
        with self._lock:
            if key not in self._clients:
                self._clients[key] = build()
            client: T = self._clients[key]
            return client

    def _rest_kwargs(self, api: str) -> dict[str, Any]:
        endpoint = self.gcp.endpoints.for_api(api)
        if endpoint is None:
            return {"transport": "rest"}
        from google.auth.credentials import AnonymousCredentials

        return {
            "transport": "rest",
            "credentials": AnonymousCredentials(),
            "client_options": {"api_endpoint": endpoint},
        }

    @property
    def vpcaccess(self) -> Any:
        def build() -> Any:
            from google.cloud import vpcaccess_v1

            return vpcaccess_v1.VpcAccessServiceClient(**self._rest_kwargs("vpcaccess"))

        return self._get("vpcaccess", build)

    @property
    def sql_instances(self) -> Any:
        def build() -> Any:
            from google.cloud import sqladmin_v1beta4

            return sqladmin_v1beta4.SqlInstancesServiceClient(**self._rest_kwargs("sqladmin"))

        return self._get("sqladmin", build)

    @property
    def run_services(self) -> Any:
        def build() -> Any:
            from google.cloud import run_v2

            return run_v2.ServicesClient(**self._rest_kwargs("run"))

        return self._get("run_services", build)

    @property
    def run_revisions(self) -> Any:
        def build() -> Any:
            from google.cloud import run_v2

            return run_v2.RevisionsClient(**self._rest_kwargs("run"))

        return self._get("run_revisions", build)

    @property
    def secretmanager(self) -> Any:
        def build() -> Any:
            from google.cloud import secretmanager_v1

            return secretmanager_v1.SecretManagerServiceClient(**self._rest_kwargs("secretmanager"))

        return self._get("secretmanager", build)

    @property
    def backend_services(self) -> Any:
        def build() -> Any:
            from google.cloud import compute_v1

            return compute_v1.BackendServicesClient(**self._rest_kwargs("compute"))

        return self._get("backend_services", build)

    @property
    def health_checks(self) -> Any:
        def build() -> Any:
            from google.cloud import compute_v1

            return compute_v1.HealthChecksClient(**self._rest_kwargs("compute"))

        return self._get("health_checks", build)

    @property
    def monitoring(self) -> Any:
        def build() -> Any:
            from google.cloud import monitoring_v3

            target = self.gcp.endpoints.monitoring
            if target is None:
                return monitoring_v3.MetricServiceClient()
            import grpc
            from google.auth.credentials import AnonymousCredentials
            from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport

            transport = MetricServiceGrpcTransport(
                channel=grpc.insecure_channel(target),
                credentials=AnonymousCredentials(),
            )
            return monitoring_v3.MetricServiceClient(transport=transport)

        return self._get("monitoring", build)

    def prepare(self, *names: str) -> None:
        """Build these clients now (e.g. "vpcaccess", "run_services"): their imports take seconds on a busy
        machine, and a phase builds them before its checks start so no check's deadline pays for an import."""
        for name in names:
            getattr(self, name)

    # Resource names, spelled once.
    def location(self) -> str:
        return f"projects/{self.gcp.project}/locations/{self.gcp.region}"

    def connector_name(self, connector: str) -> str:
        return f"{self.location()}/connectors/{connector}"

    def service_name(self, service: str) -> str:
        return f"{self.location()}/services/{service}"
