"""The simulator's Google Cloud APIs, read through the REAL client libraries (REST; gRPC for Monitoring)."""

import datetime as dt
import time
from typing import Any
from urllib.parse import unquote

import pytest
import requests
from google.api_core import exceptions

from simulator.google.config import SqlInstanceConfig
from simulator.google.secret_manager import SIM_E2E_BYPASS_KEY
from simulator.scenario import deep_merge, list_scenarios, load_scenario
from simulator.server import Simulator
from tests.sim_fixtures import LOCATION, PROJECT, TIMEOUT, Clients, healthy, world
from tests.support import world as support_world

__all__ = ["healthy", "world"]  # fixtures

BACKEND = f"{LOCATION}/services/netra-backend-staging"
CONNECTOR = f"{LOCATION}/connectors/staging-connector"
ONE = {"timeout": TIMEOUT, "retry": None}


def scenario(*names: str) -> Any:
    return pytest.mark.parametrize("world", ["+".join(names)], indirect=True)


# --- scenarios -------------------------------------------------------------------------------------------------


def test_every_scenario_file_loads_and_describes_itself() -> None:
    scenarios = list_scenarios()
    assert "healthy" in scenarios
    for name, description in scenarios.items():
        assert description, name
        load_scenario(name)


def test_unknown_scenario_names_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown scenario no-such-thing; known scenarios: .*connector-error"):
        load_scenario("sql-stopped+no-such-thing")


def test_overlays_merge_tables_and_concatenate_faults() -> None:
    merged = load_scenario("api-503-twice+api-429+sql-stopped+connector-error")
    assert [fault.status for fault in merged.google.faults] == [503, 429]
    assert merged.google.sqladmin.instances["netra-staging-db"].activation_policy == "NEVER"
    assert merged.google.sqladmin.instances["netra-staging-db"].private_network.endswith("staging-vpc")
    assert merged.google.vpcaccess.connectors["staging-connector"].state == "ERROR"
    assert deep_merge({"a": [1], "b": {"c": 1}}, {"a": [2], "b": {"d": 2}}) == {"a": [2], "b": {"c": 1, "d": 2}}


def test_a_typo_in_a_scenario_is_an_error_naming_the_key() -> None:
    from simulator.google.config import GoogleConfig

    with pytest.raises(ValueError, match="stat"):
        GoogleConfig.model_validate({"vpcaccess": {"connectors": {"x": {"stat": "READY"}}}})


# --- the healthy world -----------------------------------------------------------------------------------------


def test_healthy_connector_is_ready_on_staging_vpc(healthy: Clients) -> None:
    from google.cloud import vpcaccess_v1

    client = healthy.vpcaccess()
    connector = client.get_connector(name=CONNECTOR, **ONE)
    assert connector.state == vpcaccess_v1.Connector.State.READY
    assert (connector.network, connector.ip_cidr_range) == ("staging-vpc", "10.2.0.0/28")
    assert (connector.min_instances, connector.max_instances, connector.machine_type) == (2, 10, "e2-micro")
    assert list(connector.connected_projects) == [PROJECT]
    assert [c.name for c in client.list_connectors(parent=LOCATION, **ONE)] == [CONNECTOR]


def test_healthy_database_is_runnable_private_and_ssl_only(healthy: Clients) -> None:
    from google.cloud import sqladmin_v1beta4 as sql

    client = healthy.sql()
    instance = client.get(request={"project": PROJECT, "instance": "netra-staging-db"}, **ONE)
    assert instance.state == sql.DatabaseInstance.SqlInstanceState.RUNNABLE
    assert instance.database_version == sql.SqlDatabaseVersion.POSTGRES_15
    assert instance.settings.activation_policy == sql.Settings.SqlActivationPolicy.ALWAYS
    ip = instance.settings.ip_configuration
    assert ip.private_network == "projects/netra-staging/global/networks/staging-vpc"
    assert ip.ssl_mode == sql.IpConfiguration.SslMode.ENCRYPTED_ONLY
    assert ip.ipv4_enabled is False and ip.require_ssl is False  # Cloud SQL's pair for PostgreSQL ENCRYPTED_ONLY
    assert [(a.type_, a.ip_address) for a in instance.ip_addresses] == [(sql.SqlIpAddressType.PRIVATE, "10.20.0.3")]
    assert instance.connection_name == "netra-staging:us-central1:netra-staging-db"
    listed = client.list(request={"project": PROJECT}, **ONE)
    assert [i.name for i in listed.items] == ["netra-staging-db"]


