"""The Netra services' health contract: which endpoints each role answers with a JSON `status` field.

Shared by the `health-endpoints` check (what it requests) and `runbook plan` (what it says will be requested),
without importing the check (and Prefect) for the plan.
"""

from runbook.config.models import ServiceConfig

AUTH_READY_PATH = "/health/ready"
# The Netra contract (reference/netra-staging.md): the health endpoints of each role whose JSON body carries a
# `status` field. They are always probed, with the configured paths, so a degraded or critical body is read even
# when the environment file lists only `/health`.
CONTRACT_PATHS: dict[str, tuple[str, ...]] = {
    "backend": ("/health", "/health/ready", "/health/infrastructure"),
    "auth": ("/health", AUTH_READY_PATH),
    "frontend": ("/health",),
}


def probed_paths(service: ServiceConfig) -> tuple[str, ...]:
    """The configured health paths, then the role's contract paths not configured (`CONTRACT_PATHS`).

    The backend's `/health/infrastructure` and the auth service's `/health/ready` carry the verdict on the
    database path; an environment file that lists only `/health` must not silently skip them.
    """
    missing = [path for path in CONTRACT_PATHS.get(service.role, ()) if path not in service.health_paths]
    return (*service.health_paths, *missing)
