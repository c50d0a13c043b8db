"""deployments/prefect-cloud-run.yaml: the deployments of prefect.yaml on prefect-gcp's cloud-run-v2 work pool.

Its job variables are validated against the pool's own base job template (CloudRunWorkerV2) and rendered into the
Cloud Run job body prefect-gcp would submit; the job's timeout is compared with the longest run the configuration and
the deployments' parameters allow (approval timeout + the pause's grace + each phase's longest chain of deadlines).
No Google call is made: prefect-gcp's credentials block is given anonymous credentials.
"""

import asyncio
import functools
import re
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from runbook.app.serve import NIGHTLY_SWITCH, PREFECT_FILE, build_outputs
from runbook.approval import PAUSE_GRACE_S
from runbook.catalog import CATALOG, phase_checks
from runbook.config.files import PROJECT_ROOT, load_config
from runbook.config.models import RunbookConfig
from runbook.env_lock import DEFAULT_WAIT_S
from runbook.results import Phase

CLOUD_RUN_FILE = PROJECT_ROOT / "deployments" / "prefect-cloud-run.yaml"
POOL_TYPE = "cloud-run-v2"
IMAGE = "us-central1-docker.pkg.dev/netra-staging/runbook/staging-runbook:test"
STARTUP_S = 300  # image pull, container start, imports, Slack and report after the last phase: generous


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


@pytest.fixture(scope="module")
def cloud_run() -> dict[str, Any]:
    return _load(CLOUD_RUN_FILE)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    from prefect_gcp.workers.cloud_run_v2 import CloudRunWorkerV2

    assert CloudRunWorkerV2.type == POOL_TYPE
    base: dict[str, Any] = CloudRunWorkerV2.get_default_base_job_template()
    return base


def job_variables(data: dict[str, Any], name: str = "nightly") -> dict[str, Any]:
    """A deployment's job variables as `prefect deploy` sends them: the image build step's output templated in."""
    from prefect.utilities.templating import apply_values

    entry = next(d for d in data["deployments"] if d["name"] == name)
    variables: dict[str, Any] = apply_values(entry["work_pool"]["job_variables"], {"image": {"stdout": IMAGE}})
    return variables


def test_prefect_accepts_the_file_and_every_deployment_uses_the_cloud_run_pool(cloud_run: dict[str, Any]) -> None:
    from prefect.cli.deploy._models import PrefectYamlModel

    model = PrefectYamlModel.model_validate(cloud_run)
    assert {d.work_pool.name for d in model.deployments if d.work_pool} == {"staging-runbook-cloud-run"}
    assert all(d.work_pool and d.work_pool.name for d in model.deployments)


def test_the_deployments_are_those_of_prefect_yaml_on_another_pool(cloud_run: dict[str, Any]) -> None:
    """One definition of names, entrypoints, parameters, schedules and tags: only the pool differs."""
    local = _load(PREFECT_FILE)

    def without_pool(data: dict[str, Any]) -> list[dict[str, Any]]:
        return [{k: v for k, v in d.items() if k != "work_pool"} for d in data["deployments"]]

    assert without_pool(cloud_run) == without_pool(local)
    assert cloud_run["build"][-1] == local["build"][-1]  # the same nightly switch (RUNBOOK_NIGHTLY)


def test_flow_runs_start_where_the_image_has_the_project(cloud_run: dict[str, Any]) -> None:
    (pull,) = cloud_run["pull"]
    directory = pull["prefect.deployments.steps.set_working_directory"]["directory"]
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert re.search(rf"^\s*PROJECT={re.escape(directory)}\s*$", dockerfile, re.MULTILINE), directory
    assert "WORKDIR $PROJECT" in dockerfile


def test_deploying_without_an_image_stops_and_says_which_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RUNBOOK_IMAGE", raising=False)
    with pytest.raises(RuntimeError, match="RUNBOOK_IMAGE"):
        build_outputs(CLOUD_RUN_FILE)
    monkeypatch.setenv("RUNBOOK_IMAGE", IMAGE)
    monkeypatch.delenv(NIGHTLY_SWITCH, raising=False)
    outputs = build_outputs(CLOUD_RUN_FILE)
    assert outputs["image"]["stdout"] == IMAGE and outputs["nightly"]["stdout"] == "off"


@pytest.mark.parametrize("name", ["nightly", "manual", "on-demand"])
def test_job_variables_satisfy_the_cloud_run_v2_pool_schema(
    cloud_run: dict[str, Any], template: dict[str, Any], name: str
) -> None:
    variables = job_variables(cloud_run, name)
    schema = template["variables"]
    unknown = set(variables) - set(schema["properties"])
    assert not unknown, f"not variables of a {POOL_TYPE} pool (ignored silently by Prefect): {sorted(unknown)}"
    jsonschema.validate(variables, schema)
    for required in ("image", "region", "service_account_name", "vpc_connector_name", "cpu", "memory", "timeout"):
        assert variables.get(required), required


