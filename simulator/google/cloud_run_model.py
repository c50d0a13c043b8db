"""Cloud Run v2 resources as JSON: revision templates, revisions, services and their conditions.

Pure functions over small state objects; `cloud_run.py` serves them and runs updates.
"""

import hashlib
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from simulator.google.config import GoogleConfig, RunServiceConfig
from simulator.google.rest import timestamp

DEFAULT_FAILED_MESSAGE = (
    "The user-provided container failed to start and listen on the port defined provided by the PORT={port} "
    "environment variable within the allocated timeout."
)


@dataclass
class RevisionState:
    """One revision. `ready_at` is a time.monotonic() deadline; a failed revision never becomes ready."""

    number: int
    name: str
    template: dict[str, Any]
    created_offset: float
    ready_at: float = 0.0
    failed_reason: str = ""
    failed_message: str = ""

    def status(self) -> str:
        """CONDITION_FAILED, CONDITION_SUCCEEDED or CONDITION_RECONCILING (not ready yet)."""
        if self.failed_message:
            return "CONDITION_FAILED"
        return "CONDITION_SUCCEEDED" if time.monotonic() >= self.ready_at else "CONDITION_RECONCILING"


@dataclass
class ServiceState:
    """A service: its current template, traffic and revisions (oldest first)."""

    name: str
    config: RunServiceConfig
    template: dict[str, Any]
    traffic: list[dict[str, Any]]
    revisions: dict[int, RevisionState] = field(default_factory=dict)
    generation: int = 1

    @property
    def latest_created(self) -> RevisionState:
        return self.revisions[max(self.revisions)]

    @property
    def latest_ready(self) -> RevisionState | None:
        ready = [r for n, r in sorted(self.revisions.items()) if r.status() == "CONDITION_SUCCEEDED"]
        return ready[-1] if ready else None


def revision_name(service: str, number: int) -> str:
    """`{service}-{number:05d}-{3 letters}` like Cloud Run's generated names; stable for a given service/number."""
    digest = hashlib.sha256(f"{service}/{number}".encode()).digest()
    return f"{service}-{number:05d}-" + "".join(chr(ord("a") + b % 26) for b in digest[:3])


def template_json(google: GoogleConfig, service: str, config: RunServiceConfig) -> dict[str, Any]:
    """The RevisionTemplate a deploy with the scenario's settings would produce."""
    container: dict[str, Any] = {
        "name": service.removeprefix("netra-").split("-")[0],
        "image": config.image or f"{google.region}-docker.pkg.dev/{google.project}/netra/{service}:staging",
        "env": [{"name": k, "value": v} for k, v in config.env.items()]
        + [
            {"name": env, "valueSource": {"secretKeyRef": {"secret": secret, "version": "latest"}}}
            for env, secret in config.secret_env.items()
        ],
        "resources": {"limits": {"cpu": "2", "memory": "4Gi"}, "cpuIdle": True, "startupCpuBoost": True},
        "ports": [{"name": "http1", "containerPort": config.port}],
        "startupProbe": {
            "timeoutSeconds": 240,
            "periodSeconds": 240,
            "failureThreshold": 1,
            "tcpSocket": {"port": config.port},
        },
    }
    template: dict[str, Any] = {
        "scaling": {"minInstanceCount": config.min_instances, "maxInstanceCount": config.max_instances},
        "timeout": config.timeout,
        "serviceAccount": f"{google.project_number}-compute@developer.gserviceaccount.com",
        "containers": [container],
        "maxInstanceRequestConcurrency": 80,
        "executionEnvironment": "EXECUTION_ENVIRONMENT_GEN2",
    }
    if config.vpc_connector:
        connector = config.vpc_connector
        if "/" not in connector:
            connector = f"projects/{google.project}/locations/{google.region}/connectors/{connector}"
        template["vpcAccess"] = {"connector": connector, "egress": config.vpc_egress}
    if config.cloudsql_instances:
        template["volumes"] = [{"name": "cloudsql", "cloudSqlInstance": {"instances": config.cloudsql_instances}}]
        container["volumeMounts"] = [{"name": "cloudsql", "mountPath": "/cloudsql"}]
    return template


