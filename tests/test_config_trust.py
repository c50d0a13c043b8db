"""Issue 18, configuration: what an environment file may not hide, rules that were missing, and messages that misled.

The bad files themselves are generated in tests/bad_configs.py (kinds `hidden`, `duplicate`, `cross-reference`) and
run through `runbook config validate` and `runbook run` by tests/test_config_generated.py; these tests pin the words.
"""

from typing import Any

import pytest
from typer.testing import CliRunner

from runbook.app.cli import app
from runbook.catalog import CATALOG
from runbook.checks import CheckAbort
from runbook.config.files import ConfigError, load_config, parse_config
from runbook.config.models import DatabaseConfig, GoldenPathConfig, RunbookConfig
from runbook.config.timeouts import CHECK_IDS, PHASE_CHECKS
from runbook.config.validators import PATTERN_DESCRIPTIONS
from runbook.slack.delivery import SlackDelivery
from tests.bad_configs import base, put

runner = CliRunner()


def problems(data: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config(data, "env.toml")
    return [str(problem) for problem in raised.value.problems]


# --- control characters and bidi marks -------------------------------------------------------------------------------


def test_a_nul_in_a_health_path_is_refused_naming_the_character_not_an_invalid_url_later() -> None:
    paths = ["/health", "/health\x00"]
    assert problems(put(base(), ("services", 0, "health_paths"), paths)) == [
        "env.toml: services.0.health_paths.1: expected text without control characters or bidirectional marks "
        "(NUL, tabs, line breaks, U+202E...), found U+0000 (NUL) at character 8"
    ]


@pytest.mark.parametrize(
    ("path", "value", "found"),
    [
        (
            ("slack", "infrastructure", "handle"),
            "@infra\u202eenoyreve",
            "U+202E (right-to-left override) at character 7",
        ),
        (("golden_path", "message"), "hello\nworld", "U+000A (a line feed) at character 6"),
        (("slack", "next_update"), "soon\r", "U+000D (a carriage return) at character 5"),
        (("name",), "local\u2066", "U+2066 (left-to-right isolate) at character 6"),
        (("slack", "channel"), "#staging\x85", "U+0085 (a control character) at character 9"),
    ],
)
def test_paths_names_handles_and_messages_refuse_controls_and_bidi_marks(
    path: tuple[str, ...], value: str, found: str
) -> None:
    (problem,) = problems(put(base(), path, value))
    assert problem.endswith(f"found {found}") and f": {'.'.join(path)}: " in problem


def test_a_hidden_character_in_a_secret_field_is_named_without_showing_the_value() -> None:
    (problem,) = problems(put(base(), ("database", "password_env"), "Hunter2-Secret-Value\x00"))
    assert "Hunter2" not in problem and "U+0000 (NUL) at character 21" in problem


# --- rules across keys ---------------------------------------------------------------------------------------------


def test_password_env_and_password_block_together_are_refused_naming_both() -> None:
    assert problems(put(base(), ("database", "password_block"), "netra-db-password")) == [
        "env.toml: database.password_block: expected password_env or password_block, not both (which one is read "
        "would be undefined), found both set"
    ]
    with pytest.raises(ValueError, match="not both"):
        DatabaseConfig(name="db", user="app", password_env="X", password_block="x")


def test_a_repeated_health_path_is_refused_at_the_repeat() -> None:
    paths = ["/health", "/health/ready", "/health"]
    assert problems(put(base(), ("services", 0, "health_paths"), paths)) == [
        "env.toml: services.0.health_paths.2: expected each health path listed once, found '/health' again (first at 0)"
    ]


def test_a_check_deadline_below_the_per_call_timeout_is_refused_unless_the_check_calls_faster() -> None:
    data = {**base(), "checks": {"secrets": {"deadline_s": 3}}}  # dev profile: a Google call may take 5 s
    assert problems(data) == [
        "env.toml: checks.secrets.deadline_s: expected at least the per-call timeout (5 s, timeouts.api_call_s): one "
        "call must fit in the check; or set this check's timeout_s at most its deadline, found 3"
    ]
    faster = {**base(), "checks": {"secrets": {"deadline_s": 3, "timeout_s": 1}}}
    assert parse_config(faster).check_deadline("secrets") == 3


@pytest.mark.parametrize("phase", list(PHASE_CHECKS))
def test_a_phase_with_every_check_disabled_is_refused(phase: str) -> None:
    data = {**base(), "checks": {check_id: {"enabled": False} for check_id in PHASE_CHECKS[phase]}}
    (problem,) = problems(data)
    assert problem.startswith(f"env.toml: checks: expected at least one check of the {phase} phase enabled")
    enabled_one = {**data, "checks": dict(list(data["checks"].items())[1:])}
    assert parse_config(enabled_one)


def test_every_check_disabled_is_three_problems_one_per_phase() -> None:
    data = {**base(), "checks": {check_id: {"enabled": False} for check_id in CHECK_IDS}}
    assert [p.split(" phase ")[0].rsplit(" ", 1)[-1] for p in problems(data)] == list(PHASE_CHECKS)


def test_the_phases_checks_are_the_catalogs() -> None:
    """PHASE_CHECKS (config) agrees with the catalog: every check but the two that look at nothing themselves."""
    for phase, check_ids in PHASE_CHECKS.items():
        catalog = [spec.id for spec in CATALOG.values() if spec.phase.value == phase]
        assert [c for c in catalog if c not in ("redeploy", "stakeholder-summary")] == list(check_ids)
    assert sorted(CATALOG) == sorted(CHECK_IDS)


# --- messages that misled ------------------------------------------------------------------------------------------


def test_a_rejected_name_with_look_alike_letters_is_printed_escaped(tmp_path: Any) -> None:
    cyrillic = "st\u0430ging"  # the 'a' is Cyrillic
    (problem,) = problems(put(base(), ("name",), cyrillic))
    assert problem.endswith(r"found 'st\u0430ging'")
    result = runner.invoke(app, ["config", "validate", "--env", cyrillic])
    assert result.exit_code == 2 and r"st\u0430ging" in result.output and cyrillic not in result.output


def test_a_bad_team_handle_is_told_in_a_sentence_not_a_regular_expression() -> None:
    (problem,) = problems(put(base(), ("slack", "infrastructure", "handle"), "@infra oncall"))
    assert "expected a handle people read, such as @infra-oncall" in problem and "^@?" not in problem


def _patterns(schema: Any) -> set[str]:
    """Every `pattern` of the JSON Schema of environment files (each constrained string field has one)."""
    if isinstance(schema, dict):
        own = {schema["pattern"]} if isinstance(schema.get("pattern"), str) else set()
        return own.union(*(_patterns(value) for value in schema.values()))
    if isinstance(schema, list):
        return set().union(*(_patterns(value) for value in schema))
    return set()


def test_every_pattern_of_the_configuration_has_a_sentence() -> None:
    patterns = _patterns(RunbookConfig.model_json_schema())
    assert len(patterns) >= 15, patterns
    assert sorted(patterns - set(PATTERN_DESCRIPTIONS)) == []


async def test_a_database_password_variable_set_but_empty_is_said_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.database import _password

    database = DatabaseConfig(name="db", user="app", password_env="RUNBOOK_DB_PASSWORD")
    for value, state in (("", "is set but empty"), (None, "is not set")):
        if value is None:
            monkeypatch.delenv("RUNBOOK_DB_PASSWORD", raising=False)
        else:
            monkeypatch.setenv("RUNBOOK_DB_PASSWORD", value)
        with pytest.raises(CheckAbort) as raised:
            await _password(database)
        assert raised.value.summary == f"password not available: environment variable RUNBOOK_DB_PASSWORD {state}"


def test_the_test_users_password_variable_set_but_empty_is_said_so(monkeypatch: pytest.MonkeyPatch) -> None:
    from tasks.websocket import _password_from_env

    golden = GoldenPathConfig(email="e2e@netrasystems.ai", auth="login", password_env="E2E_PASSWORD")
    monkeypatch.setenv("E2E_PASSWORD", "")
    with pytest.raises(
        CheckAbort, match=r"environment variable E2E_PASSWORD \(the test user's password\) is set but empty"
    ):
        _password_from_env(golden)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("xoxb-123-456-abc\r\ndef", "contains a line break (CR/LF)"),
        ("xoxb-123-456-abc\n", None),  # a trailing newline (echo > file) is stripped, as before
        ("xoxb-123 456-abc", "contains a space or control character"),
        ("", "no bot token or webhook URL found (env SLACK_BOT_TOKEN set but empty)"),
    ],
)
async def test_a_slack_token_that_cannot_be_sent_is_said_as_it_is_not_as_a_connection_error(
    monkeypatch: pytest.MonkeyPatch, value: str, said: str | None
) -> None:
    monkeypatch.setenv("SLACK_BOT_TOKEN", value)
    delivery = SlackDelivery(load_config("local"))
    ready = await delivery.ready()
    if said is None:
        assert ready and delivery.mode == "api"
        return
    (note,) = delivery.notifications
    assert not ready and said in note["error"] and "connection_error" not in note["error"]
    assert value.strip() == "" or value.strip()[:10] not in note["error"]
