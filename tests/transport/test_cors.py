"""CORS for browser clients, against a real ``mcpfleet serve``: preflights from allowed
origins are answered, responses to them expose the MCP headers, an origin not allowed
gets 403, and a request without an Origin is served as before."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests import wire
from tests.conftest import STATE_KEYS, ServerProcess, serving

ALLOWED = "https://app.example"
OTHER = "https://evil.example"
MCP_HEADERS = "content-type, mcp-method, mcp-name, mcp-param-region, mcp-protocol-version"


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    """The behaviours app, allowing one browser origin."""
    env = {"ALLOWED_ORIGINS": ALLOWED, "REQUEST_STATE_KEYS": STATE_KEYS}
    with serving("tests.apps.behaviours:app", env) as running:
        yield running


def preflight(
    url: str, origin: str, method: str = "POST", headers: str = MCP_HEADERS
) -> httpx.Response:
    return httpx.options(
        url,
        timeout=10.0,
        headers={
            "origin": origin,
            "access-control-request-method": method,
            "access-control-request-headers": headers,
        },
    )


def exposed(response: httpx.Response) -> set[str]:
    value = response.headers.get("access-control-expose-headers", "")
    return {name.strip().lower() for name in value.split(",")}


def test_preflight_from_an_allowed_origin_is_answered(server: ServerProcess) -> None:
    """A preflight for a 2026-07-28 call with an Mcp-Param header gets 204, the origin, the
    methods, the requested headers echoed, and a max age."""
    response = preflight(server.url, ALLOWED)
    assert response.status_code == 204, response.text
    assert response.content == b""
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "origin" in response.headers["vary"].lower()
    assert response.headers["access-control-allow-methods"] == "GET, POST, DELETE"
    assert response.headers["access-control-allow-headers"] == MCP_HEADERS
    assert int(response.headers["access-control-max-age"]) > 0


def test_preflight_for_a_session_stream_allows_the_session_headers(
    server: ServerProcess,
) -> None:
    """A preflight for a 2025-era GET stream resumption allows its session, version,
    Last-Event-ID and Authorization headers."""
    asked = "accept, authorization, last-event-id, mcp-protocol-version, mcp-session-id"
    response = preflight(server.url, ALLOWED, "GET", asked)
    assert response.status_code == 204
    assert response.headers["access-control-allow-headers"] == asked


def test_preflight_asking_for_an_unknown_header_gets_the_fixed_list(
    server: ServerProcess,
) -> None:
    """A header the endpoint does not read is not echoed: the answer lists the MCP headers,
    and the browser refuses the request itself."""
    response = preflight(server.url, ALLOWED, headers="content-type, x-secret")
    assert response.status_code == 204
    allowed = {
        name.strip().lower() for name in response.headers["access-control-allow-headers"].split(",")
    }
    assert "x-secret" not in allowed
    assert {
        "content-type",
        "accept",
        "authorization",
        "mcp-protocol-version",
        "mcp-session-id",
        "mcp-method",
        "mcp-name",
        "last-event-id",
    } <= allowed


def test_an_origin_not_allowed_gets_403_on_preflight_and_post(server: ServerProcess) -> None:
    """An unlisted origin is refused with 403 and no CORS headers, preflight or request."""
    refused = preflight(server.url, OTHER)
    assert refused.status_code == 403
    assert "access-control-allow-origin" not in refused.headers
    message = wire.request("tools/call", {"name": "echo", "arguments": {"text": "hi"}})
    posted = wire.post(server.url, message, origin=OTHER)
    assert posted.status_code == 403
    assert "access-control-allow-origin" not in posted.headers


def test_a_modern_call_from_an_allowed_origin_exposes_the_mcp_headers(
    server: ServerProcess,
) -> None:
    """A 2026-07-28 tools/call with an Origin (and its Mcp-Param header) is answered with
    the origin allowed and the headers a client reads exposed."""
    message = wire.request("tools/call", {"name": "regional", "arguments": {"region": "eu"}})
    response = wire.post(server.url, message, origin=ALLOWED, mcp_param_region="eu")
    assert response.status_code == 200, response.text
    assert response.json()["result"]["content"][0]["text"] == "eu:1"
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "origin" in response.headers["vary"].lower()
    assert {"mcp-session-id", "www-authenticate", "retry-after", "mcp-protocol-version"} <= exposed(
        response
    )


def test_a_legacy_session_from_an_allowed_origin_works_end_to_end(
    server: ServerProcess,
) -> None:
    """A 2025-11-25 session opened with an Origin reads its session id, calls a tool, holds
    a GET stream, and is deleted; every response carries the CORS headers, errors too."""
    origin = {"origin": ALLOWED}
    with httpx.Client(timeout=10.0) as client:
        opened = client.post(
            server.url,
            headers={**wire.legacy_headers(version=None), **origin},
            content=orjson.dumps(wire.initialize_message()),
        )
        assert opened.status_code == 200, opened.text
        assert opened.headers["access-control-allow-origin"] == ALLOWED
        assert "mcp-session-id" in exposed(opened)
        session = opened.headers["mcp-session-id"]
        headers = {**wire.legacy_headers(session), **origin}
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        assert (
            client.post(server.url, headers=headers, content=orjson.dumps(initialized)).status_code
            == 202
        )
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "echo", "arguments": {"text": "hi"}},
        }
        called = client.post(server.url, headers=headers, content=orjson.dumps(call))
        assert called.status_code == 200, called.text
        assert "hi" in called.text
        assert called.headers["access-control-allow-origin"] == ALLOWED
        with client.stream("GET", server.url, headers=headers) as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            assert stream.headers["access-control-allow-origin"] == ALLOWED
        deleted = client.delete(server.url, headers=headers)
        assert deleted.status_code in (200, 204)
        assert deleted.headers["access-control-allow-origin"] == ALLOWED
        gone = client.post(server.url, headers=headers, content=orjson.dumps(call))
        assert gone.status_code == 404
        assert gone.headers["access-control-allow-origin"] == ALLOWED


def test_without_an_origin_nothing_changes(server: ServerProcess) -> None:
    """A request without an Origin header gets no CORS headers, and OPTIONS without one is
    still 405."""
    response = wire.call(server.url, "tools/call", {"name": "echo", "arguments": {"text": "x"}})
    assert response.status_code == 200
    assert not any(name.startswith("access-control-") for name in response.headers)
    assert "vary" not in response.headers
    assert httpx.options(server.url, timeout=10.0).status_code == 405


@pytest.fixture(scope="module")
def oauth_server() -> Iterator[ServerProcess]:
    """An OAuth resource server (bearer tokens from an issuer it never has to reach here)."""
    env = {
        "ALLOWED_ORIGINS": ALLOWED,
        "AUTH_ISSUER": "https://issuer.example",
        "AUTH_AUDIENCE": "mcp",
        "AUTH_JWKS_URL": "https://issuer.example/jwks",
    }
    with serving("tests.auth.guarded_app:jwt_app", env) as running:
        yield running


def test_protected_resource_metadata_is_readable_cross_origin(
    oauth_server: ServerProcess,
) -> None:
    """A browser client may preflight and read the protected-resource metadata, and reads
    the bearer challenge of a refused call."""
    metadata = f"{oauth_server.base}/.well-known/oauth-protected-resource/mcp"
    answered = preflight(metadata, ALLOWED, "GET", "mcp-protocol-version")
    assert answered.status_code == 204
    assert answered.headers["access-control-allow-origin"] == "*"
    assert answered.headers["access-control-allow-methods"] == "GET"
    assert answered.headers["access-control-allow-headers"] == "mcp-protocol-version"
    document = httpx.get(metadata, headers={"origin": ALLOWED}, timeout=10.0)
    assert document.status_code == 200
    assert document.headers["access-control-allow-origin"] == "*"
    assert document.json()["authorization_servers"] == ["https://issuer.example"]
    message = wire.request("tools/list")
    refused = wire.post(oauth_server.url, message, origin=ALLOWED)
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == ALLOWED
    assert "www-authenticate" in refused.headers
    assert "www-authenticate" in exposed(refused)
