# ruff: noqa: E501  (the expected findings are whole sentences and commands, as an operator reads them)
"""Phase 1's remaining decisions to the word: service drift across services (missing, drifted, extras only, not
verified), monitoring's 5xx verdicts, a missing Cloud SQL instance, health check policies no check can meet, and
a backend group's health.

Plain values and real client messages, no API: `make mutate` reruns these for every mutant of the checks'
decisions. The expected findings are what an operator reads; change them here when the wording changes on purpose.
"""

from typing import Any

import pytest
from google.cloud import compute_v1, sqladmin_v1beta4

from runbook.config.models import CloudSqlConfig, HealthCheckPolicy, MonitoringConfig
from runbook.results import Status
from tasks.cloud_run import DriftInputs, decide_service_drift
from tasks.cloud_sql import decide_instance_missing
from tasks.load_balancer import backend_health_problems, policy_conflicts
from tasks.monitoring import decide_monitoring
from tests.test_service_drift import BACKEND, CONNECTOR, FRONTEND, SQL, service

SECRETS = {"jwt-secret-staging", "secret-key-staging"}

DRIFTS = [
    pytest.param(
        DriftInputs(
            {
                "netra-backend-staging": service(),
                "netra-frontend-staging": service(connector="", instances=(), secrets=()),
            },
            existing_secrets=SECRETS,
            connectors={CONNECTOR: True},
        ),
        Status.PASS,
        "all 2 services match the configuration (connector exists, egress, Cloud SQL, secrets)",
        "",
        {
            "services": {
                "netra-backend-staging": {
                    "connector": "staging-connector",
                    "egress": "PRIVATE_RANGES_ONLY",
                    "cloudsql_instances": ["netra-staging:us-central1:netra-staging-db"],
                    "secrets_referenced": 2,
                },
                "netra-frontend-staging": {
                    "connector": None,
                    "egress": None,
                    "cloudsql_instances": [],
                    "secrets_referenced": 0,
                },
            },
            "drift": [],
        },
        id="all match",
    ),
    pytest.param(
        DriftInputs(
            {
                "netra-backend-staging": service(
                    connector="", instances=(), secrets=("jwt-secret-staging", "projects/netra-staging/secrets/gone")
                ),
                "netra-frontend-staging": None,
            },
            existing_services=("netra-auth-service",),
            existing_secrets=SECRETS,
        ),
        Status.FAIL,
        "5 disagreement(s): netra-backend-staging has no VPC connector, config says staging-connector; netra-backend-staging does not mount Cloud SQL instance netra-staging:us-central1:netra-staging-db (mounts none), config says so; netra-backend-staging does not reference secret secret-key-staging, config says it must; netra-backend-staging references secret gone, which does not exist in Secret Manager +1 more",
        "gcloud run services update netra-backend-staging --region us-central1 --project netra-staging --vpc-connector staging-connector --vpc-egress private-ranges-only --add-cloudsql-instances netra-staging:us-central1:netra-staging-db --update-secrets ENV_NAME=secret-key-staging:latest\ngcloud secrets create gone --project netra-staging --replication-policy=automatic\nDeploy netra-frontend-staging to us-central1, or fix [[services]] name = 'netra-frontend-staging' in the config.",
        {
            "services": {
                "netra-backend-staging": {
                    "connector": None,
                    "egress": None,
                    "cloudsql_instances": [],
                    "secrets_referenced": 2,
                },
                "netra-frontend-staging": "not found",
            },
            "drift": [
                "netra-backend-staging has no VPC connector, config says staging-connector",
                "netra-backend-staging does not mount Cloud SQL instance netra-staging:us-central1:netra-staging-db (mounts none), config says so",
                "netra-backend-staging does not reference secret secret-key-staging, config says it must",
                "netra-backend-staging references secret gone, which does not exist in Secret Manager",
                "service netra-frontend-staging not found in us-central1 (existing: netra-auth-service)",
            ],
        },
        id="missing service and drifts",
    ),
    pytest.param(
        DriftInputs({"netra-backend-staging": service(), "netra-frontend-staging": None}, existing_secrets=SECRETS),
        Status.FAIL,
        "1 disagreement(s): service netra-frontend-staging not found in us-central1 (existing: none)",
        "Deploy netra-frontend-staging to us-central1, or fix [[services]] name = 'netra-frontend-staging' in the config.",
        {
            "services": {
                "netra-backend-staging": {
                    "connector": "staging-connector",
                    "egress": "PRIVATE_RANGES_ONLY",
                    "cloudsql_instances": ["netra-staging:us-central1:netra-staging-db"],
                    "secrets_referenced": 2,
                },
                "netra-frontend-staging": "not found",
            },
            "drift": ["service netra-frontend-staging not found in us-central1 (existing: none)"],
        },
        id="missing service, none exist",
    ),
    pytest.param(
        DriftInputs(
            {
                "netra-backend-staging": service(instances=(SQL, "netra-staging:us-central1:old")),
                "netra-frontend-staging": service(instances=(), secrets=()),
            },
            existing_secrets=SECRETS,
            connectors={CONNECTOR: True},
        ),
        Status.WARN,
        "2 disagreement(s): netra-backend-staging also mounts Cloud SQL instance netra-staging:us-central1:old, config lists netra-staging:us-central1:netra-staging-db; netra-frontend-staging uses connector staging-connector, config says none",
        "gcloud run services update netra-backend-staging --region us-central1 --project netra-staging --remove-cloudsql-instances netra-staging:us-central1:old\ngcloud run services update netra-frontend-staging --region us-central1 --project netra-staging --clear-vpc-connector",
        {
            "services": {
                "netra-backend-staging": {
                    "connector": "staging-connector",
                    "egress": "PRIVATE_RANGES_ONLY",
                    "cloudsql_instances": [
                        "netra-staging:us-central1:netra-staging-db",
                        "netra-staging:us-central1:old",
                    ],
                    "secrets_referenced": 2,
                },
                "netra-frontend-staging": {
                    "connector": "staging-connector",
                    "egress": "PRIVATE_RANGES_ONLY",
                    "cloudsql_instances": [],
                    "secrets_referenced": 0,
                },
            },
            "drift": [
                "netra-backend-staging also mounts Cloud SQL instance netra-staging:us-central1:old, config lists netra-staging:us-central1:netra-staging-db",
                "netra-frontend-staging uses connector staging-connector, config says none",
            ],
        },
        id="extras only",
    ),
    pytest.param(
        DriftInputs(
            {
                "netra-backend-staging": service(),
                "netra-frontend-staging": service(connector="", instances=(), secrets=()),
            },
            secrets_error="PermissionDenied",
            secrets_remediation="Grant roles/secretmanager.viewer.",
            connectors_error="no answer",
            connectors_remediation="Grant roles/vpcaccess.viewer.",
        ),
        Status.WARN,
        "2 of 2 services match the configuration (connector, egress, Cloud SQL and secret references); not verified: whether referenced VPC connectors exist (no answer); whether referenced secrets exist (PermissionDenied)",
        "Grant roles/vpcaccess.viewer.\nGrant roles/secretmanager.viewer.",
        {
            "services": {
                "netra-backend-staging": {
                    "connector": "staging-connector",
                    "egress": "PRIVATE_RANGES_ONLY",
                    "cloudsql_instances": ["netra-staging:us-central1:netra-staging-db"],
                    "secrets_referenced": 2,
                },
                "netra-frontend-staging": {
                    "connector": None,
                    "egress": None,
                    "cloudsql_instances": [],
                    "secrets_referenced": 0,
                },
            },
            "not_verified": {"connectors": "no answer", "secrets": "PermissionDenied"},
            "drift": [],
        },
        id="not verified",
    ),
    pytest.param(
        DriftInputs(
            {"netra-backend-staging": service(), "netra-frontend-staging": service(instances=(), secrets=())},
            existing_secrets=SECRETS,
            connectors_error="no answer",
            connectors_remediation="Grant roles/vpcaccess.viewer.",
        ),
        Status.WARN,
        "2 of 2 services match the configuration (connector, egress, Cloud SQL and secret references, secrets exist); not verified: whether referenced VPC connectors exist (no answer); 1 disagreement(s): netra-frontend-staging uses connector staging-connector, config says none",
        "gcloud run services update netra-frontend-staging --region us-central1 --project netra-staging --clear-vpc-connector\nGrant roles/vpcaccess.viewer.",
        {
            "services": {
                "netra-backend-staging": {
                    "connector": "staging-connector",
                    "egress": "PRIVATE_RANGES_ONLY",
                    "cloudsql_instances": ["netra-staging:us-central1:netra-staging-db"],
                    "secrets_referenced": 2,
                },
                "netra-frontend-staging": {
                    "connector": "staging-connector",
                    "egress": "PRIVATE_RANGES_ONLY",
                    "cloudsql_instances": [],
                    "secrets_referenced": 0,
                },
            },
            "not_verified": {"connectors": "no answer"},
            "drift": ["netra-frontend-staging uses connector staging-connector, config says none"],
        },
        id="not verified with an extra",
    ),
    pytest.param(
        DriftInputs(
            {
                "netra-backend-staging": service(egress="ALL_TRAFFIC"),
                "netra-frontend-staging": service(connector="", instances=(), secrets=()),
            },
            secrets_remediation="Grant roles/secretmanager.viewer.",
            connectors={CONNECTOR: False},
            existing_connectors=("other-connector",),
        ),
        Status.FAIL,
        "2 disagreement(s): netra-backend-staging references VPC connector projects/netra-staging/locations/us-central1/connectors/staging-connector, which does not exist; netra-backend-staging uses VPC egress ALL_TRAFFIC, config says PRIVATE_RANGES_ONLY; not verified: whether referenced secrets exist (secret list unavailable)",
        "gcloud run services update netra-backend-staging --region us-central1 --project netra-staging --vpc-egress private-ranges-only\nCreate connector staging-connector (gcloud compute networks vpc-access connectors create staging-connector --region us-central1 --project netra-staging --network NETWORK --range CIDR_28) or deploy netra-backend-staging with an existing one\nGrant roles/secretmanager.viewer.",
        {
            "services": {
                "netra-backend-staging": {
                    "connector": "staging-connector",
                    "egress": "ALL_TRAFFIC",
                    "cloudsql_instances": ["netra-staging:us-central1:netra-staging-db"],
                    "secrets_referenced": 2,
                },
                "netra-frontend-staging": {
                    "connector": None,
                    "egress": None,
                    "cloudsql_instances": [],
                    "secrets_referenced": 0,
                },
            },
            "connectors_missing": ["projects/netra-staging/locations/us-central1/connectors/staging-connector"],
            "connectors_in_region": ["other-connector"],
            "not_verified": {"secrets": "secret list unavailable"},
            "drift": [
                "netra-backend-staging references VPC connector projects/netra-staging/locations/us-central1/connectors/staging-connector, which does not exist",
                "netra-backend-staging uses VPC egress ALL_TRAFFIC, config says PRIVATE_RANGES_ONLY",
            ],
        },
        id="not verified with a failure",
    ),
]


