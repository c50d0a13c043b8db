"""Load balancer: backends attached, timeouts long enough for WebSockets, backend health, health checks on policy.

Reads `backendServices.get`, `backendServices.getHealth` (once per backend group) and `healthChecks.get` through
`CheckContext.call`, concurrently, then decides in pure functions. Serverless NEG backends (Cloud Run) report no
health at all: that is how the API answers, not an error. Compute refuses a health check whose timeoutSec exceeds its
checkIntervalSec, so a policy that asks for that (the issue-1278 escalation plan's "timeout 60 s, interval 30 s")
cannot be applied as written; the check says so instead of suggesting an impossible command.
"""

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from runbook.check_task import check_task
from runbook.checks import CheckAbort, CheckContext, Finding, run_check
from runbook.config.models import BackendServicePolicy, HealthCheckPolicy, LoadBalancerConfig, RunbookConfig
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, Status

CHECK_ID = "load-balancer"
SHOWN = 3  # problems spelled out in the one-line summary before "+N more"
# What Compute applies when a field is unset (https://cloud.google.com/compute/docs/reference/rest/v1/healthChecks).
HEALTH_CHECK_DEFAULTS = {"check_interval_sec": 5, "timeout_sec": 5, "healthy_threshold": 2, "unhealthy_threshold": 2}
BACKEND_TIMEOUT_DEFAULT = 30  # backendServices: "The default is 30 seconds."


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one resource: FAIL (the system is wrong) or WARN (off policy)."""

    status: Status
    text: str
    fix: str = ""


def short_name(link: str) -> str:
    """`https://.../networkEndpointGroups/netra-backend-staging-neg` -> `netra-backend-staging-neg`."""
    return link.rstrip("/").rsplit("/", 1)[-1]


# --- decision --------------------------------------------------------------------------------------------------


def backend_timeout(service: Any) -> int:
    """The backend service's timeoutSec; Compute's default (30 s) when the API leaves it out."""
    return int(service.timeout_sec) if "timeout_sec" in service else BACKEND_TIMEOUT_DEFAULT


def backend_timeout_problems(policy: BackendServicePolicy, service: Any, project: str) -> list[Problem]:
    """FAIL when the backend service's timeoutSec is shorter than the policy (WebSockets are cut at timeoutSec)."""
    found = backend_timeout(service)
    if found >= policy.min_timeout_s:
        return []
    return [
        Problem(
            Status.FAIL,
            f"backend service {policy.name} timeoutSec is {found} s, expected at least {policy.min_timeout_s} s",
            f"gcloud compute backend-services update {policy.name} --global --timeout={policy.min_timeout_s} "
            f"--project {project}",
        )
    ]


def backends_problems(
    policy: BackendServicePolicy, service: Any, project: str, region: str, cloud_run_service: str | None
) -> list[Problem]:
    """FAIL when the backend service has no backends: the load balancer has nowhere to send its traffic.

    Google leaves an empty `backends` list out of its answer: absent and empty are the same thing. The fix re-attaches
    the serverless NEG of the Cloud Run service configured with this backend service (`load_balancer_backend`).
    """
    if list(service.backends):
        return []
    target = f"--project {project}"
    run = cloud_run_service or "SERVICE"
    neg_of = f"the serverless NEG of Cloud Run service {run}" if cloud_run_service else "its serverless NEG"
    fix = (
        f"gcloud compute backend-services add-backend {policy.name} --global --network-endpoint-group=NEG "
        f"--network-endpoint-group-region={region} {target}\n"
        f"  NEG: {neg_of}: gcloud compute network-endpoint-groups list --regions={region} "
        f'--filter="cloudRun.service={run}" {target}\n'
        f"  none listed: gcloud compute network-endpoint-groups create {run}-neg --region={region} "
        f"--network-endpoint-type=serverless --cloud-run-service={run} {target}"
    )
    text = f"backend service {policy.name} has no backends: nothing serves its traffic"
    if cloud_run_service:
        text += f" (the serverless NEG of {cloud_run_service} is detached)"
    return [Problem(Status.FAIL, text, fix)]


