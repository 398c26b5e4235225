"""``mcpfleet serve --workers 2`` on a redis-server of the test's own: one port, two
processes, and the session scenarios of a fleet work across them as across tasks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import wire
from tests.conftest import ROOT, free_port
from tests.fleet.clients import SseReader, text_of
from tests.fleet.processes import STATE_KEYS, RedisServer, Task, redis_running, serve_command

APP = "tests.fleet.workers_app:app"
URI = "workers://note"
# A fast drain, as the fleet tests use: no load balancer to wait for.
ENV = {"REQUEST_STATE_KEYS": STATE_KEYS, "DRAIN_DELAY_SECONDS": "0", "DRAIN_DEADLINE_SECONDS": "8"}


def with_workers(count: int) -> Any:
    def command(target: str, port: int) -> list[str]:
        return [*serve_command(target, port), "--workers", str(count)]

    return command


def start(directory: Path, redis: RedisServer | None, count: int | None = 2) -> Task:
    """``mcpfleet serve`` of the workers app (``--workers count`` unless None); healthy."""
    env = dict(ENV)
    if redis is not None:
        env["REDIS_URL"] = redis.url
    command = serve_command if count is None else with_workers(count)
    task = Task("w", APP, env, directory, command)
    task.start()
    task.wait_healthy(time.monotonic() + 30)
    return task


def pid_of(response: httpx.Response) -> int:
    assert response.status_code == 200, response.text
    return int(text_of(response) or 0)


def until_both(call: Any, attempts: int = 200) -> list[int]:
    """Answers of ``call`` (each on a new connection) until two processes answered."""
    pids: list[int] = []
    for _ in range(attempts):
        pids.append(pid_of(call()))
        if len(set(pids)) == 2:
            return pids
    raise AssertionError(f"one process answered every call: {set(pids)}")


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Task]:
    """Two workers sharing one Redis, for the tests that do not stop them."""
    directory = tmp_path_factory.mktemp("workers")
    with redis_running(directory / "redis") as redis:
        task = start(directory, redis)
        try:
            yield task
        finally:
            task.stop(15)


def test_a_legacy_session_is_served_by_both_workers(served: Task) -> None:
    """One 2025-11-25 session's calls, each on a new connection, are answered by both worker
    processes (neither of them the supervisor), and every call succeeds."""
    session, _ = wire.initialize(served.url)
    pids = until_both(
        lambda: wire.legacy_call(
            served.url, session, "tools/call", {"name": "whoami", "arguments": {}}
        )
    )
    assert served.pid not in pids
    assert wire.legacy_call(served.url, session, "ping").status_code == 200


def test_modern_calls_are_served_by_both_workers(served: Task) -> None:
    """2026-07-28 tools/call requests reach both workers."""
    pids = until_both(
        lambda: wire.call(served.url, "tools/call", {"name": "whoami", "arguments": {}})
    )
    assert served.pid not in pids


def test_the_get_stream_receives_changes_made_by_either_worker(served: Task) -> None:
    """A session's GET stream, held by one worker, receives a resource update for every
    touch, including those the other worker answered."""
    session, result = wire.initialize(served.url)
    subscribed = wire.legacy_call(served.url, session, "resources/subscribe", {"uri": URI})
    assert subscribed.status_code == 200, subscribed.text
    headers = wire.legacy_headers(session, result["protocolVersion"], accept="text/event-stream")
    with SseReader("GET", served.url, headers) as stream:
        assert stream.status == 200, stream.text
        touches = until_both(
            lambda: wire.legacy_call(
                served.url, session, "tools/call", {"name": "touch", "arguments": {"uri": URI}}
            )
        )
        deadline = time.monotonic() + 10
        while (
            stream.count("notifications/resources/updated") < len(touches)
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        assert stream.count("notifications/resources/updated") == len(touches), stream.messages
        assert stream.error is None


def test_sigterm_to_the_supervisor_drains_every_worker(tmp_path: Path) -> None:
    """SIGTERM to the supervisor lets calls in flight on both workers finish, then every
    worker and the supervisor exit with 0."""
    with redis_running(tmp_path / "redis") as redis:
        task = start(tmp_path, redis)
        try:
            workers = set(
                until_both(
                    lambda: wire.call(task.url, "tools/call", {"name": "whoami", "arguments": {}})
                )
            )
            answers: list[httpx.Response] = []

            def nap() -> None:
                answers.append(
                    wire.call(
                        task.url, "tools/call", {"name": "nap", "arguments": {"seconds": 1.5}}
                    )
                )

            naps = [threading.Thread(target=nap) for _ in range(6)]
            for thread in naps:
                thread.start()
            time.sleep(0.5)  # the calls are in flight
            assert task.process is not None
            task.process.send_signal(signal.SIGTERM)
            assert task.process.wait(15) == 0, task.log.read_text()
            for thread in naps:
                thread.join(10)
            assert [pid_of(answer) in workers for answer in answers] == [True] * 6
            for pid in workers:
                with pytest.raises(ProcessLookupError):
                    os.kill(pid, 0)
            log = task.log.read_text()
            assert log.count('"event":"drain_started"') == 2, log
        finally:
            task.stop(15)


def test_a_worker_that_dies_is_replaced(tmp_path: Path) -> None:
    """A worker killed with SIGKILL is replaced by a new one; the port keeps serving."""
    with redis_running(tmp_path / "redis") as redis:
        task = start(tmp_path, redis)
        try:
            first = set(
                until_both(
                    lambda: wire.call(task.url, "tools/call", {"name": "whoami", "arguments": {}})
                )
            )
            victim = min(first)
            os.kill(victim, signal.SIGKILL)
            seen: set[int] = set()
            deadline = time.monotonic() + 20
            while not seen - first and time.monotonic() < deadline:
                response = wire.call(task.url, "tools/call", {"name": "whoami", "arguments": {}})
                seen.add(pid_of(response))
            assert seen - first, f"no new worker answered: {seen}"
            assert victim not in seen
        finally:
            task.stop(15)


def test_several_workers_with_state_in_memory_are_refused() -> None:
    """--workers 2 without Redis stops at start with a message naming the reason."""
    env = {**os.environ, **ENV}
    env.pop("REDIS_URL", None)
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "mcpfleet",
            "serve",
            APP,
            "--port",
            str(free_port()),
            "--workers",
            "2",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1
    assert b"need fleet state in Redis" in completed.stderr
    assert b"'not found'" in completed.stderr


@pytest.mark.parametrize("redis_state", [False, True], ids=["memory-default", "redis-one"])
def test_one_worker_is_the_single_process(tmp_path: Path, redis_state: bool) -> None:
    """With state in memory (by default) or with --workers 1, the process serves by itself:
    no supervisor, the answering pid is the command's own."""
    if redis_state:
        with redis_running(tmp_path / "redis") as redis:
            task = start(tmp_path, redis, 1)
            try:
                assert (
                    pid_of(wire.call(task.url, "tools/call", {"name": "whoami", "arguments": {}}))
                    == task.pid
                )
            finally:
                task.stop(15)
        return
    task = start(tmp_path, None, None)
    try:
        assert (
            pid_of(wire.call(task.url, "tools/call", {"name": "whoami", "arguments": {}}))
            == task.pid
        )
    finally:
        task.stop(15)