@pytest.mark.parametrize(("inputs", "status", "summary", "remediation", "evidence"), DRIFTS)
def test_service_drift_across_services_to_the_word(
    inputs: DriftInputs, status: Status, summary: str, remediation: str, evidence: dict[str, Any]
) -> None:
    finding = decide_service_drift([BACKEND, FRONTEND], inputs, "netra-staging", "us-central1", "123456789012")
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        status,
        summary,
        remediation,
        evidence,
    )


MONITORING = [
    pytest.param(
        {"a": {"2xx": 90, "5xx": 10}, "b": {"2xx": 50, "5xx": 50}, "c": {"2xx": 2}},
        MonitoringConfig(min_requests=5, window_s=600, ingestion_delay_s=180),
        None,
        Status.FAIL,
        "a 10.0% 5xx (10 of 100 requests); b 50.0% 5xx (50 of 100 requests) over the last 600 s (ending 180 s ago), above 5%",
        'gcloud logging read \'resource.type="cloud_run_revision" AND resource.labels.service_name="a" AND httpRequest.status>=500\' --project netra-staging --freshness=13m --limit=50\ngcloud logging read \'resource.type="cloud_run_revision" AND resource.labels.service_name="b" AND httpRequest.status>=500\' --project netra-staging --freshness=13m --limit=50',
        {
            "window_s": 600,
            "ingestion_delay_s": 180,
            "max_5xx_ratio": 0.05,
            "services": {
                "a": {"requests": 100, "5xx": 10, "ratio": 0.1},
                "b": {"requests": 100, "5xx": 50, "ratio": 0.5},
                "c": {"requests": 2, "5xx": 0, "note": "no requests in window"},
            },
        },
        id="two high, one quiet",
    ),
    pytest.param(
        {"a": {"2xx": 990, "5xx": 10}, "b": {"2xx": 1000}, "c": {}},
        MonitoringConfig(),
        None,
        Status.PASS,
        "5xx ratio at most 5% for every service over the last 600 s (ending 180 s ago) (highest 1.0%, a); no requests in window: c",
        "",
        {
            "window_s": 600,
            "ingestion_delay_s": 180,
            "max_5xx_ratio": 0.05,
            "services": {
                "a": {"requests": 1000, "5xx": 10, "ratio": 0.01},
                "b": {"requests": 1000, "5xx": 0, "ratio": 0.0},
                "c": {"requests": 0, "5xx": 0, "note": "no requests in window"},
            },
        },
        id="passing with the highest",
    ),
    pytest.param(
        {},
        MonitoringConfig(),
        "since the restoration started",
        Status.PASS,
        "no requests in window for any service since the restoration started",
        "",
        {
            "window_s": 600,
            "ingestion_delay_s": 180,
            "max_5xx_ratio": 0.05,
            "services": {
                "a": {"requests": 0, "5xx": 0, "note": "no requests in window"},
                "b": {"requests": 0, "5xx": 0, "note": "no requests in window"},
                "c": {"requests": 0, "5xx": 0, "note": "no requests in window"},
            },
        },
        id="all quiet",
    ),
    pytest.param(
        {"a": {"2xx": 10, "4xx": 5}},
        MonitoringConfig(window_s=60, ingestion_delay_s=120),
        None,
        Status.PASS,
        "5xx ratio at most 5% for every service over the last 60 s (ending 120 s ago) (highest 0.0%, a); no requests in window: b, c",
        "",
        {
            "window_s": 60,
            "ingestion_delay_s": 120,
            "max_5xx_ratio": 0.05,
            "services": {
                "a": {"requests": 15, "5xx": 0, "ratio": 0.0},
                "b": {"requests": 0, "5xx": 0, "note": "no requests in window"},
                "c": {"requests": 0, "5xx": 0, "note": "no requests in window"},
            },
            "config_note": "window_s (60 s) is shorter than ingestion_delay_s (120 s): set [monitoring] window_s to at least the ingestion delay so the window holds settled data",
        },
        id="window shorter than the delay",
    ),
]


