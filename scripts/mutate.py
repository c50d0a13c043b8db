"""`make mutate`: mutation testing (mutmut) of the functions that decide, each set against its fast unit tests.

A mutant is the code with one small edit (`>` for `>=`, `and` for `or`, a string changed, a return value dropped).
A mutant is killed when a test fails against it; one that survives is a decision no test holds in place. Each set
below names the functions that decide and the unit tests that may kill their mutants (never the Prefect or the
simulator tests: every mutant reruns the tests that reach its function, so those must take milliseconds).

Every set runs in its own copy of the tree, `mutants/<set>/` (git-ignored), where mutmut writes its own `mutants/`:
the mutated modules and each mutant's result (`cd mutants/<set> && mutmut show NAME` shows one).
The score is killed / (mutants - declared equivalents);
`EQUIVALENT` lists each mutant no test can kill, with the reason, by the function and the line the mutant writes.

    python scripts/mutate.py                 # every set
    python scripts/mutate.py gate authorization --jobs 2
    python scripts/mutate.py --list          # the sets, their functions and tests
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "mutants"
COPIED = ("runbook", "tasks", "flows", "simulator", "tests", "environments")
TARGET = 0.90


def held_name(qualified: str) -> str:
    """The plain function that holds a decorated function's body in the copy: `CheckResult.blocking` -> `_held_...`."""
    return "_held_" + qualified.replace(".", "_")


@dataclass(frozen=True)
class MutationSet:
    """Functions that decide (`path.py:function` or `path.py:Class.method`) and the fast tests that hold them."""

    name: str
    about: str
    functions: tuple[str, ...]
    tests: tuple[str, ...]

    def files(self) -> list[str]:
        return sorted({function.split(":")[0] for function in self.functions})

    def globs(self) -> list[str]:
        """mutmut's mutant names for these functions: `runbook.results.x_gate__mutmut_*`, `...xǁClassǁmethod...`."""
        found = []
        for function in self.functions:
            path, name = function.split(":")
            module = path.removesuffix(".py").replace("/", ".")
            owner, _, method = name.rpartition(".")
            mangled = f"xǁ{owner}ǁ{method}" if owner else f"x_{name}"
            found.append(f"{module}.{mangled}__mutmut_*")
            found.append(f"{module}.x_{held_name(name)}__mutmut_*")  # a decorated one: see expose_decorated
        return found


