# ruff: noqa: E501  (the expected findings are whole sentences and commands, as an operator reads them)
"""The golden path's and the WebSocket handshake's decisions to the word: every way a run ends (completed strict or
lenient, agent error, token rejected, server error, malformed frame, closed, silence, stuck, empty result).

Plain events, no WebSocket: `make mutate` reruns these for every mutant of the checks' decisions. The expected
findings are what an operator reads; change them here when the wording changes on purpose.
"""

from typing import Any

import pytest

from runbook.results import Status
from tasks.golden_path import decide_golden_path, decide_handshake
from tasks.websocket import Event as E

LOGS = "gcloud run services logs read api"

GOLDEN_PATH = [
    pytest.param(
        [
            E("agent_started", 100.0, {}),
            E("agent_thinking", 250.0, {}),
            E("tool_executing", 400.0, {}),
            E("tool_completed", 900.0, {}),
            E("agent_completed", 1500.4, {"result": "Staging is healthy."}),
        ],
        "strict",
        Status.PASS,
        "5 golden-path events in 1500 ms (first after 100 ms), result of 19 characters",
        "",
        {
            "mode": "strict",
            "events": [
                {"type": "agent_started", "t_ms": 100.0},
                {"type": "agent_thinking", "t_ms": 250.0},
                {"type": "tool_executing", "t_ms": 400.0},
                {"type": "tool_completed", "t_ms": 900.0},
                {"type": "agent_completed", "t_ms": 1500.4},
            ],
            "time_to_first_event_ms": 100.0,
            "total_ms": 1500.4,
            "missing": [],
            "wait_s": 30.0,
            "result_chars": 19,
            "result_preview": "Staging is healthy.",
        },
        id="strict pass",
    ),
    pytest.param(
        [E("agent_started", 80.0, {}), E("agent_completed", 700.0, {"content": ["a", "b"]})],
        "lenient",
        Status.PASS,
        "2 golden-path events in 700 ms (first after 80 ms), result of 10 characters (lenient: agent_thinking, tool_executing, tool_completed not seen)",
        "",
        {
            "mode": "lenient",
            "events": [{"type": "agent_started", "t_ms": 80.0}, {"type": "agent_completed", "t_ms": 700.0}],
            "time_to_first_event_ms": 80.0,
            "total_ms": 700.0,
            "missing": ["agent_thinking", "tool_executing", "tool_completed"],
            "wait_s": 30.0,
            "result_chars": 10,
            "result_preview": "['a', 'b']",
        },
        id="lenient pass",
    ),
    pytest.param(
        [E("agent_thinking", 80.0, {}), E("agent_completed", 700.0, {"result": "x"})],
        "lenient",
        Status.PASS,
        "2 golden-path events in 700 ms (first after 80 ms), result of 1 characters (lenient: agent_started, tool_executing, tool_completed not seen)",
        "",
        {
            "mode": "lenient",
            "events": [{"type": "agent_thinking", "t_ms": 80.0}, {"type": "agent_completed", "t_ms": 700.0}],
            "time_to_first_event_ms": 80.0,
            "total_ms": 700.0,
            "missing": ["agent_started", "tool_executing", "tool_completed"],
            "wait_s": 30.0,
            "result_chars": 1,
            "result_preview": "x",
        },
        id="lenient two of the core",
    ),
    pytest.param(
        [E("agent_started", 80.0, {}), E("agent_completed", 700.0, {"result": "x"}), E("agent_thinking", 800.0, {})],
        "lenient",
        Status.FAIL,
        "lenient: expected at least two of agent_started, agent_thinking, agent_completed ending in agent_completed (seen: agent_started @80 ms, agent_completed @700 ms, agent_thinking @800 ms)",
        "The backend emits too few agent events; check its agent notifications: gcloud run services logs read api",
        {
            "mode": "lenient",
            "events": [
                {"type": "agent_started", "t_ms": 80.0},
                {"type": "agent_completed", "t_ms": 700.0},
                {"type": "agent_thinking", "t_ms": 800.0},
            ],
            "time_to_first_event_ms": 80.0,
            "total_ms": 800.0,
            "missing": ["tool_executing", "tool_completed"],
            "wait_s": 30.0,
            "result_chars": 1,
            "result_preview": "x",
        },
        id="lenient not ending in completed",
    ),
    pytest.param(
        [E("agent_started", 80.0, {}), E("agent_thinking", 90.0, {}), E("agent_completed", 700.0, {"response": "ok"})],
        "strict",
        Status.FAIL,
        "tool_executing, tool_completed missing from the golden path (seen: agent_started @80 ms, agent_thinking @90 ms, agent_completed @700 ms)",
        "The backend does not emit every golden-path event (the UI shows no progress without them); check the agent's WebSocket notifications: gcloud run services logs read api",
        {
            "mode": "strict",
            "events": [
                {"type": "agent_started", "t_ms": 80.0},
                {"type": "agent_thinking", "t_ms": 90.0},
                {"type": "agent_completed", "t_ms": 700.0},
            ],
            "time_to_first_event_ms": 80.0,
            "total_ms": 700.0,
            "missing": ["tool_executing", "tool_completed"],
            "wait_s": 30.0,
            "result_chars": 2,
            "result_preview": "ok",
        },
        id="strict missing",
    ),
    pytest.param(
        [
            E("agent_started", 1.0, {}),
            E("agent_thinking", 2.0, {}),
            E("tool_completed", 3.0, {}),
            E("tool_executing", 4.0, {}),
            E("agent_completed", 5.0, {"result": "x"}),
        ],
        "strict",
        Status.FAIL,
        "golden-path events out of order: tool_executing arrived after tool_completed (seen: agent_started @1 ms, agent_thinking @2 ms, tool_completed @3 ms, tool_executing @4 ms, agent_completed @5 ms)",
        "The backend emits agent events out of order; check its event notifier: gcloud run services logs read api",
        {
            "mode": "strict",
            "events": [
                {"type": "agent_started", "t_ms": 1.0},
                {"type": "agent_thinking", "t_ms": 2.0},
                {"type": "tool_completed", "t_ms": 3.0},
                {"type": "tool_executing", "t_ms": 4.0},
                {"type": "agent_completed", "t_ms": 5.0},
            ],
            "time_to_first_event_ms": 1.0,
            "total_ms": 5.0,
            "missing": [],
            "wait_s": 30.0,
            "result_chars": 1,
            "result_preview": "x",
        },
        id="strict out of order",
    ),
    pytest.param(
        [E("agent_started", 100.0, {}), E("agent_error", 300.0, {"error": "rate limited"})],
        "strict",
        Status.FAIL,
        "agent_error after 300 ms: rate limited (seen: agent_started @100 ms, agent_error @300 ms)",
        "The agent run failed; find it in the backend logs and check its LLM provider keys: gcloud run services logs read api",
        {
            "mode": "strict",
            "events": [
                {"type": "agent_started", "t_ms": 100.0},
                {"type": "agent_error", "t_ms": 300.0, "error": "rate limited"},
            ],
            "time_to_first_event_ms": 100.0,
            "total_ms": 300.0,
            "missing": ["agent_thinking", "tool_executing", "tool_completed", "agent_completed"],
            "wait_s": 30.0,
        },
        id="agent error",
    ),
    pytest.param(
        [E("agent_error", 300.0, {})],
        "strict",
        Status.FAIL,
        "agent_error after 300 ms: no error text (seen: agent_error @300 ms)",
        "The agent run failed; find it in the backend logs and check its LLM provider keys: gcloud run services logs read api",
        {
            "mode": "strict",
            "events": [{"type": "agent_error", "t_ms": 300.0}],
            "time_to_first_event_ms": 300.0,
            "total_ms": 300.0,
            "missing": ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"],
            "wait_s": 30.0,
        },
        id="agent error without text",
    ),
    pytest.param(
        [
            E("error", 5.0, {"error_code": "AUTH_FAILED", "message": "bad token"}),
            E("connection_closed", 6.0, {"code": 1008}),
        ],
        "strict",
        Status.FAIL,
        "the WebSocket rejected the token: AUTH_FAILED (bad token), close 1008 (seen: error @5 ms, connection_closed @6 ms)",
        "The backend rejected a token its own auth service issued: backend and auth must share the JWT secret (jwt-secret-staging, same version). Compare: gcloud run services describe api and the auth service; redeploy the one that is behind.",
        {
            "mode": "strict",
            "events": [
                {"type": "error", "t_ms": 5.0, "error_code": "AUTH_FAILED"},
                {"type": "connection_closed", "t_ms": 6.0, "code": 1008},
            ],
            "time_to_first_event_ms": 5.0,
            "total_ms": 6.0,
            "missing": ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"],
            "wait_s": 30.0,
        },
        id="token rejected",
    ),
    pytest.param(
        [E("error", 5.0, {"error_code": "INVALID_MESSAGE", "message": "unknown type"})],
        "strict",
        Status.FAIL,
        "the backend answered the user_message with INVALID_MESSAGE: unknown type (seen: error @5 ms)",
        "The backend did not accept the message format; check its WebSocket protocol version: gcloud run services logs read api",
        {
            "mode": "strict",
            "events": [{"type": "error", "t_ms": 5.0, "error_code": "INVALID_MESSAGE"}],
            "time_to_first_event_ms": 5.0,
            "total_ms": 5.0,
            "missing": ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"],
            "wait_s": 30.0,
        },
        id="server error",
    ),
    pytest.param(
        [E("agent_started", 1.0, {}), E("malformed_frame", 2.0, {"text": "garbage"})],
        "strict",
        Status.FAIL,
        "malformed (non-JSON) frame at 2 ms: 'garbage' (seen: agent_started @1 ms, malformed_frame @2 ms)",
        "The backend sent a frame no client can parse; look for serialization errors: gcloud run services logs read api",
        {
            "mode": "strict",
            "events": [
                {"type": "agent_started", "t_ms": 1.0},
                {"type": "malformed_frame", "t_ms": 2.0, "text": "garbage"},
            ],
            "time_to_first_event_ms": 1.0,
            "total_ms": 2.0,
            "missing": ["agent_thinking", "tool_executing", "tool_completed", "agent_completed"],
            "wait_s": 30.0,
        },
        id="malformed",
    ),
    pytest.param(
        [E("agent_started", 1.0, {}), E("connection_closed", 2.0, {"code": 1011})],
        "strict",
        Status.FAIL,
        "the WebSocket closed with code 1011 before agent_completed (seen: agent_started @1 ms, connection_closed @2 ms)",
        "The backend dropped the connection mid-run; check its logs and the load balancer's /ws timeout: gcloud run services logs read api",
        {
            "mode": "strict",
            "events": [
                {"type": "agent_started", "t_ms": 1.0},
                {"type": "connection_closed", "t_ms": 2.0, "code": 1011},
            ],
            "time_to_first_event_ms": 1.0,
            "total_ms": 2.0,
            "missing": ["agent_thinking", "tool_executing", "tool_completed", "agent_completed"],
            "wait_s": 30.0,
        },
        id="closed mid-run",
    ),
    pytest.param(
        [E("deadline_passed", 30000.0, {"waited_s": 30.0})],
        "strict",
        Status.FAIL,
        "silence: no agent event within 30.0 s after the user_message",
        "The backend accepted the message but no agent ran: check its agent workers, the LLM provider and gcloud run services logs read api",
        {
            "mode": "strict",
            "events": [{"type": "deadline_passed", "t_ms": 30000.0, "waited_s": 30.0}],
            "time_to_first_event_ms": None,
            "total_ms": 30000.0,
            "missing": ["agent_started", "agent_thinking", "tool_executing", "tool_completed", "agent_completed"],
            "wait_s": 30.0,
        },
        id="silence",
    ),
    pytest.param(
        [E("agent_started", 1.0, {}), E("deadline_passed", 30000.0, {})],
        "strict",
        Status.FAIL,
        "no agent_completed within 30.0 s (seen: agent_started @1 ms, then silence); missing agent_thinking, tool_executing, tool_completed, agent_completed",
        "The agent is stuck or slow; find where it stopped in the backend logs: gcloud run services logs read api",
        {
            "mode": "strict",
            "events": [{"type": "agent_started", "t_ms": 1.0}, {"type": "deadline_passed", "t_ms": 30000.0}],
            "time_to_first_event_ms": 1.0,
            "total_ms": 30000.0,
            "missing": ["agent_thinking", "tool_executing", "tool_completed", "agent_completed"],
            "wait_s": 30.0,
        },
        id="stuck",
    ),
    pytest.param(
        [E("agent_started", 1.0, {}), E("agent_completed", 2.0, {"result": "  ", "content": None})],
        "strict",
        Status.FAIL,
        "agent_completed after 2 ms with an empty result (seen: agent_started @1 ms, agent_completed @2 ms)",
        "The agent completed without an answer: check the LLM provider keys and the agent's output: gcloud run services logs read api",
        {
            "mode": "strict",
            "events": [{"type": "agent_started", "t_ms": 1.0}, {"type": "agent_completed", "t_ms": 2.0}],
            "time_to_first_event_ms": 1.0,
            "total_ms": 2.0,
            "missing": ["agent_thinking", "tool_executing", "tool_completed"],
            "wait_s": 30.0,
            "result_chars": 0,
        },
        id="empty result",
    ),
]


