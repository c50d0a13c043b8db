"""Every threshold at its edge: equal, just above, just below (p95, 5xx ratio, request floors, load balancer
timeouts and intervals, health check thresholds, connector instances, traffic share, listed names).

The decision functions on plain objects and real client messages only: `make mutate` reruns these for every
mutant of the checks' decisions, so a `>` turned into `>=` at a threshold is noticed here.
"""

from typing import Any

import pytest
from google.cloud import compute_v1, run_v2, vpcaccess_v1

from runbook.config.models import (
    BackendServicePolicy,
    HealthCheckPolicy,
    MonitoringConfig,
    PerformanceConfig,
    VpcConnectorConfig,
)
from runbook.results import Status
from tasks.cloud_run_ready import traffic_problem
from tasks.load_balancer import backend_timeout_problems, health_check_problems
from tasks.monitoring import decide_monitoring
from tasks.performance import Probes, decide_performance, nearest_rank
from tasks.vpc_access import decide_connector

# --- performance: p95 against its threshold (nearest rank) ---------------------------------------------------------

POLICY = PerformanceConfig(health_probes=20, golden_path_probes=3, health_p95_ms=500, golden_path_p95_ms=30000)


def health(*latencies: float, failures: int = 0, planned: int | None = None) -> Probes:
    return Probes("health", latencies, failures, len(latencies) + failures if planned is None else planned)


def golden(*latencies: float, failures: int = 0, planned: int | None = None) -> Probes:
    return Probes("golden_path", latencies, failures, len(latencies) + failures if planned is None else planned)


def twenty_with_p95(p95: float) -> tuple[float, ...]:
    """20 samples whose nearest-rank p95 (rank ceil(0.95 * 20) = 19) is `p95`, with a larger 20th."""
    return (*([100.0] * 18), p95, p95 + 10_000)


@pytest.mark.parametrize(
    ("p95", "status"),
    [(499.9, Status.PASS), (500.0, Status.PASS), (500.1, Status.FAIL)],
)
def test_health_p95_at_the_threshold_passes_and_just_above_fails(p95: float, status: Status) -> None:
    finding = decide_performance(health(*twenty_with_p95(p95)), golden(1000.0), POLICY, "logs")
    assert finding.status == status
    if status == Status.FAIL:
        assert finding.summary.startswith("/health p95 500 ms > 500 ms (n=20)")


@pytest.mark.parametrize(
    ("p95", "status"),
    [(29999.9, Status.PASS), (30000.0, Status.PASS), (30000.1, Status.FAIL)],
)
def test_golden_path_p95_at_the_threshold_passes_and_just_above_fails(p95: float, status: Status) -> None:
    finding = decide_performance(health(100.0), golden(p95), POLICY, "logs")
    assert finding.status == status
    if status == Status.FAIL:
        assert finding.summary.startswith("golden path p95 30000 ms > 30000 ms (n=1)")


@pytest.mark.parametrize(("n", "rank"), [(1, 1), (2, 2), (19, 19), (20, 19), (21, 20), (40, 38)])
def test_nearest_rank_p95_is_the_ceil_rank(n: int, rank: int) -> None:
    assert nearest_rank([float(v) for v in range(n, 0, -1)], 0.95) == rank


def test_nearest_rank_p50_of_an_even_count_is_the_lower_middle() -> None:
    assert nearest_rank([4.0, 1.0, 3.0, 2.0], 0.5) == 2.0
    assert nearest_rank([5.0], 0.01) == 5.0


def test_one_failed_probe_among_successes_warns_none_passes() -> None:
    assert decide_performance(health(100.0, failures=0), golden(1000.0), POLICY, "l").status == Status.PASS
    warned = decide_performance(health(100.0, failures=1), golden(1000.0), POLICY, "l")
    assert warned.status == Status.WARN
    assert warned.summary.startswith("1 of 2 /health probes failed")


def test_every_probe_attempted_as_planned_is_not_cut_short_one_fewer_is() -> None:
    assert decide_performance(health(100.0, 100.0, planned=2), golden(1.0), POLICY, "l").status == Status.PASS
    short = decide_performance(health(100.0, planned=2), golden(1.0), POLICY, "l")
    assert short.status == Status.WARN
    assert short.summary.startswith("only 1 of 2 /health probes ran before the deadline")


# --- monitoring: the 5xx ratio and the request floor ---------------------------------------------------------------


def totals(requests: int, errors: int) -> dict[str, dict[str, int]]:
    return {"backend": {"2xx": requests - errors, "5xx": errors}}


