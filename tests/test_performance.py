"""`performance`: nearest-rank percentiles, the decision against the thresholds, and the real probes against the
simulator (healthy, slow health endpoints, failing golden-path runs)."""

from collections.abc import Iterator

import pytest

from runbook.config.models import PerformanceConfig
from runbook.google.clients import GoogleClients
from runbook.results import Status
from simulator.google.secret_manager import SIM_E2E_BYPASS_KEY
from simulator.server import Simulator
from tasks.performance import Probes, decide_performance, nearest_rank, performance
from tests.support import config_for

pytestmark = pytest.mark.timeout(60)

LOGS = "gcloud run services logs read netra-backend-staging --limit 100"
POLICY = PerformanceConfig(health_probes=10, golden_path_probes=2, health_p95_ms=200, golden_path_p95_ms=5000)
FAST_HEALTH = Probes("health", tuple(float(ms) for ms in range(10, 110, 10)), 0, 10)
FAST_GOLDEN = Probes("golden_path", (600.0, 700.0), 0, 2)


# --- percentiles -----------------------------------------------------------------------------------------------


def test_nearest_rank_picks_observed_values() -> None:
    samples = [float(ms) for ms in range(1, 11)]  # 1..10
    assert nearest_rank(samples, 0.5) == 5
    assert nearest_rank(samples, 0.95) == 10
    assert nearest_rank([3.0, 1.0, 2.0], 0.5) == 2
    assert nearest_rank([42.0], 0.95) == 42


def test_nearest_rank_of_nothing_is_an_error() -> None:
    with pytest.raises(ValueError, match="at least one sample"):
        nearest_rank([], 0.5)


# --- decide_performance ----------------------------------------------------------------------------------------


def test_latencies_under_the_thresholds_pass_with_p50_p95_max_and_n() -> None:
    finding = decide_performance(FAST_HEALTH, FAST_GOLDEN, POLICY, LOGS)
    assert finding.status == Status.PASS, finding.summary
    assert finding.evidence["health"] == {
        "n": 10,
        "failures": 0,
        "planned": 10,
        "p50_ms": 50.0,
        "p95_ms": 100.0,
        "max_ms": 100.0,
        "p95_threshold_ms": 200,
    }
    assert finding.evidence["golden_path"]["p95_ms"] == 700.0
    assert "/health p50 50 ms / p95 100 ms (n=10)" in finding.summary


def test_health_p95_above_its_threshold_fails() -> None:
    slow = Probes("health", (*[50.0] * 9, 900.0), 0, 10)
    finding = decide_performance(slow, FAST_GOLDEN, POLICY, LOGS)
    assert finding.status == Status.FAIL
    assert "/health p95 900 ms > 200 ms (n=10)" in finding.summary
    assert "cold starts" in finding.remediation


def test_golden_path_p95_above_its_threshold_fails() -> None:
    finding = decide_performance(FAST_HEALTH, Probes("golden_path", (4000.0, 6000.0), 0, 2), POLICY, LOGS)
    assert finding.status == Status.FAIL
    assert "golden path p95 6000 ms > 5000 ms" in finding.summary


def test_some_failed_probes_warn_and_are_counted() -> None:
    health = Probes("health", tuple([50.0] * 8), 2, 10, ("HTTP 503", "HTTP 503"))
    finding = decide_performance(health, FAST_GOLDEN, POLICY, LOGS)
    assert finding.status == Status.WARN
    assert "2 of 10 /health probes failed" in finding.summary
    assert finding.evidence["health"]["failures"] == 2
    assert finding.evidence["health"]["failure_reasons"] == ["HTTP 503"]


def test_every_probe_of_a_kind_failing_fails() -> None:
    golden = Probes("golden_path", (), 2, 2, ("agent_error after 400 ms",))
    finding = decide_performance(FAST_HEALTH, golden, POLICY, LOGS)
    assert finding.status == Status.FAIL
    assert "all 2 golden path probes failed" in finding.summary


def test_probes_cut_short_by_the_deadline_warn() -> None:
    finding = decide_performance(Probes("health", (50.0, 60.0), 0, 10), FAST_GOLDEN, POLICY, LOGS)
    assert finding.status == Status.WARN
    assert "only 2 of 10 /health probes ran before the deadline" in finding.summary


def test_no_golden_path_probes_configured_judges_health_alone() -> None:
    finding = decide_performance(FAST_HEALTH, Probes("golden_path", (), 0, 0), POLICY, LOGS)
    assert finding.status == Status.PASS
    assert "golden path" not in finding.summary


# --- against the simulator -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def healthy_sim() -> Iterator[Simulator]:
    with Simulator("healthy") as sim:
        yield sim


async def test_healthy_platform_passes_and_reads_the_bypass_key_once_for_all_runs(healthy_sim: Simulator) -> None:
    config = config_for(healthy_sim, {"performance": {"health_probes": 5, "golden_path_probes": 2}})
    before = sum(1 for e in healthy_sim.log.entries("secretmanager") if e.path.endswith(":access"))
    health_before = healthy_sim.log.count("netra", "GET", "netra-backend-staging/health")
    result = await performance.fn(config, GoogleClients(config.gcp))
    assert result.status == Status.PASS, result.summary
    assert result.evidence["health"]["n"] == 5 and result.evidence["golden_path"]["n"] == 2
    assert 0 < result.evidence["health"]["p50_ms"] <= result.evidence["health"]["p95_ms"]
    assert sum(1 for e in healthy_sim.log.entries("secretmanager") if e.path.endswith(":access")) - before == 1
    assert healthy_sim.log.count("netra", "GET", "netra-backend-staging/health") - health_before == 5
    assert SIM_E2E_BYPASS_KEY not in result.model_dump_json()


async def test_slow_health_endpoints_fail_the_p95_threshold() -> None:
    with Simulator("healthy") as sim:
        sim.netra_state.health_latency_ms = 150
        overrides = {"performance": {"health_probes": 3, "golden_path_probes": 0, "health_p95_ms": 100}}
        config = config_for(sim, overrides)
        result = await performance.fn(config, GoogleClients(config.gcp))
    assert result.status == Status.FAIL
    assert "/health p95" in result.summary and "> 100 ms (n=3)" in result.summary
    assert result.evidence["health"]["p95_ms"] >= 150


async def test_failing_golden_path_runs_are_counted_as_failures() -> None:
    with Simulator("agent-error") as sim:
        config = config_for(sim, {"performance": {"health_probes": 2, "golden_path_probes": 2}})
        result = await performance.fn(config, GoogleClients(config.gcp))
    assert result.status == Status.FAIL
    assert "all 2 golden path probes failed" in result.summary
    assert result.evidence["golden_path"]["failures"] == 2
    assert "agent_error" in result.evidence["golden_path"]["failure_reasons"][0]


async def test_a_slow_agent_is_cut_by_the_check_deadline() -> None:
    with Simulator("slow-agent") as sim:
        overrides = {
            "performance": {"health_probes": 2, "golden_path_probes": 3},
            "checks": {"performance": {"deadline_s": 3, "timeout_s": 2}},
        }
        config = config_for(sim, overrides)
        result = await performance.fn(config, GoogleClients(config.gcp))
    assert result.status == Status.FAIL
    assert result.evidence["golden_path"]["planned"] == 3
    assert "golden path" in result.summary
    assert result.duration_s < 3.5
