# ruff: noqa: E501  (the expected findings are whole sentences and commands, as an operator reads them)
"""load-balancer's decision to the word: nothing configured, all well, off policy only, and every kind of problem at
once (the worst sets the status, FAILs first, three spelled out then counted, each fix once).

Real compute_v1 messages, no API: `make mutate` reruns these for every mutant of the check's decisions. The
expected findings are what an operator reads; change them here when the wording changes on purpose.
"""

from typing import Any

import pytest
from google.cloud import compute_v1

from runbook.config.models import BackendServicePolicy, HealthCheckPolicy, LoadBalancerConfig
from runbook.results import Status
from tasks.load_balancer import LoadBalancerState, decide_load_balancer

NEG = "https://www.googleapis.com/compute/v1/projects/p/regions/us-central1/networkEndpointGroups/api-neg"
IG = "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/instanceGroups/api-ig"
HC = compute_v1.HealthCheck(
    name="hc", type_="HTTP", check_interval_sec=10, timeout_sec=5, healthy_threshold=2, unhealthy_threshold=3
)


def backend_service(timeout_s: int, *groups: str) -> compute_v1.BackendService:
    return compute_v1.BackendService(timeout_sec=timeout_s, backends=[compute_v1.Backend(group=g) for g in groups])


def health(*states: str) -> compute_v1.BackendServiceGroupHealth:
    return compute_v1.BackendServiceGroupHealth(
        health_status=[compute_v1.HealthStatus(health_state=s, ip_address=f"10.0.0.{i}") for i, s in enumerate(states)]
    )


def world(name: str) -> tuple[LoadBalancerConfig, LoadBalancerState, dict[str, str] | None]:
    if name == "nothing configured":
        return LoadBalancerConfig(), LoadBalancerState({}, {}, {}), None
    if name == "all well":
        config = LoadBalancerConfig(
            backend_services=(BackendServicePolicy(name="api-bs", min_timeout_s=600),),
            health_checks=(HealthCheckPolicy(name="hc"),),
        )
        groups = {NEG: compute_v1.BackendServiceGroupHealth(), IG: health("HEALTHY", "HEALTHY")}
        return config, LoadBalancerState({"api-bs": backend_service(3600, NEG)}, {"api-bs": groups}, {"hc": HC}), None
    if name == "off policy only":
        config = LoadBalancerConfig(health_checks=(HealthCheckPolicy(name="hc", max_interval_s=5),))
        return config, LoadBalancerState({}, {}, {"hc": HC}), None
    if name == "three problems":
        config = LoadBalancerConfig(
            backend_services=(BackendServicePolicy(name="api-bs", min_timeout_s=600),),
            health_checks=(HealthCheckPolicy(name="gone-hc"),),
        )
        state = LoadBalancerState(
            {"api-bs": backend_service(30, IG)},
            {"api-bs": {IG: health("UNHEALTHY")}},
            {"gone-hc": None},
            existing_health_checks=("hc", "other-hc"),
        )
        return config, state, None
    config = LoadBalancerConfig(
        backend_services=(
            BackendServicePolicy(name="api-bs", min_timeout_s=600),
            BackendServicePolicy(name="gone-bs", min_timeout_s=30),
            BackendServicePolicy(name="web-bs", min_timeout_s=30),
        ),
        health_checks=(HealthCheckPolicy(name="hc", max_interval_s=5), HealthCheckPolicy(name="gone-hc")),
    )
    state = LoadBalancerState(
        {"api-bs": backend_service(30, IG), "gone-bs": None, "web-bs": backend_service(30)},
        {"api-bs": {IG: health("HEALTHY", "UNHEALTHY")}},
        {"hc": HC, "gone-hc": None},
        existing_backend_services=("api-bs", "web-bs"),
    )
    return config, state, {"web-bs": "netra-frontend-staging"}


