"""Latency of the platform: the `performance` check of the business validation phase.

`[performance] health_probes` sequential probes of the backend's `/health` (no retries: a failed probe is a data
point) and `golden_path_probes` golden-path runs (the golden-path client of `tasks/golden_path.py`, judged by the
same decision function; the credentials are read once for all runs). p50 and p95 use the nearest-rank method:
the value at rank ceil(q * n) of the sorted samples, so every percentile is an observed latency and n = 1 works.
"""

import asyncio
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from runbook.check_task import check_task
from runbook.checks import CheckAbort, CheckContext, Finding, run_check
from runbook.config.models import PerformanceConfig, RunbookConfig
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, Status
from tasks.golden_path import logs_command, run_golden_path
from tasks.websocket import CredentialCache, credentials_for

CHECK_ID = "performance"
HEALTH_PATH = "/health"


def nearest_rank(samples: Sequence[float], q: float) -> float:
    """The q-quantile (0 < q <= 1) by nearest rank: sorted(samples)[ceil(q * n) - 1]."""
    if not samples:
        raise ValueError("expected at least one sample, found none")
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(q * len(ordered))) - 1]


@dataclass(frozen=True)
class Probes:
    """Latencies (ms) of the successful probes of one kind, and how many were attempted and failed."""

    name: str  # health | golden_path
    latencies_ms: tuple[float, ...]
    failures: int
    planned: int
    failure_reasons: tuple[str, ...] = ()

    @property
    def attempted(self) -> int:
        return len(self.latencies_ms) + self.failures

    def stats(self) -> dict[str, Any]:
        """n, failures, p50/p95/max in ms (None without samples)."""
        row: dict[str, Any] = {"n": len(self.latencies_ms), "failures": self.failures, "planned": self.planned}
        if self.latencies_ms:
            row |= {
                "p50_ms": round(nearest_rank(self.latencies_ms, 0.5), 1),
                "p95_ms": round(nearest_rank(self.latencies_ms, 0.95), 1),
                "max_ms": round(max(self.latencies_ms), 1),
            }
        if self.failure_reasons:
            row["failure_reasons"] = list(dict.fromkeys(self.failure_reasons))[:3]
        return row


def decide_performance(health: Probes, golden: Probes, policy: PerformanceConfig, logs: str) -> Finding:
    """Decide `performance`: p95 of each probe kind against its threshold.

    FAIL when a p95 is above its threshold or every probe of a kind failed; WARN when some probes failed or the
    deadline cut the probes short (fewer attempted than planned); PASS otherwise. Evidence: n, failures,
    p50/p95/max for each kind, with the thresholds.
    """
    evidence: dict[str, Any] = {
        "health": {**health.stats(), "p95_threshold_ms": policy.health_p95_ms},
        "golden_path": {**golden.stats(), "p95_threshold_ms": policy.golden_path_p95_ms},
        "percentiles": "nearest rank",
    }
    fails: list[str] = []
    warns: list[str] = []
    for probes, threshold in ((health, policy.health_p95_ms), (golden, policy.golden_path_p95_ms)):
        if probes.planned == 0:
            continue
        label = "/health" if probes.name == "health" else "golden path"
        if probes.latencies_ms:
            p95 = nearest_rank(probes.latencies_ms, 0.95)
            if p95 > threshold:
                fails.append(f"{label} p95 {p95:.0f} ms > {threshold:.0f} ms (n={len(probes.latencies_ms)})")
        elif probes.attempted:
            fails.append(f"all {probes.attempted} {label} probes failed")
        if probes.latencies_ms and probes.failures:
            warns.append(f"{probes.failures} of {probes.attempted} {label} probes failed")
        if probes.attempted < probes.planned:
            warns.append(f"only {probes.attempted} of {probes.planned} {label} probes ran before the deadline")
            if not probes.attempted:
                fails.append(f"no {label} probe ran before the deadline")
    parts = []
    for probes in (health, golden):
        if probes.latencies_ms:
            label = "/health" if probes.name == "health" else "golden path"
            parts.append(
                f"{label} p50 {nearest_rank(probes.latencies_ms, 0.5):.0f} ms / "
                f"p95 {nearest_rank(probes.latencies_ms, 0.95):.0f} ms (n={len(probes.latencies_ms)})"
            )
    measured = "; ".join(parts) or "no successful probe"
    if fails:
        return Finding(
            Status.FAIL,
            "; ".join(fails + warns) + f" [{measured}]",
            evidence,
            "Find what is slow: Cloud Run instances (min instances, CPU throttling, cold starts), the database "
            f"connections (/health/infrastructure diagnostics) and the agent's LLM provider latency: {logs}",
        )
    if warns:
        return Finding(Status.WARN, "; ".join(warns) + f" [{measured}]", evidence, f"Look at the failed probes: {logs}")
    return Finding(Status.PASS, f"within thresholds: {measured}", evidence)


