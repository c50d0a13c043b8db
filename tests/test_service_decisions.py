# ruff: noqa: E501  (the expected findings are whole sentences and commands, as an operator reads them)
"""The token's, the frames' and performance's decisions to the word: every answer of the auth service, frames that
are events or not, the probes' statistics and verdicts.

Plain values, no network: `make mutate` reruns these for every mutant of the checks' decisions. The expected
findings are what an operator reads; change them here when the wording changes on purpose.
"""

from typing import Any

import pytest
from pydantic import SecretStr

from runbook.checks import CheckAbort
from runbook.config.files import load_config
from runbook.config.models import PerformanceConfig
from runbook.results import Status
from tasks.http_health import backoff_s, probe_timeout
from tasks.performance import Probes, decide_performance
from tasks.websocket import MALFORMED, Credentials, Event, decide_token_answer, parse_frame, service_url, websocket_url

LOGIN = Credentials("login", "e2e@netrasystems.ai", SecretStr("pw"), "env var E2E_PASSWORD")
BYPASS = Credentials("e2e-bypass", "e2e@netrasystems.ai", SecretStr("key"), "secret e2e-key")

TOKEN_ANSWERS = [
    pytest.param(
        BYPASS,
        200,
        {"token": "x"},
        Status.ERROR,
        "/auth/e2e/test-auth answered 200 without an access_token",
        "The auth service's answer changed shape; check its version and gcloud run services logs read auth --limit 50",
        {"endpoint": "/auth/e2e/test-auth", "http_status": 200, "auth": "e2e-bypass"},
        id="200 without token",
    ),
    pytest.param(
        LOGIN,
        200,
        ["tok"],
        Status.ERROR,
        "/auth/login answered 200 without an access_token",
        "The auth service's answer changed shape; check its version and gcloud run services logs read auth --limit 50",
        {"endpoint": "/auth/login", "http_status": 200, "auth": "login"},
        id="200 not an object",
    ),
    pytest.param(
        LOGIN,
        401,
        {"detail": "Invalid credentials"},
        Status.FAIL,
        "/auth/login rejected the credentials from env var E2E_PASSWORD: 401 (Invalid credentials)",
        "Check the test user e2e@netrasystems.ai exists with the password in env var E2E_PASSWORD.",
        {"endpoint": "/auth/login", "http_status": 401, "auth": "login"},
        id="login 401",
    ),
    pytest.param(
        BYPASS,
        401,
        {"detail": "x" * 300},
        Status.FAIL,
        "/auth/e2e/test-auth rejected the credentials from secret e2e-key: 401 (xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx)",
        "The key in secret e2e-key does not match the auth service's E2E_OAUTH_SIMULATION_KEY: make the service mount the same secret version (gcloud run services describe auth) and redeploy.",
        {"endpoint": "/auth/e2e/test-auth", "http_status": 401, "auth": "e2e-bypass"},
        id="bypass 401",
    ),
    pytest.param(
        BYPASS,
        403,
        {"detail": 5},
        Status.FAIL,
        "/auth/e2e/test-auth refused the test login: 403 (is the service running with ENVIRONMENT=production?)",
        "Test logins are disabled in production; check ENVIRONMENT of auth and gcloud run services logs read auth --limit 50",
        {"endpoint": "/auth/e2e/test-auth", "http_status": 403, "auth": "e2e-bypass"},
        id="403 without a text detail",
    ),
    pytest.param(
        BYPASS,
        503,
        None,
        Status.FAIL,
        "/auth/e2e/test-auth answered 503: the auth service has no E2E bypass key configured (or is down)",
        "Mount the key: gcloud run services update auth --update-secrets=E2E_OAUTH_SIMULATION_KEY=e2e-oauth-simulation-key-staging:latest; then gcloud run services logs read auth --limit 50",
        {"endpoint": "/auth/e2e/test-auth", "http_status": 503, "auth": "e2e-bypass"},
        id="bypass 503",
    ),
    pytest.param(
        LOGIN,
        503,
        {"detail": "down"},
        Status.ERROR,
        "/auth/login answered HTTP 503 (down); expected 200 with an access_token",
        "Check the auth service: gcloud run services logs read auth --limit 50",
        {"endpoint": "/auth/login", "http_status": 503, "auth": "login"},
        id="login 503",
    ),
    pytest.param(
        LOGIN,
        418,
        "teapot",
        Status.ERROR,
        "/auth/login answered HTTP 418; expected 200 with an access_token",
        "Check the auth service: gcloud run services logs read auth --limit 50",
        {"endpoint": "/auth/login", "http_status": 418, "auth": "login"},
        id="418",
    ),
]