CASES = [
    pytest.param(
        "nothing configured",
        Status.SKIPPED,
        "no backend services or health checks configured ([load_balancer])",
        "",
        {},
        id="nothing configured",
    ),
    pytest.param(
        "all well",
        Status.PASS,
        "1 backend service(s) with long enough timeouts, 1 health check(s) within policy",
        "",
        {
            "backend_services": {
                "api-bs": {
                    "timeout_s": 3600,
                    "min_timeout_s": 600,
                    "backends": {"api-neg": "no health reported (serverless NEG)", "api-ig": "2/2 HEALTHY"},
                }
            },
            "health_checks": {
                "hc": {"check_interval_sec": 10, "timeout_sec": 5, "healthy_threshold": 2, "unhealthy_threshold": 3}
            },
        },
        id="all well",
    ),
    pytest.param(
        "off policy only",
        Status.WARN,
        "health check hc off policy: checkIntervalSec 10 s (policy at most 5 s)",
        "gcloud compute health-checks update http hc --global --project netra-staging --check-interval=5s --timeout=5s --unhealthy-threshold=3 --healthy-threshold=2",
        {
            "backend_services": {},
            "health_checks": {
                "hc": {"check_interval_sec": 10, "timeout_sec": 5, "healthy_threshold": 2, "unhealthy_threshold": 3}
            },
            "problems": ["health check hc off policy: checkIntervalSec 10 s (policy at most 5 s)"],
        },
        id="off policy only",
    ),
    pytest.param(
        "three problems",
        Status.FAIL,
        "backend service api-bs timeoutSec is 30 s, expected at least 600 s; backend service api-bs group api-ig: 1 of 1 endpoints not HEALTHY (10.0.0.0 UNHEALTHY); health check gone-hc not found (existing: hc, other-hc)",
        "gcloud compute backend-services update api-bs --global --timeout=600 --project netra-staging\ngcloud compute backend-services get-health api-bs --global  # then inspect the unhealthy endpoints\nFix the name in [load_balancer] or create it; list them with: gcloud compute health-checks list --global",
        {
            "backend_services": {
                "api-bs": {"timeout_s": 30, "min_timeout_s": 600, "backends": {"api-ig": "0/1 HEALTHY"}}
            },
            "health_checks": {"gone-hc": "not found"},
            "problems": [
                "backend service api-bs timeoutSec is 30 s, expected at least 600 s",
                "backend service api-bs group api-ig: 1 of 1 endpoints not HEALTHY (10.0.0.0 UNHEALTHY)",
                "health check gone-hc not found (existing: hc, other-hc)",
            ],
        },
        id="three problems",
    ),
    pytest.param(
        "every kind of problem",
        Status.FAIL,
        "backend service api-bs timeoutSec is 30 s, expected at least 600 s; backend service api-bs group api-ig: 1 of 2 endpoints not HEALTHY (10.0.0.1 UNHEALTHY); backend service gone-bs not found (existing: api-bs, web-bs) (+3 more)",
        'gcloud compute backend-services update api-bs --global --timeout=600 --project netra-staging\ngcloud compute backend-services get-health api-bs --global  # then inspect the unhealthy endpoints\nFix the name in [load_balancer] or create it; list them with: gcloud compute backend-services list --global\ngcloud compute backend-services add-backend web-bs --global --network-endpoint-group=NEG --network-endpoint-group-region=us-central1 --project netra-staging\n  NEG: the serverless NEG of Cloud Run service netra-frontend-staging: gcloud compute network-endpoint-groups list --regions=us-central1 --filter="cloudRun.service=netra-frontend-staging" --project netra-staging\n  none listed: gcloud compute network-endpoint-groups create netra-frontend-staging-neg --region=us-central1 --network-endpoint-type=serverless --cloud-run-service=netra-frontend-staging --project netra-staging\nFix the name in [load_balancer] or create it; list them with: gcloud compute health-checks list --global\ngcloud compute health-checks update http hc --global --project netra-staging --check-interval=5s --timeout=5s --unhealthy-threshold=3 --healthy-threshold=2',
        {
            "backend_services": {
                "api-bs": {"timeout_s": 30, "min_timeout_s": 600, "backends": {"api-ig": "1/2 HEALTHY"}},
                "gone-bs": "not found",
                "web-bs": {"timeout_s": 30, "min_timeout_s": 30, "backends": "none"},
            },
            "health_checks": {
                "hc": {"check_interval_sec": 10, "timeout_sec": 5, "healthy_threshold": 2, "unhealthy_threshold": 3},
                "gone-hc": "not found",
            },
            "problems": [
                "backend service api-bs timeoutSec is 30 s, expected at least 600 s",
                "backend service api-bs group api-ig: 1 of 2 endpoints not HEALTHY (10.0.0.1 UNHEALTHY)",
                "backend service gone-bs not found (existing: api-bs, web-bs)",
                "backend service web-bs has no backends: nothing serves its traffic (the serverless NEG of netra-frontend-staging is detached)",
                "health check gone-hc not found (existing: none)",
                "health check hc off policy: checkIntervalSec 10 s (policy at most 5 s)",
            ],
        },
        id="every kind of problem",
    ),
]


@pytest.mark.parametrize(("world_name", "status", "summary", "remediation", "evidence"), CASES)
def test_the_load_balancer_finding_to_the_word(
    world_name: str, status: Status, summary: str, remediation: str, evidence: dict[str, Any]
) -> None:
    config, state, cloud_run = world(world_name)
    finding = decide_load_balancer(config, state, "netra-staging", "us-central1", cloud_run)
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        status,
        summary,
        remediation,
        evidence,
    )
