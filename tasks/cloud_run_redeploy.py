"""Cloud Run redeploy: the approved action that rolls a new revision of each service.

Action `redeploy` (P0, only when the flow asks for it after approval): rolls a new revision of each service by
stamping the revision template with `runbook.netra/redeployed-at`, waits for the long-running operation and verifies
that the new revision is ready. An update whose answer was lost is never resent blindly: the service is re-read and
the stamp tells whether the update was applied (the read etag also makes a late duplicate fail in the real API).

The reads and the readiness judgement it waits on and verifies with are `cloud-run-ready`'s
(`tasks/cloud_run_ready.py`).
"""

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from runbook.approval import ApprovalOutcome
from runbook.check_task import check_task
from runbook.checks import CheckAbort, CheckContext, Finding, run_check
from runbook.config.models import RunbookConfig, ServiceConfig
from runbook.google.calls import http_status, is_transient
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, Status
from tasks.cloud_run_ready import (
    POLL_FIRST_S,
    SUCCEEDED,
    combine_findings,
    gcloud_run,
    get_revision,
    get_service,
    is_settling,
    poll_service,
    ready_state,
    revision_failure,
    revision_is_ready,
    short_name,
    traffic_problem,
    traffic_split,
)

REDEPLOY_ID = "redeploy"
REDEPLOY_ANNOTATION = "runbook.netra/redeployed-at"
PATCH_MAX_SENDS = 3
DEPLOY_ROLE = "roles/run.developer"
POLL_CALL_RESERVE_S = 1.0  # kept free after the last sleep for the last GET


@dataclass(frozen=True)
class Unconfirmed:
    """A transient failure answering an update: it may or may not have been applied."""

    error: BaseException


@dataclass(frozen=True)
class Rollout:
    """What is known of one service's update when the waiting ends."""

    before: Any  # run_v2.Service as read before the update
    after: Any | None  # run_v2.Service when the operation finished, or as last known
    revision: Any | None = None  # the new run_v2.Revision, read to verify it
    operation: str = ""  # operation name; "" when the answer to the update was lost (applied, found by re-reading)
    done: bool = False
    error: str = ""  # the operation's error, "FAILED_PRECONDITION: message"
    waited_s: float = 0.0
    sends: int = 1  # how many times the update was sent (more than 1 only after a re-read showed it not applied)


