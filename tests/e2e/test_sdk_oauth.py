"""The official SDKs' OAuth clients (Python mcp 2.3.0, TypeScript 1.x) against mcpfleet as
an OAuth 2.1 resource server and the tests' own authorization server, in both eras.

The SDK does all of it: the first request gets 401, the SDK reads ``resource_metadata``
from the challenge, fetches the protected-resource metadata (RFC 9728) and the
authorization server's metadata (RFC 8414), registers itself (RFC 7591), sends the
user to ``/authorize`` with PKCE S256 and ``resource`` (RFC 8707), exchanges the code,
and retries with the bearer token. The "browser" here is httpx following nothing.

The TypeScript SDK 1.x client (2025 era only) does the same through its
``OAuthClientProvider``, run with Node by ``tests/clients/ts_oauth_client.mjs``.
"""

from __future__ import annotations

import base64
import json
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import pytest
from mcp import Client, types
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata

from tests.auth_support.oauth_server import OAuthServer, oauth_server
from tests.conftest import ROOT, STATE_KEYS, ServerProcess
from tests.e2e.oauth_helpers import Browser, HttpLog, MemoryTokenStorage
from tests.e2e.test_node_clients import TOOLS, node

pytestmark = pytest.mark.anyio

REDIRECT_URI = "http://127.0.0.1:3030/callback"  # never contacted: the browser stops at the 302
PRM_SCOPES = ["docs:read", "docs:write", "docs:admin"]  # what jwt_app's metadata lists
ERAS = {"auto": "2026-07-28", "legacy": "2025-11-25"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="module")
def auth() -> Iterator[OAuthServer]:
    with oauth_server() as server:
        yield server


@pytest.fixture(scope="module")
def guarded(auth: OAuthServer) -> Iterator[ServerProcess]:
    """``jwt_app`` whose public URL is the address it really listens on."""
    env = {
        "REQUEST_STATE_KEYS": STATE_KEYS,
        "AUTH_ISSUER": auth.issuer,
        "AUTH_JWKS_URL": auth.jwks_url,
    }
    server = ServerProcess("tests.auth.guarded_app:jwt_app", env)  # picks its port here
    env |= {"PUBLIC_URL": server.base, "AUTH_AUDIENCE": server.url}  # read by start()
    server.start()
    try:
        yield server
    finally:
        server.stop()


def code_flow_provider(
    server: ServerProcess, storage: MemoryTokenStorage, browser: Browser
) -> OAuthClientProvider:
    # No scope here: on a 401 the SDK replaces the configured scope by the spec's selection
    # (the challenge's scope, else the PRM's scopes_supported; oauth2.py, "Step 3").
    return OAuthClientProvider(
        server_url=server.url,
        client_metadata=OAuthClientMetadata(
            client_name="mcpfleet-tests",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
        ),
        storage=storage,
        redirect_handler=browser.open,
        callback_handler=browser.callback,
    )


@asynccontextmanager
async def connected(
    server: ServerProcess, provider: httpx2.Auth, log: HttpLog, mode: str = "auto"
) -> AsyncIterator[Client]:
    """The SDK's ``Client`` over Streamable HTTP, authenticating with ``provider``."""
    async with log.client(provider) as http:
        transport = streamable_http_client(server.url, http_client=http)
        async with Client(transport, mode=mode, cache=None) as client:
            yield client


async def who_and_read(client: Client) -> tuple[dict[str, Any], str]:
    """``whoami``'s answer and ``read_doc``'s text."""
    whoami = await client.call_tool("whoami", {})
    assert not whoami.is_error, whoami
    assert isinstance(whoami.content[0], types.TextContent)
    read = await client.call_tool("read_doc", {"doc": "plan"})
    assert not read.is_error, read
    assert isinstance(read.content[0], types.TextContent)
    return json.loads(whoami.content[0].text), read.content[0].text


