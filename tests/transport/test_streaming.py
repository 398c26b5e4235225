"""Response streams of the modern era: SSE when needed, cancellation, listen streams, MRTR."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from typing import Any

import httpx
import orjson
import pytest

from mcpfleet.protocol.request_state import KeyRing, StateKey, request_binding, seal_request_state
from tests.conftest import STATE_KEY, ServerProcess, serving
from tests.wire import call, headers_for, meta, post, request, sse_messages


def test_plain_call_is_json(test_server: ServerProcess) -> None:
    """A call whose handler sends nothing on the way gets a single JSON response."""
    response = call(test_server.url, "tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    assert response.headers["content-type"] == "application/json"
    result = response.json()["result"]
    assert result["resultType"] == "complete"
    assert result["_meta"]["io.modelcontextprotocol/serverInfo"]["name"] == "behaviours"


def test_structured_output_matches_the_schema(test_server: ServerProcess) -> None:
    """A tool returning a model lists an outputSchema and returns structuredContent."""
    tools = call(test_server.url, "tools/list").json()["result"]
    cursor = tools.get("nextCursor")
    listed = list(tools["tools"])
    while cursor:
        page = call(test_server.url, "tools/list", {"cursor": cursor}).json()["result"]
        listed += page["tools"]
        cursor = page.get("nextCursor")
    weather = next(tool for tool in listed if tool["name"] == "weather")
    assert weather["outputSchema"]["properties"]["celsius"]["type"] == "number"
    params = {"name": "weather", "arguments": {"city": "Oslo"}}
    response = call(test_server.url, "tools/call", params)
    result = response.json()["result"]
    assert result["structuredContent"] == {"city": "Oslo", "celsius": 21.5}
    assert orjson.loads(result["content"][0]["text"]) == result["structuredContent"]


def test_list_pages_carry_cache_hints(test_server: ServerProcess) -> None:
    """Every page of tools/list carries ttlMs and cacheScope, and the pages cover each tool once."""
    names: list[str] = []
    cursor = None
    for _ in range(20):
        params = {"cursor": cursor} if cursor else {}
        result = call(test_server.url, "tools/list", params).json()["result"]
        assert result["ttlMs"] >= 0
        assert result["cacheScope"] in ("public", "private")
        assert len(result["tools"]) <= 3
        names += [tool["name"] for tool in result["tools"]]
        cursor = result.get("nextCursor")
        if cursor is None:
            break
    assert len(names) == len(set(names)) > 3


def test_sync_tool_runs(test_server: ServerProcess) -> None:
    """A synchronous tool is served (in a worker thread)."""
    response = call(test_server.url, "tools/call",
                    {"name": "blocking_sum", "arguments": {"values": [1, 2, 3]}})
    assert response.json()["result"]["structuredContent"] == {"result": 6}


def test_progress_switches_to_sse(test_server: ServerProcess) -> None:
    """A handler that reports progress answers with an SSE stream ending in the result."""
    params = {"name": "slow", "arguments": {"tag": "never-finishes"},
              "_meta": meta(progressToken="tok")}
    headers = headers_for(request("tools/call", params))
    with httpx.stream("POST", test_server.url, headers=headers,
                      content=orjson.dumps(request("tools/call", params)), timeout=10) as stream:
        assert stream.headers["content-type"] == "text/event-stream"
        assert stream.headers["x-accel-buffering"] == "no"
        for line in stream.iter_lines():
            if line.startswith("data:"):
                first = orjson.loads(line[5:])
                break
    assert first["method"] == "notifications/progress"
    assert first["params"]["progressToken"] == "tok"


def test_logs_only_at_the_requested_level(test_server: ServerProcess) -> None:
    """notifications/message flow at or above the request's logLevel, and not without one."""
    quiet = call(test_server.url, "tools/call", {"name": "chatty", "arguments": {}})
    assert quiet.headers["content-type"] == "application/json"
    params = {"name": "chatty", "arguments": {},
              "_meta": meta(**{"io.modelcontextprotocol/logLevel": "warning"})}
    loud = post(test_server.url, request("tools/call", params))
    messages = sse_messages(loud.text)
    levels = [m["params"]["level"] for m in messages if m.get("method") == "notifications/message"]
    assert levels == ["warning", "error"]
    assert messages[-1]["result"]["content"][0]["text"] == "logged"


