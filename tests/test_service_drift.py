"""The `service-drift` check: decisions on real run_v2 Service protos, and the task against the staging simulator."""

import asyncio
import re
import time

import pytest
from google.cloud import run_v2

from runbook.config.models import RunbookConfig, ServiceConfig
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, Status
from simulator.server import Simulator
from tasks.cloud_run import service_drift_check
from tasks.cloud_run_drift import (
    DriftInputs,
    connector_resource,
    decide_service_drift,
    deployed_settings,
    service_drift,
)
from tests.support import configure, world

pytestmark = pytest.mark.timeout(60)

FAST = {"checks": {"service-drift": {"deadline_s": 3, "timeout_s": 1}}}
SQL = "netra-staging:us-central1:netra-staging-db"
BACKEND = ServiceConfig(
    name="netra-backend-staging",
    role="backend",
    url="https://backend.example",
    vpc_connector="staging-connector",
    vpc_egress="PRIVATE_RANGES_ONLY",
    cloudsql_instances=(SQL,),
    secrets=("jwt-secret-staging", "secret-key-staging"),
)
FRONTEND = ServiceConfig(name="netra-frontend-staging", role="frontend", url="https://frontend.example")
SECRETS = {"jwt-secret-staging", "secret-key-staging"}
CONNECTOR = "projects/netra-staging/locations/us-central1/connectors/staging-connector"


def service(
    connector: str = "projects/netra-staging/locations/us-central1/connectors/staging-connector",
    egress: str = "PRIVATE_RANGES_ONLY",
    instances: tuple[str, ...] = (SQL,),
    secrets: tuple[str, ...] = ("jwt-secret-staging", "projects/123456789012/secrets/secret-key-staging"),
    annotations: dict[str, str] | None = None,
) -> run_v2.Service:
    env = [run_v2.EnvVar(name="ENVIRONMENT", value="staging")] + [
        run_v2.EnvVar(
            name=f"ENV_{n}",
            value_source=run_v2.EnvVarSource(secret_key_ref=run_v2.SecretKeySelector(secret=s, version="latest")),
        )
        for n, s in enumerate(secrets)
    ]
    template = run_v2.RevisionTemplate(
        containers=[run_v2.Container(image="image", env=env)],
        annotations=annotations or {},
    )
    if connector:
        template.vpc_access = run_v2.VpcAccess(connector=connector, egress=egress)
    if instances:
        template.volumes = [
            run_v2.Volume(name="cloudsql", cloud_sql_instance=run_v2.CloudSqlInstance(instances=list(instances)))
        ]
    return run_v2.Service(name="projects/netra-staging/locations/us-central1/services/x", template=template)


def run(config: RunbookConfig) -> CheckResult:
    clients = GoogleClients(config.gcp)
    assert clients.run_services is not None and clients.secretmanager is not None  # imports outside the deadline
    return asyncio.run(service_drift_check.fn(config, clients))


# --- decision ---------------------------------------------------------------------------------------------------


def test_template_is_read_in_the_configurations_terms() -> None:
    settings = deployed_settings(service(annotations={"run.googleapis.com/cloudsql-instances": "p:r:old, " + SQL}))
    assert settings.connector == "staging-connector"
    assert settings.egress == "PRIVATE_RANGES_ONLY"
    assert settings.cloudsql_instances == (SQL, "p:r:old")  # volume first, then the older annotation
    assert settings.secrets == ("jwt-secret-staging", "projects/123456789012/secrets/secret-key-staging")


def test_egress_left_unset_is_cloud_runs_default_private_ranges_only() -> None:
    unset = deployed_settings(service(egress="VPC_EGRESS_UNSPECIFIED"))  # left out of the JSON: enum value 0
    assert (unset.egress, unset.egress_unset) == ("PRIVATE_RANGES_ONLY", True)
    assert service_drift(BACKEND, unset, SECRETS, "netra-staging", "123456789012") == []
    all_traffic = BACKEND.model_copy(update={"vpc_egress": "ALL_TRAFFIC"})
    [drift] = service_drift(all_traffic, unset, SECRETS, "netra-staging", "123456789012")
    assert drift.text == (
        "netra-backend-staging uses VPC egress PRIVATE_RANGES_ONLY (unset: Cloud Run's default), "
        "config says ALL_TRAFFIC"
    )


