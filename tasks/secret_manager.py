"""Secret Manager: every expected secret exists and its latest version is ENABLED. Payloads are never read.

The check lists the project's secrets page by page (each page request goes through `CheckContext.call`, so it gets
the per-call timeout, transient retries and the check's deadline; the library's pager would fetch later pages on
its own, outside both), then reads only the metadata of `versions/latest` of each expected secret that exists,
a bounded number at a time. `access_secret_version` is never called.

`SecretInventory` shares one listing between the checks of a run (`secrets` and `service-drift`).
"""

import asyncio
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from runbook.check_task import check_task
from runbook.checks import CheckAbort, CheckContext, Finding, run_check
from runbook.config.models import RunbookConfig
from runbook.google.clients import GoogleClients
from runbook.google.shared_reads import SharedReads
from runbook.results import CheckResult, Status

CHECK_ID = "secrets"
MAX_PAGES = 1000  # 25 million secrets at the largest page size: a server repeating itself, not a real project
SHOWN = 5  # names listed in a one-line summary before "+N more"


def short_name(name: str) -> str:
    """`projects/123456789012/secrets/jwt-secret-staging` -> `jwt-secret-staging`.

    Secret Manager answers with the project NUMBER in names, so secrets are compared by their last segment.
    """
    return name.rstrip("/").rsplit("/", 1)[-1]


def listed(names: Iterable[str], shown: int = SHOWN, separator: str = ", ") -> str:
    """`a, b, c +2 more`: a list short enough for a one-line summary."""
    items = list(names)
    head = separator.join(items[:shown])
    return head + (f" +{len(items) - shown} more" if len(items) > shown else "")


# --- decision --------------------------------------------------------------------------------------------------


def decide_secrets(
    expected: Sequence[str],
    existing: Collection[str],
    latest: Mapping[str, Any | None],
    project: str,
) -> Finding:
    """Decide the `secrets` check from what Secret Manager reported.

    Args:
        expected: Secret ids the configuration requires.
        existing: Ids of every secret in the project (short names).
        latest: For each expected secret that exists, its `versions/latest` (a `SecretVersion`), or None when the
            secret has no version at all.
        project: Project id, for the remediation commands.

    Returns:
        PASS when every expected secret exists with an ENABLED latest version; FAIL listing every missing secret and
        every secret whose latest version is not ENABLED (all of them, not the first only).
    """
    missing = [s for s in expected if s not in existing]
    no_versions = [s for s in expected if s in existing and latest.get(s) is None]
    not_enabled: dict[str, str] = {}
    fixes: list[str] = []
    for secret in missing:
        fixes.append(f"gcloud secrets create {secret} --project {project} --replication-policy=automatic")
    for secret in no_versions:
        fixes.append(f"gcloud secrets versions add {secret} --project {project} --data-file=FILE")
    for secret in expected:
        version = latest.get(secret)
        if version is None:
            continue
        state = version.state.name
        if state == "ENABLED":
            continue
        number = short_name(version.name)
        not_enabled[secret] = f"version {number} {state}"
        if state == "DISABLED":
            fixes.append(f"gcloud secrets versions enable {number} --secret {secret} --project {project}")
        else:  # DESTROYED (or unknown): it cannot come back, a new version is needed
            fixes.append(f"gcloud secrets versions add {secret} --project {project} --data-file=FILE")
    evidence: dict[str, Any] = {
        "expected": len(expected),
        "found": len(expected) - len(missing),
        "enabled": len(expected) - len(missing) - len(no_versions) - len(not_enabled),
        "secrets_in_project": len(existing),
    }
    if not (missing or no_versions or not_enabled):
        return Finding(
            Status.PASS,
            f"all {len(expected)} expected secrets exist with an ENABLED latest version",
            evidence,
        )
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing ({listed(missing)})")
        evidence["missing"] = missing
    if no_versions:
        parts.append(f"{len(no_versions)} without any version ({listed(no_versions)})")
        evidence["no_versions"] = no_versions
    if not_enabled:
        described = [f"{s} {v}" for s, v in not_enabled.items()]
        parts.append(f"{len(not_enabled)} with latest version not ENABLED ({listed(described)})")
        evidence["not_enabled"] = not_enabled
    summary = f"{len(expected) - evidence['enabled']} of {len(expected)} expected secrets unusable: " + "; ".join(parts)
    return Finding(Status.FAIL, summary, evidence, "\n".join(fixes))


# --- reading ---------------------------------------------------------------------------------------------------