SETS = (
    MutationSet(
        "gate",
        "The gate between phases, a run's verdict, which prerequisite lets a dependent check run.",
        (
            "runbook/results.py:gate",
            "runbook/results.py:CheckResult.blocking",
            "runbook/results.py:CheckResult.problem",
            "runbook/results.py:PhaseResult.blocking_checks",
            "runbook/results.py:PhaseResult.passed",
            "runbook/results.py:PhaseResult.failure_reason",
            "runbook/results.py:RunReport.verdict",
            "runbook/phases.py:prerequisite_problem",
            "runbook/phases.py:conclude_phase",
            "runbook/phases.py:skipped_phase",
            "runbook/phases.py:crashed_phase",
        ),
        ("tests/test_results.py", "tests/test_gate_edges.py"),
    ),
    MutationSet(
        "authorization",
        "Who may approve or reject a redeploy and who may start runs from Slack: members, user groups, failed "
        "lookups, the group cache, `runners`; the button values and note forms the decisions come from.",
        (
            "runbook/slack/approval.py:mention",
            "runbook/slack/approval.py:ButtonValue.parse",
            "runbook/slack/approval.py:read_note_submission",
            "runbook/slack/approval.py:ApproverCheck.allowed",
            "runbook/slack/approval.py:ApproverCheck._group",
            "runbook/slack/chatops.py:ChatOpsBot.authorize",
            "runbook/slack/chatops.py:ChatOpsBot.record_refused",
            "runbook/slack/chatops.py:ChatOpsBot.runner_refusal",
            "runbook/slack/chatops.py:ChatOpsBot.start_run",
        ),
        ("tests/test_authorization.py", "tests/test_slack_bot.py", "tests/test_chatops_trust.py"),
    ),
    MutationSet(
        "calls",
        "Google API error classification and retries: which errors are transient, Retry-After, the deadline, "
        "what a check reports for each kind of failure.",
        (
            "runbook/google/calls.py:Deadline.exclude",
            "runbook/google/calls.py:Deadline.elapsed",
            "runbook/google/calls.py:Deadline.remaining",
            "runbook/google/calls.py:http_status",
            "runbook/google/calls.py:is_transient",
            "runbook/google/calls.py:retry_after_seconds",
            "runbook/google/calls.py:CallCounter.sent",
            "runbook/google/calls.py:CallCounter.add",
            "runbook/google/calls.py:call_api",
            "runbook/checks.py:_short",
            "runbook/checks.py:no_answer",
            "runbook/checks.py:_unparseable",
            "runbook/checks.py:classify_api_error",
            "runbook/checks.py:within_deadline",
            "runbook/checks.py:skipped",
        ),
        (
            "tests/test_calls.py",
            "tests/test_calls_edges.py",
            "tests/test_check_deadline.py",
            "tests/test_check_task.py",
        ),
    ),
    MutationSet(
        "checks-infrastructure",
        "The decisions of phase 1's checks: VPC connector, Cloud SQL instance, database connectivity, secrets, "
        "load balancer, service drift, monitoring.",
        (
            "tasks/vpc_access.py:connector_state",
            "tasks/vpc_access.py:is_transitional",
            "tasks/vpc_access.py:_instances",
            "tasks/vpc_access.py:decide_connector",
            "tasks/vpc_access.py:decide_connector_missing",
            "tasks/cloud_sql.py:instance_state",
            "tasks/cloud_sql.py:is_transitional",
            "tasks/cloud_sql.py:private_ip",
            "tasks/cloud_sql.py:ssl_enforced",
            "tasks/cloud_sql.py:_network_matches",
            "tasks/cloud_sql.py:decide_instance",
            "tasks/cloud_sql.py:decide_instance_missing",
            "tasks/database.py:Target.where",
            "tasks/database.py:resolve_host",
            "tasks/database.py:connect_timeout",
            "tasks/database.py:decide_connected",
            "tasks/database.py:decide_connection_error",
            "tasks/secret_manager.py:short_name",
            "tasks/secret_manager.py:listed",
            "tasks/secret_manager.py:decide_secrets",
            "tasks/load_balancer.py:short_name",
            "tasks/load_balancer.py:backend_timeout_problems",
            "tasks/load_balancer.py:backend_health_problems",
            "tasks/load_balancer.py:health_check_values",
            "tasks/load_balancer.py:policy_conflicts",
            "tasks/load_balancer.py:health_check_problems",
            "tasks/load_balancer.py:_health_check_fix",
            "tasks/load_balancer.py:decide_load_balancer",
            "tasks/load_balancer.py:_missing",
            "tasks/load_balancer.py:_combine",
            "tasks/cloud_run_drift.py:deployed_settings",
            "tasks/cloud_run_drift.py:connector_resource",
            "tasks/cloud_run_drift.py:_connector_elsewhere",
            "tasks/cloud_run_drift.py:_own_secret",
            "tasks/cloud_run_drift.py:service_drift",
            "tasks/cloud_run_drift.py:decide_service_drift",
            "tasks/cloud_run_drift.py:_summary",
            "tasks/cloud_run_drift.py:_remediation",
            "tasks/monitoring.py:request_totals",
            "tasks/monitoring.py:decide_monitoring",
        ),
        (
            "tests/test_thresholds.py",
            "tests/test_database_decisions.py",
            "tests/test_vpc_decisions.py",
            "tests/test_load_balancer_decisions.py",
            "tests/test_service_drift_decisions.py",
            "tests/test_infrastructure_decisions.py",
            "tests/test_vpc_access.py",
            "tests/test_cloud_sql.py",
            "tests/test_database.py",
            "tests/test_secret_manager.py",
            "tests/test_load_balancer.py",
            "tests/test_service_drift.py",
            "tests/test_monitoring.py",
        ),
    ),
    MutationSet(
        "checks-service",
        "The decisions of phases 2 and 3: redeploy, Cloud Run readiness and traffic, health endpoints, the token, "
        "the WebSocket handshake, the golden path, performance.",
        (
            "tasks/cloud_run_ready.py:ready_state",
            "tasks/cloud_run_ready.py:is_settling",
            "tasks/cloud_run_ready.py:revision_is_ready",
            "tasks/cloud_run_ready.py:revision_failure",
            "tasks/cloud_run_ready.py:traffic_split",
            "tasks/cloud_run_ready.py:traffic_problem",
            "tasks/cloud_run_ready.py:service_evidence",
            "tasks/cloud_run_ready.py:decide_service_ready",
            "tasks/cloud_run_ready.py:decide_service_missing",
            "tasks/cloud_run_ready.py:combine_findings",
            "tasks/cloud_run_redeploy.py:stamped",
            "tasks/cloud_run_redeploy.py:was_applied",
            "tasks/cloud_run_redeploy.py:decide_redeploy",
            "tasks/cloud_run_redeploy.py:redeploy_targets",
            "tasks/cloud_run_redeploy.py:_redeploy_abort",
            "tasks/http_health.py:backoff_s",
            "tasks/http_health.py:describe_transport_error",
            "tasks/http_health.py:probe_timeout",
            "tasks/http_health.py:_status_field",
            "tasks/http_health.py:_expected",
            "tasks/http_health.py:_found",
            "tasks/http_health.py:decide_endpoint",
            "tasks/http_health.py:_decide_infrastructure",
            "tasks/http_health.py:remediation_for",
            "tasks/http_health.py:decide_health",
            "tasks/websocket.py:websocket_url",
            "tasks/websocket.py:service_url",
            "tasks/websocket.py:decide_token_answer",
            "tasks/websocket.py:parse_frame",
            "tasks/golden_path.py:timeline",
            "tasks/golden_path.py:_names",
            "tasks/golden_path.py:_rejection",
            "tasks/golden_path.py:decide_handshake",
            "tasks/golden_path.py:result_text",
            "tasks/golden_path.py:_order_problem",
            "tasks/golden_path.py:decide_golden_path",
            "tasks/performance.py:nearest_rank",
            "tasks/performance.py:Probes.attempted",
            "tasks/performance.py:Probes.stats",
            "tasks/performance.py:decide_performance",
        ),
        (
            "tests/test_thresholds.py",
            "tests/test_health_decisions.py",
            "tests/test_golden_path_decisions.py",
            "tests/test_cloud_run_decisions.py",
            "tests/test_service_decisions.py",
            "tests/test_cloud_run_rollout.py",
            "tests/test_http_health.py",
            "tests/test_golden_path.py",
            "tests/test_performance.py",
        ),
    ),
    MutationSet(
        "config",
        "The configuration's rules: hosts, URLs, gRPC targets, the connector's /28, Slack ids, repeats, and the "
        "rules across keys (instances, health check bounds, credentials, roles, backends, deadlines).",
        (
            "runbook/config/validators.py:is_host",
            "runbook/config/validators.py:_host",
            "runbook/config/validators.py:check_http_url",
            "runbook/config/validators.py:_grpc_target",
            "runbook/config/validators.py:_cidr_28",
            "runbook/config/validators.py:duplicate_errors",
            "runbook/config/validators.py:slack_id",
            "runbook/config/models.py:VpcConnectorConfig._min_within_max",
            "runbook/config/models.py:SecretsConfig._unique",
            "runbook/config/models.py:HealthCheckPolicy._ranges",
            "runbook/config/models.py:LoadBalancerConfig._unique_names",
            "runbook/config/models.py:GoldenPathConfig._credentials_source",
            "runbook/config/models.py:RunbookConfig._known_checks",
            "runbook/config/models.py:RunbookConfig._cross_references",
            "runbook/config/models.py:RunbookConfig._unique_roles",
            "runbook/config/models.py:RunbookConfig._known_backends",
            "runbook/config/models.py:RunbookConfig._golden_path_services",
            "runbook/config/models.py:RunbookConfig.check_deadline",
            "runbook/config/models.py:RunbookConfig.call_timeout",
            "runbook/config/models.py:RunbookConfig.check_enabled",
            "runbook/config/slack_models.py:TeamRoute._no_literal_mention",
            "runbook/config/slack_models.py:TeamRoute._slack_id",
            "runbook/config/slack_models.py:TeamRoute._at_handle",
            "runbook/config/slack_models.py:ChatOpsConfig._slack_ids",
        ),
        ("tests/test_config.py", "tests/test_config_edges.py", "tests/test_config_generated.py"),
    ),
    MutationSet(
        "redaction",
        "What never reaches a message: secret key names, known values, secret shapes, a driver's echo.",
        (
            "runbook/slack/evidence.py:redact_text",
            "runbook/slack/evidence.py:key_words",
            "runbook/slack/evidence.py:is_secret_key",
            "runbook/slack/evidence.py:redact",
            "tasks/database.py:_scrub",
        ),
        ("tests/test_redaction.py", "tests/test_slack_messages.py"),
    ),
    MutationSet(
        "stakeholder",
        "The stakeholder summary: the headline for each verdict, one line per phase, the golden path's time.",
        (
            "tasks/stakeholder.py:_phase_line",
            "tasks/stakeholder.py:compose_summary",
            "tasks/stakeholder.py:decide_summary",
        ),
        ("tests/test_stakeholder.py",),
    ),
)
SETS_BY_NAME = {s.name: s for s in SETS}
HELD_NAMES = {held_name(f.split(":")[1]): f.split(":")[1] for s in SETS for f in s.functions}