def test_matching_service_has_no_drift() -> None:
    assert service_drift(BACKEND, deployed_settings(service()), SECRETS, "netra-staging", "123456789012") == []


def test_deploy_script_settings_are_each_named_against_the_config() -> None:
    deployed = deployed_settings(
        service(connector="staging-connector-v2", egress="ALL_TRAFFIC", instances=("netra-staging:us-central1:pg",))
    )
    drifts = service_drift(BACKEND, deployed, SECRETS, "netra-staging", "123456789012")
    texts = [d.text for d in drifts]
    assert "netra-backend-staging uses connector staging-connector-v2, config says staging-connector" in texts
    assert "netra-backend-staging uses VPC egress ALL_TRAFFIC, config says PRIVATE_RANGES_ONLY" in texts
    assert any(t.startswith(f"netra-backend-staging does not mount Cloud SQL instance {SQL}") for t in texts)
    extra = [d for d in drifts if "also mounts" in d.text]
    assert [d.status for d in extra] == [Status.WARN]


def test_connector_present_where_none_is_configured_is_drift() -> None:
    [drift] = service_drift(FRONTEND, deployed_settings(service(instances=(), secrets=())), set(), "p")
    assert drift.text == "netra-frontend-staging uses connector staging-connector, config says none"
    assert drift.flags == ("--clear-vpc-connector",)


def test_missing_configured_reference_and_nonexistent_referenced_secret_both_fail() -> None:
    deployed = deployed_settings(service(secrets=("jwt-secret-staging", "old-secret")))
    drifts = service_drift(BACKEND, deployed, SECRETS, "netra-staging")
    assert [(d.status, d.text) for d in drifts] == [
        (Status.FAIL, "netra-backend-staging does not reference secret secret-key-staging, config says it must"),
        (Status.FAIL, "netra-backend-staging references secret old-secret, which does not exist in Secret Manager"),
    ]


def test_another_projects_secret_is_not_looked_up_in_this_one() -> None:
    deployed = deployed_settings(service(secrets=(*SECRETS, "projects/shared-secrets/secrets/ca-bundle")))
    assert service_drift(BACKEND, deployed, SECRETS, "netra-staging", "123456789012") == []


def test_missing_service_fails_listing_those_that_exist_and_others_are_still_compared() -> None:
    drifted = service(connector="staging-connector-v2")
    inputs = DriftInputs({"netra-backend-staging": drifted, "netra-frontend-staging": None}, ("a", "b"), SECRETS)
    finding = decide_service_drift((BACKEND, FRONTEND), inputs, "netra-staging", "us-central1")
    assert finding.status == Status.FAIL
    assert "service netra-frontend-staging not found in us-central1 (existing: a, b)" in finding.summary
    assert "uses connector staging-connector-v2" in finding.summary
    assert finding.remediation.splitlines()[0] == (
        "gcloud run services update netra-backend-staging --region us-central1 --project netra-staging "
        "--vpc-connector staging-connector --vpc-egress private-ranges-only"
    )


def test_unverifiable_secrets_still_report_what_was_compared_and_what_was_not() -> None:
    inputs = DriftInputs(
        {"netra-backend-staging": service()},
        secrets_error="permission denied reading secrets",
        secrets_remediation="Grant the runbook's identity roles/secretmanager.viewer",
        connectors={CONNECTOR: True},
    )
    finding = decide_service_drift((BACKEND,), inputs, "netra-staging", "us-central1")
    assert finding.status == Status.WARN
    assert finding.summary == (
        "1 of 1 services match the configuration (connector, egress, Cloud SQL and secret references, connectors "
        "exist); not verified: whether referenced secrets exist (permission denied reading secrets)"
    )
    assert finding.evidence["not_verified"] == {"secrets": "permission denied reading secrets"}
    assert "roles/secretmanager.viewer" in finding.remediation


