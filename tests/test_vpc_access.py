"""vpc-connector: the decision on real `vpcaccess_v1.Connector` objects, and the check against the simulator."""

import time
from collections.abc import Iterator
from typing import Any

import pytest
from google.cloud import vpcaccess_v1

from runbook.config.files import load_config
from runbook.config.models import RunbookConfig, VpcConnectorConfig
from runbook.google.clients import GoogleClients
from runbook.results import Status
from simulator.scenario import Scenario, load_scenario
from simulator.server import Simulator
from tasks.vpc_access import decide_connector, decide_connector_missing, vpc_connector

pytestmark = pytest.mark.timeout(60)

POLICY = VpcConnectorConfig(
    name="staging-connector", network="staging-vpc", ip_cidr_range="10.2.0.0/28", min_instances=2, max_instances=10
)
REGION, PROJECT = "us-central1", "netra-staging"
CONNECTOR_PATH = f"/locations/{REGION}/connectors/staging-connector"


def connector(**fields: Any) -> vpcaccess_v1.Connector:
    values: dict[str, Any] = {
        "name": f"projects/{PROJECT}/locations/{REGION}/connectors/staging-connector",
        "network": "staging-vpc",
        "ip_cidr_range": "10.2.0.0/28",
        "state": "READY",
        "min_instances": 2,
        "max_instances": 10,
        "machine_type": "e2-micro",
    }
    values.update(fields)
    return vpcaccess_v1.Connector(**values)


# --- decision ----------------------------------------------------------------------------------------------------


def test_ready_connector_on_expected_network_within_policy_passes() -> None:
    finding = decide_connector(connector(), POLICY, REGION, PROJECT)
    assert finding.status == Status.PASS
    assert "READY on staging-vpc" in finding.summary
    assert finding.evidence["state"] == "READY"
    assert finding.evidence["min_instances"] == 2


def test_connector_in_error_state_fails_with_delete_and_recreate_commands() -> None:
    finding = decide_connector(connector(state="ERROR"), POLICY, REGION, PROJECT)
    assert finding.status == Status.FAIL
    assert "state ERROR, expected READY" in finding.summary
    assert "gcloud compute networks vpc-access connectors delete staging-connector --region us-central1" in (
        finding.remediation
    )
    assert "create staging-connector --region us-central1 --project netra-staging --network staging-vpc" in (
        finding.remediation
    )
    assert "--range 10.2.0.0/28" in finding.remediation


def test_deleting_connector_fails() -> None:
    finding = decide_connector(connector(state="DELETING"), POLICY, REGION, PROJECT)
    assert finding.status == Status.FAIL
    assert "DELETING" in finding.summary
    assert "connectors create staging-connector" in finding.remediation
    assert "connectors delete" not in finding.remediation  # it is already going


def test_connector_still_creating_after_the_wait_fails_saying_how_long_it_waited() -> None:
    finding = decide_connector(connector(state="CREATING"), POLICY, REGION, PROJECT, waited_s=42.0)
    assert finding.status == Status.FAIL
    assert "still CREATING after waiting 42.0 s" in finding.summary
    assert finding.evidence["waited_s"] == 42.0
    assert "describe staging-connector" in finding.remediation


def test_connector_on_another_network_fails_naming_both_networks() -> None:
    finding = decide_connector(connector(network="default"), POLICY, REGION, PROJECT)
    assert finding.status == Status.FAIL
    assert "on network default, expected staging-vpc" in finding.summary
    assert "[vpc_connector] network" in finding.remediation


def test_network_given_as_full_path_matches_the_short_name() -> None:
    full = f"projects/{PROJECT}/global/networks/staging-vpc"
    assert decide_connector(connector(network=full), POLICY, REGION, PROJECT).status == Status.PASS


def test_off_policy_range_and_instance_bounds_warn_with_the_update_command() -> None:
    finding = decide_connector(
        connector(ip_cidr_range="10.1.0.0/28", min_instances=2, max_instances=3), POLICY, REGION, PROJECT
    )
    assert finding.status == Status.WARN
    assert "IP range 10.1.0.0/28, policy 10.2.0.0/28" in finding.summary
    assert "min 2 / max 3" in finding.summary
    assert "connectors update staging-connector --region us-central1 --project netra-staging" in finding.remediation
    assert "--max-instances 10" in finding.remediation


