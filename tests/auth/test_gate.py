"""Every request of both eras passes the gate: principal first, then scopes and limits.

Run against a real server (uvicorn in a child process) whose app names callers by an
API key, once with state in memory and once in Redis.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests import wire
from tests.conftest import STATE_KEYS, ServerProcess, serving
from tests.wire import LEGACY, headers_for, legacy_headers, meta, request

MODERN_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("server/discover", {}),
    ("tools/list", {}),
    ("tools/call", {"name": "whoami", "arguments": {}}),
    (
        "tools/call",
        {"name": "confirm", "arguments": {}, "inputResponses": {"x": {"action": "accept"}}},
    ),  # an MRTR retry
    ("resources/list", {}),
    ("resources/templates/list", {}),
    ("resources/read", {"uri": "docs://public"}),
    ("prompts/list", {}),
    ("prompts/get", {"name": "summarise", "arguments": {"doc": "a"}}),
    (
        "completion/complete",
        {
            "ref": {"type": "ref/prompt", "name": "summarise"},
            "argument": {"name": "doc", "value": ""},
        },
    ),
    ("subscriptions/listen", {"notifications": {"toolsListChanged": True}}),
]

LEGACY_CALLS: list[tuple[str, dict[str, Any]]] = [
    ("ping", {}),
    ("tools/list", {}),
    ("tools/call", {"name": "whoami", "arguments": {}}),
    ("resources/list", {}),
    ("resources/templates/list", {}),
    ("resources/read", {"uri": "docs://public"}),
    ("resources/subscribe", {"uri": "docs://public"}),
    ("resources/unsubscribe", {"uri": "docs://public"}),
    ("prompts/list", {}),
    ("prompts/get", {"name": "summarise", "arguments": {"doc": "a"}}),
    (
        "completion/complete",
        {
            "ref": {"type": "ref/prompt", "name": "summarise"},
            "argument": {"name": "doc", "value": ""},
        },
    ),
    ("logging/setLevel", {"level": "debug"}),
]


@pytest.fixture(scope="module", params=["memory", "redis"])
def guarded(request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    env = {"REQUEST_STATE_KEYS": STATE_KEYS, "MAX_SESSIONS_PER_PRINCIPAL": "40"}
    if request.param == "redis":
        env["REDIS_URL"] = request.getfixturevalue("redis_url")
    with serving("tests.auth.guarded_app:keys_app", env) as server:
        yield server


def modern(
    url: str, method: str, params: dict[str, Any], key: str | None, **extra: str
) -> httpx.Response:
    message = request(method, {**params, "_meta": meta(capabilities={"elicitation": {}})})
    headers = headers_for(message, **extra)
    if key is not None:
        headers["x-api-key"] = key
    return httpx.post(url, content=orjson.dumps(message), headers=headers, timeout=10)


def open_session(url: str, key: str) -> str:
    return wire.open_session(url, x_api_key=key)


def legacy(
    url: str,
    session_id: str | None,
    message: dict[str, Any],
    key: str | None,
    method: str = "POST",
    **extra: str,
) -> httpx.Response:
    headers = legacy_headers(session_id, **extra)
    if key is not None:
        headers["x-api-key"] = key
    if method == "POST":
        return httpx.post(url, content=orjson.dumps(message), headers=headers, timeout=10)
    headers["accept"] = "text/event-stream"
    return httpx.request(method, url, headers=headers, timeout=10)


def assert_challenge(response: httpx.Response, error: str | None = None) -> None:
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer")
    if error is not None:
        assert f'error="{error}"' in challenge
    body = response.json()
    assert body["error"]["code"] == -32001


@pytest.mark.parametrize(("method", "params"), MODERN_CALLS, ids=[m for m, _ in MODERN_CALLS])
def test_modern_methods_need_a_principal(
    guarded: ServerProcess, method: str, params: dict[str, Any]
) -> None:
    """Every 2026-07-28 method, an MRTR retry and subscriptions/listen included, is refused
    with 401 and a Bearer challenge when the caller has no credentials."""
    assert_challenge(modern(guarded.url, method, params, None))
    assert_challenge(modern(guarded.url, method, params, "wrong-key"), "invalid_token")


@pytest.mark.parametrize(("method", "params"), LEGACY_CALLS, ids=[m for m, _ in LEGACY_CALLS])
def test_legacy_methods_need_a_principal(
    guarded: ServerProcess, method: str, params: dict[str, Any]
) -> None:
    """Every 2025-era method of an open session is refused with 401 without credentials,
    and with a wrong key, even though the session id is valid."""
    session_id = open_session(guarded.url, "key-writer")
    message = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params}
    assert_challenge(legacy(guarded.url, session_id, message, None))
    assert_challenge(legacy(guarded.url, session_id, message, "wrong-key"), "invalid_token")
    assert legacy(guarded.url, session_id, message, "key-writer").status_code == 200


def test_legacy_paths_without_a_method_need_a_principal(guarded: ServerProcess) -> None:
    """initialize, notifications, a reply POST, the GET stream, a resumption and DELETE
    are each refused with 401 without credentials; the session survives them."""
    url = guarded.url
    init = {
        "jsonrpc": "2.0",
        "id": 0,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "tests", "version": "1"},
        },
    }
    assert_challenge(legacy(url, None, init, None, version=None))
    session_id = open_session(url, "key-writer")
    for message in (
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 1}},
        {"jsonrpc": "2.0", "id": "s-unknown", "result": {}},
    ):
        assert_challenge(legacy(url, session_id, message, None))
    assert_challenge(legacy(url, session_id, {}, None, method="GET"))
    assert_challenge(legacy(url, session_id, {}, None, method="GET", last_event_id="g1_1"))
    assert_challenge(legacy(url, session_id, {}, None, method="DELETE"))
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {}}
    assert legacy(url, session_id, ping, "key-writer").status_code == 200


def test_a_session_belongs_to_its_principal(guarded: ServerProcess) -> None:
    """Another caller presenting a session id gets 404, as if the session did not exist;
    the owner's DELETE ends it."""
    url = guarded.url
    session_id = open_session(url, "key-writer")
    ping = {"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {}}
    assert legacy(url, session_id, ping, "key-reader").status_code == 404
    assert legacy(url, session_id, {}, "key-reader", method="DELETE").status_code == 404
    assert legacy(url, session_id, {}, "key-writer", method="DELETE").status_code == 204
    assert legacy(url, session_id, ping, "key-writer").status_code == 404


def test_scopes_decide_each_target(guarded: ServerProcess) -> None:
    """A caller lacking a target's scope gets 403 with an insufficient_scope challenge naming
    every scope it needs; a broader scope covers narrower ones (docs covers docs:read)."""
    url = guarded.url
    write = {"name": "write_doc", "arguments": {"doc": "a", "text": "b"}}
    refused = modern(url, "tools/call", write, "key-reader")
    assert refused.status_code == 403
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert 'scope="docs:write"' in challenge
    assert refused.json()["error"]["code"] == -32003
    assert refused.json()["error"]["data"] == {"requiredScopes": ["docs:write"]}
    for key, params, method in (
        ("key-none", {"name": "read_doc", "arguments": {"doc": "a"}}, "tools/call"),
        ("key-reader", {"uri": "docs://secret"}, "resources/read"),
        ("key-none", {"uri": "docs://items/7"}, "resources/read"),
        ("key-none", {"name": "summarise", "arguments": {"doc": "a"}}, "prompts/get"),
    ):
        assert modern(url, method, params, key).status_code == 403, (key, params)
    admin = modern(url, "resources/read", {"uri": "docs://secret"}, "key-admin")
    assert admin.status_code == 200
    assert admin.json()["result"]["contents"][0]["text"] == "secret"
    read = modern(url, "tools/call", {"name": "read_doc", "arguments": {"doc": "a"}}, "key-admin")
    assert read.json()["result"]["content"][0]["text"] == "contents of a"
    session_id = open_session(url, "key-reader")
    message = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": write}
    legacy_refused = legacy(url, session_id, message, "key-reader")
    assert legacy_refused.status_code == 403
    assert legacy_refused.json()["id"] == 3


def test_listings_show_what_a_caller_may_use(guarded: ServerProcess) -> None:
    """tools/list, resources/list, templates and prompts/list hide what the caller's scopes
    do not allow, and such a listing is marked private for caches."""
    url = guarded.url

    def names(key: str, method: str, field: str, name: str = "name") -> list[str]:
        result = modern(url, method, {}, key).json()["result"]
        assert result["cacheScope"] == "private"
        return [item[name] for item in result[field]]

    assert names("key-none", "tools/list", "tools") == [
        "whoami",
        "tick",
        "confirm",
        "keep",
        "fetch",
    ]
    assert "read_doc" in names("key-reader", "tools/list", "tools")
    assert "write_doc" not in names("key-reader", "tools/list", "tools")
    assert "write_doc" in names("key-writer", "tools/list", "tools")
    assert names("key-reader", "resources/list", "resources", "uri") == ["docs://public"]
    assert names("key-admin", "resources/list", "resources", "uri") == [
        "docs://public",
        "docs://secret",
    ]
    assert names("key-none", "resources/templates/list", "resourceTemplates") == []
    assert names("key-none", "prompts/list", "prompts") == []
    assert names("key-reader", "prompts/list", "prompts") == ["summarise"]


def test_the_principal_reaches_the_handler(guarded: ServerProcess) -> None:
    """ctx.principal is the caller the authenticator named, with its scopes."""
    response = modern(guarded.url, "tools/call", {"name": "whoami", "arguments": {}}, "key-writer")
    assert response.json()["result"]["structuredContent"] == {
        "id": "writer",
        "scopes": ["docs:read", "docs:write"],
    }


def test_handles_and_request_state_are_bound_to_their_principal(guarded: ServerProcess) -> None:
    """A handle minted by one caller is unknown to another, and an MRTR requestState sealed
    for one caller does not verify for another."""
    url = guarded.url
    minted = modern(
        url, "tools/call", {"name": "keep", "arguments": {"value": "v"}}, "key-writer"
    ).json()["result"]
    handle = minted["content"][0]["text"]
    own = modern(
        url, "tools/call", {"name": "fetch", "arguments": {"handle": handle}}, "key-writer"
    ).json()["result"]
    assert own["content"][0]["text"] == "v"
    foreign = modern(
        url, "tools/call", {"name": "fetch", "arguments": {"handle": handle}}, "key-reader"
    ).json()
    assert "v" not in orjson.dumps(foreign).decode().replace('"v"', "")  # no data
    assert foreign.get("error", {}).get("code") == -32602 or foreign["result"]["isError"]
    first = modern(url, "tools/call", {"name": "confirm", "arguments": {}}, "key-writer")
    state = first.json()["result"]["requestState"]
    key = next(iter(first.json()["result"]["inputRequests"]))
    retry = {
        "name": "confirm",
        "arguments": {},
        "requestState": state,
        "inputResponses": {key: {"action": "accept"}},
    }
    stolen = modern(url, "tools/call", retry, "key-reader")
    assert stolen.json()["error"]["code"] == -32602
    owned = modern(url, "tools/call", retry, "key-writer")
    assert owned.json()["result"]["content"][0]["text"] == "accept"


def test_open_sessions_are_capped_per_principal(guarded: ServerProcess) -> None:
    """A caller at its cap of open sessions gets 429 with Retry-After for one more, while
    another caller still opens sessions; ending one of its sessions makes room."""
    url = guarded.url
    opened = [open_session(url, "key-admin") for _ in range(40)]
    init = {
        "jsonrpc": "2.0",
        "id": 9,
        "method": "initialize",
        "params": {
            "protocolVersion": LEGACY,
            "capabilities": {},
            "clientInfo": {"name": "tests", "version": "1"},
        },
    }
    refused = legacy(url, None, init, "key-admin", version=None)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert refused.json()["id"] == 9
    assert refused.json()["error"]["code"] == -32005
    other = open_session(url, "key-none")
    assert legacy(url, other, {}, "key-none", method="DELETE").status_code == 204
    assert legacy(url, opened[0], {}, "key-admin", method="DELETE").status_code == 204
    assert legacy(url, None, init, "key-admin", version=None).status_code == 200


def test_a_tool_rate_limit_holds_per_caller(guarded: ServerProcess) -> None:
    """write_doc allows 3 calls a minute per caller: the 4th gets 429 with Retry-After and
    a JSON-RPC error naming the limit; another caller is unaffected."""
    url = guarded.url
    write = {"name": "write_doc", "arguments": {"doc": "a", "text": "b"}}
    for _ in range(3):
        assert modern(url, "tools/call", write, "key-writer").status_code == 200
    refused = modern(url, "tools/call", write, "key-writer")
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["retry-after"]) <= 20
    error = refused.json()["error"]
    assert error["code"] == -32005
    assert "write_doc" in error["data"]["limit"]
    assert modern(url, "tools/call", write, "key-admin").status_code == 200
    whoami = modern(url, "tools/call", {"name": "whoami", "arguments": {}}, "key-writer")
    assert whoami.status_code == 200


def test_a_failing_hook_is_an_internal_error_and_an_old_style_refusal_a_challenge(
    guarded: ServerProcess,
) -> None:
    """An authenticate hook that crashes gives 500 with a JSON-RPC error and no detail; one
    that raises HttpRejection(401) the old way gets a Bearer challenge like Unauthorized."""
    call = {"name": "whoami", "arguments": {}}
    crashed = modern(guarded.url, "tools/call", call, "key-crash")
    assert crashed.status_code == 500
    assert crashed.json()["error"]["code"] == -32603
    assert "broken" not in crashed.text
    assert_challenge(modern(guarded.url, "tools/call", call, "key-old-style"))
    assert modern(guarded.url, "tools/call", call, "key-reader").status_code == 200
