"""Configuration: both environments load, profiles set timeouts, every mistake is reported with file and key."""

import json

import pytest
from typer.testing import CliRunner

from runbook.app.cli import app
from runbook.config.files import PROJECT_ROOT, ConfigError, load_config, read_toml
from runbook.config.models import RunbookConfig

runner = CliRunner()


def test_staging_and_local_environments_are_valid_and_differ_only_in_addresses_and_profile() -> None:
    staging, local = load_config("staging"), load_config("local")
    assert staging.gcp.endpoints.any_set is False  # real Google endpoints with ADC
    assert local.gcp.endpoints.for_api("vpcaccess") == "http://127.0.0.1:8765"
    assert local.gcp.endpoints.for_api("monitoring") == "127.0.0.1:8766"
    assert staging.vpc_connector == local.vpc_connector
    assert staging.secrets.expected == local.secrets.expected and len(staging.secrets.expected) == 22


def test_profiles_give_the_plans_infrastructure_aware_timeouts() -> None:
    staging, local = load_config("staging"), load_config("local")
    assert (staging.timeouts.database_connect_s, staging.timeouts.readiness_s) == (10, 60)
    assert (local.timeouts.database_connect_s, local.timeouts.readiness_s) == (5, 30)


def test_timeouts_and_checks_can_be_overridden_per_check() -> None:
    config = load_config(
        "staging", {"timeouts": {"readiness_s": 45}, "checks": {"secrets": {"deadline_s": 7, "timeout_s": 2}}}
    )
    assert config.timeouts.readiness_s == 45 and config.timeouts.database_connect_s == 10
    assert config.check_deadline("secrets") == 7 and config.call_timeout("secrets") == 2
    assert config.check_deadline("vpc-connector") == config.timeouts.check_deadline_s


def test_config_is_immutable() -> None:
    config = load_config("local")
    with pytest.raises(Exception, match="frozen"):
        config.gcp.project = "other"  # type: ignore[misc]


def test_every_problem_is_reported_at_once_with_key_expected_and_found() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(
            "local",
            {
                "vpc_connector": {"min_instances": 1, "nmae": "typo"},
                "gcp": {"endpoints": {"run": "localhost:1"}},
                "checks": {"no-such-check": {"enabled": False}},
            },
        )
    text = str(caught.value)
    assert len(caught.value.problems) == 4
    assert "vpc_connector.min_instances: expected greater than or equal to 2, found 1" in text
    assert "vpc_connector.nmae: expected no such key" in text
    assert "gcp.endpoints.run: expected an http:// or https:// URL, such as" in text and "found 'localhost:1'" in text
    assert "checks.no-such-check: expected a check id, one of vpc-connector," in text
    assert all(p.file.endswith("local.toml") for p in caught.value.problems)


def test_secret_values_have_no_place_in_the_file() -> None:
    with pytest.raises(ConfigError, match=r"database\.password: expected no such key"):
        load_config("local", {"database": {"password": "hunter2"}})
    with pytest.raises(ConfigError, match=r"slack\.token: expected no such key"):
        load_config("local", {"slack": {"token": "xoxb-1"}})


def test_cli_validate_exits_2_naming_file_and_key(tmp_path) -> None:
    broken = tmp_path / "local.toml"
    source = (PROJECT_ROOT / "environments" / "local.toml").read_text()
    broken.write_text(source.replace('name = "staging-connector"', 'name = "Staging Connector!"'))
    result = runner.invoke(app, ["config", "validate", "--env", str(broken)])
    assert result.exit_code == 2
    assert f"{broken}: vpc_connector.name: expected" in result.output
    assert "'Staging Connector!'" in result.output


