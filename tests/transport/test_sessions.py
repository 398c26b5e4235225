"""2025-era sessions on the shared endpoint: lifecycle, streams, resumption, bad input."""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx
import orjson
import pytest

from mcpfleet.protocol.sse import EventParser
from tests.conftest import ServerProcess, serving
from tests.wire import (
    initialize,
    initialize_message,
    legacy_call,
    legacy_headers,
    legacy_post,
)


def result_of(response: httpx.Response) -> Any:
    """The JSON-RPC result of a JSON or SSE response."""
    if response.headers["content-type"].startswith("text/event-stream"):
        parser = EventParser()
        messages = [orjson.loads(e.data) for e in parser.feed(response.content) if e.data]
        final = [m for m in messages if "id" in m and ("result" in m or "error" in m)]
        return final[-1].get("result", final[-1].get("error"))
    body = response.json()
    return body.get("result", body.get("error"))


# -- lifecycle -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asked", "answered"),
    [
        ("2025-03-26", "2025-03-26"),
        ("2025-06-18", "2025-06-18"),
        ("2025-11-25", "2025-11-25"),
        ("2024-11-05", "2025-11-25"),
        ("1999-01-01", "2025-11-25"),
    ],
)
def test_initialize_negotiates_the_version(
    test_server: ServerProcess, asked: str, answered: str
) -> None:
    """The server answers with the client's version when it speaks it, else its latest."""
    session_id, result = initialize(test_server.url, asked)
    assert result["protocolVersion"] == answered
    assert result["serverInfo"]["name"] == "behaviours"
    assert "tools" in result["capabilities"]
    assert len(session_id) >= 22  # at least 128 random bits
    assert all(0x21 <= ord(ch) <= 0x7E for ch in session_id)


def test_session_ids_are_unique(test_server: ServerProcess) -> None:
    """Every initialize mints a new session id."""
    ids = {initialize(test_server.url)[0] for _ in range(20)}
    assert len(ids) == 20


def test_requests_need_a_session(test_server: ServerProcess) -> None:
    """A non-initialize request without a session id gets 400."""
    response = legacy_post(test_server.url, None, {"jsonrpc": "2.0", "id": 1, "method": "ping"})
    assert response.status_code == 400


@pytest.mark.parametrize("session_id", ["has space", "tab\there", "x" * 300, "mid\x7fdle"])
def test_invalid_session_ids_are_400(test_server: ServerProcess, session_id: str) -> None:
    """A session id with characters outside visible ASCII (or absurdly long) gets 400."""
    response = legacy_post(
        test_server.url, session_id, {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    )
    assert response.status_code == 400


def test_unknown_session_is_404(test_server: ServerProcess) -> None:
    """A well-formed id the server never issued gets 404, so the client starts over."""
    response = legacy_call(test_server.url, "never-issued-session-id", "ping")
    assert response.status_code == 404


def test_delete_ends_the_session_everywhere(test_server: ServerProcess) -> None:
    """After DELETE, POST, GET and DELETE with that id all get 404."""
    session_id, _ = initialize(test_server.url)
    assert legacy_call(test_server.url, session_id, "ping").status_code == 200
    deleted = httpx.delete(test_server.url, headers=legacy_headers(session_id))
    assert deleted.status_code in (200, 204)
    assert legacy_call(test_server.url, session_id, "ping").status_code == 404
    get = httpx.get(test_server.url, headers=legacy_headers(session_id, accept="text/event-stream"))
    assert get.status_code == 404
    assert httpx.delete(test_server.url, headers=legacy_headers(session_id)).status_code == 404


def test_protocol_version_header_rules(test_server: ServerProcess) -> None:
    """An absent version header is 2025-03-26; an unknown one gets 400."""
    session_id, _ = initialize(test_server.url)
    ping = {"jsonrpc": "2.0", "id": 3, "method": "ping"}
    assert legacy_post(test_server.url, session_id, ping, version=None).status_code == 200
    bad = legacy_post(test_server.url, session_id, ping, version="2025-13-45")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == -32022


def test_session_is_bound_to_its_principal(test_server: ServerProcess) -> None:
    """Another principal presenting a session id gets 404; the owner keeps the session."""
    message = initialize_message()
    opened = httpx.post(
        test_server.url,
        content=orjson.dumps(message),
        headers=legacy_headers(version=None, x_user="alice"),
    )
    session_id = opened.headers["mcp-session-id"]
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    assert legacy_post(test_server.url, session_id, ping, x_user="mallory").status_code == 404
    assert legacy_post(test_server.url, session_id, ping).status_code == 404
    assert legacy_post(test_server.url, session_id, ping, x_user="alice").status_code == 200


def test_idle_sessions_expire() -> None:
    """A session unused for longer than the idle timeout is gone (404)."""
    with serving("tests.apps.behaviours:app", {"SESSION_TTL_SECONDS": "1"}) as server:
        session_id, _ = initialize(server.url)
        assert legacy_call(server.url, session_id, "ping").status_code == 200
        time.sleep(1.3)
        assert legacy_call(server.url, session_id, "ping").status_code == 404


def test_session_limit_is_503_with_retry_after() -> None:
    """Past the maximum number of sessions, initialize gets 503 with Retry-After."""
    with serving("tests.apps.behaviours:app", {"MAX_SESSIONS": "2"}) as server:
        initialize(server.url)
        initialize(server.url)
        message = initialize_message()
        response = legacy_post(server.url, None, message, version=None)
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) > 0


