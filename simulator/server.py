"""The staging simulator: one HTTP port for every REST API (Google, Netra, Slack) and one gRPC port (Monitoring).

Example:
    with Simulator("sql-stopped") as sim:
        client = vpcaccess_v1.VpcAccessServiceClient(
            credentials=AnonymousCredentials(), transport="rest", client_options={"api_endpoint": sim.url})
"""

import importlib
import signal
import socket
import threading
import time
from concurrent import futures
from types import TracebackType
from typing import Any

import grpc
import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute

from simulator.google.app import fallback_route, google_routes
from simulator.google.config import GoogleConfig
from simulator.google.faults import FaultInjector
from simulator.google.frontdoor import GoogleFrontDoor
from simulator.google.monitoring import MetricService
from simulator.google.rest import GoogleError, google_error_handler
from simulator.google.sql_proxy import LazyCertificates, SqlServerProxy
from simulator.requestlog import RequestLog
from simulator.scenario import Scenario, load_scenario

HOST = "127.0.0.1"
DEFAULT_PORT = 8765
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 5.0


class Simulator:
    """The simulated staging world of one scenario, served on loopback from background threads."""

    def __init__(self, scenario: str | Scenario = "healthy", port: int = 0, grpc_port: int = 0) -> None:
        self.scenario: Scenario = load_scenario(scenario) if isinstance(scenario, str) else scenario
        self.log = RequestLog()
        self.netra_state: Any = None
        self.slack_state: Any = None
        self._requested_ports = (port, grpc_port)
        self._port = 0
        self._grpc_port = 0
        self._stopping = threading.Event()
        self._http: uvicorn.Server | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc: grpc.Server | None = None
        self._sql_proxy: SqlServerProxy | None = None
        self._sql_certificates = LazyCertificates(self.scenario.google.project)

    @property
    def url(self) -> str:
        """`http://127.0.0.1:PORT`, the api_endpoint for every REST client."""
        self._require_started()
        return f"http://{HOST}:{self._port}"

    @property
    def grpc_target(self) -> str:
        """`127.0.0.1:PORT` for `grpc.insecure_channel()` (Cloud Monitoring)."""
        self._require_started()
        return f"{HOST}:{self._grpc_port}"

    def start(self) -> "Simulator":
        """Start both servers; returns once both accept connections. Raises RuntimeError when they cannot."""
        if self._http is not None:
            return self
        self._stopping.clear()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # accepted sockets inherit it: no 40 ms stalls
        try:
            sock.bind((HOST, self._requested_ports[0]))
        except OSError as error:
            sock.close()
            raise RuntimeError(f"cannot listen on {HOST}:{self._requested_ports[0]}: {error}") from error
        self._port = sock.getsockname()[1]
        injector = FaultInjector(self.scenario.google)
        try:
            sqladmin = self.scenario.google.sqladmin
            if sqladmin.proxy_upstream:  # bound first: the instances are reported at its address
                self._sql_proxy = SqlServerProxy(
                    self._sql_certificates.get(), sqladmin.proxy_port, sqladmin.proxy_upstream, sqladmin.proxy_host
                )
            self._start_grpc(injector)
            self._start_http(sock, injector)
            if self._sql_proxy is not None:
                self._sql_proxy.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop both servers promptly, ending hanging requests. Safe to call twice."""
        self._stopping.set()
        if self._http is not None:
            self._http.should_exit = True
        if self._http_thread is not None:
            self._http_thread.join(STOP_TIMEOUT_S)
        if self._grpc is not None:
            self._grpc.stop(grace=0.2).wait(STOP_TIMEOUT_S)
        if self._sql_proxy is not None:
            self._sql_proxy.stop()
        self._http, self._http_thread, self._grpc, self._sql_proxy = None, None, None, None

    def __enter__(self) -> "Simulator":
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()

    def _require_started(self) -> None:
        if not self._port:
            raise RuntimeError("the simulator is not started: call start() or use it as a context manager")

    def _start_grpc(self, injector: FaultInjector) -> None:
        service = MetricService(self.scenario.google, injector, self.log, self._stopping)
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="simulator-grpc"))
        server.add_generic_rpc_handlers((service.handler(),))
        try:
            port = server.add_insecure_port(f"{HOST}:{self._requested_ports[1]}")
        except RuntimeError as error:
            raise RuntimeError(f"cannot listen on {HOST}:{self._requested_ports[1]} (gRPC): {error}") from error
        if port == 0:
            raise RuntimeError(f"cannot listen on {HOST}:{self._requested_ports[1]} (gRPC)")
        server.start()
        self._grpc, self._grpc_port = server, port

    @property
    def sql_proxy_address(self) -> tuple[str, int] | None:
        """Where the Cloud SQL server proxy listens (`[google.sqladmin] proxy_upstream`), None without one."""
        return (self._sql_proxy.host, self._sql_proxy.port) if self._sql_proxy is not None else None

    def _google_as_served(self) -> GoogleConfig:
        """The scenario's Google config, with loopback instance addresses at the Cloud SQL proxy's when it runs."""
        google = self.scenario.google
        if self._sql_proxy is None:
            return google
        host = self._sql_proxy.host
        instances = {
            name: instance.model_copy(
                update={
                    "ip_addresses": [
                        ip.model_copy(update={"ip_address": host}) if ip.ip_address.startswith("127.") else ip
                        for ip in instance.ip_addresses
                    ]
                }
            )
            for name, instance in google.sqladmin.instances.items()
        }
        sqladmin = google.sqladmin.model_copy(update={"instances": instances})
        return google.model_copy(update={"sqladmin": sqladmin})

    def _start_http(self, sock: socket.socket, injector: FaultInjector) -> None:
        base_url = f"http://{HOST}:{self._port}"
        google = self._google_as_served()
        routes = [*self._partner_routes(), *google_routes(google, base_url, self._sql_certificates), fallback_route()]
        front_door = Middleware(
            GoogleFrontDoor,
            injector=injector,
            log=self.log,
            stopping=self._stopping,
            max_hang_s=google.max_hang_seconds,
        )
        app = Starlette(routes=routes, middleware=[front_door], exception_handlers={GoogleError: google_error_handler})
        config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=1)
        self._http = uvicorn.Server(config)
        self._http_thread = threading.Thread(
            target=self._http.run, kwargs={"sockets": [sock]}, name="simulator-http", daemon=True
        )
        self._http_thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._http.started:
            if not self._http_thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the simulator's HTTP server did not start on {base_url}")
            time.sleep(0.01)

    def _partner_routes(self) -> list[BaseRoute]:
        """Routes of the Netra and Slack simulators, when their modules exist; each state from its own module."""
        routes: list[BaseRoute] = []
        for module_name, routes_name, state_module_name, state_name, section, attribute in (
            (
                "simulator.netra",
                "netra_routes",
                "simulator.netra_state",
                "NetraState",
                self.scenario.netra,
                "netra_state",
            ),
            (
                "simulator.slack",
                "slack_routes",
                "simulator.slack_state",
                "SlackState",
                self.scenario.slack,
                "slack_state",
            ),
        ):
            try:
                module = importlib.import_module(module_name)
                state_module = importlib.import_module(state_module_name)
            except ModuleNotFoundError as error:
                if error.name not in (module_name, state_module_name):
                    raise
                continue
            state = getattr(state_module, state_name).model_validate(section)
            setattr(self, attribute, state)
            routes.extend(getattr(module, routes_name)(state, self.log))
        return routes


def main(scenario: str = "healthy", port: int = DEFAULT_PORT, grpc_port: int | None = None) -> None:
    """Serve `scenario` in the foreground until Ctrl-C (`runbook simulate`). gRPC defaults to port + 1."""
    if grpc_port is None:
        grpc_port = port + 1 if port else 0

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt  # SIGTERM (`kill`) stops it as Ctrl-C does: servers closed, exit 0

    signal.signal(signal.SIGTERM, stop)
    with Simulator(scenario, port, grpc_port) as sim:
        print(f"Staging simulator: scenario {sim.scenario.name!r} - {sim.scenario.description}")
        print(f"  REST (Google APIs, Netra /services/..., Slack /slack/...): {sim.url}")
        print(f"  gRPC (Cloud Monitoring): {sim.grpc_target}")
        print("Press Ctrl-C to stop.", flush=True)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            print("Stopping the simulator.")
