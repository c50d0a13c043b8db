"""The deployments without a server: deployments/prefect.yaml as `prefect deploy` reads it, and `runbook serve`
building the same deployments from the same file (schedule, time zone, parameters, parameter schema, entrypoints).
"""

from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from runbook.app.cli import app
from runbook.app.serve import (
    NIGHTLY_SWITCH,
    PREFECT_FILE,
    DeploymentFileError,
    build_outputs,
    deployment_specs,
    deployments,
)
from runbook.config.files import available_environments
from runbook.parameters import HandoffParameters
from runbook.results import Phase

NAMES = [
    "staging-handoff/nightly",
    "staging-handoff/manual",
    "infrastructure-validation/on-demand",
    "crash-notice/slack",
    "nightly-missed/slack",
]


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(PREFECT_FILE.read_text())
    return data


@pytest.fixture(scope="module")
def built() -> dict[str, Any]:
    with pytest.MonkeyPatch.context() as env:
        env.delenv(NIGHTLY_SWITCH, raising=False)  # what a rehearsal machine has
        return {f"{d.flow_name}/{d.name}": d for d in deployments()}


def prefect_deploy_schedules(entry: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The (schedule, active) pairs `prefect deploy` makes of an entry: the outputs of the file's build steps
    templated into its schedules and each turned into a deployment schedule by Prefect's own function. (Prefect's
    `run_steps` itself needs a server; the end-to-end test deploys for real.)"""
    from prefect.cli.deploy._schedules import _construct_schedules
    from prefect.client.schemas.actions import DeploymentScheduleCreate

    made = _construct_schedules(entry, build_outputs(), console=None, is_interactive=lambda: False)  # type: ignore[arg-type]
    schedules = [DeploymentScheduleCreate(**s) for s in made or []]  # what the client sends (active parsed)
    return [(s.schedule, s.active) for s in schedules]


def test_prefect_accepts_the_file_and_every_deployment_uses_the_local_process_pool(raw: dict[str, Any]) -> None:
    from prefect.cli.deploy._models import PrefectYamlModel

    model = PrefectYamlModel.model_validate(raw)  # what `prefect deploy` validates the file with
    assert [d.name for d in model.deployments] == ["nightly", "manual", "on-demand", "slack", "slack"]
    assert {d.work_pool.name for d in model.deployments if d.work_pool} == {"staging-runbook"}
    assert all(d.work_pool and d.work_pool.name for d in model.deployments)


def test_pull_step_runs_flows_from_the_directory_prefect_deploy_ran_in(raw: dict[str, Any]) -> None:
    build, _nightly = raw["build"]
    assert build["prefect.deployments.steps.run_shell_script"] == {
        "id": "project-dir",
        "script": "pwd",
        "stream_output": False,
    }
    assert raw["pull"] == [
        {"prefect.deployments.steps.set_working_directory": {"directory": "{{ project-dir.stdout }}"}}
    ]


def test_no_secret_in_the_file() -> None:
    text = PREFECT_FILE.read_text().lower()
    for marker in ("xoxb-", "xoxp-", "hooks.slack.com", "password:", "token:", "private_key", "-----begin"):
        assert marker not in text, marker


def test_the_deployments_are_built(built: dict[str, Any]) -> None:
    assert list(built) == NAMES
    assert built["staging-handoff/nightly"].entrypoint == "flows.handoff.staging_handoff"
    assert built["infrastructure-validation/on-demand"].entrypoint == "flows.infrastructure.infrastructure_validation"
    assert built["crash-notice/slack"].entrypoint == "flows.notices.crash_notice"
    assert built["nightly-missed/slack"].entrypoint == "flows.notices.nightly_missed"


def test_every_flow_run_of_the_pool_heartbeats_as_the_crash_automation_expects(raw: dict[str, Any]) -> None:
    from runbook.app.automations import HEARTBEAT_S

    job_variables = raw["definitions"]["work_pools"]["local"]["job_variables"]
    assert job_variables["env"]["PREFECT_FLOWS_HEARTBEAT_FREQUENCY"] == str(HEARTBEAT_S)


def test_nightly_runs_at_two_in_los_angeles_on_staging_in_quiet_slack_mode(built: dict[str, Any]) -> None:
    nightly = built["staging-handoff/nightly"]
    (schedule,) = nightly.schedules
    assert schedule.schedule.cron == "0 2 * * *"
    assert schedule.schedule.timezone == "America/Los_Angeles"
    assert nightly.paused is False  # deploying again resumes a paused nightly
    assert schedule.active is False  # unless asked for: RUNBOOK_NIGHTLY=on (the next test)
    parameters = HandoffParameters.model_validate(nightly.parameters)
    assert parameters.environment == "staging"
    assert parameters.slack_quiet is True and parameters.trigger == "nightly"
    assert parameters.phases == list(Phase) and not parameters.redeploy and not parameters.dry_run


@pytest.mark.parametrize(("switch", "active"), [(None, False), ("off", False), ("on", True), ("true", True)])
def test_the_nightly_schedule_is_on_only_where_asked_for(
    raw: dict[str, Any], monkeypatch: pytest.MonkeyPatch, switch: str | None, active: bool
) -> None:
    """A rehearsal server that registers the deployments must not run the nightly against the real staging: its
    schedule is on only with RUNBOOK_NIGHTLY=on, for `prefect deploy` and `runbook serve` alike."""
    if switch is None:
        monkeypatch.delenv(NIGHTLY_SWITCH, raising=False)
    else:
        monkeypatch.setenv(NIGHTLY_SWITCH, switch)
    nightly = next(entry for entry in raw["deployments"] if entry["name"] == "nightly")
    assert [s for _, s in prefect_deploy_schedules(nightly)] == [active]
    (served,) = deployments(names=["staging-handoff/nightly"])
    assert [s.active for s in served.schedules] == [active]


def test_a_nightly_switch_that_is_not_on_or_off_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(NIGHTLY_SWITCH, "sometimes")
    with pytest.raises(DeploymentFileError, match="RUNBOOK_NIGHTLY"):
        deployments(names=["staging-handoff/nightly"])


async def test_nightly_runs_once_a_day_at_two_pacific_across_daylight_saving(built: dict[str, Any]) -> None:
    """What the server's scheduler makes of the schedule: 02:00 local, 03:00 on the day 02:00 does not exist."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    from prefect.server.schemas.schedules import CronSchedule

    schedule = CronSchedule(**built["staging-handoff/nightly"].schedules[0].schedule.model_dump())
    pacific = ZoneInfo("America/Los_Angeles")
    spring = [
        d.astimezone(pacific) for d in await schedule.get_dates(n=4, start=datetime(2026, 3, 6, 12, tzinfo=pacific))
    ]
    assert [(d.day, d.hour) for d in spring] == [(7, 2), (8, 3), (9, 2), (10, 2)]
    autumn = [
        d.astimezone(pacific) for d in await schedule.get_dates(n=3, start=datetime(2026, 10, 31, 12, tzinfo=pacific))
    ]
    assert [(d.day, d.hour) for d in autumn] == [(1, 2), (2, 2), (3, 2)]  # 1 November: once, not twice


