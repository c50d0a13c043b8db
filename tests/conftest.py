"""Shared fixtures: the staging simulator, a real PostgreSQL server, and one Prefect test harness per session."""

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

# Offline hygiene before anything imports prefect: a private PREFECT_HOME, no telemetry, patient start-up.
_ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("PREFECT_HOME", str(_ROOT / ".prefect" / "tests"))
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")
os.environ["NO_GCE_CHECK"] = "true"  # tests never depend on ambient credentials
os.environ.pop("PREFECT_API_URL", None)

pytest_plugins = ["tests.pg", "tests.prefect_pg"]


@pytest.fixture(scope="session")
def prefect_harness() -> Iterator[None]:
    """One temporary Prefect server for the whole session (~20 s here): flows run for real against it."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=180):
        yield


@pytest.fixture(autouse=True)
def _checks_allowed() -> Iterator[None]:
    """A test that interrupts this process (a real SIGTERM to itself) stops the checks of the whole process, as a
    `runbook run` would until it exits: the next test must start with checks allowed again."""
    yield
    from runbook.interruption import allow_checks

    allow_checks()
