"""A served app trusting real issuers: Amazon Cognito (moto's server mode) with the cognito
preset, and where the metadata's URLs come from behind a proxy."""

from __future__ import annotations

import httpx
import orjson
import pytest

from tests.auth.test_token_table import modern
from tests.auth_support.cognito import create_pool
from tests.auth_support.oauth_server import OAuthServer
from tests.conftest import serving
from tests.wire import headers_for, request


def test_a_cognito_access_token_calls_a_served_tool(moto_url: str) -> None:
    """mcpfleet serve with AUTH_PRESET=cognito takes an access token from Cognito's
    InitiateAuth (keys fetched over HTTP from the JWKS URL apart from the issuer), refuses
    its ID token, and names the caller by the pool's issuer and the user's subject."""
    pool = create_pool(moto_url)
    tokens = pool.sign_in()
    env = {"PUBLIC_URL": "https://mcp.example.test", "AUTH_PRESET": "cognito",
           "AUTH_ISSUER": pool.issuer, "AUTH_JWKS_URL": pool.jwks_url,
           "AUTH_AUDIENCE": pool.client_id}
    with serving("tests.auth.guarded_app:jwt_app", env) as server:
        call = {"name": "whoami", "arguments": {}}
        answered = modern(server.url, "tools/call", call, f"Bearer {tokens['AccessToken']}")
        assert answered.status_code == 200, answered.text
        principal = answered.json()["result"]["structuredContent"]["id"]
        assert principal.startswith(pool.issuer + "|")
        refused = modern(server.url, "tools/call", call, f"Bearer {tokens['IdToken']}")
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]


@pytest.mark.parametrize(("trusted", "expected"), [
    ("127.0.0.1", "https://mcp.public.test"),
    ("10.9.9.9/32", "http://127.0.0.1"),
])
def test_forwarded_headers_count_only_from_trusted_proxies(auth_server: OAuthServer,
                                                          trusted: str, expected: str) -> None:
    """Without PUBLIC_URL, the metadata and challenges name the origin a trusted proxy
    forwards (X-Forwarded-Proto and -Host); from any other peer those headers are ignored."""
    env = {"AUTH_ISSUER": auth_server.issuer, "AUTH_AUDIENCE": "https://mcp.public.test/mcp",
           "AUTH_JWKS_URL": auth_server.jwks_url, "TRUSTED_PROXIES": trusted,
           "ALLOWED_HOSTS": "*"}
    forwarded = {"x-forwarded-proto": "https", "x-forwarded-host": "mcp.public.test"}
    with serving("tests.auth.guarded_app:jwt_app", env) as server:
        document = httpx.get(server.base + "/.well-known/oauth-protected-resource/mcp",
                             headers=forwarded, timeout=10).json()
        assert document["resource"].startswith(expected)
        message = request("tools/list")
        refused = httpx.post(server.url, content=orjson.dumps(message), timeout=10,
                             headers={**headers_for(message), **forwarded})
        assert refused.status_code == 401
        metadata = f'resource_metadata="{expected}'
        assert metadata in refused.headers["www-authenticate"]
