"""Cloud Monitoring v3 over gRPC: `google.monitoring.v3.MetricService/ListTimeSeries`.

`google.cloud.monitoring_v3` has no REST transport, so the runbook talks gRPC; this module is a generic grpcio
handler (de)serialising with the library's own proto-plus types. Faults from the scenario apply with the gRPC code
matching their HTTP status.
"""

import base64
import datetime as dt
import threading
import time
from typing import Any

import grpc
from google.cloud import monitoring_v3
from google.protobuf import timestamp_pb2

from simulator.google import monitoring_data as data
from simulator.google.config import GoogleConfig
from simulator.google.faults import GRPC_METHOD_PATHS, FaultInjector
from simulator.requestlog import RecordedRequest, RequestLog

SERVICE = "google.monitoring.v3.MetricService"
MALFORMED_BYTES = b"\x0a\xff\xff\xff\xff\x0f"  # a length-delimited field whose length runs past the end
SUPPORTED_ALIGNERS = {"ALIGN_NONE", "ALIGN_DELTA", "ALIGN_SUM", "ALIGN_RATE"}
GRPC_CODES: dict[int, grpc.StatusCode] = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ABORTED,
    412: grpc.StatusCode.FAILED_PRECONDITION,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    499: grpc.StatusCode.CANCELLED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
    504: grpc.StatusCode.DEADLINE_EXCEEDED,
}
HTTP_OF = {code: status for status, code in GRPC_CODES.items()}


class RpcError(Exception):
    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MetricService:
    """ListTimeSeries over the scenario's request counts."""

    def __init__(
        self, google: GoogleConfig, injector: FaultInjector, log: RequestLog, stopping: threading.Event
    ) -> None:
        self._google = google
        self._injector = injector
        self._log = log
        self._stopping = stopping

    def handler(self) -> grpc.GenericRpcHandler:
        method = grpc.unary_unary_rpc_method_handler(
            self.list_time_series,
            request_deserializer=monitoring_v3.ListTimeSeriesRequest.deserialize,
            response_serializer=_serialize,
        )
        return grpc.method_handlers_generic_handler(SERVICE, {"ListTimeSeries": method})

    def list_time_series(self, request: monitoring_v3.ListTimeSeriesRequest, context: grpc.ServicerContext) -> Any:
        status = grpc.StatusCode.OK
        path = GRPC_METHOD_PATHS["ListTimeSeries"]
        try:
            decision = self._injector.decide("monitoring", "ListTimeSeries", path)
            if decision.latency_s and self._wait(decision.latency_s, context):
                status = grpc.StatusCode.CANCELLED
                raise RpcError(status, "The client cancelled the request.")
            fault = decision.fault
            if fault is not None and fault.hang:
                cancelled = self._wait(self._google.max_hang_seconds, context)
                status = grpc.StatusCode.CANCELLED if cancelled else grpc.StatusCode.UNAVAILABLE
                raise RpcError(status, "The simulator is shutting down.")
            if fault is not None and fault.status:
                status = GRPC_CODES.get(fault.status, grpc.StatusCode.UNKNOWN)
                if fault.retry_after is not None:
                    context.set_trailing_metadata((("retry-after", str(fault.retry_after)),))
                raise RpcError(status, fault.message or f"Simulated {fault.status} error.")
            if fault is not None and fault.malformed:
                return MALFORMED_BYTES
            return self._answer(request)
        except RpcError as error:
            status = error.code
            context.abort(error.code, error.message)
        finally:
            self._log.record(
                RecordedRequest(
                    api="monitoring",
                    method="ListTimeSeries",
                    path=path,
                    query=f"name={request.name}&filter={request.filter}",
                    status=HTTP_OF.get(status, 200 if status == grpc.StatusCode.OK else 500),
                )
            )

    def _wait(self, seconds: float, context: grpc.ServicerContext) -> bool:
        """Wait up to `seconds` unless the server stops. True when the client cancelled or its deadline passed."""
        deadline = time.monotonic() + seconds
        while not self._stopping.is_set() and time.monotonic() < deadline:
            if not context.is_active():
                return True
            self._stopping.wait(min(0.05, max(0.0, deadline - time.monotonic())))
        return False

    def _answer(self, request: monitoring_v3.ListTimeSeriesRequest) -> monitoring_v3.ListTimeSeriesResponse:
        google = self._google
        project = request.name.removeprefix("projects/")
        if not google.is_project(project) or not request.name.startswith("projects/"):
            raise RpcError(
                grpc.StatusCode.PERMISSION_DENIED,
                f"Permission monitoring.timeSeries.list denied (or the resource may not exist): {request.name}",
            )
        try:
            clauses = data.parse_filter(request.filter)
        except data.FilterError as error:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from error
        if "end_time" not in request.interval:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "Field interval.end_time had an invalid value.")
        end = request.interval.end_time.timestamp()
        start = request.interval.start_time.timestamp() if "start_time" in request.interval else end
        type_clauses = [c for c in clauses if c.key in ("metric.type", "resource.type")]
        known = {"metric.type": data.REQUEST_COUNT, "resource.type": data.RESOURCE_TYPE}
        if not all(c.matches(known[c.key]) for c in type_clauses):
            return monitoring_v3.ListTimeSeriesResponse()
        label_clauses = [c for c in clauses if c not in type_clauses]
        try:
            series = data.select(data.request_count_series(google, start, end, time.time()), label_clauses)
            series, kind, value_type = _aggregate(series, request.aggregation, end)
        except data.FilterError as error:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, str(error)) from error
        headers_only = request.view == monitoring_v3.ListTimeSeriesRequest.TimeSeriesView.HEADERS
        all_series = [_to_proto(item, kind, value_type, headers_only) for item in series]
        offset = int(base64.urlsafe_b64decode(request.page_token).decode()) if request.page_token else 0
        size = request.page_size or 100_000
        next_token = (
            base64.urlsafe_b64encode(str(offset + size).encode()).decode() if offset + size < len(all_series) else ""
        )
        return monitoring_v3.ListTimeSeriesResponse(
            time_series=all_series[offset : offset + size], next_page_token=next_token, unit="1"
        )