def test_unverifiable_secrets_do_not_hide_a_failure() -> None:
    inputs = DriftInputs({"netra-backend-staging": service(egress="ALL_TRAFFIC")}, secrets_error="denied")
    finding = decide_service_drift((BACKEND,), inputs, "netra-staging", "us-central1")
    assert finding.status == Status.FAIL
    assert "uses VPC egress ALL_TRAFFIC" in finding.summary
    assert finding.summary.endswith("not verified: whether referenced secrets exist (denied)")


def test_a_referenced_connector_that_does_not_exist_fails_although_its_name_matches() -> None:
    inputs = DriftInputs({"netra-backend-staging": service()}, existing_secrets=SECRETS, connectors={CONNECTOR: False})
    finding = decide_service_drift((BACKEND,), inputs, "netra-staging", "us-central1", "123456789012")
    assert finding.status == Status.FAIL
    assert f"netra-backend-staging references VPC connector {CONNECTOR}, which does not exist" in finding.summary
    assert finding.remediation.startswith(
        "Create connector staging-connector (gcloud compute networks vpc-access connectors create staging-connector "
        "--region us-central1 --project netra-staging"
    )


def test_a_short_connector_reference_means_the_services_own_project_and_region() -> None:
    assert connector_resource("staging-connector", "p", "r") == "projects/p/locations/r/connectors/staging-connector"
    assert connector_resource(CONNECTOR, "other", "x") == CONNECTOR
    inputs = DriftInputs(
        {"netra-backend-staging": service(connector="staging-connector")},
        existing_secrets=SECRETS,
        connectors={CONNECTOR: True},
    )
    assert decide_service_drift((BACKEND,), inputs, "netra-staging", "us-central1").status == Status.PASS


def test_a_connector_of_the_configured_name_in_another_project_or_region_is_drift() -> None:
    for elsewhere in (
        "projects/shared-vpc-host/locations/us-central1/connectors/staging-connector",
        "projects/netra-staging/locations/us-east1/connectors/staging-connector",
    ):
        deployed = deployed_settings(service(connector=elsewhere))
        [drift] = service_drift(BACKEND, deployed, SECRETS, "netra-staging", "123456789012", region="us-central1")
        assert drift.status == Status.FAIL
        assert drift.text.startswith(f"netra-backend-staging uses connector {elsewhere} (projects/")
    by_number = deployed_settings(service(connector=CONNECTOR.replace("netra-staging", "123456789012")))
    assert service_drift(BACKEND, by_number, SECRETS, "netra-staging", "123456789012", region="us-central1") == []


def test_unverifiable_connectors_warn_naming_the_lookup_that_was_denied() -> None:
    inputs = DriftInputs(
        {"netra-backend-staging": service()},
        existing_secrets=SECRETS,
        connectors_error="permission denied reading connector",
        connectors_remediation="Grant the runbook's identity roles/vpcaccess.viewer",
    )
    finding = decide_service_drift((BACKEND,), inputs, "netra-staging", "us-central1", "123456789012")
    assert finding.status == Status.WARN
    assert "not verified: whether referenced VPC connectors exist (permission denied" in finding.summary
    assert "secrets exist" in finding.summary
    assert "roles/vpcaccess.viewer" in finding.remediation


# --- against the simulator ----------------------------------------------------------------------------------------


def test_healthy_world_passes_reading_each_service_once() -> None:
    with Simulator("healthy") as sim:
        result = run(configure(sim))
        run_paths = [e.path for e in sim.log.entries("run")]
        secret_lists = sim.log.count(api="secretmanager")
        connector_reads = [e.path for e in sim.log.entries("vpcaccess")]
    assert result.status == Status.PASS, result.summary
    assert connector_reads == [f"/v1/{CONNECTOR}"]  # backend and auth share it: read once
    assert sorted(p.rsplit("/", 1)[-1] for p in run_paths) == sorted(
        ["netra-backend-staging", "netra-auth-service", "netra-frontend-staging"]
    )
    assert secret_lists == 1


