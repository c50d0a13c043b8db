"""The benchmark's pure parts, quickly: the floor of a tiny world, the generated worlds, the sequential baseline.

The benchmark itself (`make bench BENCH_SIZE=small`) is run by hand, not in CI; these keep its parts honest.
"""

import math
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.critical_path import Inputs, critical_path, inputs_for
from bench.dbproxy import DelayProxy
from bench.scenarios import LATENCY, World, build_scenario, env_overrides, service_names
from bench.sequential import run_sequential
from runbook.config.files import load_config
from simulator.netra import SIM_E2E_BYPASS_KEY
from simulator.server import Simulator
from tests.pg import PostgresServer
from tests.support import config_for

TINY = Inputs(
    google_s=0.1,
    db_s=0.02,
    health_s=0.05,
    events_s=2.0,
    secrets_expected=24,
    secrets_in_project=24,
    secrets_page_size=100,
    secrets_concurrency=8,
    backend_groups=3,
    health_probes=10,
    golden_path_probes=1,
    db_round_trips=7,
)


def test_floor_is_the_slowest_chain_of_each_phase_in_sequence() -> None:
    path = critical_path(TINY)
    infrastructure, restoration, business = path.phases
    # secrets: one list page, then 24 versions 8 at a time: 4 calls of 100 ms.
    assert infrastructure.slowest.check == "secrets" and math.isclose(infrastructure.seconds, 0.4)
    # websocket-handshake waits for health-endpoints (50 ms), then reads the E2E key (100 ms).
    assert restoration.slowest.check == "websocket-handshake" and math.isclose(restoration.seconds, 0.15)
    # golden path (0.1 + 2.0), then performance: 10 health probes, the key again, one more golden path run.
    assert math.isclose(business.seconds, 2.1 + 0.5 + 0.1 + 2.0)
    assert math.isclose(path.seconds, 0.4 + 0.15 + 4.7)


def test_unbounded_floor_drops_the_concurrency_limit_and_pages_add_up() -> None:
    assert math.isclose(critical_path(TINY, unbounded=True).phases[0].seconds, 0.2)  # list, then one round
    many = replace(TINY, secrets_expected=240, secrets_in_project=240)
    assert math.isclose(critical_path(many).phases[0].seconds, (3 + 30) * 0.1)  # 3 pages, 30 rounds of 8


def test_floor_inputs_come_from_the_world_and_the_config() -> None:
    inputs = inputs_for(LATENCY, load_config("local"), secrets_in_project=24)
    assert (inputs.google_s, inputs.db_s, inputs.health_s) == (0.1, 0.02, 0.05)
    assert math.isclose(inputs.events_s, 2.0) and inputs.secrets_concurrency == 8


def test_growth_world_generates_services_and_secrets_on_both_sides() -> None:
    world = World(name="grow", services=10, secrets=30, google_ms=0)
    scenario = build_scenario(world)
    assert len(scenario.google.run.services) == 10 and len(scenario.google.secretmanager.secrets) == 30
    assert len(scenario.google.compute.backend_services) == 10
    with Simulator(scenario) as sim:
        db = {"name": "netra_staging", "user": "netra_app"}
        config = config_for(sim, env_overrides(world, sim.url, "127.0.0.1", 5432, db))
    assert [s.name for s in config.services] == service_names(world)
    assert len(config.secrets.expected) == 30 and len(config.load_balancer.backend_services) == 10
    smallest = World(name="one", services=1)
    assert service_names(smallest) == ["netra-backend-staging", "netra-auth-service"]  # the golden path logs in


