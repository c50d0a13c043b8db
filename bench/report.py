"""The benchmark's tables (rich) and the product's speed targets, each met or not with its figure."""

from typing import Any

from rich.console import Console
from rich.table import Table

OVERHEAD_MAX_S = 1.5
PHASE1_SPEEDUP_MIN = 3.0
SPEEDUP_100_MIN = 5.0
GROWTH_MAX = 2.0
RSS_MAX_MB = 350.0
STARTUP_SERVER_MAX_S = 3.0
STARTUP_NO_SERVER_MAX_S = 6.0
PICKUP_MAX_S = 5.0


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def runs_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="Handoff runs (wall measured inside the handoff flow) vs the sequential baseline")
    for column in ("world", "wall s", "phases s", "crit. path s", "overhead s", "seq. s", "ratio", "calls per API"):
        table.add_column(column, justify="left" if column in ("world", "calls per API") else "right")
    table.add_column("peak RSS MB", justify="right")
    for r in results:
        run, seq = r["run"], r.get("sequential", {})
        phases = " / ".join(f"{p['duration_s']:.2f}" for p in run["phases"])
        calls = " ".join(f"{api}={n}" for api, n in r["calls"].items())
        table.add_row(
            r["world"]["name"],
            _s(run["wall_s"]),
            phases,
            _s(r["critical_path"]["seconds"]),
            _s(r["overhead_s"]),
            _s(seq.get("wall_s")),
            _s(r.get("ratio")),
            calls,
            f"{run['peak_rss_mb']:.0f}",
        )
    return table


def growth_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="Growth (same latencies; 1 service = backend + the auth service the golden path needs)")
    for column in ("services", "secrets", "wall s", "crit. path s", "Google calls", "repeated in a phase", "RSS MB"):
        table.add_column(column, justify="right")
    for r in sorted(
        (r for r in results if "growth" in r["world"]["tags"]),
        key=lambda r: (r["world"]["secrets"], r["world"]["services"]),
    ):
        repeated = sum(len(v) for v in r["repeated_in_phase"].values())
        table.add_row(
            str(r["world"]["services"]),
            str(r["world"]["secrets"]),
            _s(r["run"]["wall_s"]),
            _s(r["critical_path"]["seconds"]),
            str(r["google_calls"]),
            str(repeated),
            f"{r['run']['peak_rss_mb']:.0f}",
        )
    return table


def replaced_module(overhead: dict[str, Any]) -> str:
    return f"{overhead['compute_v1_import_s']:.2f} s, RSS {overhead['rss_after_compute_v1_mb']:.0f} MB after it"


def startup_table(startup: list[dict[str, Any]], overhead: dict[str, Any] | None) -> Table:
    table = Table(title="Start-up: `runbook run` to its first Google API call; Prefect's own costs")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for s in startup:
        home = "fresh PREFECT_HOME" if s["fresh_prefect_home"] else "PREFECT_HOME used before"
        table.add_row(f"to first API call, {s['mode']} ({home})", f"{s['to_first_api_call_s']:.2f} s")
        table.add_row(f"whole `runbook run`, {s['mode']}", f"{s['process_s']:.2f} s")
    if overhead:
        table.add_row("import prefect", f"{overhead['import_prefect_s']:.2f} s")
        for name, seconds in overhead["client_imports_s"].items():
            table.add_row(f"import {name} (in order)", f"{seconds:.2f} s")
        table.add_row("RSS after prefect / + all clients", f"{overhead['rss_after_prefect_mb']:.0f} / "
                      f"{overhead['rss_after_clients_mb']:.0f} MB")  # fmt: skip
        if "compute_v1_import_s" in overhead:
            table.add_row("google.cloud.compute_v1, not used (import, RSS after)",
                          replaced_module(overhead))  # fmt: skip
        table.add_row("first flow run / next flow run", f"{overhead['first_flow_s']:.2f} / {overhead['flow_s']:.2f} s")
        table.add_row("subflow run (empty)", f"{overhead['subflow_s']:.2f} s")
        table.add_row("task run awaited / submitted (empty)", f"{overhead['task_awaited_s'] * 1000:.0f} / "
                      f"{overhead['task_submitted_s'] * 1000:.0f} ms")  # fmt: skip
    return table


