"""Cloud Run Admin v2 (`google.cloud.run_v2`, REST): services, revisions, update as a long-running operation."""

import datetime as dt
import json
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from simulator.google.cloud_run_model import (
    RevisionState,
    ServiceState,
    initial_state,
    revision_json,
    revision_name,
    service_json,
)
from simulator.google.config import GoogleConfig
from simulator.google.enums import google_json
from simulator.google.rest import SIM_EPOCH, GoogleError, paginate, permission_denied

SERVICE = "google.cloud.run.v2.Service"
LIST_SERVICES = "google.cloud.run.v2.ListServicesResponse"
REVISION = "google.cloud.run.v2.Revision"
LIST_REVISIONS = "google.cloud.run.v2.ListRevisionsResponse"
OPERATION = "google.longrunning.Operation"
LOCATION = "/v2/projects/{project}/locations/{location}"
SERVICE_TYPE = "type.googleapis.com/google.cloud.run.v2.Service"


class CloudRunApi:
    """Services and revisions; PATCH creates a revision that becomes ready after `revision_ready_after_seconds`."""

    def __init__(self, google: GoogleConfig, base_url: str) -> None:
        self._google = google
        self._base_url = base_url
        self._services: dict[str, ServiceState] = {
            name: initial_state(google, name, config)
            for name, config in sorted(google.run.services.items())
            if config.exists
        }
        self._operations: dict[str, tuple[str, int]] = {}

    def routes(self) -> list[BaseRoute]:
        return [
            Route(LOCATION + "/services", self.list_services, methods=["GET"]),
            Route(LOCATION + "/services/{service}", self.get_service, methods=["GET"]),
            Route(LOCATION + "/services/{service}", self.update_service, methods=["PATCH"]),
            Route(LOCATION + "/services/{service}/revisions", self.list_revisions, methods=["GET"]),
            Route(LOCATION + "/services/{service}/revisions/{revision}", self.get_revision, methods=["GET"]),
            Route(LOCATION + "/operations/{operation}", self.get_operation, methods=["GET"]),
        ]

    def _location(self, request: Request, permission: str) -> str:
        project, location = request.path_params["project"], request.path_params["location"]
        if not self._google.is_project(project):
            raise permission_denied(permission, f"projects/{project}/locations/{location}")
        return str(location)

    def _service(self, request: Request, permission: str) -> ServiceState:
        location = self._location(request, permission)
        name = request.path_params["service"]
        service = self._services.get(name) if location == self._google.region else None
        if service is None:
            raise self._not_found(name, "SERVICE", location)
        return service

    def _not_found(self, name: str, kind: str, location: str) -> GoogleError:
        return GoogleError(
            404,
            f"Resource '{name}' of kind '{kind}' in region '{location}' in project '{self._google.project}' "
            "does not exist.",
        )

    async def list_services(self, request: Request) -> JSONResponse:
        location = self._location(request, "run.services.list")
        services = list(self._services.values()) if location == self._google.region else []
        items = [service_json(self._google, s, self._base_url) for s in services]
        page, token = paginate(items, request.query_params.get("pageSize"), request.query_params.get("pageToken"), 100)
        return google_json(request, {"services": page, **({"nextPageToken": token} if token else {})}, LIST_SERVICES)

    async def get_service(self, request: Request) -> JSONResponse:
        service = self._service(request, "run.services.get")
        return google_json(request, service_json(self._google, service, self._base_url), SERVICE)

    async def list_revisions(self, request: Request) -> JSONResponse:
        service = self._service(request, "run.revisions.list")
        items = [revision_json(self._google, service, r) for _, r in sorted(service.revisions.items(), reverse=True)]
        page, token = paginate(items, request.query_params.get("pageSize"), request.query_params.get("pageToken"), 100)
        return google_json(request, {"revisions": page, **({"nextPageToken": token} if token else {})}, LIST_REVISIONS)

    async def get_revision(self, request: Request) -> JSONResponse:
        service = self._service(request, "run.revisions.get")
        wanted = request.path_params["revision"]
        for revision in service.revisions.values():
            if revision.name == wanted:
                return google_json(request, revision_json(self._google, service, revision), REVISION)
        raise self._not_found(wanted, "REVISION", self._google.region)

    async def update_service(self, request: Request) -> JSONResponse:
        """Replace the template (and traffic, when given); start a new revision; answer an Operation."""
        service = self._service(request, "run.services.update")
        patch = _normalise_service_json(await request.body())
        if request.query_params.get("validateOnly") == "true":
            return google_json(request, self._operation_json("validate-" + uuid.uuid4().hex, service, None), OPERATION)
        template = patch.get("template") or service.template
        number = max(service.revisions) + 1
        wanted_name = str(template.get("revision", ""))
        if wanted_name and any(r.name == wanted_name for r in service.revisions.values()):
            raise GoogleError(409, f"Revision named '{wanted_name}' with different configuration already exists.")
        template = {k: v for k, v in template.items() if k != "revision"}
        created = (dt.datetime.now(dt.UTC) - SIM_EPOCH).total_seconds()
        ready_at = time.monotonic() + self._google.run.revision_ready_after_seconds
        service.revisions[number] = RevisionState(
            number, wanted_name or revision_name(service.name, number), template, created, ready_at
        )
        service.template = template
        if patch.get("traffic"):
            service.traffic = patch["traffic"]
        service.generation += 1
        operation_id = str(uuid.uuid4())
        self._operations[operation_id] = (service.name, number)
        return google_json(request, self._operation_json(operation_id, service, service.revisions[number]), OPERATION)

    async def get_operation(self, request: Request) -> JSONResponse:
        self._location(request, "run.operations.get")
        operation_id = request.path_params["operation"]
        if operation_id not in self._operations:
            name = f"projects/{request.path_params['project']}/locations/{self._google.region}/operations"
            raise GoogleError(404, f"Operation {name}/{operation_id} not found.")
        service_name, number = self._operations[operation_id]
        service = self._services[service_name]
        operation = self._operation_json(operation_id, service, service.revisions.get(number))
        return google_json(request, operation, OPERATION)

    def _operation_json(
        self, operation_id: str, service: ServiceState, revision: RevisionState | None
    ) -> dict[str, Any]:
        """A google.longrunning.Operation; done once the new revision is ready (or failed)."""
        google = self._google
        current = {"@type": SERVICE_TYPE, **service_json(google, service, self._base_url)}
        body: dict[str, Any] = {
            "name": f"projects/{google.project}/locations/{google.region}/operations/{operation_id}",
            "metadata": current,
            "done": False,
        }
        status = revision.status() if revision is not None else "CONDITION_SUCCEEDED"
        if status == "CONDITION_SUCCEEDED":
            body.update(done=True, response=current)
        elif status == "CONDITION_FAILED" and revision is not None:
            body.update(done=True, error={"code": 9, "message": revision.failed_message})
        return body


def _normalise_service_json(raw: bytes) -> dict[str, Any]:
    """The client's Service body (enums possibly as integers) as canonical JSON with enum names."""
    from google.cloud import run_v2
    from google.protobuf import json_format

    try:
        message = run_v2.Service.pb(run_v2.Service())
        json_format.Parse(raw or b"{}", message, ignore_unknown_fields=True)
    except (json_format.ParseError, UnicodeDecodeError) as error:
        raise GoogleError(400, f"Invalid JSON payload received. {error}") from error
    result: dict[str, Any] = json.loads(json_format.MessageToJson(message))
    return result
