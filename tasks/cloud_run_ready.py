"""Cloud Run readiness: are the services' latest revisions ready and serving.

Check `cloud-run-ready` (P0): per configured service, the Ready terminal condition succeeded, the latest created
revision is the latest ready one, traffic goes where configured (100 % to the latest revision by default) and a URL is
assigned. A service still reconciling is re-read until the check's deadline. The services are read concurrently.

The reads and the judgement of a service's rollout state here are also what the approved redeploy
(`tasks/cloud_run_redeploy.py`) waits on and verifies with.
"""

import asyncio
import time
from collections.abc import Callable, Sequence
from typing import Any

from runbook.check_task import check_task
from runbook.checks import CheckAbort, CheckContext, Finding, run_check
from runbook.config.models import RunbookConfig, ServiceConfig
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, Status

READY_ID = "cloud-run-ready"
SUCCEEDED = "CONDITION_SUCCEEDED"
SETTLING = frozenset({"CONDITION_RECONCILING", "CONDITION_PENDING"})
LATEST = "TRAFFIC_TARGET_ALLOCATION_TYPE_LATEST"
REVISION = "TRAFFIC_TARGET_ALLOCATION_TYPE_REVISION"
POLL_FIRST_S = 0.25
_RANK = {Status.FAIL: 4, Status.ERROR: 3, Status.WARN: 2, Status.PASS: 1, Status.SKIPPED: 0}


def short_name(name: str) -> str:
    """The last part of a resource name: `projects/p/locations/r/services/s/revisions/s-00002-abc` -> `s-00002-abc`."""
    return name.rstrip("/").rsplit("/", 1)[-1] if name else ""


def gcloud_run(command: str, region: str, project: str) -> str:
    """A `gcloud run` command for a remediation, with the region and project spelled out."""
    return f"gcloud run {command} --region {region} --project {project}"


def ready_state(service: Any) -> str:
    """The service's Ready terminal condition state (`CONDITION_SUCCEEDED`, ...; `STATE_UNSPECIFIED` when absent)."""
    return str(service.terminal_condition.state.name)


def is_settling(service: Any) -> bool:
    """A rollout in progress (reconciling, or Ready still pending): worth re-reading before deciding."""
    return bool(service.reconciling) or ready_state(service) in SETTLING


def _revision_ready(revision: Any) -> Any | None:
    return next((c for c in revision.conditions if c.type_ == "Ready"), None)


def revision_is_ready(revision: Any | None) -> bool:
    """True when the revision's Ready condition succeeded."""
    condition = _revision_ready(revision) if revision is not None else None
    return condition is not None and condition.state.name == SUCCEEDED


def revision_failure(revision: Any) -> str:
    """Why a revision is not ready, from its Ready condition: `HEALTH_CHECK_CONTAINER_ERROR: message`."""
    condition = _revision_ready(revision)
    if condition is None:
        return "no Ready condition reported"
    reason = condition.revision_reason.name if condition.revision_reason else ""
    if not reason and condition.reason:
        reason = condition.reason.name
    message = " ".join(condition.message.split())
    text = f"{reason}: {message}" if reason and message else reason or message
    return text or str(condition.state.name)


# Cloud Run v2 `Service.traffic`: "If traffic is empty or not provided, defaults to 100% traffic to the latest Ready
# Revision."
DEFAULT_TRAFFIC = "LATEST 100% (default)"


def traffic_split(targets: Sequence[Any]) -> list[str]:
    """Traffic targets (or statuses) as `LATEST 100%` / `REVISION-NAME 100%`."""
    split = []
    for target in targets:
        kind = target.type_.name
        where = "LATEST" if kind == LATEST else target.revision or kind
        split.append(f"{where} {target.percent}%")
    return split


def traffic_problem(service: Any) -> str | None:
    """Why not 100 % of the traffic reaches the latest ready revision (spec and status both), or None."""
    latest = short_name(service.latest_ready_revision)

    def to_latest(target: Any) -> bool:
        kind = target.type_.name
        return kind == LATEST or (kind == REVISION and bool(latest) and target.revision == latest)

    for label, targets in (("traffic", service.traffic), ("traffic status", service.traffic_statuses)):
        if not targets:
            continue
        share = sum(t.percent for t in targets if to_latest(t))
        if share >= 100:
            continue
        elsewhere = [
            f"{t.percent} % pinned to revision {t.revision}"
            for t in targets
            if t.percent and t.revision and not to_latest(t)
        ]
        detail = ", ".join(elsewhere) or ", ".join(traffic_split(targets))
        return f"{label}: {share} % to the latest ready revision {latest or '(none)'}; {detail}"
    return None  # no targets at all: Cloud Run sends 100 % to the latest Ready revision (DEFAULT_TRAFFIC)


