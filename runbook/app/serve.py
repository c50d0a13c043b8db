"""The deployments of deployments/prefect.yaml, served from one long-running process (`runbook serve`).

There is one definition of the deployments: deployments/prefect.yaml. `prefect deploy` registers them for a work
pool and its workers; this module reads the same file and builds the same deployments (names, entrypoints,
descriptions, tags, parameters, schedules) as `RunnerDeployment`s for Prefect's `serve`, for teams without a
worker. Work pool and pull steps are ignored here: a served flow runs in this process's environment. The build steps
(shell scripts) run as `prefect deploy` runs them, for what the schedules take from them: the nightly's schedule is on
only with RUNBOOK_NIGHTLY=on, so a rehearsal never runs the nightly against the real staging environment. Once the
deployments are registered, the project's automations are applied (`runbook automations apply`: crashed runs and their
Slack notice, the nightly that did not finish in time).

    from runbook.app.serve import deployments
    for deployment in deployments():
        print(deployment.flow_name, deployment.name, deployment.schedules)
"""

import importlib
import threading
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
# The environment variable that switches the nightly's schedule on (`on`/`off`, also true/false, yes/no, 1/0): read
# by the file's `nightly` build step, for `prefect deploy` and `runbook serve` alike. Unset: off.
NIGHTLY_SWITCH = "RUNBOOK_NIGHTLY"
SHELL_STEP = "prefect.deployments.steps.run_shell_script"
NOTICE_FLOWS = ("crash-notice", "nightly-missed")  # their deployments are named by the automations

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


def build_outputs(path: Path = PREFECT_FILE) -> dict[str, Any]:
    """The outputs of the file's build steps by step id, as `prefect deploy` templates them into the deployments.

    Only shell-script steps (what the file uses); run with Prefect's own step function, without the Prefect client
    that `prefect deploy` would need for blocks and variables (the file uses none): no server is needed.
    """
    from prefect.deployments.steps.utility import run_shell_script
    from prefect.utilities.asyncutils import run_coro_as_sync

    data = yaml.safe_load(path.read_text()) or {}
    outputs: dict[str, Any] = {}
    for step in data.get("build") or []:
        if not isinstance(step, dict) or list(step) != [SHELL_STEP]:
            raise DeploymentFileError(f"{path}: build steps other than {SHELL_STEP} are not supported here: {step}")
        inputs = {key: value for key, value in dict(step[SHELL_STEP]).items() if key not in {"id", "requires"}}
        result = run_coro_as_sync(run_shell_script(**inputs))
        if step[SHELL_STEP].get("id"):
            outputs[str(step[SHELL_STEP]["id"])] = result
    return outputs


def _active(value: Any, where: str) -> bool:
    """A schedule's `active` once templated: a boolean, or a string Prefect accepts as one (on/off, true/false)."""
    from pydantic import TypeAdapter, ValidationError

    try:
        return TypeAdapter(bool).validate_python(value)
    except ValidationError:
        raise DeploymentFileError(
            f"{where}: schedule `active` is {value!r}; {NIGHTLY_SWITCH} takes on or off (unset: off)"
        ) from None


def _schedule(schedule: dict[str, Any], outputs: dict[str, Any] | None = None, where: str = "") -> Any:
    """A prefect.yaml schedule as Prefect's Cron schedule (the same fields `prefect deploy` reads, templated with the
    build steps' outputs as `prefect deploy` templates them)."""
    from prefect.schedules import Cron
    from prefect.utilities.templating import apply_values

    schedule = apply_values(schedule, outputs or {})
    return Cron(
        str(schedule["cron"]),
        timezone=schedule.get("timezone"),
        day_or=bool(schedule.get("day_or", True)),
        active=_active(schedule.get("active", True), where),
        parameters=schedule.get("parameters") or None,
        slug=schedule.get("slug"),
    )


