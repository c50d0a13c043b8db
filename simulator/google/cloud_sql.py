"""Cloud SQL Admin v1beta4 (`google.cloud.sqladmin_v1beta4`, REST): get and list instances, connect settings."""

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from simulator.google.config import GoogleConfig, SqlInstanceConfig
from simulator.google.rest import GoogleError, drop_empty, paginate, timestamp

PREFIX = "/sql/v1beta4/projects/{project}/instances"
SELF_LINK_ROOT = "https://sqladmin.googleapis.com/sql/v1beta4"


class CloudSqlApi:
    """Cloud SQL instances. Note the API has no STOPPED state: stopped = RUNNABLE + activationPolicy NEVER."""

    def __init__(self, google: GoogleConfig) -> None:
        self._google = google

    def routes(self) -> list[BaseRoute]:
        return [
            Route(PREFIX, self.list_instances, methods=["GET"]),
            Route(PREFIX + "/{instance}", self.get_instance, methods=["GET"]),
            Route(PREFIX + "/{instance}/connectSettings", self.connect_settings, methods=["GET"]),
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
        return JSONResponse(self.instance_json(name, config))

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
        return JSONResponse(body)

    async def connect_settings(self, request: Request) -> JSONResponse:
        """What cloud-sql-python-connector reads before connecting (no server CA: TLS is not simulated)."""
        _, config = self._instance(request)
        return JSONResponse(
            {
                "kind": "sql#connectSettings",
                "ipAddresses": self._ip_addresses(config),
                "region": self._google.region,
                "databaseVersion": config.database_version,
                "backendType": "SECOND_GEN",
                "pscEnabled": False,
            }
        )

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
                    "requireSsl": config.require_ssl,
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