def claims(token: str) -> dict[str, Any]:
    """The payload of a JWT (its signature is mcpfleet's business, checked there)."""
    payload = token.split(".")[1]
    return dict(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


@pytest.mark.parametrize("mode", list(ERAS))
async def test_authorization_code_flow_from_the_401(
    mode: str, auth: OAuthServer, guarded: ServerProcess
) -> None:
    """From a bare URL the SDK goes 401 → metadata → registration → authorize → token, then
    calls tools as the AS's user with the scopes the resource's metadata lists (and
    offline_access)."""
    storage, browser, log = MemoryTokenStorage(), Browser(REDIRECT_URI), HttpLog()
    provider = code_flow_provider(guarded, storage, browser)

    async with connected(guarded, provider, log, mode) as client:
        assert client.protocol_version == ERAS[mode]
        whoami, read = await who_and_read(client)

    # the PRM's scopes, and offline_access, which the SDK adds for a refresh token (SEP-2207)
    granted = sorted([*PRM_SCOPES, "offline_access"])
    assert whoami == {"id": f"{auth.issuer}|test-user", "scopes": granted}
    assert read == "contents of plan"

    first = log.exchanges[0]
    assert (first.method, first.url, first.status) == ("POST", guarded.url, 401)
    assert first.authorization is None
    prm = f"{guarded.base}/.well-known/oauth-protected-resource/mcp"
    assert [e.status for e in log.to(prm, "GET")] == [200]
    as_metadata = f"{auth.base}/.well-known/oauth-authorization-server"
    assert [e.status for e in log.to(as_metadata, "GET")] == [200]
    assert [e.status for e in log.to(f"{auth.base}/register", "POST")] == [201]
    assert [e.status for e in log.to(f"{auth.base}/token", "POST")] == [200]
    assert storage.tokens is not None
    to_mcp = log.to(guarded.url)
    assert all(e.status < 400 for e in to_mcp[1:]), to_mcp
    assert all(e.authorization == f"Bearer {storage.tokens.access_token}" for e in to_mcp[1:])

    [authorization_url] = browser.authorization_urls
    asked = parse_qs(urlsplit(authorization_url).query)
    assert asked["resource"] == [guarded.url]
    assert asked["code_challenge_method"] == ["S256"]
    assert asked["scope"][0].split()[: len(PRM_SCOPES)] == PRM_SCOPES

    assert storage.client_info is not None
    assert storage.client_info.issuer == auth.issuer  # the SDK bound the registration to the AS
    assert storage.tokens.refresh_token
    token = claims(storage.tokens.access_token)
    assert (token["iss"], token["aud"]) == (auth.issuer, guarded.url)


@pytest.mark.parametrize("mode", list(ERAS))
async def test_stored_tokens_skip_the_flow(
    mode: str, auth: OAuthServer, guarded: ServerProcess
) -> None:
    """A second client with the first one's token storage sends the bearer token at once:
    no 401, no registration, no authorization, no token request."""
    storage, browser = MemoryTokenStorage(), Browser(REDIRECT_URI)
    async with connected(guarded, code_flow_provider(guarded, storage, browser), HttpLog()):
        pass

    log = HttpLog()
    async with connected(
        guarded, code_flow_provider(guarded, storage, browser), log, mode
    ) as client:
        whoami, _ = await who_and_read(client)

    assert whoami["id"] == f"{auth.issuer}|test-user"
    assert len(browser.authorization_urls) == 1
    assert log.exchanges
    assert all(e.url.startswith(guarded.base) and e.status < 400 for e in log.exchanges)


async def test_pre_registered_confidential_client(
    auth: OAuthServer, guarded: ServerProcess
) -> None:
    """With client information already stored, the SDK registers nothing and authenticates
    its token request with the client secret (client_secret_basic)."""
    registered = auth.register_client(
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT_URI],
        auth_methods=["client_secret_basic"],
    )
    storage = MemoryTokenStorage(
        client_info=OAuthClientInformationFull(
            client_id=registered.client_id,
            client_secret=registered.client_secret,
            token_endpoint_auth_method="client_secret_basic",
            redirect_uris=[REDIRECT_URI],
            grant_types=["authorization_code", "refresh_token"],
        )
    )
    browser, log = Browser(REDIRECT_URI), HttpLog()
    provider = code_flow_provider(guarded, storage, browser)

    async with connected(guarded, provider, log) as client:
        whoami, read = await who_and_read(client)

    granted = sorted([*PRM_SCOPES, "offline_access"])
    assert whoami == {"id": f"{auth.issuer}|test-user", "scopes": granted}
    assert read == "contents of plan"
    assert log.to(f"{auth.base}/register") == []
    [token_request] = log.to(f"{auth.base}/token", "POST")
    assert token_request.status == 200
    assert (token_request.authorization or "").startswith("Basic ")
    [authorization_url] = browser.authorization_urls
    assert parse_qs(urlsplit(authorization_url).query)["client_id"] == [registered.client_id]


