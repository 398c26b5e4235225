"""One unit of a task scenario (``Scenario.kind == TASK``): ``tools/call`` answered with a
task (``resultType: "task"``), then ``tasks/get`` until the task is ``completed``.

The first ``tasks/get`` goes out as soon as the task is created, the next ones at once
while it is still ``working`` (a tool that returns at once finishes in a few event-loop
turns), at most ``MAX_GETS`` per cycle; the load generator's request timeout bounds the
whole cycle. Each ``tasks/get`` names the task in ``Mcp-Name``, as the 2026-07-28 wire
mirrors it. The completed task's ``result`` must pass the scenario's check; the gets of the
measured cycles are counted (``task_gets`` in the load generator's ``counts``).

A scenario tagged ``CALLER`` gives each connection a caller of its own (the ``X-Bench-Caller``
header, which ``bench.apps.mcpfleet_tasks`` takes for the principal): each caller's running
tasks are counted apart. Without it every call is anonymous, and all share one budget of
running tasks; a call the server answers in the request instead of as a task (as it does
when it could not count the task in) is counted (``in_request``), neither a cycle nor an
error.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import orjson

from bench.client import RequestTemplate, Response, ResponseError, final_message, read_response

if TYPE_CHECKING:
    from bench.loadgen import Load, Slot

MAX_GETS = 1000
CALLER = "caller"
CALLER_HEADER = "X-Bench-Caller"
WORKING = frozenset({"working"})


def get_request(
    load: Load, task_id: str, request_id: int, meta: dict[str, Any], extra: list[tuple[str, str]]
) -> bytes:
    """The wire bytes of ``tasks/get`` for ``task_id``; ``extra`` headers besides the load's."""
    body = orjson.dumps(
        {
            "jsonrpc": "2.0",
            "id": request_id,
            "method": "tasks/get",
            "params": {"taskId": task_id, "_meta": meta},
        }
    )
    headers = [
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
        ("MCP-Protocol-Version", load.scenario.protocol_version),
        ("Mcp-Method", "tasks/get"),
        ("Mcp-Name", task_id),
        *extra,
    ]
    lines = [f"POST {load.path} HTTP/1.1", f"Host: {load.host}:{load.port}"]
    lines += [f"{name}: {value}" for name, value in headers]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _result(response: Response, request_id: int) -> dict[str, Any]:
    message = final_message(response, request_id)
    if not isinstance(message, dict) or message.get("id") != request_id:
        raise ResponseError("id_mismatch", repr(message)[:200])
    if "error" in message:
        raise ResponseError("jsonrpc_error", repr(message["error"])[:200])
    result = message.get("result")
    if not isinstance(result, dict):
        raise ResponseError("bad_result", repr(result)[:200])
    return result


def created_task(load: Load, response: Response, request_id: int) -> str | None:
    """The id of the task a ``tools/call`` answer created; ``None`` for an answer in the
    request (checked)."""
    result = _result(response, request_id)
    task_id = result.get("taskId")
    if result.get("resultType") == "complete" and task_id is None:
        problem = load.scenario.check(result)
        if problem is not None:
            raise ResponseError("bad_result", f"{problem}: {repr(result)[:200]}")
        return None
    if result.get("resultType") != "task" or not isinstance(task_id, str):
        raise ResponseError("not_a_task", repr(result)[:200])
    return task_id


def finished(load: Load, response: Response, request_id: int) -> bool:
    """Whether ``tasks/get`` says completed (its result checked); raise on any other end."""
    task = _result(response, request_id)
    status = task.get("status")
    if status in WORKING:
        return False
    if status != "completed":
        raise ResponseError(f"task_{status}", repr(task)[:200])
    problem = load.scenario.check(task.get("result"))
    if problem is not None:
        raise ResponseError("bad_result", f"{problem}: {repr(task.get('result'))[:200]}")
    return True


async def task_cycles(load: Load, slot: Slot, reader: asyncio.StreamReader) -> None:
    """Cycles back to back on one open connection until told to stop."""
    writer = slot.writer
    assert writer is not None
    scenario, clock = load.scenario, time.perf_counter
    meta = scenario.full_params()["_meta"]
    extra = list(load.headers)
    if CALLER in scenario.tags:
        extra.append((CALLER_HEADER, f"caller-{next(load.ids)}"))
    call = RequestTemplate(scenario, load.host, load.port, load.path, extra)
    while not load.stopping:
        started = slot.started = clock()
        call_id = next(load.ids)
        writer.write(call.build(call_id))
        response = await read_response(reader)
        gets = 0
        try:
            task_id = created_task(load, response, call_id)
            done = task_id is None
            if done and load.measuring:
                load.counts["in_request"] = load.counts.get("in_request", 0) + 1
            while not done:
                assert task_id is not None
                if gets >= MAX_GETS or response.close:
                    raise ResponseError("task_unfinished", f"working after {gets} tasks/get")
                get_id = next(load.ids)
                writer.write(get_request(load, task_id, get_id, meta, extra))
                response = await read_response(reader)
                gets += 1
                done = finished(load, response, get_id)
        except ResponseError as error:
            load.fail(error.kind, error.detail)
        else:
            if task_id is not None:
                if load.measuring:
                    load.counts["task_gets"] = load.counts.get("task_gets", 0) + gets
                load.ok(clock() - started)
        slot.started = 0.0
        if response.close:
            return