def test_healthy_cloud_run_services_are_ready_and_wired_to_vpc_sql_and_secrets(healthy: Clients) -> None:
    from google.cloud import run_v2

    client = healthy.services()
    services = {s.name.rsplit("/", 1)[1]: s for s in client.list_services(parent=LOCATION, **ONE)}
    assert set(services) == {"netra-backend-staging", "netra-auth-service", "netra-frontend-staging"}
    for name, service in services.items():
        assert service.terminal_condition.type_ == "Ready"
        assert service.terminal_condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED
        assert service.latest_ready_revision == service.latest_created_revision
        assert service.traffic[0].type_ == run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST
        assert service.traffic[0].percent == 100 and service.traffic_statuses[0].percent == 100
        assert service.uri == f"{healthy.sim.url}/services/{name}"
    backend = client.get_service(name=BACKEND, **ONE)
    template = backend.template
    assert template.vpc_access.connector == CONNECTOR
    assert template.vpc_access.egress == run_v2.VpcAccess.VpcEgress.PRIVATE_RANGES_ONLY
    assert list(template.volumes[0].cloud_sql_instance.instances) == ["netra-staging:us-central1:netra-staging-db"]
    assert (template.scaling.min_instance_count, template.scaling.max_instance_count) == (2, 15)
    assert template.containers[0].ports[0].container_port == 8000
    assert template.timeout == dt.timedelta(seconds=300)
    refs = [e.value_source.secret_key_ref for e in template.containers[0].env if e.value_source.secret_key_ref.secret]
    assert len(refs) == 24 and len({r.secret for r in refs}) == 20 and {r.version for r in refs} == {"latest"}
    auth_env = services["netra-auth-service"].template.containers[0].env
    assert {"oauth-hmac-secret-staging", "e2e-oauth-simulation-key-staging"} <= {
        e.value_source.secret_key_ref.secret for e in auth_env
    }
    assert not services["netra-frontend-staging"].template.vpc_access.connector


def test_healthy_revisions_match_their_service(healthy: Clients) -> None:
    from google.cloud import run_v2

    service = healthy.services().get_service(name=BACKEND, **ONE)
    client = healthy.revisions()
    revisions = list(client.list_revisions(parent=BACKEND, **ONE))
    assert revisions[0].name == service.latest_created_revision
    assert revisions[0].name.rsplit("/", 1)[1].startswith("netra-backend-staging-00042-")
    revision = client.get_revision(name=service.latest_ready_revision, **ONE)
    ready = next(c for c in revision.conditions if c.type_ == "Ready")
    assert ready.state == run_v2.Condition.State.CONDITION_SUCCEEDED
    assert revision.vpc_access.connector == CONNECTOR and revision.service == BACKEND
    with pytest.raises(exceptions.NotFound, match="REVISION"):
        client.get_revision(name=f"{BACKEND}/revisions/netra-backend-staging-00001-zzz", **ONE)


