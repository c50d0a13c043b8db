"""`websocket-handshake` and `golden-path`: the pure decisions over recorded events, the token answer, and the real
checks against the simulator in both auth modes and every Netra WebSocket fault, each failing for its own reason."""

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr

from runbook.config.models import RunbookConfig
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, Status
from simulator.google.secret_manager import SIM_E2E_BYPASS_KEY
from simulator.server import Simulator
from tasks.golden_path import (
    GOLDEN_PATH_EVENTS,
    decide_golden_path,
    decide_handshake,
    golden_path,
    result_text,
    websocket_handshake,
)
from tasks.websocket import (
    CLOSED,
    MALFORMED,
    SILENCE,
    Credentials,
    Event,
    decide_token_answer,
    parse_frame,
    websocket_url,
)
from tests.support import config_for

pytestmark = pytest.mark.timeout(60)

LOGS = "gcloud run services logs read netra-backend-staging --limit 100"
RESULT = "Staging is healthy."
SHORT = {
    "checks": {
        "golden-path": {"deadline_s": 3, "timeout_s": 2},
        "websocket-handshake": {"deadline_s": 3, "timeout_s": 2},
    }
}
PASSWORD_ENV = "RUNBOOK_TEST_USER_PASSWORD"
SIM_PASSWORD = "sim-test-password-not-a-secret"  # simulator.netra_state.NetraUser's default
LOGIN = {"golden_path": {"auth": "login", "password_env": PASSWORD_ENV}}


def ev(kind: str, t_ms: float, **data: Any) -> Event:
    return Event(kind, t_ms, data)


def stream(*kinds: str, result: str = RESULT) -> list[Event]:
    """Agent events 100 ms apart; agent_completed carries `result`."""
    return [
        ev(k, 100.0 * (i + 1), **({"result": result} if k == "agent_completed" else {})) for i, k in enumerate(kinds)
    ]


def decide(events: list[Event], mode: str = "strict") -> Any:
    return decide_golden_path(events, mode, 3.0, LOGS)  # type: ignore[arg-type]


def access_count(sim: Simulator) -> int:
    """Secret Manager payload reads (`...versions/latest:access`) the simulator answered."""
    return sum(1 for e in sim.log.entries("secretmanager") if e.path.endswith(":access"))


def serialized(result: CheckResult) -> str:
    return result.model_dump_json()


# --- decide_golden_path ----------------------------------------------------------------------------------------


def test_all_five_events_in_order_with_a_result_pass_strict_with_timings() -> None:
    finding = decide(stream(*GOLDEN_PATH_EVENTS))
    assert finding.status == Status.PASS, finding.summary
    assert finding.evidence["time_to_first_event_ms"] == 100.0
    assert finding.evidence["total_ms"] == 500.0
    assert [row["type"] for row in finding.evidence["events"]] == list(GOLDEN_PATH_EVENTS)
    assert finding.evidence["result_chars"] == len(RESULT)
    assert "5 golden-path events in 500 ms (first after 100 ms)" in finding.summary


def test_a_missing_event_fails_strict_naming_it_and_what_was_seen() -> None:
    events = stream("agent_started", "agent_thinking", "tool_executing", "agent_completed")
    finding = decide(events)
    assert finding.status == Status.FAIL
    assert finding.summary.startswith("tool_completed missing")
    assert "agent_completed @400 ms" in finding.summary
    assert finding.evidence["missing"] == ["tool_completed"]


def test_the_same_stream_passes_lenient_saying_what_it_tolerated() -> None:
    events = stream("agent_started", "agent_thinking", "tool_executing", "agent_completed")
    finding = decide(events, "lenient")
    assert finding.status == Status.PASS
    assert "lenient: tool_completed not seen" in finding.summary


def test_out_of_order_fails_strict_and_passes_lenient() -> None:
    events = stream("agent_started", "tool_executing", "agent_thinking", "tool_completed", "agent_completed")
    strict = decide(events)
    assert strict.status == Status.FAIL
    assert "out of order: agent_thinking arrived after tool_executing" in strict.summary
    assert decide(events, "lenient").status == Status.PASS


def test_lenient_needs_two_of_started_thinking_completed() -> None:
    finding = decide(stream("tool_executing", "tool_completed", "agent_completed"), "lenient")
    assert finding.status == Status.FAIL
    assert "at least two of agent_started, agent_thinking, agent_completed" in finding.summary
    assert decide(stream("agent_thinking", "agent_completed"), "lenient").status == Status.PASS


