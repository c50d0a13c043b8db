"""`health-endpoints`: the pure decisions per endpoint and per check, the retrying request, and the real check
against the simulator (healthy, health-503, infra-degraded, a hanging endpoint, an unreachable service)."""

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from runbook.config.models import RunbookConfig
from runbook.google.calls import CallCounter, Deadline
from runbook.results import Status
from simulator.netra_state import HealthFault
from simulator.server import Simulator
from tasks.http_health import (
    EndpointAnswer,
    decide_endpoint,
    decide_health,
    health_endpoints,
    probe_timeout,
    probed_paths,
    send_with_retries,
)
from tests.support import config_for, refusing_port, serve

pytestmark = pytest.mark.timeout(60)

BACKEND, AUTH, FRONTEND = "netra-backend-staging", "netra-auth-service", "netra-frontend-staging"
DIAGNOSTICS = {"database_connections": {"success_rate": 0.82, "average_connection_time": 4.7, "timeout_violations": 6}}


def backend(path: str, code: int = 200, body: Any = None, **kwargs: Any) -> EndpointAnswer:
    return EndpointAnswer(BACKEND, "backend", path, code, 12.5, body, **kwargs)


def auth(path: str, code: int = 200, body: Any = None, **kwargs: Any) -> EndpointAnswer:
    return EndpointAnswer(AUTH, "auth", path, code, 20.0, body, **kwargs)


@pytest.fixture(scope="module")
def healthy_sim() -> Iterator[Simulator]:
    with Simulator("healthy") as sim:
        yield sim


@pytest.fixture(scope="module")
def config(healthy_sim: Simulator) -> RunbookConfig:
    return config_for(healthy_sim)


# --- decide_endpoint -------------------------------------------------------------------------------------------


def test_backend_health_ok_passes_with_status_and_latency_in_evidence() -> None:
    verdict = decide_endpoint(backend("/health", 200, {"status": "ok"}))
    assert verdict.status == Status.PASS
    assert verdict.evidence == {"http_status": 200, "latency_ms": 12.5, "status": "ok"}


def test_health_answering_200_with_an_unhealthy_status_fails_saying_expected_and_found() -> None:
    verdict = decide_endpoint(backend("/health", 200, {"status": "unhealthy"}))
    assert verdict.status == Status.FAIL
    assert "expected 200 with status ok, found HTTP 200, status 'unhealthy'" in verdict.problem


def test_health_503_fails_with_the_reason_the_service_gave() -> None:
    verdict = decide_endpoint(backend("/health", 503, {"status": "unhealthy", "reason": "Service unavailable"}))
    assert verdict.status == Status.FAIL
    assert "HTTP 503" in verdict.problem and "Service unavailable" in verdict.problem


def test_non_json_body_fails_quoting_what_was_found() -> None:
    verdict = decide_endpoint(backend("/health", 200, None, text="<html>Service Unavailable</html>"))
    assert verdict.status == Status.FAIL
    assert "expected a JSON object" in verdict.problem and "<html>Service Unavailable" in verdict.problem


def test_json_that_is_not_an_object_fails() -> None:
    verdict = decide_endpoint(backend("/health", 200, ["ok"]))
    assert verdict.status == Status.FAIL
    assert '["ok"]' in verdict.problem


def test_no_answer_is_an_error_not_a_failure() -> None:
    answer = EndpointAnswer(BACKEND, "backend", "/health", error="no answer within 5 s", attempts=3)
    verdict = decide_endpoint(answer)
    assert verdict.status == Status.ERROR
    assert "no answer within 5 s" in verdict.problem
    assert verdict.evidence["attempts"] == 3


def test_backend_readiness_needs_status_ready() -> None:
    assert decide_endpoint(backend("/health/ready", 200, {"status": "ready"})).status == Status.PASS
    verdict = decide_endpoint(backend("/health/ready", 503, {"status": "not_ready"}))
    assert verdict.status == Status.FAIL
    assert "expected 200 with status ready" in verdict.problem