def test_secrets_are_named_by_project_number_and_paginate(healthy: Clients) -> None:
    from google.cloud import secretmanager_v1

    client = healthy.secrets()
    pager = client.list_secrets(request={"parent": f"projects/{PROJECT}"}, **ONE)
    names = [s.name for s in pager]
    assert len(names) == 22 and all(n.startswith("projects/123456789012/secrets/") for n in names)
    calls_before = healthy.sim.log.count("secretmanager", path_contains="/secrets")
    small_pages = client.list_secrets(request={"parent": f"projects/{PROJECT}", "page_size": 5}, **ONE)
    assert [s.name for s in small_pages] == names
    assert healthy.sim.log.count("secretmanager", path_contains="/secrets") - calls_before == 5  # 5+5+5+5+2
    version = client.get_secret_version(name=f"projects/{PROJECT}/secrets/jwt-secret-staging/versions/latest", **ONE)
    assert version.name == "projects/123456789012/secrets/jwt-secret-staging/versions/2"
    assert version.state == secretmanager_v1.SecretVersion.State.ENABLED
    versions = list(client.list_secret_versions(parent=f"projects/{PROJECT}/secrets/jwt-secret-staging", **ONE))
    assert [v.state.name for v in versions] == ["ENABLED", "DISABLED"]


def test_only_an_explicit_access_reads_a_payload_and_the_log_shows_it(healthy: Clients) -> None:
    client = healthy.secrets()
    client.get_secret(name=f"projects/{PROJECT}/secrets/e2e-oauth-simulation-key-staging", **ONE)
    assert healthy.sim.log.count("secretmanager", path_contains=":access") == 0
    name = f"projects/{PROJECT}/secrets/e2e-oauth-simulation-key-staging/versions/latest"
    response = client.access_secret_version(name=name, **ONE)  # the CRC32C is verified by the test below
    assert response.payload.data.decode() == SIM_E2E_BYPASS_KEY
    assert healthy.sim.log.count("secretmanager", path_contains=":access") == 1


def test_payload_checksum_is_a_real_crc32c() -> None:
    from simulator.google.secret_manager import crc32c

    assert crc32c(b"123456789") == 0xE3069283


def test_load_balancer_timeouts_and_health_check(healthy: Clients) -> None:
    from google.cloud import compute_v1

    backends = healthy.backend_services()
    timeouts = {b.name: b.timeout_sec for b in backends.list(project=PROJECT, **ONE)}
    assert timeouts == {"netra-backend-staging-bs": 86400, "netra-auth-service-bs": 30, "netra-frontend-staging-bs": 30}
    backend = backends.get(project=PROJECT, backend_service="netra-backend-staging-bs", **ONE)
    assert backend.protocol == "HTTPS" and backend.backends[0].group.endswith("netra-backend-staging-neg")
    health = backends.get_health(
        project=PROJECT,
        backend_service="netra-backend-staging-bs",
        resource_group_reference_resource=compute_v1.ResourceGroupReference(group=backend.backends[0].group),
        **ONE,
    )
    assert health.kind == "compute#backendServiceGroupHealth" and not health.health_status
    check = healthy.health_checks().get(project=PROJECT, health_check="staging-health-check", **ONE)
    assert (check.type_, check.http_health_check.request_path) == ("HTTP", "/health")
    assert (check.check_interval_sec, check.timeout_sec, check.healthy_threshold, check.unhealthy_threshold) == (
        10,
        5,
        2,
        3,
    )
    with pytest.raises(exceptions.NotFound, match="was not found"):
        backends.get(project=PROJECT, backend_service="nope", **ONE)


def _list_request_counts(
    clients: Clients, minutes: int = 5, timeout: float = TIMEOUT, retry: Any = None, **extra: Any
) -> list[Any]:
    from google.cloud import monitoring_v3

    now = time.time()
    request = {
        "name": f"projects/{PROJECT}",
        "filter": 'metric.type = "run.googleapis.com/request_count"',
        "interval": monitoring_v3.TimeInterval(
            start_time=dt.datetime.fromtimestamp(now - minutes * 60, dt.UTC),
            end_time=dt.datetime.fromtimestamp(now, dt.UTC),
        ),
        **extra,
    }
    return list(clients.metrics().list_time_series(request=request, timeout=timeout, retry=retry))