@pytest.mark.parametrize(
    ("credentials", "status_code", "body", "status", "summary", "remediation", "evidence"), TOKEN_ANSWERS
)
def test_each_answer_of_the_auth_service_to_the_word(
    credentials: Credentials,
    status_code: int,
    body: Any,
    status: Status,
    summary: str,
    remediation: str,
    evidence: dict[str, Any],
) -> None:
    finding = decide_token_answer(credentials, status_code, body, "auth")
    assert not isinstance(finding, str)
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        status,
        summary,
        remediation,
        evidence,
    )


def test_a_200_with_a_token_is_the_token() -> None:
    assert decide_token_answer(LOGIN, 200, {"access_token": "tok"}, "auth") == "tok"


@pytest.mark.parametrize(
    ("frame", "event"),
    [
        ('{"type": "agent_started", "data": {"run_id": "r"}}', Event("agent_started", 5.0, {"run_id": "r"})),
        (
            b'{"type": "error", "error_code": "AUTH_FAILED", "message": "bad", "data": {"message": "kept"}}',
            Event("error", 5.0, {"message": "kept", "error_code": "AUTH_FAILED"}),
        ),
        (
            '{"type": "connection_established", "golden_path_events": ["a"]}',
            Event("connection_established", 5.0, {"golden_path_events": ["a"]}),
        ),
        ('{"type": "x", "data": "text", "error": "e"}', Event("x", 5.0, {"data": "text", "error": "e"})),
        ("not json " + "y" * 100, Event(MALFORMED, 5.0, {"text": ("not json " + "y" * 100)[:80]})),
        ('["agent_started"]', Event(MALFORMED, 5.0, {"text": '["agent_started"]'})),
        ('{"type": 5}', Event(MALFORMED, 5.0, {"text": '{"type": 5}'})),
        (b"\xff\xfe", Event(MALFORMED, 5.0, {"text": "\ufffd\ufffd"})),
    ],
)
def test_frames_become_events_or_malformed(frame: str | bytes, event: Event) -> None:
    assert parse_frame(frame, 5.0) == event


def test_urls_of_services_and_their_websocket() -> None:
    config = load_config("local")
    backend = config.service("backend")
    assert backend is not None and service_url(config, "backend") == backend.url.rstrip("/")
    assert websocket_url("https://host/base/", "/ws") == "wss://host/base/ws"
    assert websocket_url("http://127.0.0.1:1", "ws") == "ws://127.0.0.1:1/ws"
    assert websocket_url("ws://h", "/ws") == "ws://h/ws"
    without = config.model_copy(update={"services": tuple(s for s in config.services if s.role != "auth")})
    with pytest.raises(CheckAbort) as raised:
        service_url(without, "auth")
    assert (raised.value.status, raised.value.summary, raised.value.remediation) == (
        Status.ERROR,
        "no service with role 'auth' in the configuration; the golden path needs it",
        "Add a [[services]] entry with role = 'auth' to the environment file.",
    )


def test_readiness_and_infrastructure_probes_get_the_readiness_timeout() -> None:
    config = load_config("local")
    ready, basic = config.timeouts.readiness_s, config.timeouts.health_s
    assert ready != basic
    paths = ["/health/ready", "/health/infrastructure", "/health/database", "/health/startup", "/health", "/ready/x"]
    assert [probe_timeout(path, config) for path in paths] == [ready, ready, ready, ready, basic, basic]


