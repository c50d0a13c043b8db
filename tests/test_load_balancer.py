"""The `load-balancer` check: decisions on real compute_v1 protos, runbook.google.compute on the wire vs compute_v1,
and the task against the staging simulator."""

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from google.api_core import exceptions as gexc
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from runbook.config.models import BackendServicePolicy, HealthCheckPolicy, LoadBalancerConfig, RunbookConfig
from runbook.google import compute
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, Status
from simulator.server import Simulator
from tasks.load_balancer import (
    LoadBalancerState,
    backend_health_problems,
    backend_timeout_problems,
    decide_load_balancer,
    health_check_problems,
    load_balancer_check,
)
from tests.support import configure, world

pytestmark = pytest.mark.timeout(60)

FAST = {"checks": {"load-balancer": {"deadline_s": 3, "timeout_s": 1}}}
NEG = "https://www.googleapis.com/compute/v1/projects/netra-staging/regions/us-central1/networkEndpointGroups/x-neg"
HEALTH_CHECK = compute_v1.HealthCheck(
    name="staging-health-check",
    type_="HTTP",
    check_interval_sec=10,
    timeout_sec=5,
    healthy_threshold=2,
    unhealthy_threshold=3,
)


def run(config: RunbookConfig) -> CheckResult:
    clients = GoogleClients(config.gcp)
    assert clients.backend_services is not None  # built before the deadline starts (compute_v1 imports slowly)
    return asyncio.run(load_balancer_check.fn(config, clients))


def compute_paths(sim: Simulator) -> list[str]:
    return [e.path.rsplit("/global/", 1)[-1] for e in sim.log.entries("compute")]


# --- decision ---------------------------------------------------------------------------------------------------


def test_backend_service_timeout_shorter_than_policy_fails_naming_service_found_and_expected() -> None:
    policy = BackendServicePolicy(name="netra-backend-staging-bs", min_timeout_s=3600)
    [problem] = backend_timeout_problems(policy, compute_v1.BackendService(timeout_sec=30), "netra-staging")
    assert problem.status == Status.FAIL
    assert problem.text == "backend service netra-backend-staging-bs timeoutSec is 30 s, expected at least 3600 s"
    assert "gcloud compute backend-services update netra-backend-staging-bs --global --timeout=3600" in problem.fix
    assert backend_timeout_problems(policy, compute_v1.BackendService(timeout_sec=86400), "netra-staging") == []


def test_serverless_neg_reporting_no_health_is_not_a_problem() -> None:
    problems, description = backend_health_problems("bs", NEG, compute_v1.BackendServiceGroupHealth())
    assert problems == []
    assert description == "no health reported (serverless NEG)"


def test_unhealthy_endpoints_fail_naming_the_group() -> None:
    health = compute_v1.BackendServiceGroupHealth(
        health_status=[
            compute_v1.HealthStatus(health_state="HEALTHY", ip_address="10.0.0.2"),
            compute_v1.HealthStatus(health_state="UNHEALTHY", ip_address="10.0.0.3"),
        ]
    )
    [problem], description = backend_health_problems("bs", NEG, health)
    assert problem.status == Status.FAIL
    assert "group x-neg: 1 of 2 endpoints not HEALTHY (10.0.0.3 UNHEALTHY)" in problem.text
    assert description == "1/2 HEALTHY"


BACKEND = "netra-backend-staging-bs"
LB = LoadBalancerConfig(backend_services=(BackendServicePolicy(name=BACKEND, min_timeout_s=3600),))
BEHIND = {BACKEND: "netra-backend-staging"}  # [[services]] load_balancer_backend