def _serverless_or_internet(group: str) -> bool:
    """A NEG that reports no health by design: regional (serverless, PSC, internet) or global (internet).

    Instance groups and zonal NEGs report one status per instance/endpoint: none means none to send traffic to.
    """
    return "/networkEndpointGroups/" in group and "/zones/" not in group


def backend_health_problems(service: str, group: str, health: Any) -> tuple[list[Problem], str]:
    """Problems and a one-word description of a backend group's health (`getHealth` answer).

    Serverless NEGs answer with no `healthStatus` at all: "no health reported", not an error. An instance group or
    zonal NEG answering none has no instances or endpoints: FAIL. An endpoint without a `healthState` is not HEALTHY.
    """
    statuses = list(health.health_status)
    if not statuses:
        if _serverless_or_internet(group):
            kind = "internet NEG" if "/global/" in group else "serverless NEG"
            return [], f"no health reported ({kind})"
        kind = "instance group" if "/instanceGroups/" in group else "zonal NEG"
        text = f"backend service {service} group {short_name(group)}: no instances or endpoints to send traffic to"
        fix = f"Add instances/endpoints to {kind} {short_name(group)}, or remove it from backend service {service}."
        return [Problem(Status.FAIL, text, fix)], f"no endpoints ({kind})"
    unhealthy = [s for s in statuses if s.health_state != "HEALTHY"]
    description = f"{len(statuses) - len(unhealthy)}/{len(statuses)} HEALTHY"
    if not unhealthy:
        return [], description
    endpoints = ", ".join(
        f"{short_name(s.instance) if s.instance else s.ip_address or '?'} {s.health_state or 'no health state'}"
        for s in unhealthy[:SHOWN]
    )
    text = f"backend service {service} group {short_name(group)}: {len(unhealthy)} of {len(statuses)} endpoints "
    text += f"not HEALTHY ({endpoints})"
    fix = f"gcloud compute backend-services get-health {service} --global  # then inspect the unhealthy endpoints"
    return [Problem(Status.FAIL, text, fix)], description


def health_check_values(check: Any) -> dict[str, int]:
    """The four timing fields, with Compute's defaults for unset ones."""
    return {key: getattr(check, key) if key in check else default for key, default in HEALTH_CHECK_DEFAULTS.items()}


def policy_conflicts(policy: HealthCheckPolicy) -> list[Problem]:
    """Policies no health check can meet; a configuration concern reported as WARN."""
    problems = []
    if policy.min_timeout_s > policy.max_interval_s:
        problems.append(
            Problem(
                Status.WARN,
                f"policy for health check {policy.name} cannot be met: a timeout of at least {policy.min_timeout_s} s "
                f"needs an interval of at least {policy.min_timeout_s} s (Compute requires timeoutSec <= "
                f"checkIntervalSec), but the interval may be at most {policy.max_interval_s} s -- like the escalation "
                f"plan's 'timeout 60 s, interval 30 s', it cannot be applied as written",
                f"Fix [[load_balancer.health_checks]] name = {policy.name!r} in the environment file "
                f"(min_timeout_s <= max_interval_s).",
            )
        )
    if policy.min_timeout_s > policy.max_timeout_s:
        problems.append(
            Problem(
                Status.WARN,
                f"policy for health check {policy.name} cannot be met: min_timeout_s {policy.min_timeout_s} > "
                f"max_timeout_s {policy.max_timeout_s}",
                f"Fix [[load_balancer.health_checks]] name = {policy.name!r} in the environment file.",
            )
        )
    if policy.min_unhealthy_threshold > policy.max_unhealthy_threshold:
        problems.append(
            Problem(
                Status.WARN,
                f"policy for health check {policy.name} cannot be met: min_unhealthy_threshold "
                f"{policy.min_unhealthy_threshold} > max_unhealthy_threshold {policy.max_unhealthy_threshold}",
                f"Fix [[load_balancer.health_checks]] name = {policy.name!r} in the environment file.",
            )
        )
    return problems