def test_cli_validate_reports_toml_syntax_errors_and_unknown_environments(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    result = runner.invoke(app, ["config", "validate", "--env", str(bad)])
    assert result.exit_code == 2 and "(syntax): expected valid TOML" in result.output
    result = runner.invoke(app, ["config", "validate", "--env", "prodd"])
    assert result.exit_code == 2 and "expected one of:" in result.output and "staging" in result.output


def test_cli_validate_accepts_a_valid_environment() -> None:
    result = runner.invoke(app, ["config", "validate", "--env", "staging"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        "valid: staging (project netra-staging, region us-central1, 3 services, 22 secrets, profile staging)"
    )


def test_the_environment_is_named_once_the_name_inside_is_the_file_name(tmp_path) -> None:
    """`--env`, deployments and run names use the file's name; Slack, artifacts and slack-bot the `name` inside."""
    source = (PROJECT_ROOT / "environments" / "local.toml").read_text()
    copy = tmp_path / "local46.toml"
    copy.write_text(source)
    result = runner.invoke(app, ["config", "validate", "--env", str(copy)])
    assert result.exit_code == 2
    assert (
        f"{copy}: name: expected 'local46' (the file's name; rename the file or change name so they agree), "
        "found 'local'" in result.output
    )
    with pytest.raises(ConfigError, match="expected 'local46'"):
        load_config(str(copy))
    copy.write_text(source.replace('name = "local"', 'name = "local46"'))
    assert load_config(str(copy)).name == "local46"


def test_a_name_mismatch_is_reported_with_the_other_problems_and_an_invalid_name_once(tmp_path) -> None:
    source = (PROJECT_ROOT / "environments" / "local.toml").read_text()
    path = tmp_path / "sim.toml"
    path.write_text(source.replace("window_s = 600", "window_s = -1"))
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert [p.key for p in caught.value.problems] == ["name", "monitoring.window_s"]
    path.write_text(source.replace('name = "local"', 'name = "Sim!"'))
    with pytest.raises(ConfigError) as caught:
        load_config(str(path))
    assert [p.key for p in caught.value.problems] == ["name"]  # the pattern's problem, not a second one


def test_validate_warns_that_placeholder_slack_ids_ping_nobody() -> None:
    result = runner.invoke(app, ["config", "validate", "--env", "staging"])
    assert result.exit_code == 0, result.output
    assert "warning: slack.infrastructure.id 'S0REPLACEINF' is a placeholder: it pings nobody" in result.output
    quiet = runner.invoke(app, ["config", "validate", "--env", "local"])
    assert quiet.exit_code == 0 and "warning" not in quiet.output


def test_json_schema_describes_every_field_and_does_not_require_profile_timeouts() -> None:
    result = runner.invoke(app, ["config", "schema"])
    assert result.exit_code == 0
    schema = json.loads(result.output)
    assert "timeouts" not in schema["required"]
    for name, definition in schema["$defs"].items():
        for field, spec in definition.get("properties", {}).items():
            if "$ref" not in spec and "allOf" not in spec:
                assert spec.get("description"), f"{name}.{field} has no description"
    assert RunbookConfig.model_fields["gcp"]


def test_contradictory_health_check_policy_is_rejected() -> None:
    checks = [{"name": "hc", "min_timeout_s": 30, "max_timeout_s": 10}]
    message = r"load_balancer\.health_checks\.0\.min_timeout_s: expected at most max_timeout_s \(10\), found 30"
    with pytest.raises(ConfigError, match=message):
        load_config("local", {"load_balancer": {"health_checks": checks}})


@pytest.mark.parametrize(
    ("overrides", "key", "found"),
    [
        ({"database": {"port": "28772"}}, "database.port", "'28772' (a string)"),
        ({"database": {"port": 28772.0}}, "database.port", "28772.0 (a float)"),
        ({"database": {"port": True}}, "database.port", "true (a boolean)"),
        ({"cloud_sql": {"require_ssl": "yes"}}, "cloud_sql.require_ssl", "'yes' (a string)"),
        ({"cloud_sql": {"require_ssl": 0}}, "cloud_sql.require_ssl", "0 (an integer)"),
        ({"timeouts": {"readiness_s": "600"}}, "timeouts.readiness_s", "'600' (a string)"),
    ],
)
def test_strict_types_are_errors_never_coerced(overrides: dict, key: str, found: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config("local", overrides)
    assert [p.key for p in caught.value.problems] == [key]
    assert caught.value.problems[0].found == found


def test_a_bad_profile_is_one_problem_not_a_list_of_timeout_keys_nobody_wrote() -> None:
    for profile in ("prod", ["dev"]):
        with pytest.raises(ConfigError) as caught:
            load_config("local", {"profile": profile})
        assert [(p.key, p.expected) for p in caught.value.problems] == [("profile", "'staging' or 'dev'")]


def test_secret_looking_values_are_described_by_key_never_printed() -> None:
    overrides = {
        "database": {"password_env": "netra-app-test-password", "host": "app:hunter2pass@10.0.0.5"},
        "gcp": {"endpoints": {"default": "http://admin:s3cret-pass@127.0.0.1:8765"}},
        "slack": {"token_block": "xoxb-1234567890-abcdefABCDEF"},
    }
    with pytest.raises(ConfigError) as caught:
        load_config("local", overrides)
    text = str(caught.value)
    keys = {p.key for p in caught.value.problems}
    assert keys == {"database.password_env", "database.host", "gcp.endpoints.default", "slack.token_block"}
    assert all(p.found == "a value that looks like a secret (not shown)" for p in caught.value.problems)
    for secret in ("netra-app-test-password", "hunter2pass", "s3cret-pass", "xoxb-1234567890"):
        assert secret not in text


def test_an_unknown_key_suggests_the_nearest_one_at_its_level() -> None:
    overrides = {"checks": {"secrets": {"dealine_s": 3}}, "services": [{"nam": "x", "role": "backend"}]}
    with pytest.raises(ConfigError) as caught:
        load_config("local", overrides)
    expected = {p.key: p.expected for p in caught.value.problems}
    assert expected["checks.secrets.dealine_s"] == "no such key (did you mean deadline_s?)"
    assert expected["services.0.nam"] == "no such key (did you mean name?)"


def test_duplicate_services_and_roles_are_named_under_services() -> None:
    data = read_toml(PROJECT_ROOT / "environments" / "local.toml")
    services = [*data["services"], data["services"][0]]
    with pytest.raises(ConfigError) as caught:
        load_config("local", {"services": services})
    assert [p.key for p in caught.value.problems] == ["services.3.name", "services.3.role"]


def test_schema_marks_urls_and_non_empty_arrays_for_editors() -> None:
    schema = json.loads(runner.invoke(app, ["config", "schema"]).output)
    service = schema["$defs"]["ServiceConfig"]["properties"]
    assert service["url"]["format"] == "uri" and service["url"]["maxLength"] == 2048
    assert schema["properties"]["services"]["minItems"] == 1
    assert schema["$defs"]["DatabaseConfig"]["properties"]["port"]["maximum"] == 65535