@pytest.mark.parametrize(
    "service",
    [
        compute_v1.BackendService(name=BACKEND, timeout_sec=86400),  # an empty repeated field
        compute.BackendService.model_validate_json(f'{{"name": "{BACKEND}", "timeoutSec": 86400}}'),  # left out
        compute.BackendService.model_validate_json(f'{{"name": "{BACKEND}", "timeoutSec": 86400, "backends": []}}'),
    ],
    ids=["compute_v1-empty", "json-absent", "json-empty"],
)
def test_backend_service_without_backends_fails_naming_it_with_the_command_that_reattaches_its_neg(
    service: Any,
) -> None:
    state = LoadBalancerState({BACKEND: service}, {}, {})
    finding = decide_load_balancer(LB, state, "netra-staging", "us-central1", BEHIND)
    assert finding.status == Status.FAIL
    assert finding.summary == (
        f"backend service {BACKEND} has no backends: nothing serves its traffic "
        "(the serverless NEG of netra-backend-staging is detached)"
    )
    attach, find, create = finding.remediation.splitlines()
    assert attach == (
        f"gcloud compute backend-services add-backend {BACKEND} --global --network-endpoint-group=NEG "
        "--network-endpoint-group-region=us-central1 --project netra-staging"
    )
    assert 'list --regions=us-central1 --filter="cloudRun.service=netra-backend-staging"' in find
    assert "--network-endpoint-type=serverless --cloud-run-service=netra-backend-staging" in create
    assert finding.evidence["backend_services"][BACKEND]["backends"] == "none"


def test_backend_timeout_left_out_is_computes_default_of_30_s_in_the_verdict_and_the_evidence() -> None:
    answer = f'{{"name": "{BACKEND}", "backends": [{{"group": "{NEG}"}}]}}'
    state = LoadBalancerState({BACKEND: compute.BackendService.model_validate_json(answer)}, {}, {})
    finding = decide_load_balancer(LB, state, "p")
    assert finding.summary == f"backend service {BACKEND} timeoutSec is 30 s, expected at least 3600 s"
    assert finding.evidence["backend_services"][BACKEND]["timeout_s"] == 30


def test_instance_group_without_instances_fails_while_a_serverless_neg_reporting_no_health_does_not() -> None:
    group = "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/instanceGroups/api-ig"
    [problem], description = backend_health_problems("bs", group, compute_v1.BackendServiceGroupHealth())
    assert problem.status == Status.FAIL and description == "no endpoints (instance group)"
    assert problem.text == "backend service bs group api-ig: no instances or endpoints to send traffic to"
    assert backend_health_problems("bs", NEG, compute_v1.BackendServiceGroupHealth())[0] == []


def test_an_endpoint_reporting_no_health_state_is_not_healthy() -> None:
    health = compute.BackendServiceGroupHealth.model_validate_json('{"healthStatus": [{"ipAddress": "10.0.0.4"}]}')
    [problem], description = backend_health_problems("bs", NEG, health)
    assert problem.status == Status.FAIL and description == "0/1 HEALTHY"
    assert "(10.0.0.4 no health state)" in problem.text


def test_health_check_within_policy_has_no_problem() -> None:
    assert health_check_problems(HealthCheckPolicy(name="staging-health-check"), HEALTH_CHECK, "p") == []


def test_health_check_off_policy_warns_with_a_fix_compute_accepts() -> None:
    policy = HealthCheckPolicy(name="staging-health-check", max_interval_s=5, min_unhealthy_threshold=5)
    [problem] = health_check_problems(policy, HEALTH_CHECK, "netra-staging")
    assert problem.status == Status.WARN
    assert "checkIntervalSec 10 s (policy at most 5 s)" in problem.text
    assert "unhealthyThreshold 3 (policy 5-10)" in problem.text
    assert "health-checks update http staging-health-check --global" in problem.fix
    assert "--check-interval=5s --timeout=5s --unhealthy-threshold=5" in problem.fix  # timeout <= interval


def test_escalation_plan_policy_timeout_60_interval_30_is_explained_as_impossible() -> None:
    policy = HealthCheckPolicy(name="staging-health-check", min_timeout_s=60, max_interval_s=30)
    problems = health_check_problems(policy, HEALTH_CHECK, "netra-staging")
    assert all(p.status == Status.WARN for p in problems)
    conflict = problems[0]
    assert "cannot be met" in conflict.text and "Compute requires timeoutSec <= checkIntervalSec" in conflict.text
    assert "cannot be applied as written" in conflict.text
    assert "gcloud" not in " ".join(p.fix for p in problems)  # no impossible command is suggested


