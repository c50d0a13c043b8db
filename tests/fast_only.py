"""`pytest -p tests.fast_only`: only the tests that need no simulator, PostgreSQL or Prefect server.

`make mutate` reruns, for every mutant, the tests that reach the mutated function: they must take milliseconds.
With this plugin the tests marked slow or asking for PostgreSQL or the Prefect harness are deselected, and a test
that starts the simulator is skipped when it does (before any server binds), so a file that mixes decision tests
with simulator tests can still serve as a fast suite.
"""

from typing import Any

import pytest

SLOW_FIXTURES = frozenset({"prefect_harness", "postgres"})


def _refuse_simulator(self: Any) -> Any:
    pytest.skip("starts the simulator: not a fast unit test (pytest -p tests.fast_only)")


def pytest_configure(config: pytest.Config) -> None:
    from simulator.server import Simulator

    Simulator.start = _refuse_simulator  # type: ignore[method-assign]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept: list[pytest.Item] = []
    dropped: list[pytest.Item] = []
    for item in items:
        slow = item.get_closest_marker("slow") is not None or SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))
        (dropped if slow else kept).append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