# -- results of the era ------------------------------------------------------------


def test_legacy_results_have_no_modern_fields(test_server: ServerProcess) -> None:
    """2025-era results carry no resultType or cache hints."""
    session_id, _ = initialize(test_server.url)
    result = result_of(legacy_call(test_server.url, session_id, "tools/list"))
    assert "tools" in result
    assert "resultType" not in result
    assert "ttlMs" not in result


def test_missing_resource_is_the_legacy_code(test_server: ServerProcess) -> None:
    """resources/read of an unknown URI is -32002 in the 2025 era."""
    session_id, _ = initialize(test_server.url)
    error = result_of(
        legacy_call(test_server.url, session_id, "resources/read", {"uri": "behaviours://nope"})
    )
    assert error["code"] == -32002


def test_log_level_filters_messages(test_server: ServerProcess) -> None:
    """logging/setLevel decides which notifications/message reach the client."""
    session_id, _ = initialize(test_server.url)
    assert (
        result_of(legacy_call(test_server.url, session_id, "logging/setLevel", {"level": "error"}))
        == {}
    )
    response = legacy_call(
        test_server.url, session_id, "tools/call", {"name": "chatty", "arguments": {}}
    )
    levels = [
        orjson.loads(e.data)["params"]["level"]
        for e in EventParser().feed(response.content)
        if e.data and "notifications/message" in e.data
    ]
    assert levels == ["error"]


# -- server-to-client requests -------------------------------------------------------


class Caller(threading.Thread):
    """Runs one tools/call of a session in a thread and records the SSE messages."""

    def __init__(self, url: str, session_id: str, name: str, arguments: dict[str, Any]):
        super().__init__(daemon=True)
        self.url, self.session_id = url, session_id
        self.message = {
            "jsonrpc": "2.0",
            "id": 77,
            "method": "tools/call",
            "params": {"name": name, "arguments": arguments},
        }
        self.messages: list[dict[str, Any]] = []
        self.events: list[str] = []
        self.first = threading.Event()
        self.stop_after: int | None = None

    def run(self) -> None:
        parser = EventParser()
        with httpx.stream(
            "POST",
            self.url,
            content=orjson.dumps(self.message),
            timeout=20,
            headers=legacy_headers(self.session_id),
        ) as response:
            for chunk in response.iter_raw():
                for event in parser.feed(chunk):
                    if event.id:
                        self.events.append(event.id)
                    if event.data:
                        self.messages.append(orjson.loads(event.data))
                        self.first.set()
                if self.stop_after is not None and len(self.messages) >= self.stop_after:
                    return


