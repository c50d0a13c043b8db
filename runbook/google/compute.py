"""Compute Engine v1 reads of the `load-balancer` check, without google-cloud-compute's 2 s import.

The check reads three things: `backendServices.get`, `backendServices.getHealth` and `healthChecks.get` (and the two
`list`s after a 404). google-cloud-compute's package imports every Compute message type on first use: 1.8-2.1 s of
CPU and 95-145 MB on this kind of machine, more than every other client library together (docs/benchmarks.md).
These clients send the requests compute_v1's REST transport sends (method, path, query, JSON body, the
`x-goog-api-version` and routing headers), through the same google-auth `AuthorizedSession`, and map errors with
the same `google.api_core.exceptions.from_http_response`; tests/test_load_balancer.py compares both on the wire.

Answers are read into small pydantic models named and shaped like compute_v1's messages (snake_case attributes,
`"field" in message` for presence), so the decisions in tasks/load_balancer.py accept either. Field names and
defaults: https://cloud.google.com/compute/docs/reference/rest/v1/backendServices and .../healthChecks.
"""

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

DEFAULT_HOST = "https://compute.googleapis.com"
# The scopes and API version google-cloud-compute 1.57 sends (BackendServicesClient: "implements API version
# 2026-09-01"); the wire test fails when an upgraded library sends another.
AUTH_SCOPES = ("https://www.googleapis.com/auth/compute", "https://www.googleapis.com/auth/cloud-platform")
API_VERSION = "2026-09-01"

M = TypeVar("M", bound="ComputeMessage")


class ComputeMessage(BaseModel):
    """A Compute resource as JSON reads it: Google's camelCase fields as snake_case attributes, unknown ones kept out.

    Unset fields read as the proto3 default (0, "", []), as on compute_v1 messages; `"timeout_sec" in message`
    tells whether the API sent the field.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore", frozen=True)

    def __contains__(self, name: str) -> bool:
        return name in self.model_fields_set


class Backend(ComputeMessage):
    group: str = ""


class BackendService(ComputeMessage):
    name: str = ""
    timeout_sec: int = 0
    protocol: str = ""
    backends: list[Backend] = []
    health_checks: list[str] = []
    self_link: str = ""


class HealthStatus(ComputeMessage):
    health_state: str = ""  # HEALTHY, UNHEALTHY, DRAINING, TIMEOUT, UNKNOWN
    instance: str = ""
    ip_address: str = ""
    port: int = 0


class BackendServiceGroupHealth(ComputeMessage):
    health_status: list[HealthStatus] = []


class HealthCheck(ComputeMessage):
    name: str = ""
    type_: str = Field(default="", validation_alias=AliasChoices("type", "type_"))  # TCP, SSL, HTTP, HTTPS, HTTP2
    check_interval_sec: int = 0
    timeout_sec: int = 0
    healthy_threshold: int = 0
    unhealthy_threshold: int = 0
    self_link: str = ""


class BackendServiceList(ComputeMessage):
    items: list[BackendService] = []
    next_page_token: str = ""


class HealthCheckList(ComputeMessage):
    items: list[HealthCheck] = []
    next_page_token: str = ""


class _ComputeClient:
    """What both clients share: one request, compute_v1's headers, its error mapping, the answer parsed.

    `endpoint` set (the simulator): that base URL with anonymous credentials. None: Google's endpoint with
    Application Default Credentials and compute_v1's default scopes, as compute_v1's client would build it.
    """

    def __init__(self, endpoint: str | None = None) -> None:
        from google.api_core.gapic_v1.client_info import ClientInfo
        from google.auth.transport.requests import AuthorizedSession

        if endpoint is not None:
            from google.auth.credentials import AnonymousCredentials

            credentials: Any = AnonymousCredentials()
        else:
            import google.auth

            credentials, _ = google.auth.default(default_scopes=AUTH_SCOPES)
        self._session = AuthorizedSession(credentials)
        self._host = (endpoint or DEFAULT_HOST).rstrip("/")
        self._api_client = ClientInfo().to_grpc_metadata()[1]  # gl-python/... gax/..., as every Google client

    def _request(
        self,
        answer: type[M],
        method: str,
        path: str,
        routing: Mapping[str, str],
        *,
        timeout: float | None,
        retry: object,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> M:
        if retry is not None:  # retries belong to runbook.google.calls, inside the check's deadline
            raise TypeError(f"retry must be None (the caller retries), got {retry!r}")
        from urllib.parse import urlencode

        from google.api_core import exceptions

        headers = {
            "x-goog-api-client": self._api_client,
            "x-goog-request-params": urlencode(dict(routing)),
            "x-goog-api-version": API_VERSION,
            "Content-Type": "application/json",
        }
        response = self._session.request(
            method,
            f"{self._host}{path}",
            timeout=timeout,
            headers=headers,
            params=dict(params or {}),
            data=json.dumps(body, indent=2) if body is not None else None,
        )
        if response.status_code >= 400:
            raise exceptions.from_http_response(response)
        return answer.model_validate_json(response.content)  # a malformed answer: pydantic's ValueError


def _fields(request: Mapping[str, Any] | None, kwargs: Mapping[str, Any], *names: str) -> list[Any]:
    """compute_v1's two call styles: `request={...}` or flattened keyword fields, not both."""
    if request is not None and any(kwargs.get(n) is not None for n in names):
        raise ValueError("pass either request or the flattened fields, not both (as compute_v1 requires)")
    source = request if request is not None else kwargs
    missing = [n for n in names if not source.get(n)]
    if missing:
        raise ValueError(f"missing request field(s) {missing}")
    return [source[n] for n in names]