def test_failure_and_warnings_are_all_reported_not_only_the_first() -> None:
    finding = decide_connector(connector(state="ERROR", network="default", max_instances=3), POLICY, REGION, PROJECT)
    assert finding.status == Status.FAIL
    for part in ("state ERROR", "network default", "max 3"):
        assert part in finding.summary


def test_connector_reporting_only_throughput_is_judged_by_its_derived_instances() -> None:
    legacy = connector(min_instances=0, max_instances=0, min_throughput=200, max_throughput=1000)
    finding = decide_connector(legacy, POLICY, REGION, PROJECT)
    assert finding.status == Status.PASS
    assert (finding.evidence["min_instances"], finding.evidence["max_instances"]) == (2, 10)


def test_connector_reporting_no_instance_bounds_warns_they_are_unknown_not_zero() -> None:
    unreported = connector(min_instances=0, max_instances=0)  # left out of the JSON, like every zero
    finding = decide_connector(unreported, POLICY, REGION, PROJECT)
    assert finding.status == Status.WARN
    assert "instance bounds not reported (min ? / max ?), policy at least min 2 / max 10" in finding.summary
    assert "--min-instances" not in finding.remediation
    assert "vpc-access connectors describe staging-connector" in finding.remediation
    assert (finding.evidence["min_instances"], finding.evidence["max_instances"]) == (None, None)


def test_missing_connector_fails_naming_it_and_listing_the_existing_ones() -> None:
    others = [connector(name=f"projects/{PROJECT}/locations/{REGION}/connectors/staging-connector-v2")]
    finding = decide_connector_missing(POLICY, REGION, PROJECT, others)
    assert finding.status == Status.FAIL
    assert "connector staging-connector not found" in finding.summary
    assert "staging-connector-v2" in finding.summary
    assert finding.evidence["existing"] == ["staging-connector-v2"]
    assert "connectors create staging-connector --region us-central1" in finding.remediation


def test_missing_connector_says_when_none_exists_or_listing_failed() -> None:
    assert "no connector exists in us-central1" in decide_connector_missing(POLICY, REGION, PROJECT, []).summary
    failed = decide_connector_missing(POLICY, REGION, PROJECT, None, "permission denied")
    assert "could not be listed (permission denied)" in failed.summary
    assert failed.evidence["existing"] is None


# --- against the simulator ---------------------------------------------------------------------------------------


def scenario(spec: str, overlay: dict[str, Any] | None = None) -> Scenario:
    """A shipped scenario, optionally with an overlay of this test's own (faults concatenate)."""
    from simulator.scenario import deep_merge as merge_scenario

    loaded = load_scenario(spec)
    if not overlay:
        return loaded
    return Scenario(**merge_scenario(loaded.model_dump(), overlay))


def config(sim: Simulator, deadline_s: float = 10, timeout_s: float = 2) -> RunbookConfig:
    overrides = {
        "gcp": {"endpoints": {"default": sim.url, "monitoring": sim.grpc_target}},
        "checks": {"vpc-connector": {"deadline_s": deadline_s, "timeout_s": timeout_s}},
    }
    return load_config("local", overrides=overrides)


@pytest.fixture
def sim(request: pytest.FixtureRequest) -> Iterator[Simulator]:
    """A fresh simulator: `@pytest.mark.parametrize("sim", [spec or (spec, overlay)], indirect=True)`."""
    param = getattr(request, "param", "healthy")
    spec, overlay = param if isinstance(param, tuple) else (param, None)
    with Simulator(scenario(spec, overlay)) as running:
        yield running


def gets(sim: Simulator) -> int:
    return sim.log.count(api="vpcaccess", method="GET", path_contains=CONNECTOR_PATH)


def lists(sim: Simulator) -> int:
    return sim.log.count(api="vpcaccess", method="GET") - gets(sim)


async def run(sim: Simulator, **limits: float) -> Any:
    cfg = config(sim, **limits)
    return await vpc_connector.fn(cfg, GoogleClients(cfg.gcp))


async def test_healthy_connector_passes_with_one_read(sim: Simulator) -> None:
    result = await run(sim)
    assert result.status == Status.PASS, result.summary
    assert result.attempts == 1
    assert result.evidence["network"] == "staging-vpc"
    assert (gets(sim), lists(sim)) == (1, 0)


@pytest.mark.parametrize("sim", ["connector-error"], indirect=True)
async def test_connector_in_error_state_fails(sim: Simulator) -> None:
    result = await run(sim)
    assert result.status == Status.FAIL
    assert "state ERROR" in result.summary
    assert "gcloud compute networks vpc-access connectors" in result.remediation
    assert gets(sim) == 1  # ERROR is not polled