def test_elicitation_reply_resumes_the_handler(test_server: ServerProcess) -> None:
    """The server's elicitation request arrives on the POST stream; the reply POST finishes it."""
    session_id, _ = initialize(test_server.url, capabilities={"elicitation": {}})
    caller = Caller(test_server.url, session_id, "ask_name", {})
    caller.start()
    assert caller.first.wait(5)
    request = caller.messages[0]
    assert request["method"] == "elicitation/create"
    reply = {
        "jsonrpc": "2.0",
        "id": request["id"],
        "result": {"action": "accept", "content": {"name": "Ada"}},
    }
    assert legacy_post(test_server.url, session_id, reply).status_code == 202
    caller.join(5)
    assert caller.messages[-1]["result"]["content"][0]["text"] == "Hello, Ada!"


def test_replies_to_unknown_or_foreign_requests_are_refused(test_server: ServerProcess) -> None:
    """A reply to an id nobody asked, or from another session, is 400; the asker still waits."""
    owner, _ = initialize(test_server.url, capabilities={"elicitation": {}})
    other, _ = initialize(test_server.url, capabilities={"elicitation": {}})
    caller = Caller(test_server.url, owner, "ask_name", {})
    caller.start()
    assert caller.first.wait(5)
    request_id = caller.messages[0]["id"]
    answer = {"action": "accept", "content": {"name": "Eve"}}
    foreign = legacy_post(
        test_server.url, other, {"jsonrpc": "2.0", "id": request_id, "result": answer}
    )
    assert foreign.status_code == 400
    unknown = legacy_post(
        test_server.url, owner, {"jsonrpc": "2.0", "id": "s-nobody", "result": answer}
    )
    assert unknown.status_code == 400
    numeric = legacy_post(test_server.url, owner, {"jsonrpc": "2.0", "id": 12, "result": answer})
    assert numeric.status_code == 400
    real = {"action": "accept", "content": {"name": "Ann"}}
    legacy_post(test_server.url, owner, {"jsonrpc": "2.0", "id": request_id, "result": real})
    caller.join(5)
    assert caller.messages[-1]["result"]["content"][0]["text"] == "Hello, Ann!"


def test_asking_without_the_capability_is_a_tool_error(test_server: ServerProcess) -> None:
    """A tool that elicits from a client without elicitation gets a clear isError result."""
    session_id, _ = initialize(test_server.url)
    result = result_of(
        legacy_call(
            test_server.url, session_id, "tools/call", {"name": "ask_name", "arguments": {}}
        )
    )
    assert result["isError"] is True
    assert "elicitation" in result["content"][0]["text"]


def test_cancelled_notification_stops_the_handler(test_server: ServerProcess) -> None:
    """notifications/cancelled cancels the running request of that session."""
    session_id, _ = initialize(test_server.url)
    tag = f"legacy-cancel-{time.monotonic_ns()}"
    caller = Caller(test_server.url, session_id, "slow", {"tag": tag})
    caller.message["params"]["_meta"] = {"progressToken": 1}
    caller.start()
    assert caller.first.wait(5)
    cancel = {
        "jsonrpc": "2.0",
        "method": "notifications/cancelled",
        "params": {"requestId": 77, "reason": "test"},
    }
    assert legacy_post(test_server.url, session_id, cancel).status_code == 202
    caller.join(5)
    state = result_of(
        legacy_call(
            test_server.url,
            session_id,
            "tools/call",
            {"name": "event_of", "arguments": {"tag": tag}},
        )
    )
    assert state["content"][0]["text"] == "cancelled"


# -- streams and resumption ----------------------------------------------------------


def test_dropped_stream_resumes_exactly_once_in_order(test_server: ServerProcess) -> None:
    """A client that drops a POST stream mid-call and resumes with Last-Event-ID gets
    every event exactly once, in order, then the result."""
    session_id, _ = initialize(test_server.url)
    caller = Caller(test_server.url, session_id, "ticker", {"count": 12, "delay": 0.05})
    caller.stop_after = 4
    caller.start()
    caller.join(10)
    seen = [m["params"]["data"] for m in caller.messages if m.get("method")]
    last_event_id = caller.events[-1]
    parser = EventParser()
    resumed: list[dict[str, Any]] = []
    with httpx.stream(
        "GET",
        test_server.url,
        timeout=20,
        headers=legacy_headers(session_id, accept="text/event-stream", last_event_id=last_event_id),
    ) as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            resumed += [orjson.loads(e.data) for e in parser.feed(chunk) if e.data]
    seen += [m["params"]["data"] for m in resumed if m.get("method")]
    assert seen == list(range(12))
    assert resumed[-1]["result"]["content"][0]["text"] == "ticked 12"