@pytest.mark.parametrize("mode", ["strict", "lenient"])
def test_agent_error_fails_with_its_error_text(mode: str) -> None:
    events = [*stream("agent_started", "agent_thinking", "tool_executing"), ev("agent_error", 400, error="LLM down")]
    finding = decide(events, mode)
    assert finding.status == Status.FAIL
    assert finding.summary.startswith("agent_error after 400 ms: LLM down")
    assert "tool_executing @300 ms" in finding.summary


@pytest.mark.parametrize("mode", ["strict", "lenient"])
def test_an_empty_result_fails(mode: str) -> None:
    finding = decide(stream(*GOLDEN_PATH_EVENTS, result="   "), mode)
    assert finding.status == Status.FAIL
    assert "empty result" in finding.summary


def test_silence_after_the_message_fails_as_silence() -> None:
    finding = decide([ev(SILENCE, 3000, waited_s=3.0)])
    assert finding.status == Status.FAIL
    assert finding.summary == "silence: no agent event within 3.0 s after the user_message"
    assert finding.evidence["time_to_first_event_ms"] is None


def test_a_stalled_run_fails_naming_what_arrived_and_what_is_missing() -> None:
    finding = decide([ev("agent_started", 100), ev(SILENCE, 3000, waited_s=3.0)])
    assert finding.status == Status.FAIL
    assert "no agent_completed within 3.0 s (seen: agent_started @100 ms, then silence)" in finding.summary
    assert "missing agent_thinking, tool_executing, tool_completed, agent_completed" in finding.summary


def test_auth_failed_and_close_1008_fail_as_a_rejected_token() -> None:
    events = [ev("error", 5, error_code="AUTH_FAILED", message="Invalid token"), ev(CLOSED, 6, code=1008, reason="")]
    finding = decide(events)
    assert finding.status == Status.FAIL
    assert "rejected the token: AUTH_FAILED (Invalid token), close 1008" in finding.summary
    assert "jwt-secret-staging" in finding.remediation


def test_another_close_before_completion_fails_with_its_code() -> None:
    finding = decide([ev("agent_started", 100), ev(CLOSED, 150, code=1011, reason="internal error")])
    assert finding.status == Status.FAIL
    assert "closed with code 1011 before agent_completed" in finding.summary


def test_a_malformed_frame_fails_even_when_the_run_completes() -> None:
    events = [ev(MALFORMED, 100, text='{"type": "agent_st'), *stream(*GOLDEN_PATH_EVENTS[1:])]
    for mode in ("strict", "lenient"):
        finding = decide(events, mode)
        assert finding.status == Status.FAIL
        assert "malformed (non-JSON) frame at 100 ms" in finding.summary and '{"type": "agent_st' in finding.summary


def test_a_server_error_frame_fails_with_its_code() -> None:
    finding = decide([ev("error", 10, error_code="INVALID_MESSAGE", message="needs data.message")])
    assert finding.status == Status.FAIL
    assert "INVALID_MESSAGE" in finding.summary


def test_result_text_accepts_strings_objects_and_content() -> None:
    assert result_text({"result": "answer"}) == "answer"
    assert result_text({"result": {"summary": "x"}}) == "{'summary': 'x'}"
    assert result_text({"result": "", "content": "from content"}) == "from content"
    assert result_text({"result": {}}) == ""


# --- decide_handshake ------------------------------------------------------------------------------------------


def test_handshake_passes_on_connection_established() -> None:
    events = [ev("connection_established", 7, connection_id="c1", golden_path_events=list(GOLDEN_PATH_EVENTS))]
    finding = decide_handshake(events, 5, LOGS, "netra-backend-staging")
    assert finding.status == Status.PASS
    assert finding.evidence["connection_established_ms"] == 7
    assert finding.evidence["golden_path_events"] == list(GOLDEN_PATH_EVENTS)