@pytest.mark.parametrize(
    ("errors", "status"),
    [(49, Status.PASS), (50, Status.PASS), (51, Status.FAIL)],
)
def test_a_5xx_ratio_equal_to_the_maximum_passes_and_just_above_fails(errors: int, status: Status) -> None:
    config = MonitoringConfig(max_5xx_ratio=0.05)
    finding = decide_monitoring(["backend"], totals(1000, errors), config, "p")
    assert finding.status == status
    assert finding.evidence["services"]["backend"] == {"requests": 1000, "5xx": errors, "ratio": errors / 1000}


@pytest.mark.parametrize(
    ("requests", "judged"),
    [(9, False), (10, True), (11, True)],
)
def test_fewer_requests_than_the_floor_get_no_verdict_the_floor_itself_does(requests: int, judged: bool) -> None:
    config = MonitoringConfig(min_requests=10, max_5xx_ratio=0.05)
    finding = decide_monitoring(["backend"], totals(requests, requests), config, "p")  # every request a 5xx
    assert finding.status == (Status.FAIL if judged else Status.PASS)
    if not judged:
        assert finding.evidence["services"]["backend"]["note"] == "no requests in window"


def test_no_requests_at_all_is_no_verdict_even_with_a_floor_of_zero() -> None:
    finding = decide_monitoring(["backend"], {}, MonitoringConfig(min_requests=0), "p")
    assert finding.status == Status.PASS
    assert finding.summary.startswith("no requests in window for any service")


@pytest.mark.parametrize(
    ("window_s", "noted"),
    [(179, True), (180, False), (181, False)],
)
def test_a_window_shorter_than_the_ingestion_delay_is_noted(window_s: int, noted: bool) -> None:
    config = MonitoringConfig.model_construct(**{**MonitoringConfig().model_dump(), "window_s": window_s})
    finding = decide_monitoring(["backend"], totals(100, 0), config, "p")
    assert ("config_note" in finding.evidence) is noted


# --- load balancer: backend timeout, health check timing and thresholds ------------------------------------------


@pytest.mark.parametrize(("found", "problem"), [(599, True), (600, False), (601, False)])
def test_a_backend_timeout_equal_to_the_policy_passes_one_second_less_fails(found: int, problem: bool) -> None:
    policy = BackendServicePolicy(name="api-bs", min_timeout_s=600)
    problems = backend_timeout_problems(policy, compute_v1.BackendService(timeout_sec=found), "p")
    assert [p.status for p in problems] == ([Status.FAIL] if problem else [])


def test_a_backend_timeout_left_unset_is_computes_30_s() -> None:
    assert (
        backend_timeout_problems(BackendServicePolicy(name="bs", min_timeout_s=30), compute_v1.BackendService(), "p")
        == []
    )
    [problem] = backend_timeout_problems(
        BackendServicePolicy(name="bs", min_timeout_s=31), compute_v1.BackendService(), "p"
    )
    assert problem.text == "backend service bs timeoutSec is 30 s, expected at least 31 s"


def health_check(**fields: int) -> compute_v1.HealthCheck:
    values = {"check_interval_sec": 10, "timeout_sec": 5, "healthy_threshold": 2, "unhealthy_threshold": 3}
    return compute_v1.HealthCheck(name="hc", **{**values, **fields})


def problems_of(check: compute_v1.HealthCheck, **policy: int) -> list[tuple[Status, str]]:
    return [(p.status, p.text) for p in health_check_problems(HealthCheckPolicy(name="hc", **policy), check, "p")]


@pytest.mark.parametrize(("timeout", "fails"), [(9, False), (10, False), (11, True)])
def test_a_health_check_timeout_equal_to_its_interval_is_allowed_longer_fails(timeout: int, fails: bool) -> None:
    found = problems_of(health_check(timeout_sec=timeout, check_interval_sec=10), max_timeout_s=60)
    exceeds = f"health check hc timeoutSec {timeout} s exceeds checkIntervalSec 10 s, which Compute does not allow"
    assert found == ([(Status.FAIL, exceeds)] if fails else [])


@pytest.mark.parametrize(
    ("timeout", "off"),
    [(4, True), (5, False), (6, False), (7, False), (8, True)],
)
def test_a_health_check_timeout_inside_the_policy_bounds_is_on_policy(timeout: int, off: bool) -> None:
    found = problems_of(health_check(timeout_sec=timeout), min_timeout_s=5, max_timeout_s=7)
    expected = [(Status.WARN, f"health check hc off policy: timeoutSec {timeout} s (policy 5-7 s)")]
    assert found == (expected if off else [])