@pytest.mark.parametrize(("events", "mode", "status", "summary", "remediation", "evidence"), GOLDEN_PATH)
def test_each_golden_path_ending_to_the_word(
    events: list[E], mode: Any, status: Status, summary: str, remediation: str, evidence: dict[str, Any]
) -> None:
    finding = decide_golden_path(events, mode, 30.04, LOGS, "api")
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        status,
        summary,
        remediation,
        evidence,
    )


HANDSHAKE = [
    pytest.param(
        [E("connection_established", 6.2, {"golden_path_events": ["agent_started"]})],
        Status.PASS,
        "/ws accepted the token: connection_established after 6 ms",
        "",
        {
            "frames": [{"type": "connection_established", "t_ms": 6.2}],
            "wait_s": 5.0,
            "connection_established_ms": 6.2,
            "golden_path_events": ["agent_started"],
        },
        id="accepted",
    ),
    pytest.param(
        [E("connection_established", 6.2, {"golden_path_events": "all"})],
        Status.PASS,
        "/ws accepted the token: connection_established after 6 ms",
        "",
        {"frames": [{"type": "connection_established", "t_ms": 6.2}], "wait_s": 5.0, "connection_established_ms": 6.2},
        id="accepted without advertised events",
    ),
    pytest.param(
        [E("connection_closed", 3.0, {"code": 1008})],
        Status.FAIL,
        "/ws rejected a valid token: close 1008",
        "The backend rejected a token its own auth service issued: backend and auth must share the JWT secret (jwt-secret-staging, same version). Compare: gcloud run services describe api and the auth service; redeploy the one that is behind.",
        {"frames": [{"type": "connection_closed", "t_ms": 3.0, "code": 1008}], "wait_s": 5.0},
        id="rejected by close",
    ),
    pytest.param(
        [E("malformed_frame", 3.0, {"text": "{oops"})],
        Status.FAIL,
        "/ws sent a malformed (non-JSON) frame instead of connection_established: '{oops'",
        "The backend's WebSocket sends broken frames; look for serialization errors: gcloud run services logs read api",
        {"frames": [{"type": "malformed_frame", "t_ms": 3.0, "text": "{oops"}], "wait_s": 5.0},
        id="malformed",
    ),
    pytest.param(
        [E("connection_closed", 3.0, {"code": 1011}), E("deadline_passed", 9.0, {})],
        Status.FAIL,
        "/ws closed with code 1011 before connection_established (seen: connection_closed @3 ms, deadline_passed @9 ms)",
        "Check the backend's WebSocket errors: gcloud run services logs read api",
        {
            "frames": [
                {"type": "connection_closed", "t_ms": 3.0, "code": 1011},
                {"type": "deadline_passed", "t_ms": 9.0},
            ],
            "wait_s": 5.0,
        },
        id="closed",
    ),
    pytest.param(
        [E("ping", 1.0, {}), E("deadline_passed", 5000.0, {})],
        Status.FAIL,
        "no connection_established within 5.0 s (seen: ping @1 ms, then silence)",
        "The backend accepted the connection but never greeted it; check its WebSocket handler: gcloud run services logs read api",
        {"frames": [{"type": "ping", "t_ms": 1.0}, {"type": "deadline_passed", "t_ms": 5000.0}], "wait_s": 5.0},
        id="silence",
    ),
]


@pytest.mark.parametrize(("events", "status", "summary", "remediation", "evidence"), HANDSHAKE)
def test_each_handshake_ending_to_the_word(
    events: list[E], status: Status, summary: str, remediation: str, evidence: dict[str, Any]
) -> None:
    finding = decide_handshake(events, 5.04, LOGS, "api")
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        status,
        summary,
        remediation,
        evidence,
    )