@pytest.mark.parametrize(("totals", "config", "window", "status", "summary", "remediation", "evidence"), MONITORING)
def test_each_monitoring_finding_to_the_word(
    totals: dict[str, dict[str, int]],
    config: MonitoringConfig,
    window: str | None,
    status: Status,
    summary: str,
    remediation: str,
    evidence: dict[str, Any],
) -> None:
    finding = decide_monitoring(["a", "b", "c"], totals, config, "netra-staging", window)
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        status,
        summary,
        remediation,
        evidence,
    )


MISSING_INSTANCE = [
    pytest.param(
        None,
        "PermissionDenied",
        "instance netra-staging-db not found in netra-staging; the project's instances could not be listed (PermissionDenied)",
        {"looked_for": "netra-staging-db", "existing": None},
        id="listing failed",
    ),
    pytest.param(
        None,
        "",
        "instance netra-staging-db not found in netra-staging; the project's instances could not be listed (unknown error)",
        {"looked_for": "netra-staging-db", "existing": None},
        id="listing failed, no reason",
    ),
    pytest.param(
        [],
        "",
        "instance netra-staging-db not found in netra-staging; no Cloud SQL instance exists in netra-staging",
        {"looked_for": "netra-staging-db", "existing": []},
        id="none",
    ),
    pytest.param(
        ["b-db", "a-db"],
        "",
        "instance netra-staging-db not found in netra-staging; instances in netra-staging: a-db, b-db",
        {"looked_for": "netra-staging-db", "existing": ["a-db", "b-db"]},
        id="some",
    ),
    pytest.param(
        [
            "db-00",
            "db-01",
            "db-02",
            "db-03",
            "db-04",
            "db-05",
            "db-06",
            "db-07",
            "db-08",
            "db-09",
            "db-10",
            "db-11",
            "db-12",
            "db-13",
            "db-14",
            "db-15",
            "db-16",
            "db-17",
            "db-18",
            "db-19",
            "db-20",
            "db-21",
        ],
        "",
        "instance netra-staging-db not found in netra-staging; instances in netra-staging: db-00, db-01, db-02, db-03, db-04, db-05, db-06, db-07, db-08, db-09, db-10, db-11, db-12, db-13, db-14, db-15, db-16, db-17, db-18, db-19 +2 more",
        {
            "looked_for": "netra-staging-db",
            "existing": [
                "db-00",
                "db-01",
                "db-02",
                "db-03",
                "db-04",
                "db-05",
                "db-06",
                "db-07",
                "db-08",
                "db-09",
                "db-10",
                "db-11",
                "db-12",
                "db-13",
                "db-14",
                "db-15",
                "db-16",
                "db-17",
                "db-18",
                "db-19",
                "db-20",
                "db-21",
            ],
        },
        id="many",
    ),
]


