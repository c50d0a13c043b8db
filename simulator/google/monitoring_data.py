"""Cloud Monitoring data of the simulated world: Cloud Run request counts, filters and aggregation.

Pure functions over plain data; `monitoring.py` converts to and from the protobuf types. The shape follows the
real metric `run.googleapis.com/request_count` (DELTA, INT64, one point per minute, resource `cloud_run_revision`):
minutes without requests of a response class have no point, and a series without points is not returned at all.
"""

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from simulator.google.cloud_run_model import revision_name
from simulator.google.config import GoogleConfig

REQUEST_COUNT = "run.googleapis.com/request_count"
RESOURCE_TYPE = "cloud_run_revision"
SAMPLE_SECONDS = 60
CLASS_CODES = {"2xx": "200", "4xx": "404", "5xx": "503"}
_CLAUSE = re.compile(r'^\s*([\w.]+)\s*(=|!=)\s*(?:"([^"]*)"|starts_with\(\s*"([^"]*)"\s*\))\s*$')


class FilterError(ValueError):
    """The filter cannot be parsed (INVALID_ARGUMENT)."""


@dataclass
class Series:
    """One time series: labels and (end_seconds, value) points, newest first."""

    metric_labels: dict[str, str]
    resource_labels: dict[str, str]
    points: list[tuple[float, float]] = field(default_factory=list)
    start_offset: float = SAMPLE_SECONDS  # each point covers (end - start_offset, end]


@dataclass(frozen=True)
class Clause:
    key: str
    negate: bool
    value: str
    prefix: bool

    def matches(self, actual: str | None) -> bool:
        hit = actual is not None and (actual.startswith(self.value) if self.prefix else actual == self.value)
        return hit != self.negate


def parse_filter(text: str) -> list[Clause]:
    """`metric.type = "..." AND resource.labels.service_name = "..."` (=, != and starts_with, joined by AND)."""
    clauses = []
    for part in re.split(r"\s+AND\s+", text.strip()):
        found = _CLAUSE.match(part)
        if not found:
            raise FilterError(f"Could not parse filter clause {part!r} in filter {text!r}.")
        key = found.group(1).replace(".label.", ".labels.")
        prefix = found.group(4) is not None
        clauses.append(Clause(key, found.group(2) == "!=", found.group(4) if prefix else found.group(3), prefix))
    if not any(c.key == "metric.type" for c in clauses):
        raise FilterError(f"A filter must specify a metric type: {text!r}.")
    return clauses


def _count(rate_per_minute: float, minute: int) -> int:
    """Requests in one minute such that every window averages exactly `rate_per_minute`."""
    return math.floor((minute + 1) * rate_per_minute) - math.floor(minute * rate_per_minute)


def request_count_series(google: GoogleConfig, start: float, end: float, now: float) -> list[Series]:
    """All request_count series with a point ending in (start, end], ignoring points not yet ingested at `now`."""
    visible_end = min(end, now - google.monitoring.ingestion_delay_seconds)
    first_minute = math.floor(start / SAMPLE_SECONDS)
    last_minute = math.floor(visible_end / SAMPLE_SECONDS) - 1
    result = []
    for service, traffic in sorted(google.monitoring.services.items()):
        per_minute = traffic.requests_per_5min / 5.0
        rates = {"5xx": per_minute * traffic.ratio_5xx, "4xx": per_minute * traffic.ratio_4xx}
        rates["2xx"] = per_minute - rates["5xx"] - rates["4xx"]
        run = google.run.services.get(service)
        revision = revision_name(service, (run.ready_revision or run.revision) if run else 1)
        resource = {
            "project_id": google.project,
            "service_name": service,
            "revision_name": revision,
            "location": google.region,
            "configuration_name": service,
        }
        for response_class, rate in rates.items():
            points: list[tuple[float, float]] = []
            for minute in range(last_minute, first_minute - 1, -1):
                end_s = (minute + 1) * SAMPLE_SECONDS
                if start < end_s <= visible_end and (value := _count(rate, minute)) > 0:
                    points.append((end_s, value))
            if points:
                labels = {
                    "response_code": CLASS_CODES[response_class],
                    "response_code_class": response_class,
                    "route_type": "default",
                }
                result.append(Series(labels, dict(resource), points))
    return result


def select(series: list[Series], clauses: list[Clause]) -> list[Series]:
    """The series the filter's label clauses select (metric.type/resource.type were checked by the caller)."""

    def lookup(item: Series, key: str) -> str | None:
        if key.startswith("metric.labels."):
            return item.metric_labels.get(key.removeprefix("metric.labels."))
        if key.startswith("resource.labels."):
            return item.resource_labels.get(key.removeprefix("resource.labels."))
        if key == "metric.type":
            return REQUEST_COUNT
        if key == "resource.type":
            return RESOURCE_TYPE
        if key == "project":
            return item.resource_labels.get("project_id")
        raise FilterError(f"Unsupported filter key {key!r}.")

    return [item for item in series if all(clause.matches(lookup(item, clause.key)) for clause in clauses)]


def align(series: list[Series], aligner: str, period: float, end: float) -> list[Series]:
    """Per-series alignment into windows ending at `end`: ALIGN_DELTA/ALIGN_SUM sum, ALIGN_RATE per second."""
    if period <= 0:
        raise FilterError("The alignment period must be positive when an aligner is set.")
    aligned = []
    for item in series:
        windows: dict[float, float] = {}
        for point_end, value in item.points:
            # Windows are (end - (i+1)*period, end - i*period]; every point ends inside (start, end].
            window_end = end - math.floor((end - point_end) / period) * period
            windows[window_end] = windows.get(window_end, 0) + value
        points = sorted(windows.items(), reverse=True)
        if aligner == "ALIGN_RATE":
            points = [(t, v / period) for t, v in points]
        aligned.append(Series(item.metric_labels, item.resource_labels, points, period))
    return aligned


REDUCERS: dict[str, Callable[[list[float]], float]] = {
    "REDUCE_SUM": sum,
    "REDUCE_MEAN": lambda values: sum(values) / len(values),
    "REDUCE_MAX": max,
    "REDUCE_MIN": min,
    "REDUCE_COUNT": len,
}


def reduce(series: list[Series], reducer: str, group_by: list[str]) -> list[Series]:
    """Cross-series reduction grouped by `metric.label(s).X` / `resource.label(s).X` fields."""
    fields = [name.replace(".label.", ".labels.") for name in group_by]
    groups: dict[tuple[str | None, ...], list[Series]] = {}
    for item in series:
        key = tuple(
            item.metric_labels.get(f.removeprefix("metric.labels."))
            if f.startswith("metric.labels.")
            else item.resource_labels.get(f.removeprefix("resource.labels."))
            for f in fields
        )
        groups.setdefault(key, []).append(item)
    reduced = []
    for key, members in groups.items():
        metric = {
            f.removeprefix("metric.labels."): v
            for f, v in zip(fields, key, strict=True)
            if f.startswith("metric.") and v
        }
        resource = {
            f.removeprefix("resource.labels."): v
            for f, v in zip(fields, key, strict=True)
            if f.startswith("resource.") and v
        }
        by_time: dict[float, list[float]] = {}
        for member in members:
            for point_end, value in member.points:
                by_time.setdefault(point_end, []).append(value)
        points = [(t, float(REDUCERS[reducer](values))) for t, values in sorted(by_time.items(), reverse=True)]
        reduced.append(Series(metric, resource, points, members[0].start_offset))
    return reduced