def test_sequential_baseline_against_a_simulator_without_latency(postgres: PostgresServer, tmp_path: Path) -> None:
    world = World(name="smoke", google_ms=0, db_ms=0, health_ms=0, golden_path_s=0.05, health_probes=2, secrets=22)
    with Simulator(build_scenario(world)) as sim, DelayProxy(postgres.host, postgres.port, 0.0) as proxy:
        db = {"name": postgres.dbname, "user": postgres.user}
        config = config_for(sim, env_overrides(world, sim.url, "127.0.0.1", proxy.port, db))
        result = run_sequential(config, SIM_E2E_BYPASS_KEY, postgres.password)
        calls = {api: sim.log.count(api=api) for api in ("vpcaccess", "sqladmin", "secretmanager", "compute", "run")}
    assert proxy.round_trips >= 3  # the database was reached through the proxy
    assert calls["vpcaccess"] == calls["sqladmin"] == 1
    assert calls["secretmanager"] == 1 + 22  # one list page, versions/latest of each; no payload read
    assert calls["compute"] == 3 + 1 + 3 and calls["run"] == 3 + 3  # LB gets + getHealth; drift + ready
    assert result["steps"] > 40 and result["calls_s"] > 0
    assert result["phases"] == ["infrastructure", "restoration", "business"]
    with Simulator(build_scenario(world)) as sim, DelayProxy(postgres.host, postgres.port, 0.0) as proxy:
        db = {"name": postgres.dbname, "user": postgres.user}
        config = config_for(sim, env_overrides(world, sim.url, "127.0.0.1", proxy.port, db))
        alone = run_sequential(config, SIM_E2E_BYPASS_KEY, postgres.password, phases=("infrastructure",))
        netra = sim.log.count(api="netra")
    assert alone["phases"] == ["infrastructure"] and netra == 0  # phase 1 reads Google and the database only
    with pytest.raises(ValueError, match=r"unknown phase\(s\) \['infra'\]"):
        run_sequential(config, SIM_E2E_BYPASS_KEY, postgres.password, phases=("infra",))


@pytest.mark.parametrize("size", ["small", "full"])
def test_every_world_builds_a_valid_scenario(size: str) -> None:
    from bench.scenarios import worlds

    for world in worlds(size):
        assert build_scenario(world).name == world.name


def world_result(name: str, tags: tuple[str, ...], wall: float, floor: float, sequential: float) -> dict[str, Any]:
    phase = {"phase": "infrastructure", "duration_s": wall - 0.5, "checks": {}}
    return {
        "world": {"name": name, "tags": list(tags), "services": 3, "secrets": 24},
        "run": {"wall_s": wall, "phases": [phase], "peak_rss_mb": 200.0},
        "critical_path": {"seconds": floor, "phases": [{"phase": "infrastructure", "seconds": floor}]},
        "overhead_s": round(wall - floor, 3),
        "sequential": {"wall_s": sequential, "calls_s": sequential - 1},
        "ratio": round(sequential / wall, 2),
        "repeated_in_phase": {},
    }


def test_targets_say_met_not_met_or_not_measured_with_the_figure_and_where_the_time_went() -> None:
    from bench.report import targets

    results = [
        world_result("latency-3svc-24sec", ("latency",), wall=6.0, floor=5.25, sequential=14.0),
        world_result("phase1-3svc-24sec", ("phase1",), wall=2.0, floor=0.4, sequential=7.0),
    ]
    startup = [{"mode": "server", "to_first_api_call_s": 3.4}, {"mode": "no server", "to_first_api_call_s": 5.9}]
    rows = {t["target"].split(" <=")[0].split(" >=")[0]: t for t in targets(results, startup, None)}
    overhead = rows["overhead of a full run over its critical path (running server)"]
    assert (overhead["value"], overhead["met"]) == (0.75, True)
    assert overhead["detail"] == "over the floor: infrastructure +0.25 s, around the phases 0.50 s"
    assert rows["`runbook run` to first Google API call, running server"]["met"] is False  # 3.4 s > 3 s
    assert rows["`runbook run` to first Google API call, no server running"]["met"] is True
    phase1 = rows["phase 1 alone vs the same calls made sequentially (3 services, 24 secrets)"]
    assert (phase1["value"], phase1["met"]) == (3.5, True)
    assert rows["whole run vs sequential at 100 services"]["met"] is None  # not measured in this invocation
    assert rows["worker pickup to first check of a deployment run (process pool)"]["value"] is None
    assert rows["peak RSS"]["met"] is True


def test_worker_pickup_on_postgresql_is_judged_against_the_sqlite_server() -> None:
    from bench.report import targets

    def worker(median: float) -> dict[str, Any]:
        run = {"pickup_to_running_s": median / 2, "pickup_to_first_check_s": median}
        return {"pickup_to_first_check_median_s": median, "runs": [run]}

    name = "worker pickup to first check on a PostgreSQL server"

    def row(sqlite: dict[str, Any] | None, postgresql: dict[str, Any] | None) -> dict[str, Any]:
        return next(t for t in targets([], [], sqlite, postgresql) if t["target"].startswith(name))

    assert (row(worker(6.0), worker(5.0))["value"], row(worker(6.0), worker(5.0))["met"]) == (5.0, True)
    assert row(worker(6.0), worker(7.0))["met"] is False
    assert row(worker(6.0), worker(7.0))["detail"].startswith("SQLite 6.00 s; pickup->Running 3.50")
    assert row(worker(6.0), None)["met"] is None  # not measured in this invocation