def test_closing_the_stream_cancels_the_call(test_server: ServerProcess) -> None:
    """When the client closes its response stream, the handler is cancelled."""
    tag = f"cancel-{time.monotonic_ns()}"
    params = {"name": "slow", "arguments": {"tag": tag}, "_meta": meta(progressToken=1)}
    message = request("tools/call", params)
    with httpx.stream("POST", test_server.url, headers=headers_for(message),
                      content=orjson.dumps(message), timeout=10) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                break
    deadline = time.monotonic() + 5
    state = None
    while time.monotonic() < deadline:
        state = call(test_server.url, "tools/call",
                     {"name": "event_of", "arguments": {"tag": tag}}).json()["result"]
        if state["content"][0]["text"] == "cancelled":
            break
        time.sleep(0.05)
    assert state is not None
    assert state["content"][0]["text"] == "cancelled"


class ListenStream:
    """A subscriptions/listen stream read by an event loop in a thread; closed on exit."""

    def __init__(self, url: str, notifications: dict[str, Any], request_id: Any = "listen-1",
                 capabilities: dict[str, Any] | None = None, **headers: str):
        params = {"notifications": notifications, "_meta": meta(capabilities=capabilities or {})}
        self.message = request("subscriptions/listen", params, request_id=request_id)
        self.headers = headers
        self.url = url
        self.events: list[dict[str, Any]] = []
        self.comments = 0
        self.ready = threading.Event()
        self._loop = asyncio.new_event_loop()
        self._task: asyncio.Task[None] | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ListenStream:
        self._thread.start()
        assert self.ready.wait(5), "no acknowledgement"
        return self

    def __exit__(self, *exc: object) -> None:
        if self._task is not None:
            self._loop.call_soon_threadsafe(self._task.cancel)
        self._thread.join(5)
        assert not self._thread.is_alive()

    def _run(self) -> None:
        self._task = self._loop.create_task(self._read())
        with contextlib.suppress(asyncio.CancelledError):
            self._loop.run_until_complete(self._task)
        self._loop.close()

    async def _read(self) -> None:
        async with httpx.AsyncClient(timeout=30) as client, client.stream(
            "POST", self.url, headers=headers_for(self.message, **self.headers),
            content=orjson.dumps(self.message),
        ) as response:
            async for line in response.aiter_lines():
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("data:"):
                    self.events.append(orjson.loads(line[5:]))
                    self.ready.set()

    def wait_for(self, method: str, timeout: float = 5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for event in self.events:
                if event.get("method") == method:
                    return event
            time.sleep(0.02)
        raise AssertionError(f"no {method} on the listen stream: {self.events}")


def test_listen_acknowledges_then_delivers_filtered_notifications(
    test_server: ServerProcess,
) -> None:
    """The ack comes first, then only the chosen notifications, each tagged with the id."""
    wanted = {"toolsListChanged": True,
              "resourceSubscriptions": ["behaviours://note"]}
    with ListenStream(test_server.url, wanted) as listen:
        ack = listen.events[0]
        assert ack["method"] == "notifications/subscriptions/acknowledged"
        assert ack["params"]["notifications"] == wanted
        call(test_server.url, "tools/call", {"name": "touch", "arguments": {"uri": "other://x"}})
        call(test_server.url, "tools/call",
             {"name": "touch", "arguments": {"uri": "behaviours://note"}})
        call(test_server.url, "tools/call",
             {"name": "add_tool", "arguments": {"name": f"t{time.monotonic_ns()}"}})
        updated = listen.wait_for("notifications/resources/updated")
        listen.wait_for("notifications/tools/list_changed")
    assert updated["params"]["uri"] == "behaviours://note"
    uris = [e["params"].get("uri") for e in listen.events
            if e.get("method") == "notifications/resources/updated"]
    assert uris == ["behaviours://note"]
    for event in listen.events:
        assert event["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "listen-1"


def test_listen_requires_a_filter_object(test_server: ServerProcess) -> None:
    """A listen request whose filter is not an object gets -32602."""
    response = call(test_server.url, "subscriptions/listen", {"notifications": ["tools"]})
    assert response.json()["error"]["code"] == -32602


# -- MRTR ------------------------------------------------------------------------

ELICIT = {"elicitation": {}}


def _ask_name(url: str, extra: dict[str, Any] | None = None, **caps: Any) -> dict[str, Any]:
    params = {"name": "ask_name", "arguments": {}, "_meta": meta(capabilities=caps or ELICIT),
              **(extra or {})}
    body: dict[str, Any] = call(url, "tools/call", params).json()
    return body


def test_mrtr_round_trip(test_server: ServerProcess) -> None:
    """An elicitation ends the first pass; the retry with the answer completes the call."""
    first = _ask_name(test_server.url)["result"]
    assert first["resultType"] == "input_required"
    (key,) = first["inputRequests"]
    assert first["inputRequests"][key]["method"] == "elicitation/create"
    answer = {key: {"action": "accept", "content": {"name": "Ada"}}}
    second = _ask_name(test_server.url, {"inputResponses": answer,
                                         "requestState": first["requestState"]})
    assert second["result"]["content"][0]["text"] == "Hello, Ada!"


def test_mrtr_needs_the_capability(test_server: ServerProcess) -> None:
    """Asking a client that did not declare elicitation gets -32021 naming it."""
    body = _ask_name(test_server.url, roots={})
    assert body["error"]["code"] == -32021
    assert body["error"]["data"]["requiredCapabilities"] == {"elicitation": {}}


@pytest.mark.parametrize("kind", ["flipped", "foreign-key", "expired", "other-tool", "junk"])
def test_forged_or_expired_state_is_refused(test_server: ServerProcess, kind: str) -> None:
    """A requestState that was altered, expired or made for another request gets -32602."""
    first = _ask_name(test_server.url)["result"]
    state = first["requestState"]
    ring = KeyRing([StateKey("test", STATE_KEY)])
    binding = request_binding("tools/call", "ask_name", None)
    if kind == "flipped":
        state = state[:-3] + ("A" if state[-3] != "A" else "B") + state[-2:]
    elif kind == "foreign-key":
        foreign = KeyRing([StateKey("test", b"x" * 32)])
        state = seal_request_state({"answers": {}, "pending": []}, ring=foreign,
                                   binding=binding, now=time.time(), ttl_seconds=60)
    elif kind == "expired":
        state = seal_request_state({"answers": {}, "pending": []}, ring=ring, binding=binding,
                                   now=time.time() - 3600, ttl_seconds=60)
    elif kind == "other-tool":
        state = seal_request_state({"answers": {}, "pending": []}, ring=ring,
                                   binding=request_binding("tools/call", "echo", None),
                                   now=time.time(), ttl_seconds=60)
    else:
        state = "not-a-state"
    body = _ask_name(test_server.url, {"requestState": state,
                                       "inputResponses": {"q0": {"action": "cancel"}}})
    assert body["error"]["code"] == -32602


def test_state_sealed_with_the_fleet_key_is_accepted(test_server: ServerProcess) -> None:
    """A state sealed elsewhere with the configured key verifies here (any task of a fleet)."""
    ring = KeyRing([StateKey("test", STATE_KEY)])
    state = seal_request_state({"answers": {}, "pending": ["q0"]}, ring=ring,
                               binding=request_binding("tools/call", "ask_name", None),
                               now=time.time(), ttl_seconds=60)
    answer = {"q0": {"action": "accept", "content": {"name": "Grace"}}}
    body = _ask_name(test_server.url, {"requestState": state, "inputResponses": answer})
    assert body["result"]["content"][0]["text"] == "Hello, Grace!"


@pytest.mark.parametrize("answer", [12345, {"action": "maybe"}, None],
                         ids=["number", "bad-action", "null"])
def test_malformed_answer_is_invalid_params(test_server: ServerProcess, answer: Any) -> None:
    """An input response that is not an ElicitResult gets -32602, not a crash."""
    first = _ask_name(test_server.url)["result"]
    (key,) = first["inputRequests"]
    body = _ask_name(test_server.url, {"requestState": first["requestState"],
                                       "inputResponses": {key: answer}})
    assert body["error"]["code"] == -32602


def test_listen_sends_keepalive_comments() -> None:
    """A quiet listen stream carries SSE comments at the configured interval."""
    with serving("tests.apps.behaviours:app", {"KEEPALIVE_SECONDS": "0.1"}) as server:
        with ListenStream(server.url, {"toolsListChanged": True}) as listen:
            deadline = time.monotonic() + 5
            while listen.comments < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        assert listen.comments >= 3


def test_handles_are_bound_to_their_principal(test_server: ServerProcess) -> None:
    """A minted handle reads back for its principal only; others get -32602."""
    minted = call(test_server.url, "tools/call", {"name": "remember", "arguments": {
        "value": "kept"}}, x_user="alice").json()["result"]
    handle = minted["content"][0]["text"]
    params = {"name": "recall", "arguments": {"handle": handle}}
    mine = call(test_server.url, "tools/call", params, x_user="alice").json()
    assert mine["result"]["content"][0]["text"] == "kept"
    theirs = call(test_server.url, "tools/call", params, x_user="mallory").json()
    assert theirs["error"]["code"] == -32602
    unknown = call(test_server.url, "tools/call",
                   {"name": "recall", "arguments": {"handle": "h_nothing"}}).json()
    assert unknown["error"]["code"] == -32602
