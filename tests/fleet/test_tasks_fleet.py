"""Tasks of the 2026-07-28 tasks extension across a fleet: three ``mcpfleet serve`` tasks on
one redis-server behind round-robin HAProxy, where a task started on one process is polled,
answered and cancelled on the others, survives neither a SIGKILL nor a drain as ``working``,
and is only ever its own caller's.

Requests for one task are sent straight to each process's own port, so the process that
answers is known; calls that start tasks go through HAProxy, which names the process that
took them in a response header.
"""

from __future__ import annotations

import secrets
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from mcpfleet.protocol.sse import EventParser
from mcpfleet.protocol.tasks import TASKS_EXTENSION
from tests.fleet.clients import task_of
from tests.fleet.conftest import MakeFleet, MakeRedis
from tests.fleet.processes import Fleet, Task, fleet_running, redis_running
from tests.wire import headers_for, meta, request

APP = "tests.apps.tasks_app:app"
ALICE = "key-alice"
BOB = "key-bob"
# Client capabilities of every request: the tasks extension, and forms for the questions.
CAPABILITIES = {"elicitation": {}, "extensions": {TASKS_EXTENSION: {}}}
NOT_FOUND = -32602


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fleet]:
    """Three tasks of the tasks app on one Redis behind HAProxy, for the tests that stop no
    process (the default 30 s lease: a cancel must not wait for a lease renewal)."""
    directory = tmp_path_factory.mktemp("tasks-fleet")
    with (
        redis_running(directory / "redis") as redis,
        fleet_running(directory / "fleet", tasks=3, app=APP, redis_url=redis.url) as running,
    ):
        yield running


# -- requests --------------------------------------------------------------------------


def send(url: str, method: str, params: dict[str, Any], key: str) -> httpx.Response:
    """One 2026-07-28 request from a client that declares the tasks extension, as the
    caller with API key ``key``; ``Mcp-Name`` names the tool or the task."""
    message = request(method, {**params, "_meta": meta(capabilities=CAPABILITIES)})
    name = params.get("taskId", params.get("name", ""))
    headers = {**headers_for(message, mcp_name=str(name)), "x-api-key": key}
    return httpx.post(url, content=orjson.dumps(message), headers=headers, timeout=10)