def test_monitoring_request_counts_per_class_and_no_5xx_series_without_errors(healthy: Clients) -> None:
    series = _list_request_counts(healthy)
    classes = {(s.resource.labels["service_name"], s.metric.labels["response_code_class"]) for s in series}
    assert ("netra-backend-staging", "5xx") in classes
    assert ("netra-auth-service", "5xx") not in classes and ("netra-frontend-staging", "5xx") not in classes
    total = sum(
        p.value.int64_value
        for s in series
        if s.resource.labels["service_name"] == "netra-frontend-staging"
        for p in s.points
    )
    assert 950 <= total <= 1050  # ~1000 requests per 5 minutes
    assert all(s.metric.type == "run.googleapis.com/request_count" for s in series)


def test_monitoring_filter_and_aggregation_give_a_5xx_ratio(healthy: Clients) -> None:
    from google.cloud import monitoring_v3

    aggregation = monitoring_v3.Aggregation(
        alignment_period={"seconds": 600},
        per_series_aligner=monitoring_v3.Aggregation.Aligner.ALIGN_DELTA,
        cross_series_reducer=monitoring_v3.Aggregation.Reducer.REDUCE_SUM,
        group_by_fields=["metric.label.response_code_class"],
    )
    service_filter = (
        'metric.type = "run.googleapis.com/request_count" AND resource.labels.service_name = "netra-backend-staging"'
    )
    series = _list_request_counts(healthy, minutes=10, filter=service_filter, aggregation=aggregation)
    totals = {s.metric.labels["response_code_class"]: sum(p.value.int64_value for p in s.points) for s in series}
    assert set(totals) == {"2xx", "4xx", "5xx"}
    assert totals["5xx"] / sum(totals.values()) == pytest.approx(0.002, abs=0.001)
    assert all(len(s.points) == 1 and set(s.resource.labels) == set() for s in series)


def test_monitoring_rejects_a_bad_filter_with_invalid_argument(healthy: Clients) -> None:
    with pytest.raises(exceptions.InvalidArgument):
        _list_request_counts(healthy, filter="metric.type ~ nonsense")


# --- Cloud Run update (long-running operation) -----------------------------------------------------------------


@scenario("healthy")
def test_update_service_operation_completes_with_a_new_ready_revision(world: Clients) -> None:
    client = world.services()
    service = client.get_service(name=BACKEND, **ONE)
    service.template.scaling.min_instance_count = 3
    operation = client.update_service(service=service, **ONE)
    updated = operation.result(timeout=TIMEOUT, retry=None, polling=None)
    assert updated.template.scaling.min_instance_count == 3
    assert updated.latest_created_revision.endswith(
        "netra-backend-staging-00043-" + updated.latest_created_revision[-3:]
    )
    assert updated.latest_ready_revision == updated.latest_created_revision
    assert world.sim.log.count("run", method="PATCH") == 1


# --- fault overlays --------------------------------------------------------------------------------------------


@scenario("connector-error")
def test_connector_error_is_visible_as_the_error_enum(world: Clients) -> None:
    from google.cloud import vpcaccess_v1

    assert world.vpcaccess().get_connector(name=CONNECTOR, **ONE).state == vpcaccess_v1.Connector.State.ERROR


@scenario("connector-creating")
def test_creating_connector_becomes_ready_after_the_configured_reads(world: Clients) -> None:
    client = world.vpcaccess()
    states = [client.get_connector(name=CONNECTOR, **ONE).state.name for _ in range(4)]
    assert states == ["CREATING", "CREATING", "CREATING", "READY"]


@pytest.mark.parametrize(
    ("version", "mode", "require_ssl"),
    [
        ("POSTGRES_15", "ALLOW_UNENCRYPTED_AND_ENCRYPTED", False),
        ("POSTGRES_15", "ENCRYPTED_ONLY", False),
        ("POSTGRES_15", "TRUSTED_CLIENT_CERTIFICATE_REQUIRED", True),
        ("SQLSERVER_2019_STANDARD", "ENCRYPTED_ONLY", True),
    ],
)
def test_require_ssl_follows_ssl_mode_as_cloud_sql_reports_it(version: str, mode: str, require_ssl: bool) -> None:
    config = SqlInstanceConfig(database_version=version, ssl_mode=mode)  # type: ignore[arg-type]
    assert config.effective_require_ssl is require_ssl


