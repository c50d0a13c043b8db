"""Fixtures for the Google side of the simulator: a running simulator and the REAL client libraries aimed at it."""

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from google.auth.credentials import AnonymousCredentials

from simulator.server import Simulator

TIMEOUT = 5.0  # every call in these tests passes timeout= and retry=None
PROJECT = "netra-staging"
REGION = "us-central1"
LOCATION = f"projects/{PROJECT}/locations/{REGION}"


def rest_kwargs(sim: Simulator) -> dict[str, Any]:
    return {
        "credentials": AnonymousCredentials(),
        "transport": "rest",
        "client_options": {"api_endpoint": sim.url},
    }


class Clients:
    """Lazily built clients of one simulator (client imports are expensive; build only what a test uses)."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self._channel: grpc.Channel | None = None

    def vpcaccess(self) -> Any:
        from google.cloud import vpcaccess_v1

        return vpcaccess_v1.VpcAccessServiceClient(**rest_kwargs(self.sim))

    def sql(self) -> Any:
        from google.cloud import sqladmin_v1beta4

        return sqladmin_v1beta4.SqlInstancesServiceClient(**rest_kwargs(self.sim))

    def services(self) -> Any:
        from google.cloud import run_v2

        return run_v2.ServicesClient(**rest_kwargs(self.sim))

    def revisions(self) -> Any:
        from google.cloud import run_v2

        return run_v2.RevisionsClient(**rest_kwargs(self.sim))

    def secrets(self) -> Any:
        from google.cloud import secretmanager_v1

        return secretmanager_v1.SecretManagerServiceClient(**rest_kwargs(self.sim))

    def health_checks(self) -> Any:
        from google.cloud import compute_v1

        return compute_v1.HealthChecksClient(**rest_kwargs(self.sim))

    def backend_services(self) -> Any:
        from google.cloud import compute_v1

        return compute_v1.BackendServicesClient(**rest_kwargs(self.sim))

    def metrics(self) -> Any:
        from google.cloud import monitoring_v3
        from google.cloud.monitoring_v3.services.metric_service import transports

        self._channel = grpc.insecure_channel(self.sim.grpc_target)
        transport = transports.MetricServiceGrpcTransport(channel=self._channel)
        return monitoring_v3.MetricServiceClient(transport=transport)

    def close(self) -> None:
        if self._channel is not None:
            self._channel.close()


def start(scenario: str) -> Iterator[Clients]:
    with Simulator(scenario) as sim:
        clients = Clients(sim)
        try:
            yield clients
        finally:
            clients.close()


@pytest.fixture(scope="module")
def healthy() -> Iterator[Clients]:
    """One healthy simulator shared by a module's read-only tests."""
    yield from start("healthy")


@pytest.fixture
def world(request: pytest.FixtureRequest) -> Iterator[Clients]:
    """A fresh simulator of the scenario given by `@pytest.mark.parametrize("world", [...], indirect=True)`."""
    yield from start(request.param)
