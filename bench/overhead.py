"""Where Prefect's time goes, measured in a fresh process: imports, a flow, a subflow, a task; client imports.

python -m bench.overhead --out overhead.json   (PREFECT_API_URL of a running server, or ephemeral)
"""

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.rss import peak_rss_mb

SUBFLOWS = 3
TASKS = 20
REPLACED = "google.cloud.compute_v1"  # measured after the others: what runbook.google.compute saves


def rss_mb() -> float:
    return peak_rss_mb()


def timed_import(module: str) -> float:
    import importlib

    started = time.monotonic()
    importlib.import_module(module)
    return round(time.monotonic() - started, 3)


def measure_prefect() -> dict[str, Any]:
    """Seconds per flow run, per subflow run and per task run (submit + result), after one warm-up flow."""
    from prefect import flow, task

    @task
    async def nothing(i: int) -> int:
        return i

    @flow
    async def child() -> int:
        return 1

    @flow
    async def empty() -> int:
        return 0

    @flow
    async def with_subflows(n: int) -> list[float]:
        times = []
        for _ in range(n):
            started = time.monotonic()
            await child()
            times.append(time.monotonic() - started)
        return times

    @flow
    async def with_tasks(n: int) -> tuple[float, float]:
        started = time.monotonic()
        for i in range(n):
            await nothing(i)
        sequential = time.monotonic() - started
        started = time.monotonic()
        futures = [nothing.submit(i) for i in range(n)]
        values = [future.result() for future in futures]
        assert len(values) == n
        return sequential / n, (time.monotonic() - started) / n

    async def timed(fn: Any, *args: Any) -> tuple[float, Any]:
        started = time.monotonic()
        value = await fn(*args)
        return time.monotonic() - started, value

    async def all_of() -> dict[str, Any]:
        first, _ = await timed(empty)
        again, _ = await timed(empty)
        _, subflows = await timed(with_subflows, SUBFLOWS)
        _, (per_task, per_submitted) = await timed(with_tasks, TASKS)
        return {
            "first_flow_s": round(first, 3),
            "flow_s": round(again, 3),
            "subflow_s": round(sum(subflows) / len(subflows), 3),
            "task_awaited_s": round(per_task, 4),
            "task_submitted_s": round(per_submitted, 4),
        }

    return asyncio.run(all_of())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.overhead", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {"rss_start_mb": rss_mb(), "import_prefect_s": timed_import("prefect")}
    result["rss_after_prefect_mb"] = rss_mb()
    from runbook.google.clients import CLIENT_MODULES

    modules = dict.fromkeys(CLIENT_MODULES.values())
    result["client_imports_s"] = {module.rsplit(".", 1)[-1]: timed_import(module) for module in modules}
    result["rss_after_clients_mb"] = rss_mb()
    result["compute_v1_import_s"] = timed_import(REPLACED)
    result["rss_after_compute_v1_mb"] = rss_mb()
    result.update(measure_prefect())
    result["peak_rss_mb"] = rss_mb()
    args.out.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