@pytest.mark.parametrize(("existing", "listing_error", "summary", "evidence"), MISSING_INSTANCE)
def test_a_missing_instance_names_what_exists_instead(
    existing: list[str] | None, listing_error: str, summary: str, evidence: dict[str, Any]
) -> None:
    found = None if existing is None else [sqladmin_v1beta4.DatabaseInstance(name=n) for n in existing]
    policy = CloudSqlConfig(instance="netra-staging-db", network="staging-vpc")
    finding = decide_instance_missing(policy, "netra-staging", found, listing_error)
    assert (finding.status, finding.summary, finding.remediation, finding.evidence) == (
        Status.FAIL,
        summary,
        "If one of the existing instances is the right one, set [cloud_sql] instance to it (gcloud sql instances list --project netra-staging); otherwise create or restore netra-staging-db.",
        evidence,
    )


def impossible(**bounds: int) -> HealthCheckPolicy:
    """A policy as a hand-built model would be (the config refuses crossed bounds before the check sees them)."""
    return HealthCheckPolicy.model_construct(**{**HealthCheckPolicy(name="hc").model_dump(), **bounds})


FIX = "Fix [[load_balancer.health_checks]] name = 'hc' in the environment file."


@pytest.mark.parametrize(
    ("bounds", "problems"),
    [
        (
            {"min_timeout_s": 31, "max_interval_s": 30},
            [
                (
                    Status.WARN,
                    "policy for health check hc cannot be met: a timeout of at least 31 s needs an interval of at least 31 s (Compute requires timeoutSec <= checkIntervalSec), but the interval may be at most 30 s -- like the escalation plan's 'timeout 60 s, interval 30 s', it cannot be applied as written",
                    "Fix [[load_balancer.health_checks]] name = 'hc' in the environment file (min_timeout_s <= max_interval_s).",
                )
            ],
        ),
        (
            {"min_timeout_s": 10, "max_timeout_s": 5},
            [(Status.WARN, "policy for health check hc cannot be met: min_timeout_s 10 > max_timeout_s 5", FIX)],
        ),
        (
            {"min_unhealthy_threshold": 5, "max_unhealthy_threshold": 3},
            [
                (
                    Status.WARN,
                    "policy for health check hc cannot be met: min_unhealthy_threshold 5 > max_unhealthy_threshold 3",
                    FIX,
                )
            ],
        ),
        (
            {
                "min_timeout_s": 30,
                "max_interval_s": 30,
                "max_timeout_s": 30,
                "min_unhealthy_threshold": 3,
                "max_unhealthy_threshold": 3,
            },
            [],
        ),
    ],
)
def test_a_policy_no_health_check_can_meet_is_a_warning_naming_the_bounds(
    bounds: dict[str, int], problems: list[tuple[Status, str, str]]
) -> None:
    assert [(p.status, p.text, p.fix) for p in policy_conflicts(impossible(**bounds))] == problems


