"""The simulated Netra platform: health endpoints, login, the WebSocket golden path and every netra fault.

Each test serves the routes on a real 127.0.0.1 socket with uvicorn and talks to them with httpx and websockets,
the clients the runbook uses against the real platform.
"""

import asyncio
import contextlib
import json
import time
import tomllib
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from simulator.netra import SIM_E2E_BYPASS_KEY, netra_routes
from simulator.netra_state import HealthFault, NetraState, WebSocketState
from simulator.requestlog import RequestLog
from tests.support import serve as serve_app

pytestmark = pytest.mark.timeout(30)

BACKEND = "/services/netra-backend-staging"
AUTH = "/services/netra-auth-service"
FRONTEND = "/services/netra-frontend-staging"
SCENARIOS = Path(__file__).resolve().parents[1] / "simulator" / "scenarios"
NETRA_SCENARIOS = [
    "health-503",
    "infra-degraded",
    "infra-critical",
    "ws-auth-rejected",
    "golden-path-missing-event",
    "agent-error",
    "slow-agent",
    "ws-silent",
    "ws-malformed",
]


@contextlib.contextmanager
def serve(state: NetraState, log: RequestLog) -> Iterator[str]:
    """Serve the netra routes alone on a free loopback port; yield the base URL."""
    with serve_app(Starlette(routes=netra_routes(state, log))) as url:
        yield url


def fast_state() -> NetraState:
    """The healthy platform with near-instant agent runs, so the tests stay quick."""
    return NetraState(websocket=WebSocketState(first_event_delay_seconds=0.01, event_interval_seconds=0.01))


@pytest.fixture(scope="module")
def simulator() -> Iterator[tuple[NetraState, RequestLog, str]]:
    """One server per module; the `state` fixture resets its state before each test."""
    state, log = fast_state(), RequestLog()
    with serve(state, log) as base:
        yield state, log, base