@pytest.mark.parametrize("mode", list(ERAS))
async def test_client_credentials_provider(
    mode: str, auth: OAuthServer, guarded: ServerProcess
) -> None:
    """The SDK's client-credentials provider discovers the AS from the 401 and calls tools as
    the client itself, with the resource's scopes and the resource as audience."""
    registered = auth.register_client(scopes=None)
    assert registered.client_secret is not None
    storage, log = MemoryTokenStorage(), HttpLog()
    provider = ClientCredentialsOAuthProvider(
        server_url=guarded.url,
        storage=storage,
        client_id=registered.client_id,
        client_secret=registered.client_secret,
        issuer=auth.issuer,
    )

    async with connected(guarded, provider, log, mode) as client:
        assert client.protocol_version == ERAS[mode]
        whoami, read = await who_and_read(client)

    assert whoami == {"id": f"{auth.issuer}|{registered.client_id}", "scopes": sorted(PRM_SCOPES)}
    assert read == "contents of plan"
    assert log.exchanges[0].status == 401
    assert [e.status for e in log.to(f"{auth.base}/token", "POST")] == [200]
    assert log.to(f"{auth.base}/register") == []
    assert storage.tokens is not None
    assert claims(storage.tokens.access_token)["aud"] == guarded.url


def ts_oauth_client(*args: str) -> Any:
    """What ``tests/clients/ts_oauth_client.mjs`` saw, run with the installed TypeScript SDK."""
    if not (TOOLS / "ts-sdk" / "node_modules" / "@modelcontextprotocol" / "sdk").exists():
        pytest.fail("the TypeScript SDK is not installed: run scripts/install-tools.sh")
    # An ES module finds its packages next to itself, so the script runs from the SDK's folder.
    script = TOOLS / "ts-sdk" / "ts_oauth_client.mjs"
    shutil.copy(ROOT / "tests" / "clients" / "ts_oauth_client.mjs", script)
    return node(str(script), *args)


def test_typescript_sdk_authorization_code_flow(auth: OAuthServer, guarded: ServerProcess) -> None:
    """The TypeScript SDK 1.x client with an OAuthClientProvider: connect() meets the 401 and
    throws UnauthorizedError after discovery, registration and the redirect; finishAuth(code)
    gets the token; a second connect() opens a 2025 session and calls tools as the AS's user."""
    seen = ts_oauth_client(guarded.url, "code")

    assert seen["firstConnect"] == "UnauthorizedError"
    assert (seen["stateMatched"], seen["iss"]) == (True, auth.issuer)
    assert seen["protocolVersion"] == "2025-11-25"
    assert seen["sessionId"]
    assert seen["whoami"] == {"id": f"{auth.issuer}|test-user", "scopes": sorted(PRM_SCOPES)}
    assert seen["read"] == "contents of plan"

    exchanges = seen["exchanges"]
    assert exchanges[0] == {"method": "POST", "url": guarded.url, "status": 401, "bearer": False}
    posted = [(e["url"], e["status"]) for e in exchanges if e["method"] == "POST"]
    assert posted.count((f"{auth.base}/register", 201)) == 1
    assert posted.count((f"{auth.base}/token", 200)) == 1
    to_mcp = [e for e in exchanges if e["url"] == guarded.url]
    assert all(e["bearer"] and e["status"] < 400 for e in to_mcp[1:]), to_mcp

    [authorization_url] = seen["authorizationUrls"]
    asked = parse_qs(urlsplit(authorization_url).query)
    assert asked["client_id"] == [seen["registeredClientId"]]
    assert asked["resource"] == [guarded.url]
    assert asked["code_challenge_method"] == ["S256"]
    assert asked["scope"] == [" ".join(PRM_SCOPES)]
    token = claims(seen["accessToken"])
    assert (token["iss"], token["aud"]) == (auth.issuer, guarded.url)


def test_typescript_sdk_client_credentials(auth: OAuthServer, guarded: ServerProcess) -> None:
    """The TypeScript SDK's ClientCredentialsProvider gets a token on the 401 by itself and
    calls tools as the client, with the scope it was configured with."""
    registered = auth.register_client(scopes=None)
    assert registered.client_secret is not None
    seen = ts_oauth_client(
        guarded.url,
        "client-credentials",
        registered.client_id,
        registered.client_secret,
        auth.issuer,
        "docs:read",
    )

    assert seen["whoami"] == {
        "id": f"{auth.issuer}|{registered.client_id}",
        "scopes": ["docs:read"],
    }
    assert seen["read"] == "contents of plan"
    assert seen["exchanges"][0]["status"] == 401
    tokens = [e for e in seen["exchanges"] if e["url"] == f"{auth.base}/token"]
    assert [e["status"] for e in tokens] == [200]
    assert claims(seen["accessToken"])["aud"] == guarded.url
