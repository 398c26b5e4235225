"""Principals across a fleet: 3 tasks on one Redis behind round-robin HAProxy, where what
one caller owns is useless to another on every task, and per-caller limits hold fleet-wide."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests.auth.test_gate import legacy, modern, open_session
from tests.fleet.clients import rpc_result, task_of
from tests.fleet.processes import Fleet, fleet_running, redis_running
from tests.wire import headers_for, meta

APP = "tests.auth.guarded_app:keys_app"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    directory = tmp_path_factory.mktemp("auth-fleet")
    with (
        redis_running(directory / "redis") as redis,
        fleet_running(directory / "fleet", tasks=3, app=APP, redis_url=redis.url) as running,
    ):
        yield running


def around(fleet: Fleet, send: Any) -> list[httpx.Response]:
    """The same request three times: round robin takes it to every task."""
    responses = [send() for _ in range(3)]
    assert {task_of(r) for r in responses} == {task.name for task in fleet.tasks}
    return responses


def test_a_session_is_only_its_owners_on_every_task(fleet: Fleet) -> None:
    """A session opened by one caller answers its owner on every task and is not found
    for another caller on any task."""
    session_id = open_session(fleet.url, "key-writer")
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {}}
    for response in around(fleet, lambda: legacy(fleet.url, session_id, ping, "key-reader")):
        assert response.status_code == 404
    for response in around(fleet, lambda: legacy(fleet.url, session_id, ping, "key-writer")):
        assert response.status_code == 200


def test_handles_and_request_state_do_not_cross_principals_on_any_task(fleet: Fleet) -> None:
    """A handle and a sealed requestState of one caller give another caller an error (never
    the value) on every task, and keep working for their owner on every task."""
    url = fleet.url
    minted = modern(
        url, "tools/call", {"name": "keep", "arguments": {"value": "secret-v"}}, "key-writer"
    )
    handle = rpc_result(minted)["content"][0]["text"]
    read = {"name": "fetch", "arguments": {"handle": handle}}
    for response in around(fleet, lambda: modern(url, "tools/call", read, "key-reader")):
        assert "secret-v" not in response.text
    for response in around(fleet, lambda: modern(url, "tools/call", read, "key-writer")):
        assert rpc_result(response)["content"][0]["text"] == "secret-v"
    first = rpc_result(
        modern(url, "tools/call", {"name": "confirm", "arguments": {}}, "key-writer")
    )
    question = next(iter(first["inputRequests"]))
    retry = {
        "name": "confirm",
        "arguments": {},
        "requestState": first["requestState"],
        "inputResponses": {question: {"action": "accept"}},
    }
    for response in around(fleet, lambda: modern(url, "tools/call", retry, "key-reader")):
        assert response.json()["error"]["code"] == -32602
    for response in around(fleet, lambda: modern(url, "tools/call", retry, "key-writer")):
        assert rpc_result(response)["content"][0]["text"] == "accept"


def test_a_rate_limit_holds_across_the_fleet(fleet: Fleet) -> None:
    """tick allows 30 calls a minute per caller: 45 calls spread over three tasks get 30
    answers (plus what refills while they run, 0.5 a second) and 429 for the rest, while
    another caller's calls all go through meanwhile."""
    url = fleet.url
    call = {"name": "tick", "arguments": {}}
    started = time.monotonic()
    statuses = []
    tasks = set()
    other = []
    with httpx.Client(timeout=10) as client:
        for index in range(45):
            message = {
                "jsonrpc": "2.0",
                "id": index,
                "method": "tools/call",
                "params": {**call, "_meta": meta()},
            }
            headers = {**headers_for(message), "x-api-key": "key-admin"}
            response = client.post(url, content=orjson.dumps(message), headers=headers)
            statuses.append(response.status_code)
            tasks.add(task_of(response))
            if index % 5 == 0:
                other.append(modern(url, "tools/call", call, "key-reader").status_code)
    elapsed = time.monotonic() - started
    allowed = statuses.count(200)
    assert tasks == {task.name for task in fleet.tasks}
    assert set(statuses) == {200, 429}
    assert 30 <= allowed <= 30 + int(elapsed * 0.5) + 1, (allowed, elapsed)
    assert statuses[:30] == [200] * 30
    assert other == [200] * len(other)