def test_manual_has_no_schedule_and_fills_the_form_with_every_field(built: dict[str, Any]) -> None:
    manual = built["staging-handoff/manual"]
    assert manual.schedules == []
    form = manual.parameters
    assert {"environment", "phases", "dry_run", "redeploy", "approval_timeout_s", "slack_quiet"} <= set(form)
    parameters = HandoffParameters.model_validate(form)
    assert parameters.trigger == "manual" and parameters.environment == "staging"
    assert parameters.phases == list(Phase) and not parameters.redeploy and not parameters.slack_quiet


def test_on_demand_is_phase_one_alone_with_no_schedule(built: dict[str, Any]) -> None:
    on_demand = built["infrastructure-validation/on-demand"]
    assert on_demand.schedules == []
    assert on_demand.parameters == {"environment": "staging"}
    assert on_demand._parameter_openapi_schema.properties["environment"]["default"] == "staging"


@pytest.mark.parametrize("name", ["staging-handoff/nightly", "staging-handoff/manual"])
def test_handoff_form_is_flat_every_field_described_environment_is_a_dropdown(built: dict[str, Any], name: str) -> None:
    schema = built[name]._parameter_openapi_schema.model_dump()
    fields = schema["properties"]
    assert set(fields) == set(HandoffParameters.model_fields)  # one flat form: no nested model
    undescribed = [field for field, spec in fields.items() if not spec.get("description")]
    assert undescribed == []
    # Fields with defaults are plain fields, not "(Optional) | None" switches.
    assert [field for field, spec in fields.items() if "anyOf" in spec] == []
    assert not schema.get("required")
    assert fields["environment"]["enum"] == available_environments()
    assert {"staging", "local"} <= set(fields["environment"]["enum"])
    assert schema["definitions"]["Phase"]["enum"] == [p.value for p in Phase]
    assert fields["approval_timeout_s"]["minimum"] == 30 and fields["approval_timeout_s"]["maximum"] == 86400


