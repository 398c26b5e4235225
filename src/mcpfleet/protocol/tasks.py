"""The tasks extension of 2026-07-28 (``io.modelcontextprotocol/tasks``) on the wire: its
names, the task record's shape, and what each of its results carries. No I/O.

A ``tools/call`` from a client that declares the extension may be answered with a task
(``resultType: "task"``); the client then polls ``tasks/get``, answers questions with
``tasks/update`` and stops the work with ``tasks/cancel``. A task's record is a plain dict,
stored as JSON in the fleet state (``mcpfleet.server.tasks``):

    id, principal, tool, status, created, updated (epoch seconds), ttlMs, pollIntervalMs,
    statusMessage?, inputRequests? (the questions still open), answers (every answer given
    by ``tasks/update``), issued (every question key ever asked), result?, error?,
    lease (epoch seconds: the running task's hold on it, renewed while it runs)
"""

from __future__ import annotations

import time
from typing import Any

from mcpfleet.errors import MissingClientCapability

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
TASK_METHODS = frozenset(("tasks/get", "tasks/update", "tasks/cancel"))
# A task's status changes, to the listen streams that asked for its id (``taskIds``).
TASK_STATUS = "notifications/tasks"
TASK_OWNER = "_owner"  # in the fleet's copy of that notification only: whose task it is

WORKING = "working"
INPUT_REQUIRED = "input_required"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
TERMINAL = frozenset((COMPLETED, FAILED, CANCELLED))


def declares_tasks(client_capabilities: dict[str, Any]) -> bool:
    """Whether the request's client capabilities declare the tasks extension."""
    extensions = client_capabilities.get("extensions")
    return isinstance(extensions, dict) and isinstance(extensions.get(TASKS_EXTENSION), dict)


def tasks_not_declared() -> MissingClientCapability:
    """The error for a task method, or a task-only tool, without the extension declared."""
    return MissingClientCapability({"extensions": {TASKS_EXTENSION: {}}})


def iso(seconds: float) -> str:
    """An epoch time as ISO 8601 in UTC, to the millisecond."""
    whole = int(seconds)
    millis = int((seconds - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def new_record(
    task_id: str,
    *,
    principal: str | None,
    tool: str,
    now: float,
    ttl_ms: int,
    poll_interval_ms: int,
    lease: float,
) -> dict[str, Any]:
    return {
        "id": task_id,
        "principal": principal,
        "tool": tool,
        "status": WORKING,
        "created": now,
        "updated": now,
        "ttlMs": ttl_ms,
        "pollIntervalMs": poll_interval_ms,
        "answers": {},
        "issued": [],
        "lease": lease,
    }


def task_fields(record: dict[str, Any]) -> dict[str, Any]:
    """The fields every task result carries."""
    fields: dict[str, Any] = {
        "taskId": record["id"],
        "status": record["status"],
        "createdAt": iso(record["created"]),
        "lastUpdatedAt": iso(record["updated"]),
        "ttlMs": record["ttlMs"],
        "pollIntervalMs": record["pollIntervalMs"],
    }
    message = record.get("statusMessage")
    if message is not None:
        fields["statusMessage"] = message
    return fields


def create_result(record: dict[str, Any]) -> dict[str, Any]:
    """A ``CreateTaskResult``: the task's fields and nothing of its outcome."""
    return {"resultType": "task", **task_fields(record)}


def detailed(record: dict[str, Any]) -> dict[str, Any]:
    """What ``tasks/get`` answers: the task's fields, and by its status its open questions,
    its tool result, or its error."""
    fields = task_fields(record)
    status = record["status"]
    if status == INPUT_REQUIRED:
        fields["inputRequests"] = record.get("inputRequests") or {}
    elif status == COMPLETED:
        fields["result"] = record.get("result")
    elif status == FAILED:
        fields["error"] = record.get("error") or {"code": -32603, "message": "Internal error"}
    return fields


def expires_at(record: dict[str, Any]) -> float:
    """When the record may be forgotten: its TTL counted from its creation."""
    return float(record["created"]) + float(record["ttlMs"]) / 1000


def status_notification(record: dict[str, Any]) -> dict[str, Any]:
    """The params of ``notifications/tasks`` for a record, and (for the server's own
    routing, removed before sending) its owner."""
    return {**detailed(record), TASK_OWNER: record.get("principal")}
