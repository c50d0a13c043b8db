"""Measuring one world: the handoff run and the sequential baseline against one simulator, and start-up.

Each run is a subprocess (its peak RSS is its own); the simulator and the database proxy live in this process, so
the request log and the round-trip count are read here. Every wait is bounded.
"""

import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.critical_path import DB_ROUND_TRIPS, CriticalPath, critical_path, inputs_for
from bench.dbproxy import DelayProxy
from bench.prefect_env import ROOT, bench_env, executable, free_port
from bench.scenarios import World, build_scenario, env_overrides
from bench.sequential import KEY_ENV
from bench.timeline import GOOGLE_APIS, clock_pair, startup_timeline, timeline
from runbook.config.files import load_config
from simulator.requestlog import RecordedRequest
from simulator.server import Simulator

RUN_TIMEOUT_S = 600.0
SIM_SLACK_TOKEN = "xoxb-sim-token-not-a-secret"  # simulator.slack's only accepted token (a simulator value)


class BenchError(RuntimeError):
    """A run that errored: the benchmark fails loudly."""


@dataclass(frozen=True)
class Database:
    host: str
    port: int
    name: str
    user: str
    password: str


@dataclass
class Setup:
    """One world served: the simulator, the delayed database, the environment file."""

    world: World
    sim: Simulator
    proxy: DelayProxy
    env_file: Path
    database: Database

    def child_env(self, api_url: str | None, home: Path) -> dict[str, str]:
        from simulator.netra import SIM_E2E_BYPASS_KEY

        extra = {"RUNBOOK_DB_PASSWORD": self.database.password, KEY_ENV: SIM_E2E_BYPASS_KEY}
        if self.world.slack:
            extra["SLACK_BOT_TOKEN"] = SIM_SLACK_TOKEN
        return bench_env(home, api_url, extra)


@contextmanager
def serve(world: World, database: Database, workdir: Path) -> Iterator[Setup]:
    """The world's simulator and database proxy, running; stopped on exit."""
    from tests.support import env_file_for

    with Simulator(build_scenario(world)) as sim, DelayProxy(database.host, database.port, world.db_ms / 1000) as proxy:
        db = {"name": database.name, "user": database.user}
        overrides = env_overrides(world, sim.url, "127.0.0.1", proxy.port, db)
        env_file = env_file_for(sim, workdir, overrides, name=world.name)
        yield Setup(world, sim, proxy, env_file, database)


