"""One factory for the Google Cloud clients, built lazily and in the background (their imports cost seconds).

Production: Google's endpoints with Application Default Credentials. With `[gcp.endpoints]` set (the simulator):
that address with anonymous credentials. REST transport everywhere the library has one; gRPC for Cloud
Monitoring, plaintext to a local target. Compute's three reads go through google-auth's AuthorizedSession with
google-api-core's error mapping (`runbook.google.compute`), the same pieces the compute_v1 REST transport uses.
"""

import contextlib
import importlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from runbook.config.models import GcpConfig
from runbook.google.calls import deadline_paused

if TYPE_CHECKING:
    from runbook.google.compute import BackendServicesClient, HealthChecksClient

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


# The library each client needs, by the names `prepare` takes, in the order `preload_in_background` imports them:
# the one that pays google.api_core first, then the cheapest, so most checks find theirs early (secrets, phase 1's
# longest chain, needs secretmanager). Compute's reads go through `runbook.google.compute` (google-auth's
# AuthorizedSession): google-cloud-compute's package imports every Compute type (1.4-3 s of CPU and ~95 MB here,
# docs/benchmarks.md) for three reads.
CLIENT_MODULES = {
    "vpcaccess": "google.cloud.vpcaccess_v1",
    "secretmanager": "google.cloud.secretmanager_v1",
    "backend_services": "runbook.google.compute",
    "health_checks": "runbook.google.compute",
    "monitoring": "google.cloud.monitoring_v3",
    "sql_instances": "google.cloud.sqladmin_v1beta4",
    "run_services": "google.cloud.run_v2",
    "run_revisions": "google.cloud.run_v2",
}


_preload: threading.Thread | None = None
_preload_lock = threading.Lock()


def preload_in_background() -> threading.Thread:
    """Import the client libraries in a daemon thread while Prefect starts the run (waits on its API, not CPU).

    The clients' first use then finds them imported, or waits for the import already under way. Once per process:
    the CLI, the handoff flow and a flow module may all ask; one thread imports, the others get it.
    """
    global _preload

    def load() -> None:
        for module in dict.fromkeys(CLIENT_MODULES.values()):
            with contextlib.suppress(Exception):  # an import error surfaces where the client is built
                importlib.import_module(module)

    with _preload_lock:
        if _preload is None:
            _preload = threading.Thread(target=load, name="preload-google-clients", daemon=True)
            _preload.start()
        return _preload


class _Slot:
    """One client: built once, by whichever thread gets there first; the others wait for that one."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.client: Any = None
        self.error: BaseException | None = None


class GoogleClients:
    """Clients for one project, created on first use and shared by the checks of a run (thread-safe).

    `prepare` starts building clients in the background and returns at once; each accessor then waits only for
    its own client, and that wait is not counted against the waiting check's deadline (`runbook.google.calls`).
    """

    def __init__(self, gcp: GcpConfig) -> None:
        self.gcp = gcp
        self._lock = threading.Lock()
        self._slots: dict[str, _Slot] = {}

    def _get(self, key: str, build: Callable[[], T]) -> T:
        with self._lock:
            slot = self._slots.get(key)
            mine = slot is None
            if slot is None:
                slot = self._slots[key] = _Slot()
        if mine:
            with deadline_paused():
                try:
                    slot.client = build()
                except BaseException as error:
                    slot.error = error
                    raise
                finally:
                    slot.done.set()
        elif not slot.done.is_set():
            with deadline_paused():
                slot.done.wait()
        if slot.error is not None:
            raise slot.error
        client: T = slot.client
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

        return self._get("sql_instances", build)

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
    def backend_services(self) -> "BackendServicesClient":
        def build() -> "BackendServicesClient":
            from runbook.google.compute import BackendServicesClient

            return BackendServicesClient(self.gcp.endpoints.for_api("compute"))

        return self._get("backend_services", build)

    @property
    def health_checks(self) -> "HealthChecksClient":
        def build() -> "HealthChecksClient":
            from runbook.google.compute import HealthChecksClient

            return HealthChecksClient(self.gcp.endpoints.for_api("compute"))

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

    def prepare(self, *names: str) -> threading.Thread:
        """Start building these clients (e.g. "vpcaccess", "run_services") in a daemon thread; return at once.

        Imports take seconds of CPU on a busy machine: building them in the background lets a phase start its
        checks at once, and each check waits only for its own client. Built in the order given; a client that a
        check asks for before the thread reaches it is built by that check itself. A build error is raised where
        the client is used. Returns the thread (`wait` joins the clients themselves).
        """
        unknown = [name for name in names if name not in CLIENT_MODULES]
        if unknown:
            raise ValueError(f"unknown Google client(s) {unknown}: expected some of {sorted(CLIENT_MODULES)}")

        def build_all() -> None:
            for name in names:
                with contextlib.suppress(Exception):  # raised again to the check that uses the client
                    getattr(self, name)

        thread = threading.Thread(target=build_all, name="prepare-google-clients", daemon=True)
        thread.start()
        return thread

    def wait(self, *names: str) -> None:
        """Build (or wait for) these clients now, in this thread; raises a build error (scripts, tests)."""
        for name in names:
            getattr(self, name)

    # Resource names, spelled once.
    def location(self) -> str:
        return f"projects/{self.gcp.project}/locations/{self.gcp.region}"

    def connector_name(self, connector: str) -> str:
        return f"{self.location()}/connectors/{connector}"

    def service_name(self, service: str) -> str:
        return f"{self.location()}/services/{service}"