# Mutants no test can kill, by (function, the line the mutant writes, stripped): why they change nothing observable.
EQUIVALENT: dict[tuple[str, str], str] = {
    **{
        ("_phase_line", f'return f"- {{title}}: {{status.value.replace({old}, {new})}}."'): (
            "a phase without problems has passed (the gate says passed_with_warnings only with a problem, failed only "
            "with a blocking one, which is a problem too): 'passed' has no '_' to replace"
        )
        for old, new in (("'XX_XX'", "' '"), ("'_'", "'XX XX'"))
    },
    **{
        ("RunbookConfig._known_checks", f"raise_rule_errors({title}, unknown)"): (
            "the title of errors raised inside a field validator is not shown: pydantic reports them under the "
            "model's own title (RunbookConfig), each at its key"
        )
        for title in ("None", '"XXchecksXX"', '"CHECKS"')
    },
    (
        "ChatOpsBot.start_run",
        'async def start_run(self, user: str, command: Command, channel: str, channel_name: str = "XXXX") -> str:',
    ): (
        "without a channel name the run's message goes to the command's channel: an empty name and 'XXXX' both "
        "differ from the runbook channel's name"
    ),
    ("read_note_submission", 'metadata = json.loads(view.get("private_metadata") or "XX{}XX")'): (
        "a form without metadata: '{}' parses and then lacks 'value' (KeyError), 'XX{}XX' does not parse "
        "(ValueError); both are caught and refused with the same words"
    ),
}


