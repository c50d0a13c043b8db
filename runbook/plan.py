"""`runbook plan`: the phases, checks, dependencies, gates and resources, from configuration alone."""

import os

from rich.console import Group
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from runbook.catalog import CATALOG, ApiCall, CheckSpec, phase_checks
from runbook.config.models import RunbookConfig
from runbook.health_contract import probed_paths
from runbook.results import PHASE_TEAMS, PHASE_TITLES, Phase


def _resources(config: RunbookConfig, check_id: str) -> str:
    gcp = config.gcp
    location = f"projects/{gcp.project}/locations/{gcp.region}"
    services = ", ".join(s.name for s in config.services)
    backend = config.service("backend")
    return {
        "vpc-connector": f"{location}/connectors/{config.vpc_connector.name}",
        "cloud-sql-instance": f"projects/{gcp.project}/instances/{config.cloud_sql.instance}",
        "database-connectivity": (
            f"{gcp.project}:{gcp.region}:{config.cloud_sql.instance}/{config.database.name} as "
            f"{config.database.user} via cloud-sql-python-connector"
            if config.database.mode == "connector"
            else f"{config.database.host or '(private IP of ' + config.cloud_sql.instance + ')'}:"
            f"{config.database.port}/{config.database.name} as {config.database.user}"
        ),
        "secrets": f"{len(config.secrets.expected)} secrets in projects/{gcp.project}",
        "load-balancer": ", ".join(
            [b.name for b in config.load_balancer.backend_services]
            + [h.name for h in config.load_balancer.health_checks]
        ),
        "service-drift": services,
        "monitoring": f"request_count of {services} over {config.monitoring.window_s} s",
        "redeploy": f"{services} (only with --redeploy and approval)",
        "cloud-run-ready": services,
        "health-endpoints": ", ".join(f"{s.name}{p}" for s in config.services for p in probed_paths(s)),
        "websocket-handshake": (backend.url if backend else "(no backend)") + config.golden_path.websocket_path,
        "post-restore-monitoring": f"request_count of {services} since the restoration started",
        "golden-path": f"{config.golden_path.auth} login, /ws, {config.golden_path.mode} event sequence",
        "performance": (
            f"{config.performance.health_probes} x /health, {config.performance.golden_path_probes} x golden path"
        ),
        "stakeholder-summary": "the run's results",
    }.get(check_id, "")


def reads(config: RunbookConfig, spec: CheckSpec) -> str:
    """What a check reads: its Google API calls by API, then anything else (HTTPS, WebSocket, PostgreSQL)."""
    google = [f"{api}: {', '.join(str(c) for c in calls)}" for api, calls in spec.calls_by_api(config).items()]
    return escape("; ".join([*google, *spec.reads]) or "-")  # `[database]` is text, not rich markup


def role_of(call: ApiCall) -> str:
    """The least-privilege role a call needs: its own, else its API's viewer role."""
    from runbook.google.clients import VIEWER_ROLES

    return call.role or VIEWER_ROLES[call.api]


def iam_table(config: RunbookConfig) -> Table:
    """Every Google API method the enabled checks may call, the role it needs, and which checks call it."""
    rows: dict[tuple[str, str, str], list[str]] = {}
    for spec in CATALOG.values():
        if not config.check_enabled(spec.id):
            continue
        for call in spec.calls_for(config):
            rows.setdefault((role_of(call), call.api, call.method), []).append(spec.id)
    table = Table(title="Google API calls and the roles they need", title_justify="left")
    for column in ("role", "api", "method", "called by"):
        table.add_column(column, overflow="fold")
    for (role, api, method), checks in sorted(rows.items()):
        table.add_row(role, api, method, ", ".join(checks))
    return table


def waits_for(config: RunbookConfig, spec: CheckSpec) -> str:
    """What the check waits for in this configuration (dependencies on another phase are its gate)."""
    if spec.id == "database-connectivity" and (config.database.host or config.database.mode == "connector"):
        return "-"
    if spec.id == "cloud-run-ready":
        return "redeploy (when asked)"
    own = {s.id for s in phase_checks(spec.phase)}
    return ", ".join(d if d in own else f"{d} (earlier phase's gate)" for d in spec.depends_on) or "-"


def render_plan(config: RunbookConfig) -> Group:
    parts: list[Table | Text] = [
        Text(
            f"Plan for {config.name}: project {config.gcp.project}, region {config.gcp.region}, "
            f"profile {config.profile.value}",
            style="bold",
        ),
    ]
    for number, phase in enumerate(Phase, start=1):
        table = Table(title=f"{number}. {PHASE_TITLES[phase]} (owner: {PHASE_TEAMS[phase]} team)", title_justify="left")
        for column in ("check", "sev", "waits for", "reads", "resources", "deadline"):
            table.add_column(column, overflow="fold")
        for spec in phase_checks(phase):
            enabled = config.check_enabled(spec.id)
            table.add_row(
                spec.id if enabled else f"{spec.id} (disabled)",
                spec.severity.value,
                waits_for(config, spec),
                reads(config, spec),
                _resources(config, spec.id),
                f"{config.check_deadline(spec.id):g} s",
            )
        parts.append(table)
        gate = "Gate: no P0/P1 check FAIL or ERROR; P2 problems pass with warnings."
        if number < len(Phase):
            gate += f" A closed gate skips phase {number + 1} and later."
        parts.append(Text(gate, style="dim"))
    parts.append(iam_table(config))
    return Group(*parts)


def plan_text(config: RunbookConfig, width: int = 160) -> str:
    """The plan as plain text (the dry run's log and artifact)."""
    from rich.console import Console

    console = Console(width=width, record=True, file=open(os.devnull, "w"), color_system=None)  # noqa: SIM115
    console.print(render_plan(config))
    return console.export_text()