def test_a_require_ssl_that_cloud_sql_would_not_report_is_a_scenario_error() -> None:
    with pytest.raises(ValueError, match="require_ssl true does not go with ssl_mode ENCRYPTED_ONLY on POSTGRES_15"):
        SqlInstanceConfig(ssl_mode="ENCRYPTED_ONLY", require_ssl=True)


def test_numeric_enums_are_answered_when_asked_as_the_client_libraries_ask(healthy: Clients) -> None:
    from google.cloud import sqladmin_v1beta4 as sql
    from google.cloud import vpcaccess_v1

    url, numeric = healthy.sim.url, {"$alt": "json;enum-encoding=int"}
    named = requests.get(f"{url}/v1/{CONNECTOR}", timeout=TIMEOUT).json()
    assert named["state"] == "READY"
    assert requests.get(f"{url}/v1/{CONNECTOR}", params=numeric, timeout=TIMEOUT).json()["state"] == (
        vpcaccess_v1.Connector.State.READY.value
    )
    instance = requests.get(
        f"{url}/sql/v1beta4/projects/{PROJECT}/instances/netra-staging-db", params=numeric, timeout=TIMEOUT
    ).json()
    assert instance["databaseVersion"] == sql.SqlDatabaseVersion.POSTGRES_15.value == 172  # not a list position
    assert instance["settings"]["ipConfiguration"]["sslMode"] == sql.IpConfiguration.SslMode.ENCRYPTED_ONLY.value
    assert instance["name"] == "netra-staging-db" and instance["kind"] == "sql#instance"  # the rest unchanged
    # The REST transports ask for numbers on every call, and read them back as the same enums.
    before = len(healthy.sim.log.entries("vpcaccess"))
    assert healthy.vpcaccess().get_connector(name=CONNECTOR, **ONE).state.name == "READY"
    assert "$alt=json;enum-encoding=int" in unquote(healthy.sim.log.entries("vpcaccess")[before].query)


def test_creating_connectors_clock_starts_at_its_first_read_not_at_simulator_start() -> None:
    slow = {"connectors": {"staging-connector": {"state": "CREATING", "ready_after_seconds": 0.4}}}
    with Simulator(support_world(vpcaccess=slow)) as sim:
        client = Clients(sim).vpcaccess()
        time.sleep(0.6)  # a long start-up (Prefect's, in a CLI run) before anyone reads the connector
        first = client.get_connector(name=CONNECTOR, **ONE).state.name
        time.sleep(0.5)
        later = client.get_connector(name=CONNECTOR, **ONE).state.name
    assert (first, later) == ("CREATING", "READY")


@scenario("sql-stopped")
def test_stopped_database_is_runnable_with_activation_policy_never(world: Clients) -> None:
    instance = world.sql().get(request={"project": PROJECT, "instance": "netra-staging-db"}, **ONE)
    assert (instance.state.name, instance.settings.activation_policy.name) == ("RUNNABLE", "NEVER")


@scenario("sql-maintenance")
def test_database_in_maintenance(world: Clients) -> None:
    assert (
        world.sql().get(request={"project": PROJECT, "instance": "netra-staging-db"}, **ONE).state.name == "MAINTENANCE"
    )


@scenario("sql-no-private-network")
def test_database_without_private_network(world: Clients) -> None:
    instance = world.sql().get(request={"project": PROJECT, "instance": "netra-staging-db"}, **ONE)
    assert instance.settings.ip_configuration.private_network == ""
    assert instance.settings.ip_configuration.ipv4_enabled is True
    assert [a.type_.name for a in instance.ip_addresses] == ["PRIMARY"]