def test_drift_scenario_fails_naming_each_disagreement_with_one_update_command() -> None:
    with Simulator("drift") as sim:
        result = run(configure(sim))
    assert result.status == Status.FAIL
    assert "netra-backend-staging uses connector staging-connector-v2, config says staging-connector" in result.summary
    assert "netra-backend-staging uses VPC egress ALL_TRAFFIC, config says PRIVATE_RANGES_ONLY" in result.summary
    assert "staging-shared-postgres" in result.summary
    assert len(result.evidence["drift"]) == 4
    assert result.remediation == (
        "gcloud run services update netra-backend-staging --region us-central1 --project netra-staging "
        "--vpc-connector staging-connector --vpc-egress private-ranges-only "
        f"--add-cloudsql-instances {SQL} --remove-cloudsql-instances netra-staging:us-central1:staging-shared-postgres"
    )


def test_referenced_secret_missing_from_secret_manager_fails_for_every_service_using_it() -> None:
    with Simulator("secret-missing") as sim:
        result = run(configure(sim))
    assert result.status == Status.FAIL
    assert "netra-backend-staging references secret jwt-secret-staging, which does not exist" in result.summary
    assert "netra-auth-service references secret jwt-secret-staging, which does not exist" in result.summary


def test_unknown_service_fails_naming_it_and_the_services_that_exist() -> None:
    services = [{"name": "auth-staging", "role": "auth", "url": "https://auth.example"}]
    with Simulator("healthy") as sim:
        # No backend: the golden path cannot run, so it is disabled (the config says so otherwise).
        result = run(configure(sim, {"services": services, "checks": {"golden-path": {"enabled": False}}}))
    assert result.status == Status.FAIL
    assert result.summary == (
        "1 disagreement(s): service auth-staging not found in us-central1 "
        "(existing: netra-auth-service, netra-backend-staging, netra-frontend-staging)"
    )