@pytest.mark.parametrize("sim", ["api-404"], indirect=True)
async def test_missing_connector_fails_listing_the_connectors_that_exist(sim: Simulator) -> None:
    result = await run(sim)
    assert result.status == Status.FAIL
    assert "connector staging-connector not found" in result.summary
    assert "staging-connector-v2" in result.summary
    assert result.attempts == 1  # a 404 is not retried; the diagnostic LIST is not an attempt at the connector
    assert (gets(sim), lists(sim)) == (1, 1)


@pytest.mark.parametrize("sim", ["api-403"], indirect=True)
async def test_permission_denied_is_an_error_naming_the_role_and_not_retried(sim: Simulator) -> None:
    result = await run(sim)
    assert result.status == Status.ERROR
    assert "permission denied" in result.summary
    assert "roles/vpcaccess.viewer" in result.remediation
    assert result.attempts == 1
    assert (gets(sim), lists(sim)) == (1, 0)


@pytest.mark.parametrize("sim", ["api-503-twice"], indirect=True)
async def test_two_503s_are_retried_and_the_check_passes(sim: Simulator) -> None:
    result = await run(sim)
    assert result.status == Status.PASS, result.summary
    assert result.attempts == 3
    assert gets(sim) == 3


RATE_LIMITED = {"google": {"faults": [{"api": "vpcaccess", "status": 429, "times": 1, "retry_after": 1}]}}


@pytest.mark.parametrize("sim", [("healthy", RATE_LIMITED)], indirect=True)
async def test_a_429_is_retried_after_its_retry_after_and_the_check_passes(sim: Simulator) -> None:
    started = time.monotonic()
    result = await run(sim)
    assert result.status == Status.PASS, result.summary
    assert result.attempts == 2
    assert time.monotonic() - started >= 0.9  # Retry-After: 1 was honoured
    assert gets(sim) == 2


@pytest.mark.parametrize("sim", ["connector-creating"], indirect=True)
async def test_creating_connector_is_polled_until_ready_and_passes(sim: Simulator) -> None:
    result = await run(sim, deadline_s=10)
    assert result.status == Status.PASS, result.summary
    assert gets(sim) == 4  # CREATING for 3 reads, READY on the 4th: no read more than needed
    assert result.attempts == 4


STAYS_CREATING = {"google": {"vpcaccess": {"connectors": {"staging-connector": {"ready_after_requests": 10_000}}}}}


@pytest.mark.parametrize("sim", [("connector-creating", STAYS_CREATING)], indirect=True)
async def test_connector_that_stays_creating_fails_at_the_deadline(sim: Simulator) -> None:
    started = time.monotonic()
    result = await run(sim, deadline_s=3, timeout_s=1)
    elapsed = time.monotonic() - started
    assert result.status == Status.FAIL
    assert "still CREATING after waiting" in result.summary
    assert 1.5 <= elapsed <= 3.5
    assert 2 <= gets(sim) <= 5  # backoff 0.5, 1, then what the deadline leaves: a handful of reads, not a busy loop


HANGS = {"google": {"faults": [{"api": "vpcaccess", "path_regex": "/connectors/[^/]+$", "hang": True}]}}


@pytest.mark.parametrize("sim", [("healthy", HANGS)], indirect=True)
async def test_hanging_api_ends_as_error_within_the_deadline(sim: Simulator) -> None:
    started = time.monotonic()
    result = await run(sim, deadline_s=3, timeout_s=1)
    elapsed = time.monotonic() - started
    assert result.status == Status.ERROR
    assert "vpcaccess" in result.summary
    assert elapsed <= 3.6


MALFORMED = {"google": {"faults": [{"api": "vpcaccess", "path_regex": "/connectors/[^/]+$", "malformed": True}]}}


@pytest.mark.parametrize("sim", [("healthy", MALFORMED)], indirect=True)
async def test_malformed_answer_is_an_error_not_a_pass(sim: Simulator) -> None:
    result = await run(sim, deadline_s=3, timeout_s=1)
    assert result.status == Status.ERROR
    assert result.summary.startswith(
        "unparseable answer from vpcaccess for connector "
        "projects/netra-staging/locations/us-central1/connectors/staging-connector: Failed to load JSON"
    )
    assert result.evidence["error_type"] == "ParseError"
    assert result.remediation == (
        "The vpcaccess API returned something the client cannot read; rerun, and report it if it persists."
    )
    assert gets(sim) == 1