def test_a_200_whose_body_says_degraded_warns_on_any_health_path() -> None:
    verdict = decide_endpoint(backend("/health", 200, {"status": "degraded", "checks": {"redis": "down"}}))
    assert verdict.status == Status.WARN
    assert "netra-backend-staging /health: service reports status degraded (HTTP 200" in verdict.problem
    assert decide_endpoint(backend("/health/ready", 200, {"status": "degraded"})).status == Status.WARN
    assert decide_endpoint(backend("/health", 503, {"status": "degraded"})).status == Status.FAIL


def test_a_200_whose_body_says_unhealthy_or_critical_fails_on_any_health_path() -> None:
    for path, body in [("/health", {"status": "critical"}), ("/health/ready", {"status": "unhealthy"})]:
        verdict = decide_endpoint(backend(path, 200, body))
        assert verdict.status == Status.FAIL, path
        assert f"found HTTP 200, status {body['status']!r}" in verdict.problem


def test_auth_readiness_degraded_with_its_database_disconnected_fails() -> None:
    verdict = decide_endpoint(auth("/health/ready", 200, {"status": "degraded", "database_status": "disconnected"}))
    assert verdict.status == Status.FAIL


def test_auth_readiness_needs_the_database_connected() -> None:
    ok = decide_endpoint(auth("/health/ready", 200, {"status": "ready", "database_status": "connected"}))
    assert ok.status == Status.PASS and ok.evidence["database_status"] == "connected"
    verdict = decide_endpoint(auth("/health/ready", 200, {"status": "ready", "database_status": "disconnected"}))
    assert verdict.status == Status.FAIL
    assert "database_status connected" in verdict.problem and "'disconnected'" in verdict.problem


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        (200, "ok", Status.PASS),
        (200, "degraded", Status.WARN),
        (200, "Degraded", Status.WARN),
        (200, "critical", Status.FAIL),
        (200, "error", Status.FAIL),
        (503, "critical", Status.FAIL),
        (503, "error", Status.FAIL),
        (503, "degraded", Status.FAIL),
        (503, "ok", Status.FAIL),
        (200, "sideways", Status.FAIL),
    ],
)
def test_infrastructure_status_maps_to_pass_warn_fail(code: int, status: str, expected: Status) -> None:
    verdict = decide_endpoint(backend("/health/infrastructure", code, {"status": status, "diagnostics": DIAGNOSTICS}))
    assert verdict.status == expected
    assert verdict.evidence["diagnostics"] == DIAGNOSTICS


def test_degraded_infrastructure_names_the_connection_diagnostics() -> None:
    verdict = decide_endpoint(
        backend("/health/infrastructure", 200, {"status": "degraded", "diagnostics": DIAGNOSTICS})
    )
    assert "infrastructure degraded" in verdict.problem
    assert "success_rate 0.82" in verdict.problem and "timeout_violations 6" in verdict.problem


# --- decide_health ---------------------------------------------------------------------------------------------


def test_all_healthy_passes_with_one_evidence_entry_per_endpoint(config: RunbookConfig) -> None:
    answers = [
        backend("/health", 200, {"status": "ok"}),
        auth("/health/ready", 200, {"status": "ready", "database_status": "connected"}),
    ]
    finding = decide_health(answers, config)
    assert finding.status == Status.PASS
    assert set(finding.evidence) == {f"{BACKEND}/health", f"{AUTH}/health/ready"}
    assert finding.remediation == ""


def test_worst_status_wins_and_every_problem_is_listed(config: RunbookConfig) -> None:
    answers = [
        backend("/health", 200, {"status": "ok"}),
        backend("/health/infrastructure", 200, {"status": "degraded", "diagnostics": DIAGNOSTICS}),
        auth("/health/ready", 503, {"status": "not_ready", "database_status": "disconnected"}),
    ]
    finding = decide_health(answers, config)
    assert finding.status == Status.FAIL
    assert finding.summary.startswith("2 of 3 health endpoints unhealthy")
    assert "infrastructure degraded" in finding.summary and f"{AUTH} /health/ready" in finding.summary