def test_handshake_rejection_names_auth_failed_and_1008() -> None:
    events = [ev("error", 3, error_code="AUTH_FAILED", message="Invalid"), ev(CLOSED, 4, code=1008, reason="")]
    finding = decide_handshake(events, 5, LOGS, "netra-backend-staging")
    assert finding.status == Status.FAIL
    assert "AUTH_FAILED" in finding.summary and "close 1008" in finding.summary


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([ev(SILENCE, 5000, waited_s=5.0)], "no connection_established within 5.0 s"),
        ([ev(MALFORMED, 3, text="garbage")], "malformed (non-JSON) frame"),
        ([ev(CLOSED, 3, code=1011, reason="")], "closed with code 1011"),
    ],
)
def test_handshake_failures_say_what_happened(events: list[Event], expected: str) -> None:
    finding = decide_handshake(events, 5, LOGS, "netra-backend-staging")
    assert finding.status == Status.FAIL
    assert expected in finding.summary


# --- frames, URLs, token answers -------------------------------------------------------------------------------


def test_frames_parse_into_events() -> None:
    event = parse_frame('{"type":"agent_completed","data":{"result":"x"}}', 12.0)
    assert event == Event("agent_completed", 12.0, {"result": "x"})
    hello = parse_frame('{"type":"connection_established","connection_id":"c1"}', 1.0)
    assert hello.data == {"connection_id": "c1"}
    error = parse_frame('{"type":"error","error_code":"AUTH_FAILED","message":"m"}', 1.0)
    assert error.data == {"error_code": "AUTH_FAILED", "message": "m"}
    assert parse_frame('{"type": "agent_st', 2.0) == Event(MALFORMED, 2.0, {"text": '{"type": "agent_st'})
    assert parse_frame("[1, 2]", 2.0).type == MALFORMED


def test_websocket_url_follows_the_backend_scheme() -> None:
    assert websocket_url("https://api.example/", "/ws") == "wss://api.example/ws"
    assert websocket_url("http://127.0.0.1:8765/services/b", "ws") == "ws://127.0.0.1:8765/services/b/ws"


BYPASS = Credentials("e2e-bypass", "e2e@example.com", SecretStr("the-key-value"), "secret e2e-key")
LOGIN_CREDS = Credentials("login", "e2e@example.com", SecretStr("the-password"), "env PW")


def test_token_answer_200_gives_the_token() -> None:
    assert decide_token_answer(BYPASS, 200, {"access_token": "tok"}, "auth") == "tok"


@pytest.mark.parametrize(
    ("credentials", "code", "status", "expected"),
    [
        (BYPASS, 401, Status.FAIL, "rejected the credentials from secret e2e-key: 401"),
        (LOGIN_CREDS, 401, Status.FAIL, "/auth/login rejected the credentials from env PW: 401"),
        (BYPASS, 403, Status.FAIL, "refused the test login: 403"),
        (BYPASS, 503, Status.FAIL, "no E2E bypass key configured"),
        (LOGIN_CREDS, 503, Status.ERROR, "answered HTTP 503"),
        (BYPASS, 500, Status.ERROR, "answered HTTP 500"),
        (BYPASS, 200, Status.ERROR, "200 without an access_token"),
    ],
)
def test_token_answers_without_a_token_explain_themselves_without_the_secret(
    credentials: Credentials, code: int, status: Status, expected: str
) -> None:
    finding = decide_token_answer(credentials, code, {"detail": "nope"}, "netra-auth-service")
    assert not isinstance(finding, str)
    assert finding.status == status
    assert expected in finding.summary
    text = finding.summary + finding.remediation + str(finding.evidence)
    assert "the-key-value" not in text and "the-password" not in text


def test_credentials_never_show_their_secret() -> None:
    assert "the-key-value" not in repr(BYPASS) and "the-key-value" not in str(BYPASS)


# --- against the simulator -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def healthy_sim() -> Iterator[Simulator]:
    with Simulator("healthy") as sim:
        yield sim


@pytest.fixture(scope="module")
def healthy(healthy_sim: Simulator) -> tuple[RunbookConfig, GoogleClients]:
    config = config_for(healthy_sim)
    return config, GoogleClients(config.gcp)