@pytest.mark.parametrize(("interval", "off"), [(29, False), (30, False), (31, True)])
def test_a_health_check_interval_at_the_maximum_is_on_policy(interval: int, off: bool) -> None:
    found = problems_of(health_check(check_interval_sec=interval), max_interval_s=30)
    expected = [(Status.WARN, f"health check hc off policy: checkIntervalSec {interval} s (policy at most 30 s)")]
    assert found == (expected if off else [])


@pytest.mark.parametrize(
    ("unhealthy", "off"),
    [(2, True), (3, False), (4, False), (5, False), (6, True)],
)
def test_an_unhealthy_threshold_inside_the_policy_bounds_is_on_policy(unhealthy: int, off: bool) -> None:
    found = problems_of(
        health_check(unhealthy_threshold=unhealthy), min_unhealthy_threshold=3, max_unhealthy_threshold=5
    )
    expected = [(Status.WARN, f"health check hc off policy: unhealthyThreshold {unhealthy} (policy 3-5)")]
    assert found == (expected if off else [])


@pytest.mark.parametrize(("healthy", "off"), [(3, False), (4, False), (5, True)])
def test_a_healthy_threshold_at_the_maximum_is_on_policy(healthy: int, off: bool) -> None:
    found = problems_of(health_check(healthy_threshold=healthy), max_healthy_threshold=4)
    expected = [(Status.WARN, f"health check hc off policy: healthyThreshold {healthy} (policy at most 4)")]
    assert found == (expected if off else [])


@pytest.mark.parametrize(("min_timeout", "conflict"), [(29, False), (30, False)])
def test_a_policy_whose_minimum_timeout_equals_its_maximum_interval_can_be_met(
    min_timeout: int, conflict: bool
) -> None:
    found = problems_of(
        health_check(timeout_sec=30, check_interval_sec=30), min_timeout_s=min_timeout, max_interval_s=30
    )
    assert found == []


def test_a_policy_whose_minimum_timeout_exceeds_its_maximum_interval_cannot_be_met() -> None:
    found = problems_of(health_check(timeout_sec=30, check_interval_sec=30), min_timeout_s=31, max_interval_s=30)
    assert found[0][0] == Status.WARN
    assert found[0][1].startswith("policy for health check hc cannot be met: a timeout of at least 31 s")


# --- VPC connector: instance bounds ---------------------------------------------------------------------------------

CONNECTOR_POLICY = VpcConnectorConfig(name="staging-connector", network="staging-vpc", min_instances=3, max_instances=7)


def connector(low: int, high: int) -> vpcaccess_v1.Connector:
    return vpcaccess_v1.Connector(
        name="projects/p/locations/us-central1/connectors/staging-connector",
        network="staging-vpc",
        ip_cidr_range="10.2.0.0/28",
        state="READY",
        min_instances=low,
        max_instances=high,
    )


@pytest.mark.parametrize(
    ("low", "high", "status"),
    [
        (2, 7, Status.WARN),
        (3, 7, Status.PASS),
        (4, 7, Status.PASS),
        (3, 6, Status.WARN),
        (3, 8, Status.PASS),
    ],
)
def test_connector_instances_at_the_policy_minimums_pass_one_below_warns(low: int, high: int, status: Status) -> None:
    finding = decide_connector(connector(low, high), CONNECTOR_POLICY, "us-central1", "p")
    assert finding.status == status
    if status == Status.WARN:
        assert finding.summary.endswith(f"instances min {low} / max {high}, policy at least min 3 / max 7")
        assert finding.remediation.endswith(f"--min-instances {max(low, 3)} --max-instances {max(high, 7)}")


# --- Cloud Run: all the traffic on the latest ready revision -----------------------------------------------------


REVISION = run_v2.TrafficTargetAllocationType.TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION


def service_with_traffic(*shares: tuple[int, str]) -> Any:
    latest = "projects/p/locations/r/services/backend/revisions/backend-00002"
    traffic = [run_v2.TrafficTarget(type_=REVISION, revision=rev, percent=share) for share, rev in shares]
    return run_v2.Service(latest_ready_revision=latest, traffic=traffic)


@pytest.mark.parametrize(
    ("shares", "problem"),
    [
        (((100, "backend-00002"),), None),
        (
            ((99, "backend-00002"), (1, "backend-00001")),
            "traffic: 99 % to the latest ready revision backend-00002; 1 % pinned to revision backend-00001",
        ),
    ],
)
def test_all_traffic_on_the_latest_revision_is_ready_one_percent_elsewhere_is_not(
    shares: tuple[tuple[int, str], ...], problem: str | None
) -> None:
    assert traffic_problem(service_with_traffic(*shares)) == problem