def test_two_unavailable_answers_are_retried_and_pass() -> None:
    fault = {"api": "run", "status": 503, "times": 2}
    with Simulator(world(faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
    assert result.status == Status.PASS, result.summary
    assert result.attempts == 3 + 1 + 1 + 2  # services, the secret list, the shared connector, two retries


def test_permission_denied_on_a_service_is_an_error_naming_the_role_without_retrying() -> None:
    fault = {"api": "run", "status": 403, "path_regex": "/services/netra-auth-service$"}
    with Simulator(world(faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
        assert sim.log.count(api="run", path_contains="netra-auth-service") == 1
    assert result.status == Status.ERROR
    assert "permission denied reading Cloud Run service netra-auth-service" in result.summary
    assert "roles/run.viewer" in result.remediation


def test_deleted_connector_still_referenced_by_revisions_fails_naming_it() -> None:
    with Simulator("connector-deleted") as sim:
        result = run(configure(sim))
        lookups = [e.path for e in sim.log.entries("vpcaccess")]
    assert result.status == Status.FAIL
    assert f"netra-backend-staging references VPC connector {CONNECTOR}, which does not exist" in result.summary
    assert f"netra-auth-service references VPC connector {CONNECTOR}, which does not exist" in result.summary
    assert result.evidence["connectors_missing"] == [CONNECTOR]
    assert result.evidence["connectors_in_region"] == []
    assert sorted(lookups) == ["/v1/projects/netra-staging/locations/us-central1/connectors", f"/v1/{CONNECTOR}"]


def test_secret_manager_denied_on_a_matching_world_reports_what_was_compared() -> None:
    fault = {"api": "secretmanager", "status": 403}
    with Simulator(world(faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
    assert result.status == Status.WARN, result.summary
    assert result.summary.startswith("3 of 3 services match the configuration (connector, egress, Cloud SQL")
    assert "not verified: whether referenced secrets exist (permission denied" in result.summary
    assert "roles/secretmanager.viewer" in result.remediation


def test_vpc_access_denied_reports_what_was_compared() -> None:
    fault = {"api": "vpcaccess", "status": 403}
    with Simulator(world(faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
    assert result.status == Status.WARN, result.summary
    assert "not verified: whether referenced VPC connectors exist (permission denied" in result.summary
    assert "roles/vpcaccess.viewer" in result.remediation


def test_secret_manager_denied_still_reports_the_services_drift() -> None:
    fault = {"api": "secretmanager", "status": 403}
    with Simulator(world("drift", faults=(fault,))) as sim:
        result = run(configure(sim, FAST))
    assert result.status == Status.FAIL
    assert "uses connector staging-connector-v2" in result.summary
    assert "permission denied" in result.evidence["not_verified"]["secrets"]
    assert "not verified: whether referenced secrets exist (permission denied" in result.summary


def test_malformed_service_answer_is_an_error() -> None:
    with Simulator("api-malformed") as sim:
        result = run(configure(sim, FAST))
    assert result.status == Status.ERROR
    assert re.match(
        r"unparseable answer from run for Cloud Run service netra-[a-z-]+: Failed to load JSON", result.summary
    )
    assert result.evidence["error_type"] == "ParseError"


def test_hanging_service_read_ends_in_error_within_the_deadline() -> None:
    fault = {"api": "run", "path_regex": "/services/netra-backend-staging$", "hang": True}
    with Simulator(world(faults=(fault,))) as sim:
        started = time.monotonic()
        result = run(configure(sim, FAST))
        elapsed = time.monotonic() - started
    assert result.status == Status.ERROR
    assert "Cloud Run service netra-backend-staging" in result.summary
    assert elapsed < 3 + 1.5


async def _connector_and_drift_sharing_reads(config: RunbookConfig) -> list[CheckResult]:
    """vpc-connector and service-drift concurrently, sharing their reads as phase 1 does."""
    from runbook.google.shared_reads import ConnectorReads
    from tasks.vpc_access import vpc_connector

    clients, shared = GoogleClients(config.gcp), ConnectorReads()
    checks = vpc_connector.fn(config, clients, shared), service_drift_check.fn(config, clients, None, shared)
    return list(await asyncio.gather(*checks))


def test_vpc_connector_and_service_drift_read_the_configured_connector_once_in_a_phase() -> None:
    with Simulator("healthy") as sim:
        connector, drift = asyncio.run(_connector_and_drift_sharing_reads(configure(sim)))
        reads = sim.log.count(api="vpcaccess", method="GET", path_contains="/connectors/staging-connector")
    assert connector.status == Status.PASS and drift.status == Status.PASS, (connector.summary, drift.summary)
    assert reads == 1


def test_a_connector_missing_for_both_checks_is_read_once_and_fails_both() -> None:
    with Simulator("connector-deleted") as sim:
        connector, drift = asyncio.run(_connector_and_drift_sharing_reads(configure(sim)))
        reads = sim.log.count(api="vpcaccess", method="GET", path_contains="/connectors/staging-connector")
    assert connector.status == Status.FAIL and drift.status == Status.FAIL, (connector.summary, drift.summary)
    assert reads == 1  # the 404 is an answer, shared like any other


def test_vpc_access_down_all_run_fails_both_checks_from_one_read_as_soon_as_it_fails() -> None:
    """vpc-connector reads the connector for both; when that read fails, service-drift has its answer at once."""
    deadlines = {"vpc-connector": {"deadline_s": 2, "timeout_s": 1}, "service-drift": {"deadline_s": 8, "timeout_s": 1}}
    with Simulator("api-503-always") as sim:
        connector, drift = asyncio.run(_connector_and_drift_sharing_reads(configure(sim, {"checks": deadlines})))
        reads = sim.log.count(api="vpcaccess", method="GET", path_contains="/connectors/staging-connector")
    assert connector.status == Status.ERROR, connector.summary
    failure = f"vpcaccess kept failing for connector {CONNECTOR} after {reads} attempt(s)"
    assert connector.summary.startswith(failure) and connector.evidence["attempts"] == reads >= 2
    assert drift.status == Status.WARN and failure in drift.summary, drift.summary
    assert drift.duration_s < 2 + 1.5  # not its own 8 s deadline, re-reading an API that just failed
