"""Benchmark worlds: the healthy scenario with injected latency, grown to N services and M secrets, built in code.

A `World` is what a benchmark run needs to know: the latencies the simulator injects (per Google API call, per
database round trip, per health request, the golden path's event timing) and the size of the platform. From it come
the simulator's `Scenario` (`build_scenario`) and the environment file's overrides (`env_overrides`), so both sides
agree on every generated service and secret.
"""

from dataclasses import dataclass, field, replace
from typing import Any

from simulator.scenario import Scenario, load_scenario

PLATFORM = ("netra-backend-staging", "netra-auth-service", "netra-frontend-staging")
FRONTEND = "netra-frontend-staging"
GOLDEN_PATH_EVENTS = 5  # agent_started .. agent_completed (simulator.netra_state.GOLDEN_PATH_EVENTS)


@dataclass(frozen=True)
class World:
    """One benchmark scenario: latencies and the size of the platform."""

    name: str
    services: int = 3  # Cloud Run services validated; 1 = the backend (+ the auth service the golden path needs)
    secrets: int = 24  # expected secrets (all exist, latest ENABLED)
    google_ms: int = 100  # every Google API call (REST and gRPC)
    db_ms: int = 20  # every database round trip (client -> server chunk, through bench.dbproxy)
    health_ms: int = 50  # every Netra health request
    golden_path_s: float = 2.0  # the golden path's five events are spread over this long
    health_probes: int = 10  # performance: sequential /health probes
    slack: bool = False  # post progress to the simulator's Slack (paced one message per second per channel)
    phases: tuple[str, ...] = ("infrastructure", "restoration", "business")  # run (and made sequentially)
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def event_gap_s(self) -> float:
        """Delay before the first event and between events: five gaps make `golden_path_s`."""
        return self.golden_path_s / GOLDEN_PATH_EVENTS


def service_names(world: World) -> list[str]:
    """The platform's services first (backend, auth, frontend as far as they fit), then generated ones."""
    if world.services <= 2:
        return list(PLATFORM[:2])  # the golden path logs in through the auth service: it cannot be left out
    return [*PLATFORM, *(f"bench-svc-{i:03d}" for i in range(world.services - len(PLATFORM)))]


def generated_services(world: World) -> list[str]:
    return [name for name in service_names(world) if name not in PLATFORM]


def secret_ids(world: World) -> list[str]:
    """The healthy world's 22 secret ids, then generated ones up to `world.secrets` (or the first N)."""
    base = list(_healthy().google.secretmanager.secrets)
    extra = [f"bench-secret-{i:03d}" for i in range(max(0, world.secrets - len(base)))]
    return (base + extra)[: world.secrets]


def _healthy() -> Scenario:
    return load_scenario("healthy")


def build_scenario(world: World) -> Scenario:
    """The healthy scenario with the world's latencies, services, secrets and traffic."""
    data = _healthy().model_dump()
    google = data["google"]
    google["latency_ms"] = world.google_ms
    names = service_names(world)
    run_services = google["run"]["services"]
    for name in list(run_services):
        if name not in names:
            del run_services[name]
    backends = google["compute"]["backend_services"]
    for name in list(backends):
        if backends[name]["cloud_run_service"] not in names:
            del backends[name]
    traffic = google["monitoring"]["services"]
    for name in list(traffic):
        if name not in names:
            del traffic[name]
    template = {"requests_per_5min": 1000, "ratio_5xx": 0.0, "ratio_4xx": 0.0}
    for name in generated_services(world):
        run_services[name] = {"port": 8080, "min_instances": 0, "max_instances": 10, "revision": 3}
        backends[f"{name}-bs"] = {"timeout_sec": 30, "protocol": "HTTPS", "cloud_run_service": name}
        traffic[name] = dict(template)
    secrets = google["secretmanager"]["secrets"]
    for secret in secret_ids(world):
        secrets.setdefault(secret, {"exists": True, "versions": ["DISABLED", "ENABLED"], "payload": None})
    netra = dict(data["netra"])
    netra["health_latency_ms"] = world.health_ms
    websocket = dict(netra.get("websocket", {}))
    websocket["first_event_delay_seconds"] = world.event_gap_s
    websocket["event_interval_seconds"] = world.event_gap_s
    netra["websocket"] = websocket
    data["netra"] = netra
    data["name"] = world.name
    data["description"] = f"bench: {world.services} services, {world.secrets} secrets, {world.google_ms} ms per call"
    return Scenario.model_validate(data)


def env_overrides(world: World, sim_url: str, db_host: str, db_port: int, db: dict[str, str]) -> dict[str, Any]:
    """What the environment file (environments/local.toml, addresses replaced) changes for this world."""
    base = _local_services(sim_url)
    names = service_names(world)
    services = [s for s in base if s["name"] in names]
    policies = [
        {"name": "netra-backend-staging-bs", "min_timeout_s": 3600},
        {"name": "netra-auth-service-bs", "min_timeout_s": 30},
        {"name": "netra-frontend-staging-bs", "min_timeout_s": 30},
    ]
    policies = [p for p in policies if str(p["name"]).removesuffix("-bs") in names]
    for name in generated_services(world):
        services.append(
            {
                "name": name,
                "role": "frontend",  # probed at /health like the frontend (the simulator answers as the frontend)
                "url": f"{sim_url}/services/{FRONTEND}",
                "health_paths": ["/health"],
                "load_balancer_backend": f"{name}-bs",
            }
        )
        policies.append({"name": f"{name}-bs", "min_timeout_s": 30})
    return {
        "services": services,
        "load_balancer": {"backend_services": policies},
        "secrets": {"expected": secret_ids(world)},
        "database": {"host": db_host, "port": db_port, **db},
        "performance": {"health_probes": world.health_probes, "golden_path_probes": 1},
        "slack": {"enabled": world.slack},
    }


def _local_services(sim_url: str) -> list[dict[str, Any]]:
    from runbook.config.files import PROJECT_ROOT, read_toml

    data = read_toml(PROJECT_ROOT / "environments" / "local.toml")
    return [{**s, "url": f"{sim_url}/services/{s['name']}"} for s in data["services"]]


# --- the worlds of one invocation -------------------------------------------------------------------------------

LATENCY = World(name="latency-3svc-24sec", tags=("latency", "growth"))
PHASE_1 = replace(LATENCY, name="phase1-3svc-24sec", phases=("infrastructure",), tags=("phase1",))


def worlds(size: str) -> list[World]:
    """`full`: the latency world, phase 1 alone, the Slack variant, the growth worlds. `small` (CI): two tiny ones."""
    if size == "small":
        small = World(
            name="small-3svc-24sec",
            google_ms=10,
            db_ms=5,
            health_ms=5,
            golden_path_s=0.25,
            health_probes=2,
            tags=("latency",),
        )
        return [small, replace(small, name="small-phase1", phases=PHASE_1.phases, tags=PHASE_1.tags)]
    return [
        LATENCY,
        PHASE_1,
        replace(LATENCY, name="latency-3svc-24sec-slack", slack=True, tags=("slack",)),
        replace(LATENCY, name="growth-1svc-24sec", services=1, tags=("growth",)),
        replace(LATENCY, name="growth-10svc-24sec", services=10, tags=("growth",)),
        replace(LATENCY, name="growth-100svc-24sec", services=100, tags=("growth",)),
        replace(LATENCY, name="growth-3svc-240sec", secrets=240, tags=("growth",)),
    ]