async def test_golden_path_passes_strict_with_the_bypass_key_read_once(
    healthy_sim: Simulator, healthy: tuple[RunbookConfig, GoogleClients], caplog: pytest.LogCaptureFixture
) -> None:
    config, clients = healthy
    before = access_count(healthy_sim)
    with caplog.at_level(logging.DEBUG):
        result = await golden_path.fn(config, clients)
    assert result.status == Status.PASS, result.summary
    assert access_count(healthy_sim) - before == 1
    assert [row["type"] for row in result.evidence["events"]] == list(GOLDEN_PATH_EVENTS)
    assert 0 < result.evidence["time_to_first_event_ms"] <= result.evidence["total_ms"]
    assert result.evidence["auth"] == "e2e-bypass" and result.evidence["mode"] == "strict"
    assert SIM_E2E_BYPASS_KEY not in serialized(result)
    assert SIM_E2E_BYPASS_KEY not in caplog.text
    assert "Bearer" not in caplog.text and "jwt." not in caplog.text  # websockets logs headers at DEBUG


async def test_handshake_passes_and_reads_the_key_once(
    healthy_sim: Simulator, healthy: tuple[RunbookConfig, GoogleClients]
) -> None:
    config, clients = healthy
    before = access_count(healthy_sim)
    result = await websocket_handshake.fn(config, clients)
    assert result.status == Status.PASS, result.summary
    assert access_count(healthy_sim) - before == 1
    assert result.evidence["websocket"].startswith("ws://127.0.0.1:")
    (frame,) = result.evidence["frames"]
    assert frame["type"] == "connection_established"
    assert result.evidence["connection_established_ms"] == frame["t_ms"]
    assert 0 < frame["t_ms"] < 5000  # measured from the socket's opening, not a default
    assert result.summary == f"/ws accepted the token: connection_established after {frame['t_ms']:.0f} ms"
    assert SIM_E2E_BYPASS_KEY not in serialized(result)


async def test_login_mode_passes_without_reading_any_secret(
    healthy_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, SIM_PASSWORD)
    config = config_for(healthy_sim, LOGIN)
    before = access_count(healthy_sim)
    result = await golden_path.fn(config, GoogleClients(config.gcp))
    assert result.status == Status.PASS, result.summary
    assert result.evidence["auth"] == "login"
    assert access_count(healthy_sim) == before
    assert SIM_PASSWORD not in serialized(result)


async def test_login_with_a_wrong_password_fails_with_401(
    healthy_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PASSWORD_ENV, "wrong-password")
    config = config_for(healthy_sim, LOGIN)
    result = await golden_path.fn(config, GoogleClients(config.gcp))
    assert result.status == Status.FAIL
    assert f"/auth/login rejected the credentials from env {PASSWORD_ENV}: 401" in result.summary
    assert "wrong-password" not in serialized(result)


