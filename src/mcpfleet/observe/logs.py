"""JSON log lines on stdout: one object per event, for CloudWatch Logs to filter.

Every line has ``time``, ``level``, ``logger`` and ``event`` (``session_opened``,
``session_closed``, ``drain_started``, ``tool_call``, ... or ``log`` for plain
messages), plus the fields a call site passes in ``extra`` (``sessionId``,
``requestId``, ``tool``, ``protocolVersion``, ``durationMs``, ``success``,
``status``, ``traceId``, ``spanId``, ``threadWaitMs``). Argument values, tokens and
secrets are never logged by mcpfleet itself.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson

FIELDS = (
    "event",
    "sessionId",
    "requestId",
    "tool",
    "protocolVersion",
    "durationMs",
    "success",
    "status",
    "traceId",
    "spanId",
    "method",
    "threadWaitMs",
)


class JsonFormatter(logging.Formatter):
    """Formats a record as one compact JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": "log",
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def logging_config(level: str, *, calls: bool = False) -> dict[str, Any]:
    """A ``logging.config`` dictionary: ours and uvicorn's loggers, all in JSON on stdout."""
    level = {"notice": "INFO", "critical": "CRITICAL"}.get(level, level.upper())
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        level = "INFO"
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        # the current span's ids, once tracing is on (mcpfleet.observe.otel)
        "filters": {"trace_ids": {"()": "mcpfleet.observe.otel.TraceIds"}},
        "handlers": {
            "stdout": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": sys.stdout,
                "filters": ["trace_ids"],
            },
        },
        "loggers": {
            "mcpfleet": {"handlers": ["stdout"], "level": level, "propagate": False},
            "mcpfleet.calls": {
                "handlers": ["stdout"],
                "level": "INFO" if calls else "WARNING",
                "propagate": False,
            },
            "uvicorn": {"handlers": ["stdout"], "level": level, "propagate": False},
            "uvicorn.error": {"handlers": ["stdout"], "level": level, "propagate": False},
            "uvicorn.access": {"handlers": ["stdout"], "level": "WARNING", "propagate": False},
        },
    }
