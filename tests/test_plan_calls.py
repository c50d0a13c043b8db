"""`runbook plan` lists every Google API call the checks make, and nothing they never make.

The plan is what reviewers approve IAM against, so it comes from the catalog's `calls` (runbook/catalog.py), and
this test holds the catalog to what the checks really do: it runs every check on its own against the simulator,
in worlds that take each conditional path (a 404 that makes a check list what exists, a revision that is not
ready, a redeploy, the Cloud SQL connector), and maps each request the simulator saw to its method in Google's
discovery documents. A check that calls a method its `calls` do not list fails the first test; a listed method
that no check ever calls fails the second.
"""

import inspect
import json
import re
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import googleapiclient
import pytest

from flows.business import golden_path, performance, stakeholder_summary
from flows.infrastructure import (
    cloud_sql_instance,
    database_connectivity,
    load_balancer_check,
    monitoring_check,
    secrets_check,
    service_drift_check,
    vpc_connector,
)
from flows.restoration import cloud_run_ready, health_endpoints, post_restore_monitoring, redeploy, websocket_handshake
from runbook.catalog import CATALOG
from runbook.config.files import parse_config
from runbook.config.models import RunbookConfig
from runbook.google.clients import GoogleClients
from runbook.results import CheckResult
from simulator.requestlog import RecordedRequest
from simulator.server import Simulator
from tests.support import local_data_for

pytestmark = pytest.mark.timeout(300)

DOCUMENTS = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
REST_DOCUMENTS = {
    "vpcaccess": "vpcaccess.v1.json",
    "sqladmin": "sqladmin.v1beta4.json",
    "run": "run.v2.json",
    "secretmanager": "secretmanager.v1.json",
    "compute": "compute.v1.json",
}
GRPC_METHODS = {"monitoring": {"ListTimeSeries": "timeSeries.list"}}  # Cloud Monitoring is read over gRPC

Call = tuple[str, str]  # (api, method as the catalog names it)


def short_method(method_id: str) -> str:
    """`run.projects.locations.services.revisions.get` -> `services.revisions.get` (the catalog's names)."""
    parts = method_id.split(".")[1:]
    return ".".join(part for part in parts if part not in ("projects", "locations"))


@cache
def rest_methods(api: str) -> list[tuple[str, re.Pattern[str], str]]:
    """(HTTP method, path pattern, short method name) of every method of `api`, literal paths first."""
    document = json.loads((DOCUMENTS / REST_DOCUMENTS[api]).read_text())
    found: list[tuple[int, str, re.Pattern[str], str]] = []

    def collect(node: dict[str, Any]) -> None:
        for method in node.get("methods", {}).values():
            template = "/" + document["servicePath"] + method.get("flatPath", method["path"])
            pattern = re.escape(template)
            pattern = re.sub(r"\\\{\\\+[^}]+\\\}", ".+", pattern)
            pattern = re.sub(r"\\\{[^}]+\\\}", "[^/:]+", pattern)
            literal = len(re.sub(r"\{[^}]+\}", "", template))
            found.append((literal, method["httpMethod"], re.compile(f"^{pattern}$"), short_method(method["id"])))
        for resource in node.get("resources", {}).values():
            collect(resource)

    collect(document)
    found.sort(key=lambda item: -item[0])
    return [(verb, pattern, name) for _, verb, pattern, name in found]


def method_of(entry: RecordedRequest) -> Call:
    """The discovery method a request the simulator saw stands for."""
    if entry.api in GRPC_METHODS:
        return entry.api, GRPC_METHODS[entry.api][entry.method]
    for verb, pattern, name in rest_methods(entry.api):
        if verb == entry.method and pattern.match(entry.path):
            return entry.api, name
    raise AssertionError(f"{entry.method} {entry.path} is no method of {entry.api}'s discovery document")


def google_calls(entries: list[RecordedRequest]) -> set[Call]:
    return {method_of(e) for e in entries if e.api in REST_DOCUMENTS or e.api in GRPC_METHODS}


def declared(check_id: str, config: RunbookConfig | None = None) -> set[Call]:
    """The calls the catalog lists for a check: all of them, or those `config` allows (what its plan shows)."""
    spec = CATALOG[check_id]
    return {(call.api, call.method) for call in (spec.calls_for(config) if config else spec.calls)}


Observed = dict[str, dict[str, tuple[set[Call], set[Call]]]]  # world -> check id -> (called, the plan's list)
Runner = Callable[[RunbookConfig, GoogleClients], Awaitable[CheckResult]]

