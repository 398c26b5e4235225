"""Spans and the duration histogram for MCP requests, by the semantic conventions for MCP.

Transport-free: ``Telemetry.begin`` takes a decoded JSON-RPC message (and the HTTP
headers, when there are any) and returns an ``Operation``; ``Operation.end`` takes the
error type read from the response. The Streamable HTTP wrapper (``otel_asgi``) and the
stdio endpoint both drive it.

A span is named ``{mcp.method.name} {target}`` (the tool or prompt name) and has kind
SERVER. Its parent is the W3C trace context in the request's ``params._meta``
(``traceparent``, ``tracestate``), else the HTTP ``traceparent`` header; when both are
there and differ, the header's context becomes a link. An MRTR retry carries its client's
``_meta`` again, so each pass is a child of the same client span, on whichever task.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from contextvars import Token
from typing import Any

from opentelemetry import context, trace
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.metrics import Histogram
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Link, Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from mcpfleet.observe.otel import OtelSettings

SCOPE = "mcpfleet"
DURATION = "mcp.server.operation.duration"
# The conventions' advice for MCP durations, in seconds.
DURATION_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300)
# Methods whose span name carries a target, and the attribute that names it.
TARGETS = {"tools/call": "gen_ai.tool.name", "prompts/get": "gen_ai.prompt.name"}
# The attributes the duration histogram keeps (a bounded set: no ids).
MEASURED = (
    "mcp.method.name",
    "gen_ai.tool.name",
    "gen_ai.prompt.name",
    "mcp.protocol.version",
    "error.type",
    "network.transport",
)
META_VERSION = "io.modelcontextprotocol/protocolVersion"

_w3c = TraceContextTextMapPropagator()


class Telemetry:
    """A tracer and a histogram exporting over OTLP/HTTP, for one served app."""

    def __init__(
        self, settings: OtelSettings, service: str, env: Mapping[str, str] | None = None
    ) -> None:
        # OTEL_SERVICE_NAME, when set, names the service (the SDK reads it from the process).
        named = (
            {}
            if (os.environ if env is None else env).get("OTEL_SERVICE_NAME")
            else {"service.name": service}
        )
        resource = Resource.create(named)
        self.tracer_provider = TracerProvider(resource=resource)
        self.tracer_provider.add_span_processor(
            BatchSpanProcessor(
                OTLPSpanExporter(endpoint=settings.traces_endpoint),
                schedule_delay_millis=settings.span_delay_ms,
            )
        )
        readers = []
        if settings.metrics_endpoint is not None:
            exporter = OTLPMetricExporter(endpoint=settings.metrics_endpoint)
            readers.append(
                PeriodicExportingMetricReader(
                    exporter, export_interval_millis=settings.metric_interval_ms
                )
            )
        self.meter_provider = MeterProvider(resource=resource, metric_readers=readers)
        self.tracer = self.tracer_provider.get_tracer(SCOPE)
        self.duration: Histogram = self.meter_provider.get_meter(SCOPE).create_histogram(
            DURATION,
            unit="s",
            description="MCP request or notification duration as observed on the receiver",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS,
        )
        _make_global(self.tracer_provider)

    def begin(
        self,
        message: Mapping[str, Any],
        headers: Mapping[str, str] | None = None,
        *,
        transport: str = "tcp",
    ) -> Operation:
        """Start the span of one JSON-RPC request or notification (``method`` a string)."""
        headers = headers or {}
        params = message.get("params")
        params = params if isinstance(params, dict) else {}
        meta = params.get("_meta")
        meta = meta if isinstance(meta, dict) else {}
        attributes = request_attributes(message, params, meta, headers)
        attributes["network.transport"] = transport
        parent, links = parent_of(meta, headers)
        method = attributes["mcp.method.name"]
        target_key = TARGETS.get(method)
        target = attributes.get(target_key) if target_key else None
        span = self.tracer.start_span(
            f"{method} {target}" if target else method,
            context=parent,
            kind=SpanKind.SERVER,
            attributes=attributes,
            links=links,
        )
        return Operation(self, span, attributes)

    def shutdown(self) -> None:
        """Send what is pending and stop the exporters (blocking: run it off the loop)."""
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()


class Operation:
    """One MCP request in progress: its span, and the start of its duration."""

    __slots__ = ("_started", "_telemetry", "attributes", "span")

    def __init__(self, telemetry: Telemetry, span: Span, attributes: dict[str, Any]) -> None:
        self._telemetry = telemetry
        self.span = span
        self.attributes = attributes
        self._started = time.perf_counter()

    def activate(self) -> Token[context.Context]:
        """Make this span the current one (for logs and the handlers' own spans)."""
        return context.attach(trace.set_span_in_context(self.span))

    @staticmethod
    def deactivate(token: Token[context.Context]) -> None:
        context.detach(token)

    def finish(self, response: Mapping[str, Any] | None, session_id: str | None = None) -> None:
        """End with the outcome a JSON-RPC response tells (None: the request got none)."""
        error_type, code = response_error(response)
        self.end(error_type, rpc_code=code, session_id=session_id)

    def end(
        self,
        error_type: str | None,
        *,
        rpc_code: int | None = None,
        session_id: str | None = None,
    ) -> None:
        """End the span with the outcome, and record the duration."""
        elapsed = time.perf_counter() - self._started
        span = self.span
        if session_id is not None and "mcp.session.id" not in self.attributes:
            span.set_attribute("mcp.session.id", session_id)
        if rpc_code is not None:
            span.set_attribute("rpc.response.status_code", str(rpc_code))
        measured = {k: v for k in MEASURED if (v := self.attributes.get(k)) is not None}
        if error_type is not None:
            span.set_attribute("error.type", error_type)
            span.set_status(Status(StatusCode.ERROR))
            measured["error.type"] = error_type
        span.end()
        self._telemetry.duration.record(elapsed, measured)


def request_attributes(
    message: Mapping[str, Any],
    params: Mapping[str, Any],
    meta: Mapping[str, Any],
    headers: Mapping[str, str],
) -> dict[str, Any]:
    """The span attributes a request carries, before its response."""
    method = message["method"]
    attributes: dict[str, Any] = {"mcp.method.name": method}
    if "id" in message and message["id"] is not None:
        attributes["jsonrpc.request.id"] = str(message["id"])
    name = params.get("name")
    if method == "tools/call" and isinstance(name, str):
        attributes["gen_ai.tool.name"] = name
        attributes["gen_ai.operation.name"] = "execute_tool"
    elif method == "prompts/get" and isinstance(name, str):
        attributes["gen_ai.prompt.name"] = name
    elif method == "resources/read" and isinstance(params.get("uri"), str):
        attributes["mcp.resource.uri"] = params["uri"]
    version = meta.get(META_VERSION) or headers.get("mcp-protocol-version")
    if version is None and method == "initialize":
        version = params.get("protocolVersion")
    if isinstance(version, str):
        attributes["mcp.protocol.version"] = version.strip()
    session_id = headers.get("mcp-session-id")
    if session_id:
        attributes["mcp.session.id"] = session_id
    return attributes


def parent_of(
    meta: Mapping[str, Any], headers: Mapping[str, str]
) -> tuple[context.Context | None, list[Link]]:
    """The parent context (from ``_meta``, else the header) and the links to add."""
    from_meta = _extract(meta)
    from_header = _extract(headers)
    if from_meta is None:
        return (from_header[0] if from_header else None), []
    if from_header is None or from_header[1] == from_meta[1]:
        return from_meta[0], []
    return from_meta[0], [Link(from_header[1])]


def _extract(
    carrier: Mapping[str, Any],
) -> tuple[context.Context, trace.SpanContext] | None:
    parent = carrier.get("traceparent")
    if not isinstance(parent, str):
        return None
    fields = {"traceparent": parent}
    state = carrier.get("tracestate")
    if isinstance(state, str):
        fields["tracestate"] = state
    found = _w3c.extract(fields)
    span_context = trace.get_current_span(found).get_span_context()
    if not span_context.is_valid:
        return None
    return found, span_context


def response_error(response: Any) -> tuple[str | None, int | None]:
    """``error.type`` of a JSON-RPC response (the error code, or ``tool_error`` for a tool
    result marked ``isError``) and the JSON-RPC error code, if any."""
    if not isinstance(response, dict):
        return None, None
    error = response.get("error")
    if isinstance(error, dict) and isinstance(error.get("code"), int):
        return str(error["code"]), error["code"]
    result = response.get("result")
    if isinstance(result, dict) and result.get("isError") is True:
        return "tool_error", None
    return None, None


def current_ids() -> tuple[str, str] | None:
    """The current span's trace id and span id in hex, or None outside any span."""
    span_context = trace.get_current_span().get_span_context()
    if not span_context.is_valid:
        return None
    return format(span_context.trace_id, "032x"), format(span_context.span_id, "016x")


def _make_global(provider: TracerProvider) -> None:
    """Our provider becomes the process's, so that spans a handler starts with
    ``opentelemetry.trace.get_tracer`` are exported too, unless the process set one."""
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        trace.set_tracer_provider(provider)
