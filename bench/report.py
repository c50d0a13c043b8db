"""The benchmark's tables (rich) and the issue's targets, each met or not with its figure."""

from typing import Any

from rich.console import Console
from rich.table import Table

OVERHEAD_MAX_S = 1.5
SPEEDUP_MIN = 5.0
GROWTH_MAX = 2.0
RSS_MAX_MB = 350.0
STARTUP_MAX_S = 3.0


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


def startup_table(startup: list[dict[str, Any]], overhead: dict[str, Any] | None) -> Table:
    table = Table(title="Start-up: `runbook run` to its first Google API call; Prefect's own costs")
    table.add_column("measure")
    table.add_column("value", justify="right")
    for s in startup:
        home = "fresh PREFECT_HOME" if s["fresh_prefect_home"] else "warm PREFECT_HOME"
        table.add_row(f"to first API call, {s['mode']} ({home})", f"{s['to_first_api_call_s']:.2f} s")
        table.add_row(f"whole `runbook run`, {s['mode']}", f"{s['process_s']:.2f} s")
    if overhead:
        table.add_row("import prefect", f"{overhead['import_prefect_s']:.2f} s")
        for name, seconds in overhead["client_imports_s"].items():
            table.add_row(f"import {name} (in order)", f"{seconds:.2f} s")
        table.add_row("RSS after prefect / + all clients", f"{overhead['rss_after_prefect_mb']:.0f} / "
                      f"{overhead['rss_after_clients_mb']:.0f} MB")  # fmt: skip
        table.add_row("first flow run / next flow run", f"{overhead['first_flow_s']:.2f} / {overhead['flow_s']:.2f} s")
        table.add_row("subflow run (empty)", f"{overhead['subflow_s']:.2f} s")
        table.add_row("task run awaited / submitted (empty)", f"{overhead['task_awaited_s'] * 1000:.0f} / "
                      f"{overhead['task_submitted_s'] * 1000:.0f} ms")  # fmt: skip
    return table


def targets(results: list[dict[str, Any]], startup: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each target of issue 7 with its figure; `met` is None when this invocation did not measure it."""
    by_name = {r["world"]["name"]: r for r in results}
    main = next((r for r in results if "latency" in r["world"]["tags"]), None)
    out: list[dict[str, Any]] = []
    if main:
        out.append(_target("overhead <= 1.5 s (server)", main["overhead_s"], main["overhead_s"] <= OVERHEAD_MAX_S, "s"))
        ratio = main.get("ratio")
        out.append(_target(">= 5x faster than sequential", ratio, ratio is not None and ratio >= SPEEDUP_MIN, "x"))
    one, hundred = by_name.get("growth-1svc-24sec"), by_name.get("growth-100svc-24sec")
    if one and hundred:
        factor = round(hundred["run"]["wall_s"] / one["run"]["wall_s"], 2)
        out.append(_target("100 services <= 2x wall of 1", factor, factor <= GROWTH_MAX, "x"))
    growth = [r for r in results if "growth" in r["world"]["tags"]]
    repeated = {r["world"]["name"]: r["repeated_in_phase"] for r in growth if r["repeated_in_phase"]}
    if growth:
        out.append(_target("no resource read twice in a phase", len(repeated), not repeated, " worlds with repeats"))
    peak = max(r["run"]["peak_rss_mb"] for r in results) if results else None
    out.append(_target("peak RSS <= 350 MB", peak, peak is not None and peak <= RSS_MAX_MB, " MB"))
    server = next((s for s in startup if s["mode"] == "server"), None)
    if server:
        value = server["to_first_api_call_s"]
        out.append(_target("start-up to first API call <= 3 s (server)", value, value <= STARTUP_MAX_S, " s"))
    return out


def _target(name: str, value: float | int | None, met: bool, unit: str) -> dict[str, Any]:
    return {"target": name, "value": value, "unit": unit.strip(), "met": met}


def targets_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Targets of issue 7")
    table.add_column("target")
    table.add_column("figure", justify="right")
    table.add_column("met")
    for row in rows:
        table.add_row(row["target"], f"{row['value']} {row['unit']}", "yes" if row["met"] else "NO")
    return table


def print_all(console: Console, data: dict[str, Any]) -> None:
    console.print(runs_table(data["worlds"]))
    if any("growth" in r["world"]["tags"] for r in data["worlds"]):
        console.print(growth_table(data["worlds"]))
    if data["startup"] or data.get("prefect_overhead"):
        console.print(startup_table(data["startup"], data.get("prefect_overhead")))
    console.print(targets_table(data["targets"]))