def targets(
    results: list[dict[str, Any]],
    startup: list[dict[str, Any]],
    worker: dict[str, Any] | None = None,
    worker_postgresql: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    """Each speed target with its figure and a breakdown; `met` is None when this invocation did not measure it."""
    by_name = {r["world"]["name"]: r for r in results}
    main = next((r for r in results if "latency" in r["world"]["tags"]), None)
    phase1 = next((r for r in results if "phase1" in r["world"]["tags"]), None)
    out: list[dict[str, Any]] = []
    overhead = main["overhead_s"] if main else None
    name = f"overhead of a full run over its critical path (running server) <= {OVERHEAD_MAX_S:g} s"
    out.append(_target(name, overhead, at_most=OVERHEAD_MAX_S, detail=_overhead_detail(main) if main else ""))
    by_mode = {s["mode"]: s["to_first_api_call_s"] for s in startup}  # the last of a mode: PREFECT_HOME used before
    for mode, limit in (("server", STARTUP_SERVER_MAX_S), ("no server", STARTUP_NO_SERVER_MAX_S)):
        where = "running server" if mode == "server" else "no server running"
        name = f"`runbook run` to first Google API call, {where} <= {limit:g} s"
        detail = next((_startup_detail(s) for s in reversed(startup) if s["mode"] == mode), "")
        out.append(_target(name, by_mode.get(mode), at_most=limit, detail=detail))
    pickup = worker["pickup_to_first_check_median_s"] if worker else None
    name = f"worker pickup to first check of a deployment run (process pool) <= {PICKUP_MAX_S:g} s"
    out.append(_target(name, pickup, at_most=PICKUP_MAX_S, detail=_worker_detail(worker) if worker else ""))
    on_pg = worker_postgresql["pickup_to_first_check_median_s"] if worker_postgresql else None
    name = "worker pickup to first check on a PostgreSQL server <= on the SQLite one"
    detail = f"SQLite {_s(pickup)} s; " + _worker_detail(worker_postgresql) if worker_postgresql else ""
    out.append(_target(name, on_pg, at_most=pickup if pickup is not None else None, detail=detail))
    name = f"phase 1 alone vs the same calls made sequentially (3 services, 24 secrets) >= {PHASE1_SPEEDUP_MIN:g}x"
    ratio = phase1.get("ratio") if phase1 else None
    out.append(
        _target(name, ratio, at_least=PHASE1_SPEEDUP_MIN, unit="x", detail=_ratio_detail(phase1) if phase1 else "")
    )
    hundred = by_name.get("growth-100svc-24sec")
    ratio = hundred.get("ratio") if hundred else None
    name = f"whole run vs sequential at 100 services >= {SPEEDUP_100_MIN:g}x"
    out.append(
        _target(name, ratio, at_least=SPEEDUP_100_MIN, unit="x", detail=_ratio_detail(hundred) if hundred else "")
    )
    one = by_name.get("growth-1svc-24sec")
    if one and hundred:
        factor = round(hundred["run"]["wall_s"] / one["run"]["wall_s"], 2)
        out.append(_target(f"100 services <= {GROWTH_MAX:g}x wall of 1", factor, at_most=GROWTH_MAX, unit="x"))
    growth = [r for r in results if "growth" in r["world"]["tags"]]
    repeated = {r["world"]["name"]: r["repeated_in_phase"] for r in growth if r["repeated_in_phase"]}
    if growth:
        out.append(_target("no resource read twice in a phase", len(repeated), at_most=0, unit="worlds with repeats"))
    peak = max(r["run"]["peak_rss_mb"] for r in results) if results else None
    out.append(_target(f"peak RSS <= {RSS_MAX_MB:g} MB", peak, at_most=RSS_MAX_MB, unit="MB"))
    return out


def _overhead_detail(world: dict[str, Any]) -> str:
    """Where a run's seconds over its floor went: each phase over its own floor, and Prefect between phases."""
    run, floors = world["run"], {p["phase"]: p["seconds"] for p in world["critical_path"]["phases"]}
    parts = [
        f"{p['phase']} {p['duration_s'] - floors.get(p['phase'], 0.0):+.2f} s"
        for p in run["phases"]
        if p["phase"] in floors
    ]
    between = run["wall_s"] - sum(p["duration_s"] for p in run["phases"])
    return "over the floor: " + ", ".join(parts) + f", around the phases {between:.2f} s"


def _startup_detail(startup: dict[str, Any]) -> str:
    b = startup.get("breakdown") or {}
    if not b:
        return f"whole `runbook run` {_s(startup.get('process_s'))} s"
    return (
        f"process start -> flow run created {_s(b['process_start_to_flow_run_created_s'])} s, -> Running "
        f"{_s(b['created_to_running_s'])} s, -> phase 1 started {_s(b['running_to_first_phase_s'])} s, -> first call "
        f"{_s(b['first_phase_to_first_call_s'])} s"
    )


def _worker_detail(worker: dict[str, Any]) -> str:
    def one(r: dict[str, Any]) -> str:
        return (
            f"pickup->Running {_s(r['pickup_to_running_s'])}, ->phase 1 {_s(r.get('running_to_phase_1_s'))}, "
            f"->first task Running {_s(r.get('phase_1_to_first_task_running_s'))}, ->first call "
            f"{_s(r.get('first_task_running_to_first_call_s'))} s"
        )

    return "; ".join(one(r) for r in worker["runs"])


def _ratio_detail(world: dict[str, Any]) -> str:
    seq = world.get("sequential", {})
    return (
        f"sequential {seq.get('wall_s', 0):.2f} s (its calls {seq.get('calls_s', 0):.2f} s) "
        f"vs run {world['run']['wall_s']:.2f} s (floor {world['critical_path']['seconds']:.2f} s)"
    )


def _target(
    name: str,
    value: float | None,
    *,
    at_most: float | None = None,
    at_least: float | None = None,
    unit: str = "s",
    detail: str = "",
) -> dict[str, Any]:
    """A target with its figure and whether it is met (None: this invocation did not measure it)."""
    met = None
    if value is not None:
        met = (at_most is None or value <= at_most) and (at_least is None or value >= at_least)
    return {"target": name, "value": value, "unit": unit, "met": met, "detail": detail}


def targets_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Speed targets")
    table.add_column("target")
    table.add_column("figure", justify="right")
    table.add_column("met")
    table.add_column("where the time goes")
    for row in rows:
        figure = "not measured" if row["value"] is None else f"{row['value']} {row['unit']}"
        met = "-" if row["met"] is None else ("yes" if row["met"] else "NO")
        table.add_row(row["target"], figure, met, row.get("detail", ""))
    return table


def timeline_rows(results: list[dict[str, Any]]) -> list[list[str]]:
    """Per world: flow start -> first call, then per phase "gap before / start -> first call / first call -> last
    check / last check -> end", then the flow's end after the last phase."""
    rows = []
    for r in results:
        t = r.get("timeline")
        if not t:
            continue
        keys = ("gap_before_s", "start_to_first_call_s", "first_call_to_last_check_s", "last_check_to_end_s")
        phases = [" / ".join(_s(p[k]) for k in keys) for p in t["phases"]]
        rows.append([r["world"]["name"], _s(t["flow_start_to_first_call_s"]), *phases, _s(t["after_last_phase_s"])])
    return rows


def timeline_table(results: list[dict[str, Any]]) -> Table:
    table = Table(title="Where the seconds go (server's flow/subflow timestamps, simulator's log); per phase: "
                  "gap before / start -> first call / first call -> last check / last check -> end")  # fmt: skip
    for column in ("world", "flow start -> first call", "phase 1", "phase 2", "phase 3", "after the last phase"):
        table.add_column(column)
    for row in timeline_rows(results):
        cells = row[:-1] + [""] * (5 - len(row[:-1]))
        table.add_row(*cells[:5], row[-1])
    return table


def worker_table(worker: dict[str, Any], postgresql: dict[str, Any] | None = None) -> Table:
    """Each deployment run through a process worker; with `postgresql`, the SQLite server's runs then its own."""
    table = Table(title=f"Deployment runs through a process worker ({worker['deployment']}, pool {worker['pool']}), "
                  "per Prefect server database")  # fmt: skip
    table.add_column("server")
    for column in ("run", "created->pickup s", "pickup->Running s", "Running->phase 1 s", "phase 1->first task s",
                   "first task->first call s", "pickup->first check s", "pickup->end s"):  # fmt: skip
        table.add_column(column, justify="right")
    keys = ("created_to_pickup_s", "pickup_to_running_s", "running_to_phase_1_s", "phase_1_to_first_task_running_s",
            "first_task_running_to_first_call_s", "pickup_to_first_check_s", "pickup_to_end_s")  # fmt: skip
    for figures in (worker, postgresql):
        for index, r in enumerate(figures["runs"] if figures else [], 1):
            kind = figures.get("server_database", "sqlite") if figures else ""
            table.add_row(kind, str(index), *(_s(r.get(key)) for key in keys))
    return table


def print_all(console: Console, data: dict[str, Any]) -> None:
    console.print(runs_table(data["worlds"]))
    if any(r.get("timeline") for r in data["worlds"]):
        console.print(timeline_table(data["worlds"]))
    if any("growth" in r["world"]["tags"] for r in data["worlds"]):
        console.print(growth_table(data["worlds"]))
    if data["startup"] or data.get("prefect_overhead"):
        console.print(startup_table(data["startup"], data.get("prefect_overhead")))
    if data.get("worker"):
        console.print(worker_table(data["worker"], data.get("worker_postgresql")))
    console.print(targets_table(data["targets"]))