def service_evidence(service: Any) -> dict[str, Any]:
    """What a person wants to see of a service: revisions, traffic split, URL, condition."""
    return {
        "latest_created_revision": short_name(service.latest_created_revision) or None,
        "latest_ready_revision": short_name(service.latest_ready_revision) or None,
        "traffic": traffic_split(service.traffic) or [DEFAULT_TRAFFIC],
        "traffic_statuses": traffic_split(service.traffic_statuses),
        "uri": service.uri or None,
        "ready": ready_state(service),
        "generation": int(service.generation),
        "observed_generation": int(service.observed_generation),
    }


def decide_service_ready(
    service: Any,
    expected: ServiceConfig,
    region: str,
    project: str,
    revision: Any | None = None,
    waited_s: float = 0.0,
) -> Finding:
    """Decide `cloud-run-ready` for one service from a `run_v2.Service`.

    Args:
        service: The service as the Cloud Run Admin API v2 returned it (after any polling).
        expected: The configured service: name and expected traffic (`latest` or `any`).
        region: Region of the service (for the remediation commands).
        project: Project id (for the remediation commands).
        revision: The latest created `run_v2.Revision`, read when it is not ready (its Ready condition names the
            container error); None when not read.
        waited_s: How long the check waited for a reconciling service (0 when it did not wait).

    Returns:
        FAIL listing every problem (Ready condition, revision not ready, traffic, URL) with the commands that fix
        or investigate it; PASS otherwise.
    """
    name = expected.name
    evidence = service_evidence(service)
    if waited_s:
        evidence["waited_s"] = round(waited_s, 1)
    created, ready = evidence["latest_created_revision"], evidence["latest_ready_revision"]
    problems: list[str] = []
    fixes: list[str] = []
    state = ready_state(service)
    condition = service.terminal_condition
    if is_settling(service):
        problems.append(f"still {state} (rolling out) after waiting {waited_s:.1f} s")
    elif state != SUCCEEDED:
        # The failed revision's own condition (below) says the same more precisely: keep the summary to one reason.
        message = "" if revision is not None else " ".join(condition.message.split())
        reason = condition.reason.name if condition.reason else ""
        problems.append(
            f"Ready condition {state}" + (f" ({reason})" if reason else "") + (f": {message}" if message else "")
        )
    if created != ready:
        why = revision_failure(revision) if revision is not None else "its Ready condition was not read"
        problems.append(f"latest created revision {created} is not ready ({why}); latest ready is {ready or 'none'}")
        evidence["revision_failure"] = why if revision is not None else None
    if problems:
        fixes.append(gcloud_run(f"revisions describe {created or 'REVISION'}", region, project))
        fixes.append(gcloud_run(f"services logs read {name}", region, project))
    if expected.traffic == "latest" and (problem := traffic_problem(service)):
        problems.append(problem)
        fixes.append(gcloud_run(f"services update-traffic {name}", region, project) + " --to-latest")
    if not service.uri:
        problems.append("no URL assigned")
        fixes.append(gcloud_run(f"services describe {name}", region, project) + " --format='value(status.url)'")
    if problems:
        return Finding(Status.FAIL, f"{name}: " + "; ".join(problems), evidence, "\n".join(fixes))
    return Finding(Status.PASS, f"{name} ready on {ready} ({', '.join(evidence['traffic'])})", evidence)


def decide_service_missing(expected: ServiceConfig, region: str, project: str) -> Finding:
    """The service does not exist (404): FAIL naming what was looked for and how to deploy or rename it."""
    summary = f"{expected.name}: service not found in {project}/{region}"
    remediation = (
        f"Deploy it ({gcloud_run(f'deploy {expected.name} --image IMAGE', region, project)}) or fix the [[services]] "
        f"name; list what exists: {gcloud_run('services list', region, project)}"
    )
    return Finding(Status.FAIL, summary, {"looked_for": expected.name, "region": region}, remediation)