@pytest.fixture
def state(simulator: tuple[NetraState, RequestLog, str]) -> NetraState:
    """The running simulator's state, reset to the (fast) healthy platform; the routes read it on every request."""
    state, log, _ = simulator
    fresh = fast_state()
    for name in NetraState.model_fields:
        setattr(state, name, getattr(fresh, name))
    log.clear()
    return state


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One client for the module: building an httpx client (its TLS context) costs 0.1-0.9 s."""
    with httpx.Client(timeout=5) as shared:
        yield shared


@pytest.fixture
def log(state: NetraState, simulator: tuple[NetraState, RequestLog, str]) -> RequestLog:
    return simulator[1]


@pytest.fixture
def url(state: NetraState, simulator: tuple[NetraState, RequestLog, str]) -> str:
    return simulator[2]


def run(coroutine: Coroutine[Any, Any, Any], timeout: float = 5) -> Any:
    """Run a coroutine to completion with a hard deadline."""
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def login(http: httpx.Client, url: str) -> str:
    user = NetraState().user
    response = http.post(f"{url}{AUTH}/auth/login", json={"email": user.email, "password": user.password})
    response.raise_for_status()
    return str(response.json()["access_token"])


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + f"{BACKEND}/ws"


async def receive_json(ws: ClientConnection, within: float = 2) -> dict[str, Any]:
    message = json.loads(await asyncio.wait_for(ws.recv(), within))
    assert isinstance(message, dict)
    return message


async def golden_path(
    url: str, token: str, message_type: str = "user_message", wait: float = 3
) -> list[dict[str, Any]]:
    """Connect, send one chat message, return the agent events up to agent_completed/agent_error."""
    async with connect(ws_url(url), additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=2) as ws:
        greeting = await receive_json(ws)
        assert greeting["type"] == "connection_established"
        await ws.send(
            json.dumps({"type": message_type, "data": {"message": "How healthy is staging?", "thread_id": "t-1"}})
        )
        events: list[dict[str, Any]] = []
        while not events or events[-1]["type"] not in ("agent_completed", "agent_error"):
            events.append(await receive_json(ws, within=wait))
        return events


# Health endpoints


def test_healthy_platform_answers_every_health_endpoint(url: str, log: RequestLog, http: httpx.Client) -> None:
    assert http.get(f"{url}{BACKEND}/health").json() == {"status": "ok"}
    assert http.get(f"{url}{BACKEND}/health/ready").json() == {"status": "ready"}
    for path in (
        "/health/live",
        "/health/startup",
        "/api/health/ready",
        "/health/database",
        "/health/infrastructure",
    ):
        response = http.get(f"{url}{BACKEND}{path}")
        assert response.status_code == 200, path
        assert response.json()["status"] == "ok"
        assert set(response.json()["diagnostics"]["database_connections"]) == {
            "success_rate",
            "average_connection_time",
            "timeout_violations",
        }
    assert http.get(f"{url}{BACKEND}/ws/health").status_code == 200
    for path in ("/health", "/health/ready"):
        assert http.get(f"{url}{AUTH}{path}").json()["database_status"] == "connected"
    assert http.get(f"{url}{FRONTEND}/health").status_code == 200
    frontend = http.get(f"{url}{FRONTEND}/")
    assert frontend.status_code == 200 and frontend.headers["content-type"].startswith("text/html")
    assert http.get(f"{url}/services/no-such-service/health").status_code == 404
    assert log.count(api="netra", method="GET") == 13


def test_health_fault_breaks_only_the_chosen_service_and_path(
    state: NetraState, url: str, log: RequestLog, http: httpx.Client
) -> None:
    state.health_faults["auth-db"] = HealthFault(service="netra-auth-service", path="/health")
    broken = http.get(f"{url}{AUTH}/health")
    assert broken.status_code == 503
    assert broken.json() == {"status": "unhealthy", "reason": "Database connectivity failed"}
    assert http.get(f"{url}{AUTH}/health/ready").status_code == 200
    assert http.get(f"{url}{BACKEND}/health").status_code == 200
    assert [e.status for e in log.entries("netra")] == [503, 200, 200]


def test_wildcard_health_fault_by_role_breaks_readiness_with_not_ready(
    state: NetraState, url: str, http: httpx.Client
) -> None:
    state.health_faults["auth-down"] = HealthFault(service="auth", path="*")
    response = http.get(f"{url}{AUTH}/health/ready")
    assert response.status_code == 503 and response.json()["status"] == "not_ready"


def test_health_latency_delays_every_health_answer(state: NetraState, url: str, http: httpx.Client) -> None:
    state.health_latency_ms = 50
    started = time.monotonic()
    assert http.get(f"{url}{BACKEND}/health").status_code == 200
    assert time.monotonic() - started >= 0.05


def test_infrastructure_degraded_answers_200_and_critical_answers_503(
    state: NetraState, url: str, http: httpx.Client
) -> None:
    state.infrastructure.status = "degraded"
    state.infrastructure.success_rate = 0.8
    degraded = http.get(f"{url}{BACKEND}/health/infrastructure")
    assert degraded.status_code == 200
    assert degraded.json()["status"] == "degraded"
    assert degraded.json()["diagnostics"]["database_connections"]["success_rate"] == 0.8
    state.infrastructure.status = "critical"
    assert http.get(f"{url}{BACKEND}/health/database").status_code == 503


def test_infrastructure_http_status_can_say_200_while_the_body_says_critical(
    state: NetraState, url: str, http: httpx.Client
) -> None:
    state.infrastructure.status = "critical"
    state.infrastructure.http_status = 200
    answer = http.get(f"{url}{BACKEND}/health/infrastructure")
    assert (answer.status_code, answer.json()["status"]) == (200, "critical")


# Login


def test_login_issues_tokens_and_rejects_bad_credentials(url: str, log: RequestLog, http: httpx.Client) -> None:
    user = NetraState().user
    good = http.post(f"{url}{AUTH}/auth/login", json={"email": user.email, "password": user.password})
    assert good.status_code == 200
    assert {"access_token", "refresh_token", "user"} <= set(good.json())
    assert good.json()["user"]["email"] == user.email
    bad = http.post(f"{url}{AUTH}/auth/login", json={"email": user.email, "password": "wrong"})
    assert bad.status_code == 401
    assert all(e.body["password"] == "***" for e in log.entries("netra")), "passwords must not be recorded"


def test_e2e_test_auth_checks_the_bypass_key(state: NetraState, url: str, http: httpx.Client) -> None:
    endpoint = f"{url}{AUTH}/auth/e2e/test-auth"
    body = {"email": "someone@netrasystems.ai", "name": "Someone", "permissions": ["read"]}
    good = http.post(endpoint, json=body, headers={"X-E2E-Bypass-Key": SIM_E2E_BYPASS_KEY})
    assert good.status_code == 200
    assert good.json()["token_type"] == "Bearer" and good.json()["expires_in"] == 900
    assert http.post(endpoint, json=body, headers={"X-E2E-Bypass-Key": "wrong"}).status_code == 401
    assert http.post(endpoint, json=body).status_code == 401
    state.e2e_bypass_configured = False
    assert http.post(endpoint, json=body, headers={"X-E2E-Bypass-Key": SIM_E2E_BYPASS_KEY}).status_code == 503


# The WebSocket golden path


def test_golden_path_sends_all_five_events_in_order_with_default_timing(
    state: NetraState, url: str, log: RequestLog, http: httpx.Client
) -> None:
    state.websocket = WebSocketState()
    started = time.monotonic()
    events = run(golden_path(url, login(http, url)))
    assert 0.4 <= time.monotonic() - started < 2
    assert [e["type"] for e in events] == [
        "agent_started",
        "agent_thinking",
        "tool_executing",
        "tool_completed",
        "agent_completed",
    ]
    assert all({"type", "run_id", "user_id", "agent_name", "timestamp", "data"} <= set(e) for e in events)
    assert len({e["run_id"] for e in events}) == 1
    final = events[-1]["data"]
    assert final["status"] == "completed" and final["result"] and final["execution_time_ms"] >= 0
    assert log.count(api="netra", method="WEBSOCKET") == 1
    assert log.entries("netra")[-1].body["type"] == "user_message"


def test_legacy_chat_message_and_e2e_token_are_accepted(url: str, http: httpx.Client) -> None:
    response = http.post(
        f"{url}{AUTH}/auth/e2e/test-auth", json={}, headers={"X-E2E-Bypass-Key": SIM_E2E_BYPASS_KEY}, timeout=5
    )
    events = run(golden_path(url, response.json()["access_token"], message_type="chat_message"))
    assert events[-1]["type"] == "agent_completed"


def test_token_in_jwt_subprotocol_is_accepted_and_selected(url: str, http: httpx.Client) -> None:
    token = login(http, url)

    async def handshake() -> tuple[str | None, dict[str, Any]]:
        async with connect(ws_url(url), subprotocols=[f"jwt.{token}"], open_timeout=2) as ws:  # type: ignore[list-item]
            return ws.subprotocol, await receive_json(ws)

    subprotocol, greeting = run(handshake())
    assert subprotocol == f"jwt.{token}"
    assert greeting["type"] == "connection_established"
    assert greeting["golden_path_events"][-1] == "agent_completed"
    assert greeting["user_id"] == NetraState().user.user_id


def expect_auth_failed(url: str, headers: dict[str, str]) -> None:
    async def attempt() -> tuple[dict[str, Any], int | None]:
        async with connect(ws_url(url), additional_headers=headers, open_timeout=2) as ws:
            error = await receive_json(ws)
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 2)
            return error, closed.value.rcvd.code if closed.value.rcvd else None

    error, code = run(attempt())
    assert error["type"] == "error" and error["error_code"] == "AUTH_FAILED"
    assert code == 1008


def test_token_not_issued_by_the_simulator_fails_auth_with_1008(url: str) -> None:
    forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
    expect_auth_failed(url, {"Authorization": f"Bearer {forged}"})
    expect_auth_failed(url, {})


def test_ws_auth_rejected_fault_refuses_even_a_valid_token(
    state: NetraState, url: str, log: RequestLog, http: httpx.Client
) -> None:
    state.websocket.auth_rejected = True
    expect_auth_failed(url, {"Authorization": f"Bearer {login(http, url)}"})
    assert log.entries("netra")[-1].status == 1008


def test_missing_event_fault_drops_that_event_only(state: NetraState, url: str, http: httpx.Client) -> None:
    state.websocket.omit_events = ["tool_completed"]
    types = [e["type"] for e in run(golden_path(url, login(http, url)))]
    assert "tool_completed" not in types
    assert types[-1] == "agent_completed" and len(types) == 4


def test_agent_error_fault_ends_the_run_with_agent_error(state: NetraState, url: str, http: httpx.Client) -> None:
    state.websocket.outcome = "error"
    events = run(golden_path(url, login(http, url)))
    assert [e["type"] for e in events] == ["agent_started", "agent_thinking", "tool_executing", "agent_error"]
    assert events[-1]["data"]["error"]


def test_empty_result_fault_completes_with_empty_text(state: NetraState, url: str, http: httpx.Client) -> None:
    state.websocket.result_text = ""
    assert run(golden_path(url, login(http, url)))[-1]["data"]["result"] == ""


def test_event_spacing_is_configurable(state: NetraState, url: str, http: httpx.Client) -> None:
    state.websocket.first_event_delay_seconds = 0.0
    state.websocket.event_interval_seconds = 0.15
    started = time.monotonic()
    run(golden_path(url, login(http, url)))
    assert 0.6 <= time.monotonic() - started < 3


def test_slow_agent_trips_a_client_deadline_and_the_server_still_stops_promptly(http: httpx.Client) -> None:
    state = NetraState(websocket=WebSocketState(event_interval_seconds=30))
    with serve(state, RequestLog()) as url:
        with pytest.raises(TimeoutError):
            run(golden_path(url, login(http, url), wait=0.3))
        stopping = time.monotonic()
    # leaving `serve` stopped the server: the 30 s agent run was cancelled, not awaited
    assert time.monotonic() - stopping < 3


def test_silent_fault_greets_then_says_nothing(state: NetraState, url: str, http: httpx.Client) -> None:
    state.websocket.silent = True
    with pytest.raises(TimeoutError):
        run(golden_path(url, login(http, url), wait=0.3))


def test_malformed_fault_sends_a_non_json_frame(state: NetraState, url: str, http: httpx.Client) -> None:
    state.websocket.malformed_event = "agent_started"
    token = login(http, url)

    async def first_event_frame() -> str:
        async with connect(ws_url(url), additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=2) as ws:
            await receive_json(ws)
            await ws.send(json.dumps({"type": "user_message", "data": {"message": "hi", "thread_id": "t"}}))
            return str(await asyncio.wait_for(ws.recv(), 2))

    frame = run(first_event_frame())
    with pytest.raises(json.JSONDecodeError):
        json.loads(frame)


def test_unknown_message_type_gets_an_error_and_the_connection_stays_open(url: str, http: httpx.Client) -> None:
    token = login(http, url)

    async def exchange() -> tuple[dict[str, Any], dict[str, Any]]:
        async with connect(ws_url(url), additional_headers={"Authorization": f"Bearer {token}"}, open_timeout=2) as ws:
            await receive_json(ws)
            await ws.send(json.dumps({"type": "bogus"}))
            error = await receive_json(ws)
            await ws.send(json.dumps({"type": "ping"}))
            return error, await receive_json(ws)

    error, pong = run(exchange())
    assert error["type"] == "error" and error["error_code"] == "UNKNOWN_MESSAGE_TYPE"
    assert pong["type"] == "pong"


# Scenario overlays


@pytest.mark.parametrize("name", NETRA_SCENARIOS)
def test_netra_scenario_file_is_valid_and_differs_from_healthy(name: str) -> None:
    document = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    assert document["description"]
    assert set(document) <= {"description", "netra"}
    assert NetraState.model_validate(document["netra"]) != NetraState()


def test_netra_and_slack_scenarios_compose_on_healthy() -> None:
    from simulator.scenario import load_scenario
    from simulator.slack_state import SlackState

    composed = load_scenario("health-503+infra-degraded+golden-path-missing-event+slack-rate-limited")
    netra = NetraState.model_validate(composed.netra)
    assert set(netra.health_faults) == {"auth-database-down", "auth-not-ready"}
    assert netra.infrastructure.status == "degraded" and netra.websocket.omit_events == ["tool_completed"]
    assert SlackState.model_validate(composed.slack).rate_limited_calls == 3
