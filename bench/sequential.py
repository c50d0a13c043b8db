"""The sequential baseline: the runbook's calls made one after another, as the old diagnostic script did.

A plain script (no Prefect, no asyncio): the same `GoogleClients`, the same request shapes, `retry=None` and an
explicit `timeout=` on every Google call, then the database, the health endpoints, the WebSocket handshake and the
golden path with the same HTTP/WebSocket requests as the checks. It reads no secret payload: the E2E bypass key comes
from the environment variable RUNBOOK_E2E_BYPASS_KEY (as the old script's operator exported it), so it makes two
to three calls fewer than a run (the runbook reads the key from Secret Manager per check that logs in).

    python -m bench.sequential --env FILE [--out result.json] [--phases infrastructure]
"""

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from bench.rss import peak_rss_mb
from runbook.config.files import load_config
from runbook.config.models import RunbookConfig, ServiceConfig
from runbook.google.clients import GoogleClients

KEY_ENV = "RUNBOOK_E2E_BYPASS_KEY"
PHASES = ("infrastructure", "restoration", "business")
METRIC = "run.googleapis.com/request_count"  # as tasks/monitoring.py (not imported: it imports Prefect)
RESOURCE = "cloud_run_revision"
GROUP_BY = ("metric.label.response_code_class", "resource.label.service_name")
AUTH_READY_PATH = "/health/ready"
TERMINAL = ("agent_completed", "agent_error")


class Steps:
    """Times each step of the script; the order is the order of the calls."""

    def __init__(self) -> None:
        self.steps: list[tuple[str, float]] = []

    def run(self, name: str, fn: Callable[[], Any]) -> Any:
        started = time.monotonic()
        try:
            return fn()
        finally:
            self.steps.append((name, time.monotonic() - started))


def time_series_request(project: str, window_s: int, delay_s: int, page_token: str = "") -> dict[str, Any]:
    end = int(time.time()) - delay_s
    return {
        "name": f"projects/{project}",
        "filter": f'metric.type="{METRIC}" AND resource.type="{RESOURCE}"',
        "interval": {"start_time": {"seconds": end - window_s}, "end_time": {"seconds": end}},
        "aggregation": {
            "alignment_period": {"seconds": window_s},
            "per_series_aligner": "ALIGN_DELTA",
            "cross_series_reducer": "REDUCE_SUM",
            "group_by_fields": list(GROUP_BY),
        },
        "view": "FULL",
        "page_size": 1000,
        "page_token": page_token,
    }


def probed_paths(service: ServiceConfig) -> tuple[str, ...]:
    if service.role == "auth" and AUTH_READY_PATH not in service.health_paths:
        return (*service.health_paths, AUTH_READY_PATH)
    return service.health_paths


