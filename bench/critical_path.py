"""The floor of a run, computed from a world's latencies: per phase the slowest check's chain of calls, phases in
sequence. No I/O: it mirrors the dependencies of the checks (tasks/*.py and the phase flows), nothing else.

Per check, the chain (G = one Google call, D = one database round trip, H = one health request, E = one golden-path
run's events, all at the world's latencies):
  infrastructure  vpc-connector G | cloud-sql-instance G | database-connectivity D x round trips
                  secrets: list pages x G, then ceil(expected / concurrency) x G (versions/latest)
                  load-balancer: G (gets, concurrent), then G (getHealth of each group, concurrent)
                  service-drift: max(G, list pages x G) (services and the shared secret list concurrently)
                  monitoring G
  restoration     cloud-run-ready G | health-endpoints H | websocket-handshake after health: H + G (E2E key)
                  post-restore-monitoring G
  business        golden-path G + E; performance after it: probes x H + G + golden probes x E; summary after it
`unbounded=True` drops the secrets concurrency limit (the pure dependency floor).
"""

import math
from dataclasses import dataclass, field

from bench.scenarios import GOLDEN_PATH_EVENTS, World
from runbook.config.models import RunbookConfig

# libpq/psycopg, gssencmode and sslmode prefer, SCRAM, a transaction: GSSENCRequest, SSLRequest, startup, SASL
# initial, SASL response, BEGIN + SELECT 1, COMMIT (the Terminate that follows is not waited for). The benchmark
# replaces it with what the proxy counted (chunks minus the Terminate).
DB_ROUND_TRIPS = 7


@dataclass(frozen=True)
class Inputs:
    """Everything the floor depends on, in seconds and counts."""

    google_s: float
    db_s: float
    health_s: float
    events_s: float  # one golden-path run: first event delay + the gaps between the five events
    secrets_expected: int
    secrets_in_project: int
    secrets_page_size: int
    secrets_concurrency: int
    backend_groups: int
    health_probes: int
    golden_path_probes: int
    db_round_trips: int = DB_ROUND_TRIPS
    instance_before_database: bool = False


@dataclass(frozen=True)
class Chain:
    check: str
    seconds: float
    steps: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class PhaseFloor:
    phase: str
    chains: tuple[Chain, ...]

    @property
    def slowest(self) -> Chain:
        return max(self.chains, key=lambda chain: chain.seconds)

    @property
    def seconds(self) -> float:
        return self.slowest.seconds


@dataclass(frozen=True)
class CriticalPath:
    phases: tuple[PhaseFloor, ...]

    @property
    def seconds(self) -> float:
        return sum(phase.seconds for phase in self.phases)

    def as_dict(self) -> dict[str, object]:
        return {
            "seconds": round(self.seconds, 3),
            "phases": [
                {
                    "phase": p.phase,
                    "seconds": round(p.seconds, 3),
                    "slowest": p.slowest.check,
                    "chain": list(p.slowest.steps),
                    "checks": {c.check: round(c.seconds, 3) for c in p.chains},
                }
                for p in self.phases
            ],
        }


def inputs_for(
    world: World, config: RunbookConfig, secrets_in_project: int, db_round_trips: int = DB_ROUND_TRIPS
) -> Inputs:
    """The floor's inputs for a world run with `config` against a project holding `secrets_in_project` secrets."""
    return Inputs(
        google_s=world.google_ms / 1000,
        db_s=world.db_ms / 1000,
        health_s=world.health_ms / 1000,
        events_s=world.event_gap_s * GOLDEN_PATH_EVENTS,
        secrets_expected=len(config.secrets.expected),
        secrets_in_project=secrets_in_project,
        secrets_page_size=config.secrets.page_size,
        secrets_concurrency=config.secrets.concurrency,
        backend_groups=len(config.load_balancer.backend_services),
        health_probes=config.performance.health_probes,
        golden_path_probes=config.performance.golden_path_probes,
        db_round_trips=db_round_trips,
        instance_before_database=config.database.host is None and config.database.mode == "direct",
    )


def critical_path(x: Inputs, unbounded: bool = False) -> CriticalPath:
    """Per phase the slowest chain; the run's floor is their sum."""
    g, h = x.google_s, x.health_s
    pages = max(1, math.ceil(x.secrets_in_project / x.secrets_page_size))
    concurrency = max(1, x.secrets_expected) if unbounded else x.secrets_concurrency
    rounds = math.ceil(x.secrets_expected / concurrency)
    database = x.db_round_trips * x.db_s + (g if x.instance_before_database else 0.0)
    golden = g + x.events_s
    infrastructure = PhaseFloor(
        "infrastructure",
        (
            Chain("vpc-connector", g, ("connectors.get",)),
            Chain("cloud-sql-instance", g, ("instances.get",)),
            Chain("database-connectivity", database, (f"{x.db_round_trips} DB round trips",)),
            Chain(
                "secrets",
                (pages + rounds) * g,
                (f"{pages} x secrets.list page", f"{rounds} x versions.get round (concurrency)"),
            ),
            Chain(
                "load-balancer",
                g + (g if x.backend_groups else 0.0),
                ("backendServices.get | healthChecks.get", "backendServices.getHealth"),
            ),
            Chain("service-drift", max(g, pages * g), ("services.get | secrets.list pages",)),
            Chain("monitoring", g, ("timeSeries.list",)),
        ),
    )
    restoration = PhaseFloor(
        "restoration",
        (
            Chain("cloud-run-ready", g, ("services.get",)),
            Chain("health-endpoints", h, ("GET health (all concurrent)",)),
            Chain("websocket-handshake", h + g, ("health-endpoints", "versions.access (E2E key)", "token + /ws")),
            Chain("post-restore-monitoring", g, ("timeSeries.list",)),
        ),
    )
    performance = golden + x.health_probes * h + (g + x.golden_path_probes * x.events_s if x.golden_path_probes else 0)
    business = PhaseFloor(
        "business",
        (
            Chain("golden-path", golden, ("versions.access (E2E key)", "token + /ws", "events")),
            Chain(
                "performance",
                performance,
                ("golden-path", f"{x.health_probes} x GET /health", "versions.access", "golden path run(s)"),
            ),
            Chain("stakeholder-summary", performance, ("performance",)),
        ),
    )
    return CriticalPath((infrastructure, restoration, business))