def test_remediation_reads_the_failing_services_logs_and_checks_cloud_sql(config: RunbookConfig) -> None:
    answers = [auth("/health/ready", 503, {"status": "not_ready", "database_status": "disconnected"})]
    remediation = decide_health(answers, config).remediation
    assert (
        f"gcloud run services logs read {AUTH} --region us-central1 --project netra-staging --limit 50" in remediation
    )
    assert "gcloud sql instances describe netra-staging-db" in remediation
    assert "vpc-access connectors describe staging-connector" in remediation


def test_error_without_failures_is_an_error(config: RunbookConfig) -> None:
    answers = [backend("/health", 200, {"status": "ok"}), EndpointAnswer(AUTH, "auth", "/health/ready", error="x")]
    assert decide_health(answers, config).status == Status.ERROR


def test_nothing_to_probe_is_an_error(config: RunbookConfig) -> None:
    assert decide_health([], config).status == Status.ERROR


def test_readiness_and_infrastructure_probes_get_the_readiness_timeout(config: RunbookConfig) -> None:
    assert probe_timeout("/health", config) == config.timeouts.health_s
    assert probe_timeout("/health/ready", config) == config.timeouts.readiness_s
    assert probe_timeout("/health/infrastructure", config) == config.timeouts.readiness_s


def test_auth_readiness_is_probed_even_when_not_configured(config: RunbookConfig) -> None:
    auth_service = config.service("auth")
    assert auth_service is not None
    assert probed_paths(auth_service.model_copy(update={"health_paths": ("/health",)})) == ("/health", "/health/ready")


def test_backend_contract_paths_are_probed_even_when_only_health_is_configured(config: RunbookConfig) -> None:
    backend_service = config.service("backend")
    assert backend_service is not None
    only_health = backend_service.model_copy(update={"health_paths": ("/health",)})
    assert probed_paths(only_health) == ("/health", "/health/ready", "/health/infrastructure")
    extra = backend_service.model_copy(update={"health_paths": ("/health/live", "/health")})
    assert probed_paths(extra) == ("/health/live", "/health", "/health/ready", "/health/infrastructure")


# --- send_with_retries -----------------------------------------------------------------------------------------