def _aggregate(
    series: list[data.Series], aggregation: monitoring_v3.Aggregation, end: float
) -> tuple[list[data.Series], str, str]:
    """Apply the request's aggregation; returns the series, their metric kind and value type."""
    aligner = monitoring_v3.Aggregation.Aligner(aggregation.per_series_aligner).name
    reducer = monitoring_v3.Aggregation.Reducer(aggregation.cross_series_reducer).name
    if aligner not in SUPPORTED_ALIGNERS:
        raise data.FilterError(f"The simulator supports the aligners {sorted(SUPPORTED_ALIGNERS)}, not {aligner}.")
    if reducer != "REDUCE_NONE" and reducer not in data.REDUCERS:
        raise data.FilterError(f"The simulator supports the reducers {sorted(data.REDUCERS)}, not {reducer}.")
    if reducer != "REDUCE_NONE" and aligner == "ALIGN_NONE":
        raise data.FilterError("The cross-series reducer requires a per-series aligner other than ALIGN_NONE.")
    kind, value_type = "DELTA", "INT64"
    if aligner != "ALIGN_NONE":
        period = aggregation.alignment_period.total_seconds() if aggregation.alignment_period else 0.0
        series = data.align(series, aligner, period, end)
        if aligner == "ALIGN_RATE":
            kind, value_type = "GAUGE", "DOUBLE"
    if reducer != "REDUCE_NONE":
        series = data.reduce(series, reducer, list(aggregation.group_by_fields))
        if reducer == "REDUCE_MEAN":
            value_type = "DOUBLE"
        if reducer == "REDUCE_COUNT":
            value_type = "INT64"
    return series, kind, value_type


def _timestamp(seconds: float) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(dt.datetime.fromtimestamp(seconds, dt.UTC))
    return stamp


def _to_proto(item: data.Series, kind: str, value_type: str, headers_only: bool) -> monitoring_v3.TimeSeries:
    points = []
    if not headers_only:
        for point_end, value in item.points:
            typed = {"double_value": float(value)} if value_type == "DOUBLE" else {"int64_value": round(value)}
            start = point_end if kind == "GAUGE" else point_end - item.start_offset
            interval = monitoring_v3.TimeInterval(start_time=_timestamp(start), end_time=_timestamp(point_end))
            points.append(monitoring_v3.Point(interval=interval, value=monitoring_v3.TypedValue(**typed)))
    return monitoring_v3.TimeSeries(
        metric={"type": data.REQUEST_COUNT, "labels": item.metric_labels},
        resource={"type": data.RESOURCE_TYPE, "labels": item.resource_labels},
        metric_kind=kind,
        value_type=value_type,
        points=points,
        unit="1",
    )


def _serialize(response: Any) -> bytes:
    if isinstance(response, bytes):
        return response
    serialized: bytes = monitoring_v3.ListTimeSeriesResponse.serialize(response)
    return serialized
