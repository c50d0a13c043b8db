"""Generic fault injection for every simulated Google API, REST and gRPC alike.

A scenario's `[[google.faults]]` entries are matched in order against (api, method, path). Every matching entry
that is still "armed" (its `times` not used up) adds its latency; the first armed entry with an effect (status,
hang, malformed) decides the answer. Counters are shared by the HTTP and gRPC servers, hence the lock.
"""

import re
import threading
from dataclasses import dataclass

from simulator.google.config import FaultConfig, GoogleConfig

GRPC_METHOD_PATHS = {"ListTimeSeries": "/google.monitoring.v3.MetricService/ListTimeSeries"}


@dataclass(frozen=True)
class FaultDecision:
    """What to do to one request: wait `latency_s`, then apply `fault` (None = answer normally)."""

    latency_s: float = 0.0
    fault: FaultConfig | None = None


def classify(path: str) -> str | None:
    """The Google API a REST path belongs to, or None for paths that are not Google's (Netra, Slack)."""
    if path.startswith("/compute/v1/"):
        return "compute"
    if path.startswith("/sql/v1beta4/"):
        return "sqladmin"
    if path.startswith("/v2/"):
        return "run"
    if path.startswith("/v1/"):
        return "secretmanager" if "/secrets" in path else "vpcaccess"
    return None


class FaultInjector:
    """Decides latency and faults per request; thread-safe."""

    def __init__(self, google: GoogleConfig) -> None:
        self._google = google
        self._faults = [(fault, re.compile(fault.path_regex) if fault.path_regex else None) for fault in google.faults]
        self._hits = [0] * len(self._faults)
        self._lock = threading.Lock()

    def decide(self, api: str, method: str, path: str) -> FaultDecision:
        latency_ms = self._google.latency_ms + self._google.api_latency_ms.get(api, 0)  # type: ignore[call-overload]
        effect: FaultConfig | None = None
        with self._lock:
            for index, (fault, regex) in enumerate(self._faults):
                if fault.api not in ("*", api) or fault.method not in ("*", method.upper(), method):
                    continue
                if regex is not None and not regex.search(path):
                    continue
                if fault.times is not None and self._hits[index] >= fault.times:
                    continue
                has_effect = bool(fault.status or fault.hang or fault.malformed)
                if has_effect and effect is not None:
                    continue
                self._hits[index] += 1
                latency_ms += fault.latency_ms
                if has_effect:
                    effect = fault
        return FaultDecision(latency_ms / 1000.0, effect)
