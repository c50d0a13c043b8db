"""Cloud SQL Admin v1beta4 (`google.cloud.sqladmin_v1beta4`, REST): get and list instances, connect settings."""

import json
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from simulator.google.config import GoogleConfig, SqlInstanceConfig
from simulator.google.enums import google_json
from simulator.google.rest import GoogleError, drop_empty, paginate, timestamp
from simulator.google.sql_proxy import LazyCertificates

INSTANCE = "google.cloud.sql.v1beta4.DatabaseInstance"
LIST_INSTANCES = "google.cloud.sql.v1beta4.InstancesListResponse"
CONNECT_SETTINGS = "google.cloud.sql.v1beta4.ConnectSettings"
PREFIX = "/sql/v1beta4/projects/{project}/instances"
SELF_LINK_ROOT = "https://sqladmin.googleapis.com/sql/v1beta4"


class CloudSqlApi:
    """Cloud SQL instances. Note the API has no STOPPED state: stopped = RUNNABLE + activationPolicy NEVER."""

    def __init__(self, google: GoogleConfig, certificates: LazyCertificates) -> None:
        self._google = google
        self._certificates = certificates

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PREFIX, self.list_instances, methods=["GET"]),
            Route(PREFIX + "/{instance}", self.get_instance, methods=["GET"]),
            Route(PREFIX + "/{instance}/connectSettings", self.connect_settings, methods=["GET"]),
            Route(PREFIX + "/{instance}:generateEphemeralCert", self.generate_ephemeral_cert, methods=["POST"]),
        ]

    def _check_project(self, request: Request) -> str:
        project: str = request.path_params["project"]
        if not self._google.is_project(project):
            # What Cloud SQL answers for a project that does not exist or is not visible to the caller.
            raise GoogleError(403, "The client is not authorized to make this request.", reason="notAuthorized")
        return project

    def _instance(self, request: Request) -> tuple[str, SqlInstanceConfig]:
        self._check_project(request)
        name = request.path_params["instance"]
        config = self._google.sqladmin.instances.get(name)
        if config is None or not config.exists:
            raise GoogleError(404, "The Cloud SQL instance does not exist.", reason="instanceDoesNotExist")
        return name, config

    async def get_instance(self, request: Request) -> JSONResponse:
        name, config = self._instance(request)
        return google_json(request, self.instance_json(name, config), INSTANCE)

    async def list_instances(self, request: Request) -> JSONResponse:
        self._check_project(request)
        instances = [
            self.instance_json(name, config)
            for name, config in sorted(self._google.sqladmin.instances.items())
            if config.exists
        ]
        page, token = paginate(
            instances, request.query_params.get("maxResults"), request.query_params.get("pageToken"), 500
        )
        body: dict[str, Any] = {"kind": "sql#instancesList", "items": page}
        if token:
            body["nextPageToken"] = token
        return google_json(request, body, LIST_INSTANCES)

    async def connect_settings(self, request: Request) -> JSONResponse:
        """What cloud-sql-python-connector reads before connecting: addresses and the server CA."""
        name, config = self._instance(request)
        certificates = self._certificates.get()
        return google_json(
            request,
            {
                "kind": "sql#connectSettings",
                "serverCaCert": self._ssl_cert_json(name, certificates.ca_cert, "Google Cloud SQL Server CA"),
                "ipAddresses": self._ip_addresses(config),
                "region": self._google.region,
                "databaseVersion": config.database_version,
                "backendType": "SECOND_GEN",
                "pscEnabled": False,
                "serverCaMode": "GOOGLE_MANAGED_INTERNAL_CA",
            },
            CONNECT_SETTINGS,
        )

    async def generate_ephemeral_cert(self, request: Request) -> JSONResponse:
        """Sign the connector's public key: the client certificate for mutual TLS to port 3307."""
        name, _ = self._instance(request)
        try:
            public_key = str(json.loads(await request.body() or b"{}")["public_key"])
            certificates = self._certificates.get()
            cert = certificates.sign_client_key(public_key, f"{self._google.project_number}-ephemeral")
        except (KeyError, TypeError, ValueError) as error:
            raise GoogleError(400, f"Invalid request: public_key must be a PEM public key ({error}).") from error
        return JSONResponse({"ephemeralCert": self._ssl_cert_json(name, cert, cert.subject.rfc4514_string())})

    def _ssl_cert_json(self, instance: str, cert: x509.Certificate, common_name: str) -> dict[str, Any]:
        return {
            "kind": "sql#sslCert",
            "certSerialNumber": str(cert.serial_number),
            "cert": cert.public_bytes(serialization.Encoding.PEM).decode(),
            "commonName": common_name,
            "sha1Fingerprint": cert.fingerprint(hashes.SHA1()).hex(),
            "instance": instance,
            "createTime": cert.not_valid_before_utc.isoformat().replace("+00:00", "Z"),
            "expirationTime": cert.not_valid_after_utc.isoformat().replace("+00:00", "Z"),
        }

    def instance_json(self, name: str, config: SqlInstanceConfig) -> dict[str, Any]:
        """The DatabaseInstance resource as v1beta4 returns it."""
        google = self._google
        major = config.database_version
        body: dict[str, Any] = {
            "kind": "sql#instance",
            "state": config.state,
            "databaseVersion": major,
            "settings": {
                "authorizedGaeApplications": [],
                "tier": config.tier,
                "kind": "sql#settings",
                "availabilityType": "ZONAL",
                "pricingPlan": "PER_USE",
                "replicationType": "SYNCHRONOUS",
                "activationPolicy": config.activation_policy,
                "ipConfiguration": {
                    "ipv4Enabled": config.ipv4_enabled,
                    "privateNetwork": config.private_network,
                    "requireSsl": config.effective_require_ssl,
                    "sslMode": config.ssl_mode,
                    "authorizedNetworks": [],
                },
                "locationPreference": {"zone": config.zone, "kind": "sql#locationPreference"},
                "dataDiskType": "PD_SSD",
                "storageAutoResize": True,
                "storageAutoResizeLimit": "0",
                "dataDiskSizeGb": "20",
                "settingsVersion": "17",
                "edition": "ENTERPRISE",
                "deletionProtectionEnabled": True,
                "userLabels": {"environment": "staging"},
            },
            "etag": f"sim-etag-{name}",
            "ipAddresses": self._ip_addresses(config),
            "instanceType": "CLOUD_SQL_INSTANCE",
            "project": google.project,
            "serviceAccountEmailAddress": f"p{google.project_number}-sim01@gcp-sa-cloud-sql.iam.gserviceaccount.com",
            "backendType": "SECOND_GEN",
            "selfLink": f"{SELF_LINK_ROOT}/projects/{google.project}/instances/{name}",
            "connectionName": f"{google.project}:{google.region}:{name}",
            "name": name,
            "region": google.region,
            "gceZone": config.zone,
            "databaseInstalledVersion": f"{major}_7",
            "createTime": timestamp(-86400 * 200),
            "sqlNetworkArchitecture": "NEW_NETWORK_ARCHITECTURE",
        }
        result: dict[str, Any] = drop_empty(body)
        return result

    @staticmethod
    def _ip_addresses(config: SqlInstanceConfig) -> list[dict[str, str]]:
        return [{"type": ip.type, "ipAddress": ip.ip_address} for ip in config.ip_addresses]