def mutmut_config(selected: MutationSet) -> str:
    def toml_list(items: list[str]) -> str:
        return "[" + ", ".join(json.dumps(item) for item in items) + "]"

    return (
        "\n[tool.mutmut]\n"
        f"source_paths = {toml_list(list(COPIED[:4]))}\n"
        f"only_mutate = {toml_list(selected.files())}\n"
        f"pytest_add_cli_args_test_selection = {toml_list(list(selected.tests))}\n"
        'pytest_add_cli_args = ["-p", "tests.fast_only", "-p", "no:cacheprovider", "--timeout=60"]\n'
        'also_copy = ["environments"]\n'
        "use_git_change_detection = false\n"
    )


def _copy_changed(source: Path, target: Path, skip: set[Path]) -> None:
    """Mirror `source`: copy the files whose bytes differ and delete the files gone from it (a module moved)."""
    if target.exists():
        for path in list(target.rglob("*")):
            if path.is_file() and not (source / path.relative_to(target)).exists():
                path.unlink()
    for path in source.rglob("*"):
        if "__pycache__" in path.parts or not path.is_file() or path in skip:
            continue
        destination = target / path.relative_to(source)
        if destination.exists() and destination.read_bytes() == path.read_bytes():
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)


def _write_if_changed(path: Path, text: str) -> None:
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def expose_decorated(source: str, qualified_names: set[str]) -> str:
    """Move the body of each listed decorated function into a plain module-level function that it calls.

    mutmut leaves decorated functions alone (a @property or a pydantic validator has no trampoline), and they hold
    decisions too (`CheckResult.blocking`, `RunReport.verdict`, the config validators). In the copy under test only,
    `@property def blocking(self)` keeps its decorators and signature and returns `_held_CheckResult_blocking(self)`,
    which has the original body and is mutated like any function.
    """
    import libcst as cst

    held: list[cst.FunctionDef] = []

    class Expose(cst.CSTTransformer):
        def __init__(self) -> None:
            self.classes: list[str] = []

        def visit_ClassDef(self, node: cst.ClassDef) -> bool:
            self.classes.append(node.name.value)
            return True

        def leave_ClassDef(self, original: cst.ClassDef, updated: cst.ClassDef) -> cst.ClassDef:
            self.classes.pop()
            return updated

        def leave_FunctionDef(self, original: cst.FunctionDef, updated: cst.FunctionDef) -> cst.FunctionDef:
            qualified = ".".join([*self.classes, updated.name.value])
            if qualified not in qualified_names or not updated.decorators:
                return updated
            name = held_name(qualified)
            held.append(updated.with_changes(name=cst.Name(name), decorators=[], leading_lines=[cst.EmptyLine()]))
            params = updated.params
            args = [cst.Arg(cst.Name(p.name.value)) for p in (*params.posonly_params, *params.params)]
            if isinstance(params.star_arg, cst.Param):
                args.append(cst.Arg(cst.Name(params.star_arg.name.value), star="*"))
            args += [cst.Arg(cst.Name(p.name.value), keyword=cst.Name(p.name.value)) for p in params.kwonly_params]
            if params.star_kwarg is not None:
                args.append(cst.Arg(cst.Name(params.star_kwarg.name.value), star="**"))
            call: cst.BaseExpression = cst.Call(func=cst.Name(name), args=args)
            if updated.asynchronous is not None:
                call = cst.Await(call)
            body = cst.IndentedBlock(body=[cst.SimpleStatementLine(body=[cst.Return(value=call)])])
            return updated.with_changes(body=body)

    module = cst.parse_module(source).visit(Expose())
    return module.with_changes(body=[*module.body, *held]).code