@scenario("secret-missing")
def test_missing_secret_is_not_listed_and_not_found(world: Clients) -> None:
    client = world.secrets()
    names = [s.name.rsplit("/", 1)[1] for s in client.list_secrets(parent=f"projects/{PROJECT}", **ONE)]
    assert len(names) == 21 and "jwt-secret-staging" not in names
    with pytest.raises(exceptions.NotFound, match="jwt-secret-staging"):
        client.get_secret(name=f"projects/{PROJECT}/secrets/jwt-secret-staging", **ONE)


@scenario("secret-disabled")
def test_disabled_latest_version_is_reported_and_cannot_be_accessed(world: Clients) -> None:
    client = world.secrets()
    name = f"projects/{PROJECT}/secrets/service-secret-staging/versions/latest"
    assert client.get_secret_version(name=name, **ONE).state.name == "DISABLED"
    with pytest.raises(exceptions.BadRequest, match="DISABLED state"):  # FAILED_PRECONDITION is HTTP 400
        client.access_secret_version(name=name, **ONE)


@scenario("lb-timeout-short")
def test_short_backend_timeout(world: Clients) -> None:
    backend = world.backend_services().get(project=PROJECT, backend_service="netra-backend-staging-bs", **ONE)
    assert backend.timeout_sec == 30


@scenario("high-5xx")
def test_high_5xx_ratio(world: Clients) -> None:
    series = _list_request_counts(world, minutes=10)
    backend = [s for s in series if s.resource.labels["service_name"] == "netra-backend-staging"]
    totals = {s.metric.labels["response_code_class"]: sum(p.value.int64_value for p in s.points) for s in backend}
    assert totals["5xx"] / sum(totals.values()) == pytest.approx(0.12, abs=0.01)


@scenario("metrics-delayed")
def test_delayed_metrics_leave_a_short_window_empty(world: Clients) -> None:
    assert _list_request_counts(world, minutes=2) == []
    assert _list_request_counts(world, minutes=10)


@scenario("revision-not-ready")
def test_failed_latest_revision_keeps_the_previous_one_ready(world: Clients) -> None:
    service = world.services().get_service(name=BACKEND, **ONE)
    assert service.latest_created_revision != service.latest_ready_revision
    assert "-00043-" in service.latest_created_revision and "-00042-" in service.latest_ready_revision
    assert service.terminal_condition.state.name == "CONDITION_FAILED"
    revision = world.revisions().get_revision(name=service.latest_created_revision, **ONE)
    ready = next(c for c in revision.conditions if c.type_ == "Ready")
    assert ready.state.name == "CONDITION_FAILED" and "PORT=8000" in ready.message
    assert ready.revision_reason.name == "HEALTH_CHECK_CONTAINER_ERROR"


@scenario("traffic-pinned")
def test_traffic_pinned_to_an_older_revision(world: Clients) -> None:
    service = world.services().get_service(name=BACKEND, **ONE)
    (target,) = service.traffic
    assert target.type_.name == "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION" and target.percent == 100
    assert target.revision.startswith("netra-backend-staging-00040-")
    assert world.revisions().get_revision(name=f"{BACKEND}/revisions/{target.revision}", **ONE)


@scenario("drift")
def test_drift_shows_the_deploy_scripts_settings(world: Clients) -> None:
    template = world.services().get_service(name=BACKEND, **ONE).template
    assert template.vpc_access.connector.endswith("/connectors/staging-connector-v2")
    assert template.vpc_access.egress.name == "ALL_TRAFFIC"
    assert list(template.volumes[0].cloud_sql_instance.instances) == [
        "netra-staging:us-central1:staging-shared-postgres"
    ]


@scenario("api-403")
def test_permission_denied_names_the_permission(world: Clients) -> None:
    with pytest.raises(exceptions.Forbidden, match=r"Permission 'vpcaccess.connectors.get' denied"):
        world.vpcaccess().get_connector(name=CONNECTOR, **ONE)
    assert world.sim.log.entries("vpcaccess")[-1].status == 403


