"""Cloud Monitoring: the 5xx ratio of each Cloud Run service over a recent window.

One `ListTimeSeries` request (gRPC) covers every service: `run.googleapis.com/request_count` aligned with ALIGN_DELTA
over the whole window and summed (REDUCE_SUM) per response_code_class and service_name, so the answer is a handful of
series with one point each. Points are still summed client-side, so a server that returns finer points gives the
same totals. The window ends `ingestion_delay_s` before now, because Cloud Run metrics arrive up to ~3 minutes late;
intervals without 5xx have no 5xx series at all, and no traffic means no series: neither is an error.
"""

import asyncio
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runbook.check_task import check_task
from runbook.checks import CheckAbort, CheckContext, Finding, run_check
from runbook.config.models import MonitoringConfig, RunbookConfig
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult, Status

CHECK_ID = "monitoring"
METRIC = "run.googleapis.com/request_count"
RESOURCE = "cloud_run_revision"
GROUP_BY = ("metric.label.response_code_class", "resource.label.service_name")
MAX_PAGES = 100
PAGE_SIZE = 1000


@dataclass(frozen=True)
class Window:
    """The interval looked at, in epoch seconds: (start, end]."""

    start: float
    end: float

    @classmethod
    def ending_before(cls, now: float, config: MonitoringConfig) -> "Window":
        end = now - config.ingestion_delay_s
        return cls(end - config.window_s, end)


def time_series_request(project: str, window: Window, page_token: str = "") -> dict[str, Any]:
    """The ListTimeSeries request: request_count of every Cloud Run revision, summed per class and service."""
    seconds = max(1, round(window.end - window.start))
    return {
        "name": f"projects/{project}",
        "filter": f'metric.type="{METRIC}" AND resource.type="{RESOURCE}"',
        "interval": {"start_time": {"seconds": int(window.start)}, "end_time": {"seconds": int(window.end)}},
        "aggregation": {
            "alignment_period": {"seconds": seconds},
            "per_series_aligner": "ALIGN_DELTA",
            "cross_series_reducer": "REDUCE_SUM",
            "group_by_fields": list(GROUP_BY),
        },
        "view": "FULL",
        "page_size": PAGE_SIZE,
        "page_token": page_token,
    }


# --- decision --------------------------------------------------------------------------------------------------


def request_totals(series: Iterable[Any]) -> dict[str, dict[str, int]]:
    """Requests per service and response code class (`2xx`, `5xx`, ...), summing every point of every series."""
    totals: dict[str, dict[str, int]] = {}
    for item in series:
        service = item.resource.labels.get("service_name", "")
        code_class = item.metric.labels.get("response_code_class", "unknown")
        count = 0
        for point in item.points:
            value = point.value
            count += int(value.int64_value) if "int64_value" in value else round(value.double_value)
        by_class = totals.setdefault(service, {})
        by_class[code_class] = by_class.get(code_class, 0) + count
    return totals