def initial_state(google: GoogleConfig, service: str, config: RunServiceConfig) -> ServiceState:
    """The service as the scenario describes it: a few recent revisions, the newest possibly failed."""
    template = template_json(google, service, config)
    latest = config.revision
    ready = config.ready_revision or latest
    first = max(1, min(latest - 2, ready, config.traffic_revision or latest))
    state = ServiceState(service, config, template, traffic=[], generation=latest)
    for number in range(first, latest + 1):
        revision = RevisionState(number, revision_name(service, number), template, -3600.0 * (latest - number + 1))
        if number > ready:
            revision.failed_reason = config.failed_revision_reason
            revision.failed_message = config.failed_message or DEFAULT_FAILED_MESSAGE.format(port=config.port)
        state.revisions[number] = revision
    if config.traffic_revision:
        state.traffic = [
            {
                "type": "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION",
                "revision": revision_name(service, config.traffic_revision),
                "percent": 100,
            }
        ]
    else:
        state.traffic = [{"type": "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST", "percent": 100}]
    return state


def _condition(kind: str, state: str, offset: float, **extra: str) -> dict[str, Any]:
    return {"type": kind, "state": state, "lastTransitionTime": timestamp(offset), **extra}


def revision_json(google: GoogleConfig, service: ServiceState, revision: RevisionState) -> dict[str, Any]:
    """The Revision resource."""
    parent = f"projects/{google.project}/locations/{google.region}/services/{service.name}"
    status = revision.status()
    ready: dict[str, Any] = _condition("Ready", status, revision.created_offset + 30)
    if status == "CONDITION_FAILED":
        ready.update(revisionReason=revision.failed_reason, message=revision.failed_message, severity="ERROR")
    body: dict[str, Any] = {
        "name": f"{parent}/revisions/{revision.name}",
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{parent}/revisions/{revision.name}")),
        "generation": "1",
        "labels": {"serving.knative.dev/service": service.name},
        "createTime": timestamp(revision.created_offset),
        "updateTime": timestamp(revision.created_offset + 30),
        "launchStage": "GA",
        "service": parent,
        **{k: v for k, v in revision.template.items() if k not in ("revision", "labels", "annotations")},
        "reconciling": status == "CONDITION_RECONCILING",
        "conditions": [
            ready,
            _condition("ContainerHealthy", status, revision.created_offset + 30),
            _condition("ResourcesAvailable", "CONDITION_SUCCEEDED", revision.created_offset + 20),
        ],
        "observedGeneration": "1",
        "logUri": f"https://console.cloud.google.com/logs/viewer?project={google.project}"
        f"&resource=cloud_run_revision/service_name/{service.name}/revision_name/{revision.name}",
        "etag": f'"sim-{revision.name}"',
    }
    return body


def service_json(google: GoogleConfig, service: ServiceState, base_url: str) -> dict[str, Any]:
    """The Service resource, with terminalCondition/conditions derived from its latest created revision."""
    parent = f"projects/{google.project}/locations/{google.region}"
    name = f"{parent}/services/{service.name}"
    latest, ready = service.latest_created, service.latest_ready
    status = latest.status()
    offset = latest.created_offset + 30
    terminal: dict[str, Any] = _condition("Ready", status, offset)
    configurations = _condition("ConfigurationsReady", status, offset)
    if status == "CONDITION_FAILED":
        message = f"Revision '{latest.name}' is not ready and cannot serve traffic. {latest.failed_message}"
        terminal.update(message=message, severity="ERROR")
        configurations.update(message=message, severity="ERROR", reason="REVISION_FAILED")
    elif status == "CONDITION_RECONCILING":
        terminal.update(reason="WAITING_FOR_OPERATION", message="Deploying revision.")
    uri = f"{base_url}/services/{service.name}"
    body: dict[str, Any] = {
        "name": name,
        "uid": str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
        "generation": str(service.generation),
        "labels": {"managed-by": "netra-deploy"},
        "createTime": timestamp(-86400 * 120),
        "updateTime": timestamp(latest.created_offset),
        "creator": f"deployer@{google.project}.iam.gserviceaccount.com",
        "lastModifier": f"deployer@{google.project}.iam.gserviceaccount.com",
        "ingress": "INGRESS_TRAFFIC_ALL",
        "launchStage": "GA",
        "template": service.template,
        "traffic": service.traffic,
        "observedGeneration": str(service.generation),
        "terminalCondition": terminal,
        "conditions": [_condition("RoutesReady", "CONDITION_SUCCEEDED" if ready else status, offset), configurations],
        "latestCreatedRevision": f"{name}/revisions/{latest.name}",
        "trafficStatuses": [{k: v for k, v in target.items() if k != "tag"} for target in service.traffic],
        "uri": uri,
        "urls": [uri],
        "reconciling": status == "CONDITION_RECONCILING",
        "etag": f'"sim-{service.name}-{service.generation}"',
    }
    if ready is not None:
        body["latestReadyRevision"] = f"{name}/revisions/{ready.name}"
    return body