@scenario("api-404")
def test_missing_connector_while_others_exist(world: Clients) -> None:
    client = world.vpcaccess()
    with pytest.raises(exceptions.NotFound, match="staging-connector"):
        client.get_connector(name=CONNECTOR, **ONE)
    assert [c.name.rsplit("/", 1)[1] for c in client.list_connectors(parent=LOCATION, **ONE)] == [
        "staging-connector-v2"
    ]


@scenario("api-429")
def test_rate_limited_once_with_retry_after_then_success(world: Clients) -> None:
    client = world.secrets()
    with pytest.raises(exceptions.TooManyRequests) as caught:
        client.get_secret(name=f"projects/{PROJECT}/secrets/jwt-secret-staging", **ONE)
    assert caught.value.response is not None and caught.value.response.headers["Retry-After"] == "1"
    assert client.get_secret(name=f"projects/{PROJECT}/secrets/jwt-secret-staging", **ONE).name


@scenario("api-503-twice")
def test_unavailable_twice_then_success(world: Clients) -> None:
    client = world.vpcaccess()
    for _ in range(2):
        with pytest.raises(exceptions.ServiceUnavailable):
            client.get_connector(name=CONNECTOR, **ONE)
    assert client.get_connector(name=CONNECTOR, **ONE).state.name == "READY"
    assert [e.status for e in world.sim.log.entries("vpcaccess")] == [503, 503, 200]


@scenario("api-slow")
def test_slow_api_adds_latency(world: Clients) -> None:
    started = time.monotonic()
    world.vpcaccess().get_connector(name=CONNECTOR, timeout=TIMEOUT, retry=None)
    assert 2.0 <= time.monotonic() - started < 4.0


@scenario("api-hang")
def test_hanging_api_is_cut_by_the_clients_timeout_and_stop_stays_prompt(world: Clients) -> None:
    started = time.monotonic()
    with pytest.raises(requests.exceptions.Timeout):
        world.sql().get(request={"project": PROJECT, "instance": "netra-staging-db"}, timeout=0.5, retry=None)
    assert time.monotonic() - started < 2.0


def test_stop_returns_promptly_while_a_request_hangs() -> None:
    import threading

    sim = Simulator("api-hang").start()
    url = f"{sim.url}/sql/v1beta4/projects/{PROJECT}/instances/netra-staging-db"
    answers: list[int] = []
    thread = threading.Thread(target=lambda: answers.append(requests.get(url, timeout=10).status_code), daemon=True)
    thread.start()
    time.sleep(0.3)  # let the request reach the server and start hanging
    started = time.monotonic()
    sim.stop()
    assert time.monotonic() - started < 3.0
    thread.join(5)
    assert answers == [503]
    assert sim.log.entries("sqladmin")[0].status == 503


@scenario("api-malformed")
def test_malformed_answer_raises(world: Clients) -> None:
    from google.protobuf.json_format import ParseError

    with pytest.raises(ParseError, match=r"^Failed to load JSON: Unterminated string"):
        world.services().get_service(name=BACKEND, **ONE)


@scenario("sql-stopped+connector-error+api-503-twice")
def test_overlays_compose(world: Clients) -> None:
    client = world.vpcaccess()
    for _ in range(2):
        with pytest.raises(exceptions.ServiceUnavailable):
            client.get_connector(name=CONNECTOR, **ONE)
    assert client.get_connector(name=CONNECTOR, **ONE).state.name == "ERROR"
    instance = world.sql().get(request={"project": PROJECT, "instance": "netra-staging-db"}, **ONE)
    assert instance.settings.activation_policy.name == "NEVER"