class BackendServicesClient(_ComputeClient):
    """`backendServices.get`, `.getHealth` and `.list` (global), called like compute_v1.BackendServicesClient."""

    def get(
        self,
        request: Mapping[str, Any] | None = None,
        *,
        timeout: float | None,
        retry: object = None,
        **fields: Any,
    ) -> BackendService:
        project, name = _fields(request, fields, "project", "backend_service")
        path = f"/compute/v1/projects/{project}/global/backendServices/{name}"
        routing = {"project": project, "backend_service": name}
        return self._request(BackendService, "GET", path, routing, timeout=timeout, retry=retry)

    def get_health(
        self,
        request: Mapping[str, Any] | None = None,
        *,
        timeout: float | None,
        retry: object = None,
        **fields: Any,
    ) -> BackendServiceGroupHealth:
        names = ("project", "backend_service", "resource_group_reference_resource")
        project, name, group = _fields(request, fields, *names)
        body = {"group": group["group"] if isinstance(group, Mapping) else group.group}
        path = f"/compute/v1/projects/{project}/global/backendServices/{name}/getHealth"
        routing = {"project": project, "backend_service": name}
        return self._request(BackendServiceGroupHealth, "POST", path, routing, timeout=timeout, retry=retry, body=body)

    def list(
        self, request: Mapping[str, Any] | None = None, *, timeout: float | None, retry: object = None, **fields: Any
    ) -> BackendServiceList:
        [project] = _fields(request, fields, "project")
        params = _list_params(request if request is not None else fields)
        path = f"/compute/v1/projects/{project}/global/backendServices"
        return self._request(
            BackendServiceList, "GET", path, {"project": project}, timeout=timeout, retry=retry, params=params
        )


class HealthChecksClient(_ComputeClient):
    """`healthChecks.get` and `.list` (global), called like compute_v1.HealthChecksClient."""

    def get(
        self,
        request: Mapping[str, Any] | None = None,
        *,
        timeout: float | None,
        retry: object = None,
        **fields: Any,
    ) -> HealthCheck:
        project, name = _fields(request, fields, "project", "health_check")
        path = f"/compute/v1/projects/{project}/global/healthChecks/{name}"
        routing = {"project": project, "health_check": name}
        return self._request(HealthCheck, "GET", path, routing, timeout=timeout, retry=retry)

    def list(
        self, request: Mapping[str, Any] | None = None, *, timeout: float | None, retry: object = None, **fields: Any
    ) -> HealthCheckList:
        [project] = _fields(request, fields, "project")
        params = _list_params(request if request is not None else fields)
        path = f"/compute/v1/projects/{project}/global/healthChecks"
        return self._request(
            HealthCheckList, "GET", path, {"project": project}, timeout=timeout, retry=retry, params=params
        )


def _list_params(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The query of a list: compute_v1's snake_case request fields as the API's camelCase parameters."""
    names = {"max_results": "maxResults", "page_token": "pageToken", "filter": "filter", "order_by": "orderBy"}
    return {wire: fields[name] for name, wire in names.items() if fields.get(name)}