def prepare(selected: MutationSet) -> Path:
    """mutants/<set>/: the tree as it is now, decorated deciding functions exposed (see `expose_decorated`)."""
    work = WORK / selected.name
    work.mkdir(parents=True, exist_ok=True)
    by_file: dict[str, set[str]] = {}
    for function in selected.functions:
        path, name = function.split(":")
        by_file.setdefault(path, set()).add(name)
    for name in COPIED:
        _copy_changed(ROOT / name, work / name, {ROOT / path for path in by_file})
    for path, names in by_file.items():
        _write_if_changed(work / path, expose_decorated((ROOT / path).read_text(), names))
    pyproject = (ROOT / "pyproject.toml").read_text()
    _write_if_changed(work / "pyproject.toml", pyproject + mutmut_config(selected))
    return work


@dataclass
class Outcome:
    mutant: str
    status: str
    diff: str


def mutated_line(diff: str) -> str:
    return next(
        (line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("++")), ""
    )


def function_of(mutant: str) -> str:
    """`runbook.results.xǁCheckResultǁblocking__mutmut_3` or `...x__held_CheckResult_blocking__mutmut_3` ->
    `CheckResult.blocking` (a held body is named after its function with `_` for `.`: see `held_name`)."""
    mangled = mutant.partition("__mutmut_")[0].rpartition(".")[2]
    if mangled.startswith("xǁ"):
        return mangled.removeprefix("xǁ").replace("ǁ", ".")
    name = mangled.removeprefix("x_")
    if name.startswith("_held_"):
        return HELD_NAMES.get(name, name)
    return name


_DIFFS = """
import json, sys
from mutmut.mutation.diff_apply import get_diff_for_mutant
print(json.dumps({name: get_diff_for_mutant(name) for name in json.load(sys.stdin)}))
"""


def outcomes(work: Path, selected: MutationSet) -> list[Outcome]:
    """Each mutant of the set's functions with mutmut's verdict, and the diff of those not killed."""
    mutmut = str(Path(sys.executable).parent / "mutmut")
    listed = subprocess.run([mutmut, "results", "--all", "true"], cwd=work, capture_output=True, text=True, check=True)
    prefixes = tuple(glob.removesuffix("*") for glob in selected.globs())
    found = []
    for line in listed.stdout.splitlines():
        name, _, status = line.strip().rpartition(": ")
        if name.startswith(prefixes):
            found.append(Outcome(name, status, ""))
    unkilled = [o.mutant for o in found if o.status not in ("killed", "timeout")]
    if unkilled:  # one process for every diff (`mutmut show` per mutant takes a second each)
        shown = subprocess.run(
            [sys.executable, "-c", _DIFFS], cwd=work, input=json.dumps(unkilled), capture_output=True, text=True
        )
        diffs: dict[str, str] = json.loads(shown.stdout) if shown.returncode == 0 else {}
        found = [Outcome(o.mutant, o.status, diffs.get(o.mutant, "")) for o in found]
    return found