def reply(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC response to the request (from a JSON body or the end of a stream)."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        events = EventParser().feed(response.content)
        messages = [orjson.loads(event.data) for event in events if event.data]
        final = [m for m in messages if "result" in m or "error" in m]
        assert final, response.text
        message: dict[str, Any] = final[-1]
        return message
    message = response.json()
    return message


def result_of(response: httpx.Response) -> dict[str, Any]:
    message = reply(response)
    assert "result" in message, (response.status_code, message)
    result: dict[str, Any] = message["result"]
    return result


def start(url: str, tool: str, key: str = ALICE, **arguments: Any) -> tuple[str, str | None]:
    """Call ``tool`` through ``url``; it must become a task. Returns the task's id and the
    fleet task that took the call (named by HAProxy; None when sent to a task directly)."""
    response = send(url, "tools/call", {"name": tool, "arguments": arguments}, key)
    created = result_of(response)
    assert created["resultType"] == "task", created
    assert created["status"] == "working", created
    assert created["ttlMs"] > 0, created
    assert created["pollIntervalMs"] > 0, created
    task_id: str = created["taskId"]
    return task_id, task_of(response)


def get(task: Task | str, task_id: str, key: str = ALICE) -> dict[str, Any]:
    """``tasks/get`` on one process (or through HAProxy, given a URL)."""
    url = task if isinstance(task, str) else task.url
    return result_of(send(url, "tasks/get", {"taskId": task_id}, key))


def poll(
    tasks: list[Task],
    task_id: str,
    until: Callable[[dict[str, Any]], bool],
    timeout: float,
    key: str = ALICE,
) -> tuple[dict[str, Any], list[str]]:
    """``tasks/get`` on each of ``tasks`` in turn until ``until(result)``; returns that
    result and every status seen on the way. Fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    turn = 0
    while True:
        found = get(tasks[turn % len(tasks)], task_id, key)
        turn += 1
        seen.append(found["status"])
        if until(found):
            return found, seen
        if time.monotonic() > deadline:
            raise AssertionError(f"task {task_id}: statuses seen {seen}, last {found}")
        time.sleep(0.1)


def status_is(*statuses: str) -> Callable[[dict[str, Any]], bool]:
    return lambda found: found["status"] in statuses


FINISHED = status_is("completed", "failed", "cancelled")


def text(result: dict[str, Any]) -> str:
    return str(result["content"][0]["text"])


def wait_file(path: Path, timeout: float = 10.0) -> str:
    """The contents of ``path`` once it has some; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        contents = path.read_text() if path.exists() else ""
        if contents:
            return contents
        if time.monotonic() > deadline:
            raise AssertionError(f"{path.name} never appeared")
        time.sleep(0.05)


def split(fleet: Fleet, runner_name: str | None) -> tuple[Task, list[Task]]:
    """The task that runs the work, and the others."""
    runner = fleet.task(runner_name)
    return runner, [task for task in fleet.tasks if task is not runner]


# -- one task, three processes -----------------------------------------------------------


def test_a_question_is_answered_on_another_task_and_reaches_the_handler(
    fleet: Fleet, tmp_path: Path
) -> None:
    """A task started through HAProxy asks a question: one other process shows it as
    ``input_required``, a third takes the answer, and the waiting handler on the first
    finishes with that answer, which every process then reports as the task's result."""
    marker = str(tmp_path / "confirm")
    task_id, runner_name = start(fleet.url, "confirm", item="report.txt", marker=marker)
    runner, (poller, updater) = split(fleet, runner_name)
    assert int(wait_file(Path(marker + ".pid"))) == runner.pid

    asked, _ = poll([poller], task_id, status_is("input_required"), timeout=10)
    question = asked["inputRequests"]["confirm"]
    assert list(asked["inputRequests"]) == ["confirm"]
    assert question["method"] == "elicitation/create"
    assert question["params"]["message"] == "Delete report.txt?"
    assert "result" not in asked

    note = secrets.token_hex(8)
    answer = {"action": "accept", "content": {"confirm": True, "note": note}}
    updated = send(
        updater.url,
        "tasks/update",
        {"taskId": task_id, "inputResponses": {"confirm": answer}},
        ALICE,
    )
    assert "error" not in reply(updated), updated.text

    done, seen = poll([poller, updater], task_id, FINISHED, timeout=10)
    assert done["status"] == "completed", done
    assert set(seen) <= {"working", "input_required", "completed"}, seen
    expected = f"report.txt: accept confirm=True note={note}"
    assert text(done["result"]) == expected
    assert done["result"].get("isError") is not True
    assert int(wait_file(Path(marker + ".done"))) == runner.pid
    for task in fleet.tasks:
        again = get(task, task_id)
        assert again["status"] == "completed"
        assert text(again["result"]) == expected


def test_a_cancel_on_a_third_task_stops_the_work_on_the_first(fleet: Fleet, tmp_path: Path) -> None:
    """A working task cancelled on a process that neither runs it nor was polled is
    ``cancelled`` on every process from the next request on, and its work on the running
    process is stopped: the handler sees the cancellation and never reaches its end."""
    marker = str(tmp_path / "work")
    seconds = 4.0
    task_id, runner_name = start(fleet.url, "work", seconds=seconds, marker=marker)
    started = time.monotonic()
    runner, (poller, canceller) = split(fleet, runner_name)
    assert int(wait_file(Path(marker + ".pid"))) == runner.pid
    assert get(poller, task_id)["status"] == "working"

    cancelled = send(canceller.url, "tasks/cancel", {"taskId": task_id}, ALICE)
    assert "error" not in reply(cancelled), cancelled.text
    for task in (poller, runner, canceller):
        found = get(task, task_id)
        assert found["status"] == "cancelled", found
        assert "result" not in found
        assert "error" not in found

    assert int(wait_file(Path(marker + ".stopped"))) == runner.pid
    again = send(poller.url, "tasks/cancel", {"taskId": task_id}, ALICE)
    assert "error" not in reply(again), again.text  # a second cancel changes nothing
    # Past the moment the work would have ended (plus a margin): it never did.
    time.sleep(max(0.0, started + seconds + 1.5 - time.monotonic()))
    assert not Path(marker + ".done").exists()
    assert get(runner, task_id)["status"] == "cancelled"


def test_a_failing_tool_is_failed_on_every_task_and_not_retryable(fleet: Fleet) -> None:
    """A task whose tool raises a JSON-RPC error is ``failed`` with that error on every
    process, and is not marked retryable (unlike a task whose process stopped)."""
    task_id, runner_name = start(fleet.url, "broken", seconds=0.5)
    _, others = split(fleet, runner_name)
    failed, seen = poll(others, task_id, FINISHED, timeout=10)
    assert failed["status"] == "failed", failed
    assert set(seen) <= {"working", "failed"}, seen
    assert failed["error"]["code"] == -32603
    assert failed["error"]["message"] == "the job broke"
    assert not (failed["error"].get("data") or {}).get("retryable")
    assert "result" not in failed
    for task in fleet.tasks:
        assert get(task, task_id)["error"] == failed["error"]


# -- principals --------------------------------------------------------------------------


def not_found(response: httpx.Response) -> dict[str, Any]:
    """The error of a request about a task the caller may not know of: -32602."""
    message = reply(response)
    assert "result" not in message, message
    assert message["error"]["code"] == NOT_FOUND, message
    assert "not found" in message["error"]["message"].lower(), message
    error: dict[str, Any] = message["error"]
    return error


def test_another_caller_can_neither_see_nor_answer_nor_cancel_a_task(
    fleet: Fleet, tmp_path: Path
) -> None:
    """Alice's task waiting for input is "not found" (-32602) for Bob on every process,
    for tasks/get, tasks/update and tasks/cancel alike, just as an unknown task is; his
    attempts change nothing: the question stays open and Alice's own answer finishes it."""
    marker = str(tmp_path / "owned")
    task_id, _ = start(fleet.url, "confirm", item="ledger", marker=marker)
    poll(fleet.tasks, task_id, status_is("input_required"), timeout=10)
    unknown = "t_" + secrets.token_urlsafe(24)
    bobs_answer = {"confirm": {"action": "accept", "content": {"confirm": True, "note": "bob"}}}
    for task in fleet.tasks:
        for method, extra in (
            ("tasks/get", {}),
            ("tasks/update", {"inputResponses": bobs_answer}),
            ("tasks/cancel", {}),
        ):
            foreign = not_found(send(task.url, method, {"taskId": task_id, **extra}, BOB))
            missing = not_found(send(task.url, method, {"taskId": unknown, **extra}, BOB))
            assert foreign == missing, (task.name, method)  # nothing tells them apart

    for task in fleet.tasks:
        still = get(task, task_id)
        assert still["status"] == "input_required", still
        assert list(still["inputRequests"]) == ["confirm"]
    assert not Path(marker + ".stopped").exists()

    alices_answer = {"confirm": {"action": "decline"}}
    updated = send(
        fleet.tasks[0].url,
        "tasks/update",
        {"taskId": task_id, "inputResponses": alices_answer},
        ALICE,
    )
    assert "error" not in reply(updated), updated.text
    done, _ = poll(fleet.tasks, task_id, FINISHED, timeout=10)
    assert done["status"] == "completed", done
    assert text(done["result"]) == "ledger: decline confirm=None note=None"


# -- processes that stop ----------------------------------------------------------------


def test_tasks_whose_process_is_killed_fail_retryably_within_their_lease(
    make_redis: MakeRedis, make_fleet: MakeFleet, tmp_path: Path
) -> None:
    """SIGKILL of the process running two tasks (a 2 s lease), one working and one waiting
    for input: tasks/get on the other processes reports each as it was until the lease has
    passed, then ``failed`` with a retryable error, within the lease plus a bounded margin,
    and nothing else on the way; the call made again through HAProxy completes."""
    lease = 2.0
    fleet = make_fleet(tasks=3, app=APP, redis=make_redis(), env={"TASK_LEASE_SECONDS": str(lease)})
    working_marker, asking_marker = str(tmp_path / "working"), str(tmp_path / "asking")
    working_id, runner_name = start(fleet.url, "work", seconds=60, marker=working_marker)
    runner, others = split(fleet, runner_name)
    asking_id, _ = start(runner.url, "confirm", item="plan", marker=asking_marker)
    for marker in (working_marker, asking_marker):
        assert int(wait_file(Path(marker + ".pid"))) == runner.pid
    poll(others, asking_id, status_is("input_required"), timeout=10)
    # Still as they were after more than a lease: leases are renewed while the process lives.
    time.sleep(lease * 1.5)
    assert get(others[0], working_id)["status"] == "working"
    assert get(others[1], asking_id)["status"] == "input_required"

    runner.kill()
    for task_id, before in ((working_id, "working"), (asking_id, "input_required")):
        failed, seen = poll(others, task_id, FINISHED, timeout=lease + 5)
        assert failed["status"] == "failed", failed
        assert set(seen) <= {before, "failed"}, seen
        assert failed["error"]["code"] == -32603
        assert failed["error"]["data"]["retryable"] is True
        assert "result" not in failed
        assert "inputRequests" not in failed
        for where in others:
            assert get(where, task_id)["error"] == failed["error"]
    assert not Path(working_marker + ".done").exists()
    assert not Path(asking_marker + ".done").exists()

    fleet.wait_state(runner.name, "DOWN")
    assert get(fleet.url, working_id)["status"] == "failed"
    retry_marker = str(tmp_path / "retry")
    retry_id, retried_on = start(fleet.url, "work", seconds=0.5, marker=retry_marker)
    assert retried_on != runner.name
    done, _ = poll(others, retry_id, FINISHED, timeout=10)
    assert done["status"] == "completed", done
    assert text(done["result"]) == f"worked 0.5s in {fleet.task(retried_on).pid}"


def test_a_drain_finishes_short_tasks_and_fails_a_long_one_retryably(
    make_redis: MakeRedis, make_fleet: MakeFleet, tmp_path: Path
) -> None:
    """SIGTERM (no drain delay, a 10 s deadline: about 8 s for tasks) of the process running
    three tasks: a 3 s one ends ``completed`` with its result; one waiting for input, whose
    answer is given on another process during the drain, ends ``completed`` with that
    answer; one with a minute of work ends ``failed`` with a retryable error before the
    process exits (its 30 s lease has not passed: the drain failed it). All three are
    found on the other processes afterwards, and the drained process exits 0."""
    fleet = make_fleet(
        tasks=3,
        app=APP,
        redis=make_redis(),
        env={"DRAIN_DELAY_SECONDS": "0", "DRAIN_DEADLINE_SECONDS": "10"},
    )
    short_marker, long_marker = str(tmp_path / "short"), str(tmp_path / "long")
    asking_marker = str(tmp_path / "asking")
    short_id, runner_name = start(fleet.url, "work", seconds=3, marker=short_marker)
    runner, others = split(fleet, runner_name)
    long_id, _ = start(runner.url, "work", seconds=60, marker=long_marker)
    asking_id, _ = start(runner.url, "confirm", item="draft", marker=asking_marker)
    for marker in (short_marker, long_marker, asking_marker):
        assert int(wait_file(Path(marker + ".pid"))) == runner.pid
    poll(others, asking_id, status_is("input_required"), timeout=10)
    assert get(others[1], long_id)["status"] == "working"
    assert get(others[0], short_id)["status"] == "working"
    assert not Path(short_marker + ".done").exists()

    assert runner.process is not None
    runner.process.send_signal(signal.SIGTERM)
    answer = {"confirm": {"action": "accept", "content": {"confirm": False, "note": "late"}}}
    updated = send(
        others[0].url, "tasks/update", {"taskId": asking_id, "inputResponses": answer}, ALICE
    )
    assert "error" not in reply(updated), updated.text
    exit_code = runner.process.wait(20)
    assert exit_code == 0

    short = get(others[0], short_id)
    assert short["status"] == "completed", short
    assert text(short["result"]) == f"worked 3.0s in {runner.pid}"
    assert int(wait_file(Path(short_marker + ".done"))) == runner.pid

    asking = get(others[1], asking_id)
    assert asking["status"] == "completed", asking
    assert text(asking["result"]) == "draft: accept confirm=False note=late"

    long = get(others[1], long_id)
    assert long["status"] == "failed", long
    assert long["error"]["code"] == -32603
    assert long["error"]["data"]["retryable"] is True
    assert "result" not in long
    assert int(wait_file(Path(long_marker + ".stopped"))) == runner.pid
    assert not Path(long_marker + ".done").exists()
    for task in others:
        assert get(task, short_id)["status"] == "completed"
        assert get(task, asking_id)["status"] == "completed"
        assert get(task, long_id)["status"] == "failed"


def test_a_task_failed_by_a_drain_no_longer_counts_against_its_callers_cap(
    make_redis: MakeRedis, make_fleet: MakeFleet, tmp_path: Path
) -> None:
    """With at most one running task per caller, a task the drain has failed frees its
    caller's place: a new task starts on another process right after the drained one
    exited (not only once the 30 s lease of the failed task's slot has passed)."""
    fleet = make_fleet(
        tasks=2,
        app=APP,
        redis=make_redis(),
        env={"TASK_MAX_RUNNING_PER_PRINCIPAL": "1", "DRAIN_DEADLINE_SECONDS": "4"},
    )
    marker = str(tmp_path / "drained")
    task_id, runner_name = start(fleet.url, "work", seconds=60, marker=marker)
    runner, (other,) = split(fleet, runner_name)
    assert int(wait_file(Path(marker + ".pid"))) == runner.pid
    assert runner.process is not None
    runner.process.send_signal(signal.SIGTERM)
    assert runner.process.wait(20) == 0
    assert get(other, task_id)["status"] == "failed"
    next_id, _ = start(other.url, "broken", seconds=0.1)  # 429 -32005 while the slot lingers
    assert get(other, next_id)["status"] in ("working", "failed")