def health_check_problems(policy: HealthCheckPolicy, check: Any, project: str) -> list[Problem]:
    """Compute's own rule (timeoutSec <= checkIntervalSec) and the configured policy; off policy -> WARN.

    A health check breaking Compute's rule cannot be created through the API; one that shows up anyway (an old
    resource, a proxy rewriting answers) means probes overlap, so that is a FAIL.
    """
    values = health_check_values(check)
    interval, timeout = values["check_interval_sec"], values["timeout_sec"]
    healthy, unhealthy = values["healthy_threshold"], values["unhealthy_threshold"]
    conflicts = policy_conflicts(policy)
    problems = list(conflicts)
    off: list[str] = []
    if timeout > interval:
        problems.append(
            Problem(
                Status.FAIL,
                f"health check {policy.name} timeoutSec {timeout} s exceeds checkIntervalSec {interval} s, which "
                f"Compute does not allow",
            )
        )
    if not policy.min_timeout_s <= timeout <= policy.max_timeout_s:
        off.append(f"timeoutSec {timeout} s (policy {policy.min_timeout_s}-{policy.max_timeout_s} s)")
    if interval > policy.max_interval_s:
        off.append(f"checkIntervalSec {interval} s (policy at most {policy.max_interval_s} s)")
    if not policy.min_unhealthy_threshold <= unhealthy <= policy.max_unhealthy_threshold:
        off.append(
            f"unhealthyThreshold {unhealthy} (policy {policy.min_unhealthy_threshold}-{policy.max_unhealthy_threshold})"
        )
    if healthy > policy.max_healthy_threshold:
        off.append(f"healthyThreshold {healthy} (policy at most {policy.max_healthy_threshold})")
    fix = ""
    if (off or timeout > interval) and not conflicts:
        fix = _health_check_fix(policy, check, values, project)
        problems = [p if p.fix else Problem(p.status, p.text, fix) for p in problems]
    if off:
        problems.append(Problem(Status.WARN, f"health check {policy.name} off policy: " + ", ".join(off), fix))
    return problems


def _health_check_fix(policy: HealthCheckPolicy, check: Any, values: dict[str, int], project: str) -> str:
    """A gcloud command bringing the health check within policy, respecting timeoutSec <= checkIntervalSec."""
    interval = min(values["check_interval_sec"], policy.max_interval_s)
    timeout = min(max(values["timeout_sec"], policy.min_timeout_s), policy.max_timeout_s, interval)
    unhealthy = min(max(values["unhealthy_threshold"], policy.min_unhealthy_threshold), policy.max_unhealthy_threshold)
    healthy = min(values["healthy_threshold"], policy.max_healthy_threshold)
    kind = (check.type_ or "http").lower()
    return (
        f"gcloud compute health-checks update {kind} {policy.name} --global --project {project} "
        f"--check-interval={interval}s --timeout={timeout}s --unhealthy-threshold={unhealthy} "
        f"--healthy-threshold={healthy}"
    )


@dataclass(frozen=True)
class LoadBalancerState:
    """What the API reported; None for a resource that does not exist (404)."""

    backend_services: Mapping[str, Any | None]
    group_health: Mapping[str, Mapping[str, Any]]  # backend service -> group link -> BackendServiceGroupHealth
    health_checks: Mapping[str, Any | None]
    existing_backend_services: Sequence[str] = ()
    existing_health_checks: Sequence[str] = ()