def test_health_check_timeout_longer_than_interval_fails() -> None:
    check = compute_v1.HealthCheck(name="hc", check_interval_sec=10, timeout_sec=20)
    problems = health_check_problems(HealthCheckPolicy(name="hc"), check, "p")
    assert problems[0].status == Status.FAIL
    assert "timeoutSec 20 s exceeds checkIntervalSec 10 s" in problems[0].text


def test_missing_backend_service_fails_listing_the_existing_ones() -> None:
    config = LoadBalancerConfig(backend_services=(BackendServicePolicy(name="api-bs", min_timeout_s=30),))
    state = LoadBalancerState({"api-bs": None}, {}, {}, existing_backend_services=("a-bs", "b-bs"))
    finding = decide_load_balancer(config, state, "p")
    assert finding.status == Status.FAIL
    assert finding.summary == "backend service api-bs not found (existing: a-bs, b-bs)"


def test_failures_come_before_warnings_in_the_summary() -> None:
    config = LoadBalancerConfig(
        backend_services=(BackendServicePolicy(name="bs", min_timeout_s=600),),
        health_checks=(HealthCheckPolicy(name="staging-health-check", max_interval_s=5),),
    )
    service = compute_v1.BackendService(name="bs", timeout_sec=30, backends=[compute_v1.Backend(group=NEG)])
    state = LoadBalancerState({"bs": service}, {}, {"staging-health-check": HEALTH_CHECK})
    finding = decide_load_balancer(config, state, "p")
    assert finding.status == Status.FAIL
    assert finding.summary.startswith("backend service bs timeoutSec is 30 s")
    assert len(finding.evidence["problems"]) == 2
    assert len(finding.remediation.splitlines()) == 2


# --- runbook.google.compute against compute_v1, on the wire ----------------------------------------------------------

BACKEND_JSON = {
    "kind": "compute#backendService",
    "name": "netra-backend-staging-bs",
    "timeoutSec": 86400,
    "protocol": "HTTPS",
    "backends": [{"group": NEG, "balancingMode": "UTILIZATION"}],
    "unknownNewField": {"nested": True},
}
HEALTH_JSON = {
    "kind": "compute#backendServiceGroupHealth",
    "healthStatus": [{"healthState": "UNHEALTHY", "ipAddress": "10.0.0.3", "port": 8080}],
}
CHECK_JSON = {"name": "hc", "type": "HTTP", "checkIntervalSec": 10, "timeoutSec": 5, "healthyThreshold": 2}
ERROR_JSON = {"error": {"code": 403, "message": "Required 'compute.backendServices.get' permission", "errors": []}}


