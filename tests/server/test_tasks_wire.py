"""The tasks extension on the wire, flow by flow, with the task records in memory and in
Redis: what a declaring client gets, what every other client gets, questions answered by
``tasks/update``, cancels, the caller's cap on running tasks, the bound on stored results,
and bad input (each a clear JSON-RPC error, never a 500)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.conftest import STATE_KEYS, ServerProcess, serving
from tests.transport.test_streaming import ListenStream
from tests.wire import legacy_call, meta, open_session, post, request

TASKS_EXTENSION = "io.modelcontextprotocol/tasks"
TASKS = {"extensions": {TASKS_EXTENSION: {}}, "elicitation": {}}
CAP = 2
ANONYMOUS_CAP = 3
MAX_RESULT = 2048
ZERO_WAIT = {"name": "wait", "arguments": {"seconds": 0}}


@pytest.fixture(scope="module", params=["memory", "redis"])
def server(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    env = {
        "REQUEST_STATE_KEYS": STATE_KEYS,
        "TASK_MAX_RUNNING_PER_PRINCIPAL": str(CAP),
        "TASK_MAX_RESULT_BYTES": str(MAX_RESULT),
        "TASK_POLL_INTERVAL_MS": "250",
        "TASK_MAX_RUNNING_ANONYMOUS": str(ANONYMOUS_CAP),
    }
    if request.param == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    with serving("tests.apps.task_wire_app:app", env) as server:
        yield server


def send(
    server: ServerProcess,
    method: str,
    params: dict[str, Any],
    *,
    caps: dict[str, Any] | None = None,
    user: str = "alice",
    **headers: str | None,
) -> httpx.Response:
    message = request(
        method, {**params, "_meta": meta(capabilities=TASKS if caps is None else caps)}
    )
    return post(server.url, message, x_user=user, **headers)


def result(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()["result"]
    return body


def error(response: httpx.Response, status: int = 400) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()["error"]
    return body


def start(server: ServerProcess, tool: str, arguments: dict[str, Any], **kw: Any) -> str:
    created = result(send(server, "tools/call", {"name": tool, "arguments": arguments}, **kw))
    assert created["resultType"] == "task"
    for absent in ("result", "error", "inputRequests", "requestState", "content"):
        assert absent not in created
    assert created["status"] == "working"
    task_id: str = created["taskId"]
    return task_id


def get(server: ServerProcess, task_id: str, **kw: Any) -> dict[str, Any]:
    return result(send(server, "tasks/get", {"taskId": task_id}, **kw))


def poll(
    server: ServerProcess, task_id: str, done: Callable[[dict[str, Any]], bool], **kw: Any
) -> dict[str, Any]:
    """The task once ``done`` says so (for 10 s at most: then the test fails)."""
    deadline = time.monotonic() + 10
    while True:
        task = get(server, task_id, **kw)
        if done(task) or time.monotonic() > deadline:
            assert done(task), task
            return task
        time.sleep(0.05)


def wait_for(server: ServerProcess, task_id: str, statuses: set[str], **kw: Any) -> dict[str, Any]:
    return poll(server, task_id, lambda task: task["status"] in statuses, **kw)


def test_discovery_advertises_the_extension(server: ServerProcess) -> None:
    found = result(send(server, "server/discover", {}))
    assert found["capabilities"]["extensions"] == {TASKS_EXTENSION: {}}
    assert "tasks" not in found["capabilities"]


def test_a_task_runs_to_its_result(server: ServerProcess) -> None:
    """Created (found at once by tasks/get), working, then completed with the tool's
    result inline; the poll interval and TTL are the configured ones."""
    task_id = start(server, "wait", {"seconds": 0.3})
    first = get(server, task_id)
    assert first["resultType"] == "complete"
    assert first["taskId"] == task_id
    assert first["status"] == "working"
    assert first["pollIntervalMs"] == 250
    assert first["ttlMs"] == 3_600_000
    done = wait_for(server, task_id, {"completed"})
    assert done["result"]["content"][0]["text"] == "waited 0.3"
    assert done["lastUpdatedAt"] >= done["createdAt"]


def test_a_quick_call_is_answered_in_the_request(server: ServerProcess) -> None:
    """A task-optional tool that finishes within its policy's window is an ordinary answer,
    for a declaring client too."""
    answered = result(send(server, "tools/call", {"name": "quick", "arguments": {"text": "hi"}}))
    assert answered["resultType"] == "complete"
    assert answered["content"][0]["text"] == "hi"
    assert "taskId" not in answered


def test_without_the_extension(server: ServerProcess) -> None:
    """An optional task tool runs in the request; a required one, and the task methods,
    are refused with -32021 naming the extension."""
    answered = result(
        send(server, "tools/call", {"name": "sized", "arguments": {"size": 3}}, caps={})
    )
    assert answered["content"][0]["text"] == "xxx"
    assert "taskId" not in answered
    refused = error(send(server, "tools/call", ZERO_WAIT, caps={}))
    assert refused["code"] == -32021
    assert refused["data"]["requiredCapabilities"] == {"extensions": {TASKS_EXTENSION: {}}}
    for method in ("tasks/get", "tasks/update", "tasks/cancel"):
        params: dict[str, Any] = {"taskId": "t_whatever"}
        if method == "tasks/update":
            params["inputResponses"] = {}
        assert error(send(server, method, params, caps={}))["code"] == -32021


def test_a_legacy_session_cannot_call_a_task_only_tool(server: ServerProcess) -> None:
    session = open_session(server.url)
    body = legacy_call(server.url, session, "tools/call", ZERO_WAIT).json()
    assert body["error"]["code"] == -32021, body


def test_questions_wait_for_tasks_update(server: ServerProcess) -> None:
    """Each question turns the task input_required; a malformed answer to an open
    question is -32602 and changes nothing; answers to keys not asked are ignored; the
    right answers resume the handler where it waited, and it asks its next question."""
    task_id = start(server, "two_rounds", {})
    asked = wait_for(server, task_id, {"input_required"})
    (key,) = asked["inputRequests"]
    assert asked["inputRequests"][key]["method"] == "elicitation/create"
    bad = send(
        server, "tasks/update", {"taskId": task_id, "inputResponses": {key: {"action": "maybe"}}}
    )
    assert error(bad)["code"] == -32602
    ignored = send(server, "tasks/update", {"taskId": task_id, "inputResponses": {"nope": 1}})
    assert set(result(ignored)) <= {"resultType", "_meta"}
    assert get(server, task_id)["status"] == "input_required"
    answer = {"action": "accept", "content": {"name": "Ada"}}
    result(send(server, "tasks/update", {"taskId": task_id, "inputResponses": {key: answer}}))
    again = poll(server, task_id, lambda task: set(task.get("inputRequests") or {key}) != {key})
    (second,) = again["inputRequests"]
    assert second != key  # a new question has a new key
    sure = {"action": "accept", "content": {"sure": True}}
    result(send(server, "tasks/update", {"taskId": task_id, "inputResponses": {second: sure}}))
    done = wait_for(server, task_id, {"completed"})
    assert done["result"]["content"][0]["text"] == "Ada sure=True"
    # An answer after the end changes nothing.
    result(send(server, "tasks/update", {"taskId": task_id, "inputResponses": {second: sure}}))
    assert get(server, task_id)["status"] == "completed"


def test_cancel_is_at_once_and_idempotent(server: ServerProcess) -> None:
    task_id = start(server, "wait", {"seconds": 30})
    ack = result(send(server, "tasks/cancel", {"taskId": task_id}))
    assert set(ack) <= {"resultType", "_meta"}
    assert ack["resultType"] == "complete"
    assert get(server, task_id)["status"] == "cancelled"
    result(send(server, "tasks/cancel", {"taskId": task_id}))
    finished = start(server, "wait", {"seconds": 0})
    wait_for(server, finished, {"completed"})
    result(send(server, "tasks/cancel", {"taskId": finished}))
    assert get(server, finished)["status"] == "completed"  # a finished task stays so


def test_another_caller_sees_nothing(server: ServerProcess) -> None:
    task_id = start(server, "wait", {"seconds": 30})
    try:
        for method in ("tasks/get", "tasks/cancel"):
            refused = error(send(server, method, {"taskId": task_id}, user="mallory"))
            assert refused["code"] == -32602
        update = {"taskId": task_id, "inputResponses": {}}
        assert error(send(server, "tasks/update", update, user="mallory"))["code"] == -32602
        assert get(server, task_id)["status"] == "working"
    finally:
        send(server, "tasks/cancel", {"taskId": task_id})


def test_the_cap_on_running_tasks(server: ServerProcess) -> None:
    """A caller past its cap of running tasks gets a 429 with Retry-After; another caller
    is unaffected, and the slot is free again once a task ends."""
    running = [start(server, "wait", {"seconds": 30}, user="carol") for _ in range(CAP)]
    try:
        over = send(server, "tools/call", ZERO_WAIT, user="carol")
        refused = error(over, 429)
        assert refused["code"] == -32005
        assert over.headers["retry-after"]
        other = start(server, "wait", {"seconds": 0}, user="dave")
        wait_for(server, other, {"completed"}, user="dave")
        result(send(server, "tasks/cancel", {"taskId": running[0]}, user="carol"))
        # The slot is given back once the cancelled work has stopped: soon, not at once.
        deadline = time.monotonic() + 5
        while True:
            again = send(server, "tools/call", ZERO_WAIT, user="carol")
            if again.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert result(again)["resultType"] == "task"
    finally:
        for task_id in running:
            send(server, "tasks/cancel", {"taskId": task_id}, user="carol")


def test_a_result_over_the_bound_fails_its_task(server: ServerProcess) -> None:
    small = start(server, "sized", {"size": 100})
    assert wait_for(server, small, {"completed"})["result"]["content"][0]["text"] == "x" * 100
    big = start(server, "sized", {"size": MAX_RESULT * 2})
    failed = wait_for(server, big, {"failed"})
    assert failed["error"]["code"] == -32603
    assert str(MAX_RESULT) in failed["error"]["message"]
    assert "result" not in failed


@pytest.mark.parametrize(
    ("method", "params", "headers", "code"),
    [
        ("tasks/get", {"taskId": "t_unknown"}, {}, -32602),
        ("tasks/get", {"taskId": 7}, {"mcp_name": "7"}, -32020),  # not a string to mirror
        ("tasks/get", {"taskId": "x" * 500}, {}, -32602),
        ("tasks/cancel", {"taskId": "t_unknown"}, {}, -32602),
        ("tasks/update", {"taskId": "t_unknown", "inputResponses": {}}, {}, -32602),
        ("tasks/update", {"taskId": "t_unknown", "inputResponses": []}, {}, -32602),
        ("tasks/update", {"taskId": "t_unknown"}, {}, -32602),
        ("tasks/get", {"taskId": "t_a"}, {"mcp_name": "t_b"}, -32020),
        ("tasks/get", {"taskId": "t_a"}, {"mcp_name": None}, -32020),
    ],
)
def test_bad_task_requests(
    server: ServerProcess,
    method: str,
    params: dict[str, Any],
    headers: dict[str, str | None],
    code: int,
) -> None:
    assert error(send(server, method, params, **headers))["code"] == code


@pytest.mark.parametrize("method", ["tasks/result", "tasks/list"])
def test_removed_task_methods_are_unknown(server: ServerProcess, method: str) -> None:
    assert error(send(server, method, {"taskId": "t_a"}), 404)["code"] == -32601


def test_status_changes_reach_the_callers_listen_stream(server: ServerProcess) -> None:
    """A listen stream that names a task hears each change of its status (questions
    included) as notifications/tasks, with the task's fields; another caller's stream that
    names the same id hears nothing; without the extension, taskIds is refused."""
    task_id = start(server, "two_rounds", {})
    wanted = {"taskIds": [task_id]}
    with (
        ListenStream(server.url, wanted, "mine", TASKS, x_user="alice") as mine,
        ListenStream(server.url, wanted, "theirs", TASKS, x_user="mallory") as theirs,
    ):
        assert mine.events[0]["params"]["notifications"] == wanted
        asked = wait_for(server, task_id, {"input_required"})
        (key,) = asked["inputRequests"]
        answer = {"action": "accept", "content": {"name": "Ada"}}
        result(send(server, "tasks/update", {"taskId": task_id, "inputResponses": {key: answer}}))
        second = poll(server, task_id, lambda task: key not in (task.get("inputRequests") or {key}))
        (next_key,) = second["inputRequests"]
        sure = {"action": "accept", "content": {"sure": False}}
        update = {"taskId": task_id, "inputResponses": {next_key: sure}}
        result(send(server, "tasks/update", update))
        wait_for(server, task_id, {"completed"})
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and not any(
            event.get("params", {}).get("status") == "completed" for event in mine.events
        ):
            time.sleep(0.05)
    statuses = [
        event["params"]["status"]
        for event in mine.events
        if event.get("method") == "notifications/tasks"
    ]
    # (its first question was asked before the streams opened)
    assert statuses == ["working", "input_required", "working", "completed"]
    last = next(e for e in reversed(mine.events) if e.get("method") == "notifications/tasks")
    assert last["params"]["taskId"] == task_id
    assert last["params"]["result"]["content"][0]["text"] == "Ada sure=False"
    assert "_owner" not in last["params"]
    assert last["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "mine"
    assert not [e for e in theirs.events if e.get("method") == "notifications/tasks"]
    refused = send(server, "subscriptions/listen", {"notifications": wanted}, caps={})
    assert error(refused)["code"] == -32021


def test_anonymous_callers_share_one_larger_budget(server: ServerProcess) -> None:
    """Callers without a principal cannot be told apart: together they may run
    TASK_MAX_RUNNING_ANONYMOUS tasks (more than one caller's cap), and no more."""
    running = [start(server, "wait", {"seconds": 30}, user=None) for _ in range(ANONYMOUS_CAP)]
    try:
        over = send(server, "tools/call", ZERO_WAIT, user=None)
        assert error(over, 429)["code"] == -32005
    finally:
        for task_id in running:
            send(server, "tasks/cancel", {"taskId": task_id}, user=None)


@pytest.fixture(scope="module")
def short_ttl_server() -> Iterator[ServerProcess]:
    with serving("tests.apps.task_wire_app:app", {"TASK_TTL_SECONDS": "1"}) as server:
        yield server


def test_a_result_outlives_a_ttl_its_task_ran_past(short_ttl_server: ServerProcess) -> None:
    """A task that finishes after its TTL (counted from its creation) has passed keeps its
    result for a while after it finished: the client that polled all along reads it."""
    task_id = start(short_ttl_server, "wait", {"seconds": 1.5})
    assert get(short_ttl_server, task_id)["ttlMs"] == 1000
    done = wait_for(short_ttl_server, task_id, {"completed"})
    time.sleep(1.5)  # past the TTL, and past the one second a record is stored at least
    assert get(short_ttl_server, task_id)["result"] == done["result"]