def test_stale_last_event_id_is_refused_and_harmless(test_server: ServerProcess) -> None:
    """An unknown Last-Event-ID gets 400, and the session goes on working."""
    session_id, _ = initialize(test_server.url)
    response = httpx.get(
        test_server.url,
        headers=legacy_headers(session_id, accept="text/event-stream", last_event_id="pnope_99"),
    )
    assert response.status_code == 400
    assert legacy_call(test_server.url, session_id, "ping").status_code == 200


def test_get_needs_a_session(test_server: ServerProcess) -> None:
    """A GET stream without a session id is refused with a clear error."""
    response = httpx.get(test_server.url, headers=legacy_headers(accept="text/event-stream"))
    assert response.status_code == 400


class GetStream(threading.Thread):
    """A session's GET stream read in a thread."""

    def __init__(self, url: str, session_id: str):
        super().__init__(daemon=True)
        self.url, self.session_id = url, session_id
        self.messages: list[dict[str, Any]] = []
        self.status = 0
        self.open = threading.Event()
        self.client = httpx.Client(timeout=20)

    def run(self) -> None:
        parser = EventParser()
        try:
            with self.client.stream(
                "GET", self.url, headers=legacy_headers(self.session_id, accept="text/event-stream")
            ) as response:
                self.status = response.status_code
                self.open.set()
                for chunk in response.iter_raw():
                    self.messages += [orjson.loads(e.data) for e in parser.feed(chunk) if e.data]
        except httpx.HTTPError:
            pass
        finally:
            self.client.close()
            self.open.set()

    def wait_for(self, method: str, timeout: float = 5) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in self.messages:
                if message.get("method") == method:
                    return message
            time.sleep(0.02)
        raise AssertionError(f"no {method}: {self.messages}")


def test_get_stream_delivers_subscribed_updates_and_list_changes(
    test_server: ServerProcess,
) -> None:
    """The GET stream carries list changes and updates of subscribed resources only."""
    session_id, _ = initialize(test_server.url)
    legacy_call(test_server.url, session_id, "resources/subscribe", {"uri": "behaviours://note"})
    stream = GetStream(test_server.url, session_id)
    stream.start()
    assert stream.open.wait(5)
    assert stream.status == 200
    time.sleep(0.2)
    second = httpx.get(
        test_server.url, headers=legacy_headers(session_id, accept="text/event-stream")
    )
    assert second.status_code == 409
    legacy_call(
        test_server.url,
        session_id,
        "tools/call",
        {"name": "touch", "arguments": {"uri": "behaviours://other"}},
    )
    legacy_call(
        test_server.url,
        session_id,
        "tools/call",
        {"name": "touch", "arguments": {"uri": "behaviours://note"}},
    )
    legacy_call(
        test_server.url,
        session_id,
        "tools/call",
        {"name": "add_tool", "arguments": {"name": f"g{time.monotonic_ns()}"}},
    )
    updated = stream.wait_for("notifications/resources/updated")
    stream.wait_for("notifications/tools/list_changed")
    assert updated["params"]["uri"] == "behaviours://note"
    uris = [
        m["params"]["uri"]
        for m in stream.messages
        if m.get("method") == "notifications/resources/updated"
    ]
    assert uris == ["behaviours://note"]
    httpx.delete(test_server.url, headers=legacy_headers(session_id))
    stream.join(5)
    assert not stream.is_alive(), "DELETE must end the session's GET stream"


def test_server_pings_the_client(test_server: ServerProcess) -> None:
    """ctx.ping() sends a ping request on the stream and waits for the client's reply."""
    session_id, _ = initialize(test_server.url)
    caller = Caller(test_server.url, session_id, "ping_client", {})
    caller.start()
    assert caller.first.wait(5)
    request = caller.messages[0]
    assert request["method"] == "ping"
    reply = {"jsonrpc": "2.0", "id": request["id"], "result": {}}
    assert legacy_post(test_server.url, session_id, reply).status_code == 202
    caller.join(5)
    assert caller.messages[-1]["result"]["content"][0]["text"] == "pong"