class SequentialScript:
    """Every read of the three phases, in order, each waiting for the last."""

    def __init__(self, config: RunbookConfig, bypass_key: str, db_password: str | None) -> None:
        self.config = config
        self.clients = GoogleClients(config.gcp)
        self.key = bypass_key
        self.db_password = db_password
        self.timeout = config.timeouts.api_call_s
        self.steps = Steps()

    def google(self, label: str, fn: Callable[..., Any], /, **kwargs: Any) -> Any:
        return self.steps.run(label, lambda: fn(retry=None, timeout=self.timeout, **kwargs))

    def run(self, phases: Sequence[str] = PHASES) -> dict[str, float]:
        """The phases' calls in order; seconds per phase."""
        unknown = [p for p in phases if p not in PHASES]
        if unknown:
            raise ValueError(f"unknown phase(s) {unknown}: expected some of {list(PHASES)}")
        seconds: dict[str, float] = {}
        for phase in (p for p in PHASES if p in phases):
            started = time.monotonic()
            getattr(self, phase)()
            seconds[phase] = round(time.monotonic() - started, 3)
        return seconds

    # --- phase 1 -------------------------------------------------------------------------------------------------
    def infrastructure(self) -> None:
        from google.cloud import sqladmin_v1beta4, vpcaccess_v1

        c, gcp = self.clients, self.config.gcp
        name = c.connector_name(self.config.vpc_connector.name)
        self.google("connectors.get", c.vpcaccess.get_connector, request=vpcaccess_v1.GetConnectorRequest(name=name))
        request = sqladmin_v1beta4.SqlInstancesGetRequest(project=gcp.project, instance=self.config.cloud_sql.instance)
        self.google("instances.get", c.sql_instances.get, request=request)
        self.steps.run("database SELECT 1", self.select_one)
        existing = self.list_secrets()
        for secret in (s for s in self.config.secrets.expected if s in existing):
            path = f"projects/{gcp.project}/secrets/{secret}/versions/latest"
            self.google("versions.get", c.secretmanager.get_secret_version, request={"name": path})
        self.load_balancer()
        for service in self.config.services:
            self.google("services.get (drift)", c.run_services.get_service, name=c.service_name(service.name))
        self.monitoring()

    def select_one(self) -> None:
        import psycopg

        db = self.config.database
        timeout = max(2, math.ceil(self.config.timeouts.database_connect_s))
        with psycopg.connect(
            host=db.host,
            port=db.port,
            dbname=db.name,
            user=db.user,
            password=self.db_password,
            connect_timeout=timeout,
            sslmode=db.sslmode,
            application_name="staging-runbook-bench",
        ) as connection:
            row = connection.execute("SELECT 1").fetchone()
            if not row or row[0] != 1:
                raise RuntimeError(f"SELECT 1 returned {row!r}")

    def list_secrets(self) -> set[str]:
        project, token = self.config.gcp.project, ""
        ids: set[str] = set()
        while True:
            request = {"parent": f"projects/{project}", "page_size": self.config.secrets.page_size, "page_token": token}
            page = self.google("secrets.list", self.clients.secretmanager.list_secrets, request=request)
            ids.update(secret.name.rsplit("/", 1)[-1] for secret in page.secrets)
            token = page.next_page_token
            if not token:
                return ids

    def load_balancer(self) -> None:
        project, lb = self.config.gcp.project, self.config.load_balancer
        backends, checks = self.clients.backend_services, self.clients.health_checks
        found = [
            self.google("backendServices.get", backends.get, project=project, backend_service=p.name)
            for p in lb.backend_services
        ]
        for policy in lb.health_checks:
            self.google("healthChecks.get", checks.get, project=project, health_check=policy.name)
        for service in found:
            for backend in service.backends:
                self.google(
                    "backendServices.getHealth",
                    backends.get_health,
                    project=project,
                    backend_service=service.name,
                    resource_group_reference_resource={"group": backend.group},
                )

    def monitoring(self) -> None:
        m = self.config.monitoring
        request = time_series_request(self.config.gcp.project, m.window_s, m.ingestion_delay_s)
        self.google("timeSeries.list", self.clients.monitoring.list_time_series, request=request)

    # --- phase 2 -------------------------------------------------------------------------------------------------
    def restoration(self) -> None:
        from google.cloud import run_v2

        c = self.clients
        for service in self.config.services:
            request = run_v2.GetServiceRequest(name=c.service_name(service.name))
            answer = self.google("services.get (ready)", c.run_services.get_service, request=request)
            latest = answer.latest_created_revision
            if latest and latest != answer.latest_ready_revision:
                self.google(
                    "revisions.get", c.run_revisions.get_revision, request=run_v2.GetRevisionRequest(name=latest)
                )
        with self.http() as client:
            for service in (s for s in self.config.services if s.role in ("backend", "auth", "frontend")):
                for url in (service.url.rstrip("/") + path for path in probed_paths(service)):
                    self.steps.run("GET health", partial(self.get, client, url))
            token = self.steps.run("token", lambda: self.token(client))
        self.steps.run("websocket handshake", lambda: self.websocket(token, send_message=False))
        self.monitoring()

    # --- phase 3 -------------------------------------------------------------------------------------------------
    def business(self) -> None:
        self.golden_path()
        backend = self.config.service("backend")
        assert backend is not None
        with self.http() as client:
            for _ in range(self.config.performance.health_probes):
                self.steps.run("GET /health (perf)", lambda: self.get(client, backend.url.rstrip("/") + "/health"))
        for _ in range(self.config.performance.golden_path_probes):
            self.golden_path()

    def golden_path(self) -> None:
        with self.http() as client:
            token = self.steps.run("token", lambda: self.token(client))
        self.steps.run("golden path /ws", lambda: self.websocket(token, send_message=True))

    # --- HTTP and WebSocket ----------------------------------------------------------------------------------------
    def http(self) -> Any:
        import httpx

        return httpx.Client(follow_redirects=False, timeout=self.config.timeouts.health_s)

    @staticmethod
    def get(client: Any, url: str) -> None:
        response = client.get(url)
        if response.status_code != 200:
            raise RuntimeError(f"GET {url}: HTTP {response.status_code}")

    def token(self, client: Any) -> str:
        auth = self.config.service("auth")
        assert auth is not None
        response = client.post(
            auth.url.rstrip("/") + "/auth/e2e/test-auth",
            json={"email": self.config.golden_path.email, "name": "E2E Tester", "permissions": ["read", "write"]},
            headers={"X-E2E-Bypass-Key": self.key},
            timeout=self.config.timeouts.e2e_s,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def websocket(self, token: str, send_message: bool) -> None:
        from websockets.sync.client import connect
        from websockets.typing import Subprotocol

        backend = self.config.service("backend")
        assert backend is not None
        url = backend.url.rstrip("/").replace("http://", "ws://", 1).replace("https://", "wss://", 1)
        url += "/" + self.config.golden_path.websocket_path.lstrip("/")
        wait_s = self.config.timeouts.golden_path_s
        with connect(
            url,
            additional_headers={"Authorization": f"Bearer {token}"},
            subprotocols=[Subprotocol(f"jwt.{token}")],
            open_timeout=self.config.timeouts.e2e_s,
        ) as connection:
            until(connection, ("connection_established",), wait_s)
            if send_message:
                message = {"type": "user_message", "data": {"message": self.config.golden_path.message}}
                connection.send(json.dumps(message))
                until(connection, TERMINAL, wait_s)


def until(connection: Any, types: tuple[str, ...], wait_s: float) -> None:
    """Receive frames until one of `types` (raises on silence past `wait_s` or an agent error)."""
    end = time.monotonic() + wait_s
    while True:
        frame = json.loads(connection.recv(timeout=max(0.01, end - time.monotonic())))
        if frame.get("type") == "agent_error":
            raise RuntimeError(f"agent_error: {frame}")
        if frame.get("type") in types:
            return


def run_sequential(
    config: RunbookConfig, bypass_key: str, db_password: str | None, phases: Sequence[str] = PHASES
) -> dict[str, Any]:
    """Run the script; wall time from the first client build (imports included) and of the calls alone."""
    started = time.monotonic()
    script = SequentialScript(config, bypass_key, db_password)
    script.clients.wait(
        "vpcaccess", "sql_instances", "secretmanager", "backend_services", "health_checks", "run_services",
        "run_revisions", "monitoring",
    )  # fmt: skip
    import httpx  # noqa: F401  (imported before the clock of the calls starts, as the clients are)
    import psycopg  # noqa: F401
    import websockets.sync.client  # noqa: F401

    imported = time.monotonic()
    phase_s = script.run(phases)
    ended = time.monotonic()
    totals: dict[str, float] = {}
    for name, seconds in script.steps.steps:
        totals[name] = totals.get(name, 0.0) + seconds
    return {
        "wall_s": round(ended - started, 3),
        "imports_s": round(imported - started, 3),
        "calls_s": round(ended - imported, 3),
        "phases": list(phase_s),
        "phase_s": phase_s,
        "steps": len(script.steps.steps),
        "step_totals_s": {name: round(seconds, 3) for name, seconds in totals.items()},
        "peak_rss_mb": peak_rss_mb(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sequential", description=__doc__.split("\n")[0])
    parser.add_argument("--env", required=True, help="environment name or TOML file")
    parser.add_argument("--out", type=Path, help="write the result as JSON here")
    parser.add_argument("--phases", default=",".join(PHASES), help="comma-separated, run in the plan's order")
    args = parser.parse_args(argv)
    key = os.environ.get(KEY_ENV, "")
    if not key:
        print(f"{KEY_ENV} is not set (the E2E bypass key)", file=sys.stderr)
        return 2
    config = load_config(args.env)
    password = os.environ.get(config.database.password_env or "") if config.database.password_env else None
    result = run_sequential(config, key, password, args.phases.split(","))
    text = json.dumps(result, indent=2)
    if args.out:
        args.out.write_text(text)
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
