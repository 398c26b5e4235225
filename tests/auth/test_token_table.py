"""The table: every method of both eras by every kind of token → the status, challenge and
JSON-RPC body the MCP authorization specification asks for.

A real mcpfleet server (``jwt_app``) takes tokens from the tests' own OAuth 2.1
authorization server, whose keys it fetches over HTTP.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import orjson
import pytest

from tests import wire
from tests.auth.test_gate import LEGACY_CALLS, MODERN_CALLS
from tests.auth_support.oauth_server import OAuthServer
from tests.conftest import STATE_KEYS, ServerProcess, serving
from tests.wire import headers_for, legacy_headers, meta, request

PUBLIC = "https://mcp.example.test"
AUDIENCE = PUBLIC + "/mcp"
METADATA = PUBLIC + "/.well-known/oauth-protected-resource/mcp"
ALL_SCOPES = "docs:read docs:write docs:admin"


@pytest.fixture(scope="module")
def server(auth_server: OAuthServer) -> Iterator[ServerProcess]:
    env = {
        "REQUEST_STATE_KEYS": STATE_KEYS,
        "PUBLIC_URL": PUBLIC,
        "AUTH_ISSUER": auth_server.issuer,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_JWKS_URL": auth_server.jwks_url,
    }
    with serving("tests.auth.guarded_app:jwt_app", env) as running:
        yield running


def good(auth: OAuthServer, scope: str = ALL_SCOPES) -> str:
    return auth.mint({"aud": AUDIENCE, "scope": scope})


_MINTED: dict[int, str] = {}


def same_good(auth: OAuthServer) -> str:
    """One good token per authorization server, the same on every call (served from the
    verified-token cache after its first use)."""
    return _MINTED.setdefault(id(auth), good(auth))


# case -> (how to make the Authorization header, expected status, expected OAuth error)
CASES: dict[str, tuple[Callable[[OAuthServer], str | None], int, str | None]] = {
    "no token": (lambda auth: None, 401, None),
    "not bearer": (lambda auth: "Basic dXNlcjpwYXNz", 401, None),
    "malformed": (lambda auth: "Bearer not-a-jwt", 401, "invalid_token"),
    "bad signature": (
        lambda auth: "Bearer " + auth.mint({"aud": AUDIENCE}, signature="garbage"),
        401,
        "invalid_token",
    ),
    "expired": (
        lambda auth: (
            "Bearer "
            + auth.mint(
                {"aud": AUDIENCE, "exp": int(time.time()) - 600, "iat": int(time.time()) - 900}
            )
        ),
        401,
        "invalid_token",
    ),
    "not yet valid": (
        lambda auth: "Bearer " + auth.mint({"aud": AUDIENCE, "nbf": int(time.time()) + 600}),
        401,
        "invalid_token",
    ),
    "wrong issuer": (
        lambda auth: "Bearer " + auth.mint({"aud": AUDIENCE, "iss": "https://evil.example.test"}),
        401,
        "invalid_token",
    ),
    "wrong audience": (
        lambda auth: "Bearer " + auth.mint({"aud": "https://other.example.test/mcp"}),
        401,
        "invalid_token",
    ),
    "alg none": (
        lambda auth: "Bearer " + auth.mint({"aud": AUDIENCE}, signature="none"),
        401,
        "invalid_token",
    ),
    "HS256 with the public key": (
        lambda auth: "Bearer " + auth.mint({"aud": AUDIENCE}, signature="hs256-public"),
        401,
        "invalid_token",
    ),
    "good": (lambda auth: "Bearer " + good(auth), 200, None),
    "good, repeated, scheme in lower case": (
        lambda auth: "bearer " + same_good(auth),
        200,
        None,
    ),
    "repeated, scheme misspelt": (lambda auth: "Bearer_" + same_good(auth), 401, None),
}


def modern(
    url: str,
    method: str,
    params: dict[str, Any],
    authorization: str | None,
) -> httpx.Response:
    message = request(method, {**params, "_meta": meta(capabilities={"elicitation": {}})})
    headers = headers_for(message)
    if authorization is not None:
        headers["authorization"] = authorization
    if method == "subscriptions/listen":  # a live stream: read its first event only
        with httpx.stream(
            "POST", url, content=orjson.dumps(message), headers=headers, timeout=10
        ) as streamed:
            streamed.read() if streamed.status_code != 200 else None
            return streamed
    return httpx.post(url, content=orjson.dumps(message), headers=headers, timeout=10)


def open_session(url: str, token: str) -> str:
    return wire.open_session(url, authorization=f"Bearer {token}")


def legacy(
    url: str, session_id: str, method: str, params: dict[str, Any], authorization: str | None
) -> httpx.Response:
    headers = legacy_headers(session_id)
    if authorization is not None:
        headers["authorization"] = authorization
    if method in ("GET", "DELETE"):
        headers["accept"] = "text/event-stream"
        if method == "GET":
            with httpx.stream("GET", url, headers=headers, timeout=10) as streamed:
                streamed.read() if streamed.status_code != 200 else None
                return streamed
        return httpx.request(method, url, headers=headers, timeout=10)
    message = {"jsonrpc": "2.0", "id": 11, "method": method, "params": params}
    return httpx.post(url, content=orjson.dumps(message), headers=headers, timeout=10)


def check(response: httpx.Response, status: int, oauth_error: str | None, what: str) -> None:
    assert response.status_code == status, (what, response.status_code, response.text)
    if status != 401:
        return
    challenge = response.headers.get("www-authenticate", "")
    assert challenge.startswith("Bearer "), what
    assert f'resource_metadata="{METADATA}"' in challenge, (what, challenge)
    if oauth_error is None:
        assert "error=" not in challenge, (what, challenge)
    else:
        assert f'error="{oauth_error}"' in challenge, (what, challenge)
    body = response.json()
    assert body["error"]["code"] == -32001, what
    assert "Bearer" not in body["error"]["message"], what  # never echoes the token


@pytest.mark.parametrize("case", list(CASES))
def test_every_method_of_both_eras_against_each_token(
    server: ServerProcess, auth_server: OAuthServer, case: str
) -> None:
    """Each kind of token gets the same answer on every method of both eras, on the GET
    stream and on DELETE: 401 with the right challenge, or the call served."""
    make, status, oauth_error = CASES[case]
    url = server.url
    for method, params in MODERN_CALLS:
        check(modern(url, method, params, make(auth_server)), status, oauth_error, method)
    session_id = open_session(url, good(auth_server))
    for method, params in [*LEGACY_CALLS, ("GET", {}), ("DELETE", {})]:
        expected = 204 if (method == "DELETE" and status == 200) else status
        response = legacy(url, session_id, method, params, make(auth_server))
        check(response, expected, oauth_error, f"legacy {method}")


MISSING_SCOPE = [
    ("tools/call", {"name": "write_doc", "arguments": {"doc": "a", "text": "b"}}, "docs:write"),
    ("tools/call", {"name": "read_doc", "arguments": {"doc": "a"}}, "docs:read"),
    ("resources/read", {"uri": "docs://secret"}, "docs:admin"),
    ("resources/read", {"uri": "docs://items/3"}, "docs:read"),
    ("prompts/get", {"name": "summarise", "arguments": {"doc": "a"}}, "docs:read"),
]


@pytest.mark.parametrize(
    ("method", "params", "scope"), MISSING_SCOPE, ids=[f"{m} {s}" for m, _, s in MISSING_SCOPE]
)
def test_a_missing_scope_is_403_with_the_scopes_needed(
    server: ServerProcess, auth_server: OAuthServer, method: str, params: dict[str, Any], scope: str
) -> None:
    """A valid token without the target's scope gets 403 with an insufficient_scope
    challenge naming the scope, in both eras; with the scope the call is served."""
    weak = "Bearer " + good(auth_server, scope="other:thing")
    refused = modern(server.url, method, params, weak)
    assert refused.status_code == 403
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge
    assert f'scope="{scope}"' in challenge
    assert f'resource_metadata="{METADATA}"' in challenge
    assert refused.json()["error"]["code"] == -32003
    session_id = open_session(server.url, good(auth_server, scope="other:thing"))
    legacy_refused = legacy(server.url, session_id, method, params, weak)
    assert legacy_refused.status_code == 403
    assert legacy_refused.json()["id"] == 11
    strong = "Bearer " + good(auth_server, scope=scope)
    assert modern(server.url, method, params, strong).status_code == 200


def test_protected_resource_metadata(server: ServerProcess, auth_server: OAuthServer) -> None:
    """The RFC 9728 document is served at the root and the path-suffixed well-known URLs,
    without a token, naming the resource, the issuer, the app's scopes and the bearer
    method."""
    for path in (
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ):
        response = httpx.get(server.base + path, timeout=10)
        assert response.status_code == 200
        document = response.json()
        assert document["resource"] == AUDIENCE
        assert document["authorization_servers"] == [auth_server.issuer]
        assert document["bearer_methods_supported"] == ["header"]
        assert set(document["scopes_supported"]) == {"docs:read", "docs:write", "docs:admin"}


def test_the_principal_is_issuer_and_subject(
    server: ServerProcess, auth_server: OAuthServer
) -> None:
    """A handler's ctx.principal names the token's issuer and subject, with its scopes."""
    token = "Bearer " + good(auth_server, scope="docs:read")
    result = modern(server.url, "tools/call", {"name": "whoami", "arguments": {}}, token)
    assert result.json()["result"]["structuredContent"] == {
        "id": f"{auth_server.issuer}|test-user",
        "scopes": ["docs:read"],
    }


def test_tokens_never_reach_the_log(auth_server: OAuthServer) -> None:
    """With every request logged, neither a refused nor an accepted token appears in the
    server's output."""
    env = {
        "PUBLIC_URL": PUBLIC,
        "AUTH_ISSUER": auth_server.issuer,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_JWKS_URL": auth_server.jwks_url,
        "LOG_CALLS": "1",
        "LOG_LEVEL": "debug",
    }
    tokens = [
        good(auth_server),
        auth_server.mint({"aud": "nope"}),
        auth_server.mint({"aud": AUDIENCE}, signature="garbage"),
    ]
    server = ServerProcess("tests.auth.guarded_app:jwt_app", env).start()
    try:
        for token in tokens:
            modern(server.url, "tools/call", {"name": "whoami", "arguments": {}}, f"Bearer {token}")
    finally:
        output = server.stop()
    assert '"event": "tool_call"' in output or '"event":"tool_call"' in output
    for token in tokens:
        for part in token.split("."):
            assert part not in output