async def test_login_without_the_password_variable_is_an_error(
    healthy_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    config = config_for(healthy_sim, LOGIN)
    result = await golden_path.fn(config, GoogleClients(config.gcp))
    assert result.status == Status.ERROR
    assert f"environment variable {PASSWORD_ENV}" in result.summary


async def test_bypass_key_from_a_prefect_secret_block(healthy_sim: Simulator, monkeypatch: pytest.MonkeyPatch) -> None:
    from prefect.blocks.system import Secret

    loaded: list[str] = []

    async def aload(name: str) -> Secret:
        loaded.append(name)
        return Secret(value=SIM_E2E_BYPASS_KEY)

    monkeypatch.setattr(Secret, "aload", aload)
    config = config_for(healthy_sim, {"golden_path": {"bypass_key_block": "e2e-bypass-key"}})
    before = access_count(healthy_sim)
    result = await golden_path.fn(config, GoogleClients(config.gcp))
    assert result.status == Status.PASS, result.summary
    assert loaded == ["e2e-bypass-key"]
    assert access_count(healthy_sim) == before  # the block wins over Secret Manager
    assert SIM_E2E_BYPASS_KEY not in serialized(result)


async def test_a_wrong_bypass_key_fails_with_401_and_never_shows_either_key(
    healthy_sim: Simulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from prefect.blocks.system import Secret

    async def aload(name: str) -> Secret:
        return Secret(value="wrong-bypass-key")

    monkeypatch.setattr(Secret, "aload", aload)
    config = config_for(healthy_sim, {"golden_path": {"bypass_key_block": "e2e-bypass-key"}})
    result = await golden_path.fn(config, GoogleClients(config.gcp))
    assert result.status == Status.FAIL
    assert "/auth/e2e/test-auth rejected the credentials from block e2e-bypass-key: 401" in result.summary
    assert "wrong-bypass-key" not in serialized(result) and SIM_E2E_BYPASS_KEY not in serialized(result)


async def test_bypass_not_configured_on_the_auth_service_fails_with_503() -> None:
    with Simulator("healthy") as sim:
        sim.netra_state.e2e_bypass_configured = False
        config = config_for(sim)
        result = await golden_path.fn(config, GoogleClients(config.gcp))
        assert access_count(sim) == 1
    assert result.status == Status.FAIL
    assert "503" in result.summary and "no E2E bypass key configured" in result.summary
    assert "--update-secrets=E2E_OAUTH_SIMULATION_KEY" in result.remediation
    assert SIM_E2E_BYPASS_KEY not in serialized(result)


async def test_ws_auth_rejected_fails_both_checks_with_1008() -> None:
    with Simulator("ws-auth-rejected") as sim:
        config = config_for(sim, SHORT)
        clients = GoogleClients(config.gcp)
        handshake = await websocket_handshake.fn(config, clients)
        golden = await golden_path.fn(config, clients)
    for result in (handshake, golden):
        assert result.status == Status.FAIL
        assert "AUTH_FAILED" in result.summary and "close 1008" in result.summary
        assert SIM_E2E_BYPASS_KEY not in serialized(result)
    assert golden.summary.startswith("handshake: ")


@pytest.mark.parametrize(
    ("scenario", "expected"),
    [
        ("golden-path-missing-event", "tool_completed missing from the golden path"),
        ("agent-error", "agent_error after"),
        ("ws-malformed", "malformed (non-JSON) frame"),
        ("slow-agent", "no agent_completed within"),
        ("ws-silent", "silence: no agent event within"),
    ],
)
async def test_each_golden_path_fault_fails_for_its_own_reason(scenario: str, expected: str) -> None:
    with Simulator(scenario) as sim:
        config = config_for(sim, SHORT)
        result = await golden_path.fn(config, GoogleClients(config.gcp))
    assert result.status == Status.FAIL, result.summary
    assert expected in result.summary
    assert "gcloud run services logs read netra-backend-staging" in result.remediation
    assert result.duration_s < 3.5
    assert SIM_E2E_BYPASS_KEY not in serialized(result)


async def test_agent_error_carries_the_agents_error_text() -> None:
    with Simulator("agent-error") as sim:
        config = config_for(sim, SHORT)
        result = await golden_path.fn(config, GoogleClients(config.gcp))
    assert "LLM provider request timed out" in result.summary
    assert [row["type"] for row in result.evidence["events"]][-1] == "agent_error"


async def test_slow_agent_names_the_events_seen_before_the_silence() -> None:
    with Simulator("slow-agent") as sim:
        config = config_for(sim, SHORT)
        result = await golden_path.fn(config, GoogleClients(config.gcp))
    assert "agent_started @" in result.summary and "then silence" in result.summary
    assert "missing agent_thinking" in result.summary


async def test_missing_event_passes_lenient_on_the_same_stream() -> None:
    with Simulator("golden-path-missing-event") as sim:
        strict_config = config_for(sim, SHORT)
        lenient_config = config_for(sim, {**SHORT, "golden_path": {"mode": "lenient"}})
        clients = GoogleClients(strict_config.gcp)
        strict = await golden_path.fn(strict_config, clients)
        lenient = await golden_path.fn(lenient_config, clients)
    assert strict.status == Status.FAIL and "tool_completed missing" in strict.summary
    assert lenient.status == Status.PASS, lenient.summary
    assert "lenient: tool_completed not seen" in lenient.summary
    strict_types = [row["type"] for row in strict.evidence["events"]]
    assert strict_types == [row["type"] for row in lenient.evidence["events"]]


async def test_empty_result_fails() -> None:
    with Simulator("healthy") as sim:
        sim.netra_state.websocket.result_text = ""
        config = config_for(sim, SHORT)
        result = await golden_path.fn(config, GoogleClients(config.gcp))
    assert result.status == Status.FAIL
    assert "agent_completed after" in result.summary and "empty result" in result.summary


async def test_ws_silent_passes_the_handshake() -> None:
    with Simulator("ws-silent") as sim:
        config = config_for(sim, SHORT)
        result = await websocket_handshake.fn(config, GoogleClients(config.gcp))
    assert result.status == Status.PASS, result.summary