@contextlib.contextmanager
def recorder(status: int, answer: dict[str, Any]) -> Iterator[tuple[str, list[tuple[str, str, dict[str, str], bytes]]]]:
    """A loopback HTTP server answering every request with `status` and `answer`, recording what it got."""
    seen: list[tuple[str, str, dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            seen.append((self.command, self.path, dict(self.headers), self.rfile.read(length)))
            body = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = _answer

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", seen
    finally:
        server.shutdown()
        server.server_close()


def both_clients(url: str) -> list[tuple[Any, Any]]:
    """(backend services, health checks) of compute_v1 and of runbook.google.compute, pointed at `url`."""
    kwargs: dict[str, Any] = {
        "transport": "rest",
        "credentials": AnonymousCredentials(),
        "client_options": {"api_endpoint": url},
    }
    return [
        (compute_v1.BackendServicesClient(**kwargs), compute_v1.HealthChecksClient(**kwargs)),
        (compute.BackendServicesClient(url), compute.HealthChecksClient(url)),
    ]


def reads(backends: Any, checks: Any) -> list[Any]:
    """The load-balancer check's five reads, as tasks/load_balancer.py makes them."""
    call = {"retry": None, "timeout": 5}
    return [
        backends.get(project="p", backend_service="netra-backend-staging-bs", **call),
        backends.get_health(
            project="p", backend_service="bs", resource_group_reference_resource={"group": NEG}, **call
        ),
        backends.list(request={"project": "p", "max_results": 500}, **call),
        checks.get(project="p", health_check="hc", **call),
        checks.list(request={"project": "p", "max_results": 500}, **call),
    ]


def test_compute_reads_send_what_compute_v1_sends() -> None:
    with recorder(200, {}) as (url, seen):
        for backends, checks in both_clients(url):
            reads(backends, checks)
    official, light = seen[:5], seen[5:]
    assert len(light) == 5
    for (method, path, headers, body), (method2, path2, headers2, body2) in zip(official, light, strict=True):
        assert (method2, path2, body2) == (method, path, body)
        for name in ("x-goog-request-params", "x-goog-api-version", "Content-Type", "User-Agent"):
            assert headers2.get(name) == headers.get(name), name
        assert headers2["x-goog-api-client"].startswith("gl-python/")
    assert official[1][3] == json.dumps({"group": NEG}, indent=2).encode()  # getHealth's body, as compute_v1 writes it


def answered(answer: dict[str, Any], read: str) -> tuple[Any, Any]:
    """The same answer read by compute_v1 and by runbook.google.compute (`read`: backend, health or check)."""
    with recorder(200, answer) as (url, _):
        found = []
        for backends, checks in both_clients(url):
            if read == "backend":
                found.append(backends.get(project="p", backend_service="bs", retry=None, timeout=5))
            elif read == "health":
                group = {"group": NEG}
                found.append(
                    backends.get_health(
                        project="p",
                        backend_service="bs",
                        resource_group_reference_resource=group,
                        retry=None,
                        timeout=5,
                    )
                )
            else:
                found.append(checks.get(project="p", health_check="hc", retry=None, timeout=5))
    return found[0], found[1]


def test_compute_answers_read_like_compute_v1_messages_values_and_presence() -> None:
    expected, found = answered(BACKEND_JSON, "backend")
    for field in ("name", "timeout_sec", "protocol", "self_link"):
        assert (getattr(found, field), field in found) == (getattr(expected, field), field in expected), field
    assert [b.group for b in found.backends] == [b.group for b in expected.backends] == [NEG]
    expected, found = answered(HEALTH_JSON, "health")
    statuses = [[(s.health_state, s.ip_address, s.instance) for s in h.health_status] for h in (expected, found)]
    assert statuses[0] == statuses[1] == [("UNHEALTHY", "10.0.0.3", "")]
    expected, found = answered(CHECK_JSON, "check")
    fields = ("name", "type_", "check_interval_sec", "timeout_sec", "healthy_threshold", "unhealthy_threshold")
    for field in fields:
        assert (getattr(found, field), field in found) == (getattr(expected, field), field in expected), field
    assert "unhealthy_threshold" not in found  # unset: Compute's default applies (health_check_values)


@pytest.mark.parametrize(
    ("status", "error"),
    [(403, gexc.Forbidden), (404, gexc.NotFound), (429, gexc.TooManyRequests), (503, gexc.ServiceUnavailable)],
)
def test_compute_errors_map_to_the_same_api_core_exceptions(status: int, error: type[Exception]) -> None:
    answer = {"error": {**ERROR_JSON["error"], "code": status}}
    raised = []
    with recorder(status, answer) as (url, _):
        for backends, _checks in both_clients(url):
            with pytest.raises(error) as caught:
                backends.get(project="p", backend_service="bs", retry=None, timeout=5)
            raised.append((type(caught.value), caught.value.code, caught.value.message))
    assert raised[0] == raised[1]


def test_malformed_compute_answer_is_a_value_error_and_a_library_retry_is_refused() -> None:
    with recorder(200, {"timeoutSec": "thirty"}) as (url, _):
        backends = compute.BackendServicesClient(url)
        with pytest.raises(ValueError, match="timeoutSec"):
            backends.get(project="p", backend_service="bs", timeout=5)
        with pytest.raises(TypeError, match="retry must be None"):
            backends.get(project="p", backend_service="bs", timeout=5, retry=object())


# --- against the simulator ----------------------------------------------------------------------------------------


def test_healthy_world_passes_reading_each_resource_once() -> None:
    with Simulator("healthy") as sim:
        result = run(configure(sim))
        paths = compute_paths(sim)
    assert result.status == Status.PASS, result.summary
    assert sorted(paths) == sorted(
        [
            "backendServices/netra-backend-staging-bs",
            "backendServices/netra-auth-service-bs",
            "backendServices/netra-frontend-staging-bs",
            "backendServices/netra-backend-staging-bs/getHealth",
            "backendServices/netra-auth-service-bs/getHealth",
            "backendServices/netra-frontend-staging-bs/getHealth",
            "healthChecks/staging-health-check",
        ]
    )
    backend = result.evidence["backend_services"]["netra-backend-staging-bs"]
    assert backend["timeout_s"] == 86400
    assert backend["backends"] == {"netra-backend-staging-neg": "no health reported (serverless NEG)"}


def test_short_backend_timeout_fails_with_the_update_command() -> None:
    with Simulator("lb-timeout-short") as sim:
        result = run(configure(sim))
    assert result.status == Status.FAIL
    assert result.summary == "backend service netra-backend-staging-bs timeoutSec is 30 s, expected at least 3600 s"
    assert result.remediation.startswith("gcloud compute backend-services update netra-backend-staging-bs --global")


def test_backend_service_whose_neg_was_detached_fails_with_the_command_that_reattaches_it() -> None:
    with Simulator("lb-no-backends") as sim:
        result = run(configure(sim))
        paths = compute_paths(sim)
    assert result.status == Status.FAIL, result.summary
    assert result.summary.startswith(f"backend service {BACKEND} has no backends: nothing serves its traffic")
    assert result.remediation.startswith(f"gcloud compute backend-services add-backend {BACKEND} --global ")
    assert f"backendServices/{BACKEND}/getHealth" not in paths  # no group to ask about
    assert result.evidence["backend_services"][BACKEND]["backends"] == "none"


def test_health_check_off_policy_warns() -> None:
    policy = {"name": "staging-health-check", "max_interval_s": 5}
    with Simulator("healthy") as sim:
        result = run(configure(sim, {"load_balancer": {"health_checks": [policy]}}))
    assert result.status == Status.WARN
    assert "health check staging-health-check off policy: checkIntervalSec 10 s" in result.summary


def test_unknown_backend_service_fails_naming_it_and_what_exists() -> None:
    services = [
        {"name": "netra-backend-staging-bs", "min_timeout_s": 3600},
        {"name": "netra-auth-service-bs", "min_timeout_s": 30},
        {"name": "netra-frontend-staging-bs", "min_timeout_s": 30},
        {"name": "netra-api-bs", "min_timeout_s": 30},  # configured, never created
    ]
    with Simulator("healthy") as sim:
        result = run(configure(sim, {"load_balancer": {"backend_services": services}}))
    assert result.status == Status.FAIL
    assert result.summary.startswith("backend service netra-api-bs not found (existing: netra-auth-service-bs, ")


def test_two_unavailable_answers_are_retried_and_pass() -> None:
    fault = {"api": "compute", "status": 503, "times": 2}
    with Simulator(world(faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
    assert result.status == Status.PASS, result.summary
    assert result.attempts == 7 + 2


def test_permission_denied_is_an_error_naming_the_viewer_role_without_retrying() -> None:
    fault = {"api": "compute", "status": 403, "path_regex": "/healthChecks/"}
    with Simulator(world(faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
        assert sim.log.count(api="compute", path_contains="/healthChecks/") == 1
    assert result.status == Status.ERROR
    assert "permission denied reading health check staging-health-check" in result.summary
    assert "roles/compute.viewer" in result.remediation


def test_hanging_backend_service_read_ends_in_error_within_the_deadline() -> None:
    fault = {"api": "compute", "path_regex": "/backendServices/netra-backend-staging-bs$", "hang": True}
    with Simulator(world(faults=(fault,))) as sim:
        started = time.monotonic()
        result = run(configure(sim, FAST))
        elapsed = time.monotonic() - started
    assert result.status == Status.ERROR
    assert "backend service netra-backend-staging-bs" in result.summary
    assert elapsed < 3 + 1.5


def test_malformed_answer_is_an_error() -> None:
    fault = {"api": "compute", "path_regex": "/healthChecks/", "malformed": True}
    with Simulator(world(faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
    assert result.status == Status.ERROR
    assert result.summary.startswith("unparseable answer from compute for health check staging-health-check: ")
    assert "Invalid JSON" in result.summary
