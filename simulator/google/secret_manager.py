"""Secret Manager v1 (`google.cloud.secretmanager_v1`, REST): secrets, versions and payload access.

Answers name secrets by PROJECT NUMBER, like the real API, whichever form the request used. Every payload access
goes through the request log (path ending in `:access`), so tests can prove which payloads a run read.
"""

import base64
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from simulator.google.config import GoogleConfig, SecretConfig
from simulator.google.enums import google_json
from simulator.google.rest import GoogleError, paginate, permission_denied, timestamp

SIM_E2E_BYPASS_KEY = "sim-e2e-bypass-key-not-a-secret"
"""Payload of `e2e-oauth-simulation-key-staging`; the simulated auth service accepts the same constant."""

E2E_SECRET_ID = "e2e-oauth-simulation-key-staging"
SECRET = "google.cloud.secretmanager.v1.Secret"
LIST_SECRETS = "google.cloud.secretmanager.v1.ListSecretsResponse"
VERSION = "google.cloud.secretmanager.v1.SecretVersion"
LIST_VERSIONS = "google.cloud.secretmanager.v1.ListSecretVersionsResponse"
PREFIX = "/v1/projects/{project}/secrets"


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC32C = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC32C (Castagnoli), the checksum Secret Manager reports as `dataCrc32c`."""
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC32C[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def payload_of(secret_id: str, config: SecretConfig, version: int) -> str:
    """The payload of one version: the scenario's value, the E2E constant, or a recognisable dummy."""
    if config.payload is not None:
        return config.payload
    if secret_id == E2E_SECRET_ID:
        return SIM_E2E_BYPASS_KEY
    return f"sim-dummy-{secret_id}-v{version}"


class SecretManagerApi:
    """Secrets of the scenario project; versions 1..n with states from the scenario."""

    def __init__(self, google: GoogleConfig) -> None:
        self._google = google

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PREFIX, self.list_secrets, methods=["GET"]),
            Route(PREFIX + "/{secret}", self.get_secret, methods=["GET"]),
            Route(PREFIX + "/{secret}/versions", self.list_versions, methods=["GET"]),
            Route(PREFIX + "/{secret}/versions/{version}:access", self.access_version, methods=["GET"]),
            Route(PREFIX + "/{secret}/versions/{version}", self.get_version, methods=["GET"]),
        ]

    @property
    def _parent(self) -> str:
        return f"projects/{self._google.project_number}"

    def _check_project(self, request: Request, permission: str) -> None:
        project = request.path_params["project"]
        if not self._google.is_project(project):
            raise permission_denied(permission, f"projects/{project}")

    def _secret(self, request: Request, permission: str) -> tuple[str, SecretConfig]:
        self._check_project(request, permission)
        secret_id = request.path_params["secret"]
        config = self._google.secretmanager.secrets.get(secret_id)
        if config is None or not config.exists:
            raise GoogleError(404, f"Secret [{self._parent}/secrets/{secret_id}] not found or has no versions.")
        return secret_id, config

    def _version(self, request: Request, permission: str) -> tuple[str, SecretConfig, int]:
        secret_id, config = self._secret(request, permission)
        wanted = request.path_params["version"]
        number = len(config.versions) if wanted == "latest" else int(wanted) if wanted.isdigit() else 0
        if not 1 <= number <= len(config.versions):
            name = f"{self._parent}/secrets/{secret_id}/versions/{wanted}"
            raise GoogleError(404, f"Secret Version [{name}] not found or has no versions.")
        return secret_id, config, number

    async def list_secrets(self, request: Request) -> JSONResponse:
        self._check_project(request, "secretmanager.secrets.list")
        secrets = [self.secret_json(s) for s, c in self._google.secretmanager.secrets.items() if c.exists]
        query = request.query_params
        default = self._google.secretmanager.default_page_size
        page, token = paginate(secrets, query.get("pageSize"), query.get("pageToken"), default)
        body: dict[str, Any] = {"secrets": page, "totalSize": len(secrets)}
        if token:
            body["nextPageToken"] = token
        return google_json(request, body, LIST_SECRETS)

    async def get_secret(self, request: Request) -> JSONResponse:
        secret_id, _ = self._secret(request, "secretmanager.secrets.get")
        return google_json(request, self.secret_json(secret_id), SECRET)

    async def list_versions(self, request: Request) -> JSONResponse:
        secret_id, config = self._secret(request, "secretmanager.versions.list")
        versions = [self.version_json(secret_id, config, n) for n in range(len(config.versions), 0, -1)]
        query = request.query_params
        page, token = paginate(versions, query.get("pageSize"), query.get("pageToken"), 25)
        body: dict[str, Any] = {"versions": page, "totalSize": len(versions)}
        if token:
            body["nextPageToken"] = token
        return google_json(request, body, LIST_VERSIONS)

    async def get_version(self, request: Request) -> JSONResponse:
        secret_id, config, number = self._version(request, "secretmanager.versions.get")
        return google_json(request, self.version_json(secret_id, config, number), VERSION)

    async def access_version(self, request: Request) -> JSONResponse:
        secret_id, config, number = self._version(request, "secretmanager.versions.access")
        name = f"{self._parent}/secrets/{secret_id}/versions/{number}"
        state = config.versions[number - 1]
        if state != "ENABLED":
            raise GoogleError(400, f"Secret Version [{name}] is in {state} state.", "FAILED_PRECONDITION")
        data = payload_of(secret_id, config, number).encode()
        return JSONResponse(
            {"name": name, "payload": {"data": base64.b64encode(data).decode(), "dataCrc32c": str(crc32c(data))}}
        )

    def secret_json(self, secret_id: str) -> dict[str, Any]:
        """The Secret resource (no payload)."""
        return {
            "name": f"{self._parent}/secrets/{secret_id}",
            "replication": {"automatic": {}},
            "createTime": timestamp(-86400 * 90),
            "labels": {"environment": "staging"},
            "etag": f'"sim-{secret_id}"',
        }

    def version_json(self, secret_id: str, config: SecretConfig, number: int) -> dict[str, Any]:
        """The SecretVersion resource (no payload)."""
        state = config.versions[number - 1]
        body: dict[str, Any] = {
            "name": f"{self._parent}/secrets/{secret_id}/versions/{number}",
            "createTime": timestamp(-86400 * (90 - 30 * number)),
            "state": state,
            "replicationStatus": {"automatic": {}},
            "etag": f'"sim-{secret_id}-{number}"',
            "clientSpecifiedPayloadChecksum": True,
        }
        if state == "DESTROYED":
            body["destroyTime"] = timestamp(-86400)
        return body
