"""Metrics: CloudWatch Embedded Metric Format lines on stdout, and Prometheus text.

Counting is a few integer increments on the request path; the formatting
happens once an interval (EMF) or per scrape (Prometheus). EMF lines carry the
counts of their interval and are reset after each emission; the Prometheus
counters only grow, as Prometheus expects.

    {"_aws": {"Timestamp": ..., "CloudWatchMetrics": [{"Namespace": "MCPFleet",
      "Dimensions": [["Service"]], "Metrics": [{"Name": "ToolCalls", "Unit": "Count"}]}]},
     "Service": "docs", "ToolCalls": 12}

Every task reports its own figures under the one ``Service`` dimension, so CloudWatch
holds one value per task and period: the ``Average`` of a figure is its value per
task, the ``Sum`` the fleet's. ``OpenStreams`` (GET and listen streams held open by
this task) and ``InFlightRequests`` are this task's own, fit to scale on per task;
``ActiveSessions`` is the fleet's count as every task sees it (its ``Maximum`` is the
fleet's sessions). ``StateUnreachable`` is 1 when this task found its fleet state
unreachable during the interval, else 0: alarm on its ``Maximum``. In Prometheus text
the same figures are ``mcpfleet_open_streams`` and ``mcpfleet_state_unreachable``.
"""

from __future__ import annotations

import time
from typing import Any

import orjson

from mcpfleet.server.threads import TOOL_THREADS, ToolThreads

MAX_SAMPLES = 100  # duration values kept per tool and interval (EMF allows 100 per metric)
STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


class _Tool:
    __slots__ = ("calls", "durations", "errors")

    def __init__(self) -> None:
        self.calls = 0
        self.errors = 0
        self.durations: list[float] = []


class Metrics:
    """The counters of one process. The request path touches only this interval's
    counters; they are added to the running totals when the interval is emitted."""

    def __init__(
        self,
        namespace: str = "MCPFleet",
        service: str = "mcpfleet",
        threads: ToolThreads | None = None,
    ) -> None:
        self.threads = threads or TOOL_THREADS
        self.namespace = namespace
        self.service = service
        self.in_flight = 0
        self._responses = dict.fromkeys(STATUS_CLASSES, 0)
        self._tools: dict[str, _Tool] = {}
        self._total_responses = dict.fromkeys(STATUS_CLASSES, 0)
        self._total_calls: dict[str, int] = {}
        self._total_errors: dict[str, int] = {}

    def response(self, status: int) -> None:
        self._responses[STATUS_CLASSES[status // 100 - 1]] += 1

    def tool_call(self, tool: str, duration_ms: float, error: bool) -> None:
        entry = self._tools.get(tool)
        if entry is None:
            entry = self._tools[tool] = _Tool()
        entry.calls += 1
        if error:
            entry.errors += 1
        if len(entry.durations) < MAX_SAMPLES:
            entry.durations.append(round(duration_ms, 3))

    def _close_interval(self) -> tuple[dict[str, int], dict[str, _Tool]]:
        responses, tools = self._responses, self._tools
        self._responses, self._tools = dict.fromkeys(STATUS_CLASSES, 0), {}
        for status, count in responses.items():
            self._total_responses[status] += count
        for name, entry in tools.items():
            self._total_calls[name] = self._total_calls.get(name, 0) + entry.calls
            self._total_errors[name] = self._total_errors.get(name, 0) + entry.errors
        return responses, tools

    # -- CloudWatch EMF ------------------------------------------------------

    def emf_lines(
        self, active_sessions: int | None, open_streams: int, *, state_unreachable: bool = False
    ) -> list[bytes]:
        """This interval's metrics as EMF log lines; the interval's counts start over."""
        responses, tools = self._close_interval()
        now = int(time.time() * 1000)
        service: dict[str, Any] = {
            "OpenStreams": open_streams,
            "InFlightRequests": self.in_flight,
            "ToolCalls": sum(entry.calls for entry in tools.values()),
            "ToolErrors": sum(entry.errors for entry in tools.values()),
            "StateUnreachable": int(state_unreachable),
        }
        if active_sessions is not None:
            service["ActiveSessions"] = active_sessions
        service["ToolThreadsWaiting"] = self.threads.waiting
        counts = dict.fromkeys(service, "Count")
        waits = self.threads.take_waits()
        if waits:  # calls that waited for a tool thread this interval, each wait in ms
            service["ToolThreadWait"] = waits
            counts["ToolThreadWait"] = "Milliseconds"
        lines = [self._emf(now, ["Service"], service, counts, {})]
        for status, count in responses.items():
            if count:
                lines.append(
                    self._emf(
                        now,
                        ["Service", "StatusClass"],
                        {"Requests": count},
                        {"Requests": "Count"},
                        {"StatusClass": status},
                    )
                )
        units = {"ToolCalls": "Count", "ToolErrors": "Count", "ToolCallDuration": "Milliseconds"}
        for name, entry in sorted(tools.items()):
            values = {
                "ToolCalls": entry.calls,
                "ToolErrors": entry.errors,
                "ToolCallDuration": entry.durations,
            }
            lines.append(self._emf(now, ["Service", "Tool"], values, units, {"Tool": name}))
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

    def prometheus(
        self, active_sessions: int | None, open_streams: int, *, state_unreachable: bool = False
    ) -> str:
        """The text exposition format (version 0.0.4): running totals."""
        responses = {k: v + self._responses[k] for k, v in self._total_responses.items()}
        calls = dict(self._total_calls)
        errors = dict(self._total_errors)
        for name, entry in self._tools.items():
            calls[name] = calls.get(name, 0) + entry.calls
            errors[name] = errors.get(name, 0) + entry.errors
        out = [
            "# TYPE mcpfleet_in_flight_requests gauge",
            f"mcpfleet_in_flight_requests {self.in_flight}",
            "# TYPE mcpfleet_open_streams gauge",
            f"mcpfleet_open_streams {open_streams}",
            "# TYPE mcpfleet_state_unreachable gauge",
            f"mcpfleet_state_unreachable {int(state_unreachable)}",
        ]
        if active_sessions is not None:
            out += [
                "# TYPE mcpfleet_active_sessions gauge",
                f"mcpfleet_active_sessions {active_sessions}",
            ]
        threads = self.threads
        out += [
            "# TYPE mcpfleet_tool_threads gauge",
            f"mcpfleet_tool_threads {threads.size}",
            "# TYPE mcpfleet_tool_threads_waiting gauge",
            f"mcpfleet_tool_threads_waiting {threads.waiting}",
            "# TYPE mcpfleet_tool_thread_waits_total counter",
            f"mcpfleet_tool_thread_waits_total {threads.waited}",
            "# TYPE mcpfleet_tool_thread_wait_seconds_total counter",
            f"mcpfleet_tool_thread_wait_seconds_total {threads.wait_seconds:.6f}",
        ]
        out.append("# TYPE mcpfleet_requests_total counter")
        out += [
            f'mcpfleet_requests_total{{status="{status}"}} {count}'
            for status, count in responses.items()
            if count
        ]
        out.append("# TYPE mcpfleet_tool_calls_total counter")
        out += [
            f'mcpfleet_tool_calls_total{{tool="{_label(name)}"}} {count}'
            for name, count in sorted(calls.items())
        ]
        out.append("# TYPE mcpfleet_tool_errors_total counter")
        out += [
            f'mcpfleet_tool_errors_total{{tool="{_label(name)}"}} {count}'
            for name, count in sorted(errors.items())
            if count
        ]
        return "\n".join(out) + "\n"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


# The process's metrics: one set per process, as a metrics agent would see it.
METRICS = Metrics()