def _send_once(fn: Callable[..., Any]) -> Callable[..., Any]:
    """`fn` with transient failures returned, not raised, so the call policy never resends a write on its own."""

    def once(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as error:
            if is_transient(error):
                return Unconfirmed(error)
            raise

    return once


def stamped(service: Any, stamp: str) -> Any:
    """A copy of the service whose revision template carries the redeploy stamp: a new revision, same config.

    The explicit revision name is cleared (Cloud Run rejects a second revision under an existing name); the etag
    stays, so the real API refuses the update if the service changed since it was read.
    """
    from google.cloud import run_v2

    copy = run_v2.Service.deserialize(run_v2.Service.serialize(service))
    copy.template.annotations[REDEPLOY_ANNOTATION] = stamp
    copy.template.revision = ""
    return copy


def was_applied(service: Any, stamp: str) -> bool:
    """True when the service's template carries this run's stamp: our update went through."""
    return bool(service.template.annotations.get(REDEPLOY_ANNOTATION) == stamp)


def _unpack_service(message: Any) -> Any | None:
    from google.cloud import run_v2

    pb = run_v2.Service.pb(run_v2.Service())
    if not message.Is(pb.DESCRIPTOR):
        return None
    message.Unpack(pb)
    return run_v2.Service.wrap(pb)


def _operation_error(operation: Any) -> str:
    from google.rpc import code_pb2

    code = operation.error.code
    name = code_pb2.Code.Name(code) if code in code_pb2.Code.values() else f"code {code}"
    return f"{name}: {' '.join(operation.error.message.split())}"


def decide_redeploy(rollout: Rollout, expected: ServiceConfig, region: str, project: str) -> Finding:
    """Decide `redeploy` for one service from what its update left behind.

    Args:
        rollout: The service before and after the update, the new revision, the operation and how it ended.
        expected: The configured service (its expected traffic).
        region: Region of the service (for the remediation commands).
        project: Project id (for the remediation commands).

    Returns:
        FAIL when the operation failed, did not finish within the deadline, created no revision, or the new
        revision is not ready; WARN when the new revision is ready but the configured traffic does not reach it;
        PASS otherwise. Evidence: previous and new revision, operation, time waited, updates sent.
    """
    name = expected.name
    before, after = rollout.before, rollout.after
    old = short_name(before.latest_created_revision)
    new = short_name(after.latest_created_revision) if after is not None else ""
    evidence: dict[str, Any] = {
        "previous_revision": old or None,
        "new_revision": new if new and new != old else None,
        "operation": rollout.operation or None,
        "done": rollout.done,
        "waited_s": round(rollout.waited_s, 1),
        "updates_sent": rollout.sends,
    }
    if after is not None:
        evidence.update(traffic=traffic_split(after.traffic), uri=after.uri or None, ready=ready_state(after))
    investigate = [
        gcloud_run(f"revisions describe {evidence['new_revision'] or 'REVISION'}", region, project),
        gcloud_run(f"services logs read {name}", region, project),
    ]
    if rollout.error:
        detail = f"; revision {new}: {revision_failure(rollout.revision)}" if rollout.revision is not None else ""
        return Finding(Status.FAIL, f"{name}: update failed: {rollout.error}{detail}", evidence, "\n".join(investigate))
    if not rollout.done:
        where = f"new revision {evidence['new_revision']}" if evidence["new_revision"] else "no new revision yet"
        op = f"operation {rollout.operation}" if rollout.operation else "the update was applied but its answer lost"
        watch = (
            f"The update continues in Cloud Run; do not redeploy again until it settles. Watch it: "
            f"{gcloud_run(f'services describe {name}', region, project)}"
        )
        return Finding(
            Status.FAIL,
            f"{name}: update not finished after {rollout.waited_s:.1f} s ({op}); {where}",
            evidence,
            "\n".join([watch, *investigate]),
        )
    if after is None or not evidence["new_revision"]:
        return Finding(
            Status.FAIL, f"{name}: the update finished but no new revision was created", evidence, investigate[1]
        )
    if not revision_is_ready(rollout.revision) or after.latest_ready_revision != after.latest_created_revision:
        why = revision_failure(rollout.revision) if rollout.revision is not None else "not read"
        return Finding(
            Status.FAIL, f"{name}: new revision {new} is not ready ({why})", evidence, "\n".join(investigate)
        )
    summary = f"{name}: {old} -> {new}, ready after {rollout.waited_s:.1f} s"
    if expected.traffic == "latest" and (problem := traffic_problem(after)):
        fix = gcloud_run(f"services update-traffic {name}", region, project) + " --to-latest"
        return Finding(Status.WARN, f"{summary}, but it serves no traffic ({problem})", evidence, fix)
    return Finding(Status.PASS, summary, evidence)


def redeploy_targets(config: RunbookConfig, names: Sequence[str] | None) -> list[ServiceConfig]:
    """The services to redeploy: the named ones (in configuration order), or every configured service.

    Raises:
        CheckAbort: ERROR when a name is not a configured service or the list is empty (nothing is mutated then).
    """
    if names is None:
        return list(config.services)
    configured = [s.name for s in config.services]
    unknown = [n for n in names if n not in configured]
    if unknown or not names:
        raise CheckAbort(
            Status.ERROR,
            f"cannot redeploy {unknown or 'an empty list of services'}: expected names from [[services]] "
            f"{configured}; nothing was changed",
            {"requested": list(names), "configured": configured},
            "Pass configured service names (or none, for all of them).",
        )
    return [s for s in config.services if s.name in names]


def _redeploy_abort(expected: ServiceConfig, abort: CheckAbort, stage: str, region: str, project: str) -> Finding:
    """A call failed; say whether the update was sent, applied or not, and what to grant or check."""
    remediation = abort.remediation
    if abort.http_status == 403:
        remediation = (
            f"Grant the runbook's identity {DEPLOY_ROLE} (and roles/iam.serviceAccountUser on the service's runtime "
            f"service account): gcloud projects add-iam-policy-binding {project} "
            f"--member=serviceAccount:RUNBOOK_SA --role={DEPLOY_ROLE}"
        )
    summary = f"{expected.name}: {abort.summary}"
    describe = gcloud_run(f"services describe {expected.name}", region, project)
    permanent = abort.http_status is not None and 400 <= abort.http_status < 500 and abort.http_status not in (408, 429)
    if stage == "sending" and not permanent:
        summary += "; the update may have been applied"
        remediation += f"\nBefore redeploying again, check whether a new revision exists: {describe}"
    elif stage == "applied":
        summary += "; the update was accepted and continues in Cloud Run"
        remediation += f"\nWatch it: {describe}"
    return Finding(abort.status, summary, {**abort.evidence, "stage": stage}, remediation)


async def _pause(ctx: CheckContext, delay: float) -> bool:
    """Sleep before the next poll; False when the deadline leaves no room for another call."""
    pause = min(delay, ctx.deadline.remaining - POLL_CALL_RESERVE_S)
    if pause <= 0.05:
        return False
    await asyncio.sleep(pause)
    return True


async def _update_once(ctx: CheckContext, name: str, before: Any, stamp: str) -> tuple[Any | None, int]:
    """Send the update; resend only after a re-read shows the lost attempt was not applied.

    Returns:
        The operation (`operations_pb2.Operation`), or None when an earlier lost attempt turns out applied; and how
        many times the update was sent.
    """
    from google.cloud import run_v2

    request = run_v2.UpdateServiceRequest(service=stamped(before, stamp), allow_missing=False)
    update = _send_once(ctx.clients.run_services.update_service)
    delay = POLL_FIRST_S
    for sends in range(1, PATCH_MAX_SENDS + 1):
        try:
            answer = await ctx.call("run", f"update of service {name}", update, request=request)
        except CheckAbort as abort:
            # A resend refused for a changed etag may be our own earlier update, applied late.
            if sends > 1 and abort.http_status in (409, 412) and was_applied(await get_service(ctx, name), stamp):
                return None, sends
            raise
        if not isinstance(answer, Unconfirmed):
            return answer.operation, sends
        if was_applied(await get_service(ctx, name), stamp):
            return None, sends
        if sends == PATCH_MAX_SENDS or not await _pause(ctx, delay):
            raise CheckAbort(
                Status.ERROR,
                f"update of service {name} not confirmed after {sends} attempt(s): {answer.error}",
                {"api": "run", "resource": name, "updates_sent": sends},
                "Transient Cloud Run errors outlasted the deadline; rerun the redeploy when the API answers.",
                http_status=http_status(answer.error),
            )
        delay *= 2
    raise AssertionError("unreachable")  # pragma: no cover


async def _await_operation(ctx: CheckContext, operation: Any) -> Any:
    """Poll the long-running operation (each poll through the call policy) until done or the deadline nears."""
    from google.longrunning import operations_pb2

    request = operations_pb2.GetOperationRequest(name=operation.name)

    async def fetch() -> Any:
        return await ctx.call(
            "run", f"operation {operation.name}", ctx.clients.run_services.get_operation, request=request
        )

    operation, _ = await ctx.poll(operation, fetch, lambda o: bool(o.done), first_s=POLL_FIRST_S)
    return operation


async def _await_rollout(
    ctx: CheckContext, name: str, before: Any, operation: Any | None, sends: int, started: float
) -> Rollout:
    """Wait for the update to finish: by its operation, or (answer lost) by re-reading the service."""
    error = ""
    if operation is not None:
        operation = await _await_operation(ctx, operation)
        done = bool(operation.done)
        after = _unpack_service(operation.response) if operation.HasField("response") else None
        after = after or _unpack_service(operation.metadata)
        if operation.HasField("error"):
            error = _operation_error(operation)
    else:

        def settled(service: Any) -> bool:
            return not is_settling(service) and service.latest_created_revision != before.latest_created_revision

        after = await poll_service(ctx, name, await get_service(ctx, name), settled)
        done = settled(after)
        if done and ready_state(after) != SUCCEEDED:
            error = f"{ready_state(after)}: {' '.join(after.terminal_condition.message.split())}"
    revision = None
    if done and after is not None and after.latest_created_revision != before.latest_created_revision:
        if error:
            revision = await get_revision(ctx, after.latest_created_revision)
        else:
            from google.cloud import run_v2

            request = run_v2.GetRevisionRequest(name=after.latest_created_revision)
            revision = await ctx.call(
                "run", f"revision {request.name}", ctx.clients.run_revisions.get_revision, request=request
            )
    waited = time.monotonic() - started
    op_name = operation.name if operation is not None else ""
    return Rollout(before, after, revision, op_name, done, error, waited, sends)


async def _redeploy_one(ctx: CheckContext, expected: ServiceConfig, stamp: str) -> Finding:
    gcp = ctx.config.gcp
    name = ctx.clients.service_name(expected.name)
    stage = "reading"
    try:
        before = await get_service(ctx, name)
        started = time.monotonic()
        stage = "sending"
        operation, sends = await _update_once(ctx, name, before, stamp)
        stage = "applied"
        rollout = await _await_rollout(ctx, name, before, operation, sends, started)
    except CheckAbort as abort:
        return _redeploy_abort(expected, abort, stage, gcp.region, gcp.project)
    return decide_redeploy(rollout, expected, gcp.region, gcp.project)


async def _redeploy_body(
    ctx: CheckContext, names: Sequence[str] | None, approval: dict[str, str] | None = None
) -> CheckResult:
    targets = redeploy_targets(ctx.config, names)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    findings = await asyncio.gather(*(_redeploy_one(ctx, s, stamp) for s in targets))
    combined = combine_findings([(s.name, f) for s, f in zip(targets, findings, strict=True)], "redeployed")
    evidence: dict[str, Any] = {**combined.evidence, "annotation": {REDEPLOY_ANNOTATION: stamp}}
    summary = combined.summary
    if approval:  # who approved, how and why: kept with the action it allowed (report, artifacts, Slack)
        evidence = {"approval": dict(approval), **evidence}
        summary = f"{summary} ({ApprovalOutcome(approved=True, **approval).reason})"
    return ctx.finish(replace(combined, summary=summary, evidence=evidence))


@check_task(REDEPLOY_ID)
async def redeploy(
    config: RunbookConfig,
    clients: GoogleClients,
    services: list[str] | None = None,
    approval: dict[str, str] | None = None,
) -> CheckResult:
    """P0 action (runs only when the flow asks for it, after approval): roll a new revision of each service.

    A new revision restarts every instance with the current secrets, connector and database settings: the usual
    restoration step once the infrastructure below the services is fixed. Each service's revision template gets the
    annotation `runbook.netra/redeployed-at=<UTC time>` (nothing else changes), the update's long-running operation
    is polled within the check's deadline, and the new revision must exist and be ready. Services roll concurrently.

    An update whose answer is lost (timeout, 5xx) is not resent blindly: the service is re-read and the stamp shows
    whether it was applied; only when it was not is it sent again (at most 3 times). The etag read with the service
    travels with the update, so the real API refuses it if someone else changed the service meanwhile.

    Reads/writes `services.get`, `services.patch` (mutates), `operations.get`, `revisions.get`; needs
    roles/run.developer.

    Args:
        config: The environment; `[[services]]` lists the services.
        clients: The Google client factory.
        services: Names of the services to redeploy; None (default) redeploys every configured service.
        approval: How the redeploy was approved (`decision`, `approved_by`, `note`), kept in the evidence.

    Returns:
        The action's result; evidence per service: previous and new revision, operation, time waited, updates sent.

    Example:
        >>> result = await redeploy.fn(config, GoogleClients(config.gcp), ["netra-backend-staging"])  # doctest: +SKIP
        >>> result.status
        <Status.PASS: 'PASS'>
    """
    return await run_check(REDEPLOY_ID, config, clients, lambda ctx: _redeploy_body(ctx, services, approval))
