"""Serverless VPC Access v1 (`google.cloud.vpcaccess_v1`): get and list connectors."""

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from simulator.google.config import ConnectorConfig, GoogleConfig
from simulator.google.enums import google_json
from simulator.google.rest import GoogleError, paginate, permission_denied

CONNECTOR = "google.cloud.vpcaccess.v1.Connector"
LIST_CONNECTORS = "google.cloud.vpcaccess.v1.ListConnectorsResponse"
PREFIX = "/v1/projects/{project}/locations/{location}/connectors"


class VpcAccessApi:
    """Connectors of the scenario's region. A CREATING/UPDATING connector may become READY after a while.

    "A while" is counted from the connector's first read (GET or LIST), not from the simulator's start: a run that
    reads it only after a long start-up (Prefect's, in a CLI run) still sees it CREATING first.
    """

    def __init__(self, google: GoogleConfig) -> None:
        self._google = google
        self._first_read: dict[str, float] = {}
        self._gets: dict[str, int] = {}

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PREFIX, self.list_connectors, methods=["GET"]),
            Route(PREFIX + "/{connector}", self.get_connector, methods=["GET"]),
        ]

    def _check_project(self, request: Request, permission: str) -> tuple[str, str]:
        project, location = request.path_params["project"], request.path_params["location"]
        if not self._google.is_project(project):
            raise permission_denied(permission, f"projects/{project}/locations/{location}")
        return project, location

    async def get_connector(self, request: Request) -> JSONResponse:
        project, location = self._check_project(request, "vpcaccess.connectors.get")
        name = request.path_params["connector"]
        config = self._google.vpcaccess.connectors.get(name)
        if location != self._google.region or config is None or not config.exists:
            path = f"projects/{project}/locations/{location}/connectors/{name}"
            raise GoogleError(404, f"Resource '{path}' was not found")
        self._gets[name] = self._gets.get(name, 0) + 1
        return google_json(request, self.connector_json(name, config), CONNECTOR)

    async def list_connectors(self, request: Request) -> JSONResponse:
        _, location = self._check_project(request, "vpcaccess.connectors.list")
        connectors = []
        if location == self._google.region:
            connectors = [
                self.connector_json(name, config)
                for name, config in sorted(self._google.vpcaccess.connectors.items())
                if config.exists
            ]
        page, token = paginate(
            connectors, request.query_params.get("pageSize"), request.query_params.get("pageToken"), 50
        )
        body: dict[str, Any] = {"connectors": page}
        if token:
            body["nextPageToken"] = token
        return google_json(request, body, LIST_CONNECTORS)

    def connector_json(self, name: str, config: ConnectorConfig) -> dict[str, Any]:
        """The Connector resource as the v1 API returns it."""
        google = self._google
        return {
            "name": f"projects/{google.project}/locations/{google.region}/connectors/{name}",
            "network": config.network,
            "ipCidrRange": config.ip_cidr_range,
            "state": self._state(name, config),
            "minThroughput": config.min_instances * 100,
            "maxThroughput": config.max_instances * 100,
            "connectedProjects": list(config.connected_projects),
            "minInstances": config.min_instances,
            "maxInstances": config.max_instances,
            "machineType": config.machine_type,
        }

    def _state(self, name: str, config: ConnectorConfig) -> str:
        if config.state not in ("CREATING", "UPDATING"):
            return config.state
        first_read = self._first_read.setdefault(name, time.monotonic())
        by_time = config.ready_after_seconds is not None and time.monotonic() - first_read >= (
            config.ready_after_seconds
        )
        by_count = config.ready_after_requests is not None and self._gets.get(name, 0) > config.ready_after_requests
        return "READY" if by_time or by_count else config.state