def test_a_scope_prefix_is_stripped_from_tokens_and_added_to_what_is_advertised(
    auth_server: OAuthServer,
) -> None:
    """With AUTH_SCOPE_PREFIX (Cognito's resource-server identifier), a token's prefixed
    scopes grant the app's scopes, and the metadata and challenges name the prefixed ones
    a client must ask for."""
    env = {
        "PUBLIC_URL": PUBLIC,
        "AUTH_ISSUER": auth_server.issuer,
        "AUTH_AUDIENCE": AUDIENCE,
        "AUTH_JWKS_URL": auth_server.jwks_url,
        "AUTH_SCOPE_PREFIX": "svc/",
    }
    with serving("tests.auth.guarded_app:jwt_app", env) as prefixed:
        document = httpx.get(
            prefixed.base + "/.well-known/oauth-protected-resource", timeout=10
        ).json()
        assert "svc/docs:read" in document["scopes_supported"]
        read = {"name": "read_doc", "arguments": {"doc": "a"}}
        granted = "Bearer " + auth_server.mint({"aud": AUDIENCE, "scope": "svc/docs:read"})
        assert modern(prefixed.url, "tools/call", read, granted).status_code == 200
        write = {"name": "write_doc", "arguments": {"doc": "a", "text": "b"}}
        refused = modern(prefixed.url, "tools/call", write, granted)
        assert refused.status_code == 403
        assert 'scope="svc/docs:write"' in refused.headers["www-authenticate"]