def test_the_job_prefect_gcp_would_submit(
    cloud_run: dict[str, Any], template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendered by prefect-gcp itself: the runbook's identity, the VPC connector, limits, timeout, secrets by
    reference (never a value), and `prefect flow-run execute` in the image."""
    import google.auth
    from google.auth.credentials import AnonymousCredentials
    from prefect.client.schemas.objects import FlowRun
    from prefect_gcp.workers.cloud_run_v2 import CloudRunWorkerJobV2Configuration

    monkeypatch.setattr(google.auth, "default", lambda *_, **__: (AnonymousCredentials(), "netra-staging"))
    variables = job_variables(cloud_run)
    # client: never used (nothing in the template refers to a block or a variable); no server needed.
    configuration = asyncio.run(
        CloudRunWorkerJobV2Configuration.from_template_and_values(template, variables, client=object())
    )
    configuration.prepare_for_flow_run(FlowRun(flow_id=uuid.uuid4(), name="staging · nightly · test"))
    job = configuration.job_body["template"]["template"]
    (container,) = job["containers"]
    assert container["image"] == IMAGE
    assert container["command"] == ["prefect", "flow-run", "execute"]
    assert container["resources"]["limits"] == {"cpu": "1000m", "memory": "1Gi"}
    assert job["serviceAccount"] == "staging-runbook@netra-staging.iam.gserviceaccount.com"
    assert job["vpcAccess"] == {
        "connector": "projects/netra-staging/locations/us-central1/connectors/staging-connector"
    }
    assert job["timeout"] == f"{variables['timeout']}s" and job["maxRetries"] == 0
    env = {e["name"]: e for e in container["env"]}
    for name in ("RUNBOOK_DB_PASSWORD", "SLACK_BOT_TOKEN"):
        assert set(env[name]) == {"name", "valueSource"}, env[name]  # a Secret Manager reference, not a value
    # Heartbeats, read by Prefect in the job's container (a setting Prefect knows, within its bounds).
    monkeypatch.setenv("PREFECT_FLOWS_HEARTBEAT_FREQUENCY", env["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"]["value"])
    from prefect.settings.models.flows import FlowsSettings

    assert FlowsSettings().heartbeat_frequency == 30
    config = load_config("staging")
    assert config.database.password_env == "RUNBOOK_DB_PASSWORD"  # what the staging environment reads
    assert configuration.region == config.gcp.region


def longest_chain_s(config: RunbookConfig, phase: Phase) -> float:
    """The phase's worst case: checks run concurrently, a check waits for those it depends on; each is cut at its
    deadline (plus the half-second grace of `within_deadline`)."""

    @functools.cache
    def finish(check_id: str) -> float:
        spec = CATALOG[check_id]
        before = [finish(d) for d in spec.depends_on if d in CATALOG and CATALOG[d].phase == phase]
        return max(before, default=0.0) + config.check_deadline(check_id) + 0.5

    return max(finish(spec.id) for spec in phase_checks(phase))


def test_the_job_outlives_the_longest_run_a_deployment_allows(cloud_run: dict[str, Any]) -> None:
    """Cloud Run kills a job at its timeout: a run waiting for approval must get its "no approval" answer first."""
    longest = 0.0
    for entry in cloud_run["deployments"]:
        parameters = entry["parameters"]
        if "environment" not in parameters:  # not a run of the plan (e.g. a notice): seconds, well inside
            continue
        config = load_config(parameters["environment"])
        approval = parameters.get("approval_timeout_s", 3600) + PAUSE_GRACE_S  # the flow's default, for the nightly
        phases = parameters.get("phases", [Phase.infrastructure.value])
        checks = sum(longest_chain_s(config, Phase(p)) for p in phases)
        # A run first waits for its environment while another run holds it (runbook.env_lock), up to DEFAULT_WAIT_S.
        longest = max(longest, DEFAULT_WAIT_S + approval + checks + STARTUP_S)
    timeout = job_variables(cloud_run)["timeout"]
    assert longest > 3600 + PAUSE_GRACE_S  # the budget really holds the approval wait
    assert timeout > longest, f"job timeout {timeout} s, a run may take {longest:.0f} s"
    assert all(job_variables(cloud_run, d["name"])["timeout"] == timeout for d in cloud_run["deployments"])
