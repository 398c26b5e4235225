"""JwtVerifier against the tests' own OAuth 2.1 authorization server (no mocks):
tokens from each grant verify, and every bad token is refused with its reason."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
import os
import random
import time
from collections.abc import Callable
from typing import Any

import httpx2
import pytest
from mcp.client.auth.oauth2 import check_registration_usable
from mcp.client.auth.utils import (
    create_client_registration_request,
    handle_auth_metadata_response,
    handle_registration_response,
)
from mcp.shared.auth import OAuthClientMetadata
from pydantic import AnyUrl

from mcpfleet.auth.jwt import JwtVerifier, granted_scopes
from mcpfleet.errors import ConfigError, InvalidToken
from tests.auth.conftest import RESOURCE, Clock
from tests.auth_support.oauth_server import ClientCredentials, OAuthServer

pytestmark = pytest.mark.anyio

MakeVerifier = Callable[..., JwtVerifier]
REDIRECT = "http://127.0.0.1:33418/callback"


@pytest.mark.parametrize("auth", ["basic", "post"])
async def test_client_credentials_token_verifies(
    auth_server: OAuthServer, make_verifier: MakeVerifier, auth: str
) -> None:
    """A client-credentials token (either client auth method) names the client as caller."""
    client = auth_server.register_client(scopes=["tools:read", "tools:write"])
    token = auth_server.client_credentials_token(
        client, resource=RESOURCE, scope="tools:read tools:write", auth=auth
    )
    principal = await make_verifier().verify(token)
    assert principal.id == f"{auth_server.issuer}|{client.client_id}"
    assert principal.subject == principal.client_id == client.client_id
    assert principal.scopes == {"tools:read", "tools:write"}
    assert principal.issuer == auth_server.issuer
    assert principal.claims["aud"] == RESOURCE
    assert principal.expires_at == principal.claims["exp"]


async def test_authorization_code_token_carries_resource_as_audience(
    auth_server: OAuthServer, make_verifier: MakeVerifier
) -> None:
    """An authorization-code + PKCE token for ``resource`` verifies as the user, aud = resource."""
    client = auth_server.register_client(
        grant_types=["authorization_code", "refresh_token"],
        redirect_uris=[REDIRECT],
        auth_methods=["none"],
    )
    tokens = auth_server.authorization_code_tokens(
        client, REDIRECT, resource=RESOURCE, scope="tools"
    )
    verifier = make_verifier()
    principal = await verifier.verify(tokens["access_token"])
    assert principal.id == f"{auth_server.issuer}|test-user"
    assert principal.client_id == client.client_id
    assert principal.scopes == {"tools"}
    assert principal.claims["aud"] == RESOURCE

    refreshed = auth_server.token_request(
        {"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        client,
        auth="none",
    ).json()
    again = await verifier.verify(refreshed["access_token"])
    assert (again.id, again.claims["aud"]) == (principal.id, RESOURCE)


async def test_authorize_redirect_carries_state_and_issuer(auth_server: OAuthServer) -> None:
    """The test server's /authorize approves at once and returns ``code``, ``state``, ``iss``."""
    client = auth_server.register_client(
        grant_types=["authorization_code"], redirect_uris=[REDIRECT], auth_methods=["none"]
    )
    back = auth_server.authorize(client.client_id, REDIRECT, state="s-1", challenge="x" * 43)
    assert back["state"] == "s-1"
    assert back["iss"] == auth_server.issuer
    assert back["code"]
    refused = auth_server.authorize(client.client_id, REDIRECT, state="s-2")
    assert refused["error"] == "invalid_request"  # no PKCE: OAuth 2.1 requires it


async def test_sdk_client_registers_and_its_token_verifies(
    auth_server: OAuthServer, make_verifier: MakeVerifier
) -> None:
    """The MCP SDK's OAuth client reads the metadata, registers a public client, and the
    token that client gets by code + PKCE verifies."""
    async with httpx2.AsyncClient() as http:
        found = await http.get(f"{auth_server.base}/.well-known/oauth-authorization-server")
        ok, metadata = await handle_auth_metadata_response(found)
        assert ok
        assert metadata is not None
        assert metadata.code_challenge_methods_supported == ["S256"]
        wanted = OAuthClientMetadata(
            redirect_uris=[AnyUrl(REDIRECT)],
            token_endpoint_auth_method="none",
            grant_types=["authorization_code", "refresh_token"],
            response_types=["code"],
            client_name="sdk-test",
        )
        request = create_client_registration_request(metadata, wanted, auth_server.base)
        info = await handle_registration_response(await http.send(request))
    check_registration_usable(info)
    assert info.client_id
    assert info.client_secret is None
    client = ClientCredentials(info.client_id, None)
    tokens = auth_server.authorization_code_tokens(client, REDIRECT, resource=RESOURCE)
    principal = await make_verifier().verify(tokens["access_token"])
    assert principal.client_id == info.client_id