def to_runner_deployment(spec: DeploymentSpec, outputs: dict[str, Any] | None = None) -> "RunnerDeployment":
    """One spec as a deployment that `serve` can run; its entrypoint is a module path (any working directory).

    `outputs`: the file's build step outputs (`build_outputs`), for schedules that take values from them.
    """
    from prefect.deployments.runner import EntrypointType, RunnerDeployment

    deployment = load_flow(spec).to_deployment(
        name=spec.name,
        description=spec.description or None,
        tags=list(spec.tags),
        parameters=spec.parameters,
        schedules=[_schedule(s, outputs, f"deployment {spec.name!r}") for s in spec.schedules],
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
    specs = deployment_specs(path)
    templated = any("{{" in str(schedule) for spec in specs for schedule in spec.schedules)
    outputs = build_outputs(path) if templated else {}
    for spec in specs:
        deployment = to_runner_deployment(spec, outputs)
        if wanted and not wanted & {spec.name, f"{deployment.flow_name}/{spec.name}"}:
            continue
        built.append(deployment)
    if wanted and not built:
        raise DeploymentFileError(f"{path}: no deployment named {sorted(wanted)}")
    return built


def serve_deployments(
    path: Path = PREFECT_FILE, names: Iterable[str] | None = None, limit: int | None = None
) -> list[str]:
    """Register the deployments and run their flow runs from this process until interrupted (Ctrl-C, SIGTERM).

    On the way out, the deployments this process created are paused (Prefect's own behaviour for `serve`), so
    nothing queues up while nobody serves them; those the server had before (`prefect deploy`, for a worker) are
    left paused or active as they were found. Returns what was done, one line per deployment, for the operator.
    """
    import asyncio

    from prefect import serve

    from runbook.slack.bot import start_in_background

    built = deployments(path, names)
    found = asyncio.run(_paused_before(built))
    start_in_background()  # Slack ChatOps alongside, when an environment has [slack.chatops] and the app token is set
    apply_automations_in_background(notices=[_full_name(d) for d in built if d.flow_name in NOTICE_FLOWS])
    try:
        serve(*built, limit=limit, pause_on_shutdown=False)
    finally:
        said = asyncio.run(_leave_as_found(built, found))
    return said


def _full_name(deployment: "RunnerDeployment") -> str:
    return f"{deployment.flow_name}/{deployment.name}"


async def _paused_before(built: list["RunnerDeployment"]) -> dict[str, bool]:
    """The served deployments the server already has (registered with `prefect deploy`, or by an earlier serve),
    with whether each was paused."""
    from prefect import get_client
    from prefect.exceptions import ObjectNotFound

    found = {}
    async with get_client() as client:
        for deployment in built:
            try:
                existing = await client.read_deployment_by_name(_full_name(deployment))
            except ObjectNotFound:
                continue
            found[_full_name(deployment)] = bool(existing.paused)
    return found


async def _leave_as_found(built: list["RunnerDeployment"], found: dict[str, bool]) -> list[str]:
    """Pause what this process created; put back what it found. Each outcome said, failures too (never silent)."""
    from prefect import get_client

    said = []
    async with get_client() as client:
        for deployment in built:
            name = _full_name(deployment)
            pause = found.get(name, True)
            try:
                existing = await client.read_deployment_by_name(name)
                if bool(existing.paused) != pause:
                    await (client.pause_deployment if pause else client.resume_deployment)(existing.id)
            except Exception as error:
                said.append(f"{name}: NOT restored ({type(error).__name__}: {error}); check it in the Prefect UI")
                continue
            if name not in found:
                said.append(f"{name}: paused (this process created it; nothing queues while nobody serves it)")
            else:
                state = "paused" if pause else "active, its schedule on"
                said.append(f"{name}: left {state}, as it was before serving (a worker may run it)")
    return said


def apply_automations_in_background(notices: Iterable[str], timeout_s: float = 120.0) -> threading.Thread:
    """`runbook automations apply`, once `serve` has registered the notices' deployments it serves (`notices`:
    crash-notice/slack, nightly-missed/slack), which the automations name."""
    import asyncio
    import logging
    import time

    logger = logging.getLogger("runbook.serve")

    async def apply() -> None:
        from prefect import get_client

        from runbook.app.automations import apply_automations

        deadline = time.monotonic() + timeout_s
        waiting = list(notices)
        while waiting and time.monotonic() < deadline:
            try:
                async with get_client() as client:
                    await client.read_deployment_by_name(waiting[0])
                waiting.pop(0)
            except Exception:  # not registered yet
                await asyncio.sleep(2)
        for item in await apply_automations():
            logger.warning("automation %s: %s", item.name, item.outcome)

    def work() -> None:
        try:
            asyncio.run(apply())
        except Exception as error:  # serving goes on; `runbook automations apply` says more
            logger.warning("automations not applied: %s: %s", type(error).__name__, error)

    thread = threading.Thread(target=work, name="runbook-automations", daemon=True)
    thread.start()
    return thread
