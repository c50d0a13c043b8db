"""Shared pieces of the simulated Google REST APIs: errors in Google's format, pagination, timestamps."""

import base64
import datetime as dt
from collections.abc import Sequence
from typing import Any, TypeVar

from starlette.requests import Request
from starlette.responses import JSONResponse

T = TypeVar("T")

# google.rpc.Code names by HTTP status, as Google's REST front ends map them.
STATUS_NAMES: dict[int, str] = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}

DEFAULT_MESSAGES: dict[int, str] = {
    400: "Request contains an invalid argument.",
    403: "The caller does not have permission",
    404: "Requested entity was not found.",
    429: "Quota exceeded for quota metric 'Read requests' and limit 'Read requests per minute'.",
    500: "Internal error encountered.",
    503: "The service is currently unavailable.",
    504: "The request timed out. Please try again.",
}

SIM_EPOCH = dt.datetime(2025, 9, 1, 8, 0, 0, tzinfo=dt.UTC)


class GoogleError(Exception):
    """Raised by a handler to answer with a Google error body."""

    def __init__(self, code: int, message: str, status: str | None = None, reason: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or STATUS_NAMES.get(code, "UNKNOWN")
        self.reason = reason


def error_body(code: int, message: str = "", status: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """`{"error": {"code", "message", "status"}}`; `reason` adds the legacy `errors` list Compute/SQL send."""
    error: dict[str, Any] = {
        "code": code,
        "message": message or DEFAULT_MESSAGES.get(code, "Error"),
        "status": status or STATUS_NAMES.get(code, "UNKNOWN"),
    }
    if reason:
        error["errors"] = [{"message": error["message"], "domain": "global", "reason": reason}]
    return {"error": error}


def error_response(error: GoogleError, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(error.code, error.message, error.status, error.reason), error.code, headers)


async def google_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette exception handler for GoogleError."""
    assert isinstance(exc, GoogleError)
    return error_response(exc)


def permission_denied(permission: str, resource: str) -> GoogleError:
    """The 403 Google sends for a missing IAM permission (also used for projects that do not exist)."""
    return GoogleError(403, f"Permission '{permission}' denied on resource '{resource}' (or it may not exist).")


def paginate(
    items: Sequence[T], page_size: str | int | None, page_token: str | None, default: int
) -> tuple[list[T], str]:
    """One page of `items` and the next page token ("" on the last page). Tokens are opaque base64 offsets."""
    try:
        size = int(page_size) if page_size not in (None, "", 0, "0") else default
        start = int(base64.urlsafe_b64decode((page_token or "").encode()).decode() or 0) if page_token else 0
    except ValueError as error:
        raise GoogleError(400, f"Invalid page size or page token: {error}") from error
    if size < 0 or start < 0:
        raise GoogleError(400, "page size and page token must not be negative")
    end = start + size
    token = base64.urlsafe_b64encode(str(end).encode()).decode() if end < len(items) else ""
    return list(items[start:end]), token


def timestamp(offset_seconds: float = 0.0) -> str:
    """An RFC 3339 timestamp `offset_seconds` after a fixed simulator epoch (stable answers, readable dates)."""
    moment = SIM_EPOCH + dt.timedelta(seconds=offset_seconds)
    return moment.isoformat(timespec="microseconds").replace("+00:00", "Z")


def now_timestamp() -> str:
    """The current time in RFC 3339 (for resources created while the simulator runs)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def drop_empty(value: Any) -> Any:
    """Remove None and "" recursively, as proto3 JSON omits unset scalars."""
    if isinstance(value, dict):
        return {k: drop_empty(v) for k, v in value.items() if v is not None and v != ""}
    if isinstance(value, list):
        return [drop_empty(v) for v in value]
    return value