def test_monitoring_faults_apply_to_grpc() -> None:
    fault = {"api": "monitoring", "status": 403, "times": 1, "message": "Permission denied."}
    with Simulator(_with_google("healthy", faults=[fault])) as sim:
        clients = Clients(sim)
        try:
            with pytest.raises(exceptions.PermissionDenied):
                _list_request_counts(clients)
            assert _list_request_counts(clients)
        finally:
            clients.close()
        assert [e.status for e in sim.log.entries("monitoring")] == [403, 200]


def test_unknown_project_is_permission_denied_and_every_request_is_logged(healthy: Clients) -> None:
    with pytest.raises(exceptions.Forbidden, match=r"vpcaccess\.connectors\.get"):
        healthy.vpcaccess().get_connector(name="projects/other/locations/us-central1/connectors/x", **ONE)
    entry = healthy.sim.log.entries("vpcaccess")[-1]
    assert (entry.method, entry.status) == ("GET", 403) and entry.path.endswith("/connectors/x")


def _with_google(name: str, **google: Any) -> Any:
    """Scenario `name` with `google` deep-merged into its `[google]` table (one-off worlds without a file)."""
    base = load_scenario(name)
    merged = base.google.model_validate(deep_merge(base.google.model_dump(), google))
    return base.model_copy(update={"google": merged})


def test_monitoring_hang_is_cut_by_the_grpc_deadline_and_stop_stays_prompt() -> None:
    world_ = _with_google("healthy", faults=[{"api": "monitoring", "hang": True}])
    sim = Simulator(world_).start()
    clients = Clients(sim)
    try:
        started = time.monotonic()
        with pytest.raises(exceptions.DeadlineExceeded):
            _list_request_counts(clients, timeout=0.5, retry=None)
        assert time.monotonic() - started < 2.0
    finally:
        clients.close()
        started = time.monotonic()
        sim.stop()
        assert time.monotonic() - started < 3.0


def test_per_api_latency_setting_slows_only_that_api() -> None:
    with Simulator(_with_google("healthy", api_latency_ms={"compute": 300})) as sim:
        started = time.monotonic()
        requests.get(f"{sim.url}/v1/{CONNECTOR}", timeout=TIMEOUT).raise_for_status()
        fast = time.monotonic() - started
        started = time.monotonic()
        requests.get(f"{sim.url}/compute/v1/projects/{PROJECT}/global/healthChecks", timeout=TIMEOUT)
        slow = time.monotonic() - started
    assert fast < 0.25 <= 0.3 <= slow < 1.5


def test_cloud_sql_connector_reaches_postgres_through_the_simulated_server_proxy(postgres: Any) -> None:
    """cloud-sql-python-connector: connectSettings, generateEphemeralCert, then mutual TLS on port 3307."""
    import asyncio

    from google.cloud.sql.connector import Connector, IPTypes, RefreshStrategy
    from google.oauth2.credentials import Credentials

    world_ = _with_google("sql-localhost", sqladmin={"proxy_upstream": f"127.0.0.1:{postgres.port}"})

    async def select_one(sim: Simulator) -> int:
        connector = Connector(
            ip_type=IPTypes.PRIVATE,
            timeout=int(TIMEOUT),
            credentials=Credentials(token="simulator"),
            loop=asyncio.get_running_loop(),
            sqladmin_api_endpoint=sim.url,
            refresh_strategy=RefreshStrategy.LAZY,
        )
        try:
            connection = await connector.connect_async(
                "netra-staging:us-central1:netra-staging-db",
                "asyncpg",
                user=postgres.user,
                password=postgres.password,
                db=postgres.dbname,
            )
            try:
                return int(await connection.fetchval("SELECT 1"))
            finally:
                await connection.close()
        finally:
            await connector.close_async()

    with Simulator(world_) as sim:
        assert asyncio.run(asyncio.wait_for(select_one(sim), 3 * TIMEOUT)) == 1
        assert sim.log.count("sqladmin", "GET", "/connectSettings") == 1
        assert sim.log.count("sqladmin", "POST", ":generateEphemeralCert") == 1