def _subprocess(args: list[str], env: dict[str, str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(
            args, env=env, cwd=ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired as error:
        raise BenchError(f"{what}: no end within {RUN_TIMEOUT_S:g} s") from error
    return done


def _json_run(module: str, setup: Setup, env: dict[str, str], what: str) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "out.json"
        phases = ",".join(setup.world.phases)
        args = [sys.executable, "-m", module, "--env", str(setup.env_file), "--out", str(out), "--phases", phases]
        done = _subprocess(args, env, what)
        if not out.exists():
            raise BenchError(f"{what} failed ({done.returncode}):\n{done.stderr[-3000:]}")
        result: dict[str, Any] = json.loads(out.read_text())
    if done.returncode != 0:
        raise BenchError(f"{what} exited {done.returncode}: {result.get('problems') or done.stderr[-2000:]}")
    return result


def api_counts(entries: list[RecordedRequest]) -> dict[str, int]:
    return dict(sorted(Counter(e.api for e in entries).items()))


def repeated_reads(entries: list[RecordedRequest], phase_ends: list[float]) -> dict[str, list[str]]:
    """Google reads made more than once within one phase: {phase index: ["GET path x2", ...]}."""
    repeated: dict[str, list[str]] = {}
    for index in range(len(phase_ends)):
        start = phase_ends[index - 1] if index else float("-inf")
        keys = Counter(  # the query too: the pages of one list differ only by their page token
            f"{e.method} {e.path}" + (f"?{e.query}" if e.query else "")
            for e in entries
            if e.api in GOOGLE_APIS and start < e.at <= phase_ends[index] and e.method in ("GET", "ListTimeSeries")
        )
        twice = [f"{key} x{n}" for key, n in sorted(keys.items()) if n > 1]
        if twice:
            repeated[str(index + 1)] = twice
    return repeated


def phase_ends(run: dict[str, Any], phases: int) -> list[float]:
    """Absolute (monotonic) end of each phase: the last check of it to finish."""
    by_phase: dict[str, float] = {}
    at = run["check_finished_mono"]
    for phase in run["phases"]:
        times = [at[c] for c in phase["checks"] if c in at]
        if times:
            by_phase[phase["phase"]] = max(times)
    return [by_phase[p["phase"]] for p in run["phases"] if p["phase"] in by_phase][:phases]


def measure_world(setup: Setup, api_url: str | None, home: Path, sequential: bool = True) -> dict[str, Any]:
    """The handoff run, then (log cleared) the sequential baseline, against the same world."""
    world, sim = setup.world, setup.sim
    sim.log.clear()
    setup.proxy.round_trips = 0
    clock = clock_pair()
    run = _json_run("bench.child", setup, setup.child_env(api_url, home), f"handoff run of {world.name}")
    entries = sim.log.entries()
    ends = [*phase_ends(run, len(run["phases"]))[:-1], float("inf")]  # the last phase takes the rest
    config = load_config(str(setup.env_file))
    observed = setup.proxy.round_trips  # the database check's chunks, its Terminate included
    round_trips = max(1, observed - 1) if observed else DB_ROUND_TRIPS
    path = critical_path(inputs_for(world, config, len(sim.scenario.google.secretmanager.secrets), round_trips))
    path = CriticalPath(tuple(phase for phase in path.phases if phase.phase in world.phases))
    result: dict[str, Any] = {
        "world": world.__dict__ | {"tags": list(world.tags)},
        "run": run,
        "calls": api_counts(entries),
        "google_calls": sum(1 for e in entries if e.api in GOOGLE_APIS),
        "repeated_in_phase": repeated_reads(entries, ends),
        "db_round_trips": {"observed_chunks": observed, "on_critical_path": round_trips, "modelled": DB_ROUND_TRIPS},
        "critical_path": path.as_dict(),
        "overhead_s": round(run["wall_s"] - path.seconds, 3),
    }
    if api_url and run.get("flow_run_id"):
        checks = [list(phase["checks"]) for phase in run["phases"]]
        latency = world.google_ms / 1000
        result["timeline"] = timeline(api_url, run["flow_run_id"], entries, run["check_finished_mono"], checks,
                                      latency, clock)  # fmt: skip
    if sequential:
        sim.log.clear()
        baseline = _json_run("bench.sequential", setup, setup.child_env(api_url, home), f"sequential {world.name}")
        baseline["calls"] = api_counts(sim.log.entries())
        result["sequential"] = baseline
        result["ratio"] = round(baseline["wall_s"] / run["wall_s"], 2) if run["wall_s"] else None
    return result


def measure_startup(setup: Setup, api_url: str | None, home: Path) -> dict[str, Any]:
    """`runbook run --env FILE` as a subprocess: seconds from its start to the first Google API call it made.

    `api_url` None: no server running (the CLI starts its own, or Prefect's ephemeral one).

    The simulator records a request after its injected latency: that latency is subtracted. time.monotonic is
    CLOCK_MONOTONIC, one clock for every process of the machine.
    """
    fresh = not (home / "prefect.db").exists() and not any(home.glob("*.db"))
    setup.sim.log.clear()
    env = setup.child_env(api_url, home)
    clock = clock_pair()
    if api_url is None:  # no server to reuse: not even one on the default port (another user's, on this machine)
        env["PREFECT_SERVER_API_PORT"] = str(free_port())
    started = time.monotonic()
    done = _subprocess([executable("runbook"), "run", "--env", str(setup.env_file)], env, "runbook run")
    ended = time.monotonic()
    google = [e.at for e in setup.sim.log.entries() if e.api in GOOGLE_APIS]
    if done.returncode != 0 or not google:
        raise BenchError(f"runbook run exited {done.returncode} ({len(google)} Google calls):\n{done.stdout[-2000:]}")
    first = min(google) - setup.world.google_ms / 1000
    offset = clock[0] - clock[1]
    breakdown = startup_timeline(api_url, started + offset, first + offset) if api_url else {}
    return {
        "mode": "server" if api_url else "no server",
        "fresh_prefect_home": fresh,
        "to_first_api_call_s": round(first - started, 3),
        "process_s": round(ended - started, 3),
        "exit_code": done.returncode,
        "breakdown": breakdown,
    }


def measure_overhead(api_url: str | None, home: Path) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        out = Path(tmp) / "overhead.json"
        done = _subprocess([sys.executable, "-m", "bench.overhead", "--out", str(out)], bench_env(home, api_url), "ovh")
        if done.returncode != 0 or not out.exists():
            raise BenchError(f"bench.overhead exited {done.returncode}:\n{done.stderr[-2000:]}")
        result: dict[str, Any] = json.loads(out.read_text())
        return result
