"""Metrics: CloudWatch Embedded Metric Format lines on stdout, and Prometheus text.

Counting is a few integer increments on the request path; the formatting
happens once an interval (EMF) or per scrape (Prometheus). EMF lines carry the
counts of their interval and are reset after each emission; the Prometheus
counters only grow, as Prometheus expects.

    {"_aws": {"Timestamp": ..., "CloudWatchMetrics": [{"Namespace": "MCPFleet",
      "Dimensions": [["Service"]], "Metrics": [{"Name": "ToolCalls", "Unit": "Count"}]}]},
     "Service": "docs", "ToolCalls": 12}
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import orjson

MAX_SAMPLES = 100  # duration values kept per tool and interval (EMF allows 100 per metric)


@dataclass(slots=True)
class _Interval:
    responses: dict[str, int] = field(default_factory=dict)
    tool_calls: dict[str, int] = field(default_factory=dict)
    tool_errors: dict[str, int] = field(default_factory=dict)
    durations: dict[str, list[float]] = field(default_factory=dict)


class Metrics:
    """The counters of one process."""

    def __init__(self, namespace: str = "MCPFleet", service: str = "mcpfleet") -> None:
        self.namespace = namespace
        self.service = service
        self.in_flight = 0
        self._interval = _Interval()
        self._totals = _Interval()

    def response(self, status: int) -> None:
        key = f"{status // 100}xx"
        for counts in (self._interval.responses, self._totals.responses):
            counts[key] = counts.get(key, 0) + 1

    def tool_call(self, tool: str, duration_ms: float, error: bool) -> None:
        for period in (self._interval, self._totals):
            period.tool_calls[tool] = period.tool_calls.get(tool, 0) + 1
            if error:
                period.tool_errors[tool] = period.tool_errors.get(tool, 0) + 1
        samples = self._interval.durations.setdefault(tool, [])
        if len(samples) < MAX_SAMPLES:
            samples.append(round(duration_ms, 3))

    # -- CloudWatch EMF ------------------------------------------------------

    def emf_lines(self, active_sessions: int | None, open_streams: int) -> list[bytes]:
        """This interval's metrics as EMF log lines; the interval's counts start over."""
        interval, self._interval = self._interval, _Interval()
        now = int(time.time() * 1000)
        service: dict[str, Any] = {
            "OpenStreams": open_streams,
            "InFlightRequests": self.in_flight,
            "ToolCalls": sum(interval.tool_calls.values()),
            "ToolErrors": sum(interval.tool_errors.values()),
        }
        if active_sessions is not None:
            service["ActiveSessions"] = active_sessions
        units = {
            "ToolCalls": "Count",
            "ToolErrors": "Count",
            "OpenStreams": "Count",
            "InFlightRequests": "Count",
            "ActiveSessions": "Count",
        }
        lines = [self._emf(now, ["Service"], service, units, {})]
        for status, count in sorted(interval.responses.items()):
            lines.append(
                self._emf(
                    now,
                    ["Service", "StatusClass"],
                    {"Requests": count},
                    {"Requests": "Count"},
                    {"StatusClass": status},
                )
            )
        for tool, count in sorted(interval.tool_calls.items()):
            values = {
                "ToolCalls": count,
                "ToolErrors": interval.tool_errors.get(tool, 0),
                "ToolCallDuration": interval.durations.get(tool, []),
            }
            units = {
                "ToolCalls": "Count",
                "ToolErrors": "Count",
                "ToolCallDuration": "Milliseconds",
            }
            lines.append(self._emf(now, ["Service", "Tool"], values, units, {"Tool": tool}))
        return lines

    def _emf(
        self,
        now: int,
        dimensions: list[str],
        values: dict[str, Any],
        units: dict[str, str],
        extra: dict[str, str],
    ) -> bytes:
        directive = {
            "Namespace": self.namespace,
            "Dimensions": [dimensions],
            "Metrics": [{"Name": name, "Unit": units[name]} for name in values],
        }
        line = {
            "_aws": {"Timestamp": now, "CloudWatchMetrics": [directive]},
            "Service": self.service,
            **extra,
            **values,
        }
        return orjson.dumps(line) + b"\n"

    # -- Prometheus ------------------------------------------------------------

    def prometheus(self, active_sessions: int | None, open_streams: int) -> str:
        """The text exposition format (version 0.0.4)."""
        totals = self._totals
        out = [
            "# TYPE mcpfleet_in_flight_requests gauge",
            f"mcpfleet_in_flight_requests {self.in_flight}",
            "# TYPE mcpfleet_open_streams gauge",
            f"mcpfleet_open_streams {open_streams}",
        ]
        if active_sessions is not None:
            out += [
                "# TYPE mcpfleet_active_sessions gauge",
                f"mcpfleet_active_sessions {active_sessions}",
            ]
        out.append("# TYPE mcpfleet_requests_total counter")
        out += [
            f'mcpfleet_requests_total{{status="{status}"}} {count}'
            for status, count in sorted(totals.responses.items())
        ]
        out.append("# TYPE mcpfleet_tool_calls_total counter")
        out += [
            f'mcpfleet_tool_calls_total{{tool="{_label(tool)}"}} {count}'
            for tool, count in sorted(totals.tool_calls.items())
        ]
        out.append("# TYPE mcpfleet_tool_errors_total counter")
        out += [
            f'mcpfleet_tool_errors_total{{tool="{_label(tool)}"}} {count}'
            for tool, count in sorted(totals.tool_errors.items())
        ]
        return "\n".join(out) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# The process's metrics: one set per process, as a metrics agent would see it.
METRICS = Metrics()