async def test_discovers_jwks_from_issuer_metadata(
    auth_server: OAuthServer, make_verifier: MakeVerifier
) -> None:
    """Without ``jwks_url`` the verifier finds the keys through the issuer's metadata."""
    token = auth_server.mint({"aud": RESOURCE})
    verifier = make_verifier(jwks_url=None)
    assert (await verifier.verify(token)).subject == "test-user"
    assert verifier.keys.jwks_url == auth_server.jwks_url


BAD_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("expired", {"claims": {"exp": int(time.time()) - 120}}, "token expired"),
    ("not yet valid", {"claims": {"nbf": int(time.time()) + 600}}, "token not yet valid"),
    ("issued in the future", {"claims": {"iat": int(time.time()) + 600}}, "not yet valid"),
    ("no exp", {"drop": ["exp"]}, "no expiry"),
    ("wrong issuer", {"claims": {"iss": "https://evil.example"}}, "wrong issuer"),
    ("wrong audience", {"claims": {"aud": "https://other.example/mcp"}}, "wrong audience"),
    ("audience list without us", {"claims": {"aud": ["a", "b"]}}, "wrong audience"),
    ("no audience", {"drop": ["aud"]}, "wrong audience"),
    ("unknown kid", {"header": {"kid": "no-such-key"}}, "unknown signing key"),
    ("alg none", {"signature": "none"}, "algorithm not allowed"),
    ("HS256 keyed with the public key", {"signature": "hs256-public"}, "algorithm not allowed"),
    ("garbage signature", {"signature": "garbage"}, "signature does not verify"),
    ("signed by a foreign key", {"signature": "foreign"}, "signature does not verify"),
    ("exp not a number", {"claims": {"exp": "tomorrow"}}, "malformed token"),
    ("no subject at all", {"drop": ["sub", "client_id"]}, "names no subject"),
]


@pytest.mark.parametrize(
    ("options", "reason"), [c[1:] for c in BAD_CASES], ids=[c[0] for c in BAD_CASES]
)
async def test_bad_token_is_refused_with_its_reason(
    auth_server: OAuthServer,
    make_verifier: MakeVerifier,
    caplog: pytest.LogCaptureFixture,
    options: dict[str, Any],
    reason: str,
) -> None:
    """Each kind of bad token raises InvalidToken naming the reason, never the token."""
    claims = {"aud": RESOURCE, **options.pop("claims", {})}
    token = auth_server.mint(claims, **options)
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InvalidToken) as refused:
        await make_verifier().verify(token)
    assert reason in refused.value.message
    assert refused.value.oauth_error == "invalid_token"
    assert refused.value.http_status == 401
    for text in (str(refused.value), caplog.text):
        assert token not in text
        assert token.split(".")[1] not in text


@pytest.mark.parametrize("token", ["", "abc", "a.b.c", "a.b", "....", "x" * 20_000, "é.é.é"])
async def test_malformed_token_is_refused(make_verifier: MakeVerifier, token: str) -> None:
    """A string that is not a JWS compact token is refused as malformed."""
    with pytest.raises(InvalidToken, match="malformed token"):
        await make_verifier().verify(token)


