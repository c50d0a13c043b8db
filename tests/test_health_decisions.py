# ruff: noqa: E501  (the expected findings are whole sentences and commands, as an operator reads them)
"""health-endpoints' decision to the word: all healthy, degraded, no answer, bodies that are not what a path needs,
infrastructure diagnostics; the worst status wins, every problem is named, each service's logs and database path.

Plain answers, no network: `make mutate` reruns these for every mutant of the check's decisions. The expected
findings are what an operator reads; change them here when the wording changes on purpose.
"""

from typing import Any

import pytest

from runbook.config.files import load_config
from runbook.results import Status
from tasks.http_health import EndpointAnswer as A
from tasks.http_health import decide_health

CASES = [
    pytest.param(
        [
            A("api", "backend", "/health", 200, 12.3, {"status": "ok"}),
            A("auth", "auth", "/health/ready", 200, 48.9, {"status": "ready", "database_status": "connected"}),
            A("web", "frontend", "/health", 200, None, {"status": "healthy"}),
        ],
        Status.PASS,
        "all 3 health endpoints healthy (slowest 49 ms)",
        "",
        {
            "api/health": {"http_status": 200, "latency_ms": 12.3, "status": "ok"},
            "auth/health/ready": {
                "http_status": 200,
                "latency_ms": 48.9,
                "status": "ready",
                "database_status": "connected",
            },
            "web/health": {"http_status": 200, "latency_ms": None, "status": "healthy"},
        },
        id="all healthy",
    ),
    pytest.param(
        [
            A("api", "backend", "/health", 200, 5.0, {"status": "DEGRADED"}),
            A("api", "backend", "/health/ready", 200, 5.0, {"status": "degraded", "database_status": "connected"}),
        ],
        Status.WARN,
        "2 of 2 health endpoints unhealthy: api /health: service reports status degraded (HTTP 200, status 'DEGRADED'); api /health/ready: service reports status degraded (HTTP 200, status 'degraded', database_status 'connected')",
        "gcloud run services logs read api --region us-central1 --project netra-staging --limit 50",
        {
            "api/health": {"http_status": 200, "latency_ms": 5.0, "status": "DEGRADED"},
            "api/health/ready": {"http_status": 200, "latency_ms": 5.0, "status": "degraded"},
        },
        id="degraded only",
    ),
    pytest.param(
        [A("api", "backend", "/health", None, None, None, None, None, 2)],
        Status.ERROR,
        "1 of 1 health endpoints unhealthy: api /health: no answer",
        "gcloud run services logs read api --region us-central1 --project netra-staging --limit 50",
        {"api/health": {"http_status": None, "latency_ms": None, "attempts": 2, "error": None}},
        id="no answer only",
    ),
    pytest.param(
        [
            A("api", "backend", "/health", 200, 5.0, {"status": "Degraded"}),
            A("api", "backend", "/health/ready", 200, 5.0, ["ready"]),
            A("web", "frontend", "/health", 200, 5.0, None, "<html>maintenance</html>"),
            A("auth", "auth", "/health/ready", 200, 5.0, {"status": "ready", "database_status": "disconnected"}),
        ],
        Status.FAIL,
        "4 of 4 health endpoints unhealthy: api /health: service reports status degraded (HTTP 200, status 'Degraded'); api /health/ready: expected a JSON object (200 with status ready), found HTTP 200 '[\"ready\"]'; web /health: expected a JSON object (200 with status ok), found HTTP 200 '<html>maintenance</html>'; auth /health/ready: expected 200 with status ready and database_status connected, found HTTP 200, status 'ready', database_status 'disconnected'",
        "gcloud run services logs read api --region us-central1 --project netra-staging --limit 50; gcloud run services logs read web --region us-central1 --project netra-staging --limit 50; gcloud run services logs read auth --region us-central1 --project netra-staging --limit 50; check Cloud SQL and the connector path of auth: gcloud sql instances describe netra-staging-db --project netra-staging (state, settings.activationPolicy), gcloud compute networks vpc-access connectors describe staging-connector --region us-central1 --project netra-staging",
        {
            "api/health": {"http_status": 200, "latency_ms": 5.0, "status": "Degraded"},
            "api/health/ready": {"http_status": 200, "latency_ms": 5.0, "body": '["ready"]'},
            "web/health": {"http_status": 200, "latency_ms": 5.0, "body": "<html>maintenance</html>"},
            "auth/health/ready": {
                "http_status": 200,
                "latency_ms": 5.0,
                "status": "ready",
                "database_status": "disconnected",
            },
        },
        id="odd bodies",
    ),
    pytest.param(
        [
            A(
                "api",
                "backend",
                "/health/infrastructure",
                503,
                9.0,
                {"status": "critical", "diagnostics": {"database_connections": {"postgres": "failed", "redis": "ok"}}},
            ),
            A(
                "db",
                "other",
                "/health/database",
                200,
                9.0,
                {"status": "degraded", "diagnostics": {"database_connections": {"postgres": "slow"}}},
            ),
            A("x", "other", "/health/infrastructure", 200, 9.0, {"status": "unknown"}),
            A("y", "other", "/health/infrastructure", 500, 9.0, {"status": "ok"}),
        ],
        Status.FAIL,
        "4 of 4 health endpoints unhealthy: api /health/infrastructure: infrastructure critical, HTTP 503 (postgres failed, redis ok); db /health/database: infrastructure degraded (postgres slow); x /health/infrastructure: expected status ok|degraded|critical|error, found HTTP 200, status 'unknown'; y /health/infrastructure: expected 200 with status ok (degraded warns), found HTTP 500, status 'ok'",
        "gcloud run services logs read api --region us-central1 --project netra-staging --limit 50; check Cloud SQL and the connector path of api: gcloud sql instances describe netra-staging-db --project netra-staging (state, settings.activationPolicy), gcloud compute networks vpc-access connectors describe staging-connector --region us-central1 --project netra-staging; gcloud run services logs read db --region us-central1 --project netra-staging --limit 50; check Cloud SQL and the connector path of db: gcloud sql instances describe netra-staging-db --project netra-staging (state, settings.activationPolicy), gcloud compute networks vpc-access connectors describe staging-connector --region us-central1 --project netra-staging; gcloud run services logs read x --region us-central1 --project netra-staging --limit 50; check Cloud SQL and the connector path of x: gcloud sql instances describe netra-staging-db --project netra-staging (state, settings.activationPolicy), gcloud compute networks vpc-access connectors describe staging-connector --region us-central1 --project netra-staging; gcloud run services logs read y --region us-central1 --project netra-staging --limit 50; check Cloud SQL and the connector path of y: gcloud sql instances describe netra-staging-db --project netra-staging (state, settings.activationPolicy), gcloud compute networks vpc-access connectors describe staging-connector --region us-central1 --project netra-staging",
        {
            "api/health/infrastructure": {
                "http_status": 503,
                "latency_ms": 9.0,
                "status": "critical",
                "diagnostics": {"database_connections": {"postgres": "failed", "redis": "ok"}},
            },
            "db/health/database": {
                "http_status": 200,
                "latency_ms": 9.0,
                "status": "degraded",
                "diagnostics": {"database_connections": {"postgres": "slow"}},
            },
            "x/health/infrastructure": {"http_status": 200, "latency_ms": 9.0, "status": "unknown"},
            "y/health/infrastructure": {"http_status": 500, "latency_ms": 9.0, "status": "ok"},
        },
        id="infrastructure",
    ),
    pytest.param(
        [
            A("api", "backend", "/health", None, None, None, None, "connection failed: ConnectError", 3),
            A("api", "backend", "/health/ready", 503, 7.0, {"status": "ready"}, attempts=2),
        ],
        Status.FAIL,
        "2 of 2 health endpoints unhealthy: api /health: connection failed: ConnectError; api /health/ready: expected 200 with status ready, found HTTP 503, status 'ready'",
        "gcloud run services logs read api --region us-central1 --project netra-staging --limit 50",
        {
            "api/health": {
                "http_status": None,
                "latency_ms": None,
                "attempts": 3,
                "error": "connection failed: ConnectError",
            },
            "api/health/ready": {"http_status": 503, "latency_ms": 7.0, "attempts": 2, "status": "ready"},
        },
        id="no answer and 503",
    ),
    pytest.param(
        [],
        Status.ERROR,
        "no health endpoints configured for any backend, auth or frontend service",
        "",
        {},
        id="nothing",
    ),
]


@pytest.mark.parametrize(("answers", "status", "summary", "remediation", "evidence"), CASES)
def test_the_health_finding_to_the_word(
    answers: list[A], status: Status, summary: str, remediation: str, evidence: dict[str, Any]
) -> None:
    finding = decide_health(answers, load_config("local"))
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        status,
        summary,
        remediation,
        evidence,
    )
