"""A fleet: three ``mcpfleet serve`` tasks sharing one Redis behind HAProxy (round robin, no
stickiness). Any task answers any request of any session, and losing a task or Redis for a
moment loses no session."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

import httpx
import httpx2
import orjson
import pytest
from mcp import Client, types
from mcp.client.streamable_http import streamable_http_client

from tests import wire
from tests.conftest import ROOT
from tests.fleet.clients import (
    LegacySession,
    ModernClient,
    SseReader,
    rpc_result,
    steer_past,
    task_of,
    text_of,
    whoami,
)
from tests.fleet.conftest import MakeFleet, MakeRedis
from tests.fleet.processes import TASK_HEADER, Fleet, RedisServer

TOOLS = ROOT / ".tools"
NODE = TOOLS / "node22" / "node_modules" / ".bin" / "node"
NAME_SCHEMA_ANSWER = {"action": "accept", "content": {"name": "Ada"}}


def unique(prefix: str) -> str:
    return f"{prefix}{time.monotonic_ns()}"


def assert_gone_everywhere(fleet: Fleet, session_id: str) -> None:
    """A session that ended is unknown to every task, asked directly."""
    for task in fleet.tasks:
        response = wire.legacy_call(task.url, session_id, "ping")
        assert response.status_code == 404, (task.name, response.status_code, response.text)


# -- routing ------------------------------------------------------------------------


def test_round_robin_spreads_one_session_over_every_task(fleet: Fleet) -> None:
    """Nine consecutive calls of one 2025-11-25 session on one keep-alive client reach all
    three tasks (three calls each) and every one succeeds."""
    with LegacySession(fleet.url) as session:
        responses = [session.call_tool("whoami") for _ in range(9)]
    assert [r.status_code for r in responses] == [200] * 9, [r.text for r in responses]
    pids = [int(text_of(r) or 0) for r in responses]
    assert set(pids) == fleet.pids
    assert Counter(task_of(r) for r in responses) == {task.name: 3 for task in fleet.tasks}
    for response, pid in zip(responses, pids, strict=True):
        assert fleet.task(task_of(response)).pid == pid


# -- real clients ---------------------------------------------------------------------


@dataclass
class Exchange:
    """One HTTP exchange of an SDK client, as seen through HAProxy."""

    http: str
    rpc: str | None
    status: int
    task: str | None
    session: str | None


def describe(body: bytes) -> str | None:
    """What a POST body was: a method (tools/call:NAME), or a reply to the server."""
    try:
        message = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(message, dict):
        return None
    if message.get("method") == "tools/call":
        return f"tools/call:{message['params']['name']}"
    return str(message.get("method") or "reply")


def check_client_trace(trace: list[Exchange], fleet: Fleet, calls: int) -> None:
    """What an SDK client's traffic must show: its calls spread over every task, no 404
    before it ended the session, its elicitation reply answered by a task other than the
    one running the call, and a DELETE that ended the session."""
    deletes = [i for i, e in enumerate(trace) if e.http == "DELETE"]
    assert deletes, f"the client never sent DELETE: {trace}"
    before = trace[: deletes[0]]
    assert not [e for e in before if e.status == 404], f"a request was not found: {trace}"
    echoes = [e for e in before if e.rpc == "tools/call:echo"]
    assert len(echoes) == calls
    assert all(e.status == 200 for e in echoes)
    assert {e.task for e in echoes} == {task.name for task in fleet.tasks}
    (asking,) = [e for e in before if e.rpc == "tools/call:ask_name"]
    (reply,) = [e for e in before if e.rpc == "reply"]
    assert asking.status == 200
    assert reply.status == 202
    assert reply.task != asking.task, "the reply POST landed on the task running the call"
    assert trace[deletes[0]].status in (200, 204)


def test_python_sdk_legacy_session_across_the_fleet(fleet: Fleet) -> None:
    """The official Python SDK in legacy mode initializes, lists, makes 20 calls and answers
    an elicitation (its reply POST landing on another task), then its DELETE ends the session
    on every task."""
    trace: list[Exchange] = []
    asked: list[str] = []

    async def record(response: httpx2.Response) -> None:
        request = response.request
        try:
            rpc = describe(request.content) if request.method == "POST" else None
        except httpx2.RequestNotRead:  # a streamed body: not one the SDK sends
            rpc = None
        trace.append(Exchange(request.method, rpc, response.status_code,
                              response.headers.get(TASK_HEADER),
                              response.headers.get("mcp-session-id")
                              or request.headers.get("mcp-session-id")))

    async def answer(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"name": "Ada"})

    async def scenario() -> tuple[str, list[str], list[str], str]:
        http = httpx2.AsyncClient(timeout=httpx2.Timeout(30.0, read=60.0),
                                  event_hooks={"response": [record]})
        async with http, Client(streamable_http_client(fleet.url, http_client=http),
                                mode="legacy", cache=None,
                                elicitation_callback=answer) as client:
            names = [tool.name for tool in (await client.list_tools()).tools]
            texts = []
            for i in range(20):
                result = await client.call_tool("echo", {"text": f"call {i}"})
                assert isinstance(result.content[0], types.TextContent)
                texts.append(result.content[0].text)
            greeted = await client.call_tool("ask_name", {})
            assert isinstance(greeted.content[0], types.TextContent)
            return client.protocol_version, names, texts, greeted.content[0].text

    version, names, texts, greeting = asyncio.run(asyncio.wait_for(scenario(), 60))
    assert version == "2025-11-25"
    assert {"echo", "whoami", "ask_name", "ticker"} <= set(names)
    assert texts == [f"call {i}" for i in range(20)]
    assert asked == ["Your name?"]
    assert greeting == "Hello, Ada!"
    check_client_trace(trace, fleet, 20)
    session_ids = {e.session for e in trace if e.session}
    assert len(session_ids) == 1, session_ids
    assert_gone_everywhere(fleet, session_ids.pop())


def test_typescript_sdk_legacy_session_across_the_fleet(fleet: Fleet) -> None:
    """The TypeScript SDK's StreamableHTTPClientTransport connects, lists, makes 20 calls,
    answers an elicitation (its reply POST landing on another task) and terminates the
    session, which then is gone from every task."""
    sdk = TOOLS / "ts-sdk"
    if not NODE.exists() or not (sdk / "node_modules" / "@modelcontextprotocol" / "sdk").exists():
        pytest.fail("Node.js 22 or the TypeScript SDK is missing: run scripts/install-tools.sh")
    # An ES module finds its packages next to itself, so the script runs from the SDK's folder.
    shutil.copy(ROOT / "tests" / "fleet" / "ts_fleet_client.mjs", sdk / "ts_fleet_client.mjs")
    completed = subprocess.run([str(NODE), str(sdk / "ts_fleet_client.mjs"), fleet.url, "20"],
                               capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stderr
    seen = json.loads(completed.stdout)
    assert seen["protocolVersion"] == "2025-11-25"
    assert {"echo", "whoami", "ask_name"} <= set(seen["tools"])
    assert seen["texts"] == [f"call {i}" for i in range(20)]
    assert seen["asked"] == ["Your name?"]
    assert seen["elicited"] == "Hello, TypeScript!"
    assert seen["terminated"] is True
    trace = [Exchange(e["http"], e["rpc"], e["status"], e["task"], None) for e in seen["trace"]]
    check_client_trace(trace, fleet, 20)
    assert_gone_everywhere(fleet, seen["sessionId"])


# -- streams across tasks ----------------------------------------------------------------


def test_get_stream_receives_changes_made_on_other_tasks(fleet: Fleet) -> None:
    """A session's GET stream, held by one task, receives the update of a subscribed resource
    and a tools/list_changed caused by calls that other tasks answered."""
    with LegacySession(fleet.url) as session:
        subscribed = session.request("resources/subscribe", {"uri": "fleet://note"})
        assert subscribed.status_code == 200, subscribed.text
        with SseReader("GET", fleet.url, session.headers(accept="text/event-stream")) as stream:
            assert stream.status == 200, stream.text
            holder = stream.task
            steer_past(fleet.url, holder, len(fleet.tasks))
            touched = session.call_tool("touch", uri="fleet://note")
            assert text_of(touched) == "touched"
            assert task_of(touched) != holder
            updated = stream.wait_for("notifications/resources/updated")
            assert updated["params"]["uri"] == "fleet://note"
            steer_past(fleet.url, holder, len(fleet.tasks))
            added = session.call_tool("add_tool", name=unique("get"))
            assert text_of(added) == "added"
            assert task_of(added) != holder
            stream.wait_for("notifications/tools/list_changed")
            assert stream.error is None


def test_dropped_post_stream_resumes_on_another_task(fleet: Fleet) -> None:
    """A POST stream of a long call dropped mid-way and resumed with GET and Last-Event-ID on
    another task gets every event exactly once, in order, then the result."""
    with LegacySession(fleet.url) as session:
        call = {"jsonrpc": "2.0", "id": 41, "method": "tools/call",
                "params": {"name": "ticker", "arguments": {"count": 12, "delay": 0.1}}}
        with SseReader("POST", fleet.url, session.headers(), orjson.dumps(call),
                       stop_after=4) as first:
            assert first.wait_done(10)
        assert first.status == 200, first.text
        assert first.error is None, repr(first.error)
        seen = [m["params"]["data"] for m in first.messages if m.get("method")]
        assert len(seen) >= 4
        assert seen == list(range(len(seen)))
        origin = first.task
        steer_past(fleet.url, origin, len(fleet.tasks))
        headers = session.headers(accept="text/event-stream", last_event_id=first.event_ids[-1])
        with SseReader("GET", fleet.url, headers) as resumed:
            assert resumed.wait_done(20), "the resumed stream did not end"
        assert resumed.status == 200, resumed.text
        assert resumed.task != origin
        assert resumed.error is None, repr(resumed.error)
        seen += [m["params"]["data"] for m in resumed.messages if m.get("method")]
        assert seen == list(range(12))
        assert resumed.messages[-1]["id"] == 41
        assert resumed.messages[-1]["result"]["content"][0]["text"] == "ticked 12"
        assert len(set(first.event_ids + resumed.event_ids)) == len(
            first.event_ids + resumed.event_ids)


def test_mrtr_retry_completes_on_another_task(fleet: Fleet) -> None:
    """A 2026-07-28 elicitation's retry, carrying inputResponses and requestState, completes
    on a task other than the one that asked."""
    params = {"name": "ask_name", "arguments": {},
              "_meta": wire.meta(capabilities={"elicitation": {}})}
    first = wire.call(fleet.url, "tools/call", params)
    asked = first.json()["result"]
    assert asked["resultType"] == "input_required"
    (key,) = asked["inputRequests"]
    assert asked["inputRequests"][key]["method"] == "elicitation/create"
    retry = wire.call(fleet.url, "tools/call", {
        **params, "inputResponses": {key: NAME_SCHEMA_ANSWER},
        "requestState": asked["requestState"]})
    assert task_of(retry) != task_of(first)
    result = retry.json()["result"]
    assert result["resultType"] == "complete"
    assert result["content"][0]["text"] == "Hello, Ada!"


def listen_message() -> dict[str, Any]:
    return wire.request("subscriptions/listen", {"notifications": {"toolsListChanged": True}})


def open_listen(url: str) -> SseReader:
    message = listen_message()
    reader = SseReader("POST", url, wire.headers_for(message), orjson.dumps(message)).start()
    reader.wait_for("notifications/subscriptions/acknowledged")
    return reader


def test_listen_stream_receives_tool_changes_from_another_task(fleet: Fleet) -> None:
    """A subscriptions/listen stream held by one task receives tools/list_changed when a tool
    is added by a call another task answered."""
    listen = open_listen(fleet.url)
    try:
        assert listen.status == 200
        steer_past(fleet.url, listen.task, len(fleet.tasks))
        added = wire.call(fleet.url, "tools/call",
                          {"name": "add_tool", "arguments": {"name": unique("listen")}})
        assert text_of(added) == "added"
        assert task_of(added) != listen.task
        changed = listen.wait_for("notifications/tools/list_changed")
        assert listen.error is None
    finally:
        listen.close()
    assert listen.body is not None
    subscription_id = orjson.loads(listen.body)["id"]
    assert changed["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == subscription_id


# -- losing a task ---------------------------------------------------------------------------

CLIENTS = 8
CALLS = 40


@dataclass
class Outcome:
    call: int
    started: float
    ended: float
    status: int | None  # None: no HTTP response at all
    task: str | None
    ok: bool
    retry_after: str | None = None
    detail: str = ""


def echo_outcome(client: LegacySession | ModernClient, call: int, text: str) -> Outcome:
    started = time.monotonic()
    try:
        response = client.call_tool("echo", text=text)
    except httpx.HTTPError as exc:
        return Outcome(call, started, time.monotonic(), None, None, False, detail=repr(exc))
    ok = response.status_code == 200 and text_of(response) == text
    return Outcome(call, started, time.monotonic(), response.status_code, task_of(response), ok,
                   retry_after=response.headers.get("retry-after"),
                   detail="" if ok else response.text[:200])


def run_clients(count: int, target: Any) -> tuple[list[threading.Thread], list[BaseException]]:
    """Start ``target(i)`` in ``count`` threads; exceptions are collected, never raised."""
    errors: list[BaseException] = []

    def guarded(index: int) -> None:
        try:
            target(index)
        except BaseException as exc:  # reported by the test, not by the thread
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(i,), daemon=True) for i in range(count)]
    for thread in threads:
        thread.start()
    return threads, errors


def join_all(threads: list[threading.Thread], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(thread.is_alive() for thread in threads), "a client did not finish in time"


@pytest.mark.parametrize("era", ["2025-11-25", "2026-07-28"])
def test_sigkill_of_a_task_loses_no_session(
    make_fleet: MakeFleet, redis_server: RedisServer, era: str
) -> None:
    """SIGKILL of one task under load from eight clients fails at most the requests in flight
    on it (never a 404), and every client, with its session (some opened by that task),
    completes its remaining calls."""
    fleet = make_fleet(redis=redis_server)
    clients: list[LegacySession | ModernClient] = []
    outcomes: list[list[Outcome]] = [[] for _ in range(CLIENTS)]
    try:
        for _ in range(CLIENTS):
            clients.append(LegacySession(fleet.url) if era == wire.LEGACY
                           else ModernClient(fleet.url))
            if isinstance(clients[-1], LegacySession):
                clients[-1].open()

        def drive(index: int) -> None:
            for call in range(CALLS):
                outcomes[index].append(echo_outcome(clients[index], call, f"c{index}-{call}"))
                time.sleep(0.02)

        threads, errors = run_clients(CLIENTS, drive)
        deadline = time.monotonic() + 20
        while min(len(o) for o in outcomes) < 10 and time.monotonic() < deadline:
            time.sleep(0.01)
        victim = fleet.kill(1)
        killed_at = time.monotonic()
        join_all(threads, 60)
        assert not errors, errors
        survivors = [task for task in fleet.tasks if task is not victim]
        if era == wire.LEGACY:
            legacy = [c for c in clients if isinstance(c, LegacySession)]
            assert victim.name in {session.opened_by for session in legacy}
            for session in legacy:  # every session still exists, on every surviving task
                for task in survivors:
                    assert session.request("ping", url=task.url).status_code == 200
    finally:
        for client in clients:
            client.close()

    everything = [o for history in outcomes for o in history]
    failures = [o for o in everything if not o.ok]
    print(f"killed {victim.name}; failed requests: {failures}")
    assert [len(history) for history in outcomes] == [CALLS] * CLIENTS
    assert not [o for o in everything if o.status == 404], "a session was lost"
    assert len(failures) <= CLIENTS, failures
    for history in outcomes:
        assert sum(not o.ok for o in history) <= 1, history
        assert history[-1].ok
    # Only requests already sent to the victim can fail: later ones go to a live task.
    assert all(o.started < killed_at and o.status in (None, 502) for o in failures), failures
    assert any(o.task == victim.name for o in everything if o.ended < killed_at)
    assert not [o for o in everything if o.started > killed_at and o.task == victim.name]


# -- losing Redis for a moment -------------------------------------------------------------


@dataclass
class DuringOutage:
    """What the fleet answered while Redis was down, besides the sessions' calls."""

    opening: httpx.Response  # a new session's initialize through HAProxy
    stateless: httpx.Response  # a 2026-07-28 call that needs no shared state
    live: dict[str, int]  # /healthz of each task
    ready: dict[str, tuple[int, str]]  # /readyz of each task (status, state), once it turned


