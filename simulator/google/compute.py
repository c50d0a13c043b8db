"""Compute Engine v1 (`google.cloud.compute_v1`, REST): global health checks and backend services, getHealth."""

import base64
import hashlib
import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from simulator.google.config import BackendServiceConfig, GoogleConfig, HealthCheckConfig
from simulator.google.rest import GoogleError, paginate

GLOBAL = "/compute/v1/projects/{project}/global"
LINK_ROOT = "https://www.googleapis.com/compute/v1"
CREATED = "2025-05-01T10:00:00.000-07:00"


def resource_id(name: str) -> str:
    """A stable uint64 id (as Compute sends it: a decimal string)."""
    return str(int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1)


class ComputeApi:
    """The load balancer pieces the runbook reviews: backend service timeouts and the health check."""

    def __init__(self, google: GoogleConfig) -> None:
        self._google = google

    def routes(self) -> list[BaseRoute]:
        return [
            Route(GLOBAL + "/healthChecks", self.list_health_checks, methods=["GET"]),
            Route(GLOBAL + "/healthChecks/{name}", self.get_health_check, methods=["GET"]),
            Route(GLOBAL + "/backendServices", self.list_backend_services, methods=["GET"]),
            Route(GLOBAL + "/backendServices/{name}", self.get_backend_service, methods=["GET"]),
            Route(GLOBAL + "/backendServices/{name}/getHealth", self.get_health, methods=["POST"]),
        ]

    def _link(self, collection: str, name: str = "") -> str:
        base = f"{LINK_ROOT}/projects/{self._google.project}/global/{collection}"
        return f"{base}/{name}" if name else base

    def _check_project(self, request: Request, permission: str) -> None:
        project = request.path_params["project"]
        if not self._google.is_project(project):
            message = f"Required '{permission}' permission for 'projects/{project}'"
            raise GoogleError(403, message, reason="forbidden")

    def _not_found(self, collection: str, name: str) -> GoogleError:
        message = f"The resource 'projects/{self._google.project}/global/{collection}/{name}' was not found"
        return GoogleError(404, message, reason="notFound")

    def _list(self, request: Request, kind: str, collection: str, items: list[dict[str, Any]]) -> JSONResponse:
        query = request.query_params
        page, token = paginate(items, query.get("maxResults"), query.get("pageToken"), 500)
        body: dict[str, Any] = {
            "kind": kind,
            "id": f"projects/{self._google.project}/global/{collection}",
            "items": page,
            "selfLink": self._link(collection),
        }
        if token:
            body["nextPageToken"] = token
        return JSONResponse(body)

    async def list_health_checks(self, request: Request) -> JSONResponse:
        self._check_project(request, "compute.healthChecks.list")
        checks = self._google.compute.health_checks
        items = [self.health_check_json(n, c) for n, c in sorted(checks.items()) if c.exists]
        return self._list(request, "compute#healthCheckList", "healthChecks", items)

    async def get_health_check(self, request: Request) -> JSONResponse:
        self._check_project(request, "compute.healthChecks.get")
        name = request.path_params["name"]
        config = self._google.compute.health_checks.get(name)
        if config is None or not config.exists:
            raise self._not_found("healthChecks", name)
        return JSONResponse(self.health_check_json(name, config))

    async def list_backend_services(self, request: Request) -> JSONResponse:
        self._check_project(request, "compute.backendServices.list")
        services = self._google.compute.backend_services
        items = [self.backend_service_json(n, c) for n, c in sorted(services.items()) if c.exists]
        return self._list(request, "compute#backendServiceList", "backendServices", items)

    def _backend_service(self, request: Request, permission: str) -> tuple[str, BackendServiceConfig]:
        self._check_project(request, permission)
        name = request.path_params["name"]
        config = self._google.compute.backend_services.get(name)
        if config is None or not config.exists:
            raise self._not_found("backendServices", name)
        return name, config

    async def get_backend_service(self, request: Request) -> JSONResponse:
        name, config = self._backend_service(request, "compute.backendServices.get")
        return JSONResponse(self.backend_service_json(name, config))

    async def get_health(self, request: Request) -> JSONResponse:
        """BackendServiceGroupHealth. Serverless NEGs have no health status: the real API answers just the kind."""
        name, config = self._backend_service(request, "compute.backendServices.get")
        try:
            group = str(json.loads(await request.body() or b"{}").get("group", ""))
        except (json.JSONDecodeError, AttributeError) as error:
            raise GoogleError(400, f"Invalid JSON payload received. {error}", reason="parseError") from error
        groups = {backend["group"] for backend in self.backend_service_json(name, config).get("backends", [])}
        if not group:
            raise GoogleError(400, "Invalid value for field 'resource.group': ''. Required.", reason="invalid")
        if group not in groups and not any(group.endswith(g.removeprefix(LINK_ROOT)) for g in groups):
            message = f"Invalid value for field 'resource.group': '{group}'. Group is not a backend of '{name}'."
            raise GoogleError(400, message, reason="invalid")
        return JSONResponse({"kind": "compute#backendServiceGroupHealth"})

    def health_check_json(self, name: str, config: HealthCheckConfig) -> dict[str, Any]:
        """The HealthCheck resource."""
        body: dict[str, Any] = {
            "kind": "compute#healthCheck",
            "id": resource_id(name),
            "creationTimestamp": CREATED,
            "name": name,
            "checkIntervalSec": config.check_interval_sec,
            "timeoutSec": config.timeout_sec,
            "unhealthyThreshold": config.unhealthy_threshold,
            "healthyThreshold": config.healthy_threshold,
            "type": config.type,
            "selfLink": self._link("healthChecks", name),
        }
        if config.type == "TCP":
            body["tcpHealthCheck"] = {"port": config.port, "proxyHeader": "NONE"}
        else:
            key = {"HTTP": "httpHealthCheck", "HTTPS": "httpsHealthCheck", "HTTP2": "http2HealthCheck"}[config.type]
            body[key] = {"port": config.port, "requestPath": config.request_path, "proxyHeader": "NONE"}
        return body

    def backend_service_json(self, name: str, config: BackendServiceConfig) -> dict[str, Any]:
        """The BackendService resource; a Cloud Run service becomes one serverless NEG backend.

        Without one, `backends` is left out, as Google leaves out every empty repeated field.
        """
        google = self._google
        body: dict[str, Any] = {
            "kind": "compute#backendService",
            "id": resource_id(name),
            "creationTimestamp": CREATED,
            "name": name,
            "selfLink": self._link("backendServices", name),
            "timeoutSec": config.timeout_sec,
            "port": 80,
            "protocol": config.protocol,
            "portName": "http",
            "fingerprint": base64.b64encode(hashlib.sha256(name.encode()).digest()[:8]).decode(),
            "sessionAffinity": "NONE",
            "affinityCookieTtlSec": 0,
            "loadBalancingScheme": "EXTERNAL_MANAGED",
            "connectionDraining": {"drainingTimeoutSec": 0},
            "logConfig": {"enable": True, "sampleRate": 1},
            "usedBy": [{"reference": self._link("urlMaps", "netra-staging-url-map")}],
        }
        if config.cloud_run_service:
            neg = (
                f"{LINK_ROOT}/projects/{google.project}/regions/{google.region}/networkEndpointGroups/"
                f"{config.cloud_run_service}-neg"
            )
            body["backends"] = [{"group": neg, "balancingMode": "UTILIZATION", "capacityScaler": 1}]
        if config.health_checks:
            body["healthChecks"] = [self._link("healthChecks", check) for check in config.health_checks]
        return body