def mock_client(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


async def test_503_then_200_is_retried_and_counted() -> None:
    codes = iter([503, 200])
    counter = CallCounter()
    async with mock_client(lambda request: httpx.Response(next(codes), json={"status": "ok"})) as client:
        response = await send_with_retries(
            client, "GET", "http://svc/health", timeout_s=1, deadline=Deadline(10), counter=counter
        )
    assert response.status_code == 200
    assert (counter.attempts, counter.retried) == (2, 1)


async def test_4xx_is_never_retried() -> None:
    counter = CallCounter()
    async with mock_client(lambda request: httpx.Response(404, json={"detail": "Not Found"})) as client:
        response = await send_with_retries(
            client, "GET", "http://svc/health", timeout_s=1, deadline=Deadline(10), counter=counter
        )
    assert response.status_code == 404 and counter.attempts == 1


async def test_persistent_503_is_returned_after_the_last_attempt() -> None:
    counter = CallCounter()
    async with mock_client(lambda request: httpx.Response(503, json={"status": "unhealthy"})) as client:
        response = await send_with_retries(
            client, "GET", "http://svc/health", timeout_s=1, deadline=Deadline(10), counter=counter
        )
    assert response.status_code == 503 and counter.attempts == 3


async def test_connection_errors_are_retried_then_raised() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    counter = CallCounter()
    async with mock_client(refuse) as client:
        with pytest.raises(httpx.ConnectError):
            await send_with_retries(
                client, "GET", "http://svc/health", timeout_s=1, deadline=Deadline(10), counter=counter
            )
    assert counter.attempts == 3


async def test_no_retry_when_the_deadline_leaves_no_room() -> None:
    counter = CallCounter()
    async with mock_client(lambda request: httpx.Response(503)) as client:
        response = await send_with_retries(
            client, "GET", "http://svc/health", timeout_s=1, deadline=Deadline(0.2), counter=counter
        )
    assert response.status_code == 503 and counter.attempts == 1


# --- against the simulator -------------------------------------------------------------------------------------


async def test_healthy_platform_passes_with_status_code_latency_and_status_of_every_endpoint(
    config: RunbookConfig,
) -> None:
    result = await health_endpoints.fn(config, None)
    assert result.status == Status.PASS, result.summary
    assert set(result.evidence) == {
        f"{BACKEND}/health",
        f"{BACKEND}/health/ready",
        f"{BACKEND}/health/infrastructure",
        f"{AUTH}/health",
        f"{AUTH}/health/ready",
        f"{FRONTEND}/health",
    }
    statuses = {path: (entry["http_status"], entry["status"]) for path, entry in result.evidence.items()}
    assert statuses == {
        f"{BACKEND}/health": (200, "ok"),
        f"{BACKEND}/health/ready": (200, "ready"),
        f"{BACKEND}/health/infrastructure": (200, "ok"),
        f"{AUTH}/health": (200, "ready"),
        f"{AUTH}/health/ready": (200, "ready"),
        f"{FRONTEND}/health": (200, "ok"),
    }
    slowest = max(entry["latency_ms"] for entry in result.evidence.values())
    assert all(0 < entry["latency_ms"] < 5000 for entry in result.evidence.values())  # measured, not a default
    assert result.summary == f"all 6 health endpoints healthy (slowest {slowest:.0f} ms)"
    assert result.evidence[f"{AUTH}/health/ready"]["database_status"] == "connected"


async def test_auth_database_down_fails_naming_readiness_and_the_database() -> None:
    with Simulator("health-503") as sim:
        result = await health_endpoints.fn(config_for(sim), None)
    assert result.status == Status.FAIL
    assert f"{AUTH} /health/ready" in result.summary and "'disconnected'" in result.summary
    assert result.evidence[f"{AUTH}/health/ready"]["http_status"] == 503
    assert result.attempts > 6  # the 503s were retried
    assert f"gcloud run services logs read {AUTH}" in result.remediation
    assert "gcloud sql instances describe" in result.remediation


async def test_degraded_infrastructure_warns_with_the_diagnostics_in_evidence() -> None:
    with Simulator("infra-degraded") as sim:
        result = await health_endpoints.fn(config_for(sim), None)
    assert result.status == Status.WARN
    assert "infrastructure degraded" in result.summary
    diagnostics = result.evidence[f"{BACKEND}/health/infrastructure"]["diagnostics"]
    assert diagnostics["database_connections"]["timeout_violations"] == 6


async def test_a_hanging_endpoint_is_an_error_within_its_timeout() -> None:
    with Simulator("healthy") as sim:
        sim.netra_state.health_faults["hang"] = HealthFault(service="frontend", path="/health", delay_seconds=30)
        config = config_for(
            sim, {"timeouts": {"health_s": 0.3}, "checks": {"health-endpoints": {"deadline_s": 3, "timeout_s": 2}}}
        )
        result = await health_endpoints.fn(config, None)
    assert result.status == Status.ERROR
    assert f"{FRONTEND} /health: no answer within 0.3 s" in result.summary
    assert result.duration_s < 3.5


async def test_an_unreachable_service_is_an_error_naming_the_connection_failure(config: RunbookConfig) -> None:
    services = [
        s.model_copy(update={"url": f"http://127.0.0.1:{refusing_port()}/services/x"}) if s.role == "frontend" else s
        for s in config.services
    ]
    broken = config.model_copy(update={"services": tuple(services)})
    result = await health_endpoints.fn(broken, None)
    assert result.status == Status.ERROR
    assert f"{FRONTEND} /health: connection failed" in result.summary


async def test_critical_infrastructure_behind_http_200_fails_through_the_simulator() -> None:
    with Simulator("infra-critical") as sim:
        result = await health_endpoints.fn(config_for(sim), None)
    assert result.status == Status.FAIL
    assert f"{BACKEND} /health/infrastructure: infrastructure critical, HTTP 200" in result.summary
    assert "timeout_violations 42" in result.summary
    assert "gcloud sql instances describe netra-staging-db" in result.remediation


# --- against an independent fake of the Netra contract -----------------------------------------------------------
# Not the simulator: its own shapes (extra fields, no diagnostics, FastAPI-style error bodies), served by uvicorn.


def netra_fake(infrastructure: tuple[int, dict[str, Any]], backend_health: dict[str, Any] | None = None) -> Starlette:
    """Backend, auth and frontend under `/<role>`, answering as the platform's own code does."""

    async def answer(request: Request) -> JSONResponse:
        role, path = request.path_params["role"], "/" + request.path_params["path"]
        if role == "backend" and path == "/health/infrastructure":
            return JSONResponse(infrastructure[1], infrastructure[0])
        if role == "backend" and path == "/health":
            body = backend_health or {"status": "healthy", "service": "netra-ai-platform", "version": "1.0.0"}
            return JSONResponse(body)
        if role == "backend" and path == "/health/ready":
            return JSONResponse({"status": "ready", "core_db": "connected", "redis_db": "skipped_optional"})
        if role == "auth" and path == "/health/ready":
            return JSONResponse({"status": "ready", "database_status": "connected", "service": "auth-service"})
        if path == "/health":
            return JSONResponse({"status": "healthy", "timestamp": 1726000000.0})
        return JSONResponse({"detail": "Not Found"}, 404)

    return Starlette(routes=[Route("/{role}/{path:path}", answer)])


def fake_config(base: RunbookConfig, url: str) -> RunbookConfig:
    """Every service at the fake, each listing only `/health`: the contract paths must be probed anyway."""
    services = tuple(
        s.model_copy(update={"url": f"{url}/{s.role}", "health_paths": ("/health",)})
        for s in base.services
        if s.role in ("backend", "auth", "frontend")
    )
    return base.model_copy(update={"services": services})


@pytest.mark.parametrize(
    ("infrastructure", "expected", "words"),
    [
        ((200, {"status": "ok", "timestamp": 1.0}), Status.PASS, "all 6 health endpoints healthy"),
        ((200, {"status": "degraded", "components": {"postgres": "slow"}}), Status.WARN, "infrastructure degraded"),
        ((200, {"status": "critical", "components": {"postgres": "down"}}), Status.FAIL, "infrastructure critical"),
        ((503, {"detail": "Service Unavailable"}), Status.FAIL, "HTTP 503"),
    ],
)
async def test_an_independent_netra_fake_is_judged_by_the_bodies_of_the_contract_endpoints(
    config: RunbookConfig, infrastructure: tuple[int, dict[str, Any]], expected: Status, words: str
) -> None:
    with serve(netra_fake(infrastructure)) as url:
        result = await health_endpoints.fn(fake_config(config, url), None)
    assert result.status == expected, result.summary
    assert words in result.summary
    assert f"{BACKEND}/health/infrastructure" in result.evidence


async def test_an_independent_fake_whose_health_says_degraded_warns(config: RunbookConfig) -> None:
    fake = netra_fake((200, {"status": "ok"}), backend_health={"status": "degraded", "checks": {"redis": "down"}})
    with serve(fake) as url:
        result = await health_endpoints.fn(fake_config(config, url), None)
    assert result.status == Status.WARN
    assert f"{BACKEND} /health: service reports status degraded" in result.summary
