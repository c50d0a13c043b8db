"""cloud-sql-instance: the decision on real `sqladmin_v1beta4.DatabaseInstance` objects, and the check against the
simulator (the real v1beta4 REST client, every fault the check must survive)."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import sqladmin_v1beta4 as sql

from runbook.config.files import load_config
from runbook.config.models import CloudSqlConfig, GcpConfig, RunbookConfig
from runbook.google.clients import GoogleClients
from runbook.results import Status
from simulator.scenario import Scenario, deep_merge, load_scenario
from simulator.server import Simulator
from tasks.cloud_sql import cloud_sql_instance, decide_instance, decide_instance_missing, private_ip, ssl_enforced

pytestmark = pytest.mark.timeout(60)

POLICY = CloudSqlConfig(instance="netra-staging-db", network="staging-vpc", require_ssl=True)
PROJECT = "netra-staging"
NETWORK_PATH = f"projects/{PROJECT}/global/networks/staging-vpc"
INSTANCE_PATH = "/instances/netra-staging-db"


def instance(
    state: str = "RUNNABLE",
    activation: str = "ALWAYS",
    network: str = NETWORK_PATH,
    ssl_mode: str = "ENCRYPTED_ONLY",
    require_ssl: bool | None = True,
    addresses: tuple[tuple[str, str], ...] = (("PRIVATE", "10.20.0.3"),),
    name: str = "netra-staging-db",
) -> sql.DatabaseInstance:
    ip_config: dict[str, Any] = {"private_network": network, "ssl_mode": ssl_mode}
    if require_ssl is not None:
        ip_config["require_ssl"] = require_ssl
    return sql.DatabaseInstance(
        name=name,
        state=state,
        database_version="POSTGRES_15",
        connection_name=f"{PROJECT}:us-central1:{name}",
        settings=sql.Settings(activation_policy=activation, ip_configuration=sql.IpConfiguration(**ip_config)),
        ip_addresses=[sql.IpMapping(type_=kind, ip_address=address) for kind, address in addresses],
    )


# --- decision ----------------------------------------------------------------------------------------------------


def test_runnable_private_ssl_enforced_instance_passes_with_its_private_ip() -> None:
    finding = decide_instance(instance(), POLICY, PROJECT)
    assert finding.status == Status.PASS
    assert finding.evidence["private_ip"] == "10.20.0.3"
    assert "RUNNABLE (ALWAYS), private IP 10.20.0.3 on staging-vpc" in finding.summary


def test_stopped_instance_runnable_with_activation_never_fails_as_stopped() -> None:
    finding = decide_instance(instance(activation="NEVER"), POLICY, PROJECT)
    assert finding.status == Status.FAIL
    assert "stopped" in finding.summary
    assert "gcloud sql instances patch netra-staging-db --activation-policy=ALWAYS --project netra-staging" in (
        finding.remediation
    )


@pytest.mark.parametrize("state", ["SUSPENDED", "FAILED", "PENDING_DELETE", "REPAIRING"])
def test_instance_in_a_bad_state_fails_naming_the_state(state: str) -> None:
    finding = decide_instance(instance(state=state), POLICY, PROJECT)
    assert finding.status == Status.FAIL
    assert f"state {state}, expected RUNNABLE" in finding.summary
    assert "gcloud sql instances describe netra-staging-db" in finding.remediation


def test_instance_still_in_maintenance_after_the_wait_fails_saying_how_long() -> None:
    finding = decide_instance(instance(state="MAINTENANCE"), POLICY, PROJECT, waited_s=30)
    assert finding.status == Status.FAIL
    assert "still MAINTENANCE after waiting 30.0 s" in finding.summary
    assert "gcloud sql operations list --instance netra-staging-db" in finding.remediation


def test_instance_without_private_network_fails_with_the_patch_command() -> None:
    finding = decide_instance(instance(network="", addresses=(("PRIMARY", "34.42.17.9"),)), POLICY, PROJECT)
    assert finding.status == Status.FAIL
    assert "private network (none), expected staging-vpc" in finding.summary
    assert f"--network={NETWORK_PATH}" in finding.remediation
    assert finding.evidence["private_ip"] is None


def test_instance_on_another_network_fails() -> None:
    finding = decide_instance(instance(network=f"projects/{PROJECT}/global/networks/default"), POLICY, PROJECT)
    assert finding.status == Status.FAIL
    assert "networks/default, expected staging-vpc" in finding.summary


def test_private_network_without_a_private_address_fails() -> None:
    finding = decide_instance(instance(addresses=()), POLICY, PROJECT)
    assert finding.status == Status.FAIL
    assert "no PRIVATE IP address" in finding.summary


def test_ssl_not_enforced_warns_with_the_ssl_mode_command() -> None:
    finding = decide_instance(instance(ssl_mode="ALLOW_UNENCRYPTED_AND_ENCRYPTED", require_ssl=False), POLICY, PROJECT)
    assert finding.status == Status.WARN
    assert "SSL not enforced" in finding.summary
    assert "--ssl-mode=ENCRYPTED_ONLY" in finding.remediation


def test_encrypted_only_with_require_ssl_false_is_enforced_ssl_and_passes() -> None:
    finding = decide_instance(instance(ssl_mode="ENCRYPTED_ONLY", require_ssl=False), POLICY, PROJECT)
    assert finding.status == Status.PASS, finding.summary
    assert "SSL ENCRYPTED_ONLY" in finding.summary


def test_ssl_policy_off_means_no_warning() -> None:
    lax = CloudSqlConfig(instance="netra-staging-db", network="staging-vpc", require_ssl=False)
    finding = decide_instance(instance(ssl_mode="ALLOW_UNENCRYPTED_AND_ENCRYPTED", require_ssl=False), lax, PROJECT)
    assert finding.status == Status.PASS


@pytest.mark.parametrize(
    ("ssl_mode", "require_ssl", "enforced"),
    [
        ("ENCRYPTED_ONLY", False, True),  # the pair Google documents for PostgreSQL
        ("TRUSTED_CLIENT_CERTIFICATE_REQUIRED", True, True),
        ("ALLOW_UNENCRYPTED_AND_ENCRYPTED", True, False),  # sslMode has priority over requireSsl
        ("SSL_MODE_UNSPECIFIED", True, True),  # legacy instances: requireSsl alone
        ("SSL_MODE_UNSPECIFIED", None, False),
    ],
)
def test_ssl_mode_has_priority_over_the_legacy_require_ssl(
    ssl_mode: str, require_ssl: bool | None, enforced: bool
) -> None:
    ip_config = instance(ssl_mode=ssl_mode, require_ssl=require_ssl).settings.ip_configuration
    assert ssl_enforced(ip_config) is enforced


def test_private_ip_ignores_public_addresses() -> None:
    assert private_ip(instance(addresses=(("PRIMARY", "34.1.2.3"), ("PRIVATE", "10.9.0.5")))) == "10.9.0.5"


def test_missing_instance_decision_names_it_and_the_instances_found_instead() -> None:
    finding = decide_instance_missing(POLICY, PROJECT, [instance(name="staging-shared-postgres")])
    assert finding.status == Status.FAIL
    assert "instance netra-staging-db not found in netra-staging" in finding.summary
    assert "staging-shared-postgres" in finding.summary
    assert "[cloud_sql] instance" in finding.remediation
    assert "could not be listed (boom)" in decide_instance_missing(POLICY, PROJECT, None, "boom").summary


# --- against the simulator ---------------------------------------------------------------------------------------


def scenario(spec: str, overlay: dict[str, Any] | None = None) -> Scenario:
    loaded = load_scenario(spec)
    return Scenario(**deep_merge(loaded.model_dump(), overlay)) if overlay else loaded


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """A fresh simulator: `@pytest.mark.parametrize("sim", [spec or (spec, overlay)], indirect=True)`."""
    param = getattr(request, "param", "healthy")
    spec, overlay = param if isinstance(param, tuple) else (param, None)
    with Simulator(scenario(spec, overlay)) as running:
        yield running


def config(sim: Simulator, deadline_s: float = 10, timeout_s: float = 2) -> RunbookConfig:
    return load_config(
        "local",
        overrides={
            "gcp": {"endpoints": {"default": sim.url, "monitoring": sim.grpc_target}},
            "checks": {"cloud-sql-instance": {"deadline_s": deadline_s, "timeout_s": timeout_s}},
        },
    )


def gets(sim: Simulator) -> int:
    return sim.log.count(api="sqladmin", method="GET", path_contains=INSTANCE_PATH)


def lists(sim: Simulator) -> int:
    return sim.log.count(api="sqladmin", method="GET") - gets(sim)


async def run(sim: Simulator, **limits: float) -> Any:
    cfg = config(sim, **limits)
    return await cloud_sql_instance.fn(cfg, GoogleClients(cfg.gcp))


async def test_healthy_instance_passes_with_its_private_ip_in_evidence(sim: Simulator) -> None:
    result = await run(sim)
    assert result.status == Status.PASS, result.summary
    assert result.evidence["private_ip"] == "10.20.0.3"
    assert result.evidence["ssl_mode"] == "ENCRYPTED_ONLY"
    assert result.evidence["require_ssl"] is False  # what Cloud SQL reports for ENCRYPTED_ONLY: SSL is enforced
    assert result.attempts == 1
    assert (gets(sim), lists(sim)) == (1, 0)


@pytest.mark.parametrize("sim", ["sql-stopped"], indirect=True)
async def test_stopped_instance_fails_although_its_state_is_runnable(sim: Simulator) -> None:
    result = await run(sim)
    assert result.status == Status.FAIL
    assert "stopped (state RUNNABLE but activationPolicy NEVER)" in result.summary
    assert "--activation-policy=ALWAYS" in result.remediation
    assert gets(sim) == 1


@pytest.mark.parametrize("sim", ["sql-no-private-network"], indirect=True)
async def test_instance_without_private_network_fails(sim: Simulator) -> None:
    result = await run(sim)
    assert result.status == Status.FAIL
    assert "private network (none)" in result.summary
    assert result.evidence["private_ip"] is None


SUSPENDED = {"google": {"sqladmin": {"instances": {"netra-staging-db": {"state": "SUSPENDED"}}}}}
SSL_OFF = {
    "google": {
        "sqladmin": {
            "instances": {
                "netra-staging-db": {"ssl_mode": "ALLOW_UNENCRYPTED_AND_ENCRYPTED", "require_ssl": False},
            }
        }
    }
}


@pytest.mark.parametrize("sim", [("healthy", SUSPENDED)], indirect=True)
async def test_suspended_instance_fails_naming_the_state_without_waiting(sim: Simulator) -> None:
    result = await run(sim)
    assert result.status == Status.FAIL
    assert "state SUSPENDED" in result.summary
    assert gets(sim) == 1


@pytest.mark.parametrize("sim", [("healthy", SSL_OFF)], indirect=True)
async def test_instance_accepting_unencrypted_connections_warns(sim: Simulator) -> None:
    result = await run(sim)
    assert result.status == Status.WARN
    assert "SSL not enforced" in result.summary


@pytest.mark.parametrize("sim", ["sql-maintenance"], indirect=True)
async def test_instance_that_stays_in_maintenance_fails_at_the_deadline(sim: Simulator) -> None:
    started = time.monotonic()
    result = await run(sim, deadline_s=3, timeout_s=1)
    elapsed = time.monotonic() - started
    assert result.status == Status.FAIL
    assert "still MAINTENANCE after waiting" in result.summary
    assert 1.5 <= elapsed <= 3.5
    assert 2 <= gets(sim) <= 5


class SequenceOfInstances:
    """Stands in for SqlInstancesServiceClient where the simulator has no 'ready after' for Cloud SQL."""

    def __init__(self, *states: str) -> None:
        self.states = list(states)
        self.calls: list[dict[str, Any]] = []

    def get(self, request: Any = None, *, retry: Any, timeout: float) -> sql.DatabaseInstance:
        self.calls.append({"request": request, "retry": retry, "timeout": timeout})
        state = self.states.pop(0) if len(self.states) > 1 else self.states[0]
        return instance(state=state)


class ClientsWith(GoogleClients):
    def __init__(self, gcp: GcpConfig, sql_instances: SequenceOfInstances) -> None:
        super().__init__(gcp)
        self._sql = sql_instances

    @property
    def sql_instances(self) -> Any:
        return self._sql


async def test_instance_in_maintenance_is_polled_until_runnable_and_passes() -> None:
    cfg = load_config("local", overrides={"checks": {"cloud-sql-instance": {"deadline_s": 10, "timeout_s": 2}}})
    fake = SequenceOfInstances("MAINTENANCE", "MAINTENANCE", "RUNNABLE")
    result = await cloud_sql_instance.fn(cfg, ClientsWith(cfg.gcp, fake))
    assert result.status == Status.PASS, result.summary
    assert len(fake.calls) == 3
    assert all(call["retry"] is None and call["timeout"] <= 2 for call in fake.calls)
    assert fake.calls[0]["request"] == sql.SqlInstancesGetRequest(project=PROJECT, instance="netra-staging-db")


MISSING = {
    "google": {
        "sqladmin": {
            "instances": {
                "netra-staging-db": {"exists": False},
                "staging-shared-postgres": {"private_network": NETWORK_PATH},
            }
        }
    }
}


@pytest.mark.parametrize("sim", [("healthy", MISSING)], indirect=True)
async def test_missing_instance_fails_listing_the_instances_that_exist(sim: Simulator) -> None:
    result = await run(sim)
    assert result.status == Status.FAIL
    assert "instance netra-staging-db not found" in result.summary
    assert "staging-shared-postgres" in result.summary
    assert result.attempts == 1
    assert (gets(sim), lists(sim)) == (1, 1)


FORBIDDEN = {"google": {"faults": [{"api": "sqladmin", "path_regex": "/instances/[^/]+$", "status": 403}]}}
UNAVAILABLE_TWICE = {"google": {"faults": [{"api": "sqladmin", "status": 503, "times": 2}]}}
MALFORMED = {"google": {"faults": [{"api": "sqladmin", "path_regex": "/instances/[^/]+$", "malformed": True}]}}


@pytest.mark.parametrize("sim", [("healthy", FORBIDDEN)], indirect=True)
async def test_permission_denied_is_an_error_naming_the_cloudsql_viewer_role(sim: Simulator) -> None:
    result = await run(sim)
    assert result.status == Status.ERROR
    assert "roles/cloudsql.viewer" in result.remediation
    assert result.attempts == 1
    assert (gets(sim), lists(sim)) == (1, 0)


@pytest.mark.parametrize("sim", [("healthy", UNAVAILABLE_TWICE)], indirect=True)
async def test_transient_503s_are_retried_and_the_check_passes(sim: Simulator) -> None:
    result = await run(sim)
    assert result.status == Status.PASS, result.summary
    assert result.attempts == 3
    assert gets(sim) == 3


@pytest.mark.parametrize("sim", ["api-hang"], indirect=True)
async def test_hanging_admin_api_ends_as_error_within_the_deadline(sim: Simulator) -> None:
    started = time.monotonic()
    result = await run(sim, deadline_s=3, timeout_s=1)
    elapsed = time.monotonic() - started
    assert result.status == Status.ERROR
    assert "sqladmin" in result.summary
    assert elapsed <= 3.6


@pytest.mark.parametrize("sim", [("healthy", MALFORMED)], indirect=True)
async def test_malformed_answer_is_an_error(sim: Simulator) -> None:
    result = await run(sim, deadline_s=3, timeout_s=1)
    assert result.status == Status.ERROR
    assert result.summary.startswith("unparseable answer from sqladmin for instance netra-staging-db: Failed to load")
    assert result.evidence["error_type"] == "ParseError"
    assert gets(sim) == 1