def _segment(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_fuzzed_tokens_raise_only_invalid_token(
    auth_server: OAuthServer, make_verifier: MakeVerifier
) -> None:
    """Random damage to a good token yields a principal or InvalidToken, nothing else."""
    seed = int(os.environ.get("FUZZ_SEED", random.randrange(2**32)))
    print(f"fuzz seed {seed} (FUZZ_SEED={seed} to replay)")
    rng = random.Random(seed)
    good = auth_server.mint({"aud": RESOURCE})
    header, payload, signature = good.split(".")
    verifier = make_verifier()
    odd_values = [None, 1, [], {}, "RS256", "none", "HS256", True, "x" * 300]
    for _ in range(300):
        chars = list(good)
        kind = rng.randrange(4)
        if kind == 0:
            for _ in range(rng.randrange(1, 5)):
                chars[rng.randrange(len(chars))] = rng.choice("AZaz09-_.=+/ \x00é")
            token = "".join(chars)
        elif kind == 1:
            token = good[: rng.randrange(len(good))]
        elif kind == 2:
            odd = {rng.choice(["alg", "kid", "typ", "crit"]): rng.choice(odd_values)}
            token = f"{_segment(odd)}.{payload}.{signature}"
        else:
            odd = {rng.choice(["exp", "iss", "aud", "sub", "scope"]): rng.choice(odd_values)}
            token = f"{header}.{_segment(odd)}.{signature}"
        with contextlib.suppress(InvalidToken):
            await verifier.verify(token)


async def test_header_alg_must_suit_the_key_type(
    auth_server: OAuthServer, make_verifier: MakeVerifier
) -> None:
    """An allowed ``alg`` that does not fit the key named by ``kid`` (ES256 on RSA) is refused."""
    token = auth_server.mint({"aud": RESOURCE})
    kid = auth_server.kids[-1]
    header = _segment({"alg": "ES256", "typ": "at+jwt", "kid": kid})
    with pytest.raises(InvalidToken, match="algorithm not allowed"):
        await make_verifier().verify(header + token[token.index(".") :])


async def test_scope_prefix_is_stripped_and_scp_is_read(
    auth_server: OAuthServer, make_verifier: MakeVerifier
) -> None:
    """Granted scopes come from ``scope`` or ``scp``, with the configured prefix taken off."""
    verifier = make_verifier(scope_prefix="mcp-api/")
    token = auth_server.mint({"aud": RESOURCE, "scope": "mcp-api/tools.read openid"})
    assert (await verifier.verify(token)).scopes == {"tools.read", "openid"}
    token = auth_server.mint({"aud": RESOURCE, "scp": ["mcp-api/a", "b"]}, drop=["scope"])
    assert (await verifier.verify(token)).scopes == {"a", "b"}
    assert granted_scopes({"scp": "x y"}, None) == {"x", "y"}


async def test_client_id_stands_in_for_a_missing_subject(
    auth_server: OAuthServer, make_verifier: MakeVerifier
) -> None:
    """A token with no ``sub`` is bound to ``iss|client_id`` (or ``azp``)."""
    verifier = make_verifier()
    token = auth_server.mint({"aud": RESOURCE, "client_id": "svc-7"}, drop=["sub"])
    principal = await verifier.verify(token)
    assert (principal.id, principal.subject) == (f"{auth_server.issuer}|svc-7", None)
    token = auth_server.mint({"aud": RESOURCE, "azp": "svc-8"}, drop=["sub", "client_id"])
    assert (await verifier.verify(token)).id == f"{auth_server.issuer}|svc-8"


async def test_leeway_admits_a_token_just_past_its_expiry(
    auth_server: OAuthServer, make_verifier: MakeVerifier
) -> None:
    """A token expired by less than the leeway still verifies; with no leeway it does not."""
    token = auth_server.mint({"aud": RESOURCE, "exp": int(time.time()) - 5})
    assert await make_verifier(leeway_seconds=30).verify(token)
    with pytest.raises(InvalidToken, match="token expired"):
        await make_verifier(leeway_seconds=0).verify(token)


async def test_cached_token_is_the_same_principal_until_it_expires(
    auth_server: OAuthServer, make_verifier: MakeVerifier, clock: Clock
) -> None:
    """A repeated token returns the cached principal, and is refused once ``exp`` passes."""
    token = auth_server.mint({"aud": RESOURCE}, ttl=60)
    verifier = make_verifier(clock=clock, leeway_seconds=0)
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first
    clock.advance(61)
    with pytest.raises(InvalidToken, match="token expired"):
        await verifier.verify(token)
    with pytest.raises(InvalidToken, match="token expired"):  # and not from the cache either
        await verifier.verify(token)


# "==": the padding of an RS256 signature (256 bytes, 342 characters), which the decoder
# would accept, so that the padded token would verify as a second spelling of the first.
@pytest.mark.parametrize("extra", ["==", "=", "!", " x", "\u00e9"])
async def test_a_token_is_read_in_one_spelling_only(
    auth_server: OAuthServer, make_verifier: MakeVerifier, extra: str
) -> None:
    """Characters outside base64url (padding, punctuation) in a good token's signature are
    refused, also where the decoder would take them: a token has one spelling."""
    token = auth_server.mint({"aud": RESOURCE})
    verifier = make_verifier()
    assert await verifier.verify(token)
    with pytest.raises(InvalidToken, match="malformed token"):
        await verifier.verify(token + extra)


async def test_a_token_ending_like_a_cached_one_is_verified_in_full(
    auth_server: OAuthServer, make_verifier: MakeVerifier
) -> None:
    """The cache finds entries by a token's end but serves only the whole token it holds:
    other claims under a verified token's signature are refused, and the verified token
    is still served from the cache after."""
    verified = auth_server.mint({"aud": RESOURCE, "scope": "tools:read"})
    wider = auth_server.mint({"aud": RESOURCE, "scope": "tools:read tools:admin"})
    head, body, _ = wider.split(".")
    forged = ".".join((head, body, verified.rsplit(".", 1)[1]))
    verifier = make_verifier()
    principal = await verifier.verify(verified)
    assert verifier.cached(verified) is principal
    assert verifier.cached(forged) is None
    with pytest.raises(InvalidToken, match="signature does not verify"):
        await verifier.verify(forged)
    assert verifier.cached(verified) is principal
    assert (await verifier.verify(wider)).scopes == {"tools:read", "tools:admin"}


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"algorithms": ["RS256", "HS256"]}, "HS256"),
        ({"algorithms": ["none"]}, "none"),
        ({"preset": "saml"}, "preset"),
        ({"audiences": []}, "audience"),
    ],
)
def test_unsafe_settings_are_refused_at_start(options: dict[str, Any], named: str) -> None:
    """An HMAC or ``none`` algorithm, an unknown preset or no audience is a ConfigError."""
    settings: dict[str, Any] = {"issuer": "https://issuer.example", "audiences": ["x"]}
    with pytest.raises(ConfigError, match=named):
        JwtVerifier(**{**settings, **options})
