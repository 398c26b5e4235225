"""An OTLP/HTTP receiver for the tests: decodes the protobuf exports it is sent."""

from __future__ import annotations

import gzip
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


@dataclass
class ReceivedSpan:
    """A span as exported, with ids in hex."""

    name: str
    kind: int
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, Any]
    links: list[tuple[str, str]]
    status_code: int
    service: str


@dataclass
class ReceivedPoint:
    """One data point of a histogram, as exported."""

    metric: str
    unit: str
    attributes: dict[str, Any]
    count: int
    service: str


@dataclass
class Received:
    spans: list[ReceivedSpan] = field(default_factory=list)
    points: list[ReceivedPoint] = field(default_factory=list)


def _value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    return None if kind is None else getattr(value, kind)


def _attributes(pairs: Any) -> dict[str, Any]:
    return {pair.key: _value(pair.value) for pair in pairs}


def _service(resource_attributes: list[KeyValue]) -> str:
    return str(_attributes(resource_attributes).get("service.name", ""))


def decode_traces(body: bytes) -> list[ReceivedSpan]:
    request = ExportTraceServiceRequest.FromString(body)
    spans = []
    for resource_spans in request.resource_spans:
        service = _service(list(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    ReceivedSpan(
                        name=span.name,
                        kind=span.kind,
                        trace_id=span.trace_id.hex(),
                        span_id=span.span_id.hex(),
                        parent_span_id=span.parent_span_id.hex(),
                        attributes=_attributes(span.attributes),
                        links=[(link.trace_id.hex(), link.span_id.hex()) for link in span.links],
                        status_code=span.status.code,
                        service=service,
                    )
                )
    return spans


def decode_metrics(body: bytes) -> list[ReceivedPoint]:
    request = ExportMetricsServiceRequest.FromString(body)
    points = []
    for resource_metrics in request.resource_metrics:
        service = _service(list(resource_metrics.resource.attributes))
        for scope_metrics in resource_metrics.scope_metrics:
            for metric in scope_metrics.metrics:
                if metric.WhichOneof("data") != "histogram":
                    continue
                for point in metric.histogram.data_points:
                    points.append(
                        ReceivedPoint(
                            metric=metric.name,
                            unit=metric.unit,
                            attributes=_attributes(point.attributes),
                            count=point.count,
                            service=service,
                        )
                    )
    return points


class OtlpReceiver:
    """Accepts ``/v1/traces`` and ``/v1/metrics`` on 127.0.0.1 and a free port."""

    def __init__(self) -> None:
        self.received = Received()
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                if self.headers.get("content-encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path == "/v1/traces":
                    reply = ExportTraceServiceResponse().SerializeToString()
                    with receiver.changed:
                        receiver.received.spans += decode_traces(body)
                        receiver.changed.notify_all()
                elif self.path == "/v1/metrics":
                    reply = ExportMetricsServiceResponse().SerializeToString()
                    with receiver.changed:
                        receiver.received.points += decode_metrics(body)
                        receiver.changed.notify_all()
                else:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("content-type", "application/x-protobuf")
                self.send_header("content-length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> OtlpReceiver:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)

    def spans(
        self, match: Callable[[ReceivedSpan], bool], count: int = 1, timeout: float = 10.0
    ) -> list[ReceivedSpan]:
        """The received spans that ``match``, once there are ``count`` of them."""
        return self._wait(lambda: [s for s in self.received.spans if match(s)], count, timeout)

    def points(
        self, match: Callable[[ReceivedPoint], bool], count: int = 1, timeout: float = 10.0
    ) -> list[ReceivedPoint]:
        """The received histogram points that ``match``, once there are ``count``."""
        return self._wait(lambda: [p for p in self.received.points if match(p)], count, timeout)

    def _wait(self, found: Callable[[], list[Any]], count: int, timeout: float) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self.changed:
            while len(items := found()) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(items)} of {count} expected items after {timeout} s"
                    )
                self.changed.wait(left)
            return items
