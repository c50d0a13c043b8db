"""The deployments of deployments/prefect.yaml, served from one long-running process (`runbook serve`).

There is one definition of the deployments: deployments/prefect.yaml. `prefect deploy` registers them for a work
pool and its workers; this module reads the same file and builds the same deployments (names, entrypoints,
descriptions, tags, parameters, schedules) as `RunnerDeployment`s for Prefect's `serve`, for teams without a
worker. Work pool, build and pull steps are ignored here: a served flow runs in this process's environment.

    from runbook.app.serve import deployments
    for deployment in deployments():
        print(deployment.flow_name, deployment.name, deployment.schedules)
"""

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from runbook.config.files import PROJECT_ROOT

if TYPE_CHECKING:
    from prefect.deployments.runner import RunnerDeployment
    from prefect.flows import Flow

PREFECT_FILE = PROJECT_ROOT / "deployments" / "prefect.yaml"

# The keys of a deployment in prefect.yaml that this module understands; anything else is a mistake here
# (Prefect itself ignores unknown keys silently, so a misspelt `schedule:` would otherwise go unnoticed).
KNOWN_KEYS = frozenset({"name", "entrypoint", "description", "tags", "paused", "schedules", "parameters", "work_pool"})
SCHEDULE_KEYS = frozenset({"cron", "timezone", "active", "day_or", "parameters", "slug"})


class DeploymentFileError(ValueError):
    """deployments/prefect.yaml is not what this module (and the operator guide) expects."""


@dataclass(frozen=True)
class DeploymentSpec:
    """One deployment as written in prefect.yaml."""

    name: str
    entrypoint: str  # "flows/handoff.py:staging_handoff", relative to the project directory
    description: str = ""
    tags: tuple[str, ...] = ()
    parameters: dict[str, Any] = field(default_factory=dict)
    schedules: tuple[dict[str, Any], ...] = ()
    paused: bool | None = None
    work_pool: str | None = None

    @property
    def module(self) -> str:
        """The importable module of the entrypoint: flows/handoff.py -> flows.handoff."""
        path, _, _ = self.entrypoint.partition(":")
        return Path(path).with_suffix("").as_posix().replace("/", ".")

    @property
    def function(self) -> str:
        return self.entrypoint.rpartition(":")[2]


def _spec(raw: Any, file: Path) -> DeploymentSpec:
    if not isinstance(raw, dict):
        raise DeploymentFileError(f"{file}: each deployment must be a mapping, found {raw!r}")
    where = f"{file}: deployment {raw.get('name')!r}"
    unknown = set(raw) - KNOWN_KEYS
    if unknown:
        raise DeploymentFileError(f"{where}: unknown keys {sorted(unknown)} (known: {sorted(KNOWN_KEYS)})")
    if not raw.get("name") or ":" not in str(raw.get("entrypoint", "")):
        raise DeploymentFileError(f"{where}: needs a name and an entrypoint 'path/to/file.py:function'")
    schedules = raw.get("schedules") or []
    for schedule in schedules:
        if not isinstance(schedule, dict) or "cron" not in schedule or set(schedule) - SCHEDULE_KEYS:
            raise DeploymentFileError(f"{where}: a schedule is a mapping with `cron` and {sorted(SCHEDULE_KEYS)}")
    work_pool = raw.get("work_pool") or {}
    return DeploymentSpec(
        name=str(raw["name"]),
        entrypoint=str(raw["entrypoint"]),
        description=" ".join(str(raw.get("description") or "").split()),
        tags=tuple(str(tag) for tag in raw.get("tags") or ()),
        parameters=dict(raw.get("parameters") or {}),
        schedules=tuple(dict(schedule) for schedule in schedules),
        paused=raw.get("paused"),
        work_pool=work_pool.get("name") if isinstance(work_pool, dict) else None,
    )


def deployment_specs(path: Path = PREFECT_FILE) -> list[DeploymentSpec]:
    """The deployments of prefect.yaml, in file order (YAML anchors resolved)."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise DeploymentFileError(f"{path}: not valid YAML: {error}") from None
    if not isinstance(data, dict) or not isinstance(data.get("deployments"), list):
        raise DeploymentFileError(f"{path}: expected a mapping with a `deployments` list")
    return [_spec(raw, path) for raw in data["deployments"]]


def load_flow(spec: DeploymentSpec) -> "Flow[Any, Any]":
    """The flow object behind an entrypoint, imported as a module of the installed project."""
    from prefect.flows import Flow

    found = getattr(importlib.import_module(spec.module), spec.function, None)
    if not isinstance(found, Flow):
        raise DeploymentFileError(f"{spec.entrypoint}: {spec.function} is not a Prefect flow")
    return found


def _schedule(schedule: dict[str, Any]) -> Any:
    """A prefect.yaml schedule as Prefect's Cron schedule (the same fields `prefect deploy` reads)."""
    from prefect.schedules import Cron

    return Cron(
        str(schedule["cron"]),
        timezone=schedule.get("timezone"),
        day_or=bool(schedule.get("day_or", True)),
        active=bool(schedule.get("active", True)),
        parameters=schedule.get("parameters") or None,
        slug=schedule.get("slug"),
    )


def to_runner_deployment(spec: DeploymentSpec) -> "RunnerDeployment":
    """One spec as a deployment that `serve` can run; its entrypoint is a module path (any working directory)."""
    from prefect.deployments.runner import EntrypointType, RunnerDeployment

    deployment = load_flow(spec).to_deployment(
        name=spec.name,
        description=spec.description or None,
        tags=list(spec.tags),
        parameters=spec.parameters,
        schedules=[_schedule(s) for s in spec.schedules],
        paused=spec.paused,
        entrypoint_type=EntrypointType.MODULE_PATH,
        _sync=True,  # type: ignore[call-arg]  # a RunnerDeployment from async callers too (it dispatches)
    )
    assert isinstance(deployment, RunnerDeployment)
    return deployment


def deployments(path: Path = PREFECT_FILE, names: Iterable[str] | None = None) -> list["RunnerDeployment"]:
    """The deployments of prefect.yaml as RunnerDeployments; `names` ("flow/deployment" or "deployment") filters."""
    wanted = set(names or ())
    built = []
    for spec in deployment_specs(path):
        deployment = to_runner_deployment(spec)
        if wanted and not wanted & {spec.name, f"{deployment.flow_name}/{spec.name}"}:
            continue
        built.append(deployment)
    if wanted and not built:
        raise DeploymentFileError(f"{path}: no deployment named {sorted(wanted)}")
    return built


def serve_deployments(path: Path = PREFECT_FILE, names: Iterable[str] | None = None, limit: int | None = None) -> None:
    """Register the deployments and run their flow runs from this process until interrupted (Ctrl-C).

    Schedules are paused on shutdown (Prefect's default for `serve`), so nothing queues up while nobody serves.
    """
    from prefect import serve

    from runbook.slack.bot import start_in_background

    start_in_background()  # Slack ChatOps alongside, when an environment has [slack.chatops] and the app token is set
    serve(*deployments(path, names), limit=limit)
