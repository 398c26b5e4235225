"""``mcpfleet serve --stdio`` driven with raw JSON lines: the wire rules of the stdio
transport that a client library would hide (2026-07-28 requests, MRTR, listen,
cancellation, concurrency, stdout purity, shutdown)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator

import pytest

from tests.conftest import ROOT
from tests.stdio.raw_peer import MODERN, RawPeer, modern_meta

pytestmark = pytest.mark.timeout(60)

LEGACY_INIT = {
    "protocolVersion": "2025-11-25",
    "capabilities": {"elicitation": {}},
    "clientInfo": {"name": "raw", "version": "1"},
}


@pytest.fixture
def peer() -> Iterator[RawPeer]:
    running = RawPeer()
    yield running
    running.stop()


def call(name: str, arguments: dict[str, object], **capabilities: object) -> dict[str, object]:
    return {"name": name, "arguments": arguments, "_meta": modern_meta(**capabilities)}


def test_stdout_carries_protocol_messages_only(peer: RawPeer) -> None:
    """An app that prints, writes to fd 1 and logs everywhere, at import and in handlers
    of both eras, never puts a byte on stdout that is not a JSON-RPC message."""
    peer.request(1, "tools/call", call("echo", {"text": "a"}))
    peer.request(2, "tools/call", call("add", {"a": 1, "b": 1}))
    peer.request(3, "resources/read", {"uri": "test://greeting", "_meta": modern_meta()})
    peer.request(
        4, "prompts/get", {"name": "review", "arguments": {"code": "c"}, "_meta": modern_meta()}
    )
    for request_id in (1, 2, 3, 4):
        reply, _ = peer.until_reply(request_id)
        assert "result" in reply
    peer.request(5, "initialize", LEGACY_INIT)
    peer.until_reply(5)
    peer.send({"method": "notifications/initialized"})
    peer.request(6, "tools/call", {"name": "echo", "arguments": {"text": "b"}})
    assert peer.until_reply(6)[0]["result"]["content"][0]["text"] == "b"
    peer.close_stdin()
    assert peer.wait() == 0
    assert peer.not_protocol == []
    for text in (
        b"printed at import time",
        b"written to fd 1",
        b"print from echo",
        b"sys.stdout.write from add",
        b"logging from greeting",
        b"library log from review",
    ):
        assert text in peer.stderr


def test_a_script_keeps_stdout_for_the_protocol() -> None:
    """A script that calls ``mcpfleet.stdio.run(app)`` has its handlers' prints and logs
    sent to stderr too."""
    peer = RawPeer(str(ROOT / "tests" / "stdio" / "stdio_app.py"))
    try:
        peer.request(1, "tools/call", call("echo", {"text": "script"}))
        assert peer.until_reply(1)[0]["result"]["content"][0]["text"] == "script"
        peer.close_stdin()
        assert peer.wait() == 0
        assert peer.not_protocol == []
        assert b"print from echo" in peer.stderr
    finally:
        peer.stop()


def test_exits_zero_when_stdin_closes_after_answering(peer: RawPeer) -> None:
    """Closing stdin ends the server with status 0, once the running request is answered."""
    peer.request(1, "tools/call", call("slow", {"seconds": 0.5}))
    peer.close_stdin()
    reply, _ = peer.until_reply(1)
    assert reply["result"]["content"][0]["text"] == "slept 0.5"
    assert peer.wait(timeout=10) == 0
    assert peer.next() is None  # stdout closed


def test_a_slow_tool_does_not_hold_up_other_requests(peer: RawPeer) -> None:
    """A request sent after a slow call is answered while the slow call still runs."""
    peer.request("slow", "tools/call", call("slow", {"seconds": 20}))
    peer.request("quick", "server/discover", {"_meta": modern_meta()})
    reply, before = peer.until_reply("quick", timeout=10)
    assert reply["result"]["resultType"] == "complete"
    assert all(message.get("id") != "slow" for message in before)


def test_cancelled_request_gets_no_reply(peer: RawPeer) -> None:
    """notifications/cancelled stops the request, and nothing more is written for it."""
    peer.request(1, "tools/call", call("slow", {"seconds": 20}))
    peer.send({"method": "notifications/cancelled", "params": {"requestId": 1}})
    peer.request(2, "tools/call", call("echo", {"text": "after"}))
    reply, before = peer.until_reply(2)
    assert reply["result"]["content"][0]["text"] == "after"
    started = time.monotonic()
    peer.close_stdin()
    assert peer.wait(timeout=10) == 0
    assert time.monotonic() - started < 4  # nothing left running to wait for
    rest = []
    while (message := peer.next()) is not None:
        rest.append(message)
    assert all(message.get("id") != 1 for message in before + rest if "method" not in message)


def test_ids_keep_their_type(peer: RawPeer) -> None:
    """Requests with ids 1 and "1" run side by side and are answered each under its own id."""
    peer.request(1, "tools/call", call("echo", {"text": "number"}))
    peer.request("1", "tools/call", call("echo", {"text": "string"}))
    first, _ = peer.until_reply(1)
    second, _ = peer.until_reply("1")
    assert first["result"]["content"][0]["text"] == "number"
    assert second["result"]["content"][0]["text"] == "string"


def test_mrtr_round_trip(peer: RawPeer) -> None:
    """A modern call that elicits ends with InputRequiredResult; the retry with the answer
    and the sealed requestState completes it."""
    peer.request(1, "tools/call", call("ask_name", {}, elicitation={}))
    first, _ = peer.until_reply(1)
    result = first["result"]
    assert result["resultType"] == "input_required"
    ((key, question),) = result["inputRequests"].items()
    assert question["method"] == "elicitation/create"
    retry = call("ask_name", {}, elicitation={})
    retry["inputResponses"] = {key: {"action": "accept", "content": {"name": "Bob"}}}
    retry["requestState"] = result["requestState"]
    peer.request(2, "tools/call", retry)
    second, _ = peer.until_reply(2)
    assert second["result"]["content"][0]["text"] == "accept:Bob"


def test_listen_gets_tagged_list_changed(peer: RawPeer) -> None:
    """subscriptions/listen is acknowledged, then carries tools/list_changed tagged with
    the listen request's id; cancelling it ends it with no reply."""
    peer.request(
        "sub",
        "subscriptions/listen",
        {"notifications": {"toolsListChanged": True}, "_meta": modern_meta()},
    )
    acknowledged = peer.next()
    assert acknowledged["method"] == "notifications/subscriptions/acknowledged"
    assert acknowledged["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub"
    peer.request(1, "tools/call", call("grow", {"name": "grown"}))
    _, before = peer.until_reply(1)
    changed = [m for m in before if m.get("method") == "notifications/tools/list_changed"]
    assert changed
    assert changed[0]["params"]["_meta"]["io.modelcontextprotocol/subscriptionId"] == "sub"
    peer.send({"method": "notifications/cancelled", "params": {"requestId": "sub"}})
    peer.request(2, "tools/call", call("grown", {}))
    reply, before = peer.until_reply(2)
    assert reply["result"]["content"][0]["text"] == "I am grown"
    assert all(message.get("id") != "sub" for message in before)


def test_legacy_session_gets_list_changed_and_server_requests(peer: RawPeer) -> None:
    """In a 2025-era session, list changes and the server's questions are written to
    stdout, and the client's response on stdin completes the call."""
    peer.request(0, "initialize", LEGACY_INIT)
    assert peer.until_reply(0)[0]["result"]["protocolVersion"] == "2025-11-25"
    peer.send({"method": "notifications/initialized"})
    peer.request(1, "tools/call", {"name": "grow", "arguments": {"name": "legacy_grown"}})
    _, before = peer.until_reply(1)
    assert any(m.get("method") == "notifications/tools/list_changed" for m in before)
    peer.request(2, "tools/call", {"name": "ask_name", "arguments": {}})
    question = peer.next()
    assert question["method"] == "elicitation/create"
    assert isinstance(question["id"], str)
    peer.send({"id": question["id"], "result": {"action": "accept", "content": {"name": "Cy"}}})
    reply, _ = peer.until_reply(2)
    assert reply["result"]["content"][0]["text"] == "accept:Cy"
    peer.request(3, "ping", {})
    assert peer.until_reply(3)[0]["result"] == {}


@pytest.mark.parametrize(
    ("method", "params", "code"),
    [
        ("tools/list", {}, -32602),  # no _meta and no session: a modern request missing it
        (
            "tools/list",
            {"_meta": {**modern_meta(), "io.modelcontextprotocol/protocolVersion": "2099-01-01"}},
            -32022,
        ),
        ("ping", {"_meta": modern_meta()}, -32601),  # removed in 2026-07-28
        ("no/such", {"_meta": modern_meta()}, -32601),
    ],
)
def test_modern_errors(peer: RawPeer, method: str, params: dict[str, object], code: int) -> None:
    """Requests the modern era refuses get the specification's error codes."""
    peer.request(7, method, params)
    reply, _ = peer.until_reply(7)
    assert reply["error"]["code"] == code


def test_legacy_log_level_and_cancellation(peer: RawPeer) -> None:
    """In a 2025-era session, logging/setLevel filters the tool's log messages (progress
    still flows), and a cancelled call gets no reply while later requests do."""
    peer.request(0, "initialize", LEGACY_INIT)
    peer.until_reply(0)
    peer.send({"method": "notifications/initialized"})
    peer.request(1, "logging/setLevel", {"level": "error"})
    assert peer.until_reply(1)[0]["result"] == {}
    peer.request(
        2,
        "tools/call",
        {"name": "slow", "arguments": {"seconds": 0.01}, "_meta": {"progressToken": "p"}},
    )
    _, before = peer.until_reply(2)
    assert [m["method"] for m in before] == ["notifications/progress"]
    peer.request(3, "tools/call", {"name": "slow", "arguments": {"seconds": 20}})
    peer.send({"method": "notifications/cancelled", "params": {"requestId": 3}})
    peer.request(4, "ping", {})
    assert peer.until_reply(4)[0]["result"] == {}
    peer.close_stdin()
    assert peer.wait(timeout=10) == 0
    rest = list(iter(peer.next, None))
    assert all(m.get("id") != 3 for m in rest)
    assert "3" not in peer.replies


def test_a_ping_before_initialize_is_answered(peer: RawPeer) -> None:
    """A 2025-era ping (no _meta), allowed before the handshake, gets an empty result."""
    peer.request(1, "ping", {})
    assert peer.until_reply(1)[0]["result"] == {}


def test_unsupported_version_names_the_supported_ones(peer: RawPeer) -> None:
    """A -32022 error lists the supported versions, so a client can pick one."""
    meta = {**modern_meta(), "io.modelcontextprotocol/protocolVersion": "2099-01-01"}
    peer.request(1, "server/discover", {"_meta": meta})
    reply, _ = peer.until_reply(1)
    assert MODERN in reply["error"]["data"]["supported"]


def test_bad_lines_get_errors_and_the_server_goes_on(peer: RawPeer) -> None:
    """Malformed lines are answered with JSON-RPC errors (null id) and do not stop it."""
    assert peer.process.stdin is not None
    peer.process.stdin.write(b'not json\n[1,2]\n\n{"jsonrpc":"2.0","id":true}\n')
    peer.process.stdin.flush()
    errors = [peer.next() for _ in range(3)]
    assert [error["error"]["code"] for error in errors] == [-32700, -32600, -32600]
    assert all(error["id"] is None for error in errors)
    peer.request(1, "server/discover", {"_meta": modern_meta()})
    assert "result" in peer.until_reply(1)[0]


def test_an_oversized_line_is_refused_and_skipped() -> None:
    """A line longer than MAX_BODY_BYTES gets one error and is skipped to its end; the
    messages after it are served."""
    peer = RawPeer(env={"MAX_BODY_BYTES": "2048"})
    try:
        big = {"text": "x" * 200_000}
        peer.request(1, "tools/call", call("echo", big))
        error = peer.next()
        assert error["id"] is None
        assert error["error"]["code"] == -32600
        peer.request(2, "tools/call", call("echo", {"text": "small"}))
        reply, before = peer.until_reply(2)
        assert reply["result"]["content"][0]["text"] == "small"
        assert before == []
    finally:
        peer.stop()


def test_sigterm_stops_at_once(peer: RawPeer) -> None:
    """SIGTERM during a slow call ends the process promptly with status 0."""
    peer.request(1, "tools/call", call("slow", {"seconds": 30}))
    peer.request(2, "server/discover", {"_meta": modern_meta()})
    peer.until_reply(2)
    started = time.monotonic()
    peer.process.send_signal(signal.SIGTERM)
    assert peer.wait(timeout=10) == 0
    assert time.monotonic() - started < 5