def run_set(selected: MutationSet, jobs: int, report_only: bool = False) -> tuple[int, int, int]:
    """Run one set (or only report its last run); print its score and survivors. Returns (killed, equivalent, total)."""
    started = time.monotonic()
    work = WORK / selected.name
    if not report_only:
        work = prepare(selected)
        # mutmut keeps which tests reach which function from the last run; a module moved since then (or a new test)
        # leaves that map stale and mutants wrongly "survived". Every mutant is tested again anyway: start clean.
        shutil.rmtree(work / "mutants", ignore_errors=True)
        mutmut = str(Path(sys.executable).parent / "mutmut")
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        ran = subprocess.run(
            [mutmut, "run", "--max-children", str(jobs), *selected.globs()],
            cwd=work,
            env=env,
            capture_output=True,
            text=True,
        )
        if ran.returncode != 0:
            print(ran.stdout[-4000:], ran.stderr[-4000:], sep="\n")
            raise SystemExit(f"mutmut failed on set {selected.name} (exit {ran.returncode}); its tree: {work}")
    found = outcomes(work, selected)
    killed = [o for o in found if o.status in ("killed", "timeout")]
    equivalent: list[tuple[Outcome, str]] = []
    survivors: list[Outcome] = []
    for o in found:
        if o in killed:
            continue
        reason = EQUIVALENT.get((function_of(o.mutant), mutated_line(o.diff)))
        if reason:
            equivalent.append((o, reason))
        else:
            survivors.append(o)
    total = len(found)
    judged = total - len(equivalent)
    score = len(killed) / judged if judged else 1.0
    print(
        f"{selected.name}: {len(killed)} of {judged} mutants killed ({score:.1%}); {len(equivalent)} equivalent, "
        f"{len(survivors)} surviving; {time.monotonic() - started:.0f} s"
    )
    for o in survivors:
        changed = [line for line in o.diff.splitlines() if line[:1] in "+-" and line[:3] not in ("+++", "---")]
        print(f"  {o.status}: {o.mutant} ({function_of(o.mutant)})\n" + "\n".join(f"    {line}" for line in changed))
    for o, reason in equivalent:
        print(f"  equivalent {o.mutant}: {reason}")
    return len(killed), len(equivalent), total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sets", nargs="*", help=f"sets to run: {', '.join(SETS_BY_NAME)} (default: all)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="mutants tested at once")
    parser.add_argument("--list", action="store_true", help="print the sets and exit")
    parser.add_argument("--report", action="store_true", help="print the last run's results without running")
    parser.add_argument("--min-score", type=float, default=TARGET, help="exit 1 below this score (0..1)")
    args = parser.parse_args()
    unknown = [name for name in args.sets if name not in SETS_BY_NAME]
    if unknown:
        parser.error(f"no set {', '.join(unknown)}; the sets: {', '.join(SETS_BY_NAME)}")
    chosen = [SETS_BY_NAME[name] for name in args.sets] or list(SETS)
    if args.list:
        for s in chosen:
            print(f"{s.name}: {s.about}\n  functions: {', '.join(s.functions)}\n  tests: {', '.join(s.tests)}")
        return
    below = []
    totals = [0, 0, 0]
    for s in chosen:
        killed, equivalent, total = run_set(s, args.jobs, report_only=args.report)
        totals = [totals[0] + killed, totals[1] + equivalent, totals[2] + total]
        judged = total - equivalent
        if judged and killed / judged < args.min_score:
            below.append(s.name)
    judged = totals[2] - totals[1]
    print(f"all: {totals[0]} of {judged} mutants killed ({totals[0] / judged if judged else 1:.1%})")
    if below:
        raise SystemExit(f"below {args.min_score:.0%}: {', '.join(below)}")


if __name__ == "__main__":
    main()
