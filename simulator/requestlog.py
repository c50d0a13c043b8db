"""A thread-safe record of every request the simulator answered, for tests, the benchmark and the demo."""

import threading
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator saw it and answered it."""

    api: str  # vpcaccess, sqladmin, run, secretmanager, compute, monitoring, netra, slack
    method: str  # HTTP verb, or the gRPC method name for monitoring
    path: str
    query: str = ""
    body: Any = None
    status: int = 200
    at: float = field(default_factory=time.monotonic)


class RequestLog:
    """Append-only log shared by every part of the simulator."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[RecordedRequest] = []

    def record(self, entry: RecordedRequest) -> None:
        with self._lock:
            self._entries.append(entry)

    def entries(self, api: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [e for e in self._entries if api is None or e.api == api]

    def count(self, api: str | None = None, method: str | None = None, path_contains: str | None = None) -> int:
        return sum(
            1
            for e in self.entries(api)
            if (method is None or e.method == method) and (path_contains is None or path_contains in e.path)
        )

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