def probe_outage(fleet: Fleet, *, turn_within: float) -> DuringOutage:
    """Probe the fleet while its Redis is down (bounded: about ``turn_within`` seconds)."""
    opening = wire.legacy_post(fleet.url, None, {
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": wire.LEGACY, "capabilities": {},
                   "clientInfo": {"name": "fleet-tests", "version": "1"}}}, version=None)
    stateless = wire.call(fleet.url, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
    live = {t.name: httpx.get(f"{t.base}/healthz", timeout=2).status_code for t in fleet.tasks}
    return DuringOutage(opening, stateless, live, state_seen(fleet, "unreachable", turn_within))


def state_seen(fleet: Fleet, wanted: str, within: float) -> dict[str, tuple[int, str]]:
    """Each task's /readyz status and the fleet state it reports, polled until every one
    reports ``wanted`` or time is up."""
    deadline = time.monotonic() + within
    while True:
        answers = {t.name: httpx.get(f"{t.base}/readyz", timeout=2) for t in fleet.tasks}
        ready = {name: (a.status_code, a.json().get("state")) for name, a in answers.items()}
        if {state for _, state in ready.values()} == {wanted} or time.monotonic() > deadline:
            return ready
        time.sleep(0.1)


def readiness(fleet: Fleet, wanted: int, within: float) -> dict[str, int]:
    """Each task's /readyz status, polled until every one is ``wanted`` or time is up."""
    deadline = time.monotonic() + within
    while True:
        ready = {t.name: httpx.get(f"{t.base}/readyz", timeout=2).status_code
                 for t in fleet.tasks}
        if set(ready.values()) == {wanted} or time.monotonic() > deadline:
            return ready
        time.sleep(0.1)


def test_redis_restart_means_503_then_the_same_sessions_work(
    make_redis: MakeRedis, make_fleet: MakeFleet
) -> None:
    """While Redis is down for about two seconds, session requests get 503 with Retry-After
    from the tasks (never 404 or 500) and stateless calls still work; once it is back the same
    sessions work on every task, and change notifications cross tasks again."""
    redis = make_redis(persistent=True)
    fleet = make_fleet(redis=redis)
    sessions: list[LegacySession] = []
    outcomes: list[list[Outcome]] = [[] for _ in range(3)]
    stop = threading.Event()
    try:
        for _ in range(3):
            sessions.append(LegacySession(fleet.url))
            sessions[-1].open()

        def drive(index: int) -> None:
            for call in range(600):  # about 30 s at most; stopped much sooner
                if stop.is_set():
                    return
                outcomes[index].append(echo_outcome(sessions[index], call, f"r{index}-{call}"))
                time.sleep(0.05)

        threads, errors = run_clients(len(sessions), drive)
        try:
            time.sleep(0.5)
            down_at = time.monotonic()
            redis.stop()
            during = probe_outage(fleet, turn_within=1.5)
            time.sleep(max(0.0, down_at + 2.0 - time.monotonic()))
            redis.start()
            up_at = time.monotonic()
            deadline = up_at + 15
            while time.monotonic() < deadline and not all(
                    any(o.ok and o.started > up_at for o in history) for history in outcomes):
                time.sleep(0.05)
        finally:
            stop.set()
            join_all(threads, 30)
        assert not errors, errors

        everything = [o for history in outcomes for o in history]
        print(f"outcomes: {Counter(o.status for o in everything)}; down {down_at:.2f}, "
              f"up {up_at:.2f}; {during}")
        assert not [o for o in everything if o.status == 404], "a session was reported gone"
        assert not [o for o in everything if o.status != 503 and not o.ok], everything
        assert not [o for o in everything if o.ended < down_at and not o.ok], everything
        unavailable = [o for o in everything if o.status == 503]
        assert [o for o in unavailable if down_at <= o.started <= up_at], "no 503 while down"
        for o in unavailable:
            assert o.retry_after is not None, o
            assert int(o.retry_after) >= 1, o
            assert o.task is not None, "503 from HAProxy: no task passed its health check"
        assert during.opening.status_code == 503, during.opening.text
        assert int(during.opening.headers["retry-after"]) >= 1
        assert text_of(during.stateless) == "x", during.stateless.text
        assert set(during.live.values()) == {200}, during.live
        # The load balancer's check stays 200: a Redis outage is no reason to replace tasks.
        assert set(during.ready.values()) == {(200, "unreachable")}, during.ready
        for history in outcomes:  # every session recovered by itself
            assert any(o.ok and o.started > up_at for o in history), history[-5:]
        for index, session in enumerate(sessions):  # ... and is known to every task
            for task in fleet.tasks:
                # A task notices Redis is back at its circuit's next probe (2 s apart at most).
                echo = {"name": "echo", "arguments": {"text": f"after-{index}"}}
                deadline = time.monotonic() + 5
                response = session.request("tools/call", echo, url=task.url)
                while response.status_code == 503 and time.monotonic() < deadline:
                    time.sleep(0.1)
                    response = session.request("tools/call", echo, url=task.url)
                assert text_of(response) == f"after-{index}", (task.name, response.text)
    finally:
        for session in sessions:
            session.close()
    assert set(readiness(fleet, 200, 5.0).values()) == {200}
    check_notifications_reach_every_task(fleet)


def check_notifications_reach_every_task(fleet: Fleet, timeout: float = 10.0) -> None:
    """A listen stream on each task directly; tool additions through HAProxy until every
    stream has seen tools/list_changed (each task's subscription to the fleet came back)."""
    listens: list[SseReader] = []
    try:
        listens += [open_listen(task.url) for task in fleet.tasks]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            added = wire.call(fleet.url, "tools/call",
                              {"name": "add_tool", "arguments": {"name": unique("back")}})
            assert rpc_result(added) is not None, added.text
            pause = time.monotonic() + 0.5
            while time.monotonic() < pause:
                if all(listen.count("notifications/tools/list_changed") for listen in listens):
                    return
                time.sleep(0.02)
        missing = [task.name for task, listen in zip(fleet.tasks, listens, strict=True)
                   if not listen.count("notifications/tools/list_changed")]
        raise AssertionError(f"no tools/list_changed reached {missing} after the restart")
    finally:
        for listen in listens:
            listen.close()


def test_fleet_fixture_serves_through_haproxy_without_redis(make_fleet: MakeFleet) -> None:
    """The fleet harness itself: tasks start, HAProxy balances stateless calls over all of them
    and marks a killed task down, and a 2026-07-28 call still succeeds afterwards."""
    fleet = make_fleet(tasks=2)
    answered = [whoami(fleet.url) for _ in range(4)]
    assert {int(text_of(r) or 0) for r in answered} == fleet.pids
    assert {task_of(r) for r in answered} == {"t0", "t1"}
    fleet.kill(0)
    fleet.wait_state("t0", "DOWN")
    after = [whoami(fleet.url) for _ in range(3)]
    assert [task_of(r) for r in after] == ["t1"] * 3


def test_handle_minted_on_one_task_reads_on_another(fleet: Fleet) -> None:
    """A handle minted by a 2026-07-28 call on one task is read back on another."""
    minted = wire.call(fleet.url, "tools/call", {"name": "remember", "arguments": {"value": "v"}})
    handle = minted.json()["result"]["content"][0]["text"]
    read = wire.call(fleet.url, "tools/call", {"name": "recall", "arguments": {"handle": handle}})
    assert task_of(read) != task_of(minted)
    assert read.json()["result"]["content"][0]["text"] == "v"