async def list_secret_ids(ctx: CheckContext) -> frozenset[str]:
    """Every secret id in the project, one page request at a time through `ctx.call`."""
    client = ctx.clients.secretmanager
    project = ctx.config.gcp.project
    ids: set[str] = set()
    token = ""
    seen_tokens: set[str] = set()
    for page in range(1, MAX_PAGES + 1):
        request = {"parent": f"projects/{project}", "page_size": ctx.config.secrets.page_size, "page_token": token}
        # The first page only: the pager's own iteration would request later pages outside ctx.call.
        response = await ctx.call(
            "secretmanager", f"secret list of projects/{project} (page {page})", client.list_secrets, request=request
        )
        ids.update(short_name(secret.name) for secret in response.secrets)
        token = response.next_page_token
        if not token:
            return frozenset(ids)
        if token in seen_tokens:
            break
        seen_tokens.add(token)
    raise CheckAbort(
        Status.ERROR,
        f"secretmanager kept paginating the secret list of projects/{project} (page token repeated or "
        f"over {MAX_PAGES} pages)",
        {"api": "secretmanager", "pages": page, "secrets_seen": len(ids)},
        "The Secret Manager API answered inconsistently; rerun, and report it if it persists.",
    )


class SecretInventory(SharedReads):
    """The project's secret ids, listed once per run and shared by the checks that need them.

    Create one per run (or phase) and pass it to `secrets_check` and `service_drift_check`. The first check to ask
    lists; a check asking meanwhile waits for that listing within its own deadline. A failed listing is shared too
    (each check gets the failure as soon as the listing fails, and reaches its own verdict from it); only a listing
    its check abandoned is taken over by a waiting one.
    """

    async def secret_ids(self, ctx: CheckContext) -> frozenset[str]:
        what = f"the secret list of projects/{ctx.config.gcp.project}"
        ids: frozenset[str] = await self.read(ctx, "secrets", lambda: list_secret_ids(ctx), "secretmanager", what)
        return ids


async def latest_versions(ctx: CheckContext, secrets: Sequence[str]) -> dict[str, Any | None]:
    """`versions/latest` metadata of each secret (None when it has no version), `concurrency` at a time."""
    client = ctx.clients.secretmanager
    project = ctx.config.gcp.project
    limit = asyncio.Semaphore(ctx.config.secrets.concurrency)

    async def one(secret: str) -> Any | None:
        async with limit:
            try:
                return await ctx.call(
                    "secretmanager",
                    f"latest version of secret {secret}",
                    client.get_secret_version,
                    request={"name": f"projects/{project}/secrets/{secret}/versions/latest"},
                )
            except CheckAbort as abort:
                if abort.http_status == 404:  # a secret with no version at all
                    return None
                raise

    try:
        async with asyncio.TaskGroup() as group:
            pending = {secret: group.create_task(one(secret)) for secret in secrets}
    except ExceptionGroup as errors:  # one failed read ends the check: report it, not the group
        raise errors.exceptions[0] from None
    return {secret: job.result() for secret, job in pending.items()}


# --- the check -------------------------------------------------------------------------------------------------


async def _check_secrets(ctx: CheckContext, inventory: SecretInventory | None) -> CheckResult:
    expected = ctx.config.secrets.expected
    # Build the client off the event loop: its first use imports the library (seconds, not milliseconds).
    await asyncio.to_thread(lambda: ctx.clients.secretmanager)
    existing = await inventory.secret_ids(ctx) if inventory else await list_secret_ids(ctx)
    latest = await latest_versions(ctx, [s for s in expected if s in existing])
    return ctx.finish(decide_secrets(expected, existing, latest, ctx.config.gcp.project))


@check_task("secrets")
async def secrets_check(
    config: RunbookConfig, clients: GoogleClients, inventory: SecretInventory | None = None
) -> CheckResult:
    """P1 `secrets`: every expected secret exists in Secret Manager and its latest version is ENABLED.

    Why it matters: Cloud Run mounts secrets as `secret-id:latest`; a missing secret or a DISABLED/DESTROYED latest
    version makes the next revision fail to start. Only metadata is read (roles/secretmanager.viewer suffices);
    payloads are never accessed. Every problem is reported at once, with one fix command per secret.

    Args:
        config: The environment; `config.secrets` names the expected ids, page size and concurrency.
        clients: The Google client factory.
        inventory: Shares the secret listing with `service-drift`; None lists independently.

    Example:
        >>> result = await secrets_check.fn(config, GoogleClients(config.gcp))
        >>> result.status, result.summary
        (<Status.PASS: 'PASS'>, 'all 22 expected secrets exist with an ENABLED latest version')
    """

    async def body(ctx: CheckContext) -> CheckResult:
        return await _check_secrets(ctx, inventory)

    return await run_check(CHECK_ID, config, clients, body)