def combine_findings(findings: Sequence[tuple[str, Finding]], passed: str) -> Finding:
    """One check result from per-service findings: the worst status, every problem named, fixes de-duplicated.

    Args:
        findings: (service name, finding) pairs, in configuration order.
        passed: Verb for the all-passed summary, e.g. "ready" or "redeployed".
    """
    status = max((f.status for _, f in findings), key=lambda s: _RANK[s], default=Status.PASS)
    evidence = {"services": {name: f.evidence for name, f in findings}}
    fixes = list(dict.fromkeys(line for _, f in findings for line in f.remediation.splitlines() if line))
    bad = [f for _, f in findings if f.status != Status.PASS]
    if not bad:
        return Finding(
            Status.PASS, f"{len(findings)} service(s) {passed}: " + "; ".join(f.summary for _, f in findings), evidence
        )
    summary = f"{len(findings) - len(bad)} of {len(findings)} service(s) {passed}; " + "; ".join(f.summary for f in bad)
    return Finding(status, summary, evidence, "\n".join(fixes))


def _abort_finding(name: str, abort: CheckAbort) -> Finding:
    return Finding(abort.status, f"{name}: {abort.summary}", abort.evidence, abort.remediation)


# --- reads -----------------------------------------------------------------------------------------------------


async def get_service(ctx: CheckContext, name: str) -> Any:
    """The `run_v2.Service` by its full name, through the check's call policy (a 404 aborts with http_status 404)."""
    from google.cloud import run_v2

    request = run_v2.GetServiceRequest(name=name)
    return await ctx.call("run", f"service {name}", ctx.clients.run_services.get_service, request=request)


async def get_revision(ctx: CheckContext, name: str) -> Any | None:
    """The revision, or None when it cannot be read (its detail only enriches a FAIL already decided)."""
    from google.cloud import run_v2

    request = run_v2.GetRevisionRequest(name=name)
    try:
        return await ctx.call("run", f"revision {name}", ctx.clients.run_revisions.get_revision, request=request)
    except CheckAbort:
        return None


async def poll_service(ctx: CheckContext, name: str, service: Any, settled: Callable[[Any], bool]) -> Any:
    """Re-read the service with backoff until `settled(service)` or the deadline nears."""
    service, _ = await ctx.poll(service, lambda: get_service(ctx, name), settled, first_s=POLL_FIRST_S)
    return service


async def _inspect_service(ctx: CheckContext, expected: ServiceConfig) -> Finding:
    gcp = ctx.config.gcp
    name = ctx.clients.service_name(expected.name)
    try:
        started = time.monotonic()
        service = await get_service(ctx, name)
        waited = 0.0
        if is_settling(service):
            service = await poll_service(ctx, name, service, lambda s: not is_settling(s))
            waited = time.monotonic() - started
        revision = None
        if service.latest_created_revision and service.latest_created_revision != service.latest_ready_revision:
            revision = await get_revision(ctx, service.latest_created_revision)
    except CheckAbort as abort:
        if abort.http_status == 404:
            return decide_service_missing(expected, gcp.region, gcp.project)
        return _abort_finding(expected.name, abort)
    return decide_service_ready(service, expected, gcp.region, gcp.project, revision, waited)


async def _ready_body(ctx: CheckContext) -> CheckResult:
    services = ctx.config.services
    findings = await asyncio.gather(*(_inspect_service(ctx, s) for s in services))
    return ctx.finish(combine_findings([(s.name, f) for s, f in zip(services, findings, strict=True)], "ready"))


@check_task(READY_ID)
async def cloud_run_ready(config: RunbookConfig, clients: GoogleClients) -> CheckResult:
    """P0: every configured Cloud Run service's latest revision is ready, serves its traffic and has a URL.

    A service whose newest revision failed to start keeps serving the previous one: the console looks green while
    the fix that was just deployed never runs. Traffic pinned to an old revision by name has the same effect. This
    check reads each service (concurrently), waits for one still rolling out until the deadline, and names the
    container error of a failed revision.

    Reads `services.get` per service (and `revisions.get` of a latest revision that is not ready).

    Args:
        config: The environment; `[[services]]` names the services and the expected traffic.
        clients: The Google client factory.

    Returns:
        The check's result; evidence per service: latest created/ready revision, traffic split, URI, condition.

    Example:
        >>> result = await cloud_run_ready.fn(config, GoogleClients(config.gcp))  # doctest: +SKIP
        >>> result.status
        <Status.PASS: 'PASS'>
    """
    return await run_check(READY_ID, config, clients, _ready_body)