@pytest.mark.parametrize("name", NAMES)
def test_deployment_parameters_satisfy_the_schema_the_server_enforces(built: dict[str, Any], name: str) -> None:
    deployment = built[name]
    assert deployment.enforce_parameter_schema is True
    jsonschema.validate(deployment.parameters, deployment._parameter_openapi_schema.model_dump())


def test_the_schema_refuses_an_unknown_environment_or_a_path_and_accepts_a_name(built: dict[str, Any]) -> None:
    schema = built["staging-handoff/manual"]._parameter_openapi_schema.model_dump()
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"environment": "prod"}, schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"environment": "/tmp/sim.toml"}, schema)  # a deployment takes names, not paths
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"phases": []}, schema)
    jsonschema.validate({"environment": "local", "phases": ["infrastructure"]}, schema)


@pytest.mark.parametrize("name", NAMES)
def test_top_level_parameters_are_described(built: dict[str, Any], name: str) -> None:
    properties = built[name]._parameter_openapi_schema.properties
    assert all(spec.get("description") for spec in properties.values()), properties


def test_entrypoints_load_the_way_prefect_deploy_loads_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.flows import load_flow_from_entrypoint

    from runbook.app.serve import load_flow

    monkeypatch.chdir(PREFECT_FILE.parent.parent)  # `prefect deploy` runs from the project directory
    for spec in deployment_specs():
        assert Path(spec.entrypoint.partition(":")[0]).is_file()
        assert load_flow_from_entrypoint(spec.entrypoint).name == load_flow(spec).name


def test_yaml_and_serve_share_one_definition(raw: dict[str, Any], built: dict[str, Any]) -> None:
    """`prefect deploy` and `runbook serve` read one file: same names, descriptions, tags, parameters, schedules."""
    for entry, deployment in zip(raw["deployments"], built.values(), strict=True):
        assert deployment.name == entry["name"]
        assert deployment.parameters == entry["parameters"]
        assert deployment.tags == entry["tags"]
        assert deployment.description == " ".join(entry["description"].split())
        assert deployment.paused is bool(entry.get("paused", False))
        # The schedules `prefect deploy` would create from the same entries (build steps run, outputs templated).
        assert [(s.schedule, s.active) for s in deployment.schedules] == prefect_deploy_schedules(entry)


def test_a_misspelt_key_is_refused_not_ignored(tmp_path: Path) -> None:
    bad = tmp_path / "prefect.yaml"
    bad.write_text(
        "deployments:\n  - name: nightly\n    entrypoint: flows/handoff.py:staging_handoff\n"
        "    schedule: {cron: '0 2 * * *'}\n"
    )
    with pytest.raises(DeploymentFileError, match="unknown keys"):
        deployment_specs(bad)


def test_runbook_serve_lists_the_deployments_and_refuses_an_unknown_one() -> None:
    runner = CliRunner()
    listed = runner.invoke(app, ["serve", "--list"])
    assert listed.exit_code == 0, listed.output
    assert "staging-handoff/nightly: 0 2 * * * America/Los_Angeles (off)" in listed.output
    assert "staging-handoff/manual: no schedule" in listed.output
    assert "infrastructure-validation/on-demand: no schedule" in listed.output
    unknown = runner.invoke(app, ["serve", "--deployment", "nope", "--list"])
    assert unknown.exit_code == 2