def decide_load_balancer(
    config: LoadBalancerConfig,
    state: LoadBalancerState,
    project: str,
    region: str = "REGION",
    cloud_run: Mapping[str, str] | None = None,
) -> Finding:
    """Decide the `load-balancer` check: every problem of every configured resource, the worst one sets the status.

    Args:
        config: The backend services and health check policies to review.
        state: What Compute answered.
        project: Project id, for the remediation commands.
        region: Region of the serverless NEGs, for the command that re-attaches one.
        cloud_run: Backend service -> the Cloud Run service configured behind it (`[[services]]
            load_balancer_backend`), to name the NEG to re-attach.

    Returns:
        PASS when all is well; FAIL naming each backend service with no backends, a short timeout, unhealthy
        endpoints or a missing resource; WARN for health checks off policy (and policies no health check can meet).
    """
    cloud_run = cloud_run or {}
    if not config.backend_services and not config.health_checks:
        return Finding(Status.SKIPPED, "no backend services or health checks configured ([load_balancer])")
    problems: list[Problem] = []
    evidence: dict[str, Any] = {"backend_services": {}, "health_checks": {}}
    for policy in config.backend_services:
        service = state.backend_services.get(policy.name)
        if service is None:
            problems.append(_missing("backend service", policy.name, state.existing_backend_services))
            evidence["backend_services"][policy.name] = "not found"
            continue
        problems += backends_problems(policy, service, project, region, cloud_run.get(policy.name))
        problems += backend_timeout_problems(policy, service, project)
        health: dict[str, str] = {}
        for group, answer in state.group_health.get(policy.name, {}).items():
            found, description = backend_health_problems(policy.name, group, answer)
            problems += found
            health[short_name(group)] = description
        evidence["backend_services"][policy.name] = {
            "timeout_s": backend_timeout(service),
            "min_timeout_s": policy.min_timeout_s,
            "backends": health or "none",
        }
    for check_policy in config.health_checks:
        check = state.health_checks.get(check_policy.name)
        if check is None:
            problems.append(_missing("health check", check_policy.name, state.existing_health_checks))
            evidence["health_checks"][check_policy.name] = "not found"
            continue
        problems += health_check_problems(check_policy, check, project)
        evidence["health_checks"][check_policy.name] = health_check_values(check)
    return _combine(problems, evidence, config)


def _missing(kind: str, name: str, existing: Sequence[str]) -> Problem:
    there = ", ".join(existing) if existing else "none"
    plural = "backend-services" if kind == "backend service" else "health-checks"
    return Problem(
        Status.FAIL,
        f"{kind} {name} not found (existing: {there})",
        f"Fix the name in [load_balancer] or create it; list them with: gcloud compute {plural} list --global",
    )


def _combine(problems: list[Problem], evidence: dict[str, Any], config: LoadBalancerConfig) -> Finding:
    if not problems:
        summary = (
            f"{len(config.backend_services)} backend service(s) with long enough timeouts, "
            f"{len(config.health_checks)} health check(s) within policy"
        )
        return Finding(Status.PASS, summary, evidence)
    status = Status.FAIL if any(p.status == Status.FAIL for p in problems) else Status.WARN
    ordered = sorted(problems, key=lambda p: p.status != Status.FAIL)  # FAILs first in the summary
    summary = "; ".join(p.text for p in ordered[:SHOWN])
    if len(ordered) > SHOWN:
        summary += f" (+{len(ordered) - SHOWN} more)"
    evidence["problems"] = [p.text for p in ordered]
    fixes = list(dict.fromkeys(p.fix for p in ordered if p.fix))  # unique, in order
    return Finding(status, summary, evidence, "\n".join(fixes))


# --- reading ---------------------------------------------------------------------------------------------------


async def _optional(ctx: CheckContext, what: str, fn: Any, **kwargs: Any) -> Any | None:
    """A read where 404 is an answer (the resource does not exist), not the end of the check."""
    try:
        return await ctx.call("compute", what, fn, **kwargs)
    except CheckAbort as abort:
        if abort.http_status == 404:
            return None
        raise


async def _names(ctx: CheckContext, what: str, fn: Any) -> list[str]:
    """Names in the first page of a list (only read to tell the operator what exists after a 404)."""
    answer = await ctx.call("compute", what, fn, request={"project": ctx.config.gcp.project, "max_results": 500})
    return sorted(item.name for item in answer.items)