# Every check, called as a plain function (no Prefect), on its own: no shared reads, so each reads for itself.
RUNNERS: dict[str, Runner] = {
    "vpc-connector": lambda c, g: vpc_connector.fn(c, g),
    "cloud-sql-instance": lambda c, g: cloud_sql_instance.fn(c, g),
    "database-connectivity": lambda c, g: database_connectivity.fn(c, g, None),
    "secrets": lambda c, g: secrets_check.fn(c, g),
    "load-balancer": lambda c, g: load_balancer_check.fn(c, g),
    "service-drift": lambda c, g: service_drift_check.fn(c, g),
    "monitoring": lambda c, g: monitoring_check.fn(c, g),
    "redeploy": lambda c, g: redeploy.fn(c, g),
    "cloud-run-ready": lambda c, g: cloud_run_ready.fn(c, g),
    "health-endpoints": lambda c, g: health_endpoints.fn(c, g),
    "websocket-handshake": lambda c, g: websocket_handshake.fn(c, g),
    "post-restore-monitoring": lambda c, g: post_restore_monitoring.fn(c, g, datetime.now(UTC)),
    "golden-path": lambda c, g: golden_path.fn(c, g),
    "performance": lambda c, g: performance.fn(c, g),
}
# Given no Google clients, these cannot call Google (and stakeholder-summary writes a Prefect artifact).
WITHOUT_CLIENTS = {"stakeholder-summary": stakeholder_summary}


def missing_names(data: dict[str, Any]) -> None:
    """Names nobody has: each check that reads them gets a 404 and lists what exists instead."""
    data["vpc_connector"]["name"] = "no-such-connector"
    data["cloud_sql"]["instance"] = "no-such-db"
    data["load_balancer"]["backend_services"].append({"name": "no-such-backend-service", "min_timeout_s": 30})
    data["load_balancer"]["health_checks"].append({"name": "no-such-health-check"})
    data["services"].append({"name": "no-such-service", "role": "frontend", "url": "http://127.0.0.1:9/"})


def through_the_connector(data: dict[str, Any]) -> None:
    """database-connectivity through cloud-sql-python-connector (its Cloud SQL Admin calls, then TLS)."""
    data["database"]["mode"] = "connector"
    data["database"].pop("host", None)


def as_is(data: dict[str, Any]) -> None:
    pass


# (scenario, change to local.toml, checks): together they take every path on which a check calls Google.
WORLDS: dict[str, tuple[str, Callable[[dict[str, Any]], None], tuple[str, ...]]] = {
    "healthy": ("healthy", as_is, tuple(RUNNERS)),
    "missing names": (
        "healthy",
        missing_names,
        ("vpc-connector", "cloud-sql-instance", "load-balancer", "service-drift", "cloud-run-ready"),
    ),
    "connector deleted": ("connector-deleted", as_is, ("service-drift",)),
    "revision not ready": ("revision-not-ready", as_is, ("cloud-run-ready",)),
    "database through the connector": ("healthy", through_the_connector, ("database-connectivity",)),
}


async def calls_in(world: str) -> dict[str, tuple[set[Call], set[Call]]]:
    """check id -> (the Google API methods it called in `world`, each check run alone; what the plan lists)."""
    scenario, change, checks = WORLDS[world]
    observed: dict[str, tuple[set[Call], set[Call]]] = {}
    with Simulator(scenario) as sim:
        data = local_data_for(sim)
        change(data)
        config = parse_config(data, f"local.toml ({world})")
        clients = GoogleClients(config.gcp)
        for check_id in checks:
            sim.log.clear()
            await RUNNERS[check_id](config, clients)
            observed[check_id] = google_calls(sim.log.entries()), declared(check_id, config)
    return observed


@pytest.fixture(scope="module")
def observed(password: None) -> Iterator[Observed]:
    import asyncio

    yield {world: asyncio.run(calls_in(world)) for world in WORLDS}


@pytest.fixture(scope="module")
def password() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RUNBOOK_DB_PASSWORD", "netra-app-test-password")  # the simulator's world, not a secret
        yield


def test_every_check_is_run_or_cannot_call_google() -> None:
    assert set(RUNNERS) | set(WITHOUT_CLIENTS) == set(CATALOG)
    for check_id, task in WITHOUT_CLIENTS.items():
        assert "clients" not in inspect.signature(task.fn).parameters and not CATALOG[check_id].calls


def test_no_check_calls_a_google_api_method_the_plan_does_not_list(
    observed: Observed,
) -> None:
    undeclared = [
        f"{check_id} called {api} {method} ({world}), which its plan does not list: add it to the check's `calls` "
        "in runbook/catalog.py, or fix the condition under which the call applies"
        for world, checks in observed.items()
        for check_id, (calls, planned) in checks.items()
        for api, method in sorted(calls - planned)
    ]
    assert not undeclared, "\n".join(undeclared)


def test_the_plan_lists_no_call_that_no_check_makes(observed: Observed) -> None:
    made: dict[str, set[Call]] = {}
    for checks in observed.values():
        for check_id, (calls, _) in checks.items():
            made.setdefault(check_id, set()).update(calls)
    never = [
        f"{check_id} lists {api} {method} but never called it here"
        for check_id in CATALOG
        for api, method in sorted(declared(check_id) - made.get(check_id, set()))
    ]
    assert not never, "\n".join(never)
