"""OpenTelemetry for an app, only when asked for: the switch, and the one call that wraps.

Tracing is on when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``)
is set, unless ``OTEL_SDK_DISABLED=true`` or ``OTEL_TRACES_EXPORTER=none``: the variables
every OpenTelemetry SDK reads, so nothing of ours needs setting. Metrics go to
``OTEL_EXPORTER_OTLP_METRICS_ENDPOINT``, else to ``{OTEL_EXPORTER_OTLP_ENDPOINT}/v1/metrics``,
unless ``OTEL_METRICS_EXPORTER=none``.

When tracing is off, ``wrap`` returns the app itself and this module imports nothing from
OpenTelemetry: the request path is the app's own. When it is on and the ``otel`` extra is
not installed, ``wrap`` raises ``ConfigError`` at start instead of serving untraced.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcpfleet.errors import ConfigError

if TYPE_CHECKING:
    from mcpfleet.config import Config
    from mcpfleet.observe.otel_asgi import TracingApp
    from mcpfleet.observe.otel_spans import Telemetry
    from mcpfleet.transport.asgi import McpApp

INSTALL_HINT = "pip install 'mcpfleet[otel]'"

# The current span's (trace id, span id) in hex, set once tracing is on.
_current_ids: Callable[[], tuple[str, str] | None] | None = None


@dataclass(frozen=True, slots=True)
class OtelSettings:
    """Where spans and metrics go, and how often they are sent."""

    traces_endpoint: str
    metrics_endpoint: str | None
    span_delay_ms: float | None  # OTEL_BSP_SCHEDULE_DELAY; None: the SDK's default
    metric_interval_ms: float | None  # OTEL_METRIC_EXPORT_INTERVAL; None: the SDK's default

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> OtelSettings | None:
        """The settings, or None when tracing is off."""
        env = os.environ if env is None else env
        if env.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
            return None
        if env.get("OTEL_TRACES_EXPORTER", "").strip().lower() == "none":
            return None
        base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip().rstrip("/")
        traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
        if not base and not traces:
            return None
        metrics: str | None = env.get("OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "").strip()
        if not metrics:
            metrics = f"{base}/v1/metrics" if base else None
        if env.get("OTEL_METRICS_EXPORTER", "").strip().lower() == "none":
            metrics = None
        return cls(
            traces_endpoint=traces or f"{base}/v1/traces",
            metrics_endpoint=metrics,
            span_delay_ms=_millis(env, "OTEL_BSP_SCHEDULE_DELAY"),
            metric_interval_ms=_millis(env, "OTEL_METRIC_EXPORT_INTERVAL"),
        )


def _millis(env: Mapping[str, str], name: str) -> float | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}: expected milliseconds, got {raw!r}") from None
    if value <= 0:
        raise ConfigError(f"{name}: must be positive, got {raw!r}")
    return value


def wrap(app: McpApp, config: Config, env: Mapping[str, str] | None = None) -> McpApp | TracingApp:
    """The ASGI app to serve: ``app`` itself when tracing is off, else ``app`` with a span
    and a duration measurement per MCP request (``mcpfleet.observe.otel_asgi``).

    Call it in the process that serves: its exporters run on threads of that process."""
    telemetry = telemetry_for(config.metrics_service or app.server.name, env)
    if telemetry is None:
        return app
    from mcpfleet.observe.otel_asgi import TracingApp

    return TracingApp(app, telemetry, config.path, config.max_body_bytes)


def check_tracing(env: Mapping[str, str] | None = None) -> bool:
    """Whether tracing is on; ``ConfigError`` when it is asked for and cannot be had. For a
    command to call before it forks workers, so the error comes once, at start."""
    if OtelSettings.from_env(env) is None:
        return False
    _import_spans()
    return True


def _import_spans() -> Any:
    try:
        from mcpfleet.observe import otel_spans
    except ImportError as error:
        raise ConfigError(
            "OTEL_EXPORTER_OTLP_ENDPOINT: tracing is configured but OpenTelemetry is not "
            f"installed ({error.name}); install the otel extra: {INSTALL_HINT}"
        ) from None
    return otel_spans


def telemetry_for(service: str, env: Mapping[str, str] | None = None) -> Telemetry | None:
    """The spans and histogram of a transport (stdio's too), or None when tracing is off."""
    settings = OtelSettings.from_env(env)
    if settings is None:
        return None
    spans = _import_spans()
    global _current_ids
    _current_ids = spans.current_ids
    telemetry: Telemetry = spans.Telemetry(settings, service, env)
    return telemetry


class TraceIds(logging.Filter):
    """Adds ``traceId`` and ``spanId`` of the current span to each record, once tracing is
    on; before that it lets every record through untouched."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = _current_ids
        if ids is not None and record.__dict__.get("spanId") is None:
            found = ids()
            if found is not None:
                record.traceId, record.spanId = found
        return True
