"""Assembles the Google REST routes of one scenario."""

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route

from simulator.google.cloud_run import CloudRunApi
from simulator.google.cloud_sql import CloudSqlApi
from simulator.google.compute import ComputeApi
from simulator.google.config import GoogleConfig
from simulator.google.faults import classify
from simulator.google.rest import error_body
from simulator.google.secret_manager import SecretManagerApi
from simulator.google.sql_proxy import LazyCertificates
from simulator.google.vpc_access import VpcAccessApi

ALL_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]


def google_routes(google: GoogleConfig, base_url: str, sql_certificates: LazyCertificates) -> list[BaseRoute]:
    """Every REST route of the simulated Google APIs (state lives in the API objects, one per call)."""
    return [
        *VpcAccessApi(google).routes(),
        *CloudSqlApi(google, sql_certificates).routes(),
        *CloudRunApi(google, base_url).routes(),
        *SecretManagerApi(google).routes(),
        *ComputeApi(google).routes(),
    ]


async def _fallback(request: Request) -> Response:
    """Anything no route matched: a Google-style 404 under Google prefixes, a plain 404 elsewhere."""
    if classify(request.url.path) is None:
        return PlainTextResponse("Not Found", 404)
    message = f"The requested URL {request.url.path} ({request.method}) was not found on this simulator."
    return JSONResponse(error_body(404, message), 404)


def fallback_route() -> BaseRoute:
    """Must be the last route of the app."""
    return Route("/{path:path}", _fallback, methods=ALL_METHODS)