async def read_load_balancer(ctx: CheckContext) -> LoadBalancerState:
    """Every configured backend service and health check, then getHealth of each backend group, concurrently."""
    config, project = ctx.config.load_balancer, ctx.config.gcp.project
    # Off the event loop: the first use may wait for the clients' background build (not counted in the deadline).
    backend_services, health_checks = await asyncio.to_thread(
        lambda: (ctx.clients.backend_services, ctx.clients.health_checks)
    )
    try:
        async with asyncio.TaskGroup() as group:
            services = {
                p.name: group.create_task(
                    _optional(
                        ctx, f"backend service {p.name}", backend_services.get, project=project, backend_service=p.name
                    )
                )
                for p in config.backend_services
            }
            checks = {
                p.name: group.create_task(
                    _optional(ctx, f"health check {p.name}", health_checks.get, project=project, health_check=p.name)
                )
                for p in config.health_checks
            }
    except ExceptionGroup as errors:  # one failed read ends the check: report it, not the group
        raise errors.exceptions[0] from None
    found_services = {name: job.result() for name, job in services.items()}
    found_checks = {name: job.result() for name, job in checks.items()}
    try:
        async with asyncio.TaskGroup() as group:
            health_jobs = {
                (name, backend.group): group.create_task(
                    ctx.call(
                        "compute",
                        f"health of {short_name(backend.group)} in backend service {name}",
                        backend_services.get_health,
                        project=project,
                        backend_service=name,
                        resource_group_reference_resource={"group": backend.group},
                    )
                )
                for name, service in found_services.items()
                if service is not None
                for backend in service.backends
            }
    except ExceptionGroup as errors:  # one failed read ends the check: report it, not the group
        raise errors.exceptions[0] from None
    group_health: dict[str, dict[str, Any]] = {}
    for (name, link), job in health_jobs.items():
        group_health.setdefault(name, {})[link] = job.result()
    existing_services: list[str] = []
    existing_checks: list[str] = []
    if None in found_services.values():
        existing_services = await _names(ctx, "backend service list", backend_services.list)
    if None in found_checks.values():
        existing_checks = await _names(ctx, "health check list", health_checks.list)
    return LoadBalancerState(found_services, group_health, found_checks, existing_services, existing_checks)


# --- the check -------------------------------------------------------------------------------------------------


async def _check_load_balancer(ctx: CheckContext) -> CheckResult:
    state = await read_load_balancer(ctx)
    config, gcp = ctx.config, ctx.config.gcp
    cloud_run = {s.load_balancer_backend: s.name for s in config.services if s.load_balancer_backend}
    return ctx.finish(decide_load_balancer(config.load_balancer, state, gcp.project, gcp.region, cloud_run))


@check_task("load-balancer")
async def load_balancer_check(config: RunbookConfig, clients: GoogleClients) -> CheckResult:
    """P1 `load-balancer`: backend service timeouts, backend health and health check timings.

    Verifies that each configured backend service has backends (without one the load balancer has nowhere to send
    `/api` and `/ws`) and a timeoutSec of at least its `min_timeout_s` (the load balancer cuts every request,
    WebSockets included, at timeoutSec: the backend needs a long one for `/ws`), that no backend group reports
    unhealthy endpoints (serverless NEGs report none, which is fine), and that each configured health
    check obeys Compute's rule timeoutSec <= checkIntervalSec and the configured policy (WARN when off policy).

    Args:
        config: The environment; `config.load_balancer` lists the backend services and health check policies.
        clients: The Google client factory (`backend_services`, `health_checks`).

    Example:
        >>> result = await load_balancer_check.fn(config, GoogleClients(config.gcp))
        >>> result.status
        <Status.PASS: 'PASS'>
    """
    return await run_check(CHECK_ID, config, clients, _check_load_balancer)
