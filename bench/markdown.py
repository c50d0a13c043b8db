"""bench/results.json as markdown tables, for docs/benchmarks.md.

python -m bench.markdown [bench/results.json]
"""

import json
import sys
from pathlib import Path
from typing import Any

from bench.report import replaced_module
from bench.run import DEFAULT_JSON


def _row(cells: list[object]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _table(header: list[str], rows: list[list[object]]) -> str:
    lines = [_row(list(header)), _row(["---"] * len(header))]
    return "\n".join(lines + [_row(r) for r in rows])


def runs(data: dict[str, Any]) -> str:
    rows = []
    for r in data["worlds"]:
        run, seq = r["run"], r.get("sequential", {})
        rows.append(
            [
                r["world"]["name"],
                f"{run['wall_s']:.2f}",
                " / ".join(f"{p['duration_s']:.2f}" for p in run["phases"]),
                f"{r['critical_path']['seconds']:.2f}",
                f"{r['overhead_s']:.2f}",
                f"{seq.get('wall_s', 0):.2f} ({seq.get('calls_s', 0):.2f})",
                r.get("ratio"),
                " ".join(f"{api}={n}" for api, n in r["calls"].items()),
                f"{run['peak_rss_mb']:.0f}",
            ]
        )
    header = ["world", "wall s", "phases s", "floor s", "overhead s", "sequential s (calls only)", "ratio", "calls",
              "peak RSS MB"]  # fmt: skip
    return _table(header, rows)


def growth(data: dict[str, Any]) -> str:
    rows = []
    for r in sorted(
        (r for r in data["worlds"] if "growth" in r["world"]["tags"]),
        key=lambda r: (r["world"]["secrets"], r["world"]["services"]),
    ):
        repeated = [item for items in r["repeated_in_phase"].values() for item in items]
        rows.append(
            [
                r["world"]["services"],
                r["world"]["secrets"],
                f"{r['run']['wall_s']:.2f}",
                f"{r['critical_path']['seconds']:.2f}",
                r["google_calls"],
                "; ".join(repeated) or "none",
                f"{r['run']['peak_rss_mb']:.0f}",
            ]
        )
    if not rows:
        return ""
    return _table(["services", "secrets", "wall s", "floor s", "Google calls", "read twice in a phase", "RSS MB"], rows)


def startup(data: dict[str, Any]) -> str:
    def home(s: dict[str, Any]) -> str:
        return "fresh PREFECT_HOME" if s["fresh_prefect_home"] else "PREFECT_HOME used before"

    rows: list[list[object]] = [
        [f"`runbook run` to first API call, {s['mode']} ({home(s)})", f"{s['to_first_api_call_s']:.2f} s"]
        for s in data["startup"]
    ]
    rows += [[f"whole `runbook run`, {s['mode']} ({home(s)})", f"{s['process_s']:.1f} s"] for s in data["startup"]]
    overhead = data.get("prefect_overhead")
    if overhead:
        rows.append(["import prefect", f"{overhead['import_prefect_s']:.2f} s"])
        imports = ", ".join(f"{k} {v:.2f}" for k, v in overhead["client_imports_s"].items())
        rows.append(["client imports (in order, s)", imports])
        rows.append(["RSS after prefect / + clients", f"{overhead['rss_after_prefect_mb']:.0f} / "
                     f"{overhead['rss_after_clients_mb']:.0f} MB"])  # fmt: skip
        if "compute_v1_import_s" in overhead:
            rows.append(["google.cloud.compute_v1 (replaced by runbook.google.compute): import, RSS after",
                         replaced_module(overhead)])  # fmt: skip
        rows.append(["flow run: first / next", f"{overhead['first_flow_s']:.2f} / {overhead['flow_s']:.2f} s"])
        rows.append(["subflow run (empty)", f"{overhead['subflow_s']:.2f} s"])
        rows.append(["task run awaited / submitted (empty)", f"{overhead['task_awaited_s'] * 1000:.0f} / "
                     f"{overhead['task_submitted_s'] * 1000:.0f} ms"])  # fmt: skip
    return _table(["measure", "value"], rows) if rows else ""


def timeline(data: dict[str, Any]) -> str:
    from bench.report import timeline_rows

    found = timeline_rows(data["worlds"])
    if not found:
        return ""
    width = max(len(r) for r in found)
    rows: list[list[object]] = [[*r[:-1], *[""] * (width - len(r)), r[-1]] for r in found]
    phases = [f"phase {i}" for i in range(1, width - 2)]
    return _table(["world", "flow start -> first call", *phases, "after the last phase"], rows)


def worker(data: dict[str, Any]) -> str:
    w = data.get("worker")
    if not w:
        return ""
    keys = ("created_to_pickup_s", "pickup_to_running_s", "running_to_phase_1_s", "phase_1_to_first_task_running_s",
            "first_task_running_to_first_call_s", "pickup_to_first_check_s", "pickup_to_end_s")  # fmt: skip
    rows = [[i, *(r.get(k) for k in keys)] for i, r in enumerate(w["runs"], 1)]
    header = ["run", "created -> pickup s", "pickup -> Running s", "Running -> phase 1 s", "phase 1 -> first task s",
              "first task -> first call s", "pickup -> first check s", "pickup -> end s"]  # fmt: skip
    return _table(header, rows)


def targets(data: dict[str, Any]) -> str:
    def verdict(t: dict[str, Any]) -> str:
        return "not measured" if t["met"] is None else ("met" if t["met"] else "**not met**")

    rows = [
        [t["target"], "-" if t["value"] is None else f"{t['value']} {t['unit']}", verdict(t), t.get("detail", "")]
        for t in data["targets"]
    ]
    return _table(["target", "figure", "", "breakdown"], rows)


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    data = json.loads(Path(args[0] if args else DEFAULT_JSON).read_text())
    print(
        "\n\n".join(
            part
            for part in (runs(data), timeline(data), growth(data), startup(data), worker(data), targets(data))
            if part
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
