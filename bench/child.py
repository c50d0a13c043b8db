"""One handoff run in its own process (so its peak RSS is its own), as `runbook run` does, reported as JSON.

    python -m bench.child --env FILE --out result.json [--phases infrastructure,restoration,business]

Reports the wall time measured inside the handoff flow (the RunReport's duration and phase durations), the time
around the flow call (flow run creation and teardown included), the import time, when each check finished, and
the process's peak RSS. Exit status 0 when the run passed (with or without warnings), 1 otherwise.
"""

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

from bench.rss import peak_rss_mb


def run(env: str, phases: list[str]) -> dict[str, Any]:
    started = time.monotonic()
    from flows.handoff import staging_handoff
    from runbook.google.clients import preload_in_background
    from runbook.parameters import HandoffParameters
    from runbook.phases import add_check_listener
    from runbook.results import CheckResult, RunReport

    imported = time.monotonic()
    preload_in_background()  # as `runbook run` does (runbook/app/execute.py): the client imports after Prefect's
    finished: dict[str, float] = {}

    def heard(result: CheckResult) -> None:
        finished[result.id] = time.monotonic()

    remove = add_check_listener(heard)
    try:
        parameters = HandoffParameters.model_validate({"environment": env, "phases": phases, "trigger": "bench"})
        call: Any = staging_handoff(**parameters.flow_kwargs(), return_state=True)
        state: Any = asyncio.run(call)
    finally:
        remove()
    ended = time.monotonic()
    data = state.result(raise_on_failure=False)
    if not isinstance(data, RunReport):
        raise RuntimeError(f"the handoff flow ended {state.name} without a report: {data!r}")
    flow_run_id = getattr(state.state_details, "flow_run_id", None)
    return {
        "flow_run_id": str(flow_run_id) if flow_run_id else None,
        "verdict": data.verdict.value,
        "wall_s": round(data.duration_s or 0.0, 3),
        "flow_call_s": round(ended - imported, 3),
        "import_s": round(imported - started, 3),
        "phases": [
            {
                "phase": phase.phase.value,
                "status": phase.status.value,
                "duration_s": round(phase.duration_s or 0.0, 3),
                "checks": {
                    c.id: {
                        "status": c.status.value,
                        "duration_s": round(c.duration_s or 0.0, 3),
                        "attempts": c.attempts,
                    }
                    for c in phase.checks
                },
            }
            for phase in data.phases
        ],
        "check_finished_at_s": {check: round(at - imported, 3) for check, at in sorted(finished.items())},
        "check_finished_mono": dict(sorted(finished.items())),
        "problems": [
            f"{c.id}: {c.status.value} {c.summary}" for p in data.phases for c in p.checks if c.status.value != "PASS"
        ],
        "peak_rss_mb": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.child", description=__doc__.split("\n")[0])
    parser.add_argument("--env", required=True, help="environment TOML file")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--phases", default="infrastructure,restoration,business", help="comma-separated")
    args = parser.parse_args(argv)
    result = run(args.env, args.phases.split(","))
    args.out.write_text(json.dumps(result, indent=2))
    return 0 if result["verdict"] in ("passed", "passed_with_warnings") else 1


if __name__ == "__main__":
    sys.exit(main())
