"""Bad input that once reached a 500: each gets a clear 4xx (or a tool error), in both
fleet states, and the server goes on serving."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest

from mcpfleet import errors
from mcpfleet.transport.errors import MAPPED, client_error
from tests.conftest import ServerProcess
from tests.wire import (
    call,
    headers_for,
    initialize,
    legacy_call,
    legacy_headers,
    meta,
    post,
    request,
)


def nested(depth: int) -> str:
    """JSON text of objects nested ``depth`` deep (no encoder here writes it)."""
    return '{"a":' * depth + '"x"' + "}" * depth


def raw(url: str, body: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(url, content=body.encode(), headers=headers, timeout=10)


def test_every_exception_of_ours_has_a_row_in_the_map() -> None:
    """Each McpfleetError subclass is mapped to a client error on purpose, so a new
    exception class without a row fails here."""

    def subclasses(kind: type) -> set[type]:
        found = set(kind.__subclasses__())
        for sub in list(found):
            found |= subclasses(sub)
        return found

    import mcpfleet.auth.gate
    import mcpfleet.server.handles
    import mcpfleet.server.legacy
    import mcpfleet.state.base  # noqa: F401

    unmapped = [kind for kind in subclasses(errors.McpfleetError) if not issubclass(kind, MAPPED)]
    assert unmapped == []


def test_unmapped_exceptions_are_internal_errors_without_detail() -> None:
    """An exception the map does not know becomes -32603 with no text from it."""
    error = client_error(RuntimeError("secret detail"))
    assert error.code == -32603
    assert "secret" not in error.message
    assert client_error(errors.StateUnavailable(retry_after=3)).headers == {"retry-after": "3"}


def test_last_event_id_that_is_not_ours_is_400(test_server: ServerProcess) -> None:
    """A Last-Event-ID whose number is a superscript digit, 20 digits long, or empty is
    400, never 500."""
    session_id, _ = initialize(test_server.url)
    for bad in (
        "g1_\u00b2".encode("latin-1"),
        b"g1_" + b"9" * 20,
        b"g1_",
        b"_1",
        b"x" * 300 + b"_1",
    ):
        headers: dict[str, Any] = {
            **legacy_headers(session_id),
            "accept": "text/event-stream",
            "last-event-id": bad,
        }
        response = httpx.get(test_server.url, headers=headers, timeout=10)
        assert response.status_code == 400, (bad, response.text)


def test_deep_nesting_is_refused_on_every_path(test_server: ServerProcess) -> None:
    """A body nested past the bound is -32600 with a message and the request's id, whether
    it is a reply POST, an initialize, an MRTR retry or a tool call."""
    deep = nested(300)
    session_id, _ = initialize(test_server.url)
    reply = raw(
        test_server.url,
        '{"jsonrpc":"2.0","id":"s-1","result":' + deep + "}",
        legacy_headers(session_id),
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == -32600
    init = (
        '{"jsonrpc":"2.0","id":5,"method":"initialize","params":{"protocolVersion":'
        '"2025-11-25","clientInfo":{"name":"t","version":"1"},"capabilities":' + deep + "}}"
    )
    response = raw(test_server.url, init, legacy_headers(version=None))
    assert response.status_code == 400
    assert response.json()["id"] == 5
    message = request(
        "tools/call", {"name": "ask_name", "arguments": {}, "inputResponses": {"q": "DEEP"}}
    )
    body = orjson.dumps(message).decode().replace('"DEEP"', deep)
    retry = raw(test_server.url, body, headers_for(message))
    assert retry.status_code == 400
    assert retry.json()["id"] == message["id"]
    assert "nested" in retry.json()["error"]["message"]
    fine = call(test_server.url, "tools/call", {"name": "echo", "arguments": {"text": "ok"}})
    assert fine.status_code == 200


def test_a_log_level_of_the_wrong_type_is_invalid_params(test_server: ServerProcess) -> None:
    """A logLevel in _meta, or a logging/setLevel level, that is not a string is -32602."""
    message = request(
        "tools/call",
        {
            "name": "echo",
            "arguments": {"text": "a"},
            "_meta": meta(**{"io.modelcontextprotocol/logLevel": []}),
        },
    )
    response = post(test_server.url, message)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32602
    session_id, _ = initialize(test_server.url)
    legacy = legacy_call(test_server.url, session_id, "logging/setLevel", {"level": []})
    assert legacy.json()["error"]["code"] == -32602


@pytest.mark.parametrize("era", ["modern", "legacy"])
def test_a_result_that_cannot_be_encoded_is_a_tool_error(
    test_server: ServerProcess, era: str
) -> None:
    """A tool returning an integer past 64 bits gets an isError result, not a 500."""
    if era == "modern":
        response = call(test_server.url, "tools/call", {"name": "huge", "arguments": {}})
    else:
        session_id, _ = initialize(test_server.url)
        response = legacy_call(
            test_server.url, session_id, "tools/call", {"name": "huge", "arguments": {}}
        )
    assert response.status_code == 200
    result = response.json()["result"]
    assert result["isError"] is True
    assert "cannot be encoded" in result["content"][0]["text"]


@pytest.mark.parametrize(
    "answer",
    [
        {"action": []},
        {"action": "accept", "content": "text"},
        {"action": "accept", "content": [1]},
        [],
        "accept",
    ],
)
def test_malformed_mrtr_answers_are_invalid_params(test_server: ServerProcess, answer: Any) -> None:
    """An inputResponses answer of the wrong shape is -32602, never blamed on the tool."""
    params = {"name": "ask_name", "arguments": {}}
    message = request("tools/call", {**params, "_meta": meta(capabilities={"elicitation": {}})})
    first = post(test_server.url, message).json()["result"]
    key = next(iter(first["inputRequests"]))
    retry = request(
        "tools/call",
        {
            **params,
            "requestState": first["requestState"],
            "inputResponses": {key: answer},
            "_meta": meta(capabilities={"elicitation": {}}),
        },
    )
    response = post(test_server.url, retry)
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == -32602
    assert "failed" not in response.json()["error"]["message"]


def test_errors_keep_the_request_id(test_server: ServerProcess) -> None:
    """An error answered before dispatch (a session the server does not know) carries the
    request's id when the body could be read."""
    message = {"jsonrpc": "2.0", "id": 42, "method": "ping", "params": {}}
    response = httpx.post(
        test_server.url,
        content=orjson.dumps(message),
        timeout=10,
        headers=legacy_headers("no-such-session"),
    )
    assert response.status_code == 404
    assert response.json()["id"] == 42