@pytest.mark.parametrize(
    ("attempt", "low", "high"), [(1, 0.1875, 0.3125), (2, 0.375, 0.625), (5, 3.0, 5.0), (9, 3.0, 5.0)]
)
def test_backoff_doubles_from_a_quarter_second_up_to_four_with_a_quarter_jitter(
    attempt: int, low: float, high: float, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tasks.http_health as http_health

    monkeypatch.setattr(http_health.random, "uniform", lambda a, b: a)
    assert backoff_s(attempt) == low
    monkeypatch.setattr(http_health.random, "uniform", lambda a, b: b)
    assert backoff_s(attempt) == high


POLICY = PerformanceConfig(health_probes=3, golden_path_probes=2, health_p95_ms=500, golden_path_p95_ms=30000)

PERFORMANCE = [
    pytest.param(
        Probes("health", (100.0, 120.5, 90.0), 0, 3),
        Probes("golden_path", (4000.0, 5000.0), 0, 2),
        Status.PASS,
        "within thresholds: /health p50 100 ms / p95 120 ms (n=3); golden path p50 4000 ms / p95 5000 ms (n=2)",
        "",
        {
            "health": {
                "n": 3,
                "failures": 0,
                "planned": 3,
                "p50_ms": 100.0,
                "p95_ms": 120.5,
                "max_ms": 120.5,
                "p95_threshold_ms": 500.0,
            },
            "golden_path": {
                "n": 2,
                "failures": 0,
                "planned": 2,
                "p50_ms": 4000.0,
                "p95_ms": 5000.0,
                "max_ms": 5000.0,
                "p95_threshold_ms": 30000.0,
            },
            "percentiles": "nearest rank",
        },
        id="within thresholds",
    ),
    pytest.param(
        Probes("health", (900.0, 100.0), 1, 3, ("HTTP 503",)),
        Probes("golden_path", (), 2, 2, ("agent_error", "agent_error")),
        Status.FAIL,
        "/health p95 900 ms > 500 ms (n=2); all 2 golden path probes failed; 1 of 3 /health probes failed [/health p50 100 ms / p95 900 ms (n=2)]",
        "Find what is slow: Cloud Run instances (min instances, CPU throttling, cold starts), the database connections (/health/infrastructure diagnostics) and the agent's LLM provider latency: LOGS",
        {
            "health": {
                "n": 2,
                "failures": 1,
                "planned": 3,
                "p50_ms": 100.0,
                "p95_ms": 900.0,
                "max_ms": 900.0,
                "failure_reasons": ["HTTP 503"],
                "p95_threshold_ms": 500.0,
            },
            "golden_path": {
                "n": 0,
                "failures": 2,
                "planned": 2,
                "failure_reasons": ["agent_error"],
                "p95_threshold_ms": 30000.0,
            },
            "percentiles": "nearest rank",
        },
        id="slow and failing",
    ),
    pytest.param(
        Probes("health", (100.0,), 0, 3),
        Probes("golden_path", (), 0, 2),
        Status.FAIL,
        "no golden path probe ran before the deadline; only 1 of 3 /health probes ran before the deadline; only 0 of 2 golden path probes ran before the deadline [/health p50 100 ms / p95 100 ms (n=1)]",
        "Find what is slow: Cloud Run instances (min instances, CPU throttling, cold starts), the database connections (/health/infrastructure diagnostics) and the agent's LLM provider latency: LOGS",
        {
            "health": {
                "n": 1,
                "failures": 0,
                "planned": 3,
                "p50_ms": 100.0,
                "p95_ms": 100.0,
                "max_ms": 100.0,
                "p95_threshold_ms": 500.0,
            },
            "golden_path": {"n": 0, "failures": 0, "planned": 2, "p95_threshold_ms": 30000.0},
            "percentiles": "nearest rank",
        },
        id="cut short",
    ),
    pytest.param(
        Probes("health", (100.0, 200.0, 300.0), 0, 3, ("a", "b", "c", "d")),
        Probes("golden_path", (), 0, 0),
        Status.PASS,
        "within thresholds: /health p50 200 ms / p95 300 ms (n=3)",
        "",
        {
            "health": {
                "n": 3,
                "failures": 0,
                "planned": 3,
                "p50_ms": 200.0,
                "p95_ms": 300.0,
                "max_ms": 300.0,
                "failure_reasons": ["a", "b", "c"],
                "p95_threshold_ms": 500.0,
            },
            "golden_path": {"n": 0, "failures": 0, "planned": 0, "p95_threshold_ms": 30000.0},
            "percentiles": "nearest rank",
        },
        id="no golden path planned",
    ),
]


@pytest.mark.parametrize(("health", "golden", "status", "summary", "remediation", "evidence"), PERFORMANCE)
def test_each_performance_finding_to_the_word(
    health: Probes, golden: Probes, status: Status, summary: str, remediation: str, evidence: dict[str, Any]
) -> None:
    finding = decide_performance(health, golden, POLICY, "LOGS")
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        status,
        summary,
        remediation,
        evidence,
    )
    assert health.attempted == len(health.latencies_ms) + health.failures