def decide_monitoring(
    services: Sequence[str],
    totals: Mapping[str, Mapping[str, int]],
    config: MonitoringConfig,
    project: str,
    window_label: str | None = None,
) -> Finding:
    """Decide `monitoring` from the request totals of each configured service.

    Returns:
        FAIL naming every service whose 5xx ratio is above `max_5xx_ratio` (the system is wrong; the check is P2, so
        the gate still passes the phase with warnings); PASS otherwise, with "no requests in window" for services
        without traffic (fewer than `min_requests`: no verdict on the ratio).
    """
    evidence: dict[str, Any] = {
        "window_s": config.window_s,
        "ingestion_delay_s": config.ingestion_delay_s,
        "max_5xx_ratio": config.max_5xx_ratio,
        "services": {},
    }
    if config.window_s < config.ingestion_delay_s:
        evidence["config_note"] = (
            f"window_s ({config.window_s} s) is shorter than ingestion_delay_s ({config.ingestion_delay_s} s): "
            "set [monitoring] window_s to at least the ingestion delay so the window holds settled data"
        )
    high: dict[str, str] = {}
    quiet: list[str] = []
    worst: tuple[float, str] = (0.0, "")
    for service in services:
        by_class = totals.get(service, {})
        total = sum(by_class.values())
        errors = by_class.get("5xx", 0)
        if total == 0 or total < config.min_requests:
            quiet.append(service)
            evidence["services"][service] = {"requests": total, "5xx": errors, "note": "no requests in window"}
            continue
        ratio = errors / total
        evidence["services"][service] = {"requests": total, "5xx": errors, "ratio": round(ratio, 4)}
        worst = max(worst, (ratio, service))
        if ratio > config.max_5xx_ratio:
            high[service] = f"{service} {ratio:.1%} 5xx ({errors} of {total} requests)"
    window = window_label or f"over the last {config.window_s} s (ending {config.ingestion_delay_s} s ago)"
    if high:
        minutes = -(-(config.window_s + config.ingestion_delay_s) // 60)
        remediation = "\n".join(_logs_query(service, project, minutes) for service in high)
        summary = "; ".join(high.values()) + f" {window}, above {config.max_5xx_ratio:.0%}"
        return Finding(Status.FAIL, summary, evidence, remediation)
    if len(quiet) == len(services):
        return Finding(Status.PASS, f"no requests in window for any service {window}", evidence)
    summary = f"5xx ratio at most {config.max_5xx_ratio:.0%} for every service {window}"
    if worst[1]:
        summary += f" (highest {worst[0]:.1%}, {worst[1]})"
    if quiet:
        summary += f"; no requests in window: {', '.join(quiet)}"
    return Finding(Status.PASS, summary, evidence)


def _logs_query(service: str, project: str, minutes: int) -> str:
    query = f'resource.type="{RESOURCE}" AND resource.labels.service_name="{service}" AND httpRequest.status>=500'
    return f"gcloud logging read '{query}' --project {project} --freshness={minutes}m --limit=50"


# --- reading ---------------------------------------------------------------------------------------------------


async def read_series(ctx: CheckContext, window: Window) -> list[Any]:
    """Every series of the answer, one page request at a time through `ctx.call`."""
    client = await asyncio.to_thread(lambda: ctx.clients.monitoring)  # the first use imports the library
    project = ctx.config.gcp.project
    series: list[Any] = []
    token = ""
    for page in range(1, MAX_PAGES + 1):
        response = await ctx.call(
            "monitoring",
            f"{METRIC} of projects/{project} (page {page})",
            client.list_time_series,
            request=time_series_request(project, window, token),
        )
        series.extend(response.time_series)  # this page only: the pager's iteration would bypass ctx.call
        token = response.next_page_token
        if not token:
            return series
    raise CheckAbort(
        Status.ERROR,
        f"monitoring kept paginating {METRIC} (over {MAX_PAGES} pages)",
        {"api": "monitoring", "series_seen": len(series)},
        "The Cloud Monitoring API answered inconsistently; rerun, and report it if it persists.",
    )


async def _check_monitoring(ctx: CheckContext) -> CheckResult:
    config = ctx.config.monitoring
    window = Window.ending_before(time.time(), config)
    totals = request_totals(await read_series(ctx, window))
    services = [s.name for s in ctx.config.services]
    return ctx.finish(decide_monitoring(services, totals, config, ctx.config.gcp.project))


@check_task("monitoring")
async def monitoring_check(config: RunbookConfig, clients: GoogleClients) -> CheckResult:
    """P2 `monitoring`: each service's 5xx ratio over the window is under the platform's alert threshold.

    Why it matters: the platform alerts on a 503 rate above 5 % over 300 s; a service already above it before the
    handoff means restoration starts from an unstable base. A ratio above the threshold is FAIL (the system is
    wrong); being P2 it does not block the phase, which passes with warnings. No traffic, or no 5xx series, is a
    healthy answer, not an error.

    Args:
        config: The environment (`config.monitoring`: window, ingestion delay, threshold; `config.services`).
        clients: The Google client factory (`monitoring`, gRPC).

    Example:
        >>> result = await monitoring_check.fn(config, GoogleClients(config.gcp))
        >>> result.summary  # scenario "high-5xx"
        'netra-backend-staging 12.0% 5xx (240 of 2000 requests) over the last 600 s (ending 180 s ago), above 5%'
    """
    return await run_check(CHECK_ID, config, clients, _check_monitoring)


async def _check_post_restore(ctx: CheckContext, since: datetime) -> CheckResult:
    config = ctx.config.monitoring
    now = time.time()
    window = Window(min(since.timestamp(), now - 60), now)  # at least a minute: one alignment period
    totals = request_totals(await read_series(ctx, window))
    services = [s.name for s in ctx.config.services]
    label = (
        f"since the restoration started ({since:%H:%M:%S} UTC, {now - window.start:.0f} s; "
        f"metrics arrive up to {config.ingestion_delay_s} s late)"
    )
    finding = decide_monitoring(services, totals, config, ctx.config.gcp.project, window_label=label)
    finding.evidence["since"] = since.isoformat()
    return ctx.finish(finding)


@check_task("post-restore-monitoring")
async def post_restore_monitoring(config: RunbookConfig, clients: GoogleClients, since: datetime) -> CheckResult:
    """P2 `post-restore-monitoring`: each service's 5xx ratio since the restoration started.

    Why it matters: a restoration that "passes" while the services answer 5xx to real traffic is not restored.
    Cloud Run metrics arrive up to about three minutes late, so right after a redeploy the window may hold no
    requests yet: that is reported as such, not as an error. A ratio above the threshold is FAIL; being P2, the
    phase still passes with warnings.

    Args:
        config: The environment (`config.monitoring` threshold and ingestion delay; `config.services`).
        clients: The Google client factory (`monitoring`, gRPC).
        since: When the restoration started (the redeploy, or the phase's start).
    """

    async def body(ctx: CheckContext) -> CheckResult:
        return await _check_post_restore(ctx, since)

    return await run_check("post-restore-monitoring", config, clients, body)