# --- I/O -------------------------------------------------------------------------------------------------------


async def probe_health(ctx: CheckContext, client: httpx.AsyncClient, url: str, count: int) -> Probes:
    """`count` sequential GETs of `url`, each within `health_s`; a non-200 or no answer is a failure."""
    latencies: list[float] = []
    reasons: list[str] = []
    timeout_s = ctx.config.timeouts.health_s
    for _ in range(count):
        per_call = min(timeout_s, ctx.deadline.remaining - 1.0)
        if per_call <= 0:
            break
        ctx.counter.attempts += 1
        started = time.monotonic()
        try:
            async with asyncio.timeout(per_call):
                response = await client.get(url, timeout=per_call)
        except (httpx.TransportError, TimeoutError) as error:
            reasons.append(f"{type(error).__name__}")
            continue
        if response.status_code != 200:
            reasons.append(f"HTTP {response.status_code}")
            continue
        latencies.append(round((time.monotonic() - started) * 1000, 1))
    return Probes("health", tuple(latencies), len(reasons), count, tuple(reasons))


async def probe_golden_path(
    ctx: CheckContext, client: httpx.AsyncClient, count: int, cache: CredentialCache | None = None
) -> Probes:
    """`count` sequential golden-path runs; a run whose verdict is not PASS is a failure."""
    if count == 0:
        return Probes("golden_path", (), 0, 0)
    latencies: list[float] = []
    reasons: list[str] = []
    credentials = await credentials_for(ctx, cache)
    for _ in range(count):
        if ctx.deadline.remaining <= 2.0:
            break
        try:
            run = await run_golden_path(ctx, client, credentials)
        except CheckAbort as abort:  # no token: this run failed, the next may not
            reasons.append(abort.summary[:120])
            continue
        if run.finding.status == Status.PASS:
            latencies.append(round(run.total_ms, 1))
        else:
            reasons.append(run.finding.summary[:120])
    return Probes("golden_path", tuple(latencies), len(reasons), count, tuple(reasons))


async def _performance(ctx: CheckContext, cache: CredentialCache | None) -> CheckResult:
    config = ctx.config
    backend = config.service("backend")
    if backend is None:
        raise CheckAbort(Status.ERROR, "no service with role 'backend' in the configuration")
    policy = config.performance
    async with httpx.AsyncClient(follow_redirects=False) as client:
        health = await probe_health(ctx, client, backend.url.rstrip("/") + HEALTH_PATH, policy.health_probes)
        golden = await probe_golden_path(ctx, client, policy.golden_path_probes, cache)
    return ctx.finish(decide_performance(health, golden, policy, logs_command(config)))


@check_task(CHECK_ID)
async def performance(
    config: RunbookConfig, clients: GoogleClients, credentials: CredentialCache | None = None
) -> CheckResult:
    """P1 `performance`: the backend answers fast enough, and so does the whole golden path.

    Sends `health_probes` sequential requests to the backend's `/health` and runs the golden path
    `golden_path_probes` times, then compares the p95 latencies (nearest rank) with `health_p95_ms` and
    `golden_path_p95_ms`. A platform that works but takes a minute per answer fails the product team's handoff
    just as surely as one that is down; failed probes are counted, not hidden.

    Args:
        config: The environment (`[performance]`, backend and auth services, `[golden_path]`, timeouts).
        clients: Google clients; Secret Manager is read (once) only when the bypass key comes from there.

    Returns:
        The CheckResult; evidence has n, failures and p50/p95/max for `/health` and for the golden path.

    Example:
        >>> result = await performance.fn(load_config("local"), GoogleClients(config.gcp))  # doctest: +SKIP
    """

    async def body(ctx: CheckContext) -> CheckResult:
        return await _performance(ctx, credentials)

    return await run_check(CHECK_ID, config, clients, body)