IG = "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/instanceGroups/api-ig"
NEG = "https://www.googleapis.com/compute/v1/projects/p/regions/us-central1/networkEndpointGroups/api-neg"
ZONAL_NEG = "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/networkEndpointGroups/api-zneg"
VM = "https://www.googleapis.com/compute/v1/projects/p/zones/us-central1-a/instances/vm-1"
NOTHING = compute_v1.BackendServiceGroupHealth()


@pytest.mark.parametrize(
    ("group", "health", "description", "problems"),
    [
        (NEG, NOTHING, "no health reported (serverless NEG)", []),
        (
            IG,
            NOTHING,
            "no endpoints (instance group)",
            [
                (
                    Status.FAIL,
                    "backend service api-bs group api-ig: no instances or endpoints to send traffic to",
                    "Add instances/endpoints to instance group api-ig, or remove it from backend service api-bs.",
                )
            ],
        ),
        (
            ZONAL_NEG,
            NOTHING,
            "no endpoints (zonal NEG)",
            [
                (
                    Status.FAIL,
                    "backend service api-bs group api-zneg: no instances or endpoints to send traffic to",
                    "Add instances/endpoints to zonal NEG api-zneg, or remove it from backend service api-bs.",
                )
            ],
        ),
        (
            IG,
            compute_v1.BackendServiceGroupHealth(
                health_status=[
                    compute_v1.HealthStatus(instance=VM, health_state="UNHEALTHY"),
                    compute_v1.HealthStatus(ip_address="10.0.0.7"),
                    compute_v1.HealthStatus(health_state="DRAINING"),
                    compute_v1.HealthStatus(ip_address="10.0.0.9", health_state="UNHEALTHY"),
                    compute_v1.HealthStatus(health_state="HEALTHY"),
                ]
            ),
            "1/5 HEALTHY",
            [
                (
                    Status.FAIL,
                    "backend service api-bs group api-ig: 4 of 5 endpoints not HEALTHY (vm-1 UNHEALTHY, 10.0.0.7 no health state, ? DRAINING)",
                    "gcloud compute backend-services get-health api-bs --global  # then inspect the unhealthy endpoints",
                )
            ],
        ),
    ],
)
def test_a_backend_groups_health_to_the_word(
    group: str, health: Any, description: str, problems: list[tuple[Status, str, str]]
) -> None:
    found, described = backend_health_problems("api-bs", group, health)
    assert described == description
    assert [(p.status, p.text, p.fix) for p in found] == problems
